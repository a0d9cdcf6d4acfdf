#include "core/gru_checks.h"

#include <string>

#include "core/errors.h"

namespace cgru {

GruDims checkGruForwardArgs(const GruForwardArgs& a, bool needOutputs) {
  const GruConfig& c = a.config;
  if (c.inputSize < 1 || c.hiddenSize < 1 || c.numLayers < 1)
    throw ArgumentError("gru: inputSize, hiddenSize and numLayers must be >= 1");
  if (!(c.dropout >= 0.0f && c.dropout < 1.0f)) throw ArgumentError("gru: dropout must be in [0, 1)");
  if (a.batch < 1 || a.seqLen < 1) throw ArgumentError("gru: batch and seqLen must be >= 1");
  const size_t slots = static_cast<size_t>(c.numSlots());
  const auto& p = a.params;
  if (p.wIh.size() != slots || p.wHh.size() != slots || p.bIh.size() != slots || p.bHh.size() != slots)
    throw ArgumentError("gru: expected " + std::to_string(slots) + " parameter sets");
  for (size_t s = 0; s < slots; ++s)
    if (!p.wIh[s] || !p.wHh[s] || !p.bIh[s] || !p.bHh[s]) throw ArgumentError("gru: a parameter pointer is null");
  if (!a.x || (needOutputs && (!a.y || !a.hN))) throw ArgumentError("gru: x, y and hN must be given");
  return {a.batch, a.seqLen, c.inputSize, c.hiddenSize, c.numDirections(), c.numLayers};
}

std::vector<int> gruLengths(const GruForwardArgs& a) {
  std::vector<int> len(static_cast<size_t>(a.batch), a.seqLen);
  if (a.lengths) {
    for (int b = 0; b < a.batch; ++b) {
      const int32_t v = a.lengths[b];
      if (v < 0 || v > a.seqLen)
        throw ArgumentError("gru: lengths[" + std::to_string(b) + "] = " + std::to_string(v) + " is outside [0, " +
                            std::to_string(a.seqLen) + "]");
      len[static_cast<size_t>(b)] = v;
    }
  }
  return len;
}

}  // namespace cgru
