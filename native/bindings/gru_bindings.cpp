// Recurrent networks (GRU, LSTM, simple RNN) forward/backward for JS, dispatched to the tensors'
// device's engine (backend.gru(), whose contract covers every mode).
//
//   rnnForward(config, x, h0|null, lengths|null, params[], training, c0|null)
//     -> { y, hN, cN?, reserve?, reserveBytes? }
//   rnnBackward(config, x, h0|null, lengths|null, params[], reserve, dy|null, dhN|null, retain?,
//               c0|null, dcN|null, inputGradient?) -> { dx|null, dh0, dc0?, dParams[] }
//   (inputGradient false: no dx, and the CPU engine skips layer 0's dX GEMM)
//   rnnReserveFree(reserve) -> boolean (true when this call released memory; idempotent)
//   gruForward, gruBackward, gruReserveFree: the same for config.mode 'gru' only.
//
// config = { mode?, inputSize, hiddenSize, numLayers, bidirectional, dropout, seed, batch, seqLen }
// with mode 'gru' (default), 'lstm', 'rnn_tanh' or 'rnn_relu'; c0, cN, dcN and dc0 are the LSTM's.
// params: per layer, per direction: W_ih, W_hh, b_ih, b_hh (PyTorch's canonical order).
// The reserve (training state) is a type-tagged handle; a backward consumes and frees it unless
// `retain` is true. It also holds a reference to the forward's y buffer (the engine contract lets
// backward read it), so y's memory lives until the reserve is consumed or freed.
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "bindings/args.h"
#include "bindings/handles.h"
#include "bindings/register.h"
#include "core/backend.h"
#include "core/errors.h"
#include "core/gru_checks.h"

namespace cgru::bindings {
namespace {

constexpr napi_type_tag kGruReserveTag = {0x6367727552657365ULL, 0x7276654772750001ULL};

struct ReserveHandle {
  std::unique_ptr<GruReserve> reserve;  // null once consumed by a backward without retain
  StoragePtr y;                         // the forward's output, which backward reads (cuDNN)
  size_t bytes = 0;
  Device device = Device::Cpu;
  GruConfig config;
  int batch = 0, seqLen = 0;
};

std::string shapeText(std::initializer_list<int64_t> dims) {
  std::string s = "[";
  for (int64_t d : dims) s += (s.size() > 1 ? ", " : "") + std::to_string(d);
  return s + "]";
}

int64_t product(std::initializer_list<int64_t> dims) {
  int64_t p = 1;
  for (int64_t d : dims) p *= d;
  return p;
}

// An argument's name in error messages, spelled out only when one is thrown: building the
// parameters' names ("params[4] (weight_ih_l1)") and shape texts on every call took ~2 µs of a
// batch-1 forward.
class ArgName {
 public:
  ArgName(const char* name) : name_(name) {}  // NOLINT: names are mostly literals
  ArgName(std::string name) : owned_(std::move(name)) {}  // NOLINT
  // params[index] (weight_ih_l0, or …_reverse): kind 0-3 = W_ih, W_hh, b_ih, b_hh.
  static ArgName param(uint32_t index, uint32_t kind, int layer, bool reverse) {
    ArgName n(nullptr);
    n.param_ = {index, kind, layer, reverse};
    return n;
  }
  std::string str() const {
    if (name_) return name_;
    if (!param_.isParam) return owned_;
    static const char* kKinds[] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    return "params[" + std::to_string(param_.index) + "] (" + kKinds[param_.kind] + "_l" + std::to_string(param_.layer) +
           (param_.reverse ? "_reverse" : "") + ")";
  }

 private:
  struct Param {
    uint32_t index = 0, kind = 0;
    int layer = 0;
    bool reverse = false;
    bool isParam = false;
    Param() = default;
    Param(uint32_t i, uint32_t k, int l, bool r) : index(i), kind(k), layer(l), reverse(r), isParam(true) {}
  };
  const char* name_ = nullptr;
  std::string owned_;
  Param param_;
};

// The named shape of parameter kind k (0-3 as in ArgName::param) of a cell with G gates.
const char* paramShapeNames(int64_t G, uint32_t k) {
  static const char* kNames[3][3] = {
      {"[hiddenSize, inputWidth]", "[hiddenSize, hiddenSize]", "[hiddenSize]"},
      {"[3·hiddenSize, inputWidth]", "[3·hiddenSize, hiddenSize]", "[3·hiddenSize]"},
      {"[4·hiddenSize, inputWidth]", "[4·hiddenSize, hiddenSize]", "[4·hiddenSize]"},
  };
  return kNames[G == 1 ? 0 : G == 3 ? 1 : 2][std::min<uint32_t>(k, 2)];
}

// Positions of the LSTM-only arguments.
constexpr size_t kForwardC0 = 6, kBackwardC0 = 9, kBackwardDcN = 10, kBackwardInputGradient = 11;

class GruCall {
 public:
  // gruOnly: the gru* bindings, which refuse any other config.mode.
  GruCall(const Napi::CallbackInfo& info, const char* function, bool gruOnly)
      : info_(info), args_(info, function), fn_(function), gruOnly_(gruOnly) {}

  Args& args() { return args_; }
  Napi::Env env() const { return info_.Env(); }

  [[noreturn]] void typeError(const ArgName& name, const std::string& message) const {
    throw Napi::TypeError::New(env(), fn_ + ": argument '" + name.str() + "' " + message);
  }
  [[noreturn]] void rangeError(const ArgName& name, const std::string& message) const {
    throw Napi::RangeError::New(env(), fn_ + ": argument '" + name.str() + "' " + message);
  }

  // ---- config fields
  int64_t field(const Napi::Object& o, const char* key, int64_t min, int64_t max) const {
    return args_.integerField(o.Get(key), "config", key, min, max);
  }
  bool flag(const Napi::Object& o, const char* key) const {
    const Napi::Value v = o.Get(key);
    if (v.IsUndefined()) return false;
    if (!v.IsBoolean()) typeError(std::string("config.") + key, "must be a boolean, got " + Args::describe(v));
    return v.As<Napi::Boolean>().Value();
  }

  RnnMode readMode(const Napi::Object& o) const {
    const Napi::Value v = o.Get("mode");
    if (v.IsUndefined()) return RnnMode::Gru;
    const std::string name = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
    for (RnnMode m : {RnnMode::Gru, RnnMode::Lstm, RnnMode::RnnTanh, RnnMode::RnnRelu}) {
      if (name != rnnModeName(m)) continue;
      if (gruOnly_ && m != RnnMode::Gru)
        typeError("config.mode", "must be 'gru' for " + fn_ + " (use the rnn* bindings for other modes), got " +
                                     Args::describe(v));
      return m;
    }
    typeError("config.mode", "must be one of 'gru', 'lstm', 'rnn_tanh', 'rnn_relu', got " + Args::describe(v));
  }

  void readConfig(size_t i) {
    Napi::Object o = args_.object(i, "config");
    config.mode = readMode(o);
    config.inputSize = static_cast<int>(field(o, "inputSize", 1, 1 << 24));
    config.hiddenSize = static_cast<int>(field(o, "hiddenSize", 1, 1 << 24));
    config.numLayers = static_cast<int>(field(o, "numLayers", 1, 1 << 16));
    config.bidirectional = flag(o, "bidirectional");
    const Napi::Value dv = o.Get("dropout");
    double dropout = 0.0;
    if (!dv.IsUndefined()) {
      if (!dv.IsNumber()) typeError("config.dropout", "must be a number in [0, 1), got " + Args::describe(dv));
      dropout = dv.As<Napi::Number>().DoubleValue();
      if (!(dropout >= 0.0 && dropout < 1.0))
        rangeError("config.dropout", "must be a number in [0, 1), got " + Args::describe(dv));
    }
    config.dropout = static_cast<float>(dropout);
    if (config.dropout >= 1.0f) config.dropout = std::nextafter(1.0f, 0.0f);
    config.seed = o.Get("seed").IsUndefined() ? 0 : static_cast<uint64_t>(field(o, "seed", 0, (int64_t{1} << 53) - 1));
    batch = static_cast<int>(field(o, "batch", 1, std::numeric_limits<int32_t>::max()));
    seqLen = static_cast<int>(field(o, "seqLen", 1, std::numeric_limits<int32_t>::max()));
    const std::string tooLarge = gruSizeLimitViolation(config, batch, seqLen);
    if (!tooLarge.empty()) rangeError("config", "describes a problem too large for one call: " + tooLarge);
  }

  // ---- tensors
  TensorHandle& handleValue(const Napi::Value& v, const ArgName& name, const char* what) const {
    TensorHandle* h = asTensorHandle(env(), v);
    if (!h) typeError(name, std::string("must be ") + what + ", got " + Args::describe(v));
    if (!h->storage) throw Napi::Error::New(env(), fn_ + ": argument '" + name.str() +
                                                       "' is a tensor whose memory was already freed (used after dispose)");
    return *h;
  }

  // A float32 tensor with exactly the given shape's element count, on `device` (when set).
  TensorHandle& floatTensor(const Napi::Value& v, const ArgName& name, std::initializer_list<int64_t> shape,
                            const char* shapeNames) {
    TensorHandle& h = handleValue(v, name, "a tensor handle");
    if (h.dtype != DType::Float32)
      typeError(name, std::string("must be a float32 tensor, got ") + dtypeName(h.dtype));
    const int64_t want = product(shape);
    if (static_cast<int64_t>(h.numel) != want)
      rangeError(name, "must have " + std::to_string(want) + " elements (" + shapeNames + " = " + shapeText(shape) +
                           "), got " + std::to_string(h.numel));
    checkDevice(h, name);
    return h;
  }

  void checkDevice(const TensorHandle& h, const ArgName& name) {
    const Device d = h.storage->device();
    if (!haveDevice) {
      device = d;
      haveDevice = true;
      deviceFrom = name;
    } else if (d != device) {
      typeError(name, std::string("is on ") + deviceName(d) + " but '" + deviceFrom.str() + "' is on " + deviceName(device) +
                          "; all GRU tensors must be on one device");
    }
  }

  // x, h0, lengths, params at positions 1..4 (shared by forward and backward).
  void readInputs() {
    const int64_t B = batch, T = seqLen, I = config.inputSize, H = config.hiddenSize;
    x = &floatTensor(info_[1], "x", {B, T, I}, "[batch, seqLen, inputSize]");
    fwd.x = x->storage->as<const float>();
    fwd.h0 = optionalState(2, "h0");
    if (!args_.isAbsent(3)) {
      TensorHandle& lh = handleValue(info_[3], "lengths", "a tensor handle");
      if (lh.dtype != DType::Int32)
        typeError("lengths", std::string("must be an int32 tensor, got ") + dtypeName(lh.dtype));
      if (static_cast<int64_t>(lh.numel) != B)
        rangeError("lengths", "must have batch = " + std::to_string(B) + " elements, got " + std::to_string(lh.numel));
      lengths.resize(static_cast<size_t>(B));
      lh.storage->backend().copyToHost(lengths.data(), lh.storage->data(), lengths.size() * sizeof(int32_t));
      for (size_t b = 0; b < lengths.size(); ++b) {
        if (lengths[b] < 0 || lengths[b] > seqLen)
          rangeError("lengths", "has lengths[" + std::to_string(b) + "] = " + std::to_string(lengths[b]) +
                                    ", outside the allowed range [0, " + std::to_string(seqLen) + "] (seqLen = " +
                                    std::to_string(seqLen) + ")");
      }
      fwd.lengths = lengths.data();
    }
    if (args_.isAbsent(4) || !info_[4].IsArray()) args_.typeError(4, "params", "an array of tensor handles");
    Napi::Array params = info_[4].As<Napi::Array>();
    const uint32_t slots = static_cast<uint32_t>(config.numSlots());
    const int64_t G = config.gates();
    if (params.Length() != slots * 4)
      typeError("params", "must hold 4 tensors (W_ih, W_hh, b_ih, b_hh) per layer and direction = " +
                              std::to_string(slots * 4) + ", got " + std::to_string(params.Length()));
    for (uint32_t s = 0; s < slots; ++s) {
      const int layer = static_cast<int>(s) / config.numDirections();
      const bool reverse = static_cast<int>(s) % config.numDirections() == 1;
      const int64_t in = config.layerInputSize(layer);
      for (uint32_t k = 0; k < 4; ++k) {
        const uint32_t i = s * 4 + k;
        const ArgName name = ArgName::param(i, k, layer, reverse);
        const Napi::Value v = params.Get(i);
        const char* shapeNames = paramShapeNames(G, k);
        const Storage* p = nullptr;
        if (k == 0) p = floatTensor(v, name, {G * H, in}, shapeNames).storage.get();
        if (k == 1) p = floatTensor(v, name, {G * H, H}, shapeNames).storage.get();
        if (k >= 2) p = floatTensor(v, name, {G * H}, shapeNames).storage.get();
        (k == 0 ? fwd.params.wIh : k == 1 ? fwd.params.wHh : k == 2 ? fwd.params.bIh : fwd.params.bHh)
            .push_back(p->as<const float>());
        if (k == 0) fwd.wIhVersions.push_back(p->version());
        if (k == 1) fwd.wHhVersions.push_back(p->version());
      }
    }
    fwd.config = config;
    fwd.batch = batch;
    fwd.seqLen = seqLen;
  }

  // An [L·D, B, H] state at position i: h0-like; null when absent.
  const float* optionalState(size_t i, const char* name) {
    if (args_.isAbsent(i)) return nullptr;
    const int64_t B = batch, H = config.hiddenSize, LD = config.numSlots();
    return floatTensor(info_[i], name, {LD, B, H}, "[numLayers·directions, batch, hiddenSize]").storage->as<const float>();
  }

  // c0 (and, in backward, dcN) at position i: the LSTM's; refused for the other modes.
  const float* cellState(size_t i, const char* name) {
    if (!config.hasCellState()) {
      if (!args_.isAbsent(i))
        typeError(name, std::string("is an LSTM argument; config.mode '") + rnnModeName(config.mode) +
                            "' has no cell state, so pass null");
      return nullptr;
    }
    return optionalState(i, name);
  }

  GruEngine& engine() const {
    Backend* backend = backendFor(device);
    if (!backend) throw Napi::Error::New(env(), fn_ + ": CUDA is not available: " + cudaReport().reason);
    return backend->gru();
  }

  std::unique_ptr<TensorHandle> newTensor(size_t numel) const {
    std::unique_ptr<TensorHandle> h(new TensorHandle{nullptr, DType::Float32, numel});
    h->storage = std::make_shared<Storage>(device, numel * sizeof(float));
    return h;
  }

  GruConfig config;
  int batch = 0, seqLen = 0;
  TensorHandle* x = nullptr;
  std::vector<int32_t> lengths;
  GruForwardArgs fwd;
  Device device = Device::Cpu;

 private:
  const Napi::CallbackInfo& info_;
  Args args_;
  std::string fn_;
  bool gruOnly_;
  bool haveDevice = false;
  ArgName deviceFrom{"x"};
};

Napi::Value forward(const Napi::CallbackInfo& info, const char* function, bool gruOnly) {
  return guarded(info, [&]() -> Napi::Value {
    GruCall call(info, function, gruOnly);
    call.readConfig(0);
    call.readInputs();
    const bool training = call.args().boolean(5, "training");
    call.fwd.c0 = call.cellState(kForwardC0, "c0");
    const size_t B = call.batch, T = call.seqLen, H = call.config.hiddenSize, D = call.config.numDirections(),
                 L = call.config.numLayers;
    auto y = call.newTensor(B * T * D * H);
    auto hN = call.newTensor(L * D * B * H);
    std::unique_ptr<TensorHandle> cN;
    if (call.config.hasCellState()) cN = call.newTensor(L * D * B * H);
    call.fwd.training = training;
    call.fwd.y = y->storage->as<float>();
    call.fwd.hN = hN->storage->as<float>();
    if (cN) call.fwd.cN = cN->storage->as<float>();
    std::unique_ptr<GruReserve> reserve = call.engine().forward(call.fwd);
    StoragePtr yStorage = y->storage;

    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("y", wrapHandle(env, y.release()));
    out.Set("hN", wrapHandle(env, hN.release()));
    if (cN) out.Set("cN", wrapHandle(env, cN.release()));
    if (training) {
      if (!reserve) throw Error(std::string(function) + ": the engine returned no training state");
      auto handle = std::make_unique<ReserveHandle>();
      handle->bytes = reserve->bytes();
      handle->reserve = std::move(reserve);
      handle->y = std::move(yStorage);
      handle->device = call.device;
      handle->config = call.config;
      handle->batch = call.batch;
      handle->seqLen = call.seqLen;
      const size_t bytes = handle->bytes;
      out.Set("reserve", wrapObject(env, std::move(handle), kGruReserveTag));
      Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(bytes));
      out.Set("reserveBytes", Napi::Number::New(env, static_cast<double>(bytes)));
    }
    return out;
  });
}

// The training state argument i names; nullptr when it was already freed.
ReserveHandle* reserveArg(GruCall& call, const Napi::CallbackInfo& info, size_t i) {
  ReserveHandle* r = nullptr;
  if (i >= info.Length() || lookupObject(info.Env(), info[i], kGruReserveTag, &r) == HandleState::Foreign)
    call.args().typeError(i, "reserve", "the training state returned by gruForward/rnnForward(..., training = true)");
  return r;
}

Napi::Value backward(const Napi::CallbackInfo& info, const char* function, bool gruOnly) {
  return guarded(info, [&]() -> Napi::Value {
    GruCall call(info, function, gruOnly);
    call.readConfig(0);
    call.readInputs();
    ReserveHandle* live = reserveArg(call, info, 5);
    const std::string fn = function;
    if (!live)
      throw Napi::Error::New(info.Env(), fn + ": argument 'reserve' was already freed (the training state was disposed)");
    ReserveHandle& r = *live;
    if (!r.reserve)
      throw Napi::Error::New(info.Env(),
                             fn + ": argument 'reserve' was already used by a backward pass; pass retain = true "
                             "to backpropagate through one forward more than once");
    if (!sameTrainingConfig(r.config, call.config) || r.batch != call.batch || r.seqLen != call.seqLen)
      call.typeError("config", "differs from the configuration of the training forward that made 'reserve'");
    if (r.device != call.device)
      call.typeError("reserve", std::string("is on ") + deviceName(r.device) + " but 'x' is on " + deviceName(call.device));
    const int64_t B = call.batch, T = call.seqLen, I = call.config.inputSize, H = call.config.hiddenSize,
                  D = call.config.numDirections(), L = call.config.numLayers;
    GruBackwardArgs b;
    if (!call.args().isAbsent(6)) b.dy = call.floatTensor(info[6], "dy", {B, T, D * H}, "[batch, seqLen, directions·hiddenSize]").storage->as<const float>();
    b.dhN = call.optionalState(7, "dhN");
    const bool retain = call.args().isAbsent(8) ? false : call.args().boolean(8, "retain");
    call.fwd.c0 = call.cellState(kBackwardC0, "c0");
    b.dcN = call.cellState(kBackwardDcN, "dcN");

    const bool inputGradient =
        call.args().isAbsent(kBackwardInputGradient) || call.args().boolean(kBackwardInputGradient, "inputGradient");
    std::unique_ptr<TensorHandle> dx;
    if (inputGradient) dx = call.newTensor(static_cast<size_t>(B * T * I));
    auto dh0 = call.newTensor(static_cast<size_t>(L * D * B * H));
    std::unique_ptr<TensorHandle> dc0;
    if (call.config.hasCellState()) dc0 = call.newTensor(static_cast<size_t>(L * D * B * H));
    const int64_t GH = call.config.gates() * H;
    std::vector<std::unique_ptr<TensorHandle>> dParams;
    for (int s = 0; s < call.config.numSlots(); ++s) {
      const size_t in = static_cast<size_t>(call.config.layerInputSize(s / static_cast<int>(D)));
      dParams.push_back(call.newTensor(static_cast<size_t>(GH) * in));
      dParams.push_back(call.newTensor(static_cast<size_t>(GH * H)));
      dParams.push_back(call.newTensor(static_cast<size_t>(GH)));
      dParams.push_back(call.newTensor(static_cast<size_t>(GH)));
      b.dParams.wIh.push_back(dParams[dParams.size() - 4]->storage->as<float>());
      b.dParams.wHh.push_back(dParams[dParams.size() - 3]->storage->as<float>());
      b.dParams.bIh.push_back(dParams[dParams.size() - 2]->storage->as<float>());
      b.dParams.bHh.push_back(dParams[dParams.size() - 1]->storage->as<float>());
    }
    if (dx) b.dx = dx->storage->as<float>();
    b.dh0 = dh0->storage->as<float>();
    if (dc0) b.dc0 = dc0->storage->as<float>();
    call.fwd.y = r.y->as<float>();
    call.engine().backward(call.fwd, *r.reserve, b);

    Napi::Env env = info.Env();
    if (!retain) {
      Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(r.bytes));
      r.reserve.reset();
      r.y.reset();
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("dx", dx ? wrapHandle(env, dx.release()) : env.Null());
    out.Set("dh0", wrapHandle(env, dh0.release()));
    if (dc0) out.Set("dc0", wrapHandle(env, dc0.release()));
    Napi::Array grads = Napi::Array::New(env, dParams.size());
    for (size_t i = 0; i < dParams.size(); ++i) grads.Set(static_cast<uint32_t>(i), wrapHandle(env, dParams[i].release()));
    out.Set("dParams", grads);
    return out;
  });
}

Napi::Value reserveFree(const Napi::CallbackInfo& info, const char* function) {
  return guarded(info, [&]() -> Napi::Value {
    GruCall call(info, function, false);
    const ReserveHandle* r = reserveArg(call, info, 0);
    const bool released = r && r->reserve;
    if (released) Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -static_cast<int64_t>(r->bytes));
    if (r) releaseObject(info.Env(), info[0]);
    return Napi::Boolean::New(info.Env(), released);
  });
}

}  // namespace

void registerGruBindings(Napi::Env env, Napi::Object exports) {
  auto add = [&](const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
    exports.Set(name, Napi::Function::New(env, fn, name));
  };
  add("gruForward", [](const Napi::CallbackInfo& info) { return forward(info, "gruForward", true); });
  add("gruBackward", [](const Napi::CallbackInfo& info) { return backward(info, "gruBackward", true); });
  add("gruReserveFree", [](const Napi::CallbackInfo& info) { return reserveFree(info, "gruReserveFree"); });
  add("rnnForward", [](const Napi::CallbackInfo& info) { return forward(info, "rnnForward", false); });
  add("rnnBackward", [](const Napi::CallbackInfo& info) { return backward(info, "rnnBackward", false); });
  add("rnnReserveFree", [](const Napi::CallbackInfo& info) { return reserveFree(info, "rnnReserveFree"); });
}

}  // namespace cgru::bindings
