// TensorOps for CUDA (see ops_cuda.h). Kernel style as in kernels.cu: grid-stride loops over
// size_t indices, 256 threads, every launch checked with cudaGetLastError. Reductions that
// produce a reported value (losses, metrics, Σx², norms) never use atomics: each row or block
// writes a double partial and one block sums the partials in a fixed order, so a result depends
// only on the inputs and sizes. The formulas follow native/cpu/ops_cpu.cpp term by term.
#include "cuda/ops_cuda.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "core/errors.h"
#include "cuda/check.h"
#include "cuda/cuda_backend.h"
#include "cuda/descriptors.h"

namespace cgru::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kReduceBlocks = 256;  // partial sums per tensor in Σx² (fixed: keeps results size-only dependent)
constexpr float kEpsilon = 1e-7f;   // Keras' backend epsilon (probability clipping)
constexpr float kSeluAlpha = 1.6732632423543772f;
constexpr float kSeluScale = 1.0507009873554805f;

unsigned blocksFor(size_t n) {
  const size_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::min<size_t>(std::max<size_t>(blocks, 1), 65535));
}
unsigned rowBlocks(int64_t rows) { return static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(rows, 1), 65535)); }

void checkLaunch(const char* kernel) { checkCuda(cudaGetLastError(), kernel); }

#define GRID_STRIDE(i, n)                                                                                    \
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x, i##_stride =                  \
                                                                                  static_cast<size_t>(gridDim.x) * blockDim.x; \
       i < (n); i += i##_stride)

// ---------------------------------------------------------------- device helpers

__device__ __forceinline__ float sigmoidf_(float x) {
  if (x >= 0) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}
__device__ __forceinline__ float maxf_(float a, float b) { return a < b ? b : a; }  // std::max
__device__ __forceinline__ float relu6f_(float x) { return fminf(maxf_(x, 0.0f), 6.0f); }
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
// The CPU's formulas (native/cpu/ops_cpu.cpp), in double as there.
__device__ __forceinline__ float geluf_(float x) { return static_cast<float>(0.5 * x * erfc(-x * kInvSqrt2)); }
__device__ __forceinline__ float geluGradf_(float x) {
  const double d = x;
  return static_cast<float>(0.5 * erfc(-d * kInvSqrt2) + d * kInvSqrt2Pi * exp(-0.5 * d * d));
}
__device__ __forceinline__ float minf_(float a, float b) { return b < a ? b : a; }  // std::min
// The same in double for the losses: fmax/fmin would drop a NaN prediction (clamping it to
// epsilon) where the CPU's std::max/std::min keep it, hiding a diverged model's NaN loss.
__device__ __forceinline__ double maxd_(double a, double b) { return a < b ? b : a; }
__device__ __forceinline__ double mind_(double a, double b) { return b < a ? b : a; }

__host__ __device__ __forceinline__ uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct MaxOp {
  __device__ double operator()(double a, double b) const { return a < b ? b : a; }
};

// Reduces `v` over the block in a fixed order; every thread gets the result. `scratch` holds
// 32 doubles. blockDim.x must be a multiple of 32 (at most 1024).
template <typename Op>
__device__ double blockReduce(double v, double* scratch, Op op) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    double w = lane < warps ? scratch[lane] : scratch[0];
    for (int o = 16; o > 0; o >>= 1) w = op(w, __shfl_down_sync(0xffffffffu, w, o));
    if (lane == 0) scratch[0] = w;
  }
  __syncthreads();
  return scratch[0];
}
// Max pads the unused lanes of the last step with scratch[0] (a real value: the maximum is
// unchanged); sums pad with 0.
__device__ double blockSum(double v, double* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    double w = lane < warps ? scratch[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) w += __shfl_down_sync(0xffffffffu, w, o);
    if (lane == 0) scratch[0] = w;
  }
  __syncthreads();
  return scratch[0];
}
__device__ double blockMax(double v, double* scratch) { return blockReduce(v, scratch, MaxOp{}); }

// ---------------------------------------------------------------- elementwise kernels

__global__ void biasAddKernel(float* x, const float* bias, size_t cols, size_t n) {
  GRID_STRIDE(i, n) x[i] += bias[i % cols];
}

// Column sums: tiles of 32 columns (grid-stride over tiles), 8 row slices; fixed-order
// combination of the slices.
__global__ void columnSumsKernel(const float* x, int64_t rows, int64_t cols, float* out, float beta) {
  __shared__ double part[8][33];
  const int64_t tiles = (cols + 31) / 32;
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {  // uniform per block
    const int64_t c = tile * 32 + threadIdx.x;
    double acc = 0;
    if (c < cols)
      for (int64_t r = threadIdx.y; r < rows; r += 8) acc += x[r * cols + c];
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
      double s = 0;
      for (int k = 0; k < 8; ++k) s += part[k][threadIdx.x];
      out[c] = (beta == 0.0f ? 0.0f : beta * out[c]) + static_cast<float>(s);
    }
    __syncthreads();  // part is rewritten by the next tile
  }
}

__global__ void unaryKernel(int kind, const float* x, float* y, size_t n) {
  GRID_STRIDE(i, n) {
    const float v = x[i];
    float r;
    switch (static_cast<UnaryKind>(kind)) {
      case UnaryKind::Relu: r = v > 0 ? v : 0.0f; break;
      case UnaryKind::Sigmoid: r = sigmoidf_(v); break;
      case UnaryKind::Tanh: r = tanhf(v); break;
      case UnaryKind::Elu: r = v > 0 ? v : expm1f(v); break;
      case UnaryKind::Selu: r = kSeluScale * (v > 0 ? v : kSeluAlpha * expm1f(v)); break;
      case UnaryKind::Softplus: r = maxf_(v, 0.0f) + log1pf(expf(-fabsf(v))); break;
      case UnaryKind::Exp: r = expf(v); break;
      case UnaryKind::Square: r = v * v; break;
      case UnaryKind::Abs: r = fabsf(v); break;
      case UnaryKind::Gelu: r = geluf_(v); break;
      case UnaryKind::Swish: r = v * sigmoidf_(v); break;
      case UnaryKind::HardSigmoid: r = relu6f_(v + 3.0f) / 6.0f; break;
      case UnaryKind::Relu6: r = relu6f_(v); break;
      case UnaryKind::Sqrt: r = sqrtf(v); break;
      case UnaryKind::Log: r = logf(v); break;
      case UnaryKind::Log1p: r = log1pf(v); break;
      default: r = v; break;  // Linear (Softmax has its own kernel)
    }
    y[i] = r;
  }
}

// One block per row (grid-stride over rows).
__global__ void softmaxKernel(const float* x, float* y, int64_t rows, int64_t cols) {
  __shared__ double scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    double mx = -INFINITY;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) mx = maxd_(mx, static_cast<double>(xr[c]));
    const float m = static_cast<float>(blockMax(mx, scratch));
    double sum = 0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float e = expf(xr[c] - m);
      sum += e;
    }
    const float inv = static_cast<float>(1.0 / blockSum(sum, scratch));
    // Recomputing exp (instead of storing it first) keeps x == y (in place) safe.
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = expf(xr[c] - m) * inv;
    __syncthreads();
  }
}

__device__ __forceinline__ void put(float* dx, size_t i, float v, float beta) {
  dx[i] = beta == 0.0f ? v : beta * dx[i] + v;
}

__global__ void unaryGradKernel(int kind, const float* x, const float* y, const float* dy, float* dx, size_t n,
                                float beta) {
  GRID_STRIDE(i, n) {
    float v;
    switch (static_cast<UnaryKind>(kind)) {
      case UnaryKind::Relu: v = y[i] > 0 ? dy[i] : 0.0f; break;
      case UnaryKind::Sigmoid: v = dy[i] * y[i] * (1.0f - y[i]); break;
      case UnaryKind::Tanh: v = dy[i] * (1.0f - y[i] * y[i]); break;
      case UnaryKind::Elu: v = y[i] > 0 ? dy[i] : dy[i] * (y[i] + 1.0f); break;
      case UnaryKind::Selu: v = y[i] > 0 ? dy[i] * kSeluScale : dy[i] * (y[i] + kSeluScale * kSeluAlpha); break;
      case UnaryKind::Exp: v = dy[i] * y[i]; break;
      case UnaryKind::Softplus: v = dy[i] * sigmoidf_(x[i]); break;
      case UnaryKind::Square: v = dy[i] * 2.0f * x[i]; break;
      case UnaryKind::Abs: v = x[i] > 0 ? dy[i] : x[i] < 0 ? -dy[i] : 0.0f; break;
      case UnaryKind::Gelu: v = dy[i] * geluGradf_(x[i]); break;
      case UnaryKind::Swish: {
        const float s = sigmoidf_(x[i]);
        v = dy[i] * (s + y[i] * (1.0f - s));
        break;
      }
      case UnaryKind::HardSigmoid: v = x[i] > -3.0f && x[i] < 3.0f ? dy[i] / 6.0f : 0.0f; break;
      case UnaryKind::Relu6: v = y[i] > 0 && y[i] < 6.0f ? dy[i] : 0.0f; break;
      case UnaryKind::Sqrt: v = dy[i] * 0.5f / y[i]; break;
      case UnaryKind::Log: v = dy[i] / x[i]; break;
      case UnaryKind::Log1p: v = dy[i] / (1.0f + x[i]); break;
      default: v = dy[i]; break;  // Linear
    }
    put(dx, i, v, beta);
  }
}

__global__ void softmaxGradKernel(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols, float beta) {
  __shared__ double scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t o = r * cols;
    double dot = 0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) dot += static_cast<double>(dy[o + c]) * y[o + c];
    const float d = static_cast<float>(blockSum(dot, scratch));
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
      put(dx, static_cast<size_t>(o + c), y[o + c] * (dy[o + c] - d), beta);
    __syncthreads();
  }
}

// Indices as in TensorOps::binary.
__global__ void binaryKernel(int kind, const float* a, int64_t aDiv, int64_t aLen, const float* b, int64_t bDiv,
                             int64_t bLen, float* out, size_t n) {
  GRID_STRIDE(i, n) {
    const int64_t k = static_cast<int64_t>(i);
    const float x = a[(k / aDiv) % aLen], y = b[(k / bDiv) % bLen];
    float r;
    switch (static_cast<BinaryKind>(kind)) {
      case BinaryKind::Sub: r = x - y; break;
      case BinaryKind::Mul: r = x * y; break;
      case BinaryKind::Div: r = x / y; break;
      // NaN on either side gives NaN (as TensorFlow and the CPU kernel).
      case BinaryKind::Max: r = x < y || y != y ? y : x; break;
      case BinaryKind::Min: r = y < x || y != y ? y : x; break;
      case BinaryKind::Greater: r = x > y ? 1.0f : 0.0f; break;
      case BinaryKind::GreaterEqual: r = x >= y ? 1.0f : 0.0f; break;
      default: r = x + y; break;
    }
    out[i] = r;
  }
}

// One block per output element (grid-stride over them): a fixed-order block sum over n.
__global__ void reduceSumKernel(const float* x, int64_t outer, int64_t n, int64_t inner, float* out, float alpha) {
  __shared__ double scratch[32];
  for (int64_t j = blockIdx.x; j < outer * inner; j += gridDim.x) {  // uniform per block
    const int64_t o = j / inner, c = j % inner;
    double acc = 0;
    for (int64_t m = threadIdx.x; m < n; m += blockDim.x) acc += x[(o * n + m) * inner + c];
    const double total = blockSum(acc, scratch);
    if (threadIdx.x == 0) out[j] = static_cast<float>(alpha * total);
    __syncthreads();
  }
}

__global__ void axpyKernel(float alpha, const float* x, float* y, size_t n) {
  GRID_STRIDE(i, n) y[i] += alpha * x[i];
}
__global__ void scaleKernel(float* x, float alpha, size_t n) {
  GRID_STRIDE(i, n) x[i] *= alpha;
}
__global__ void fillKernel(float* x, float value, size_t n) {
  GRID_STRIDE(i, n) x[i] = value;
}

__global__ void copyColumnsKernel(const float* src, int64_t srcCols, int64_t srcStart, float* dst, int64_t dstCols,
                                  int64_t dstStart, int64_t width, float beta, size_t n) {
  GRID_STRIDE(i, n) {
    const int64_t r = static_cast<int64_t>(i / static_cast<size_t>(width));
    const int64_t j = static_cast<int64_t>(i % static_cast<size_t>(width));
    const float s = src[r * srcCols + srcStart + j];
    float* d = dst + r * dstCols + dstStart + j;
    *d = beta == 0.0f ? s : beta * *d + s;
  }
}

__global__ void reverseTimeKernel(const float* x, float* out, int64_t seqLen, int64_t features, const int32_t* lengths,
                                  size_t n) {
  GRID_STRIDE(i, n) {
    const int64_t f = static_cast<int64_t>(i % static_cast<size_t>(features));
    const int64_t row = static_cast<int64_t>(i / static_cast<size_t>(features));
    const int64_t t = row % seqLen, b = row / seqLen;
    const int64_t len = lengths ? lengths[b] : seqLen;
    const int64_t from = t < len ? len - 1 - t : t;
    out[i] = x[(b * seqLen + from) * features + f];
  }
}

// ---------------------------------------------------------------- losses and metrics

// One block per row: rowOut[r] = weights[r] · loss_r (double); grad as on the CPU.
__global__ void lossRowsKernel(int kindInt, const float* pred, const float* target, const int32_t* labels,
                               const float* weights, int64_t rows, int64_t cols, float* grad, double* rowOut) {
  __shared__ double scratch[32];
  const LossKind kind = static_cast<LossKind>(kindInt);
  const double invRows = rows ? 1.0 / static_cast<double>(rows) : 0.0;
  const double invCols = cols ? 1.0 / static_cast<double>(cols) : 0.0;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const double w = weights ? weights[r] : 1.0;
    const double gs = w * invRows;
    const float* p = pred + r * cols;
    const float* t = target ? target + r * cols : nullptr;
    float* g = grad ? grad + r * cols : nullptr;
    double row = 0;
    switch (kind) {
      case LossKind::MeanSquaredError:
      case LossKind::MeanAbsoluteError:
      case LossKind::BinaryCrossentropy:
      case LossKind::BinaryCrossentropyLogits: {
        double acc = 0;
        for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
          if (kind == LossKind::MeanSquaredError) {
            const double d = static_cast<double>(p[c]) - t[c];
            acc += d * d;
            if (g) g[c] = static_cast<float>(2.0 * d * invCols * gs);
          } else if (kind == LossKind::MeanAbsoluteError) {
            const double d = static_cast<double>(p[c]) - t[c];
            acc += fabs(d);
            if (g) g[c] = static_cast<float>((d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0) * invCols * gs);
          } else if (kind == LossKind::BinaryCrossentropy) {
            const double pv = p[c], tv = t[c];
            const double pc = mind_(maxd_(pv, static_cast<double>(kEpsilon)), 1.0 - kEpsilon);
            acc -= tv * log(pc + kEpsilon) + (1 - tv) * log(1 - pc + kEpsilon);
            if (g) {
              const bool inside = pv > kEpsilon && pv < 1.0 - kEpsilon;
              g[c] = inside ? static_cast<float>((-tv / (pc + kEpsilon) + (1 - tv) / (1 - pc + kEpsilon)) * invCols * gs)
                            : 0.0f;
            }
          } else {
            const double x = p[c], tv = t[c];
            acc += maxd_(x, 0.0) - x * tv + log1p(exp(-fabs(x)));
            if (g) g[c] = static_cast<float>((sigmoidf_(p[c]) - tv) * invCols * gs);
          }
        }
        row = blockSum(acc, scratch) * invCols;
        break;
      }
      case LossKind::CategoricalCrossentropy:
      case LossKind::SparseCategoricalCrossentropy: {
        const bool sparse = kind == LossKind::SparseCategoricalCrossentropy;
        double s = 0;
        for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += p[c];
        const double sum = blockSum(s, scratch);
        double acc = 0, gq = 0;
        for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
          const double tv = sparse ? (labels[r] == c ? 1.0 : 0.0) : t[c];
          const double q = p[c] / sum;
          const double qc = mind_(maxd_(q, static_cast<double>(kEpsilon)), 1.0 - kEpsilon);
          acc -= tv * log(qc);
          const double gj = (q > kEpsilon && q < 1.0 - kEpsilon) ? -tv / qc : 0.0;
          if (g) g[c] = static_cast<float>(gj);
          gq += gj * q;
        }
        row = blockSum(acc, scratch);
        if (g) {
          const double gqs = blockSum(gq, scratch);
          for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) g[c] = static_cast<float>((g[c] - gqs) / sum * gs);
        }
        break;
      }
      case LossKind::CategoricalCrossentropyLogits:
      case LossKind::SparseCategoricalCrossentropyLogits: {
        const bool sparse = kind == LossKind::SparseCategoricalCrossentropyLogits;
        double m = -INFINITY;
        for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) m = maxd_(m, static_cast<double>(p[c]));
        const double mx = blockMax(m, scratch);
        double s = 0;
        for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += exp(p[c] - mx);
        const double lse = mx + log(blockSum(s, scratch));
        double ts = 0, acc = 0;
        for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
          const double tv = sparse ? (labels[r] == c ? 1.0 : 0.0) : t[c];
          ts += tv;
          acc += tv * (lse - p[c]);
        }
        row = blockSum(acc, scratch);
        const double tsum = blockSum(ts, scratch);
        if (g)
          for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
            const double tv = sparse ? (labels[r] == c ? 1.0 : 0.0) : t[c];
            g[c] = static_cast<float>((exp(p[c] - lse) * tsum - tv) * gs);
          }
        break;
      }
    }
    if (threadIdx.x == 0) rowOut[r] = w * row;
    __syncthreads();
  }
}

// First index of the largest value (std::max_element), over one row, across the block.
// std::max_element skips every NaN except one at index 0, which then wins (nothing compares
// greater than it); each thread's scan does the same, so the combination below agrees.
__device__ int64_t blockArgmax(const float* v, int64_t cols, float* sVal, int64_t* sIdx) {
  float best = 0;
  int64_t bi = -1;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float x = v[c];
    if (isnan(x) && c != 0) continue;
    if (bi < 0 || best < x) {
      best = x;
      bi = c;
    }
  }
  __syncthreads();
  sVal[threadIdx.x] = best;
  sIdx[threadIdx.x] = bi;
  __syncthreads();
  if (threadIdx.x == 0) {
    // Each thread's candidate is its first maximum; among candidates keep the largest value,
    // the smallest index on ties.
    float bv = 0;
    int64_t b = -1;
    for (unsigned k = 0; k < blockDim.x; ++k) {
      const int64_t ik = sIdx[k];
      if (ik < 0) continue;
      if (b < 0 || bv < sVal[k] || (!(sVal[k] < bv) && ik < b)) {
        bv = sVal[k];
        b = ik;
      }
    }
    sIdx[0] = b;
  }
  __syncthreads();
  return sIdx[0];
}

// One block per row: hits[r] and counts[r] (row-weighted).
__global__ void metricRowsKernel(int kindInt, const float* pred, const float* target, const int32_t* labels,
                                 const float* weights, int64_t rows, int64_t cols, float threshold, double* hits,
                                 double* counts) {
  __shared__ double scratch[32];
  __shared__ float sVal[kThreads];
  __shared__ int64_t sIdx[kThreads];
  const MetricKind kind = static_cast<MetricKind>(kindInt);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const double w = weights ? weights[r] : 1.0;
    const float* p = pred + r * cols;
    if (kind == MetricKind::BinaryAccuracy) {
      double h = 0;
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
        h += ((p[c] > threshold) == (target[r * cols + c] > 0.5f)) ? 1 : 0;
      const double total = blockSum(h, scratch);
      if (threadIdx.x == 0) {
        hits[r] = w * total;
        counts[r] = w * static_cast<double>(cols);
      }
    } else {
      const int64_t argmax = blockArgmax(p, cols, sVal, sIdx);
      const int64_t want =
          kind == MetricKind::SparseCategoricalAccuracy ? labels[r] : blockArgmax(target + r * cols, cols, sVal, sIdx);
      if (threadIdx.x == 0) {
        hits[r] = w * (argmax == want ? 1 : 0);
        counts[r] = w;
      }
    }
    __syncthreads();
  }
}

// One block: out = mode 0: scale · Σa; mode 1: Σa / Σb (0 when Σb <= 0). Fixed order.
__global__ void finalizeKernel(const double* a, const double* b, int64_t n, int mode, double scale, float* out) {
  __shared__ double scratch[32];
  double sa = 0, sb = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    sa += a[i];
    if (b) sb += b[i];
  }
  const double ta = blockSum(sa, scratch);
  const double tb = b ? blockSum(sb, scratch) : 0.0;
  if (threadIdx.x == 0) *out = mode == 0 ? static_cast<float>(ta * scale) : (tb > 0 ? static_cast<float>(ta / tb) : 0.0f);
}

// ---------------------------------------------------------------- optimizers and clipping

__global__ void sgdKernel(float* p, const float* g, size_t n, float lr) {
  GRID_STRIDE(i, n) p[i] -= lr * g[i];
}
__global__ void sgdMomentumKernel(float* p, const float* g, float* vel, size_t n, float lr, float momentum,
                                  bool nesterov) {
  GRID_STRIDE(i, n) {
    const float v = momentum * vel[i] - lr * g[i];
    vel[i] = v;
    p[i] += nesterov ? momentum * v - lr * g[i] : v;
  }
}
__global__ void adamKernel(float* p, const float* g, float* m, float* v, size_t n, float lr, float baseLr, float beta1,
                           float beta2, float epsilon, float weightDecay) {
  GRID_STRIDE(i, n) {
    float pi = p[i];
    const float gi = g[i];
    if (weightDecay != 0.0f) pi -= pi * weightDecay * baseLr;
    float mi = m[i], vi = v[i];
    mi += (gi - mi) * (1.0f - beta1);
    vi += (gi * gi - vi) * (1.0f - beta2);
    pi -= lr * mi / (sqrtf(vi) + epsilon);
    m[i] = mi;
    v[i] = vi;
    p[i] = pi;
  }
}
__global__ void rmspropKernel(float* p, const float* g, float* ms, float* mom, size_t n, float lr, float rho,
                              float momentum, float epsilon) {
  GRID_STRIDE(i, n) {
    const float gi = g[i];
    const float s = rho * ms[i] + (1.0f - rho) * gi * gi;
    ms[i] = s;
    const float inc = lr * gi / sqrtf(s + epsilon);
    if (mom) {
      const float mo = momentum * mom[i] + inc;
      mom[i] = mo;
      p[i] -= mo;
    } else {
      p[i] -= inc;
    }
  }
}
__global__ void clipValueKernel(float* x, size_t n, float lo, float hi) {
  GRID_STRIDE(i, n) x[i] = minf_(maxf_(x[i], lo), hi);
}

// Per-block partial Σx² (always gridDim.x == kReduceBlocks partials).
__global__ void sumSquaresPartialKernel(const float* x, size_t n, double* partials) {
  __shared__ double scratch[32];
  double s = 0;
  GRID_STRIDE(i, n) s += static_cast<double>(x[i]) * x[i];
  const double total = blockSum(s, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}
// Block k sums tensor k's kReduceBlocks partials into sums[k] (and into *out when out != null).
__global__ void sumPartialsKernel(const double* partials, double* sums, float* out) {
  __shared__ double scratch[32];
  const double* p = partials + static_cast<size_t>(blockIdx.x) * kReduceBlocks;
  double s = 0;
  for (int i = threadIdx.x; i < kReduceBlocks; i += blockDim.x) s += p[i];
  const double total = blockSum(s, scratch);
  if (threadIdx.x == 0) {
    if (sums) sums[blockIdx.x] = total;
    if (out) *out = static_cast<float>(total);
  }
}
// factors[k] = the scale for tensor k (1 = leave it).
__global__ void clipFactorsKernel(const double* sums, int count, float maxNorm, bool global, float* factors) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  if (global) {
    double total = 0;
    for (int k = 0; k < count; ++k) total += sums[k];
    const double norm = sqrt(total);
    const float f = norm > maxNorm ? static_cast<float>(maxNorm / norm) : 1.0f;
    for (int k = 0; k < count; ++k) factors[k] = f;
    return;
  }
  for (int k = 0; k < count; ++k) {
    const double norm = sqrt(sums[k]);
    factors[k] = norm > maxNorm ? static_cast<float>(maxNorm / norm) : 1.0f;
  }
}
__global__ void scaleByFactorKernel(float* x, size_t n, const float* factor) {
  const float f = *factor;
  if (f == 1.0f) return;
  GRID_STRIDE(i, n) x[i] = f == 0.0f ? 0.0f : x[i] * f;  // as the CPU's scale(): alpha 0 fills zeros
}

// The CPU's mask exactly: u = splitmix64(splitmix64(seed) + i) >> 11 as a 53-bit uniform.
__global__ void dropoutKernel(float* mask, size_t n, float rate, float keep, uint64_t base) {
  GRID_STRIDE(i, n) {
    const double u = static_cast<double>(splitmix64(base + static_cast<uint64_t>(i)) >> 11) * 0x1.0p-53;
    mask[i] = u < rate ? 0.0f : keep;
  }
}

__global__ void gatherKernel(const float* table, size_t dim, const int32_t* indices, float* out, size_t n) {
  GRID_STRIDE(i, n) out[i] = table[static_cast<size_t>(indices[i / dim]) * dim + i % dim];
}
// atomicAdd: repeated indices add in an unspecified order, so dTable may differ from run to run
// in the last bits (float addition is not associative). Acceptable for embedding gradients.
__global__ void scatterAddKernel(const float* dOut, size_t dim, const int32_t* indices, float* dTable, size_t n) {
  GRID_STRIDE(i, n) atomicAdd(dTable + static_cast<size_t>(indices[i / dim]) * dim + i % dim, dOut[i]);
}

__global__ void firstNonFiniteKernel(const float* x, size_t n, unsigned long long* first) {
  GRID_STRIDE(i, n) if (!isfinite(x[i])) atomicMin(first, static_cast<unsigned long long>(i));  // min: deterministic
}

#undef GRID_STRIDE

// ---------------------------------------------------------------- the ops

class CudaOps final : public TensorOps {
 public:
  explicit CudaOps(CudaBackend& backend) : b_(backend) {}

  void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, const float* b,
            float beta, float* c) override {
    if (m == 0 || n == 0) return;
    if (k == 0) return scale(c, beta, m * n);
    constexpr int64_t kMax = std::numeric_limits<int>::max();
    if (m > kMax || n > kMax || k > kMax) throw Error("gemm: a dimension exceeds cuBLAS's int range");
    b_.makeCurrent();
    // Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands.
    CGRU_CUBLAS(cublasSgemm_v2, b_.cublasHandle(), transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N,
                static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, b,
                static_cast<int>(transB ? k : n), a, static_cast<int>(transA ? m : k), &beta, c, static_cast<int>(n));
  }

  void biasAdd(float* x, const float* bias, int64_t rows, int64_t cols) override {
    const size_t n = sz(rows * cols);
    if (!n) return;
    begin();
    biasAddKernel<<<blocksFor(n), kThreads, 0, s()>>>(x, bias, sz(cols), n);
    checkLaunch("biasAddKernel");
  }

  void columnSums(const float* x, int64_t rows, int64_t cols, float* out, float beta) override {
    if (cols <= 0) return;
    begin();
    columnSumsKernel<<<rowBlocks((cols + 31) / 32), dim3(32, 8), 0, s()>>>(x, rows, cols, out, beta);
    checkLaunch("columnSumsKernel");
  }

  void unary(UnaryKind kind, const float* x, float* y, int64_t n, int64_t cols) override {
    if (n <= 0) return;
    begin();
    if (kind == UnaryKind::Softmax) {
      const int64_t rows = cols > 0 ? n / cols : 0;
      if (!rows) return;
      softmaxKernel<<<rowBlocks(rows), kThreads, 0, s()>>>(x, y, rows, cols);
      checkLaunch("softmaxKernel");
      return;
    }
    if (kind == UnaryKind::Linear) {
      if (x != y) b_.copyWithin(y, x, sz(n) * sizeof(float));
      return;
    }
    unaryKernel<<<blocksFor(sz(n)), kThreads, 0, s()>>>(static_cast<int>(kind), x, y, sz(n));
    checkLaunch("unaryKernel");
  }

  void unaryGrad(UnaryKind kind, const float* x, const float* y, const float* dy, float* dx, int64_t n, int64_t cols,
                 float beta) override {
    if (n <= 0) return;
    begin();
    if (kind == UnaryKind::Softmax) {
      const int64_t rows = cols > 0 ? n / cols : 0;
      if (!rows) return;
      softmaxGradKernel<<<rowBlocks(rows), kThreads, 0, s()>>>(y, dy, dx, rows, cols, beta);
      checkLaunch("softmaxGradKernel");
      return;
    }
    unaryGradKernel<<<blocksFor(sz(n)), kThreads, 0, s()>>>(static_cast<int>(kind), x, y, dy, dx, sz(n), beta);
    checkLaunch("unaryGradKernel");
  }

  void binary(BinaryKind kind, const float* a, int64_t aDiv, int64_t aLen, const float* b, int64_t bDiv, int64_t bLen,
              float* out, int64_t n) override {
    if (n <= 0) return;
    begin();
    binaryKernel<<<blocksFor(sz(n)), kThreads, 0, s()>>>(static_cast<int>(kind), a, aDiv, aLen, b, bDiv, bLen, out, sz(n));
    checkLaunch("binaryKernel");
  }

  void reduceSum(const float* x, int64_t outer, int64_t n, int64_t inner, float* out, float alpha) override {
    if (outer * inner <= 0) return;
    begin();
    reduceSumKernel<<<rowBlocks(outer * inner), kThreads, 0, s()>>>(x, outer, n, inner, out, alpha);
    checkLaunch("reduceSumKernel");
  }

  void axpy(float alpha, const float* x, float* y, int64_t n) override {
    if (n <= 0) return;
    begin();
    axpyKernel<<<blocksFor(sz(n)), kThreads, 0, s()>>>(alpha, x, y, sz(n));
    checkLaunch("axpyKernel");
  }
  void scale(float* x, float alpha, int64_t n) override {
    if (alpha == 0.0f) return fill(x, 0.0f, n);
    if (n <= 0) return;
    begin();
    scaleKernel<<<blocksFor(sz(n)), kThreads, 0, s()>>>(x, alpha, sz(n));
    checkLaunch("scaleKernel");
  }
  void fill(float* x, float value, int64_t n) override {
    if (n <= 0) return;
    begin();
    fillKernel<<<blocksFor(sz(n)), kThreads, 0, s()>>>(x, value, sz(n));
    checkLaunch("fillKernel");
  }

  void copyColumns(const float* src, int64_t rows, int64_t srcCols, int64_t srcStart, float* dst, int64_t dstCols,
                   int64_t dstStart, int64_t width, float beta) override {
    const size_t n = sz(rows * width);
    if (!n) return;
    begin();
    copyColumnsKernel<<<blocksFor(n), kThreads, 0, s()>>>(src, srcCols, srcStart, dst, dstCols, dstStart, width, beta,
                                                          n);
    checkLaunch("copyColumnsKernel");
  }

  void reverseTime(const float* x, float* out, int64_t batch, int64_t seqLen, int64_t features,
                   const int32_t* hostLengths) override {
    const size_t n = sz(batch * seqLen * features);
    if (!n) return;
    begin();
    DeviceBuffer lengths;
    if (hostLengths) {
      lengths = DeviceBuffer(b_.allocator(), sz(batch) * sizeof(int32_t));
      b_.copyFromHost(lengths.get(), hostLengths, lengths.bytes());
    }
    reverseTimeKernel<<<blocksFor(n), kThreads, 0, s()>>>(x, out, seqLen, features, lengths.as<int32_t>(), n);
    checkLaunch("reverseTimeKernel");
  }

  void loss(LossKind kind, const float* pred, const float* target, const int32_t* labels, const float* weights,
            int64_t rows, int64_t cols, float* grad, float* lossOut) override {
    begin();
    DeviceBuffer rowVals(b_.allocator(), sz(rows) * sizeof(double));
    if (rows > 0) {
      lossRowsKernel<<<rowBlocks(rows), kThreads, 0, s()>>>(static_cast<int>(kind), pred, target, labels, weights, rows,
                                                            cols, grad, rowVals.as<double>());
      checkLaunch("lossRowsKernel");
    }
    const double invRows = rows ? 1.0 / static_cast<double>(rows) : 0.0;
    finalizeKernel<<<1, 1024, 0, s()>>>(rowVals.as<double>(), nullptr, rows, 0, invRows, lossOut);
    checkLaunch("finalizeKernel");
  }

  void metric(MetricKind kind, const float* pred, const float* target, const int32_t* labels, const float* weights,
              int64_t rows, int64_t cols, float threshold, float* out) override {
    begin();
    DeviceBuffer vals(b_.allocator(), 2 * sz(rows) * sizeof(double));
    double* hits = vals.as<double>();
    double* counts = hits ? hits + rows : nullptr;
    if (rows > 0) {
      metricRowsKernel<<<rowBlocks(rows), kThreads, 0, s()>>>(static_cast<int>(kind), pred, target, labels, weights,
                                                              rows, cols, threshold, hits, counts);
      checkLaunch("metricRowsKernel");
    }
    finalizeKernel<<<1, 1024, 0, s()>>>(hits, counts, rows, 1, 1.0, out);
    checkLaunch("finalizeKernel");
  }

  void sgdUpdate(float* p, const float* g, float* vel, int64_t n, float lr, float momentum, bool nesterov) override {
    if (n <= 0) return;
    begin();
    if (!vel || momentum == 0.0f) {
      sgdKernel<<<blocksFor(sz(n)), kThreads, 0, s()>>>(p, g, sz(n), lr);
      checkLaunch("sgdKernel");
      return;
    }
    sgdMomentumKernel<<<blocksFor(sz(n)), kThreads, 0, s()>>>(p, g, vel, sz(n), lr, momentum, nesterov);
    checkLaunch("sgdMomentumKernel");
  }

  void adamUpdate(float* p, const float* g, float* m, float* v, int64_t n, float lr, float baseLr, float beta1,
                  float beta2, float epsilon, float weightDecay) override {
    if (n <= 0) return;
    begin();
    adamKernel<<<blocksFor(sz(n)), kThreads, 0, s()>>>(p, g, m, v, sz(n), lr, baseLr, beta1, beta2, epsilon,
                                                       weightDecay);
    checkLaunch("adamKernel");
  }

  void rmspropUpdate(float* p, const float* g, float* ms, float* mom, int64_t n, float lr, float rho, float momentum,
                     float epsilon) override {
    if (n <= 0) return;
    begin();
    rmspropKernel<<<blocksFor(sz(n)), kThreads, 0, s()>>>(p, g, ms, (mom && momentum > 0.0f) ? mom : nullptr, sz(n), lr,
                                                          rho, momentum, epsilon);
    checkLaunch("rmspropKernel");
  }

  void clipValue(float* x, int64_t n, float lo, float hi) override {
    if (n <= 0) return;
    begin();
    clipValueKernel<<<blocksFor(sz(n)), kThreads, 0, s()>>>(x, sz(n), lo, hi);
    checkLaunch("clipValueKernel");
  }

  void sumSquares(const float* x, int64_t n, float* out) override {
    begin();
    DeviceBuffer partials(b_.allocator(), kReduceBlocks * sizeof(double));
    sumSquaresPartialKernel<<<kReduceBlocks, kThreads, 0, s()>>>(x, sz(n), partials.as<double>());
    checkLaunch("sumSquaresPartialKernel");
    sumPartialsKernel<<<1, kThreads, 0, s()>>>(partials.as<double>(), nullptr, out);
    checkLaunch("sumPartialsKernel");
  }

  void clipNorm(float* const* xs, const int64_t* sizes, int count, float maxNorm, bool global) override {
    if (count <= 0) return;
    begin();
    const size_t k = static_cast<size_t>(count);
    DeviceBuffer partials(b_.allocator(), k * kReduceBlocks * sizeof(double));
    DeviceBuffer sums(b_.allocator(), k * sizeof(double));
    DeviceBuffer factors(b_.allocator(), k * sizeof(float));
    for (size_t i = 0; i < k; ++i) {
      sumSquaresPartialKernel<<<kReduceBlocks, kThreads, 0, s()>>>(xs[i], sz(sizes[i]),
                                                                   partials.as<double>() + i * kReduceBlocks);
      checkLaunch("sumSquaresPartialKernel");
    }
    sumPartialsKernel<<<static_cast<unsigned>(k), kThreads, 0, s()>>>(partials.as<double>(), sums.as<double>(), nullptr);
    checkLaunch("sumPartialsKernel");
    clipFactorsKernel<<<1, 32, 0, s()>>>(sums.as<double>(), count, maxNorm, global, factors.as<float>());
    checkLaunch("clipFactorsKernel");
    for (size_t i = 0; i < k; ++i) {
      if (sizes[i] <= 0) continue;
      scaleByFactorKernel<<<blocksFor(sz(sizes[i])), kThreads, 0, s()>>>(xs[i], sz(sizes[i]), factors.as<float>() + i);
      checkLaunch("scaleByFactorKernel");
    }
  }

  void dropoutMask(float* mask, int64_t n, float rate, uint64_t seed) override {
    if (n <= 0) return;
    begin();
    dropoutKernel<<<blocksFor(sz(n)), kThreads, 0, s()>>>(mask, sz(n), rate, 1.0f / (1.0f - rate), splitmix64(seed));
    checkLaunch("dropoutKernel");
  }

  void gather(const float* table, int64_t dim, const int32_t* indices, int64_t count, float* out) override {
    const size_t n = sz(dim * count);
    if (!n) return;
    begin();
    gatherKernel<<<blocksFor(n), kThreads, 0, s()>>>(table, sz(dim), indices, out, n);
    checkLaunch("gatherKernel");
  }

  void scatterAdd(const float* dOut, int64_t dim, const int32_t* indices, int64_t count, float* dTable) override {
    const size_t n = sz(dim * count);
    if (!n) return;
    begin();
    scatterAddKernel<<<blocksFor(n), kThreads, 0, s()>>>(dOut, sz(dim), indices, dTable, n);
    checkLaunch("scatterAddKernel");
  }

  int64_t firstNonFinite(const float* x, int64_t n) override {
    if (n <= 0) return -1;
    begin();
    DeviceBuffer first(b_.allocator(), sizeof(unsigned long long));
    const unsigned long long none = static_cast<unsigned long long>(n);
    b_.copyFromHost(first.get(), &none, sizeof none);
    firstNonFiniteKernel<<<blocksFor(sz(n)), kThreads, 0, s()>>>(x, sz(n), first.as<unsigned long long>());
    checkLaunch("firstNonFiniteKernel");
    unsigned long long found = none;
    b_.copyToHost(&found, first.get(), sizeof found);
    return found >= none ? -1 : static_cast<int64_t>(found);
  }

 private:
  static size_t sz(int64_t v) { return v > 0 ? static_cast<size_t>(v) : 0; }
  void begin() const { b_.makeCurrent(); }
  cudaStream_t s() const { return b_.stream(); }

  CudaBackend& b_;
};

}  // namespace

std::unique_ptr<TensorOps> makeCudaOps(CudaBackend& backend) { return std::make_unique<CudaOps>(backend); }

}  // namespace cgru::cuda
