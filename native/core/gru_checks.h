// Argument checks every GRU engine runs first, with the same messages on every backend.
#pragma once
#include <cstddef>
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

// Throws cgru::ArgumentError for a malformed call; `needOutputs` requires y and hN.
GruDims checkGruForwardArgs(const GruForwardArgs& args, bool needOutputs);

// Each sample's length (all seqLen when args.lengths is null), checked to lie in [0, seqLen].
std::vector<int> gruLengths(const GruForwardArgs& args);

}  // namespace cgru
