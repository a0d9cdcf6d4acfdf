#pragma once
#include "core/backend.h"

namespace cgru::cpu {

// Host memory, 64-byte aligned so BLAS and vectorised loops see aligned rows; buffers of several
// huge pages are aligned to one and get adviseHugePages().
class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::Cpu; }
  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) noexcept override;
  void copyFromHost(void* dst, const void* hostSrc, size_t bytes) override;
  void copyToHost(void* hostDst, const void* src, size_t bytes) override;
  void copyWithin(void* dst, const void* src, size_t bytes) override;
  void fillZero(void* dst, size_t bytes) override;
  void synchronize() override {}
  GruEngine& gru() override;
  TensorOps* ops() override;  // native/cpu/ops_cpu.cpp
};

constexpr size_t kHugePage = size_t{2} << 20;
// Asks for transparent huge pages on a large buffer (nothing below two huge pages, nor off Linux):
// large buffers (training state, scratch, activations) are written once per call, and with 4 KiB
// pages the first-touch page faults cost as much as the maths.
void adviseHugePages(void* data, size_t bytes);

// Threads used by the CPU engine and by BLAS together. The setting belongs to the calling thread,
// and so to its Node environment (the main thread, or one worker): each has its own, all cores
// until set.
void setNumThreads(int n);
int numThreads();
// Gives BLAS, whose thread count is process-wide, the calling thread's setting. Every binding
// call does this first, so the GEMMs it runs use its own environment's count.
void applyBlasThreads();

}  // namespace cgru::cpu
