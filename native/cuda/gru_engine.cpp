#include "cuda/gru_engine.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/errors.h"
#include "core/gru_checks.h"
#include "core/storage.h"
#include "cuda/check.h"
#include "cuda/cuda_backend.h"
#include "cuda/kernels.h"

// Algorithm: CUDNN_RNN_ALGO_STANDARD. CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H keeps the recurrent
// weights in registers and may be faster for small hidden sizes (H <= 128 or so) with uniform
// lengths; it must be measured on a GPU before it is chosen (it was not: this code was written
// in a session without one).

namespace cgru::cuda {
namespace {

constexpr size_t kMaxPlans = 64;

void checkLaunch(cudaError_t status, const char* kernel) { checkCuda(status, kernel); }

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

// Lengths as the engine needs them: on the host, cuDNN's (0 clamped to 1) and the real ones;
// on the device, [cuDNN's B | real B] int32.
struct Lengths {
  std::vector<int> real, clamped;
  bool ragged = false;    // some sample is shorter than T
  bool anyEmpty = false;  // some sample has length 0

  explicit Lengths(std::vector<int> r) : real(std::move(r)), clamped(real) {
    for (int& v : clamped) {
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

Lengths makeLengths(const GruForwardArgs& a) {
  Lengths l(gruLengths(a));
  l.ragged = std::any_of(l.real.begin(), l.real.end(), [&](int v) { return v < a.seqLen; });
  return l;
}

// Copies canonical tensors into (pack) or out of (unpack) cuDNN's weight space, as few
// segments as possible in one kernel launch.
template <typename Src>
std::vector<CopySegment> weightSegments(const CudaGruEngine::Plan& plan, const GruConfig& c, const GruParamSet<Src>& p,
                                        float* space, bool intoSpace) {
  std::vector<CopySegment> segs;
  const size_t H = static_cast<size_t>(c.hiddenSize);
  auto add = [&](Src* canonical, const CudaGruEngine::WeightSlice& slice) {
    float* inSpace = space + slice.offset;
    CopySegment s = intoSpace ? CopySegment{canonical, inSpace, slice.count}
                              : CopySegment{inSpace, const_cast<float*>(canonical), slice.count};
    if (!segs.empty()) {
      CopySegment& last = segs.back();
      if (last.src + last.count == s.src && last.dst + last.count == s.dst) {
        last.count += s.count;
        return;
      }
    }
    segs.push_back(s);
  };
  for (int slot = 0; slot < c.numSlots(); ++slot) {
    const size_t in = static_cast<size_t>(c.layerInputSize(slot / c.numDirections()));
    const size_t si = static_cast<size_t>(slot);
    for (int g = 0; g < 3; ++g) add(p.wIh[si] + g * H * in, plan.matrix[si][g]);
    for (int g = 0; g < 3; ++g) add(p.wHh[si] + g * H * H, plan.matrix[si][3 + g]);
    for (int g = 0; g < 3; ++g) add(p.bIh[si] + g * H, plan.bias[si][g]);
    for (int g = 0; g < 3; ++g) add(p.bHh[si] + g * H, plan.bias[si][3 + g]);
  }
  return segs;
}

// What a training forward leaves for backward. Device memory goes through cgru::Storage so that
// memory() counts it.
class CudaGruReserve final : public GruReserve {
 public:
  GruConfig config;
  int batch = 0, seqLen = 0;
  std::vector<int> lengths;
  std::unique_ptr<Storage> deviceLengths;  // [cuDNN's B | real B] int32
  std::unique_ptr<Storage> weights;        // the packed weight space the forward ran with
  std::unique_ptr<Storage> space;          // cuDNN's reserve space
  std::unique_ptr<Storage> maskedX;        // x with empty samples zeroed (only when some length is 0)

  size_t bytes() const override {
    size_t n = 0;
    for (const auto* s : {&deviceLengths, &weights, &space, &maskedX})
      if (*s) n += (*s)->bytes();
    return n;
  }
};

std::unique_ptr<Storage> deviceStorage(size_t bytes) { return std::make_unique<Storage>(Device::Cuda, bytes); }

}  // namespace

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

CudaGruEngine::Plan& CudaGruEngine::planFor(const GruConfig& c) {
  const bool tf32 = allowTF32_.load();
  // cuDNN applies dropout only between layers; with one layer the probability is irrelevant.
  const float p = c.numLayers > 1 ? c.dropout : 0.0f;
  uint32_t pBits = 0;
  std::memcpy(&pBits, &p, sizeof pBits);
  const PlanKey key{c.inputSize, c.hiddenSize, c.numLayers, c.bidirectional, pBits, tf32};
  auto found = plans_.find(key);
  if (found != plans_.end()) return *found->second;
  if (plans_.size() >= kMaxPlans) plans_.clear();

  cudnnHandle_t handle = backend_.cudnnHandle();
  auto plan = std::make_unique<Plan>();
  if (p > 0.0f) {
    // The plan's descriptor shares the device's RNG state (re-seeding rewrites it in place).
    prepareDropoutStates(c.seed, p);
    CGRU_CUDNN(cudnnRestoreDropoutDescriptor, plan->dropout.get(), handle, p, dropoutStates_.get(),
               dropoutStates_.bytes(), static_cast<unsigned long long>(dropoutSeed_));
  } else {
    CGRU_CUDNN(cudnnSetDropoutDescriptor, plan->dropout.get(), handle, 0.0f, nullptr, 0, 0ULL);
  }
  CGRU_CUDNN(cudnnSetRNNDescriptor_v8, plan->rnn.get(), CUDNN_RNN_ALGO_STANDARD, CUDNN_GRU, CUDNN_RNN_DOUBLE_BIAS,
             c.bidirectional ? CUDNN_BIDIRECTIONAL : CUDNN_UNIDIRECTIONAL, CUDNN_LINEAR_INPUT, CUDNN_DATA_FLOAT,
             CUDNN_DATA_FLOAT, tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH, c.inputSize, c.hiddenSize,
             /*projSize: none*/ c.hiddenSize, c.numLayers, plan->dropout.get(), CUDNN_RNN_PADDED_IO_ENABLED);
  CGRU_CUDNN(cudnnGetRNNWeightSpaceSize, handle, plan->rnn.get(), &plan->weightBytes);

  // Map the weight space once: cudnnGetRNNWeightParams gives addresses inside a real buffer;
  // their offsets hold for every buffer of this plan. The shapes are checked against ours.
  DeviceBuffer probe(backend_.allocator(), plan->weightBytes);
  TensorDescriptor mDesc, bDesc;
  const char* base = static_cast<const char*>(probe.get());
  const size_t H = static_cast<size_t>(c.hiddenSize);
  auto sliceOf = [&](const TensorDescriptor& desc, void* addr, size_t expected, int slot, int id, const char* what) {
    cudnnDataType_t type{};
    int nbDims = 0, dims[3] = {0, 0, 0}, strides[3] = {0, 0, 0};
    CGRU_CUDNN(cudnnGetTensorNdDescriptor, desc.get(), 3, &type, &nbDims, dims, strides);
    size_t count = 1;
    for (int i = 0; i < std::min(nbDims, 3); ++i) count *= static_cast<size_t>(dims[i]);
    const std::ptrdiff_t offsetBytes = static_cast<const char*>(addr) - base;
    if (type != CUDNN_DATA_FLOAT || nbDims > 3 || count != expected || offsetBytes < 0 ||
        offsetBytes % static_cast<std::ptrdiff_t>(sizeof(float)) != 0 ||
        static_cast<size_t>(offsetBytes) + count * sizeof(float) > plan->weightBytes)
      throw Error("cuda gru: cuDNN's weight layout is not the expected one (pseudo-layer " + std::to_string(slot) +
                  ", linLayerID " + std::to_string(id) + " " + what + ": " + std::to_string(count) + " floats at byte " +
                  std::to_string(offsetBytes) + ", expected " + std::to_string(expected) + " floats)");
    return WeightSlice{static_cast<size_t>(offsetBytes) / sizeof(float), count};
  };
  const int slots = c.numSlots();
  plan->matrix.resize(static_cast<size_t>(slots));
  plan->bias.resize(static_cast<size_t>(slots));
  for (int slot = 0; slot < slots; ++slot) {
    const size_t in = static_cast<size_t>(c.layerInputSize(slot / c.numDirections()));
    for (int id = 0; id < 6; ++id) {
      void* mAddr = nullptr;
      void* bAddr = nullptr;
      CGRU_CUDNN(cudnnGetRNNWeightParams, handle, plan->rnn.get(), slot, plan->weightBytes, probe.get(), id,
                 mDesc.get(), &mAddr, bDesc.get(), &bAddr);
      const size_t si = static_cast<size_t>(slot), sid = static_cast<size_t>(id);
      plan->matrix[si][sid] = sliceOf(mDesc, mAddr, H * (id < 3 ? in : H), slot, id, "matrix");
      plan->bias[si][sid] = sliceOf(bDesc, bAddr, H, slot, id, "bias");
    }
  }
  Plan& ref = *plan;
  plans_.emplace(key, std::move(plan));
  return ref;
}

std::unique_ptr<GruReserve> CudaGruEngine::forward(const GruForwardArgs& a) {
  const GruDims s = checkGruForwardArgs(a, true);
  const Lengths len = makeLengths(a);
  const GruConfig& c = a.config;
  backend_.makeCurrent();
  std::lock_guard<std::mutex> lock(mutex_);
  cudaStream_t stream = backend_.stream();
  cudnnHandle_t handle = backend_.cudnnHandle();
  CachingAllocator& alloc = backend_.allocator();

  Plan& plan = planFor(c);
  const bool dropout = a.training && c.dropout > 0.0f && c.numLayers > 1;
  if (dropout) prepareDropoutStates(c.seed, c.dropout);
  const CallDescriptors desc(s, len.clamped);
  const cudnnForwardMode_t mode = a.training ? CUDNN_FWD_MODE_TRAINING : CUDNN_FWD_MODE_INFERENCE;
  size_t workBytes = 0, reserveBytes = 0;
  CGRU_CUDNN(cudnnGetRNNTempSpaceSizes, handle, plan.rnn.get(), mode, desc.x.get(), &workBytes, &reserveBytes);

  // Buffers: owned by the reserve when training (they live until backward), else temporary.
  std::unique_ptr<CudaGruReserve> res;
  DeviceBuffer tmpLengths, tmpWeights, tmpX;
  int32_t* devLengths = nullptr;
  float* weights = nullptr;
  void* reserveSpace = nullptr;
  float* maskedX = nullptr;
  const size_t lengthBytes = 2 * static_cast<size_t>(s.B) * sizeof(int32_t);
  if (a.training) {
    res = std::make_unique<CudaGruReserve>();
    res->config = c;
    res->batch = s.B;
    res->seqLen = s.T;
    res->lengths = len.real;
    res->deviceLengths = deviceStorage(lengthBytes);
    res->weights = deviceStorage(plan.weightBytes);
    res->space = deviceStorage(reserveBytes);
    if (len.anyEmpty) res->maskedX = deviceStorage(s.xCount() * sizeof(float));
    devLengths = res->deviceLengths->as<int32_t>();
    weights = res->weights->as<float>();
    reserveSpace = res->space->data();
    if (res->maskedX) maskedX = res->maskedX->as<float>();
  } else {
    tmpLengths = DeviceBuffer(alloc, lengthBytes);
    tmpWeights = DeviceBuffer(alloc, plan.weightBytes);
    if (len.anyEmpty) tmpX = DeviceBuffer(alloc, s.xCount() * sizeof(float));
    devLengths = tmpLengths.as<int32_t>();
    weights = tmpWeights.as<float>();
    maskedX = tmpX.as<float>();
  }
  const int32_t* realLengths = devLengths + s.B;
  const std::vector<int32_t> image = len.deviceImage();
  backend_.uploadAsync(devLengths, image.data(), lengthBytes);

  const auto pack = weightSegments(plan, c, a.params, weights, /*intoSpace=*/true);
  checkLaunch(launchBatchedCopy(pack.data(), static_cast<int>(pack.size()), stream), "batchedCopy (pack weights)");

  // cuDNN needs lengths >= 1, so an empty sample runs one step on a zeroed input (so that not
  // even a NaN in its padding reaches the weight gradients); its outputs are fixed up below.
  const float* x = a.x;
  if (maskedX) {
    CGRU_CUDA(cudaMemcpyAsync(maskedX, a.x, s.xCount() * sizeof(float), cudaMemcpyDeviceToDevice, stream));
    checkLaunch(launchZeroPaddedSteps(maskedX, realLengths, s.B, s.T, s.I, stream), "zeroPaddedSteps (x)");
    x = maskedX;
  }

  DeviceBuffer work(alloc, workBytes);
  CGRU_CUDNN(cudnnRNNForward, handle, plan.rnn.get(), mode, devLengths, desc.x.get(), x, desc.y.get(), a.y,
             desc.h.get(), a.h0, a.hN, /*cDesc (LSTM only)*/ desc.h.get(), nullptr, nullptr, plan.weightBytes, weights,
             workBytes, work.get(), a.training ? reserveBytes : 0, reserveSpace);
  if (dropout) dropoutDirty_ = true;

  // The contract: y is zero at t >= lengths[b]; an empty sample has y = 0 and hN = h0.
  if (len.ragged) checkLaunch(launchZeroPaddedSteps(a.y, realLengths, s.B, s.T, s.D * s.H, stream), "zeroPaddedSteps (y)");
  if (len.anyEmpty)
    checkLaunch(launchFillEmptySamples(a.hN, a.h0, realLengths, s.slots(), s.B, s.H, stream), "fillEmptySamples (hN)");
  return res;
}

void CudaGruEngine::backward(const GruForwardArgs& a, GruReserve& reserve, const GruBackwardArgs& g) {
  const GruDims s = checkGruForwardArgs(a, true);
  auto* res = dynamic_cast<CudaGruReserve*>(&reserve);
  if (!res) throw ArgumentError("gru backward: the training state was not made by the CUDA engine");
  const Lengths len = makeLengths(a);
  const GruConfig& c = a.config;
  if (res->batch != s.B || res->seqLen != s.T || res->config.inputSize != c.inputSize ||
      res->config.hiddenSize != c.hiddenSize || res->config.numLayers != c.numLayers ||
      res->config.bidirectional != c.bidirectional || res->config.dropout != c.dropout || res->config.seed != c.seed)
    throw ArgumentError("gru backward: the configuration differs from the training forward's");
  if (res->lengths != len.real) throw ArgumentError("gru backward: lengths differ from the training forward's");
  const size_t slots = static_cast<size_t>(c.numSlots());
  const auto& p = g.dParams;
  if (!g.dx || !g.dh0 || p.wIh.size() != slots || p.wHh.size() != slots || p.bIh.size() != slots ||
      p.bHh.size() != slots)
    throw ArgumentError("gru backward: dx, dh0 and every parameter gradient must be given");
  for (size_t i = 0; i < slots; ++i)
    if (!p.wIh[i] || !p.wHh[i] || !p.bIh[i] || !p.bHh[i])
      throw ArgumentError("gru backward: a parameter gradient pointer is null");

  backend_.makeCurrent();
  std::lock_guard<std::mutex> lock(mutex_);
  cudaStream_t stream = backend_.stream();
  cudnnHandle_t handle = backend_.cudnnHandle();
  CachingAllocator& alloc = backend_.allocator();

  Plan& plan = planFor(c);
  const CallDescriptors desc(s, len.clamped);
  size_t workBytes = 0, reserveBytes = 0;
  CGRU_CUDNN(cudnnGetRNNTempSpaceSizes, handle, plan.rnn.get(), CUDNN_FWD_MODE_TRAINING, desc.x.get(), &workBytes,
             &reserveBytes);
  if (reserveBytes != res->space->bytes() || plan.weightBytes != res->weights->bytes())
    throw Error("cuda gru backward: cuDNN's reserve or weight space size changed since the forward");
  const int32_t* devLengths = res->deviceLengths->as<int32_t>();
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
    checkLaunch(launchZeroPaddedSteps(dyBuf.as<float>(), realLengths, s.B, s.T, s.D * s.H, stream), "zeroPaddedSteps (dy)");
    dy = dyBuf.as<float>();
  }
  // dhN: an empty sample's one cuDNN step must get no cotangent (its dh0 is set to dhN below).
  DeviceBuffer dhNBuf;
  const float* dhN = g.dhN;
  if (dhN && len.anyEmpty) {
    const size_t hBytes = s.hCount() * sizeof(float);
    dhNBuf = DeviceBuffer(alloc, hBytes);
    CGRU_CUDA(cudaMemcpyAsync(dhNBuf.get(), g.dhN, hBytes, cudaMemcpyDeviceToDevice, stream));
    checkLaunch(launchFillEmptySamples(dhNBuf.as<float>(), nullptr, realLengths, s.slots(), s.B, s.H, stream),
                "fillEmptySamples (dhN)");
    dhN = dhNBuf.as<float>();
  }

  DeviceBuffer work(alloc, workBytes);
  float* weights = res->weights->as<float>();
  CGRU_CUDNN(cudnnRNNBackwardData_v8, handle, plan.rnn.get(), devLengths, desc.y.get(), a.y, dy, desc.x.get(), g.dx,
             desc.h.get(), a.h0, dhN, g.dh0, /*cDesc (LSTM only)*/ desc.h.get(), nullptr, nullptr, nullptr,
             plan.weightBytes, weights, workBytes, work.get(), reserveBytes, res->space->data());
  if (len.ragged) checkLaunch(launchZeroPaddedSteps(g.dx, realLengths, s.B, s.T, s.I, stream), "zeroPaddedSteps (dx)");
  if (len.anyEmpty)
    checkLaunch(launchFillEmptySamples(g.dh0, g.dhN, realLengths, s.slots(), s.B, s.H, stream), "fillEmptySamples (dh0)");

  // Weight gradients: ADD into a zeroed buffer, then out to the canonical tensors.
  DeviceBuffer dWeights(alloc, plan.weightBytes);
  CGRU_CUDA(cudaMemsetAsync(dWeights.get(), 0, plan.weightBytes, stream));
  const float* x = res->maskedX ? res->maskedX->as<float>() : a.x;
  CGRU_CUDNN(cudnnRNNBackwardWeights_v8, handle, plan.rnn.get(), CUDNN_WGRAD_MODE_ADD, devLengths, desc.x.get(), x,
             desc.h.get(), a.h0, desc.y.get(), a.y, plan.weightBytes, dWeights.get(), workBytes, work.get(),
             reserveBytes, res->space->data());
  const auto unpack = weightSegments(plan, c, g.dParams, dWeights.as<float>(), /*intoSpace=*/false);
  checkLaunch(launchBatchedCopy(unpack.data(), static_cast<int>(unpack.size()), stream), "batchedCopy (unpack grads)");
}

std::unique_ptr<GruEngine> makeGruEngine(CudaBackend& backend) { return std::make_unique<CudaGruEngine>(backend); }

}  // namespace cgru::cuda
