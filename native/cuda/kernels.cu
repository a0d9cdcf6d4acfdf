#include "cuda/kernels.h"

#include <algorithm>

namespace cgru::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxSegmentsPerLaunch = 128;  // 128 × 24 B of kernel parameters, under the 4 KiB limit

struct SegmentBatch {
  CopySegment segment[kMaxSegmentsPerLaunch];
};

__global__ void batchedCopyKernel(SegmentBatch batch) {
  const CopySegment s = batch.segment[blockIdx.y];
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < s.count; i += stride)
    s.dst[i] = s.src[i];
}

__global__ void zeroPaddedStepsKernel(float* data, const int* lengths, int T, int F, size_t total) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const size_t row = i / static_cast<size_t>(F);
    const int t = static_cast<int>(row % static_cast<size_t>(T));
    const int b = static_cast<int>(row / static_cast<size_t>(T));
    if (t >= lengths[b]) data[i] = 0.0f;
  }
}

__global__ void fillEmptySamplesKernel(float* dst, const float* src, const int* lengths, int B, int H, size_t total) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int b = static_cast<int>((i / static_cast<size_t>(H)) % static_cast<size_t>(B));
    if (lengths[b] == 0) dst[i] = src ? src[i] : 0.0f;
  }
}

unsigned blocksFor(size_t n) {
  const size_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::min<size_t>(std::max<size_t>(blocks, 1), 4096));
}

}  // namespace

cudaError_t launchBatchedCopy(const CopySegment* segments, int count, cudaStream_t stream) {
  for (int first = 0; first < count; first += kMaxSegmentsPerLaunch) {
    const int n = std::min(kMaxSegmentsPerLaunch, count - first);
    SegmentBatch batch{};
    size_t longest = 0;
    for (int i = 0; i < n; ++i) {
      batch.segment[i] = segments[first + i];
      longest = std::max(longest, segments[first + i].count);
    }
    if (longest == 0) continue;
    const dim3 grid(std::min<unsigned>(blocksFor(longest), 1024), static_cast<unsigned>(n));
    batchedCopyKernel<<<grid, kThreads, 0, stream>>>(batch);
    const cudaError_t status = cudaGetLastError();
    if (status != cudaSuccess) return status;
  }
  return cudaSuccess;
}

cudaError_t launchZeroPaddedSteps(float* data, const int* lengths, int B, int T, int F, cudaStream_t stream) {
  const size_t total = static_cast<size_t>(B) * T * F;
  if (total == 0) return cudaSuccess;
  zeroPaddedStepsKernel<<<blocksFor(total), kThreads, 0, stream>>>(data, lengths, T, F, total);
  return cudaGetLastError();
}

cudaError_t launchFillEmptySamples(float* dst, const float* src, const int* lengths, int S, int B, int H,
                                   cudaStream_t stream) {
  const size_t total = static_cast<size_t>(S) * B * H;
  if (total == 0) return cudaSuccess;
  fillEmptySamplesKernel<<<blocksFor(total), kThreads, 0, stream>>>(dst, src, lengths, B, H, total);
  return cudaGetLastError();
}

}  // namespace cgru::cuda
