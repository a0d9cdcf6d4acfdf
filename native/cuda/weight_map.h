// Where each canonical tensor (PyTorch's layout) lives in cuDNN's RNN weight space, and the copy
// segments between the two. Host code with no CUDA calls, so that test/cuda-weight-map.test.ts
// can check it against a stand-in cuDNN without a GPU.
#pragma once
#include <cudnn.h>

#include <array>
#include <cstddef>
#include <functional>
#include <vector>

#include "core/gru.h"
#include "cuda/kernels.h"

namespace cgru::cuda {

// One matrix or bias in the weight space.
struct WeightSlice {
  size_t offset = 0;  // floats from the start of the weight space
  size_t count = 0;   // floats
};

struct WeightMap {
  static constexpr int kMaxLinLayers = 8;  // the LSTM's
  // [slot][linLayerID], slot = layer·D + direction (cuDNN's pseudo-layer): IDs 0 … G−1 are the
  // input matrices/biases of the G gates, G … 2G−1 the recurrent ones, gates in cuDNN's order =
  // PyTorch's (GRU r,z,n; LSTM i,f,g,o; RNN one).
  std::vector<std::array<WeightSlice, kMaxLinLayers>> matrix, bias;
  bool gaps = false;  // the slices do not cover the weight space (gaps are zeroed when packing)
};

// Reports a failed cuDNN status (throws); the engine's turns a persistent algorithm's refusal
// into a retry on STANDARD.
using CudnnCheck = std::function<void(cudnnStatus_t status, const char* call)>;

// Asks cudnnGetRNNWeightParams where every matrix and bias of `rnn` lies in a weight space of
// `weightBytes` starting at `base` (cuDNN only computes addresses from it), and checks each
// shape, the data type and the bounds against `config`: a mismatch throws cgru::Error naming the
// pseudo-layer and linLayerID.
WeightMap mapWeightSpace(cudnnHandle_t handle, cudnnRNNDescriptor_t rnn, const GruConfig& config, size_t weightBytes,
                         const void* base, const CudnnCheck& check);

// The segments copying canonical tensors into (pack) or out of (unpack) the weight space at
// `space`, neighbours merged.
template <typename Src>
std::vector<CopySegment> weightSegments(const WeightMap& map, const GruConfig& config, const GruParamSet<Src>& params,
                                        float* space, bool intoSpace);

}  // namespace cgru::cuda
