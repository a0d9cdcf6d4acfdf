// Argument checks every GRU engine runs first, with the same messages on every backend.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "core/gru.h"

namespace cgru {

// The sizes of one call: batch, steps, input, hidden, directions, layers.
struct GruDims {
  int B, T, I, H, D, L;
  int slots() const { return L * D; }
  size_t BT() const { return static_cast<size_t>(B) * T; }
  size_t xCount() const { return BT() * I; }
  size_t yCount() const { return BT() * D * H; }
  size_t hCount() const { return static_cast<size_t>(slots()) * B * H; }
};

// Why a call of this configuration, batch and seqLen is too large for the engines, or "" when it
// is not: every product of sizes that reaches an `int` (BLAS dimensions and leading dimensions,
// cuDNN descriptor dimensions and strides, weight offsets) must stay below 2^31.
std::string gruSizeLimitViolation(const GruConfig& config, int64_t batch, int64_t seqLen);

// Throws cgru::ArgumentError for a malformed call; `needOutputs` requires y and hN.
GruDims checkGruForwardArgs(const GruForwardArgs& args, bool needOutputs);

// Whether a backward's configuration is the one of the training forward that made its reserve
// (every field the reserve depends on: its layout, and the dropout masks it holds).
bool sameTrainingConfig(const GruConfig& forward, const GruConfig& backward);

// Each sample's length (all seqLen when args.lengths is null), checked to lie in [0, seqLen].
std::vector<int> gruLengths(const GruForwardArgs& args);

}  // namespace cgru
