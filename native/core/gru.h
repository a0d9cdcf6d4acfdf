// The recurrent-network engine contract shared by the CPU (native/cpu) and cuDNN (native/cuda)
// backends: cuDNN's RNN modes, which PyTorch's nn.GRU, nn.LSTM and nn.RNN compute. (The types
// keep the GRU's name, the first mode; `GruConfig::mode` selects the cell.)
//
// GRU (CUDNN_GRU = nn.GRU = Keras GRU(reset_after=True)), gate order r, z, n:
//   r = σ(W_ir x + b_ir + W_hr h + b_hr)      z = σ(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))      h' = (1 − z) ⊙ n + z ⊙ h
// LSTM (CUDNN_LSTM = nn.LSTM), gate order i, f, g, o, with a cell state c:
//   i, f, o = σ(W_i· x + b_i· + W_h· h + b_h·)      g = tanh(W_ig x + b_ig + W_hg h + b_hg)
//   c' = f ⊙ c + i ⊙ g      h' = o ⊙ tanh(c')
// Simple RNN (CUDNN_RNN_TANH / CUDNN_RNN_RELU = nn.RNN): h' = act(W_ih x + b_ih + W_hh h + b_hh).
// Layouts (all row-major, batch-major I/O), with G = 3 (GRU), 4 (LSTM) or 1 (RNN) gates:
//   x [B,T,I]; y [B,T,D·H] (forward direction in the first H features); h0, hN, c0, cN [L·D,B,H]
//   with index layer·D + direction; per layer/direction W_ih [G·H×in], W_hh [G·H×H], b_ih [G·H],
//   b_hh [G·H] where in = I for layer 0 and D·H above it.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

namespace cgru {

// The recurrence (cuDNN's cudnnRNNMode_t).
enum class RnnMode { Gru, Lstm, RnnTanh, RnnRelu };

// "gru", "lstm", "rnn_tanh", "rnn_relu": the names the bindings take.
const char* rnnModeName(RnnMode mode);

struct GruConfig {
  RnnMode mode = RnnMode::Gru;
  int inputSize = 0;
  int hiddenSize = 0;
  int numLayers = 1;
  bool bidirectional = false;
  float dropout = 0.0f;  // probability in [0,1), between layers, training only
  uint64_t seed = 0;     // dropout mask seed: the same seed gives the same masks

  int numDirections() const { return bidirectional ? 2 : 1; }
  int layerInputSize(int layer) const { return layer == 0 ? inputSize : numDirections() * hiddenSize; }
  int numSlots() const { return numLayers * numDirections(); }  // (layer, direction) pairs
  // Gate blocks per weight matrix: rows of W_ih and W_hh are gates()·hiddenSize.
  int gates() const { return mode == RnnMode::Gru ? 3 : mode == RnnMode::Lstm ? 4 : 1; }
  bool hasCellState() const { return mode == RnnMode::Lstm; }
};

// Device pointers to the canonical parameters, one entry per slot = layer·D + direction.
template <typename T>
struct GruParamSet {
  std::vector<T*> wIh, wHh, bIh, bHh;
};
using GruParams = GruParamSet<const float>;
using GruParamGrads = GruParamSet<float>;

struct GruForwardArgs {
  GruConfig config;
  int batch = 0;
  int seqLen = 0;
  bool training = false;
  const float* x = nullptr;          // [B,T,I]
  const float* h0 = nullptr;         // [L·D,B,H], or null for zeros
  const float* c0 = nullptr;         // LSTM: [L·D,B,H], or null for zeros
  const int32_t* lengths = nullptr;  // HOST memory, [B] each in [0,T]; null means all T
  GruParams params;
  // The versions (core/storage.h) of the weight matrices' storages, per slot like params: the CPU
  // engine keeps their packing while their version stays the same.
  std::vector<uint64_t> wIhVersions, wHhVersions;
  float* y = nullptr;   // out [B,T,D·H]
  float* hN = nullptr;  // out [L·D,B,H]
  float* cN = nullptr;  // LSTM: out [L·D,B,H]
};

// What a training-mode forward keeps for backward. Implementations allocate it through
// cgru::Storage so that memory() counts it.
class GruReserve {
 public:
  virtual ~GruReserve() = default;
  virtual size_t bytes() const = 0;
};

struct GruBackwardArgs {
  const float* dy = nullptr;   // [B,T,D·H], or null for zeros
  const float* dhN = nullptr;  // [L·D,B,H], or null for zeros
  const float* dcN = nullptr;  // LSTM: [L·D,B,H], or null for zeros
  float* dx = nullptr;         // out [B,T,I], or null: no input gradient (engines may skip its work)
  float* dh0 = nullptr;        // out [L·D,B,H]
  float* dc0 = nullptr;        // LSTM: out [L·D,B,H]
  GruParamGrads dParams;       // out, overwritten (not accumulated)
};

class GruEngine {
 public:
  virtual ~GruEngine() = default;
  // Computes y and hN; returns the reserve when args.training, otherwise nullptr.
  virtual std::unique_ptr<GruReserve> forward(const GruForwardArgs& args) = 0;
  // `forward` must be the same arguments the reserve was made with: same x, h0, params, lengths,
  // and y still holding what that forward wrote (cuDNN reads it).
  virtual void backward(const GruForwardArgs& forward, GruReserve& reserve, const GruBackwardArgs& args) = 0;
};

}  // namespace cgru
