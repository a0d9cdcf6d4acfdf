#include "cuda/gru_engine.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/errors.h"
#include "core/storage.h"
#include "cuda/check.h"
#include "cuda/cuda_backend.h"
#include "cuda/kernels.h"

// Algorithm: CUDNN_RNN_ALGO_STANDARD unless CUDNN_GRU_RNN_ALGO (read once) asks for
// persist_static_small_h or persist_static. The persistent kernels take only calls with every
// length equal to seqLen (cuDNN: no variable sequence lengths in a batch), compute capability >= 6,
// and for SMALL_H hiddenSize <= 192 (inference) or <= 128 (training: the backward uses the forward's
// algorithm, and PyTorch uses SMALL_H for GRU backward only up to 128). Other calls use STANDARD;
// when cuDNN refuses a persistent algorithm (NOT_SUPPORTED or BAD_PARAM from any call), that
// configuration is remembered and runs on STANDARD. Nothing has been measured yet (no GPU in the
// session that wrote this).

namespace cgru::cuda {
namespace {

constexpr size_t kMaxPlans = 64;

void checkLaunch(cudaError_t status, const char* kernel) { checkCuda(status, kernel); }

// Thrown, and caught in this file, when cuDNN refuses a persistent algorithm.
struct AlgoRejected {};

// For a persistent algorithm a "not supported" or "bad parameter" status means that cuDNN refuses
// the algorithm here (its limits are not all documented): the caller retries with STANDARD, which
// reports any genuine error itself.
void checkAlgoCall(cudnnStatus_t status, const char* call, cudnnRNNAlgo_t algo) {
  if (status == CUDNN_STATUS_SUCCESS) return;
  const int category = CUDNN_STATUS_CATEGORY(static_cast<int>(status));
  if (algo != CUDNN_RNN_ALGO_STANDARD && (category == CUDNN_STATUS_NOT_SUPPORTED || category == CUDNN_STATUS_BAD_PARAM))
    throw AlgoRejected{};
  throwCudnn(call, status);
}
#define CGRU_CUDNN_ALGO(algo, fn, ...) checkAlgoCall(::cgru::cuda::cudnn().fn(__VA_ARGS__), #fn, algo)

// CUDNN_GRU_RNN_ALGO: standard (default), persist_static_small_h or persist_static.
cudnnRNNAlgo_t requestedAlgo() {
  static const cudnnRNNAlgo_t algo = [] {
    const char* env = std::getenv("CUDNN_GRU_RNN_ALGO");
    std::string v = env ? env : "";
    for (char& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (v.empty() || v == "standard") return CUDNN_RNN_ALGO_STANDARD;
    if (v == "persist_static_small_h") return CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H;
    if (v == "persist_static") return CUDNN_RNN_ALGO_PERSIST_STATIC;
    throw Error("CUDNN_GRU_RNN_ALGO=" + std::string(env) +
                " is not one of standard, persist_static_small_h, persist_static");
  }();
  return algo;
}

// Per-call descriptors: x [B,T,I] and y [B,T,D·H] batch-major with cuDNN's lengths (each >= 1),
// and h [L·D, B, H].
struct CallDescriptors {
  RnnDataDescriptor x, y;
  TensorDescriptor h;

  CallDescriptors(const GruDims& s, const std::vector<int>& cudnnLengths) {
    float paddingFill = 0.0f;  // cuDNN writes this into the padded steps of its outputs
    CGRU_CUDNN(cudnnSetRNNDataDescriptor, x.get(), CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED, s.T,
               s.B, s.I, cudnnLengths.data(), &paddingFill);
    CGRU_CUDNN(cudnnSetRNNDataDescriptor, y.get(), CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED, s.T,
               s.B, s.D * s.H, cudnnLengths.data(), &paddingFill);
    const int dims[3] = {s.slots(), s.B, s.H};
    const int strides[3] = {s.B * s.H, s.H, 1};
    CGRU_CUDNN(cudnnSetTensorNdDescriptor, h.get(), CUDNN_DATA_FLOAT, 3, dims, strides);
  }
};

std::unique_ptr<Storage> deviceStorage(size_t bytes) { return std::make_unique<Storage>(Device::Cuda, bytes); }

// cuDNN applies dropout only between layers, and we only in training (an inference plan gets a
// no-dropout descriptor, so that inference can never drop anything).
float effectiveDropout(const GruConfig& c, bool training) { return training && c.numLayers > 1 ? c.dropout : 0.0f; }

cudnnRNNMode_t cellMode(RnnMode mode) {
  switch (mode) {
    case RnnMode::Gru: return CUDNN_GRU;
    case RnnMode::Lstm: return CUDNN_LSTM;
    case RnnMode::RnnTanh: return CUDNN_RNN_TANH;
    case RnnMode::RnnRelu: return CUDNN_RNN_RELU;
  }
  throw ArgumentError("cuda rnn: unknown mode");
}

}  // namespace

// Lengths as the engine needs them: on the host, cuDNN's (0 clamped to 1) and the real ones;
// on the device, [cuDNN's B | real B] int32.
struct CudaGruEngine::Lengths {
  std::vector<int> real, clamped;
  bool ragged = false;    // some sample is shorter than T
  bool anyEmpty = false;  // some sample has length 0

  explicit Lengths(const GruForwardArgs& a) : real(gruLengths(a)), clamped(real) {
    for (int& v : clamped) {
      ragged = ragged || v < a.seqLen;
      anyEmpty = anyEmpty || v == 0;
      v = std::max(v, 1);
    }
  }
  std::vector<int32_t> deviceImage() const {
    std::vector<int32_t> out(clamped.begin(), clamped.end());
    out.insert(out.end(), real.begin(), real.end());
    return out;
  }
};

// What a training forward leaves for backward. Device memory goes through cgru::Storage so that
// memory() counts it.
class CudaGruEngine::Reserve final : public GruReserve {
 public:
  GruConfig config;
  int batch = 0, seqLen = 0;
  std::vector<int> lengths;
  cudnnRNNAlgo_t algo = CUDNN_RNN_ALGO_STANDARD;  // backward must run the forward's algorithm
  bool tf32 = false;
  // A backward ran on it. cuDNN's backward-data pass writes into the reserve space, so a second
  // backward through the same forward (retain) recomputes the forward instead.
  bool spent = false;
  std::unique_ptr<Storage> deviceLengths;  // [cuDNN's B | real B] int32
  std::unique_ptr<Storage> weights;        // the packed weight space the forward ran with
  std::unique_ptr<Storage> space;          // cuDNN's reserve space
  std::unique_ptr<Storage> maskedX;        // x with padded steps zeroed (only with ragged lengths)

  size_t bytes() const override {
    size_t n = 0;
    for (const auto* s : {&deviceLengths, &weights, &space, &maskedX})
      if (*s) n += (*s)->bytes();
    return n;
  }
};

CudaGruEngine::CudaGruEngine(CudaBackend& backend) : backend_(backend) {}
CudaGruEngine::~CudaGruEngine() = default;

void CudaGruEngine::prepareDropoutStates(uint64_t seed, float p) {
  cudnnHandle_t handle = backend_.cudnnHandle();
  if (!seedingDropout_) {
    size_t bytes = 0;
    CGRU_CUDNN(cudnnDropoutGetStatesSize, handle, &bytes);
    auto desc = std::make_unique<DropoutDescriptor>();
    DeviceBuffer states(backend_.allocator(), bytes), pristine(backend_.allocator(), bytes);
    seedingDropout_ = std::move(desc);
    dropoutStates_ = std::move(states);
    dropoutPristine_ = std::move(pristine);
    dropoutSeeded_ = false;
  }
  if (!dropoutSeeded_ || dropoutSeed_ != seed) {
    dropoutSeeded_ = false;
    CGRU_CUDNN(cudnnSetDropoutDescriptor, seedingDropout_->get(), handle, p, dropoutStates_.get(),
               dropoutStates_.bytes(), static_cast<unsigned long long>(seed));
    CGRU_CUDA(cudaMemcpyAsync(dropoutPristine_.get(), dropoutStates_.get(), dropoutStates_.bytes(),
                              cudaMemcpyDeviceToDevice, backend_.stream()));
    dropoutSeed_ = seed;
    dropoutSeeded_ = true;
    dropoutDirty_ = false;
  } else if (dropoutDirty_) {
    CGRU_CUDA(cudaMemcpyAsync(dropoutStates_.get(), dropoutPristine_.get(), dropoutStates_.bytes(),
                              cudaMemcpyDeviceToDevice, backend_.stream()));
    dropoutDirty_ = false;
  }
}

CudaGruEngine::PlanKey CudaGruEngine::planKey(const GruConfig& c, bool training, bool tf32, cudnnRNNAlgo_t algo) {
  const float p = effectiveDropout(c, training);
  uint32_t pBits = 0;
  std::memcpy(&pBits, &p, sizeof pBits);
  return PlanKey{static_cast<int>(c.mode), c.inputSize,    c.hiddenSize, c.numLayers, c.bidirectional,
                 pBits,                    tf32,           static_cast<int>(algo)};
}

void CudaGruEngine::rejectAlgo(const PlanKey& key) {
  rejected_.insert(key);
  plans_.erase(key);
  dropoutDirty_ = true;  // the refused attempt may have used the RNG state
}

cudnnRNNAlgo_t CudaGruEngine::chooseAlgo(const GruConfig& c, const Lengths& len, bool training) {
  const cudnnRNNAlgo_t want = requestedAlgo();
  if (want == CUDNN_RNN_ALGO_STANDARD || len.ragged) return CUDNN_RNN_ALGO_STANDARD;
  if (cudaReport().computeMajor < 6) return CUDNN_RNN_ALGO_STANDARD;
  if (want == CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H && c.hiddenSize > (training ? 128 : 192))
    return CUDNN_RNN_ALGO_STANDARD;
  return want;  // planFor() still says no where cuDNN refused it before
}

std::shared_ptr<CudaGruEngine::Plan> CudaGruEngine::planFor(const GruConfig& c, bool training, bool tf32,
                                                            cudnnRNNAlgo_t algo) {
  const PlanKey key = planKey(c, training, tf32, algo);
  if (rejected_.count(key)) return nullptr;
  auto found = plans_.find(key);
  if (found != plans_.end()) return found->second;
  if (plans_.size() >= kMaxPlans) plans_.clear();  // callers hold shared_ptrs to the plans they use

  cudnnHandle_t handle = backend_.cudnnHandle();
  const float p = effectiveDropout(c, training);
  auto plan = std::make_shared<Plan>();
  plan->algo = algo;
  if (p > 0.0f) {
    // The plan's descriptor shares the device's RNG state (re-seeding rewrites it in place).
    prepareDropoutStates(c.seed, p);
    CGRU_CUDNN(cudnnRestoreDropoutDescriptor, plan->dropout.get(), handle, p, dropoutStates_.get(),
               dropoutStates_.bytes(), static_cast<unsigned long long>(dropoutSeed_));
  } else {
    CGRU_CUDNN(cudnnSetDropoutDescriptor, plan->dropout.get(), handle, 0.0f, nullptr, 0, 0ULL);
  }

  try {
    CGRU_CUDNN_ALGO(algo, cudnnSetRNNDescriptor_v8, plan->rnn.get(), algo, cellMode(c.mode), CUDNN_RNN_DOUBLE_BIAS,
                    c.bidirectional ? CUDNN_BIDIRECTIONAL : CUDNN_UNIDIRECTIONAL, CUDNN_LINEAR_INPUT, CUDNN_DATA_FLOAT,
                    CUDNN_DATA_FLOAT, tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH, c.inputSize, c.hiddenSize,
                    /*projSize: none*/ c.hiddenSize, c.numLayers, plan->dropout.get(), CUDNN_RNN_PADDED_IO_ENABLED);
    CGRU_CUDNN_ALGO(algo, cudnnGetRNNWeightSpaceSize, handle, plan->rnn.get(), &plan->weightBytes);

    // Map the weight space once: cudnnGetRNNWeightParams gives addresses inside a real buffer;
    // their offsets hold for every buffer of this plan. The shapes are checked against ours.
    DeviceBuffer probe(backend_.allocator(), plan->weightBytes);
    plan->weightMap = mapWeightSpace(handle, plan->rnn.get(), c, plan->weightBytes, probe.get(),
                                     [algo](cudnnStatus_t status, const char* call) { checkAlgoCall(status, call, algo); });
  } catch (const AlgoRejected&) {
    rejectAlgo(key);
    return nullptr;
  }
  plans_.emplace(key, plan);
  return plan;
}

std::unique_ptr<GruReserve> CudaGruEngine::forward(const GruForwardArgs& a) {
  const GruDims s = checkGruForwardArgs(a, true);
  const Lengths len(a);
  backend_.makeCurrent();
  std::lock_guard<std::mutex> lock(mutex_);
  return forwardLocked(a, s, len, chooseAlgo(a.config, len, a.training));
}

std::unique_ptr<CudaGruEngine::Reserve> CudaGruEngine::forwardLocked(const GruForwardArgs& a, const GruDims& s,
                                                                     const Lengths& len, cudnnRNNAlgo_t algo,
                                                                     const Reserve* redo) {
  const bool tf32 = redo ? redo->tf32 : backend_.allowTF32();
  for (;;) {
    if (std::shared_ptr<Plan> plan = planFor(a.config, a.training, tf32, algo)) {
      try {
        return forwardAttempt(a, s, len, *plan, tf32, redo);
      } catch (const AlgoRejected&) {
        rejectAlgo(planKey(a.config, a.training, tf32, algo));
      }
    }
    // STANDARD is never refused (its errors throw cgru::Error), so this ends.
    algo = CUDNN_RNN_ALGO_STANDARD;
  }
}

std::unique_ptr<CudaGruEngine::Reserve> CudaGruEngine::forwardAttempt(const GruForwardArgs& a, const GruDims& s,
                                                                      const Lengths& len, const Plan& plan,
                                                                      bool tf32, const Reserve* redo) {
  const GruConfig& c = a.config;
  const cudnnRNNAlgo_t algo = plan.algo;
  cudaStream_t stream = backend_.stream();
  cudnnHandle_t handle = backend_.cudnnHandle();
  CachingAllocator& alloc = backend_.allocator();

  const bool dropout = effectiveDropout(c, a.training) > 0.0f;
  if (dropout) prepareDropoutStates(c.seed, c.dropout);
  const CallDescriptors desc(s, len.clamped);
  const cudnnForwardMode_t mode = a.training ? CUDNN_FWD_MODE_TRAINING : CUDNN_FWD_MODE_INFERENCE;
  size_t workBytes = 0, reserveBytes = 0;
  CGRU_CUDNN_ALGO(algo, cudnnGetRNNTempSpaceSizes, handle, plan.rnn.get(), mode, desc.x.get(), &workBytes,
                  &reserveBytes);

  // Buffers: owned by the reserve when training (they live until backward), else temporary.
  // With ragged lengths x is copied with its padded steps zeroed: cuDNN may run its input GEMMs
  // over whole rows, and 0·NaN from padding would reach the weight gradients. An empty sample
  // runs one cuDNN step on that zeroed input (cuDNN needs lengths >= 1); its outputs are fixed
  // up below.
  std::unique_ptr<Reserve> res;
  DeviceBuffer tmpLengths, tmpWeights, tmpX;
  int32_t* devLengths = nullptr;
  float* weights = nullptr;
  void* reserveSpace = nullptr;
  float* maskedX = nullptr;
  const size_t lengthBytes = 2 * static_cast<size_t>(s.B) * sizeof(int32_t);
  if (a.training) {
    res = std::make_unique<Reserve>();
    res->config = c;
    res->batch = s.B;
    res->seqLen = s.T;
    res->lengths = len.real;
    res->algo = algo;
    res->tf32 = tf32;
    res->deviceLengths = deviceStorage(lengthBytes);
    res->weights = deviceStorage(plan.weightBytes);
    res->space = deviceStorage(reserveBytes);
    if (len.ragged) res->maskedX = deviceStorage(s.xCount() * sizeof(float));
    devLengths = res->deviceLengths->as<int32_t>();
    weights = res->weights->as<float>();
    reserveSpace = res->space->mutableData();
    if (res->maskedX) maskedX = res->maskedX->as<float>();
  } else {
    tmpLengths = DeviceBuffer(alloc, lengthBytes);
    tmpWeights = DeviceBuffer(alloc, plan.weightBytes);
    if (len.ragged) tmpX = DeviceBuffer(alloc, s.xCount() * sizeof(float));
    devLengths = tmpLengths.as<int32_t>();
    weights = tmpWeights.as<float>();
    maskedX = tmpX.as<float>();
  }
  // cuDNN reads devSeqLengths asynchronously: it must be device memory that outlives the queued
  // work (the staging copy leaves `image` free at once; the buffer is stream-ordered).
  const int32_t* realLengths = devLengths + s.B;
  const std::vector<int32_t> image = len.deviceImage();
  backend_.copyFromHost(devLengths, image.data(), lengthBytes);

  // The weight-space layout does not depend on the algorithm (PyTorch flattens under STANDARD and
  // runs persistent algorithms on the same buffer), so a repeat after a persistent-algorithm
  // fallback still uses the original forward's weights; only the size must agree.
  if (redo && redo->weights->bytes() == plan.weightBytes) {
    CGRU_CUDA(cudaMemcpyAsync(weights, redo->weights->data(), plan.weightBytes, cudaMemcpyDeviceToDevice, stream));
  } else {
    if (plan.weightMap.gaps) CGRU_CUDA(cudaMemsetAsync(weights, 0, plan.weightBytes, stream));
    const auto pack = weightSegments(plan.weightMap, c, a.params, weights, /*intoSpace=*/true);
    checkLaunch(launchBatchedCopy(pack.data(), static_cast<int>(pack.size()), stream), "batchedCopy (pack weights)");
  }

  const float* x = a.x;
  if (maskedX) {
    CGRU_CUDA(cudaMemcpyAsync(maskedX, a.x, s.xCount() * sizeof(float), cudaMemcpyDeviceToDevice, stream));
    checkLaunch(launchZeroPaddedSteps(maskedX, realLengths, s.B, s.T, s.I, stream), "zeroPaddedSteps (x)");
    x = maskedX;
  }

  DeviceBuffer work(alloc, workBytes);
  if (dropout) dropoutDirty_ = true;  // before the call: even a failed one may have advanced the RNG state
  // The LSTM's cell state has the hidden state's shape (cDesc = hDesc); other modes take none.
  const bool cell = c.hasCellState();
  CGRU_CUDNN_ALGO(algo, cudnnRNNForward, handle, plan.rnn.get(), mode, devLengths, desc.x.get(), x, desc.y.get(), a.y,
                  desc.h.get(), a.h0, a.hN, desc.h.get(), cell ? a.c0 : nullptr, cell ? a.cN : nullptr,
                  plan.weightBytes, weights, workBytes, work.get(), a.training ? reserveBytes : 0, reserveSpace);

  // The contract: y is zero at t >= lengths[b]; an empty sample has y = 0 and hN = h0 (cN = c0).
  if (len.ragged) checkLaunch(launchZeroPaddedSteps(a.y, realLengths, s.B, s.T, s.D * s.H, stream), "zeroPaddedSteps (y)");
  if (len.anyEmpty) {
    checkLaunch(launchFillEmptySamples(a.hN, a.h0, realLengths, s.slots(), s.B, s.H, stream), "fillEmptySamples (hN)");
    if (cell)
      checkLaunch(launchFillEmptySamples(a.cN, a.c0, realLengths, s.slots(), s.B, s.H, stream), "fillEmptySamples (cN)");
  }
  return res;
}

void CudaGruEngine::backward(const GruForwardArgs& a, GruReserve& reserve, const GruBackwardArgs& g) {
  // Backward needs the forward's y (cuDNN reads it) but not its hN, which callers need not pass.
  const GruDims s = checkGruForwardArgs(a, false);
  const GruConfig& c = a.config;
  const std::string fn = std::string(rnnModeName(c.mode)) + " backward";
  if (!a.y) throw ArgumentError(fn + ": the forward's output y must be given");
  auto* res = dynamic_cast<Reserve*>(&reserve);
  if (!res) throw ArgumentError(fn + ": the training state was not made by the CUDA engine");
  const Lengths len(a);
  if (res->batch != s.B || res->seqLen != s.T || !sameTrainingConfig(res->config, c))
    throw ArgumentError(fn + ": the configuration differs from the training forward's");
  if (res->lengths != len.real) throw ArgumentError(fn + ": lengths differ from the training forward's");
  const size_t slots = static_cast<size_t>(c.numSlots());
  const auto& p = g.dParams;
  if (!g.dh0 || (c.hasCellState() && !g.dc0) || p.wIh.size() != slots || p.wHh.size() != slots ||
      p.bIh.size() != slots || p.bHh.size() != slots)
    throw ArgumentError(fn + ": dh0 (dc0 for an LSTM) and every parameter gradient must be given");
  for (size_t i = 0; i < slots; ++i)
    if (!p.wIh[i] || !p.wHh[i] || !p.bIh[i] || !p.bHh[i])
      throw ArgumentError(fn + ": a parameter gradient pointer is null");

  backend_.makeCurrent();
  std::lock_guard<std::mutex> lock(mutex_);
  CachingAllocator& alloc = backend_.allocator();
  cudnnRNNAlgo_t algo = res->algo;
  bool useReserve = !res->spent;
  for (;;) {
    try {
      if (useReserve) {
        backwardAttempt(a, s, len, *res, g);
        return;
      }
      // A fresh forward (same inputs, the forward's packed weights and maths, same dropout masks)
      // into temporaries: the reserve was already used by a backward, or cuDNN refused its
      // persistent algorithm in backward.
      DeviceBuffer y(alloc, s.yCount() * sizeof(float)), hN(alloc, s.hCount() * sizeof(float));
      DeviceBuffer cN;
      if (c.hasCellState()) cN = DeviceBuffer(alloc, s.hCount() * sizeof(float));
      GruForwardArgs f = a;
      f.training = true;
      f.y = y.as<float>();
      f.hN = hN.as<float>();
      f.cN = cN.as<float>();
      const std::unique_ptr<Reserve> fresh = forwardLocked(f, s, len, algo, res);
      backwardAttempt(f, s, len, *fresh, g);
      return;
    } catch (const AlgoRejected&) {
      // backwardAttempt() recorded the refusal; STANDARD is never refused, so this ends.
      algo = CUDNN_RNN_ALGO_STANDARD;
      useReserve = false;
    }
  }
}

void CudaGruEngine::backwardAttempt(const GruForwardArgs& a, const GruDims& s, const Lengths& len, Reserve& res,
                                    const GruBackwardArgs& g) {
  const GruConfig& c = a.config;
  const cudnnRNNAlgo_t algo = res.algo;
  cudaStream_t stream = backend_.stream();
  cudnnHandle_t handle = backend_.cudnnHandle();
  CachingAllocator& alloc = backend_.allocator();
  try {
    // The forward's plan: the same algorithm (cuDNN: do not mix algorithms within one training
    // step) and maths, whatever setAllowTF32 says now.
    const std::shared_ptr<Plan> plan = planFor(c, /*training=*/true, res.tf32, algo);
    if (!plan) throw AlgoRejected{};
    const CallDescriptors desc(s, len.clamped);
    size_t workBytes = 0, reserveBytes = 0;
    CGRU_CUDNN_ALGO(algo, cudnnGetRNNTempSpaceSizes, handle, plan->rnn.get(), CUDNN_FWD_MODE_TRAINING, desc.x.get(),
                    &workBytes, &reserveBytes);
    if (reserveBytes != res.space->bytes() || plan->weightBytes != res.weights->bytes())
      throw Error("cuda gru backward: cuDNN's reserve or weight space size changed since the forward");
    const int32_t* devLengths = res.deviceLengths->as<int32_t>();
    const int32_t* realLengths = devLengths + s.B;

    // dy: zeros when not given; with ragged lengths a copy whose padded steps (and the whole of
    // every empty sample) are zero, so nothing there reaches any gradient.
    const size_t yBytes = s.yCount() * sizeof(float);
    DeviceBuffer dyBuf;
    const float* dy = g.dy;
    if (!dy) {
      dyBuf = DeviceBuffer(alloc, yBytes);
      CGRU_CUDA(cudaMemsetAsync(dyBuf.get(), 0, yBytes, stream));
      dy = dyBuf.as<float>();
    } else if (len.ragged) {
      dyBuf = DeviceBuffer(alloc, yBytes);
      CGRU_CUDA(cudaMemcpyAsync(dyBuf.get(), g.dy, yBytes, cudaMemcpyDeviceToDevice, stream));
      checkLaunch(launchZeroPaddedSteps(dyBuf.as<float>(), realLengths, s.B, s.T, s.D * s.H, stream),
                  "zeroPaddedSteps (dy)");
      dy = dyBuf.as<float>();
    }
    // dhN (and dcN): an empty sample's one cuDNN step must get no cotangent (its dh0 and dc0 are
    // set to dhN and dcN below).
    auto withoutEmptySamples = [&](const float* cotangent, DeviceBuffer& copy, const char* what) {
      if (!cotangent || !len.anyEmpty) return cotangent;
      const size_t hBytes = s.hCount() * sizeof(float);
      copy = DeviceBuffer(alloc, hBytes);
      CGRU_CUDA(cudaMemcpyAsync(copy.get(), cotangent, hBytes, cudaMemcpyDeviceToDevice, stream));
      checkLaunch(launchFillEmptySamples(copy.as<float>(), nullptr, realLengths, s.slots(), s.B, s.H, stream), what);
      return static_cast<const float*>(copy.as<float>());
    };
    const bool cell = c.hasCellState();
    DeviceBuffer dhNBuf, dcNBuf;
    const float* dhN = withoutEmptySamples(g.dhN, dhNBuf, "fillEmptySamples (dhN)");
    const float* dcN = cell ? withoutEmptySamples(g.dcN, dcNBuf, "fillEmptySamples (dcN)") : nullptr;

    // cuDNN always computes dx: without a caller's buffer it goes to a temporary.
    DeviceBuffer dxBuf;
    float* dx = g.dx;
    if (!dx) {
      dxBuf = DeviceBuffer(alloc, s.xCount() * sizeof(float));
      dx = dxBuf.as<float>();
    }
    DeviceBuffer work(alloc, workBytes);
    float* weights = res.weights->as<float>();
    res.spent = true;  // before the call: cuDNN writes into the reserve space
    CGRU_CUDNN_ALGO(algo, cudnnRNNBackwardData_v8, handle, plan->rnn.get(), devLengths, desc.y.get(), a.y, dy,
                    desc.x.get(), dx, desc.h.get(), a.h0, dhN, g.dh0, desc.h.get(), cell ? a.c0 : nullptr, dcN,
                    cell ? g.dc0 : nullptr, plan->weightBytes, weights, workBytes, work.get(), reserveBytes,
                    res.space->mutableData());

    // Weight gradients: ADD (the only mode cudnnRNNBackwardWeights_v8 supports) into a zeroed
    // buffer, after backward data (it reads what that pass left in the reserve space).
    DeviceBuffer dWeights(alloc, plan->weightBytes);
    CGRU_CUDA(cudaMemsetAsync(dWeights.get(), 0, plan->weightBytes, stream));
    const float* x = res.maskedX ? res.maskedX->as<float>() : a.x;
    CGRU_CUDNN_ALGO(algo, cudnnRNNBackwardWeights_v8, handle, plan->rnn.get(), CUDNN_WGRAD_MODE_ADD, devLengths,
                    desc.x.get(), x, desc.h.get(), a.h0, desc.y.get(), a.y, plan->weightBytes, dWeights.get(),
                    workBytes, work.get(), reserveBytes, res.space->mutableData());

    if (len.ragged && g.dx) checkLaunch(launchZeroPaddedSteps(g.dx, realLengths, s.B, s.T, s.I, stream), "zeroPaddedSteps (dx)");
    if (len.anyEmpty) {
      checkLaunch(launchFillEmptySamples(g.dh0, g.dhN, realLengths, s.slots(), s.B, s.H, stream),
                  "fillEmptySamples (dh0)");
      if (cell)
        checkLaunch(launchFillEmptySamples(g.dc0, g.dcN, realLengths, s.slots(), s.B, s.H, stream),
                    "fillEmptySamples (dc0)");
    }
    const auto unpack = weightSegments(plan->weightMap, c, g.dParams, dWeights.as<float>(), /*intoSpace=*/false);
    checkLaunch(launchBatchedCopy(unpack.data(), static_cast<int>(unpack.size()), stream), "batchedCopy (unpack grads)");
  } catch (const AlgoRejected&) {
    rejectAlgo(planKey(c, /*training=*/true, res.tf32, algo));
    throw;
  }
}

std::unique_ptr<GruEngine> makeGruEngine(CudaBackend& backend) { return std::make_unique<CudaGruEngine>(backend); }

}  // namespace cgru::cuda
