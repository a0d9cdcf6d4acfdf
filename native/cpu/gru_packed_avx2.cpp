// The packed recurrent kernels (gru_packed_kernels.h) for AVX2 + FMA: 8 units per panel in one
// 256-bit register, 16 registers.
#include "cpu/gru_packed.h"

#if defined(CGRU_PACKED_X86)
#include <immintrin.h>

#define CGRU_SIMD __attribute__((target("avx2,fma")))
#define CGRU_SIMD_INLINE __attribute__((target("avx2,fma"), always_inline)) inline
#define CGRU_SIMD_INLINE_LAMBDA __attribute__((target("avx2,fma"), always_inline))

namespace cgru::cpu::packed::avx2 {
namespace {

struct Simd {
  using V = __m256;
  using M = __m256i;
  // GRU: 12 accumulators + 3 weights + 1 broadcast in the 16 registers; the LSTM's 12 + 4 + 1 lets
  // the compiler read one weight vector from L1 as an FMA operand.
  template <int G>
  static constexpr int kRows = G == 4 ? 3 : 4;
  static constexpr int kUnits = 8;
  static constexpr bool kStreamRows = false;  // half a cache line per vector
  CGRU_SIMD_INLINE static V zero() { return _mm256_setzero_ps(); }
  CGRU_SIMD_INLINE static V set1(float v) { return _mm256_set1_ps(v); }
  CGRU_SIMD_INLINE static V add(V a, V b) { return _mm256_add_ps(a, b); }
  CGRU_SIMD_INLINE static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  CGRU_SIMD_INLINE static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  CGRU_SIMD_INLINE static V div(V a, V b) { return _mm256_div_ps(a, b); }
  CGRU_SIMD_INLINE static V min(V a, V b) { return _mm256_min_ps(a, b); }
  CGRU_SIMD_INLINE static V max(V a, V b) { return _mm256_max_ps(a, b); }
  CGRU_SIMD_INLINE static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  CGRU_SIMD_INLINE static V andnot(V a, V b) { return _mm256_andnot_ps(a, b); }
  CGRU_SIMD_INLINE static V bitOr(V a, V b) { return _mm256_or_ps(a, b); }
  CGRU_SIMD_INLINE static V bitAnd(V a, V b) { return _mm256_and_ps(a, b); }
  CGRU_SIMD_INLINE static V loadAligned(const float* p) { return _mm256_load_ps(p); }
  CGRU_SIMD_INLINE static V loadu(const float* p) { return _mm256_loadu_ps(p); }
  CGRU_SIMD_INLINE static void storeAligned(float* p, V v) { _mm256_store_ps(p, v); }
  CGRU_SIMD_INLINE static void storeu(float* p, V v) { _mm256_storeu_ps(p, v); }
  CGRU_SIMD_INLINE static V maskLoad(const float* p, M m) { return _mm256_maskload_ps(p, m); }
  CGRU_SIMD_INLINE static void maskStore(float* p, M m, V v) { _mm256_maskstore_ps(p, m, v); }
  CGRU_SIMD_INLINE static V broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  CGRU_SIMD_INLINE static V pow2(V n) {
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_castsi256_ps(bits);
  }
  CGRU_SIMD_INLINE static M unitMask(int units) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(units), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  CGRU_SIMD_INLINE static V gatherRows(const float* p, int stride, M m) {
    const __m256i index = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(stride));
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), p, index, _mm256_castsi256_ps(m), 4);
  }
};
static_assert(Simd::kUnits == kUnitsAvx2, "gru_packed.h's panel width for AVX2");

#include "cpu/gru_packed_kernels.h"

}  // namespace

int tileRows(int gates) { return kernels::tileRows<Simd>(gates); }
void step(const StepArgs& a, int panelBegin, int panelEnd) { kernels::step<Simd>(a, panelBegin, panelEnd); }
void project(const ProjectArgs& p, size_t rowBegin, size_t rowEnd, int panelBegin, int panelEnd) {
  kernels::project<Simd>(p, rowBegin, rowEnd, panelBegin, panelEnd);
}
void pack(const float* w, int gates, int H, int K, float* out) { kernels::pack<Simd>(w, gates, H, K, out); }

}  // namespace cgru::cpu::packed::avx2
#endif
