#include "core/gru_checks.h"

#include <algorithm>
#include <limits>
#include <string>

#include "core/errors.h"

namespace cgru {

const char* rnnModeName(RnnMode mode) {
  switch (mode) {
    case RnnMode::Gru: return "gru";
    case RnnMode::Lstm: return "lstm";
    case RnnMode::RnnTanh: return "rnn_tanh";
    case RnnMode::RnnRelu: return "rnn_relu";
  }
  return "unknown";
}

std::string gruSizeLimitViolation(const GruConfig& c, int64_t batch, int64_t seqLen) {
  const int64_t G = c.gates(), H = c.hiddenSize, D = c.numDirections(), L = c.numLayers;
  const int64_t widest = std::max<int64_t>(c.inputSize, D * H);
  const std::string gatesTimesH = std::to_string(G) + "·hiddenSize";  // the rows of W_ih, W_hh
  struct Product {
    std::string name;
    int64_t value;
    const char* where;
  };
  const Product products[] = {
      {"batch·seqLen", batch * seqLen, "the rows of the input-projection GEMM"},
      {"seqLen·" + gatesTimesH, seqLen * G * H, "the leading dimension of the per-step GEMMs"},
      {gatesTimesH + "·max(inputSize, directions·hiddenSize)", G * H * widest, "weight offsets"},
      {"numLayers·directions·batch·hiddenSize", L * D * batch * H, "cuDNN's state descriptor dimensions and strides"},
  };
  const int64_t kIntMax = std::numeric_limits<int32_t>::max();
  for (const Product& p : products) {
    if (p.value > kIntMax)
      return p.name + " = " + std::to_string(p.value) + " exceeds 2^31 - 1 (it becomes an int in " +
             p.where + ")";
  }
  // Far beyond any memory, and it keeps every size_t product below overflow.
  if (batch * seqLen * std::max<int64_t>(6 * H, widest) > (int64_t{1} << 40))
    return "batch·seqLen·max(6·hiddenSize, inputSize, directions·hiddenSize) exceeds 2^40 floats";
  return "";
}

GruDims checkGruForwardArgs(const GruForwardArgs& a, bool needOutputs) {
  const GruConfig& c = a.config;
  const std::string fn = rnnModeName(c.mode);
  if (c.inputSize < 1 || c.hiddenSize < 1 || c.numLayers < 1)
    throw ArgumentError(fn + ": inputSize, hiddenSize and numLayers must be >= 1");
  if (!(c.dropout >= 0.0f && c.dropout < 1.0f)) throw ArgumentError(fn + ": dropout must be in [0, 1)");
  if (a.batch < 1 || a.seqLen < 1) throw ArgumentError(fn + ": batch and seqLen must be >= 1");
  const std::string tooLarge = gruSizeLimitViolation(c, a.batch, a.seqLen);
  if (!tooLarge.empty()) throw ArgumentError(fn + ": the problem is too large for one call: " + tooLarge);
  const size_t slots = static_cast<size_t>(c.numSlots());
  const auto& p = a.params;
  if (p.wIh.size() != slots || p.wHh.size() != slots || p.bIh.size() != slots || p.bHh.size() != slots)
    throw ArgumentError(fn + ": expected " + std::to_string(slots) + " parameter sets");
  if (a.wIhVersions.size() != slots || a.wHhVersions.size() != slots)
    throw ArgumentError(fn + ": expected the versions of " + std::to_string(slots) + " weight sets");
  for (size_t s = 0; s < slots; ++s)
    if (!p.wIh[s] || !p.wHh[s] || !p.bIh[s] || !p.bHh[s]) throw ArgumentError(fn + ": a parameter pointer is null");
  if (!a.x || (needOutputs && (!a.y || !a.hN))) throw ArgumentError(fn + ": x, y and hN must be given");
  if (needOutputs && c.hasCellState() && !a.cN) throw ArgumentError(fn + ": cN must be given");
  return {a.batch, a.seqLen, c.inputSize, c.hiddenSize, c.numDirections(), c.numLayers};
}

bool sameTrainingConfig(const GruConfig& a, const GruConfig& b) {
  return a.mode == b.mode && a.inputSize == b.inputSize && a.hiddenSize == b.hiddenSize && a.numLayers == b.numLayers &&
         a.bidirectional == b.bidirectional && a.dropout == b.dropout && a.seed == b.seed;
}

std::vector<int> gruLengths(const GruForwardArgs& a) {
  std::vector<int> len(static_cast<size_t>(a.batch), a.seqLen);
  if (a.lengths) {
    for (int b = 0; b < a.batch; ++b) {
      const int32_t v = a.lengths[b];
      if (v < 0 || v > a.seqLen)
        throw ArgumentError(std::string(rnnModeName(a.config.mode)) + ": lengths[" + std::to_string(b) + "] = " + std::to_string(v) + " is outside [0, " +
                            std::to_string(a.seqLen) + "]");
      len[static_cast<size_t>(b)] = v;
    }
  }
  return len;
}

}  // namespace cgru
