// The packed recurrent kernels (gru_packed_kernels.h) for AVX-512 (F, VL, DQ) + FMA: 16 units per
// panel in one 512-bit register; partial panels use opmask loads and stores.
#include "cpu/gru_packed.h"

#if defined(CGRU_PACKED_X86)
#include <immintrin.h>

// GCC 12 reports the _mm512_undefined_ps() pass-through operand inside its own masked intrinsics
// (_mm512_max_ps, …) as maybe-uninitialized (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#define CGRU_SIMD __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma")))
#define CGRU_SIMD_INLINE __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma"), always_inline)) inline
#define CGRU_SIMD_INLINE_LAMBDA __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma"), always_inline))

namespace cgru::cpu::packed::avx512 {
namespace {

struct Simd {
  using V = __m512;
  using M = __mmask16;
  // 32 registers: GRU 24 accumulators + 3 weights + 1 broadcast, LSTM 24 + 4 + 1. Twice the
  // AVX2 tile's rows halves the weight traffic per FMA (a GRU panel of H = 256 is 48 KiB: L2).
  template <int G>
  static constexpr int kRows = G == 4 ? 6 : 8;
  static constexpr int kUnits = 16;
  static constexpr bool kStreamRows = true;  // a vector is a cache line
  CGRU_SIMD_INLINE static void stream(float* p, V v) { _mm512_stream_ps(p, v); }
  CGRU_SIMD_INLINE static void fence() { _mm_sfence(); }
  CGRU_SIMD_INLINE static V zero() { return _mm512_setzero_ps(); }
  CGRU_SIMD_INLINE static V set1(float v) { return _mm512_set1_ps(v); }
  CGRU_SIMD_INLINE static V add(V a, V b) { return _mm512_add_ps(a, b); }
  CGRU_SIMD_INLINE static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  CGRU_SIMD_INLINE static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  CGRU_SIMD_INLINE static V div(V a, V b) { return _mm512_div_ps(a, b); }
  CGRU_SIMD_INLINE static V min(V a, V b) { return _mm512_min_ps(a, b); }
  CGRU_SIMD_INLINE static V max(V a, V b) { return _mm512_max_ps(a, b); }
  CGRU_SIMD_INLINE static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  CGRU_SIMD_INLINE static V andnot(V a, V b) { return _mm512_andnot_ps(a, b); }
  CGRU_SIMD_INLINE static V bitOr(V a, V b) { return _mm512_or_ps(a, b); }
  CGRU_SIMD_INLINE static V bitAnd(V a, V b) { return _mm512_and_ps(a, b); }
  CGRU_SIMD_INLINE static V loadAligned(const float* p) { return _mm512_load_ps(p); }
  CGRU_SIMD_INLINE static V loadu(const float* p) { return _mm512_loadu_ps(p); }
  CGRU_SIMD_INLINE static void storeAligned(float* p, V v) { _mm512_store_ps(p, v); }
  CGRU_SIMD_INLINE static void storeu(float* p, V v) { _mm512_storeu_ps(p, v); }
  CGRU_SIMD_INLINE static V maskLoad(const float* p, M m) { return _mm512_maskz_loadu_ps(m, p); }
  CGRU_SIMD_INLINE static void maskStore(float* p, M m, V v) { _mm512_mask_storeu_ps(p, m, v); }
  CGRU_SIMD_INLINE static V broadcast(const float* p) { return _mm512_set1_ps(*p); }
  CGRU_SIMD_INLINE static V pow2(V n) {
    const __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_castsi512_ps(bits);
  }
  CGRU_SIMD_INLINE static M unitMask(int units) { return static_cast<M>((1u << units) - 1u); }
  CGRU_SIMD_INLINE static V gatherRows(const float* p, int stride, M m) {
    const __m512i index = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(stride));
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, index, p, 4);
  }
};
static_assert(Simd::kUnits == kUnitsAvx512, "gru_packed.h's panel width for AVX-512");

#include "cpu/gru_packed_kernels.h"

}  // namespace

int tileRows(int gates) { return kernels::tileRows<Simd>(gates); }
void step(const StepArgs& a, int panelBegin, int panelEnd) { kernels::step<Simd>(a, panelBegin, panelEnd); }
void project(const ProjectArgs& p, size_t rowBegin, size_t rowEnd, int panelBegin, int panelEnd) {
  kernels::project<Simd>(p, rowBegin, rowEnd, panelBegin, panelEnd);
}
void pack(const float* w, int gates, int H, int K, float* out) { kernels::pack<Simd>(w, gates, H, K, out); }

}  // namespace cgru::cpu::packed::avx512
#endif
