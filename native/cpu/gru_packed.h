// Packed-weight kernels for the GRU forward: the recurrence step, i.e. the per-step GEMM
// Gh = h · W_hhᵀ with the gate maths fused into its epilogue (Gh never reaches memory), and the
// input projection Gi = X · W_ihᵀ on the same panel layout.
//
// W_hh [3H × H] is packed once per call into panels of kUnits hidden units: panel p holds, for
// every k, the 3·kUnits weights (gates r, z, n of units p·kUnits …) that produce those units'
// gate pre-activations, contiguous. A tile of 4 batch rows × one panel then yields complete
// r, z and W_hn·h for kUnits units, and the epilogue turns them into the new state in registers.
// Panels are independent, so threads split a step's hidden units by panel.
//
// The kernel is hand-written for AVX2 + FMA and chosen at run time; available() is false where
// it was not compiled in (other architectures) or the CPU lacks it, and callers then use BLAS.
#pragma once
#include <cstddef>
#include <cstdint>

namespace cgru::cpu::packed {

constexpr int kUnits = 8;
constexpr int kPanelWidth = 3 * kUnits;

bool available();
inline int panels(int H) { return (H + kUnits - 1) / kUnits; }
inline size_t packedFloats(int H, int K) { return static_cast<size_t>(panels(H)) * K * kPanelWidth; }
// w [3H × K] row-major (W_hh with K = H, W_ih with K = the input size; canonical layout) →
// out [packedFloats(H, K)], 32-byte aligned.
void pack(const float* w, int H, int K, float* out);

// The input projection out[M × 3H] = x[M × K] · W_ihᵀ (no bias) with W_ih packed.
struct ProjectArgs {
  int H = 0, K = 0;
  const float* w = nullptr;  // packed W_ih
  const float* x = nullptr;  // [M, K]
  float* out = nullptr;      // [M, 3H]
};
// Rows [rowBegin, rowEnd) of out. Requires available().
void project(const ProjectArgs& p, size_t rowBegin, size_t rowEnd);

// One step for all B samples. Row b of each strided operand is at base + b · stride.
struct StepArgs {
  int B = 0, H = 0;
  const float* w = nullptr;                   // packed W_hh
  const float* bIh = nullptr;                 // [3H]
  const float* bHh = nullptr;                 // [3H]
  const float* hIn = nullptr;                 // [B, H] state entering the step
  float* hOut = nullptr;                      // [B, H] state leaving it (≠ hIn)
  const float* gi = nullptr;                  // input projection without b_ih, [3H] per row
  size_t giStride = 0;
  float* y = nullptr;                         // [H] per row
  size_t yStride = 0;
  float* hprev = nullptr;                     // training: hIn saved, [H] per row; or null
  size_t hprevStride = 0;
  float* gates = nullptr;                     // training: r, z, n, W_hn·h + b_hn, [4H] per row; or null
  size_t gatesStride = 0;
  const int* lengths = nullptr;               // per sample; null when all are valid
  int t = 0;                                  // the step, for lengths
};

// Computes the units of panels [panelBegin, panelEnd) for every sample. Samples with
// t >= lengths[b] keep their state and get a zero output. Requires available().
void step(const StepArgs& a, int panelBegin, int panelEnd);

}  // namespace cgru::cpu::packed
