// The interface each compute backend (native/cpu, native/cuda) implements. Pointers passed to a
// backend always point into memory that backend allocated (its device), except where a
// parameter says "host".
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/gru.h"
#include "core/ops.h"

namespace cgru {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;

  // Memory. allocate() throws cgru::Error (with the backend's own message) when it cannot.
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* ptr, size_t bytes) noexcept = 0;
  virtual void copyFromHost(void* dst, const void* hostSrc, size_t bytes) = 0;
  virtual void copyToHost(void* hostDst, const void* src, size_t bytes) = 0;
  virtual void copyWithin(void* dst, const void* src, size_t bytes) = 0;
  virtual void fillZero(void* dst, size_t bytes) = 0;
  // Waits for all queued work (no-op on the CPU).
  virtual void synchronize() = 0;
  // This backend's GRU engine (see core/gru.h).
  virtual GruEngine& gru() = 0;
  // This backend's tensor kernels (see core/ops.h), or nullptr when it has none yet.
  virtual TensorOps* ops() { return nullptr; }
  // Opt-in TF32 tensor-core maths for FP32 GEMMs and the GRU, for speed. Off by default so that
  // devices agree to FP32 rounding; backends without TF32 hardware (the CPU) ignore it.
  virtual void setAllowTF32(bool) {}
  virtual bool allowTF32() const { return false; }
};

Backend& cpuBackend();

// What the run-time probe of CUDA found. Filled once, on first use, by the CUDA backend when the
// binary was built with it, otherwise by core/cuda_absent.cpp.
struct CudaReport {
  bool compiled = false;    // the binary contains the CUDA backend
  bool available = false;   // a device, cuDNN and cuBLAS all work
  std::string reason;       // why not available (empty when available)
  std::string deviceName;
  int deviceIndex = 0;
  int computeMajor = 0, computeMinor = 0;
  size_t totalMemoryBytes = 0;
  int driverVersion = 0, runtimeVersion = 0;
  size_t cudnnVersion = 0;
  std::string cudnnPath;
  int cublasVersion = 0;
  std::string cublasPath;
  std::vector<std::string> searchedPaths;  // every library path tried, in order
};

const CudaReport& cudaReport();
// The CUDA backend, or nullptr when cudaReport().available is false.
Backend* cudaBackend();

inline Backend* backendFor(Device d) { return d == Device::Cpu ? &cpuBackend() : cudaBackend(); }

}  // namespace cgru
