// The CUDA backend: device memory through a caching allocator, all work queued on one stream
// (shared by the cuDNN and cuBLAS handles), copies that synchronise only where host memory is
// involved. Built only with CUDA; reached through cgru::cudaBackend() (see probe.cpp).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>

#include "core/backend.h"
#include "cuda/allocator.h"

namespace cgru::cuda {

class CudaBackend final : public Backend {
 public:
  // Creates the stream and the cuDNN and cuBLAS handles on `deviceIndex`. Throws cgru::Error
  // naming the call that failed (e.g. cudnnCreate). Needs loadLibraries() to have succeeded.
  explicit CudaBackend(int deviceIndex);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  Device device() const override { return Device::Cuda; }
  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) noexcept override;
  // Queued without waiting for the device: the data is staged through pinned memory in chunks,
  // so `hostSrc` may be reused as soon as this returns.
  void copyFromHost(void* dst, const void* hostSrc, size_t bytes) override;
  void copyToHost(void* hostDst, const void* src, size_t bytes) override;    // returns when done
  void copyWithin(void* dst, const void* src, size_t bytes) override;        // queued
  void fillZero(void* dst, size_t bytes) override;                           // queued
  void synchronize() override;
  GruEngine& gru() override;
  TensorOps* ops() override;  // cuda/ops_cuda.cu
  // cuBLAS CUBLAS_TF32_TENSOR_OP_MATH now, and the GRU engine's next forward uses CUDNN_DEFAULT_MATH.
  void setAllowTF32(bool allow) override;
  bool allowTF32() const override { return allowTF32_; }

  // For the CUDA engines and ops.
  int deviceIndex() const { return device_; }
  // Makes this backend's device current on the calling thread (the runtime's current device is
  // per thread, and Node may call in from worker threads).
  void makeCurrent() const;
  cudaStream_t stream() const { return stream_; }
  cudnnHandle_t cudnnHandle() const { return cudnn_; }
  cublasHandle_t cublasHandle() const { return cublas_; }
  CachingAllocator& allocator() { return allocator_; }

  void releaseCachedMemory();
  size_t cachedBytes() const { return allocator_.cachedBytes(); }

 private:
  void release() noexcept;  // frees what the constructor made (also after a partial build)

  static constexpr int kStagingSlots = 8;
  static constexpr size_t kStagingSlotBytes = 1 << 20;

  int device_;
  std::atomic<bool> allowTF32_{false};  // read by the GRU engine
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  CachingAllocator allocator_;
  std::unique_ptr<GruEngine> gru_;
  std::unique_ptr<TensorOps> ops_;

  // Pinned staging ring for copyFromHost: slot i may be rewritten once events_[i] has fired.
  std::mutex stagingMutex_;
  char* staging_ = nullptr;
  std::array<cudaEvent_t, kStagingSlots> events_{};
  int nextSlot_ = 0;
};

}  // namespace cgru::cuda
