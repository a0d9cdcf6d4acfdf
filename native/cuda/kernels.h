// Small CUDA kernels the GRU engine needs around cuDNN (nvcc-built, in kernels.cu). Each
// launcher queues its work on `stream` and returns the launch status (cudaGetLastError).
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>

namespace cgru::cuda {

struct CopySegment {
  const float* src;
  float* dst;
  size_t count;  // floats
};

// Copies every segment (one launch per 128 segments). Segments must not overlap.
cudaError_t launchBatchedCopy(const CopySegment* segments, int count, cudaStream_t stream);

// data is [B, T, F] (batch-major): zeroes every step t >= lengths[b] (lengths in device memory).
cudaError_t launchZeroPaddedSteps(float* data, const int* lengths, int B, int T, int F, cudaStream_t stream);

// dst is [S, B, H]: for each sample with lengths[b] == 0, dst[s, b, :] = src ? src[s, b, :] : 0.
// Other samples are left as they are.
cudaError_t launchFillEmptySamples(float* dst, const float* src, const int* lengths, int S, int B, int H,
                                   cudaStream_t stream);

}  // namespace cgru::cuda
