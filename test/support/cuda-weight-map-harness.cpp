// Host harness for test/cuda-libraries.test.ts (no GPU): sets up an RNN descriptor through the
// cuDNN that the loader finds (the test's stand-in), maps its weight space with
// native/cuda/weight_map.cpp, packs canonical parameters whose every value is its 1-based
// position in PyTorch's state-dict order, unpacks the space again, and prints JSON:
// {"gaps", "space": [...], "roundTrip"}. Errors go to stderr with exit status 1.
// Usage: harness <mode 0-3 = cudnnRNNMode_t> <inputSize> <hiddenSize> <numLayers> <bidirectional 0|1>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <vector>

#include "core/errors.h"
#include "cuda/check.h"
#include "cuda/descriptors.h"
#include "cuda/libraries.h"
#include "cuda/weight_map.h"

using namespace cgru;
using namespace cgru::cuda;

int main(int argc, char** argv) {
  if (argc != 6) return 2;
  try {
    const auto cell = static_cast<cudnnRNNMode_t>(std::atoi(argv[1]));
    GruConfig c;
    c.mode = cell == CUDNN_GRU ? RnnMode::Gru : cell == CUDNN_LSTM ? RnnMode::Lstm : cell == CUDNN_RNN_TANH ? RnnMode::RnnTanh : RnnMode::RnnRelu;
    c.inputSize = std::atoi(argv[2]);
    c.hiddenSize = std::atoi(argv[3]);
    c.numLayers = std::atoi(argv[4]);
    c.bidirectional = std::atoi(argv[5]) != 0;
    const LoadResult& libs = loadLibraries();
    if (!libs.cudnn.handle) throw Error(libs.cudnn.error);

    RnnDescriptor rnn;
    CGRU_CUDNN(cudnnSetRNNDescriptor_v8, rnn.get(), CUDNN_RNN_ALGO_STANDARD, cell, CUDNN_RNN_DOUBLE_BIAS,
               c.bidirectional ? CUDNN_BIDIRECTIONAL : CUDNN_UNIDIRECTIONAL, CUDNN_LINEAR_INPUT, CUDNN_DATA_FLOAT,
               CUDNN_DATA_FLOAT, CUDNN_FMA_MATH, c.inputSize, c.hiddenSize, c.hiddenSize, c.numLayers, nullptr,
               CUDNN_RNN_PADDED_IO_ENABLED);
    size_t bytes = 0;
    CGRU_CUDNN(cudnnGetRNNWeightSpaceSize, nullptr, rnn.get(), &bytes);
    std::vector<float> space(bytes / sizeof(float), -1.0f);  // -1 stays where nothing is packed
    const WeightMap map = mapWeightSpace(nullptr, rnn.get(), c, bytes, space.data(),
                                         [](cudnnStatus_t status, const char* call) { checkCudnn(status, call); });

    // Canonical tensors per slot in state-dict order (weight_ih, weight_hh, bias_ih, bias_hh).
    const size_t G = static_cast<size_t>(c.gates()), H = static_cast<size_t>(c.hiddenSize);
    std::vector<std::vector<float>> tensors, grads;
    GruParams params;
    GruParamGrads back;
    float next = 1.0f;
    for (int slot = 0; slot < c.numSlots(); ++slot) {
      const size_t in = static_cast<size_t>(c.layerInputSize(slot / c.numDirections()));
      for (const size_t n : {G * H * in, G * H * H, G * H, G * H}) {
        tensors.emplace_back(n);
        for (float& v : tensors.back()) v = next++;
        grads.emplace_back(n, 0.0f);
      }
    }
    for (size_t i = 0; i < tensors.size(); i += 4) {
      params.wIh.push_back(tensors[i].data());
      params.wHh.push_back(tensors[i + 1].data());
      params.bIh.push_back(tensors[i + 2].data());
      params.bHh.push_back(tensors[i + 3].data());
      back.wIh.push_back(grads[i].data());
      back.wHh.push_back(grads[i + 1].data());
      back.bIh.push_back(grads[i + 2].data());
      back.bHh.push_back(grads[i + 3].data());
    }
    for (const CopySegment& s : weightSegments(map, c, params, space.data(), /*intoSpace=*/true))
      std::memcpy(s.dst, s.src, s.count * sizeof(float));
    for (const CopySegment& s : weightSegments(map, c, back, space.data(), /*intoSpace=*/false))
      std::memcpy(s.dst, s.src, s.count * sizeof(float));
    bool roundTrip = true;
    for (size_t i = 0; i < tensors.size(); ++i) roundTrip = roundTrip && tensors[i] == grads[i];

    std::printf("{\"gaps\": %s, \"roundTrip\": %s, \"space\": [", map.gaps ? "true" : "false", roundTrip ? "true" : "false");
    for (size_t i = 0; i < space.size(); ++i) std::printf(i ? ",%g" : "%g", static_cast<double>(space[i]));
    std::printf("]}\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
