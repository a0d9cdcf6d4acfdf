// The packed recurrent kernels of gru_packed.h written once over a SIMD type S, for the
// translation unit of each ISA (gru_packed_avx2.cpp, gru_packed_avx512.cpp) to instantiate with its
// own S. S supplies the vector type V (kUnits floats: one panel's units of one gate), the mask M
// of a partial panel and the arithmetic; the unit defines CGRU_SIMD, CGRU_SIMD_INLINE and
// CGRU_SIMD_INLINE_LAMBDA, the target attributes of its ISA: functions compiled for an ISA are
// only called after cpuid said the CPU has it, and nothing here is shared with (or inlined into)
// code built for the baseline.
//
// S must provide (all static): kUnits, kRows<G> (rows per tile for G gates: G·rows accumulators,
// G weight vectors and one broadcast must fit its registers), zero, set1, add, sub, mul, div, min,
// max, fmadd(a, b, c) = a·b + c, andnot(a, b) = ~a & b, bitOr, bitAnd, loadAligned, storeAligned,
// loadu, storeu, maskLoad, maskStore, broadcast, pow2(n) = 2^n for integral-valued n,
// unitMask(units), gatherRows(p, stride, mask) = (p[0], p[stride], … p[(kUnits−1)·stride]) with
// zeros where mask is off, and kStreamRows: whether rows are written past the caches (storeRow),
// then with stream(p, v) (a non-temporal store, p 64-byte aligned) and fence() (orders them).
// Included by those translation units only, inside their own namespace.

namespace kernels {

// Loops over the rows and gates of a tile are unrolled completely, so that the compiler keeps the
// accumulator arrays in registers.
#if defined(__clang__)
#define CGRU_UNROLL _Pragma("unroll")
#else
#define CGRU_UNROLL _Pragma("GCC unroll 16")
#endif

constexpr size_t kLineFloats = 16;  // a 64-byte cache line

// The vector form of rnn_cells.h's fastExp / fastSigmoid / fastTanh, operation for operation
// (the clamps are written so that a NaN passes through, as in the scalar code).
template <typename S>
CGRU_SIMD_INLINE typename S::V exp(typename S::V x) {
  x = S::max(S::set1(-87.0f), x);
  x = S::min(S::set1(88.0f), x);
  const auto magic = S::set1(12582912.0f);
  auto n = S::add(S::mul(x, S::set1(1.44269504088896341f)), magic);
  n = S::sub(n, magic);
  auto r = S::sub(x, S::mul(n, S::set1(0.693359375f)));
  r = S::sub(r, S::mul(n, S::set1(-2.12194440e-4f)));
  auto p = S::set1(1.9875691500e-4f);
  p = S::add(S::mul(p, r), S::set1(1.3981999507e-3f));
  p = S::add(S::mul(p, r), S::set1(8.3334519073e-3f));
  p = S::add(S::mul(p, r), S::set1(4.1665795894e-2f));
  p = S::add(S::mul(p, r), S::set1(1.6666665459e-1f));
  p = S::add(S::mul(p, r), S::set1(5.0000001201e-1f));
  p = S::add(S::add(S::mul(S::mul(p, r), r), r), S::set1(1.0f));
  return S::mul(p, S::pow2(n));
}

template <typename S>
CGRU_SIMD_INLINE typename S::V sigmoid(typename S::V x) {
  const auto one = S::set1(1.0f);
  return S::div(one, S::add(one, exp<S>(S::sub(S::zero(), x))));
}

template <typename S>
CGRU_SIMD_INLINE typename S::V tanh(typename S::V x) {
  const auto sign = S::set1(-0.0f);
  const auto one = S::set1(1.0f);
  const auto e = exp<S>(S::mul(S::set1(-2.0f), S::andnot(sign, x)));
  const auto t = S::div(S::sub(one, e), S::add(one, e));
  return S::bitOr(S::andnot(sign, t), S::bitAnd(sign, x));
}

// Full panels use plain loads and stores; the last panel of an H that is not a multiple of
// kUnits uses masked ones.
template <typename S, bool kFull>
CGRU_SIMD_INLINE typename S::V load(const float* p, typename S::M mask) {
  if (kFull) return S::loadu(p);
  return S::maskLoad(p, mask);
}
template <typename S, bool kFull>
CGRU_SIMD_INLINE void store(float* p, typename S::M mask, typename S::V v) {
  if (kFull) S::storeu(p, v);
  else S::maskStore(p, mask, v);
}

// A store of rows written for later (a step's output and training state, the input
// projection): with `stream` and S::kStreamRows, full aligned vectors go past the caches (each is
// a whole cache line), so they neither evict the weights from L2 nor cost a read of the line
// first; step() and project() fence them before they return.
template <typename S, bool kFull>
CGRU_SIMD_INLINE void storeRow(float* p, typename S::M mask, typename S::V v, bool stream) {
  if constexpr (kFull && S::kStreamRows) {
    if (stream && (reinterpret_cast<uintptr_t>(p) & 63) == 0) return S::stream(p, v);
  }
  store<S, kFull>(p, mask, v);
}

// The biases of one panel's units: input side i[0 … G−1], recurrent side h[0 … G−1] (G gates, or
// blocks of a one-gate cell's units: gru_packed.h's layout()).
template <typename S>
struct PanelBias {
  typename S::V i[4], h[4];
};

// Gate (block) g's biases at j0 + g·units.
template <typename S, int G, bool kFull>
CGRU_SIMD_INLINE PanelBias<S> loadBias(const StepArgs& a, size_t units, int j0, typename S::M mask) {
  PanelBias<S> bias{};
  CGRU_UNROLL for (int g = 0; g < G; ++g) {
    bias.i[g] = load<S, kFull>(a.bIh + g * units + j0, mask);
    bias.h[g] = load<S, kFull>(a.bHh + g * units + j0, mask);
  }
  return bias;
}

// Stores v0, v1, … at p, p + H, … (the blocks of one row: gates, or what a cell saves).
template <typename S, bool kFull, typename... V>
CGRU_SIMD_INLINE void storeBlocks(float* p, size_t H, typename S::M mask, bool stream, V... v) {
  size_t block = 0;
  (storeRow<S, kFull>(p + (block++) * H, mask, v, stream), ...);
}

// The new state of sample b: into hOut and the output y.
template <typename S, bool kFull>
CGRU_SIMD_INLINE void leaveRow(const StepArgs& a, size_t b, int j0, typename S::M mask, typename S::V hv) {
  store<S, kFull>(a.hOut + b * static_cast<size_t>(a.H) + j0, mask, hv);
  storeRow<S, kFull>(a.y + b * a.yStride + j0, mask, hv, a.stream);
}

// What every epilogue does first for sample b: reads the entering state (saved as hprev when
// training); a sample past its length keeps it and outputs zeros, and false is returned.
template <typename S, bool kFull>
CGRU_SIMD_INLINE bool enterRow(const StepArgs& a, size_t b, int j0, typename S::M mask, typename S::V& hOld) {
  const size_t H = static_cast<size_t>(a.H);
  hOld = load<S, kFull>(a.hIn + b * H + j0, mask);
  if (a.hprev) storeRow<S, kFull>(a.hprev + b * a.hprevStride + j0, mask, hOld, a.stream);
  if (a.lengths && a.t >= a.lengths[b]) {
    store<S, kFull>(a.hOut + b * H + j0, mask, hOld);
    storeRow<S, kFull>(a.y + b * a.yStride + j0, mask, S::zero(), a.stream);
    return false;
  }
  return true;
}

// (gi + b_i) + (acc + b_h): one gate's pre-activation, summed as the scalar kernels do.
template <typename S, bool kFull>
CGRU_SIMD_INLINE typename S::V preActivation(const float* gi, typename S::M mask, typename S::V bi, typename S::V acc,
                                             typename S::V bh) {
  return S::add(S::add(load<S, kFull>(gi, mask), bi), S::add(acc, bh));
}

// The epilogues: the vector form of rnn_cells.h's forward kernels, operation for operation, for
// sample b and the accumulated h · W_hhᵀ of each gate (acc[0 … G−1]). kBlocks: in how many
// blocks of H / kBlocks units the cell's columns lie (gru_packed.h's layout()), 1 for the cells
// of several gates.

// GRU: h' = (1 − z) ⊙ n + z ⊙ h; saved r, z, n, W_hn·h + b_hn.
template <typename S>
struct GruEpilogue {
  using V = typename S::V;
  static constexpr int kGates = 3;
  static constexpr int kBlocks = 1;
  static constexpr int kSaved = 4;
  template <bool kFull>
  CGRU_SIMD_INLINE static void finish(const StepArgs& a, size_t b, int j0, typename S::M mask,
                                      const PanelBias<S>& bias, const V* acc) {
    const V cr = acc[0], cz = acc[1], cn = acc[2];
    V hOld;
    if (!enterRow<S, kFull>(a, b, j0, mask, hOld)) return;
    const size_t H = static_cast<size_t>(a.H);
    const float* gi = a.gi + b * a.giStride + j0;
    const V r = sigmoid<S>(preActivation<S, kFull>(gi, mask, bias.i[0], cr, bias.h[0]));
    const V z = sigmoid<S>(preActivation<S, kFull>(gi + H, mask, bias.i[1], cz, bias.h[1]));
    const V hn = S::add(cn, bias.h[2]);
    const V n = tanh<S>(S::add(S::add(load<S, kFull>(gi + 2 * H, mask), bias.i[2]), S::mul(r, hn)));
    const V hv = S::add(n, S::mul(z, S::sub(hOld, n)));
    leaveRow<S, kFull>(a, b, j0, mask, hv);
    if (a.saved) storeBlocks<S, kFull>(a.saved + b * a.savedStride + j0, H, mask, a.stream, r, z, n, hn);
  }
};

// LSTM: c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c'); c updated in place; saved i, f, g, o, c, tanh(c').
template <typename S>
struct LstmEpilogue {
  using V = typename S::V;
  static constexpr int kGates = 4;
  static constexpr int kBlocks = 1;
  static constexpr int kSaved = 6;
  template <bool kFull>
  CGRU_SIMD_INLINE static void finish(const StepArgs& a, size_t b, int j0, typename S::M mask,
                                      const PanelBias<S>& bias, const V* acc) {
    const V ci = acc[0], cf = acc[1], cg = acc[2], co = acc[3];
    V hOld;
    if (!enterRow<S, kFull>(a, b, j0, mask, hOld)) return;
    const size_t H = static_cast<size_t>(a.H);
    const float* gi = a.gi + b * a.giStride + j0;
    const V i = sigmoid<S>(preActivation<S, kFull>(gi, mask, bias.i[0], ci, bias.h[0]));
    const V f = sigmoid<S>(preActivation<S, kFull>(gi + H, mask, bias.i[1], cf, bias.h[1]));
    const V g = tanh<S>(preActivation<S, kFull>(gi + 2 * H, mask, bias.i[2], cg, bias.h[2]));
    const V o = sigmoid<S>(preActivation<S, kFull>(gi + 3 * H, mask, bias.i[3], co, bias.h[3]));
    float* c = a.c + b * H + j0;
    const V cPrev = load<S, kFull>(c, mask);
    const V cv = S::add(S::mul(f, cPrev), S::mul(i, g));
    const V tc = tanh<S>(cv);
    const V hv = S::mul(o, tc);
    store<S, kFull>(c, mask, cv);
    leaveRow<S, kFull>(a, b, j0, mask, hv);
    if (a.saved) storeBlocks<S, kFull>(a.saved + b * a.savedStride + j0, H, mask, a.stream, i, f, g, o, cPrev, tc);
  }
};

// Simple RNN: h' = tanh or relu of the pre-activation; saved h'. Its H units in kBlocks blocks,
// one accumulator each (the units j0 + g·H / kBlocks), each finished alike.
template <typename S, bool kRelu, int kBlocksOfUnits>
struct RnnEpilogue {
  using V = typename S::V;
  static constexpr int kGates = kBlocksOfUnits;
  static constexpr int kBlocks = kBlocksOfUnits;
  static constexpr int kSaved = 1;
  template <bool kFull>
  CGRU_SIMD_INLINE static void finish(const StepArgs& a, size_t b, int j0, typename S::M mask,
                                      const PanelBias<S>& bias, const V* acc) {
    const int units = a.H / kBlocks;
    CGRU_UNROLL for (int g = 0; g < kBlocks; ++g) {
      const int j = j0 + g * units;
      V hOld;
      if (!enterRow<S, kFull>(a, b, j, mask, hOld)) continue;
      const V pre = preActivation<S, kFull>(a.gi + b * a.giStride + j, mask, bias.i[g], acc[g], bias.h[g]);
      // max(0, x) returns x when x is NaN, as the scalar kernel does.
      const V hv = kRelu ? S::max(S::zero(), pre) : tanh<S>(pre);
      leaveRow<S, kFull>(a, b, j, mask, hv);
      if (a.saved) store<S, kFull>(a.saved + b * a.savedStride + j, mask, hv);
    }
  }
};

// acc[r][g] = row r of a (row stride lda, K columns) times gate g of the panel, r < MR.
// A tile of one or two rows (batch 1 and 2, remainders) has too few accumulators to hide the FMA
// latency (4 cycles): it keeps kSplit partial sums over alternating k and adds them at the end.
template <typename S, int MR, int G>
CGRU_SIMD_INLINE void accumulate(typename S::V (&acc)[MR][G], const float* __restrict a, size_t lda,
                                 const float* __restrict panel, size_t K) {
  static_assert(MR >= 1 && MR <= S::template kRows<G> && G >= 1 && G <= 4, "rows and gates per tile");
  using V = typename S::V;
  constexpr size_t kWidth = static_cast<size_t>(G) * S::kUnits;
  constexpr int kSplit = MR * G >= 8 ? 1 : MR * G >= 4 ? 2 : 4;
  constexpr size_t kPanelAhead = 8;
  V part[kSplit][MR][G];
  CGRU_UNROLL for (int s = 0; s < kSplit; ++s) {
    CGRU_UNROLL for (int r = 0; r < MR; ++r) {
      CGRU_UNROLL for (int g = 0; g < G; ++g) part[s][r][g] = S::zero();
    }
  }
  // Row r of the tile at one k into partial sum s: one broadcast of a[r][k], one FMA per gate.
  auto step = [&](size_t k, V (&sum)[MR][G]) CGRU_SIMD_INLINE_LAMBDA {
    const float* wk = panel + k * kWidth;
    // The panel's lines kPanelAhead k ahead: the hardware prefetcher alone left the weight loads
    // waiting on L2 (Xeon, c3 forward: 148 → 138 ms with 8 ahead; 4 about the same, 16 worse).
    CGRU_UNROLL for (size_t i = 0; i < kWidth; i += kLineFloats) __builtin_prefetch(wk + kPanelAhead * kWidth + i, 0, 3);
    V w[G];
    CGRU_UNROLL for (int g = 0; g < G; ++g) w[g] = S::loadAligned(wk + g * S::kUnits);
    CGRU_UNROLL for (int r = 0; r < MR; ++r) {
      const V v = S::broadcast(a + r * lda + k);
      CGRU_UNROLL for (int g = 0; g < G; ++g) sum[r][g] = S::fmadd(v, w[g], sum[r][g]);
    }
  };
  size_t k = 0;
  for (; k + kSplit <= K; k += kSplit) {
    CGRU_UNROLL for (int s = 0; s < kSplit; ++s) step(k + s, part[s]);
  }
  for (; k < K; ++k) step(k, part[0]);
  CGRU_UNROLL for (int r = 0; r < MR; ++r) {
    CGRU_UNROLL for (int g = 0; g < G; ++g) {
      acc[r][g] = part[0][r][g];
      CGRU_UNROLL for (int s = 1; s < kSplit; ++s) acc[r][g] = S::add(acc[r][g], part[s][r][g]);
    }
  }
}

// Rows b0 … b0+MR−1, units j0 … j0+kUnits−1 of one step. The epilogue's scattered rows (each
// sample's input projection and output, a whole sequence apart, written long before or not yet
// touched: in memory, not in cache) are prefetched first, so that they arrive during the FMAs.
template <typename S, typename Epi, int MR, bool kFull>
CGRU_SIMD void tile(const StepArgs& a, const float* __restrict panel, int b0, int j0, typename S::M mask,
                    const PanelBias<S>& bias) {
  const size_t H = static_cast<size_t>(a.H), units = H / Epi::kBlocks;
  CGRU_UNROLL for (int r = 0; r < MR; ++r) {
    const size_t b = static_cast<size_t>(b0 + r);
    CGRU_UNROLL for (int g = 0; g < Epi::kGates; ++g) __builtin_prefetch(a.gi + b * a.giStride + g * units + j0, 0, 3);
    if (!(S::kStreamRows && a.stream)) {
      CGRU_UNROLL for (int block = 0; block < Epi::kBlocks; ++block) {
        const size_t j = block * units + j0;
        __builtin_prefetch(a.y + b * a.yStride + j, 1, 3);
        if (a.hprev) __builtin_prefetch(a.hprev + b * a.hprevStride + j, 1, 3);
        if (a.saved) {
          CGRU_UNROLL for (int k = 0; k < Epi::kSaved; ++k) __builtin_prefetch(a.saved + b * a.savedStride + k * H + j, 1, 3);
        }
      }
    }
  }
  typename S::V acc[MR][Epi::kGates];
  accumulate<S, MR, Epi::kGates>(acc, a.hIn + static_cast<size_t>(b0) * H, H, panel, H);
  CGRU_UNROLL for (int r = 0; r < MR; ++r)
    Epi::template finish<kFull>(a, static_cast<size_t>(b0 + r), j0, mask, bias, acc[r]);
}

// Rows m0 … m0+MR−1 of C = X · Wᵀ (or C += X · Wᵀ), units j0 … j0+kUnits−1 of each gate.
template <typename S, int G, int MR, bool kFull>
CGRU_SIMD void projectTile(const ProjectArgs& p, const float* __restrict panel, size_t m0, int j0,
                           typename S::M mask) {
  const size_t H = static_cast<size_t>(p.H), ldc = p.outStride;
  typename S::V acc[MR][G];
  accumulate<S, MR, G>(acc, p.x + m0 * p.xStride, p.xStride, panel, static_cast<size_t>(p.K));
  float* out = p.out + m0 * ldc + j0;
  CGRU_UNROLL for (int r = 0; r < MR; ++r) {
    CGRU_UNROLL for (int g = 0; g < G; ++g) {
      float* o = out + r * ldc + g * H;
      if (p.add) store<S, kFull>(o, mask, S::add(load<S, kFull>(o, mask), acc[r][g]));
      else storeRow<S, kFull>(o, mask, acc[r][g], p.stream);
    }
  }
}

// The last rows of a panel, fewer than a full tile: `rows` (<= MR) rows in one tile of that height.
template <typename S, int G, int MR, bool kFull>
CGRU_SIMD_INLINE void projectRemainder(int rows, const ProjectArgs& p, const float* panel, size_t m0, int j0,
                                       typename S::M mask) {
  if constexpr (MR > 0) {
    if (rows == MR) return projectTile<S, G, MR, kFull>(p, panel, m0, j0, mask);
    projectRemainder<S, G, MR - 1, kFull>(rows, p, panel, m0, j0, mask);
  }
}

template <typename S, int G, bool kFull>
CGRU_SIMD void projectPanel(const ProjectArgs& p, const float* panel, size_t rowBegin, size_t rowEnd, int j0,
                            typename S::M mask) {
  constexpr int R = S::template kRows<G>;
  size_t m = rowBegin;
  for (; m + R <= rowEnd; m += R) projectTile<S, G, R, kFull>(p, panel, m, j0, mask);
  projectRemainder<S, G, R - 1, kFull>(static_cast<int>(rowEnd - m), p, panel, m, j0, mask);
}

template <typename S, int G>
CGRU_SIMD void project(const ProjectArgs& p, size_t rowBegin, size_t rowEnd, int panelBegin, int panelEnd) {
  const size_t panelFloats = static_cast<size_t>(p.K) * G * S::kUnits;
  for (int q = panelBegin; q < panelEnd; ++q) {
    const int j0 = q * S::kUnits;
    const int units = p.H - j0 < S::kUnits ? p.H - j0 : S::kUnits;
    const float* panel = p.w + static_cast<size_t>(q) * panelFloats;
    if (units == S::kUnits) projectPanel<S, G, true>(p, panel, rowBegin, rowEnd, j0, S::unitMask(units));
    else projectPanel<S, G, false>(p, panel, rowBegin, rowEnd, j0, S::unitMask(units));
  }
}

// As projectRemainder, for the rows of a step.
template <typename S, typename Epi, int MR, bool kFull>
CGRU_SIMD_INLINE void stepRemainder(int rows, const StepArgs& a, const float* panel, int b0, int j0, typename S::M mask,
                                    const PanelBias<S>& bias) {
  if constexpr (MR > 0) {
    if (rows == MR) return tile<S, Epi, MR, kFull>(a, panel, b0, j0, mask, bias);
    stepRemainder<S, Epi, MR - 1, kFull>(rows, a, panel, b0, j0, mask, bias);
  }
}

template <typename S, typename Epi, bool kFull>
CGRU_SIMD void panelRows(const StepArgs& a, const float* panel, int j0, typename S::M mask) {
  constexpr int R = S::template kRows<Epi::kGates>;
  const PanelBias<S> bias = loadBias<S, Epi::kGates, kFull>(a, static_cast<size_t>(a.H / Epi::kBlocks), j0, mask);
  int b0 = 0;
  for (; b0 + R <= a.B; b0 += R) tile<S, Epi, R, kFull>(a, panel, b0, j0, mask, bias);
  stepRemainder<S, Epi, R - 1, kFull>(a.B - b0, a, panel, b0, j0, mask, bias);
}

// A small batch's entering state (the other threads wrote their units of it in the last step)
// is requested all at once, rather than line by line as the first panel's FMAs reach each k:
// batch 1, H 128, two threads, 1.54 → 1.38 µs a step (Xeon, micro-benchmark).
constexpr size_t kPrefetchedStateFloats = 2048;

// Panels of the H / Epi::kBlocks units of each gate (block), K = H.
template <typename S, typename Epi>
CGRU_SIMD void stepWith(const StepArgs& a, int panelBegin, int panelEnd) {
  const int gateUnits = a.H / Epi::kBlocks;
  const size_t panelFloats = static_cast<size_t>(a.H) * Epi::kGates * S::kUnits;
  const size_t stateFloats = static_cast<size_t>(a.B) * a.H;
  if (stateFloats <= kPrefetchedStateFloats)
    for (size_t i = 0; i < stateFloats; i += kLineFloats) __builtin_prefetch(a.hIn + i, 0, 3);
  for (int p = panelBegin; p < panelEnd; ++p) {
    const int j0 = p * S::kUnits;
    const int units = gateUnits - j0 < S::kUnits ? gateUnits - j0 : S::kUnits;
    const float* panel = a.w + static_cast<size_t>(p) * panelFloats;
    if (units == S::kUnits) panelRows<S, Epi, true>(a, panel, j0, S::unitMask(units));
    else panelRows<S, Epi, false>(a, panel, j0, S::unitMask(units));
  }
}

// gru_packed.h's pack: each vector of the panel layout gathered from the units' rows of w (one
// element per row at one k), and written in order.
template <typename S>
CGRU_SIMD void pack(const float* w, int gates, int H, int K, float* out) {
  const size_t kk = static_cast<size_t>(K);
  float* o = out;
  for (int j0 = 0; j0 < H; j0 += S::kUnits) {
    const auto mask = S::unitMask(H - j0 < S::kUnits ? H - j0 : S::kUnits);
    for (size_t k = 0; k < kk; ++k) {
      for (int g = 0; g < gates; ++g, o += S::kUnits)
        S::storeAligned(o, S::gatherRows(w + (static_cast<size_t>(g) * H + j0) * kk + k, K, mask));
    }
  }
}

// A simple RNN's step in the blocks of its units that layout() gives.
template <typename S, bool kRelu>
CGRU_SIMD_INLINE void stepRnn(const StepArgs& a, int panelBegin, int panelEnd) {
  switch (layout(1, a.H).gates) {
    case 4: return stepWith<S, RnnEpilogue<S, kRelu, 4>>(a, panelBegin, panelEnd);
    case 3: return stepWith<S, RnnEpilogue<S, kRelu, 3>>(a, panelBegin, panelEnd);
    default: return stepWith<S, RnnEpilogue<S, kRelu, 1>>(a, panelBegin, panelEnd);
  }
}

// The entry points of an ISA's translation unit.
template <typename S>
int tileRows(int gates) {
  switch (gates) {
    case 1: return S::template kRows<1>;
    case 4: return S::template kRows<4>;
    default: return S::template kRows<3>;
  }
}

template <typename S>
CGRU_SIMD void step(const StepArgs& a, int panelBegin, int panelEnd) {
  switch (a.mode) {
    case RnnMode::Gru: stepWith<S, GruEpilogue<S>>(a, panelBegin, panelEnd); break;
    case RnnMode::Lstm: stepWith<S, LstmEpilogue<S>>(a, panelBegin, panelEnd); break;
    case RnnMode::RnnTanh: stepRnn<S, false>(a, panelBegin, panelEnd); break;
    case RnnMode::RnnRelu: stepRnn<S, true>(a, panelBegin, panelEnd); break;
  }
  if constexpr (S::kStreamRows) {
    if (a.stream) S::fence();
  }
}

template <typename S>
CGRU_SIMD void project(const ProjectArgs& p, size_t rowBegin, size_t rowEnd, int panelBegin, int panelEnd) {
  switch (p.gates) {
    case 1: project<S, 1>(p, rowBegin, rowEnd, panelBegin, panelEnd); break;
    case 3: project<S, 3>(p, rowBegin, rowEnd, panelBegin, panelEnd); break;
    case 4: project<S, 4>(p, rowBegin, rowEnd, panelBegin, panelEnd); break;
    default: break;
  }
  if constexpr (S::kStreamRows) {
    if (p.stream) S::fence();
  }
}

}  // namespace kernels
