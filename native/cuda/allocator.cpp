#include "cuda/allocator.h"

#include <cuda_runtime_api.h>

#include <string>

#include "core/errors.h"
#include "cuda/check.h"

namespace cgru::cuda {

size_t CachingAllocator::roundSize(size_t bytes) {
  constexpr size_t kSmallStep = 512, kSmallLimit = size_t(1) << 20;
  if (bytes <= kSmallLimit) return (bytes + kSmallStep - 1) / kSmallStep * kSmallStep;
  size_t power = kSmallLimit;
  while (power <= bytes / 2) power *= 2;  // largest power of two <= bytes
  const size_t step = power / 8;
  return (bytes + step - 1) / step * step;
}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mutex_);
  releaseLocked();
}

void* CachingAllocator::allocate(size_t bytes) {
  if (bytes == 0) return nullptr;
  const size_t size = roundSize(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = free_.find(size);
  if (it != free_.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    cachedBytes_ -= size;
    inUseBytes_ += size;
    return p;
  }
  void* p = nullptr;
  cudaError_t status = cudaMalloc(&p, size);
  if (status == cudaErrorMemoryAllocation && cachedBytes_ > 0) {
    cudaGetLastError();  // not sticky; clear it before retrying
    releaseLocked();
    status = cudaMalloc(&p, size);
  }
  if (status != cudaSuccess) {
    cudaGetLastError();
    size_t freeB = 0, totalB = 0;
    const bool info = cudaMemGetInfo(&freeB, &totalB) == cudaSuccess;
    cudaGetLastError();
    std::string msg = "cuda: cannot allocate " + std::to_string(bytes) + " bytes of device memory: cudaMalloc failed: " +
                      describeCuda(status);
    if (info)
      msg += " (device has " + std::to_string(freeB >> 20) + " MiB free of " + std::to_string(totalB >> 20) +
             " MiB; this process holds " + std::to_string(inUseBytes_ >> 20) + " MiB in live buffers)";
    throw Error(msg);
  }
  inUseBytes_ += size;
  return p;
}

void CachingAllocator::deallocate(void* ptr, size_t bytes) noexcept {
  if (!ptr) return;
  const size_t size = roundSize(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  inUseBytes_ -= size;
  try {
    free_[size].push_back(ptr);
    cachedBytes_ += size;
  } catch (...) {  // no memory for the list: give the block back instead
    cudaFree(ptr);
    cudaGetLastError();
  }
}

void CachingAllocator::releaseCached() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  releaseLocked();
}

void CachingAllocator::releaseLocked() noexcept {
  for (auto& entry : free_)
    for (void* p : entry.second) cudaFree(p);  // errors (e.g. at process exit) are ignored
  cudaGetLastError();
  free_.clear();
  cachedBytes_ = 0;
}

size_t CachingAllocator::cachedBytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cachedBytes_;
}
size_t CachingAllocator::inUseBytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return inUseBytes_;
}

}  // namespace cgru::cuda
