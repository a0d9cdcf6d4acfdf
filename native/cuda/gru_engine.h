// The cuDNN recurrent engine (core/gru.h contract) on cuDNN's v8 RNN API: CUDNN_GRU, CUDNN_LSTM,
// CUDNN_RNN_TANH and CUDNN_RNN_RELU with double bias, batch-major padded I/O (no transposes), FP32
// maths (CUDNN_FMA_MATH, TF32 off) by default.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <tuple>
#include <vector>

#include "core/gru.h"
#include "core/gru_checks.h"
#include "cuda/descriptors.h"
#include "cuda/weight_map.h"

namespace cgru::cuda {

class CudaBackend;

class CudaGruEngine final : public GruEngine {
 public:
  explicit CudaGruEngine(CudaBackend& backend);
  ~CudaGruEngine() override;

  std::unique_ptr<GruReserve> forward(const GruForwardArgs& args) override;
  // Reads forward.x, forward.h0 and forward.y (the forward's output, as the forward left it):
  // cuDNN's backward passes take the forward output to rebuild the last layer's states.
  void backward(const GruForwardArgs& forward, GruReserve& reserve, const GruBackwardArgs& args) override;

  // A cached RNN descriptor for one configuration and algorithm, with the map of its weight space.
  struct Plan {
    RnnDescriptor rnn;
    DropoutDescriptor dropout;
    cudnnRNNAlgo_t algo = CUDNN_RNN_ALGO_STANDARD;
    size_t weightBytes = 0;
    WeightMap weightMap;
  };

 private:
  struct Lengths;  // per call: real and cuDNN lengths (gru_engine.cpp)
  class Reserve;   // what a training forward keeps (gru_engine.cpp)
  // mode, inputSize, hiddenSize, numLayers, bidirectional, dropout bits, TF32, algorithm.
  using PlanKey = std::tuple<int, int, int, int, bool, uint32_t, bool, int>;

  static PlanKey planKey(const GruConfig& config, bool training, bool tf32, cudnnRNNAlgo_t algo);
  // The plan for this key; nullptr when a persistent algorithm was rejected for it.
  std::shared_ptr<Plan> planFor(const GruConfig& config, bool training, bool tf32, cudnnRNNAlgo_t algo);
  void rejectAlgo(const PlanKey& key);
  cudnnRNNAlgo_t chooseAlgo(const GruConfig& config, const Lengths& lengths, bool training);
  void prepareDropoutStates(uint64_t seed, float p);

  // Callers hold mutex_. The forward falls back to CUDNN_RNN_ALGO_STANDARD when cuDNN rejects `algo`.
  // `redo`: a spent training forward being repeated for another backward: its maths (TF32) and its
  // packed weights are used, not the current setting and parameters (an optimizer may have
  // updated them since), so the gradients are those of the original forward.
  std::unique_ptr<Reserve> forwardLocked(const GruForwardArgs& args, const GruDims& dims, const Lengths& lengths,
                                         cudnnRNNAlgo_t algo, const Reserve* redo = nullptr);
  std::unique_ptr<Reserve> forwardAttempt(const GruForwardArgs& args, const GruDims& dims, const Lengths& lengths,
                                          const Plan& plan, bool tf32, const Reserve* redo);
  void backwardAttempt(const GruForwardArgs& forward, const GruDims& dims, const Lengths& lengths, Reserve& reserve,
                       const GruBackwardArgs& args);

  CudaBackend& backend_;
  std::mutex mutex_;  // plans, algorithm rejections and dropout state
  std::map<PlanKey, std::shared_ptr<Plan>> plans_;
  std::set<PlanKey> rejected_;  // persistent algorithms cuDNN refused, per configuration

  // One dropout RNG state per device. cuDNN advances it on every training forward; a pristine
  // copy taken right after seeding is restored before each use, so the same seed gives the same
  // masks (as the contract asks), and a new seed re-initialises it.
  std::unique_ptr<DropoutDescriptor> seedingDropout_;
  DeviceBuffer dropoutStates_, dropoutPristine_;
  bool dropoutSeeded_ = false, dropoutDirty_ = false;
  uint64_t dropoutSeed_ = 0;
};

std::unique_ptr<GruEngine> makeGruEngine(CudaBackend& backend);

}  // namespace cgru::cuda
