// A caching allocator for device memory: freed blocks go to free lists keyed by their rounded
// size and are handed out again, so steady-state training does no cudaMalloc/cudaFree (which
// synchronise the device). All work is on one stream (see CudaBackend), so a block freed while
// queued kernels still use it can be reused at once: the next user's work is queued after them.
#pragma once
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace cgru::cuda {

class CachingAllocator {
 public:
  CachingAllocator() = default;
  ~CachingAllocator();  // frees the cached blocks (never throws)
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // Throws cgru::Error when the device is out of memory even after releasing the cache.
  // Zero bytes gives nullptr.
  void* allocate(size_t bytes);
  // `bytes` must be what was passed to allocate().
  void deallocate(void* ptr, size_t bytes) noexcept;
  // Returns every cached block to the driver (cudaFree; synchronises the device).
  void releaseCached() noexcept;

  size_t cachedBytes() const;  // held in free lists
  size_t inUseBytes() const;   // handed out and not yet returned (rounded sizes)

  // The size class a request is served from: multiples of 512 B up to 1 MiB, then steps of
  // 1/8 of the power of two below (at most 12.5% waste).
  static size_t roundSize(size_t bytes);

 private:
  void releaseLocked() noexcept;

  mutable std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cachedBytes_ = 0;
  size_t inUseBytes_ = 0;
};

}  // namespace cgru::cuda
