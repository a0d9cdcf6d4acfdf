#include "cuda/cuda_backend.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/errors.h"
#include "cuda/check.h"
#include "cuda/gru_engine.h"
#include "cuda/libraries.h"
#include "cuda/ops_cuda.h"

namespace cgru::cuda {

CudaBackend::CudaBackend(int deviceIndex) : device_(deviceIndex) {
  try {
    CGRU_CUDA(cudaSetDevice(device_));
    CGRU_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    CGRU_CUDNN(cudnnCreate, &cudnn_);
    CGRU_CUDNN(cudnnSetStream, cudnn_, stream_);
    CGRU_CUBLAS(cublasCreate_v2, &cublas_);
    CGRU_CUBLAS(cublasSetStream_v2, cublas_, stream_);
    // FP32 GEMMs stay FP32 (no TF32) unless setAllowTF32(true).
    CGRU_CUBLAS(cublasSetMathMode, cublas_, CUBLAS_DEFAULT_MATH);
    // Staging is an optimisation: without pinned memory, uploads simply synchronise.
    if (cudaHostAlloc(reinterpret_cast<void**>(&staging_), kStagingSlots * kStagingSlotBytes, cudaHostAllocDefault) !=
        cudaSuccess) {
      cudaGetLastError();
      staging_ = nullptr;
    }
    for (auto& e : events_) CGRU_CUDA(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    gru_ = makeGruEngine(*this);
    ops_ = makeCudaOps(*this);
  } catch (...) {
    release();  // members' own destructors run after this, as for any throwing constructor
    throw;
  }
}

CudaBackend::~CudaBackend() { release(); }

void CudaBackend::release() noexcept {
  cudaSetDevice(device_);  // this thread's current device may be another one; errors are ignored
  if (stream_) cudaStreamSynchronize(stream_);  // queued work may still use the engines' buffers
  ops_.reset();
  gru_.reset();
  for (auto& e : events_) {
    if (e) cudaEventDestroy(e);
    e = nullptr;
  }
  if (staging_) cudaFreeHost(staging_);
  staging_ = nullptr;
  if (cublas_) cublas().cublasDestroy_v2(cublas_);
  cublas_ = nullptr;
  if (cudnn_) cudnn().cudnnDestroy(cudnn_);
  cudnn_ = nullptr;
  allocator_.releaseCached();
  if (stream_) cudaStreamDestroy(stream_);
  stream_ = nullptr;
  cudaGetLastError();
}

void CudaBackend::makeCurrent() const { CGRU_CUDA(cudaSetDevice(device_)); }

void* CudaBackend::allocate(size_t bytes) {
  makeCurrent();
  return allocator_.allocate(bytes);
}

void CudaBackend::deallocate(void* ptr, size_t bytes) noexcept { allocator_.deallocate(ptr, bytes); }

void CudaBackend::copyFromHost(void* dst, const void* hostSrc, size_t bytes) {
  if (!bytes) return;
  makeCurrent();
  if (!staging_) {  // no pinned memory: a pageable copy, waited for so that hostSrc may be reused
    CGRU_CUDA(cudaMemcpyAsync(dst, hostSrc, bytes, cudaMemcpyHostToDevice, stream_));
    CGRU_CUDA(cudaStreamSynchronize(stream_));
    return;
  }
  // Through the pinned ring, chunk by chunk: the host copy of one chunk overlaps the DMA of the
  // previous ones, and nothing waits for earlier kernels (a mid-step upload does not drain the
  // stream).
  std::lock_guard<std::mutex> lock(stagingMutex_);
  for (size_t done = 0; done < bytes; done += kStagingSlotBytes) {
    const size_t n = std::min(kStagingSlotBytes, bytes - done);
    const int slot = nextSlot_;
    nextSlot_ = (nextSlot_ + 1) % kStagingSlots;
    // The slot's previous chunk was queued kStagingSlots chunks ago; wait until it has been copied.
    CGRU_CUDA(cudaEventSynchronize(events_[slot]));
    char* pinned = staging_ + static_cast<size_t>(slot) * kStagingSlotBytes;
    std::memcpy(pinned, static_cast<const char*>(hostSrc) + done, n);
    CGRU_CUDA(cudaMemcpyAsync(static_cast<char*>(dst) + done, pinned, n, cudaMemcpyHostToDevice, stream_));
    CGRU_CUDA(cudaEventRecord(events_[slot], stream_));
  }
}

void CudaBackend::copyToHost(void* hostDst, const void* src, size_t bytes) {
  if (!bytes) return;
  makeCurrent();
  CGRU_CUDA(cudaMemcpyAsync(hostDst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  CGRU_CUDA(cudaStreamSynchronize(stream_));
}

void CudaBackend::copyWithin(void* dst, const void* src, size_t bytes) {
  if (!bytes || dst == src) return;
  makeCurrent();
  const auto d = reinterpret_cast<uintptr_t>(dst), s = reinterpret_cast<uintptr_t>(src);
  if (d < s + bytes && s < d + bytes) {
    // Overlapping ranges (memmove semantics, as on the CPU): go through a temporary block.
    void* tmp = allocator_.allocate(bytes);
    try {
      CGRU_CUDA(cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDeviceToDevice, stream_));
      CGRU_CUDA(cudaMemcpyAsync(dst, tmp, bytes, cudaMemcpyDeviceToDevice, stream_));
    } catch (...) {
      allocator_.deallocate(tmp, bytes);
      throw;
    }
    allocator_.deallocate(tmp, bytes);  // stream-ordered reuse keeps this safe
    return;
  }
  CGRU_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::fillZero(void* dst, size_t bytes) {
  if (!bytes) return;
  makeCurrent();
  CGRU_CUDA(cudaMemsetAsync(dst, 0, bytes, stream_));
}

void CudaBackend::synchronize() {
  makeCurrent();
  CGRU_CUDA(cudaStreamSynchronize(stream_));
}

GruEngine& CudaBackend::gru() { return *gru_; }

TensorOps* CudaBackend::ops() { return ops_.get(); }

void CudaBackend::setAllowTF32(bool allow) {
  makeCurrent();
  CGRU_CUBLAS(cublasSetMathMode, cublas_, allow ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
  allowTF32_ = allow;
}

void CudaBackend::releaseCachedMemory() {
  makeCurrent();
  allocator_.releaseCached();
}

}  // namespace cgru::cuda
