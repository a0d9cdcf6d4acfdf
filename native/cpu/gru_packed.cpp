#include "cpu/gru_packed.h"

#include <algorithm>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CGRU_PACKED_AVX2 1
#include <immintrin.h>
#endif

namespace cgru::cpu::packed {

void pack(const float* w, int H, int K, float* out) {
  const size_t h = static_cast<size_t>(H), kk = static_cast<size_t>(K);
  for (int p = 0; p < panels(H); ++p) {
    float* panel = out + static_cast<size_t>(p) * kk * kPanelWidth;
    for (int g = 0; g < 3; ++g) {
      for (int u = 0; u < kUnits; ++u) {
        const int j = p * kUnits + u;
        float* o = panel + g * kUnits + u;
        if (j < H) {
          const float* src = w + (g * h + static_cast<size_t>(j)) * kk;
          for (size_t k = 0; k < kk; ++k) o[k * kPanelWidth] = src[k];
        } else {
          for (size_t k = 0; k < kk; ++k) o[k * kPanelWidth] = 0.0f;
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
constexpr int kRows = 4;  // 4 rows × 3 gates = 12 accumulators of the 16 registers

// The vector form of gru_cpu.cpp's fastExp / fastSigmoid / fastTanh, operation for operation
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

// The biases of one panel's units.
struct PanelBias {
  __m256 ir, iz, in, hr, hz, hn;
};

// Epilogue for sample b: h' = (1 − z) ⊙ n + z ⊙ h with r, z, n from gi + b_ih and the
// accumulated h · W_hhᵀ (cr, cz, cn) + b_hh.
template <bool kFull>
CGRU_AVX2_INLINE void finishRow(const StepArgs& a, size_t b, int j0, __m256i mask, const PanelBias& bias, __m256 cr,
                                __m256 cz, __m256 cn) {
  const size_t H = static_cast<size_t>(a.H);
  const __m256 hOld = load<kFull>(a.hIn + b * H + j0, mask);
  float* hOut = a.hOut + b * H + j0;
  float* y = a.y + b * a.yStride + j0;
  if (a.hprev) store<kFull>(a.hprev + b * a.hprevStride + j0, mask, hOld);
  if (a.lengths && a.t >= a.lengths[b]) {
    store<kFull>(hOut, mask, hOld);
    store<kFull>(y, mask, _mm256_setzero_ps());
    return;
  }
  const float* gi = a.gi + b * a.giStride + j0;
  const __m256 r = sigmoid8(_mm256_add_ps(_mm256_add_ps(load<kFull>(gi, mask), bias.ir), _mm256_add_ps(cr, bias.hr)));
  const __m256 z =
      sigmoid8(_mm256_add_ps(_mm256_add_ps(load<kFull>(gi + H, mask), bias.iz), _mm256_add_ps(cz, bias.hz)));
  const __m256 hn = _mm256_add_ps(cn, bias.hn);
  const __m256 n = tanh8(_mm256_add_ps(_mm256_add_ps(load<kFull>(gi + 2 * H, mask), bias.in), _mm256_mul_ps(r, hn)));
  const __m256 hv = _mm256_add_ps(n, _mm256_mul_ps(z, _mm256_sub_ps(hOld, n)));
  store<kFull>(hOut, mask, hv);
  store<kFull>(y, mask, hv);
  if (a.gates) {
    float* g = a.gates + b * a.gatesStride + j0;
    store<kFull>(g, mask, r);
    store<kFull>(g + H, mask, z);
    store<kFull>(g + 2 * H, mask, n);
    store<kFull>(g + 3 * H, mask, hn);
  }
}

// Accumulators of a tile of up to 4 rows × one panel (3 gates × 8 units): named members rather
// than an array so that the compiler keeps all twelve in registers.
struct Acc {
  __m256 c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32;
};

// acc = rows a[0 … MR−1] (row stride lda, K columns) times the panel.
template <int MR>
CGRU_AVX2_INLINE void accumulate(Acc& acc, const float* __restrict a, size_t lda, const float* __restrict panel,
                                 size_t K) {
  static_assert(MR >= 1 && MR <= kRows, "rows per tile");
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
  __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
  for (size_t k = 0; k < K; ++k) {
    const float* wk = panel + k * kPanelWidth;
    const __m256 w0 = _mm256_load_ps(wk), w1 = _mm256_load_ps(wk + 8), w2 = _mm256_load_ps(wk + 16);
    __m256 v = _mm256_broadcast_ss(a + k);
    c00 = _mm256_fmadd_ps(v, w0, c00);
    c01 = _mm256_fmadd_ps(v, w1, c01);
    c02 = _mm256_fmadd_ps(v, w2, c02);
    if constexpr (MR > 1) {
      v = _mm256_broadcast_ss(a + lda + k);
      c10 = _mm256_fmadd_ps(v, w0, c10);
      c11 = _mm256_fmadd_ps(v, w1, c11);
      c12 = _mm256_fmadd_ps(v, w2, c12);
    }
    if constexpr (MR > 2) {
      v = _mm256_broadcast_ss(a + 2 * lda + k);
      c20 = _mm256_fmadd_ps(v, w0, c20);
      c21 = _mm256_fmadd_ps(v, w1, c21);
      c22 = _mm256_fmadd_ps(v, w2, c22);
    }
    if constexpr (MR > 3) {
      v = _mm256_broadcast_ss(a + 3 * lda + k);
      c30 = _mm256_fmadd_ps(v, w0, c30);
      c31 = _mm256_fmadd_ps(v, w1, c31);
      c32 = _mm256_fmadd_ps(v, w2, c32);
    }
  }
  acc = Acc{c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32};
}

// Rows b0 … b0+MR−1, units j0 … j0+7 of one step.
template <int MR, bool kFull>
CGRU_AVX2 void tile(const StepArgs& a, const float* __restrict panel, int b0, int j0, __m256i mask,
                    const PanelBias& bias) {
  const size_t H = static_cast<size_t>(a.H);
  Acc c;
  accumulate<MR>(c, a.hIn + static_cast<size_t>(b0) * H, H, panel, H);
  const size_t b = static_cast<size_t>(b0);
  finishRow<kFull>(a, b, j0, mask, bias, c.c00, c.c01, c.c02);
  if constexpr (MR > 1) finishRow<kFull>(a, b + 1, j0, mask, bias, c.c10, c.c11, c.c12);
  if constexpr (MR > 2) finishRow<kFull>(a, b + 2, j0, mask, bias, c.c20, c.c21, c.c22);
  if constexpr (MR > 3) finishRow<kFull>(a, b + 3, j0, mask, bias, c.c30, c.c31, c.c32);
}

// The three gate columns of one row of a projection tile.
template <bool kFull>
CGRU_AVX2_INLINE void storeRow(float* c, size_t H, __m256i mask, __m256 r, __m256 z, __m256 n) {
  store<kFull>(c, mask, r);
  store<kFull>(c + H, mask, z);
  store<kFull>(c + 2 * H, mask, n);
}

// Rows m0 … m0+MR−1 of C = X · Wᵀ, units j0 … j0+7 of each gate.
template <int MR, bool kFull>
CGRU_AVX2 void projectTile(const ProjectArgs& p, const float* __restrict panel, size_t m0, int j0, __m256i mask) {
  const size_t H = static_cast<size_t>(p.H), K = static_cast<size_t>(p.K), ldc = 3 * H;
  Acc c;
  accumulate<MR>(c, p.x + m0 * K, K, panel, K);
  float* out = p.out + m0 * ldc + j0;
  storeRow<kFull>(out, H, mask, c.c00, c.c01, c.c02);
  if constexpr (MR > 1) storeRow<kFull>(out + ldc, H, mask, c.c10, c.c11, c.c12);
  if constexpr (MR > 2) storeRow<kFull>(out + 2 * ldc, H, mask, c.c20, c.c21, c.c22);
  if constexpr (MR > 3) storeRow<kFull>(out + 3 * ldc, H, mask, c.c30, c.c31, c.c32);
}

template <bool kFull>
CGRU_AVX2 void projectPanel(const ProjectArgs& p, const float* panel, size_t rowBegin, size_t rowEnd, int j0,
                            __m256i mask) {
  size_t m = rowBegin;
  for (; m + kRows <= rowEnd; m += kRows) projectTile<kRows, kFull>(p, panel, m, j0, mask);
  switch (rowEnd - m) {
    case 3: projectTile<3, kFull>(p, panel, m, j0, mask); break;
    case 2: projectTile<2, kFull>(p, panel, m, j0, mask); break;
    case 1: projectTile<1, kFull>(p, panel, m, j0, mask); break;
    default: break;
  }
}

CGRU_AVX2_INLINE __m256i unitMask(int units) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(units), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

CGRU_AVX2 void projectAvx2(const ProjectArgs& p, size_t rowBegin, size_t rowEnd) {
  const size_t panelFloats = static_cast<size_t>(p.K) * kPanelWidth;
  for (int q = 0; q < panels(p.H); ++q) {
    const int j0 = q * kUnits;
    const int units = std::min(kUnits, p.H - j0);
    const float* panel = p.w + static_cast<size_t>(q) * panelFloats;
    if (units == kUnits) projectPanel<true>(p, panel, rowBegin, rowEnd, j0, unitMask(units));
    else projectPanel<false>(p, panel, rowBegin, rowEnd, j0, unitMask(units));
  }
}

template <bool kFull>
CGRU_AVX2 void panelRows(const StepArgs& a, const float* panel, int j0, __m256i mask) {
  const size_t H = static_cast<size_t>(a.H);
  const float* bih = a.bIh + j0;
  const float* bhh = a.bHh + j0;
  const PanelBias bias{load<kFull>(bih, mask),     load<kFull>(bih + H, mask), load<kFull>(bih + 2 * H, mask),
                       load<kFull>(bhh, mask),     load<kFull>(bhh + H, mask), load<kFull>(bhh + 2 * H, mask)};
  int b0 = 0;
  for (; b0 + kRows <= a.B; b0 += kRows) tile<kRows, kFull>(a, panel, b0, j0, mask, bias);
  switch (a.B - b0) {
    case 3: tile<3, kFull>(a, panel, b0, j0, mask, bias); break;
    case 2: tile<2, kFull>(a, panel, b0, j0, mask, bias); break;
    case 1: tile<1, kFull>(a, panel, b0, j0, mask, bias); break;
    default: break;
  }
}

CGRU_AVX2 void stepAvx2(const StepArgs& a, int panelBegin, int panelEnd) {
  const size_t panelFloats = static_cast<size_t>(a.H) * kPanelWidth;
  for (int p = panelBegin; p < panelEnd; ++p) {
    const int j0 = p * kUnits;
    const int units = std::min(kUnits, a.H - j0);
    const float* panel = a.w + static_cast<size_t>(p) * panelFloats;
    if (units == kUnits) panelRows<true>(a, panel, j0, unitMask(units));
    else panelRows<false>(a, panel, j0, unitMask(units));
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

void step(const StepArgs& a, int panelBegin, int panelEnd) { stepAvx2(a, panelBegin, panelEnd); }
void project(const ProjectArgs& p, size_t rowBegin, size_t rowEnd) { projectAvx2(p, rowBegin, rowEnd); }

#else  // no x86-64: callers use BLAS

bool available() { return false; }
void step(const StepArgs&, int, int) {}
void project(const ProjectArgs&, size_t, size_t) {}

#endif

}  // namespace cgru::cpu::packed
