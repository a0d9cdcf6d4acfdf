#include "cpu/cpu_backend.h"

#include <unistd.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/errors.h"
#include "cpu/blas.h"
#include "cpu/gru_cpu.h"

namespace cgru {
namespace cpu {
namespace {
constexpr size_t kAlignment = 64;

// 0 when unknown.
size_t physicalMemoryBytes() {
  static const size_t bytes = [] {
    const long pages = ::sysconf(_SC_PHYS_PAGES), pageSize = ::sysconf(_SC_PAGESIZE);
    return pages > 0 && pageSize > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(pageSize) : size_t{0};
  }();
  return bytes;
}
thread_local int tNumThreads = 0;  // 0: not set on this thread, so the machine's cores

// Freed buffers of two huge pages and more, kept for the next allocation of the same size. A
// training step frees and allocates the same large buffers every time (the recurrent layers'
// saved state: 160 MB a step at B64 T100 H512 L2), and fresh ones come from the kernel as page
// faults on zeroed pages: measured, that made a training forward 17-40% slower than an
// inference one. At most kKeepBytes are kept (the oldest given back first), so a process holds
// no more than that beyond its live buffers.
class BlockCache {
 public:
  static BlockCache& instance() {
    static BlockCache* cache = new BlockCache;  // never destroyed: buffers may be freed during exit
    return *cache;
  }
  // A kept block of exactly `bytes`, or null.
  void* take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = blocks_.size(); i-- > 0;) {
      if (blocks_[i].bytes != bytes) continue;
      void* p = blocks_[i].data;
      blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(i));
      kept_ -= bytes;
      return p;
    }
    return nullptr;
  }
  // Keeps p (bytes long) or frees it.
  void give(void* p, size_t bytes) noexcept {
    const size_t limit = keepLimit();
    if (bytes > limit) return std::free(p);
    std::lock_guard<std::mutex> lock(mutex_);
    while (kept_ + bytes > limit && !blocks_.empty()) {
      std::free(blocks_.front().data);
      kept_ -= blocks_.front().bytes;
      blocks_.erase(blocks_.begin());
    }
    try {
      blocks_.push_back({p, bytes});
      kept_ += bytes;
    } catch (...) {
      std::free(p);
    }
  }

 private:
  static constexpr size_t kKeepBytes = size_t{256} << 20;
  static size_t keepLimit() {
    const size_t physical = physicalMemoryBytes();
    return physical ? std::min(kKeepBytes, physical / 16) : kKeepBytes;
  }
  struct Block {
    void* data;
    size_t bytes;
  };
  std::mutex mutex_;
  std::vector<Block> blocks_;  // oldest first
  size_t kept_ = 0;
};

size_t roundedBytes(size_t bytes, size_t align) { return (bytes + align - 1) / align * align; }
}  // namespace

void* CpuBackend::allocate(size_t bytes) {
  // With overcommit, more than the machine holds can "succeed" and the zero fill that follows
  // then gets the process killed: refuse it with a reason instead.
  const size_t physical = physicalMemoryBytes();
  if (physical && bytes > physical)
    throw Error("cpu: out of host memory: " + std::to_string(bytes) + " bytes requested, more than this machine's " +
                std::to_string(physical) + " bytes of physical memory");
  const bool large = bytes >= 2 * kHugePage;
  const size_t rounded = roundedBytes(bytes, large ? kHugePage : kAlignment);
  if (large) {
    if (void* kept = BlockCache::instance().take(rounded)) return kept;
  }
  void* ptr = std::aligned_alloc(large ? kHugePage : kAlignment, rounded);
  if (!ptr) throw Error("cpu: out of host memory allocating " + std::to_string(bytes) + " bytes");
  adviseHugePages(ptr, rounded);
  return ptr;
}

void adviseHugePages(void* data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (bytes < 2 * kHugePage) return;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + 4095) & ~uintptr_t{4095};
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~uintptr_t{4095};
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

void CpuBackend::deallocate(void* ptr, size_t bytes) noexcept {
  if (bytes >= 2 * kHugePage) BlockCache::instance().give(ptr, roundedBytes(bytes, kHugePage));
  else std::free(ptr);
}

void CpuBackend::copyFromHost(void* dst, const void* hostSrc, size_t bytes) {
  if (bytes) std::memcpy(dst, hostSrc, bytes);
}
void CpuBackend::copyToHost(void* hostDst, const void* src, size_t bytes) {
  if (bytes) std::memcpy(hostDst, src, bytes);
}
void CpuBackend::copyWithin(void* dst, const void* src, size_t bytes) {
  if (bytes) std::memmove(dst, src, bytes);
}
void CpuBackend::fillZero(void* dst, size_t bytes) {
  if (bytes) std::memset(dst, 0, bytes);
}
GruEngine& CpuBackend::gru() { return gruEngine(); }

void setNumThreads(int n) {
  tNumThreads = n;
  setBlasThreads(n);
}

int numThreads() {
  static const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));  // asked once: a syscall
  return tNumThreads > 0 ? tNumThreads : cores;
}

void applyBlasThreads() {
  const int n = numThreads();
  if (blasThreads() != n) setBlasThreads(n);
}

}  // namespace cpu

Backend& cpuBackend() {
  static cpu::CpuBackend backend;
  return backend;
}

}  // namespace cgru
