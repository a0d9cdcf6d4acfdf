// The cells of the CPU recurrent engine (gru_cpu.cpp): for each cuDNN mode the fused per-sample
// gate maths of one step, forward and backward, and a Cell type that tells the engine its gate
// count, what it saves for backward and how its gradients flow. The engine is a template over the
// Cell, so the maths is inlined into its loops (no virtual call per row). Included by
// gru_cpu.cpp only.
#pragma once
#include <cstdint>

namespace cgru::cpu {
namespace {

// no-trapping-math lets GCC if-convert the float clamps in fastExp so the gate loops vectorise
// (no effect on results: nothing here inspects floating-point exception flags); fp-contract=off
// keeps the AVX-512 clone (which has FMA) from fusing a·b + c, so that every clone computes the
// same values. Only the kernels get these: GCC does not inline functions across differing
// optimize options.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math", "fp-contract=off")
#endif

// The gate kernels are built three times on x86-64 Linux (AVX-512, AVX2 and baseline SSE2; the
// same operations on wider vectors, so the same values) and the loader picks
// the one the CPU supports (GCC/Clang function multi-versioning through an ifunc).
#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define CGRU_KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CGRU_KERNEL
#endif

// exp(x) with ~1 ulp relative error (Cephes expf), written without branches or calls so that
// the compiler vectorises the loops that use it.
inline float fastExp(float x) {
  // Plain ternaries and builtins only: header functions (std::min, std::fabs) are compiled
  // without this file's optimize pragma and GCC then refuses to inline them here.
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  // n = round(x / ln 2) via the 1.5·2^23 trick (exact without -ffast-math).
  const float kMagic = 12582912.0f;
  float n = x * 1.44269504088896341f + kMagic;
  n -= kMagic;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  __builtin_memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline float fastSigmoid(float x) { return 1.0f / (1.0f + fastExp(-x)); }

inline float fastTanh(float x) {
  const float e = fastExp(-2.0f * __builtin_fabsf(x));
  const float t = (1.0f - e) / (1.0f + e);
  return __builtin_copysignf(t, x);
}

// One sample, one valid step: gates from the input projection gi (without its bias b_ih), the
// recurrent projection gh (with b_hh), the state h (updated in place) and the output row y. With kTrain
// the gate values r, z, n and hn = W_hn h + b_hn are kept in g[4H].
template <bool kTrain>
CGRU_KERNEL void gruStep(int H, const float* __restrict gi, const float* __restrict gh, const float* __restrict bih,
                             float* __restrict h, float* __restrict y, float* __restrict g) {
  for (int j = 0; j < H; ++j) {
    const float r = fastSigmoid(gi[j] + bih[j] + gh[j]);
    const float z = fastSigmoid(gi[H + j] + bih[H + j] + gh[H + j]);
    const float hn = gh[2 * H + j];
    const float n = fastTanh(gi[2 * H + j] + bih[2 * H + j] + r * hn);
    const float hv = n + z * (h[j] - n);
    h[j] = hv;
    y[j] = hv;
    if (kTrain) {
      g[j] = r;
      g[H + j] = z;
      g[2 * H + j] = n;
      g[3 * H + j] = hn;
    }
  }
}

// One sample, one valid step of backward. dh: gradient reaching h' from later steps; dy: from the
// output (or null); g: saved r,z,n,hn; hp: the state entering the step. Writes the pre-activation
// gradients of the input side (dgi) and recurrent side (dgh, whose n part is scaled by r) and the
// direct part of the gradient for the previous state, dh·z.
template <bool kHasDy>
CGRU_KERNEL void gruStepBackward(int H, const float* __restrict dh, const float* __restrict dy, const float* __restrict g,
                  const float* __restrict hp, float* __restrict dgi, float* __restrict dgh, float* __restrict dhPrev) {
  for (int j = 0; j < H; ++j) {
    const float d = kHasDy ? dh[j] + dy[j] : dh[j];
    const float r = g[j], z = g[H + j], n = g[2 * H + j], hn = g[3 * H + j];
    const float dnp = d * (1.0f - z) * (1.0f - n * n);
    const float dzp = d * (hp[j] - n) * z * (1.0f - z);
    const float drp = dnp * hn * r * (1.0f - r);
    dgi[j] = drp;
    dgi[H + j] = dzp;
    dgi[2 * H + j] = dnp;
    dgh[j] = drp;
    dgh[H + j] = dzp;
    dgh[2 * H + j] = dnp * r;
    dhPrev[j] = d * z;
  }
}


// acc[0, n) += x[0, n) (a backward's per-sample bias sums).
CGRU_KERNEL inline void addRow(int n, const float* __restrict x, float* __restrict acc) {
  for (int j = 0; j < n; ++j) acc[j] += x[j];
}

// LSTM, one sample, one valid step, gate order i, f, g, o. gi: input projection without b_ih;
// gh: recurrent projection with b_hh; h and c are updated in place. With kTrain, saved[6H] keeps
// i, f, g, o, the entering cell state and tanh of the new one.
template <bool kTrain>
CGRU_KERNEL void lstmStep(int H, const float* __restrict gi, const float* __restrict gh, const float* __restrict bih,
                          float* __restrict h, float* __restrict c, float* __restrict y, float* __restrict saved) {
  for (int j = 0; j < H; ++j) {
    const float i = fastSigmoid(gi[j] + bih[j] + gh[j]);
    const float f = fastSigmoid(gi[H + j] + bih[H + j] + gh[H + j]);
    const float g = fastTanh(gi[2 * H + j] + bih[2 * H + j] + gh[2 * H + j]);
    const float o = fastSigmoid(gi[3 * H + j] + bih[3 * H + j] + gh[3 * H + j]);
    const float cPrev = c[j];
    const float cv = f * cPrev + i * g;
    const float tc = fastTanh(cv);
    const float hv = o * tc;
    c[j] = cv;
    h[j] = hv;
    y[j] = hv;
    if (kTrain) {
      saved[j] = i;
      saved[H + j] = f;
      saved[2 * H + j] = g;
      saved[3 * H + j] = o;
      saved[4 * H + j] = cPrev;
      saved[5 * H + j] = tc;
    }
  }
}

// LSTM backward of one valid step. dh, dc: gradients reaching h' and c' from later steps; dy:
// from the output (or null). Writes the gate pre-activation gradients dg[4H] (the same for the
// input and the recurrent side), the direct part of dh_prev (none: h enters only through W_hh)
// and dc_prev.
template <bool kHasDy>
CGRU_KERNEL void lstmStepBackward(int H, const float* __restrict dh, const float* __restrict dy,
                                  const float* __restrict dc, const float* __restrict saved, float* __restrict dg,
                                  float* __restrict dhPrev, float* __restrict dcPrev) {
  for (int j = 0; j < H; ++j) {
    const float d = kHasDy ? dh[j] + dy[j] : dh[j];
    const float i = saved[j], f = saved[H + j], g = saved[2 * H + j], o = saved[3 * H + j];
    const float cPrev = saved[4 * H + j], tc = saved[5 * H + j];
    const float dct = dc[j] + d * o * (1.0f - tc * tc);
    dg[j] = dct * g * i * (1.0f - i);
    dg[H + j] = dct * cPrev * f * (1.0f - f);
    dg[2 * H + j] = dct * i * (1.0f - g * g);
    dg[3 * H + j] = d * tc * o * (1.0f - o);
    dhPrev[j] = 0.0f;
    dcPrev[j] = dct * f;
  }
}

// Simple RNN, one sample, one valid step: h' = tanh or relu of the two projections and b_ih.
// With kTrain, saved[H] keeps h' (both derivatives are functions of it).
template <bool kRelu, bool kTrain>
CGRU_KERNEL void rnnStep(int H, const float* __restrict gi, const float* __restrict gh, const float* __restrict bih,
                         float* __restrict h, float* __restrict y, float* __restrict saved) {
  for (int j = 0; j < H; ++j) {
    const float a = gi[j] + bih[j] + gh[j];
    const float hv = kRelu ? (a < 0.0f ? 0.0f : a) : fastTanh(a);  // a NaN passes through
    h[j] = hv;
    y[j] = hv;
    if (kTrain) saved[j] = hv;
  }
}

template <bool kRelu, bool kHasDy>
CGRU_KERNEL void rnnStepBackward(int H, const float* __restrict dh, const float* __restrict dy,
                                 const float* __restrict saved, float* __restrict dg, float* __restrict dhPrev) {
  for (int j = 0; j < H; ++j) {
    const float d = kHasDy ? dh[j] + dy[j] : dh[j];
    const float hv = saved[j];
    dg[j] = kRelu ? (hv > 0.0f ? d : 0.0f) : d * (1.0f - hv * hv);
    dhPrev[j] = 0.0f;
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

// ------------------------------------------------------------------ cells
//
// forward<kTrain>(H, gi, gh, bih, h, c, y, saved) and backward<kHasDy>(H, dh, dy, dc, saved, hp,
// dgi, dgh, dhPrev, dcPrev) for one sample; c, dc and dcPrev are null without a cell state, dgh
// is null when the recurrent gradient equals the input one.

struct GruCell {
  static constexpr int kGates = 3;
  static constexpr int kSaved = 4;  // r, z, n, W_hn·h + b_hn
  static constexpr bool kCellState = false;
  static constexpr bool kSeparateRecurrentGrad = true;  // n's recurrent part is scaled by r
  template <bool kTrain>
  static void forward(int H, const float* gi, const float* gh, const float* bih, float* h, float*, float* y,
                      float* saved) {
    gruStep<kTrain>(H, gi, gh, bih, h, y, saved);
  }
  template <bool kHasDy>
  static void backward(int H, const float* dh, const float* dy, const float*, const float* saved, const float* hp,
                       float* dgi, float* dgh, float* dhPrev, float*) {
    gruStepBackward<kHasDy>(H, dh, dy, saved, hp, dgi, dgh, dhPrev);
  }
};

struct LstmCell {
  static constexpr int kGates = 4;
  static constexpr int kSaved = 6;  // i, f, g, o, c entering, tanh(c leaving)
  static constexpr bool kCellState = true;
  static constexpr bool kSeparateRecurrentGrad = false;
  template <bool kTrain>
  static void forward(int H, const float* gi, const float* gh, const float* bih, float* h, float* c, float* y,
                      float* saved) {
    lstmStep<kTrain>(H, gi, gh, bih, h, c, y, saved);
  }
  template <bool kHasDy>
  static void backward(int H, const float* dh, const float* dy, const float* dc, const float* saved, const float*,
                       float* dgi, float*, float* dhPrev, float* dcPrev) {
    lstmStepBackward<kHasDy>(H, dh, dy, dc, saved, dgi, dhPrev, dcPrev);
  }
};

template <bool kRelu>
struct RnnCell {
  static constexpr int kGates = 1;
  static constexpr int kSaved = 1;  // h'
  static constexpr bool kCellState = false;
  static constexpr bool kSeparateRecurrentGrad = false;
  template <bool kTrain>
  static void forward(int H, const float* gi, const float* gh, const float* bih, float* h, float*, float* y,
                      float* saved) {
    rnnStep<kRelu, kTrain>(H, gi, gh, bih, h, y, saved);
  }
  template <bool kHasDy>
  static void backward(int H, const float* dh, const float* dy, const float*, const float* saved, const float*,
                       float* dgi, float*, float* dhPrev, float*) {
    rnnStepBackward<kRelu, kHasDy>(H, dh, dy, saved, dgi, dhPrev);
  }
};

}  // namespace
}  // namespace cgru::cpu
