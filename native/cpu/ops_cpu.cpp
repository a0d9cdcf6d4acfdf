// TensorOps on the CPU: GEMM through cpu::sgemm (BLAS), everything else as plain loops that the
// compiler vectorises. Reductions accumulate in double so results do not depend on sizes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/ops.h"
#include "cpu/blas.h"
#include "cpu/cpu_backend.h"
#include "cpu/thread_pool.h"

namespace cgru::cpu {
namespace {

// fn(begin, end) over [0, n) in blocks of whole cache lines, on the engine's threads where n is
// large enough to pay for them: the optimizers' element-wise updates are memory-bound (Adam over
// the 2.75 M parameters of a GRU H 512 L 2: 8.1 ms a step on one thread).
template <class Fn>
void inBlocks(int64_t n, Fn&& fn) {
  constexpr int64_t kPerThread = int64_t{1} << 18, kLine = 16;
  const int threads = static_cast<int>(std::clamp<int64_t>(n / kPerThread, 1, numThreads()));
  const int64_t lines = (n + kLine - 1) / kLine;
  ThreadPool::instance().run(threads, [&](int tid) {
    fn(std::min(n, lines * tid / threads * kLine), std::min(n, lines * (tid + 1) / threads * kLine));
  });
}

constexpr float kEpsilon = 1e-7f;  // Keras' backend epsilon (probability clipping)
constexpr float kSeluAlpha = 1.6732632423543772f;
constexpr float kSeluScale = 1.0507009873554805f;

inline float sigmoid(float x) {
  if (x >= 0) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

// 0.5·x·erfc(−x/√2) equals 0.5·x·(1 + erf(x/√2)) without its cancellation for negative x.
inline float gelu(float x) { return static_cast<float>(0.5 * x * std::erfc(-x * kInvSqrt2)); }
inline float geluGrad(float x) {
  const double d = x;
  return static_cast<float>(0.5 * std::erfc(-d * kInvSqrt2) + d * kInvSqrt2Pi * std::exp(-0.5 * d * d));
}
inline float relu6(float x) { return std::min(std::max(x, 0.0f), 6.0f); }

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// acc[j] = the sum over the rows of x [rows × cols] of column j, row by row in order, in double
// (column sums and sums over a middle axis).
void sumRows(const float* x, int64_t rows, int64_t cols, std::vector<double>& acc) {
  std::fill(acc.begin(), acc.end(), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * cols;
    for (int64_t c = 0; c < cols; ++c) acc[static_cast<size_t>(c)] += row[c];
  }
}

class CpuOps final : public TensorOps {
 public:
  void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, const float* b,
            float beta, float* c) override {
    if (m == 0 || n == 0) return;
    if (k == 0) {
      scale(c, beta, m * n);
      return;
    }
    sgemm(transA, transB, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
          static_cast<int>(transA ? m : k), b, static_cast<int>(transB ? k : n), beta, c, static_cast<int>(n));
  }

  void biasAdd(float* x, const float* bias, int64_t rows, int64_t cols) override {
    for (int64_t r = 0; r < rows; ++r) {
      float* row = x + r * cols;
      for (int64_t c = 0; c < cols; ++c) row[c] += bias[c];
    }
  }

  void columnSums(const float* x, int64_t rows, int64_t cols, float* out, float beta) override {
    std::vector<double> acc(static_cast<size_t>(cols));
    sumRows(x, rows, cols, acc);
    for (int64_t c = 0; c < cols; ++c) out[c] = (beta == 0.0f ? 0.0f : beta * out[c]) + static_cast<float>(acc[c]);
  }

  void unary(UnaryKind kind, const float* x, float* y, int64_t n, int64_t cols) override {
    switch (kind) {
      case UnaryKind::Linear:
        if (x != y) std::memmove(y, x, static_cast<size_t>(n) * sizeof(float));
        return;
      case UnaryKind::Relu:
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0 ? x[i] : 0.0f;
        return;
      case UnaryKind::Sigmoid:
        for (int64_t i = 0; i < n; ++i) y[i] = sigmoid(x[i]);
        return;
      case UnaryKind::Tanh:
        for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
        return;
      case UnaryKind::Elu:
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0 ? x[i] : std::expm1(x[i]);
        return;
      case UnaryKind::Selu:
        for (int64_t i = 0; i < n; ++i) y[i] = kSeluScale * (x[i] > 0 ? x[i] : kSeluAlpha * std::expm1(x[i]));
        return;
      case UnaryKind::Softplus:
        for (int64_t i = 0; i < n; ++i) y[i] = std::max(x[i], 0.0f) + std::log1p(std::exp(-std::fabs(x[i])));
        return;
      case UnaryKind::Exp:
        for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
        return;
      case UnaryKind::Square:
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] * x[i];
        return;
      case UnaryKind::Abs:
        for (int64_t i = 0; i < n; ++i) y[i] = std::fabs(x[i]);
        return;
      case UnaryKind::Gelu:
        for (int64_t i = 0; i < n; ++i) y[i] = gelu(x[i]);
        return;
      case UnaryKind::Swish:
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] * sigmoid(x[i]);
        return;
      case UnaryKind::HardSigmoid:
        for (int64_t i = 0; i < n; ++i) y[i] = relu6(x[i] + 3.0f) / 6.0f;
        return;
      case UnaryKind::Relu6:
        for (int64_t i = 0; i < n; ++i) y[i] = relu6(x[i]);
        return;
      case UnaryKind::Sqrt:
        for (int64_t i = 0; i < n; ++i) y[i] = std::sqrt(x[i]);
        return;
      case UnaryKind::Log:
        for (int64_t i = 0; i < n; ++i) y[i] = std::log(x[i]);
        return;
      case UnaryKind::Log1p:
        for (int64_t i = 0; i < n; ++i) y[i] = std::log1p(x[i]);
        return;
      case UnaryKind::Softmax:
        for (int64_t r = 0; r < n / cols; ++r) {
          const float* xr = x + r * cols;
          float* yr = y + r * cols;
          float mx = -INFINITY;
          for (int64_t c = 0; c < cols; ++c) mx = std::max(mx, xr[c]);
          double sum = 0;
          for (int64_t c = 0; c < cols; ++c) {
            yr[c] = std::exp(xr[c] - mx);
            sum += yr[c];
          }
          const float inv = static_cast<float>(1.0 / sum);
          for (int64_t c = 0; c < cols; ++c) yr[c] *= inv;
        }
        return;
    }
  }

  void unaryGrad(UnaryKind kind, const float* x, const float* y, const float* dy, float* dx, int64_t n, int64_t cols,
                 float beta) override {
    auto put = [&](int64_t i, float v) { dx[i] = beta == 0.0f ? v : beta * dx[i] + v; };
    switch (kind) {
      case UnaryKind::Linear:
        for (int64_t i = 0; i < n; ++i) put(i, dy[i]);
        return;
      case UnaryKind::Relu:
        for (int64_t i = 0; i < n; ++i) put(i, y[i] > 0 ? dy[i] : 0.0f);
        return;
      case UnaryKind::Sigmoid:
        for (int64_t i = 0; i < n; ++i) put(i, dy[i] * y[i] * (1.0f - y[i]));
        return;
      case UnaryKind::Tanh:
        for (int64_t i = 0; i < n; ++i) put(i, dy[i] * (1.0f - y[i] * y[i]));
        return;
      case UnaryKind::Elu:
        for (int64_t i = 0; i < n; ++i) put(i, y[i] > 0 ? dy[i] : dy[i] * (y[i] + 1.0f));
        return;
      case UnaryKind::Selu:
        for (int64_t i = 0; i < n; ++i) put(i, y[i] > 0 ? dy[i] * kSeluScale : dy[i] * (y[i] + kSeluScale * kSeluAlpha));
        return;
      case UnaryKind::Exp:
        for (int64_t i = 0; i < n; ++i) put(i, dy[i] * y[i]);
        return;
      case UnaryKind::Softplus:
        for (int64_t i = 0; i < n; ++i) put(i, dy[i] * sigmoid(x[i]));
        return;
      case UnaryKind::Square:
        for (int64_t i = 0; i < n; ++i) put(i, dy[i] * 2.0f * x[i]);
        return;
      case UnaryKind::Abs:
        for (int64_t i = 0; i < n; ++i) put(i, x[i] > 0 ? dy[i] : x[i] < 0 ? -dy[i] : 0.0f);
        return;
      case UnaryKind::Gelu:
        for (int64_t i = 0; i < n; ++i) put(i, dy[i] * geluGrad(x[i]));
        return;
      case UnaryKind::Swish:
        for (int64_t i = 0; i < n; ++i) {
          const float s = sigmoid(x[i]);
          put(i, dy[i] * (s + y[i] * (1.0f - s)));
        }
        return;
      // From x, not y: y rounds to 0 or 1 slightly inside (−3, 3).
      case UnaryKind::HardSigmoid:
        for (int64_t i = 0; i < n; ++i) put(i, x[i] > -3.0f && x[i] < 3.0f ? dy[i] / 6.0f : 0.0f);
        return;
      case UnaryKind::Relu6:
        for (int64_t i = 0; i < n; ++i) put(i, y[i] > 0 && y[i] < 6.0f ? dy[i] : 0.0f);
        return;
      case UnaryKind::Sqrt:
        for (int64_t i = 0; i < n; ++i) put(i, dy[i] * 0.5f / y[i]);
        return;
      case UnaryKind::Log:
        for (int64_t i = 0; i < n; ++i) put(i, dy[i] / x[i]);
        return;
      case UnaryKind::Log1p:
        for (int64_t i = 0; i < n; ++i) put(i, dy[i] / (1.0f + x[i]));
        return;
      case UnaryKind::Softmax:
        for (int64_t r = 0; r < n / cols; ++r) {
          const int64_t o = r * cols;
          double dot = 0;
          for (int64_t c = 0; c < cols; ++c) dot += static_cast<double>(dy[o + c]) * y[o + c];
          for (int64_t c = 0; c < cols; ++c) put(o + c, y[o + c] * (dy[o + c] - static_cast<float>(dot)));
        }
        return;
    }
  }

  void binary(BinaryKind kind, const float* a, int64_t aDiv, int64_t aLen, const float* b, int64_t bDiv, int64_t bLen,
              float* out, int64_t n) override {
    if (aDiv == 1 && aLen == n && bDiv == 1 && bLen == n) return binaryOf(kind, n, [=](int64_t i) { return a[i]; }, [=](int64_t i) { return b[i]; }, out);
    binaryOf(kind, n, [=](int64_t i) { return a[(i / aDiv) % aLen]; }, [=](int64_t i) { return b[(i / bDiv) % bLen]; }, out);
  }

  void reduceSum(const float* x, int64_t outer, int64_t n, int64_t inner, float* out, float alpha) override {
    std::vector<double> acc(static_cast<size_t>(inner));
    for (int64_t o = 0; o < outer; ++o) {
      sumRows(x + o * n * inner, n, inner, acc);
      for (int64_t j = 0; j < inner; ++j) out[o * inner + j] = static_cast<float>(alpha * acc[j]);
    }
  }

  void axpy(float alpha, const float* x, float* y, int64_t n) override {
    for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
  }
  void scale(float* x, float alpha, int64_t n) override {
    if (alpha == 0.0f) return fill(x, 0.0f, n);
    for (int64_t i = 0; i < n; ++i) x[i] *= alpha;
  }
  void fill(float* x, float value, int64_t n) override { std::fill(x, x + n, value); }

  void copyColumns(const float* src, int64_t rows, int64_t srcCols, int64_t srcStart, float* dst, int64_t dstCols,
                   int64_t dstStart, int64_t width, float beta) override {
    for (int64_t r = 0; r < rows; ++r) {
      const float* s = src + r * srcCols + srcStart;
      float* d = dst + r * dstCols + dstStart;
      if (beta == 0.0f) std::memmove(d, s, static_cast<size_t>(width) * sizeof(float));
      else for (int64_t j = 0; j < width; ++j) d[j] = beta * d[j] + s[j];
    }
  }

  void reverseTime(const float* x, float* out, int64_t batch, int64_t seqLen, int64_t features,
                   const int32_t* lengths) override {
    const size_t rowBytes = static_cast<size_t>(features) * sizeof(float);
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t len = lengths ? lengths[b] : seqLen;
      for (int64_t t = 0; t < seqLen; ++t) {
        const int64_t from = t < len ? len - 1 - t : t;
        std::memcpy(out + (b * seqLen + t) * features, x + (b * seqLen + from) * features, rowBytes);
      }
    }
  }

  void loss(LossKind kind, const float* pred, const float* target, const int32_t* labels, const float* weights,
            int64_t rows, int64_t cols, float* grad, float* lossOut) override {
    double total = 0;
    const double invRows = rows ? 1.0 / static_cast<double>(rows) : 0.0;
    const double invCols = cols ? 1.0 / static_cast<double>(cols) : 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      const double w = weights ? weights[r] : 1.0;
      const double gs = w * invRows;  // gradient scale of this row's value
      const float* p = pred + r * cols;
      const float* t = target ? target + r * cols : nullptr;
      float* g = grad ? grad + r * cols : nullptr;
      double row = 0;
      switch (kind) {
        case LossKind::MeanSquaredError:
          for (int64_t c = 0; c < cols; ++c) {
            const double d = static_cast<double>(p[c]) - t[c];
            row += d * d;
            if (g) g[c] = static_cast<float>(2.0 * d * invCols * gs);
          }
          row *= invCols;
          break;
        case LossKind::MeanAbsoluteError:
          for (int64_t c = 0; c < cols; ++c) {
            const double d = static_cast<double>(p[c]) - t[c];
            row += std::fabs(d);
            if (g) g[c] = static_cast<float>((d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0) * invCols * gs);
          }
          row *= invCols;
          break;
        case LossKind::BinaryCrossentropy:
          for (int64_t c = 0; c < cols; ++c) {
            const double pv = p[c], tv = t[c];
            const double pc = std::min(std::max(pv, static_cast<double>(kEpsilon)), 1.0 - kEpsilon);
            row -= tv * std::log(pc + kEpsilon) + (1 - tv) * std::log(1 - pc + kEpsilon);
            if (g) {
              const bool inside = pv > kEpsilon && pv < 1.0 - kEpsilon;
              g[c] = inside ? static_cast<float>((-tv / (pc + kEpsilon) + (1 - tv) / (1 - pc + kEpsilon)) * invCols * gs) : 0.0f;
            }
          }
          row *= invCols;
          break;
        case LossKind::BinaryCrossentropyLogits:
          for (int64_t c = 0; c < cols; ++c) {
            const double x = p[c], tv = t[c];
            row += std::max(x, 0.0) - x * tv + std::log1p(std::exp(-std::fabs(x)));
            if (g) g[c] = static_cast<float>((sigmoid(p[c]) - tv) * invCols * gs);
          }
          row *= invCols;
          break;
        case LossKind::CategoricalCrossentropy:
        case LossKind::SparseCategoricalCrossentropy: {
          const bool sparse = kind == LossKind::SparseCategoricalCrossentropy;
          double sum = 0;
          for (int64_t c = 0; c < cols; ++c) sum += p[c];
          double gq = 0;  // Σ_j g_j q_j
          for (int64_t c = 0; c < cols; ++c) {
            const double tv = sparse ? (labels[r] == c ? 1.0 : 0.0) : t[c];
            const double q = p[c] / sum;
            const double qc = std::min(std::max(q, static_cast<double>(kEpsilon)), 1.0 - kEpsilon);
            row -= tv * std::log(qc);
            const double gj = (q > kEpsilon && q < 1.0 - kEpsilon) ? -tv / qc : 0.0;
            if (g) g[c] = static_cast<float>(gj);
            gq += gj * q;
          }
          if (g)
            for (int64_t c = 0; c < cols; ++c) g[c] = static_cast<float>((g[c] - gq) / sum * gs);
          break;
        }
        case LossKind::CategoricalCrossentropyLogits:
        case LossKind::SparseCategoricalCrossentropyLogits: {
          const bool sparse = kind == LossKind::SparseCategoricalCrossentropyLogits;
          double mx = -INFINITY;
          for (int64_t c = 0; c < cols; ++c) mx = std::max(mx, static_cast<double>(p[c]));
          double sum = 0;
          for (int64_t c = 0; c < cols; ++c) sum += std::exp(p[c] - mx);
          const double lse = mx + std::log(sum);
          double tsum = 0;
          for (int64_t c = 0; c < cols; ++c) {
            const double tv = sparse ? (labels[r] == c ? 1.0 : 0.0) : t[c];
            tsum += tv;
            row += tv * (lse - p[c]);
          }
          if (g)
            for (int64_t c = 0; c < cols; ++c) {
              const double tv = sparse ? (labels[r] == c ? 1.0 : 0.0) : t[c];
              g[c] = static_cast<float>((std::exp(p[c] - lse) * tsum - tv) * gs);
            }
          break;
        }
      }
      total += w * row;
    }
    *lossOut = static_cast<float>(total * invRows);
  }

  void metric(MetricKind kind, const float* pred, const float* target, const int32_t* labels, const float* weights,
              int64_t rows, int64_t cols, float threshold, float* out) override {
    double hits = 0;
    double count = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const double w = weights ? weights[r] : 1.0;
      const float* p = pred + r * cols;
      if (kind == MetricKind::BinaryAccuracy) {
        for (int64_t c = 0; c < cols; ++c) hits += w * (((p[c] > threshold) == (target[r * cols + c] > 0.5f)) ? 1 : 0);
        count += w * static_cast<double>(cols);
        continue;
      }
      const int64_t argmax = std::max_element(p, p + cols) - p;
      int64_t want;
      if (kind == MetricKind::SparseCategoricalAccuracy) {
        want = labels[r];
      } else {
        const float* t = target + r * cols;
        want = std::max_element(t, t + cols) - t;
      }
      hits += w * (argmax == want ? 1 : 0);
      count += w;
    }
    *out = count > 0 ? static_cast<float>(hits / count) : 0.0f;
  }

  void sgdUpdate(float* p, const float* g, float* vel, int64_t n, float lr, float momentum, bool nesterov) override {
    inBlocks(n, [&](int64_t begin, int64_t end) {
      if (!vel || momentum == 0.0f) {
        for (int64_t i = begin; i < end; ++i) p[i] -= lr * g[i];
        return;
      }
      for (int64_t i = begin; i < end; ++i) {
        vel[i] = momentum * vel[i] - lr * g[i];
        p[i] += nesterov ? momentum * vel[i] - lr * g[i] : vel[i];
      }
    });
  }

  void adamUpdate(float* p, const float* g, float* m, float* v, int64_t n, float lr, float baseLr, float beta1,
                  float beta2, float epsilon, float weightDecay) override {
    inBlocks(n, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        if (weightDecay != 0.0f) p[i] -= p[i] * weightDecay * baseLr;
        m[i] += (g[i] - m[i]) * (1.0f - beta1);
        v[i] += (g[i] * g[i] - v[i]) * (1.0f - beta2);
        p[i] -= lr * m[i] / (std::sqrt(v[i]) + epsilon);
      }
    });
  }

  void rmspropUpdate(float* p, const float* g, float* ms, float* mom, int64_t n, float lr, float rho, float momentum,
                     float epsilon) override {
    inBlocks(n, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        ms[i] = rho * ms[i] + (1.0f - rho) * g[i] * g[i];
        const float inc = lr * g[i] / std::sqrt(ms[i] + epsilon);
        if (mom && momentum > 0.0f) {
          mom[i] = momentum * mom[i] + inc;
          p[i] -= mom[i];
        } else {
          p[i] -= inc;
        }
      }
    });
  }

  void clipValue(float* x, int64_t n, float lo, float hi) override {
    for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(x[i], lo), hi);
  }

  void sumSquares(const float* x, int64_t n, float* out) override { *out = static_cast<float>(sumSq(x, n)); }

  void clipNorm(float* const* xs, const int64_t* sizes, int count, float maxNorm, bool global) override {
    if (global) {
      double total = 0;
      for (int i = 0; i < count; ++i) total += sumSq(xs[i], sizes[i]);
      const double norm = std::sqrt(total);
      if (norm > maxNorm)
        for (int i = 0; i < count; ++i) scale(xs[i], static_cast<float>(maxNorm / norm), sizes[i]);
      return;
    }
    for (int i = 0; i < count; ++i) {
      const double norm = std::sqrt(sumSq(xs[i], sizes[i]));
      if (norm > maxNorm) scale(xs[i], static_cast<float>(maxNorm / norm), sizes[i]);
    }
  }

  void dropoutMask(float* mask, int64_t n, float rate, uint64_t seed) override {
    const float keep = 1.0f / (1.0f - rate);
    const uint64_t base = splitmix64(seed);
    for (int64_t i = 0; i < n; ++i) {
      const double u = static_cast<double>(splitmix64(base + static_cast<uint64_t>(i)) >> 11) * 0x1.0p-53;
      mask[i] = u < rate ? 0.0f : keep;
    }
  }

  void gather(const float* table, int64_t dim, const int32_t* indices, int64_t count, float* out) override {
    for (int64_t i = 0; i < count; ++i)
      std::memcpy(out + i * dim, table + static_cast<int64_t>(indices[i]) * dim, static_cast<size_t>(dim) * sizeof(float));
  }

  void scatterAdd(const float* dOut, int64_t dim, const int32_t* indices, int64_t count, float* dTable) override {
    for (int64_t i = 0; i < count; ++i) {
      float* row = dTable + static_cast<int64_t>(indices[i]) * dim;
      const float* src = dOut + i * dim;
      for (int64_t j = 0; j < dim; ++j) row[j] += src[j];
    }
  }

  int64_t firstNonFinite(const float* x, int64_t n) override {
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(x[i])) return i;
    return -1;
  }

 private:
  static float maxNaN(float x, float y) { return x < y || y != y ? y : x; }
  static float minNaN(float x, float y) { return y < x || y != y ? y : x; }

  // The elementwise loop of binary() over element getters (inlined: the plain case stays vectorisable).
  template <typename A, typename B>
  static void binaryOf(BinaryKind kind, int64_t n, A a, B b, float* out) {
    switch (kind) {
      case BinaryKind::Add: for (int64_t i = 0; i < n; ++i) out[i] = a(i) + b(i); return;
      case BinaryKind::Sub: for (int64_t i = 0; i < n; ++i) out[i] = a(i) - b(i); return;
      case BinaryKind::Mul: for (int64_t i = 0; i < n; ++i) out[i] = a(i) * b(i); return;
      case BinaryKind::Div: for (int64_t i = 0; i < n; ++i) out[i] = a(i) / b(i); return;
      // NaN on either side gives NaN (as TensorFlow; std::max/min drop a NaN second argument).
      case BinaryKind::Max: for (int64_t i = 0; i < n; ++i) out[i] = maxNaN(a(i), b(i)); return;
      case BinaryKind::Min: for (int64_t i = 0; i < n; ++i) out[i] = minNaN(a(i), b(i)); return;
      case BinaryKind::Greater: for (int64_t i = 0; i < n; ++i) out[i] = a(i) > b(i) ? 1.0f : 0.0f; return;
      case BinaryKind::GreaterEqual: for (int64_t i = 0; i < n; ++i) out[i] = a(i) >= b(i) ? 1.0f : 0.0f; return;
    }
  }

  static double sumSq(const float* x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * x[i];
    return s;
  }
};

}  // namespace

TensorOps* CpuBackend::ops() {
  static CpuOps ops;
  return &ops;
}

}  // namespace cgru::cpu
