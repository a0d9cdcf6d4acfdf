#include "cpu/gru_packed.h"

#include <algorithm>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CGRU_PACKED_AVX2 1
#include <immintrin.h>
#endif

namespace cgru::cpu::packed {

void pack(const float* w, int gates, int H, int K, float* out) {
  const size_t h = static_cast<size_t>(H), kk = static_cast<size_t>(K);
  const size_t width = static_cast<size_t>(gates) * kUnits;
  for (int p = 0; p < panels(H); ++p) {
    float* panel = out + static_cast<size_t>(p) * kk * width;
    for (int g = 0; g < gates; ++g) {
      for (int u = 0; u < kUnits; ++u) {
        const int j = p * kUnits + u;
        float* o = panel + g * kUnits + u;
        if (j < H) {
          const float* src = w + (g * h + static_cast<size_t>(j)) * kk;
          for (size_t k = 0; k < kk; ++k) o[k * width] = src[k];
        } else {
          for (size_t k = 0; k < kk; ++k) o[k * width] = 0.0f;
        }
      }
    }
  }
}

#if defined(CGRU_PACKED_AVX2)

namespace {

#define CGRU_AVX2 __attribute__((target("avx2,fma")))
#define CGRU_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) inline

static_assert(kUnits == 8, "one AVX register per gate and row");

// Rows per tile for G gates: G·rows accumulators, G weight vectors and one broadcast in the 16
// registers (GRU: 12 + 3 + 1; the LSTM's 12 + 4 + 1 lets the compiler read one weight vector
// from L1 as an FMA operand).
template <int G>
constexpr int kRows = G == 4 ? 3 : 4;

// The vector form of rnn_cells.h's fastExp / fastSigmoid / fastTanh, operation for operation
// (the clamps are written so that a NaN passes through, as in the scalar code).
CGRU_AVX2_INLINE __m256 exp8(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-87.0f), x);
  x = _mm256_min_ps(_mm256_set1_ps(88.0f), x);
  const __m256 magic = _mm256_set1_ps(12582912.0f);
  __m256 n = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), magic);
  n = _mm256_sub_ps(n, magic);
  __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f)));
  r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(-2.12194440e-4f)));
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, r), r), r), _mm256_set1_ps(1.0f));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

CGRU_AVX2_INLINE __m256 sigmoid8(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

CGRU_AVX2_INLINE __m256 tanh8(__m256 x) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 e = exp8(_mm256_mul_ps(_mm256_set1_ps(-2.0f), _mm256_andnot_ps(sign, x)));
  const __m256 t = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
  return _mm256_or_ps(_mm256_andnot_ps(sign, t), _mm256_and_ps(sign, x));
}

// Full panels use plain loads and stores; the last panel of an H that is not a multiple of 8
// uses masked ones.
template <bool kFull>
CGRU_AVX2_INLINE __m256 load(const float* p, __m256i mask) {
  if (kFull) return _mm256_loadu_ps(p);
  return _mm256_maskload_ps(p, mask);
}
template <bool kFull>
CGRU_AVX2_INLINE void store(float* p, __m256i mask, __m256 v) {
  if (kFull) _mm256_storeu_ps(p, v);
  else _mm256_maskstore_ps(p, mask, v);
}

// The biases of one panel's units: input side i0 … i(G−1), recurrent side h0 … h(G−1).
struct PanelBias {
  __m256 i0, i1, i2, i3, h0, h1, h2, h3;
};

template <int G, bool kFull>
CGRU_AVX2_INLINE PanelBias loadBias(const StepArgs& a, int j0, __m256i mask) {
  const size_t H = static_cast<size_t>(a.H);
  const float* bih = a.bIh + j0;
  const float* bhh = a.bHh + j0;
  PanelBias bias{};
  bias.i0 = load<kFull>(bih, mask);
  if constexpr (G > 1) bias.i1 = load<kFull>(bih + H, mask);
  if constexpr (G > 2) bias.i2 = load<kFull>(bih + 2 * H, mask);
  if constexpr (G > 3) bias.i3 = load<kFull>(bih + 3 * H, mask);
  bias.h0 = load<kFull>(bhh, mask);
  if constexpr (G > 1) bias.h1 = load<kFull>(bhh + H, mask);
  if constexpr (G > 2) bias.h2 = load<kFull>(bhh + 2 * H, mask);
  if constexpr (G > 3) bias.h3 = load<kFull>(bhh + 3 * H, mask);
  return bias;
}

// Stores v0, v1, … at p, p + H, … (the blocks of one row: gates, or what a cell saves).
template <bool kFull, typename... V>
CGRU_AVX2_INLINE void storeBlocks(float* p, size_t H, __m256i mask, V... v) {
  size_t block = 0;
  (store<kFull>(p + (block++) * H, mask, v), ...);
}

// The new state of sample b: into hOut and the output y.
template <bool kFull>
CGRU_AVX2_INLINE void leaveRow(const StepArgs& a, size_t b, int j0, __m256i mask, __m256 hv) {
  store<kFull>(a.hOut + b * static_cast<size_t>(a.H) + j0, mask, hv);
  store<kFull>(a.y + b * a.yStride + j0, mask, hv);
}

// What every epilogue does first for sample b: reads the entering state (saved as hprev when
// training); a sample past its length keeps it and outputs zeros, and false is returned.
template <bool kFull>
CGRU_AVX2_INLINE bool enterRow(const StepArgs& a, size_t b, int j0, __m256i mask, __m256& hOld) {
  const size_t H = static_cast<size_t>(a.H);
  hOld = load<kFull>(a.hIn + b * H + j0, mask);
  if (a.hprev) store<kFull>(a.hprev + b * a.hprevStride + j0, mask, hOld);
  if (a.lengths && a.t >= a.lengths[b]) {
    store<kFull>(a.hOut + b * H + j0, mask, hOld);
    store<kFull>(a.y + b * a.yStride + j0, mask, _mm256_setzero_ps());
    return false;
  }
  return true;
}

// (gi + b_i) + (acc + b_h): one gate's pre-activation, summed as the scalar kernels do.
template <bool kFull>
CGRU_AVX2_INLINE __m256 preActivation(const float* gi, __m256i mask, __m256 bi, __m256 acc, __m256 bh) {
  return _mm256_add_ps(_mm256_add_ps(load<kFull>(gi, mask), bi), _mm256_add_ps(acc, bh));
}

// The epilogues: the vector form of rnn_cells.h's forward kernels, operation for operation, for
// sample b and the accumulated h · W_hhᵀ of each gate (a0 … a3; unused ones are ignored).

// GRU: h' = (1 − z) ⊙ n + z ⊙ h; saved r, z, n, W_hn·h + b_hn.
struct GruEpilogue {
  static constexpr int kGates = 3;
  template <bool kFull>
  CGRU_AVX2_INLINE static void finish(const StepArgs& a, size_t b, int j0, __m256i mask, const PanelBias& bias,
                                      __m256 cr, __m256 cz, __m256 cn, __m256) {
    __m256 hOld;
    if (!enterRow<kFull>(a, b, j0, mask, hOld)) return;
    const size_t H = static_cast<size_t>(a.H);
    const float* gi = a.gi + b * a.giStride + j0;
    const __m256 r = sigmoid8(preActivation<kFull>(gi, mask, bias.i0, cr, bias.h0));
    const __m256 z = sigmoid8(preActivation<kFull>(gi + H, mask, bias.i1, cz, bias.h1));
    const __m256 hn = _mm256_add_ps(cn, bias.h2);
    const __m256 n = tanh8(_mm256_add_ps(_mm256_add_ps(load<kFull>(gi + 2 * H, mask), bias.i2), _mm256_mul_ps(r, hn)));
    const __m256 hv = _mm256_add_ps(n, _mm256_mul_ps(z, _mm256_sub_ps(hOld, n)));
    leaveRow<kFull>(a, b, j0, mask, hv);
    if (a.saved) storeBlocks<kFull>(a.saved + b * a.savedStride + j0, H, mask, r, z, n, hn);
  }
};

// LSTM: c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c'); c updated in place; saved i, f, g, o, c, tanh(c').
struct LstmEpilogue {
  static constexpr int kGates = 4;
  template <bool kFull>
  CGRU_AVX2_INLINE static void finish(const StepArgs& a, size_t b, int j0, __m256i mask, const PanelBias& bias,
                                      __m256 ci, __m256 cf, __m256 cg, __m256 co) {
    __m256 hOld;
    if (!enterRow<kFull>(a, b, j0, mask, hOld)) return;
    const size_t H = static_cast<size_t>(a.H);
    const float* gi = a.gi + b * a.giStride + j0;
    const __m256 i = sigmoid8(preActivation<kFull>(gi, mask, bias.i0, ci, bias.h0));
    const __m256 f = sigmoid8(preActivation<kFull>(gi + H, mask, bias.i1, cf, bias.h1));
    const __m256 g = tanh8(preActivation<kFull>(gi + 2 * H, mask, bias.i2, cg, bias.h2));
    const __m256 o = sigmoid8(preActivation<kFull>(gi + 3 * H, mask, bias.i3, co, bias.h3));
    float* c = a.c + b * H + j0;
    const __m256 cPrev = load<kFull>(c, mask);
    const __m256 cv = _mm256_add_ps(_mm256_mul_ps(f, cPrev), _mm256_mul_ps(i, g));
    const __m256 tc = tanh8(cv);
    const __m256 hv = _mm256_mul_ps(o, tc);
    store<kFull>(c, mask, cv);
    leaveRow<kFull>(a, b, j0, mask, hv);
    if (a.saved) storeBlocks<kFull>(a.saved + b * a.savedStride + j0, H, mask, i, f, g, o, cPrev, tc);
  }
};

// Simple RNN: h' = tanh or relu of the pre-activation; saved h'.
template <bool kRelu>
struct RnnEpilogue {
  static constexpr int kGates = 1;
  template <bool kFull>
  CGRU_AVX2_INLINE static void finish(const StepArgs& a, size_t b, int j0, __m256i mask, const PanelBias& bias,
                                      __m256 acc, __m256, __m256, __m256) {
    __m256 hOld;
    if (!enterRow<kFull>(a, b, j0, mask, hOld)) return;
    const __m256 pre = preActivation<kFull>(a.gi + b * a.giStride + j0, mask, bias.i0, acc, bias.h0);
    // max(0, x) returns x when x is NaN, as the scalar kernel does.
    const __m256 hv = kRelu ? _mm256_max_ps(_mm256_setzero_ps(), pre) : tanh8(pre);
    leaveRow<kFull>(a, b, j0, mask, hv);
    if (a.saved) store<kFull>(a.saved + b * a.savedStride + j0, mask, hv);
  }
};

// Accumulators of a tile of up to 4 rows × one panel (up to 4 gates × 8 units), c<row><gate>:
// named members rather than an array so that the compiler keeps them in registers.
struct Acc {
  __m256 c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
};

// acc = rows a[0 … MR−1] (row stride lda, K columns) times the panel of G gates.
template <int MR, int G>
CGRU_AVX2_INLINE void accumulate(Acc& acc, const float* __restrict a, size_t lda, const float* __restrict panel,
                                 size_t K) {
  static_assert(MR >= 1 && MR <= kRows<G> && G >= 1 && G <= 4, "rows and gates per tile");
  constexpr size_t kWidth = static_cast<size_t>(G) * kUnits;
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
  __m256 c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
  for (size_t k = 0; k < K; ++k) {
    const float* wk = panel + k * kWidth;
    const __m256 w0 = _mm256_load_ps(wk);
    const __m256 w1 = G > 1 ? _mm256_load_ps(wk + 8) : w0;
    const __m256 w2 = G > 2 ? _mm256_load_ps(wk + 16) : w0;
    const __m256 w3 = G > 3 ? _mm256_load_ps(wk + 24) : w0;
// Row r of the tile: one broadcast of a[r][k], one FMA per gate.
#define CGRU_TILE_ROW(r, g0, g1, g2, g3)                      \
  if constexpr (MR > r) {                                     \
    const __m256 v = _mm256_broadcast_ss(a + r * lda + k);    \
    g0 = _mm256_fmadd_ps(v, w0, g0);                          \
    if constexpr (G > 1) g1 = _mm256_fmadd_ps(v, w1, g1);     \
    if constexpr (G > 2) g2 = _mm256_fmadd_ps(v, w2, g2);     \
    if constexpr (G > 3) g3 = _mm256_fmadd_ps(v, w3, g3);     \
  }
    CGRU_TILE_ROW(0, c00, c01, c02, c03)
    CGRU_TILE_ROW(1, c10, c11, c12, c13)
    CGRU_TILE_ROW(2, c20, c21, c22, c23)
    CGRU_TILE_ROW(3, c30, c31, c32, c33)
#undef CGRU_TILE_ROW
  }
  acc = Acc{c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33};
}

// Rows b0 … b0+MR−1, units j0 … j0+7 of one step.
template <typename Epi, int MR, bool kFull>
CGRU_AVX2 void tile(const StepArgs& a, const float* __restrict panel, int b0, int j0, __m256i mask,
                    const PanelBias& bias) {
  const size_t H = static_cast<size_t>(a.H);
  Acc c;
  accumulate<MR, Epi::kGates>(c, a.hIn + static_cast<size_t>(b0) * H, H, panel, H);
  const size_t b = static_cast<size_t>(b0);
  Epi::template finish<kFull>(a, b, j0, mask, bias, c.c00, c.c01, c.c02, c.c03);
  if constexpr (MR > 1) Epi::template finish<kFull>(a, b + 1, j0, mask, bias, c.c10, c.c11, c.c12, c.c13);
  if constexpr (MR > 2) Epi::template finish<kFull>(a, b + 2, j0, mask, bias, c.c20, c.c21, c.c22, c.c23);
  if constexpr (MR > 3) Epi::template finish<kFull>(a, b + 3, j0, mask, bias, c.c30, c.c31, c.c32, c.c33);
}

// The G gate columns of one row of a projection tile.
template <int G, bool kFull>
CGRU_AVX2_INLINE void storeRow(float* c, size_t H, __m256i mask, __m256 g0, __m256 g1, __m256 g2, __m256 g3) {
  store<kFull>(c, mask, g0);
  if constexpr (G > 1) store<kFull>(c + H, mask, g1);
  if constexpr (G > 2) store<kFull>(c + 2 * H, mask, g2);
  if constexpr (G > 3) store<kFull>(c + 3 * H, mask, g3);
}

// Rows m0 … m0+MR−1 of C = X · Wᵀ, units j0 … j0+7 of each gate.
template <int G, int MR, bool kFull>
CGRU_AVX2 void projectTile(const ProjectArgs& p, const float* __restrict panel, size_t m0, int j0, __m256i mask) {
  const size_t H = static_cast<size_t>(p.H), K = static_cast<size_t>(p.K), ldc = G * H;
  Acc c;
  accumulate<MR, G>(c, p.x + m0 * K, K, panel, K);
  float* out = p.out + m0 * ldc + j0;
  storeRow<G, kFull>(out, H, mask, c.c00, c.c01, c.c02, c.c03);
  if constexpr (MR > 1) storeRow<G, kFull>(out + ldc, H, mask, c.c10, c.c11, c.c12, c.c13);
  if constexpr (MR > 2) storeRow<G, kFull>(out + 2 * ldc, H, mask, c.c20, c.c21, c.c22, c.c23);
  if constexpr (MR > 3) storeRow<G, kFull>(out + 3 * ldc, H, mask, c.c30, c.c31, c.c32, c.c33);
}

template <int G, bool kFull>
CGRU_AVX2 void projectPanel(const ProjectArgs& p, const float* panel, size_t rowBegin, size_t rowEnd, int j0,
                            __m256i mask) {
  constexpr int R = kRows<G>;
  size_t m = rowBegin;
  for (; m + R <= rowEnd; m += R) projectTile<G, R, kFull>(p, panel, m, j0, mask);
  switch (rowEnd - m) {
    case 3: if constexpr (R > 3) projectTile<G, 3, kFull>(p, panel, m, j0, mask); break;
    case 2: projectTile<G, 2, kFull>(p, panel, m, j0, mask); break;
    case 1: projectTile<G, 1, kFull>(p, panel, m, j0, mask); break;
    default: break;
  }
}

CGRU_AVX2_INLINE __m256i unitMask(int units) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(units), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

template <int G>
CGRU_AVX2 void projectAvx2(const ProjectArgs& p, size_t rowBegin, size_t rowEnd) {
  const size_t panelFloats = static_cast<size_t>(p.K) * G * kUnits;
  for (int q = 0; q < panels(p.H); ++q) {
    const int j0 = q * kUnits;
    const int units = std::min(kUnits, p.H - j0);
    const float* panel = p.w + static_cast<size_t>(q) * panelFloats;
    if (units == kUnits) projectPanel<G, true>(p, panel, rowBegin, rowEnd, j0, unitMask(units));
    else projectPanel<G, false>(p, panel, rowBegin, rowEnd, j0, unitMask(units));
  }
}

template <typename Epi, bool kFull>
CGRU_AVX2 void panelRows(const StepArgs& a, const float* panel, int j0, __m256i mask) {
  constexpr int R = kRows<Epi::kGates>;
  const PanelBias bias = loadBias<Epi::kGates, kFull>(a, j0, mask);
  int b0 = 0;
  for (; b0 + R <= a.B; b0 += R) tile<Epi, R, kFull>(a, panel, b0, j0, mask, bias);
  switch (a.B - b0) {
    case 3: if constexpr (R > 3) tile<Epi, 3, kFull>(a, panel, b0, j0, mask, bias); break;
    case 2: tile<Epi, 2, kFull>(a, panel, b0, j0, mask, bias); break;
    case 1: tile<Epi, 1, kFull>(a, panel, b0, j0, mask, bias); break;
    default: break;
  }
}

template <typename Epi>
CGRU_AVX2 void stepAvx2(const StepArgs& a, int panelBegin, int panelEnd) {
  const size_t panelFloats = static_cast<size_t>(a.H) * Epi::kGates * kUnits;
  for (int p = panelBegin; p < panelEnd; ++p) {
    const int j0 = p * kUnits;
    const int units = std::min(kUnits, a.H - j0);
    const float* panel = a.w + static_cast<size_t>(p) * panelFloats;
    if (units == kUnits) panelRows<Epi, true>(a, panel, j0, unitMask(units));
    else panelRows<Epi, false>(a, panel, j0, unitMask(units));
  }
}

}  // namespace

bool available() {
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return ok;
}

void step(const StepArgs& a, int panelBegin, int panelEnd) {
  switch (a.mode) {
    case RnnMode::Gru: return stepAvx2<GruEpilogue>(a, panelBegin, panelEnd);
    case RnnMode::Lstm: return stepAvx2<LstmEpilogue>(a, panelBegin, panelEnd);
    case RnnMode::RnnTanh: return stepAvx2<RnnEpilogue<false>>(a, panelBegin, panelEnd);
    case RnnMode::RnnRelu: return stepAvx2<RnnEpilogue<true>>(a, panelBegin, panelEnd);
  }
}

void project(const ProjectArgs& p, size_t rowBegin, size_t rowEnd) {
  switch (p.gates) {
    case 1: return projectAvx2<1>(p, rowBegin, rowEnd);
    case 3: return projectAvx2<3>(p, rowBegin, rowEnd);
    case 4: return projectAvx2<4>(p, rowBegin, rowEnd);
    default: break;
  }
}

#else  // no x86-64: callers use BLAS

bool available() { return false; }
void step(const StepArgs&, int, int) {}
void project(const ProjectArgs&, size_t, size_t) {}

#endif

}  // namespace cgru::cpu::packed
