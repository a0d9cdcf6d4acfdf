// The tensor kernels the model layer needs besides the GRU: GEMM, activations, losses, optimizer
// updates and friends. Each backend that has them returns an implementation from Backend::ops();
// every pointer points into that backend's memory. Sizes have been validated by the bindings.
// All float buffers are row-major and contiguous.
#pragma once
#include <cstdint>

namespace cgru {

// Gelu is the exact erf form (Keras' default approximate=False); HardSigmoid is Keras 3's
// relu6(x + 3) / 6; Swish is x·σ(x) (= silu). Sqrt, Log and Log1p are math ops, not activations.
enum class UnaryKind : int { Linear = 0, Relu, Sigmoid, Tanh, Elu, Softmax, Softplus, Selu, Exp, Square, Abs, Gelu, Swish, HardSigmoid, Relu6, Sqrt, Log, Log1p };
// Greater and GreaterEqual give 1 where a > b (a ≥ b), else 0.
enum class BinaryKind : int { Add = 0, Sub, Mul, Div, Max, Min, Greater, GreaterEqual };
// Losses: the mean over rows of a per-row value (mean over columns for mse/mae/binary
// cross-entropy, sum over columns for categorical cross-entropy). Sparse kinds take int32 labels [rows].
enum class LossKind : int {
  MeanSquaredError = 0,
  MeanAbsoluteError,
  BinaryCrossentropy,
  BinaryCrossentropyLogits,
  CategoricalCrossentropy,
  CategoricalCrossentropyLogits,
  SparseCategoricalCrossentropy,
  SparseCategoricalCrossentropyLogits,
};
enum class MetricKind : int { BinaryAccuracy = 0, CategoricalAccuracy, SparseCategoricalAccuracy };

class TensorOps {
 public:
  virtual ~TensorOps() = default;

  // C[m×n] = alpha · op(A) · op(B) + beta · C (contiguous row-major: lda = transA ? m : k, ...).
  virtual void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                    const float* b, float beta, float* c) = 0;
  // x[r, c] += bias[c]
  virtual void biasAdd(float* x, const float* bias, int64_t rows, int64_t cols) = 0;
  // out[c] = beta · out[c] + Σ_r x[r, c]
  virtual void columnSums(const float* x, int64_t rows, int64_t cols, float* out, float beta) = 0;
  // y = f(x); softmax over the last dimension of width `cols` (n % cols == 0).
  virtual void unary(UnaryKind kind, const float* x, float* y, int64_t n, int64_t cols) = 0;
  // dx = dy · f'(x) expressed through y = f(x) (and x where needed); beta = 1 accumulates into dx.
  virtual void unaryGrad(UnaryKind kind, const float* x, const float* y, const float* dy, float* dx, int64_t n,
                         int64_t cols, float beta) = 0;
  // out[i] = a[(i / aDiv) % aLen] ∘ b[(i / bDiv) % bLen] for i < n: identical shapes (div 1, len n),
  // a scalar (len 1), a row repeated over rows (div 1) or a column repeated along rows (div = cols).
  virtual void binary(BinaryKind kind, const float* a, int64_t aDiv, int64_t aLen, const float* b, int64_t bDiv,
                      int64_t bLen, float* out, int64_t n) = 0;
  // out[o, j] = alpha · Σ_m x[o, m, j] for x viewed as [outer, n, inner] (double accumulation).
  virtual void reduceSum(const float* x, int64_t outer, int64_t n, int64_t inner, float* out, float alpha) = 0;
  // y += alpha · x
  virtual void axpy(float alpha, const float* x, float* y, int64_t n) = 0;
  // x *= alpha
  virtual void scale(float* x, float alpha, int64_t n) = 0;
  virtual void fill(float* x, float value, int64_t n) = 0;
  // dst[r, dstStart + j] = beta · dst[r, dstStart + j] + src[r, srcStart + j], j < width.
  virtual void copyColumns(const float* src, int64_t rows, int64_t srcCols, int64_t srcStart, float* dst,
                           int64_t dstCols, int64_t dstStart, int64_t width, float beta) = 0;
  // out[b, t] = x[b, len_b − 1 − t] for t < len_b, else x[b, t]; lengths (host) may be null (= seqLen).
  virtual void reverseTime(const float* x, float* out, int64_t batch, int64_t seqLen, int64_t features,
                           const int32_t* hostLengths) = 0;
  // Writes the mean loss (1/rows)·Σ_r weights[r]·loss_r into *lossOut (device memory, one float)
  // and, when grad is not null, its gradient with respect to pred (same shape as pred). labels:
  // int32 for sparse kinds; weights (per row, may be null = all ones) mask padded timesteps.
  virtual void loss(LossKind kind, const float* pred, const float* target, const int32_t* labels,
                    const float* weights, int64_t rows, int64_t cols, float* grad, float* lossOut) = 0;
  // Writes the (row-weighted) mean accuracy into *out (device memory, one float).
  virtual void metric(MetricKind kind, const float* pred, const float* target, const int32_t* labels,
                      const float* weights, int64_t rows, int64_t cols, float threshold, float* out) = 0;

  // Optimizer updates, in place (Keras 3 formulas; see lib/optimizers).
  virtual void sgdUpdate(float* param, const float* grad, float* velocity, int64_t n, float lr, float momentum,
                         bool nesterov) = 0;
  // lr already includes Adam's bias correction; weightDecay (AdamW, decoupled) multiplies baseLr.
  virtual void adamUpdate(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float baseLr,
                          float beta1, float beta2, float epsilon, float weightDecay) = 0;
  virtual void rmspropUpdate(float* param, const float* grad, float* meanSquare, float* mom, int64_t n, float lr,
                             float rho, float momentum, float epsilon) = 0;
  // Clamps every element to [lo, hi].
  virtual void clipValue(float* x, int64_t n, float lo, float hi) = 0;
  // Σ x² into *out (device memory, one float).
  virtual void sumSquares(const float* x, int64_t n, float* out) = 0;
  // Scales each tensor so that its norm (global: the norm of all of them together) is at most maxNorm.
  virtual void clipNorm(float* const* xs, const int64_t* sizes, int count, float maxNorm, bool global) = 0;
  // mask[i] = 0 with probability rate, else 1 / (1 − rate); the same seed gives the same mask.
  virtual void dropoutMask(float* mask, int64_t n, float rate, uint64_t seed) = 0;
  // out[i, :] = table[indices[i], :]; indices were checked to lie in [0, vocab).
  virtual void gather(const float* table, int64_t dim, const int32_t* indices, int64_t count, float* out) = 0;
  // dTable[indices[i], :] += dOut[i, :]
  virtual void scatterAdd(const float* dOut, int64_t dim, const int32_t* indices, int64_t count, float* dTable) = 0;
  // First index i with a non-finite value, or −1 (a host round trip; used to report bad data).
  virtual int64_t firstNonFinite(const float* x, int64_t n) = 0;
};

}  // namespace cgru
