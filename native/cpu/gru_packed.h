// Packed-weight kernels for the recurrent forward (GRU, LSTM, simple RNN): the recurrence step,
// i.e. the per-step GEMM Gh = h · W_hhᵀ with the cell's gate maths fused into its epilogue (Gh
// never reaches memory), and the input projection Gi = X · W_ihᵀ on the same panel layout, which
// also serves the backward's per-step dh_prev += dGh_t · W_hh (W_hhᵀ packed with one "gate").
//
// W_hh [G·H × H] (G gates: 3 GRU, 4 LSTM, 1 RNN) is packed once per call into panels of units()
// hidden units (one vector register: 8 for AVX2, 16 for AVX-512): panel p holds, for every k, the
// G·units() weights (each gate's weights for units p·units() …) that produce those units' gate
// pre-activations, contiguous. A tile of a few batch
// rows × one panel then yields every gate of its units, and the epilogue turns them into the
// new state in registers. Panels are independent, so threads split a step's hidden units by panel.
//
// The kernels are written once (gru_packed_kernels.h) and built for AVX2 + FMA and for AVX-512,
// each in its own translation unit; activeIsa() (cpu_isa.h) picks one at load. available() is
// false where neither was compiled in (other architectures) or the active ISA is generic, and
// callers then use BLAS.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/gru.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CGRU_PACKED_X86 1
#endif

namespace cgru::cpu::packed {

constexpr int kUnitsAvx2 = 8;
constexpr int kUnitsAvx512 = 16;

bool available();
// Whether the engine uses them: available(), unless CGRU_GRU_KERNEL=blas forces the BLAS path (for
// comparisons, and to test that path on such CPUs). Read at every call: tests switch it.
bool enabled();
// "avx512", "avx2", or "none" when callers use BLAS.
const char* kernelName();
// Hidden units per panel for the active kernels.
int units();
// Batch rows per tile of the active kernels' step for a cell of `gates` gates (1, 3 or 4): a
// step's rows are computed in tiles of this many from row 0, the last one shorter.
int tileRows(int gates);
inline int panels(int H) { return (H + units() - 1) / units(); }

// Column blocks for a product with `cols` output columns computed as that many "gates" of cols /
// blocks units each: 4 or 3 where they divide cols into whole vectors of either ISA, else 1. A
// tile then holds several vectors of weights per k: with one, each broadcast feeds a single FMA
// and the loads, not the FMAs, set the pace.
inline int columnBlocks(int cols) { return cols % 64 == 0 ? 4 : cols % 48 == 0 ? 3 : 1; }

// How the kernels lay out a cell's G·H columns (its packed W_ih and W_hh, step()'s panels, the
// tiles' shape): `gates` blocks of `units` units. A one-gate cell's (the RNN's) H units go in
// columnBlocks(H) blocks as if they were gates, the 8 accumulators of a tile becoming 24: RNN c3
// forward on a 2-vCPU Xeon 88-100 → 74-79 ms with the input projection so, 84-86 → 56-58 with the
// step too. The values are the same bit for bit: each still sums its k in order.
struct Layout {
  int gates, units;
};
inline Layout layout(int gates, int H) {
  return gates == 1 ? Layout{columnBlocks(H), H / columnBlocks(H)} : Layout{gates, H};
}
inline size_t packedFloats(int gates, int H, int K) {
  return static_cast<size_t>(panels(H)) * K * gates * units();
}
// w [G·H × K] row-major (W_hh with K = H, W_ih with K = the input size; canonical layout) →
// out [packedFloats(G, H, K)], 64-byte aligned. Requires available().
void pack(const float* w, int gates, int H, int K, float* out);

// The input projection out[M × G·H] = x[M × K] · W_ihᵀ (no bias) with W_ih packed; with `add`,
// out += x · Wᵀ instead.
struct ProjectArgs {
  int gates = 0, H = 0, K = 0;
  const float* w = nullptr;  // packed W_ih
  const float* x = nullptr;  // [M, K], row m at x + m · xStride
  size_t xStride = 0;
  float* out = nullptr;      // [M, G·H], row m at out + m · outStride
  size_t outStride = 0;
  bool add = false;
  // Without add: out written past the caches where the kernels can (AVX-512: whole aligned
  // lines), for an out too big to stay in cache until it is read.
  bool stream = false;
};
// Rows [rowBegin, rowEnd) of out, units of panels [panelBegin, panelEnd) of each gate. Requires
// available().
void project(const ProjectArgs& p, size_t rowBegin, size_t rowEnd, int panelBegin, int panelEnd);

// One step for all B samples. Row b of each strided operand is at base + b · stride.
struct StepArgs {
  RnnMode mode = RnnMode::Gru;
  int B = 0, H = 0;
  const float* w = nullptr;                   // packed W_hh
  const float* bIh = nullptr;                 // [G·H]
  const float* bHh = nullptr;                 // [G·H]
  const float* hIn = nullptr;                 // [B, H] state entering the step
  float* hOut = nullptr;                      // [B, H] state leaving it (≠ hIn)
  float* c = nullptr;                         // LSTM: [B, H] cell state, updated in place
  const float* gi = nullptr;                  // input projection without b_ih, [G·H] per row
  size_t giStride = 0;
  float* y = nullptr;                         // [H] per row
  size_t yStride = 0;
  float* hprev = nullptr;                     // training: hIn saved, [H] per row; or null
  size_t hprevStride = 0;
  float* saved = nullptr;                     // training: what the cell keeps for backward (rnn_cells.h); or null
  size_t savedStride = 0;
  const int* lengths = nullptr;               // per sample; null when all are valid
  int t = 0;                                  // the step, for lengths
  bool stream = false;                        // y, hprev and saved written past the caches (as ProjectArgs)
};

// Computes the units of panels [panelBegin, panelEnd) (of layout(G, H).units, in every block) for
// every sample, with W_hh packed in that layout. Samples with
// t >= lengths[b] keep their state and get a zero output. Requires available().
void step(const StepArgs& a, int panelBegin, int panelEnd);

// The kernels of each ISA (gru_packed_avx2.cpp, gru_packed_avx512.cpp), for step and project to
// dispatch to; calling one on a CPU without its ISA faults.
namespace avx2 {
int tileRows(int gates);
void step(const StepArgs& a, int panelBegin, int panelEnd);
void project(const ProjectArgs& p, size_t rowBegin, size_t rowEnd, int panelBegin, int panelEnd);
void pack(const float* w, int gates, int H, int K, float* out);
}  // namespace avx2
namespace avx512 {
int tileRows(int gates);
void step(const StepArgs& a, int panelBegin, int panelEnd);
void project(const ProjectArgs& p, size_t rowBegin, size_t rowEnd, int panelBegin, int panelEnd);
void pack(const float* w, int gates, int H, int K, float* out);
}  // namespace avx512

}  // namespace cgru::cpu::packed
