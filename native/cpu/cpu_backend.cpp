#include "cpu/cpu_backend.h"

#include <unistd.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

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
}  // namespace

void* CpuBackend::allocate(size_t bytes) {
  // With overcommit, more than the machine holds can "succeed" and the zero fill that follows
  // then gets the process killed: refuse it with a reason instead.
  const size_t physical = physicalMemoryBytes();
  if (physical && bytes > physical)
    throw Error("cpu: out of host memory: " + std::to_string(bytes) + " bytes requested, more than this machine's " +
                std::to_string(physical) + " bytes of physical memory");
  const size_t align = bytes >= 2 * kHugePage ? kHugePage : kAlignment;
  const size_t rounded = (bytes + align - 1) / align * align;
  void* ptr = std::aligned_alloc(align, rounded);
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

void CpuBackend::deallocate(void* ptr, size_t) noexcept { std::free(ptr); }

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
