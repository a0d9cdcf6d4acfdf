// Tensor kernels for the model layer (core/ops.h), dispatched to the device of their tensors.
// Every function validates its arguments fully (types, sizes against each buffer's element count,
// dtypes, one device, freed handles) before any kernel runs; outputs are existing tensors written
// in place. Signatures are listed in binding.d.ts ("Tensor ops").
#include <cmath>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "bindings/args.h"
#include "bindings/register.h"
#include "core/backend.h"
#include "core/errors.h"
#include "core/ops.h"

namespace cgru::bindings {
namespace {

constexpr int64_t kMaxDim = int64_t{1} << 40;
constexpr int64_t kIntMax = std::numeric_limits<int32_t>::max();

class OpsCall {
 public:
  OpsCall(const Napi::CallbackInfo& info, const char* function) : info_(info), args(info, function), fn_(function) {}

  const Napi::CallbackInfo& info_;
  Args args;

  Napi::Env env() const { return info_.Env(); }

  int64_t dim(size_t i, const char* name, int64_t max = kMaxDim) const { return args.integer(i, name, 0, max); }
  float num(size_t i, const char* name) const {
    const double d = args.number(i, name);
    if (std::fabs(d) > 3.0e38) args.typeError(i, name, "a finite number in float32 range");
    return static_cast<float>(d);
  }

  // A live tensor of `dtype` with `numel` elements (numel < 0: any), on the call's device.
  TensorHandle& tensor(size_t i, const char* name, int64_t numel, DType dtype = DType::Float32) {
    TensorHandle& h = args.tensor(i, name);
    return check(h, i, name, numel, dtype);
  }
  TensorHandle* optionalTensor(size_t i, const char* name, int64_t numel, DType dtype = DType::Float32) {
    if (args.isAbsent(i)) return nullptr;
    return &tensor(i, name, numel, dtype);
  }
  TensorHandle& check(TensorHandle& h, size_t i, const char* name, int64_t numel, DType dtype) {
    if (h.dtype != dtype)
      throw Napi::TypeError::New(env(), fn_ + ": argument '" + name + "' must be a " + dtypeName(dtype) +
                                            " tensor, got a " + dtypeName(h.dtype) + " tensor");
    if (numel >= 0 && static_cast<int64_t>(h.numel) != numel)
      throw Napi::RangeError::New(env(), fn_ + ": argument '" + name + "' must have " + std::to_string(numel) +
                                             " elements for the given sizes, got " + std::to_string(h.numel));
    const Device d = h.storage->device();
    if (!device_) {
      device_ = d;
      deviceFrom_ = name;
    } else if (*device_ != d) {
      throw Napi::TypeError::New(env(), fn_ + ": argument '" + name + "' is on " + deviceName(d) + " but '" +
                                            deviceFrom_ + "' is on " + deviceName(*device_) +
                                            "; all tensors of one op must be on one device");
    }
    (void)i;
    return h;
  }

  int64_t product(int64_t a, int64_t b, const char* what) const {
    int64_t out = 0;
    if (__builtin_mul_overflow(a, b, &out) || out > kMaxDim)
      throw Napi::RangeError::New(env(), fn_ + ": " + what + " is too large");
    return out;
  }

  void requireIndex(int64_t index, int64_t size, const char* name) const {
    if (index < 0 || index >= size)
      throw Napi::RangeError::New(env(), fn_ + ": argument '" + name + "' = " + std::to_string(index) +
                                             " is out of range for a tensor of " + std::to_string(size) + " elements");
  }

  // The kernels of the call's device (throws when that backend has none yet).
  TensorOps& ops() const {
    const Device d = device_ ? *device_ : Device::Cpu;
    Backend* backend = backendFor(d);
    TensorOps* o = backend ? backend->ops() : nullptr;
    if (!o)
      throw Napi::Error::New(env(), fn_ + ": operation " + fn_ + " is not implemented on device '" + deviceName(d) +
                                        "' yet");
    return *o;
  }

  // int32 data of `h` on the host (a copy for device memory).
  std::vector<int32_t> hostInts(const TensorHandle& h) const {
    std::vector<int32_t> out(h.numel);
    if (h.numel) h.storage->backend().copyToHost(out.data(), h.storage->data(), h.numel * sizeof(int32_t));
    return out;
  }

  const std::string& name() const { return fn_; }

  static float* f(TensorHandle& h) { return h.storage->as<float>(); }
  static float* f(TensorHandle* h) { return h ? h->storage->as<float>() : nullptr; }
  // Read-only: kernels never write int32, which keeps TensorHandle::minValue/maxValue true.
  static const int32_t* i32(TensorHandle& h) { return h.storage->as<const int32_t>(); }

 private:
  std::string fn_;
  std::optional<Device> device_;
  const char* deviceFrom_ = "";  // argument names are literals
};

// The names the JS side passes for each kind, in the enum's order (Args::kind maps one to the other).
constexpr const char* kUnaryNames[] = {"linear", "relu", "sigmoid", "tanh", "elu", "softmax", "softplus", "selu", "exp",
                                       "square", "abs", "gelu", "swish", "hardSigmoid", "relu6", "sqrt", "log", "log1p"};
static_assert(std::size(kUnaryNames) == static_cast<size_t>(UnaryKind::Log1p) + 1, "one name per UnaryKind");
constexpr const char* kBinaryNames[] = {"add", "sub", "mul", "div", "max", "min", "greater", "greaterEqual"};
static_assert(std::size(kBinaryNames) == static_cast<size_t>(BinaryKind::GreaterEqual) + 1, "one name per BinaryKind");
constexpr const char* kLossNames[] = {"meanSquaredError", "meanAbsoluteError", "binaryCrossentropy",
                                      "binaryCrossentropyLogits", "categoricalCrossentropy",
                                      "categoricalCrossentropyLogits", "sparseCategoricalCrossentropy",
                                      "sparseCategoricalCrossentropyLogits"};
static_assert(std::size(kLossNames) == static_cast<size_t>(LossKind::SparseCategoricalCrossentropyLogits) + 1, "one name per LossKind");
constexpr const char* kMetricNames[] = {"binaryAccuracy", "categoricalAccuracy", "sparseCategoricalAccuracy"};
static_assert(std::size(kMetricNames) == static_cast<size_t>(MetricKind::SparseCategoricalAccuracy) + 1, "one name per MetricKind");

// Activations whose gradient is computed from their input x rather than their output y.
bool gradNeedsInput(UnaryKind kind) {
  switch (kind) {
    case UnaryKind::Softplus: case UnaryKind::Square: case UnaryKind::Abs:
    case UnaryKind::Gelu: case UnaryKind::Swish: case UnaryKind::HardSigmoid:
    case UnaryKind::Log: case UnaryKind::Log1p:
      return true;
    default:
      return false;
  }
}

bool isSparse(LossKind k) {
  return k == LossKind::SparseCategoricalCrossentropy || k == LossKind::SparseCategoricalCrossentropyLogits;
}

// Checks int32 labels lie in [0, cols). The handle's recorded range decides without touching the
// data (a device-to-host copy, which on CUDA would synchronise every training step); only an
// out-of-range tensor is read, to name the first bad element.
void checkLabels(OpsCall& c, const TensorHandle& labels, int64_t cols, const char* name) {
  if (labels.numel == 0 || (labels.minValue >= 0 && labels.maxValue < cols)) return;
  const std::vector<int32_t> host = c.hostInts(labels);
  for (size_t r = 0; r < host.size(); ++r)
    if (host[r] < 0 || host[r] >= cols)
      throw Napi::RangeError::New(c.env(), c.name() + ": argument '" + name + "' has " + std::string(name) + "[" + std::to_string(r) + "] = " +
                                               std::to_string(host[r]) + " is not a class index in [0, " +
                                               std::to_string(cols) + ")");
}

#define OPS_FUNCTION(NAME) Napi::Value NAME(const Napi::CallbackInfo& info)
#define UNDEFINED return info.Env().Undefined()

// opsGemm(transA, transB, m, n, k, alpha, a, b, beta, c): c = alpha·op(a)·op(b) + beta·c
OPS_FUNCTION(gemm) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsGemm");
    const bool ta = c.args.boolean(0, "transA"), tb = c.args.boolean(1, "transB");
    const int64_t m = c.dim(2, "m", kIntMax), n = c.dim(3, "n", kIntMax), k = c.dim(4, "k", kIntMax);
    const float alpha = c.num(5, "alpha");
    TensorHandle& a = c.tensor(6, "a", c.product(m, k, "m·k"));
    TensorHandle& b = c.tensor(7, "b", c.product(k, n, "k·n"));
    const float beta = c.num(8, "beta");
    TensorHandle& out = c.tensor(9, "c", c.product(m, n, "m·n"));
    c.ops().gemm(ta, tb, m, n, k, alpha, c.f(a), c.f(b), beta, c.f(out));
    UNDEFINED;
  });
}

// opsBiasAdd(x, bias, rows, cols): x[r, :] += bias
OPS_FUNCTION(biasAdd) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsBiasAdd");
    const int64_t rows = c.dim(2, "rows"), cols = c.dim(3, "cols");
    TensorHandle& x = c.tensor(0, "x", c.product(rows, cols, "rows·cols"));
    TensorHandle& bias = c.tensor(1, "bias", cols);
    c.ops().biasAdd(c.f(x), c.f(bias), rows, cols);
    UNDEFINED;
  });
}

// opsColumnSums(x, rows, cols, out, beta): out = beta·out + Σ_rows x
OPS_FUNCTION(columnSums) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsColumnSums");
    const int64_t rows = c.dim(1, "rows"), cols = c.dim(2, "cols");
    TensorHandle& x = c.tensor(0, "x", c.product(rows, cols, "rows·cols"));
    TensorHandle& out = c.tensor(3, "out", cols);
    const float beta = c.num(4, "beta");
    c.ops().columnSums(c.f(x), rows, cols, c.f(out), beta);
    UNDEFINED;
  });
}

int64_t softmaxCols(OpsCall& c, size_t i, int64_t numel) {
  const int64_t cols = c.dim(i, "cols");
  if (cols == 0 ? numel != 0 : numel % cols != 0)
    throw Napi::RangeError::New(c.env(), c.name() + ": argument 'cols' = " + std::to_string(cols) + " does not divide the " +
                                             std::to_string(numel) + " elements");
  return cols;
}

// opsUnary(kind, x, y, cols): y = f(x) (softmax over rows of width cols)
OPS_FUNCTION(unary) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsUnary");
    const UnaryKind kind = c.args.kind<UnaryKind>(0, "kind", kUnaryNames);
    TensorHandle& x = c.tensor(1, "x", -1);
    const int64_t n = static_cast<int64_t>(x.numel);
    TensorHandle& y = c.tensor(2, "y", n);
    const int64_t cols = softmaxCols(c, 3, n);
    c.ops().unary(kind, c.f(x), c.f(y), n, cols);
    UNDEFINED;
  });
}

// opsUnaryGrad(kind, x|null, y, dy, dx, cols, beta): dx = beta·dx + dy·f'(x)
OPS_FUNCTION(unaryGrad) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsUnaryGrad");
    const UnaryKind kind = c.args.kind<UnaryKind>(0, "kind", kUnaryNames);
    TensorHandle& y = c.tensor(2, "y", -1);
    const int64_t n = static_cast<int64_t>(y.numel);
    TensorHandle* x = c.optionalTensor(1, "x", n);
    if (!x && gradNeedsInput(kind))
      c.args.typeError(1, "x", "a tensor handle (this activation's gradient needs its input)");
    TensorHandle& dy = c.tensor(3, "dy", n);
    TensorHandle& dx = c.tensor(4, "dx", n);
    const int64_t cols = softmaxCols(c, 5, n);
    const float beta = c.num(6, "beta");
    c.ops().unaryGrad(kind, c.f(x), c.f(y), c.f(dy), c.f(dx), n, cols, beta);
    UNDEFINED;
  });
}

// opsBinary(kind, a, b, out, aDiv, bDiv): out[i] = a[(i / aDiv) % a.numel] ∘ b[(i / bDiv) % b.numel]
OPS_FUNCTION(binary) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsBinary");
    const BinaryKind kind = c.args.kind<BinaryKind>(0, "kind", kBinaryNames);
    TensorHandle& a = c.tensor(1, "a", -1);
    TensorHandle& b = c.tensor(2, "b", -1);
    TensorHandle& out = c.tensor(3, "out", -1);
    const int64_t n = static_cast<int64_t>(out.numel);
    const int64_t aDiv = c.args.integer(4, "aDiv", 1, kMaxDim), bDiv = c.args.integer(5, "bDiv", 1, kMaxDim);
    // Every index stays inside its operand; an empty operand can only go with an empty output.
    if (n > 0 && (a.numel == 0 || b.numel == 0))
      c.args.rangeError(a.numel == 0 ? "a" : "b", "must not be empty when 'out' is not");
    // In place only elementwise: a broadcast operand would be read after 'out' overwrote it.
    auto overlaps = [&](TensorHandle& t, int64_t div) { return t.storage == out.storage && (div != 1 || static_cast<int64_t>(t.numel) != n); };
    if (overlaps(a, aDiv) || overlaps(b, bDiv)) c.args.rangeError("out", "must not share memory with a broadcast operand");
    c.ops().binary(kind, c.f(a), aDiv, static_cast<int64_t>(a.numel), c.f(b), bDiv, static_cast<int64_t>(b.numel), c.f(out), n);
    UNDEFINED;
  });
}

// opsReduceSum(x, outer, n, inner, out, alpha): out[o, j] = alpha·Σ_m x[o, m, j]
OPS_FUNCTION(reduceSum) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsReduceSum");
    const int64_t outer = c.dim(1, "outer"), n = c.dim(2, "n"), inner = c.dim(3, "inner");
    TensorHandle& x = c.tensor(0, "x", c.product(c.product(outer, n, "outer·n"), inner, "outer·n·inner"));
    TensorHandle& out = c.tensor(4, "out", c.product(outer, inner, "outer·inner"));
    const float alpha = c.num(5, "alpha");
    if (x.storage == out.storage) c.args.rangeError("out", "must not be the same memory as x");
    c.ops().reduceSum(c.f(x), outer, n, inner, c.f(out), alpha);
    UNDEFINED;
  });
}

// opsAxpy(alpha, x, y): y += alpha·x
OPS_FUNCTION(axpy) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsAxpy");
    const float alpha = c.num(0, "alpha");
    TensorHandle& x = c.tensor(1, "x", -1);
    TensorHandle& y = c.tensor(2, "y", static_cast<int64_t>(x.numel));
    c.ops().axpy(alpha, c.f(x), c.f(y), static_cast<int64_t>(x.numel));
    UNDEFINED;
  });
}

// opsScale(x, alpha): x *= alpha
OPS_FUNCTION(scale) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsScale");
    TensorHandle& x = c.tensor(0, "x", -1);
    const float alpha = c.num(1, "alpha");
    c.ops().scale(c.f(x), alpha, static_cast<int64_t>(x.numel));
    UNDEFINED;
  });
}

// opsFill(x, value)
OPS_FUNCTION(fill) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsFill");
    TensorHandle& x = c.tensor(0, "x", -1);
    const float value = c.num(1, "value");
    c.ops().fill(c.f(x), value, static_cast<int64_t>(x.numel));
    UNDEFINED;
  });
}

// opsCopyColumns(src, rows, srcCols, srcStart, dst, dstCols, dstStart, width, beta)
OPS_FUNCTION(copyColumns) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsCopyColumns");
    const int64_t rows = c.dim(1, "rows"), srcCols = c.dim(2, "srcCols"), srcStart = c.dim(3, "srcStart");
    const int64_t dstCols = c.dim(5, "dstCols"), dstStart = c.dim(6, "dstStart"), width = c.dim(7, "width");
    if (srcStart + width > srcCols) c.args.rangeError("width", "runs past the source row (srcStart + width > srcCols)");
    if (dstStart + width > dstCols) c.args.rangeError("width", "runs past the destination row (dstStart + width > dstCols)");
    TensorHandle& src = c.tensor(0, "src", c.product(rows, srcCols, "rows·srcCols"));
    TensorHandle& dst = c.tensor(4, "dst", c.product(rows, dstCols, "rows·dstCols"));
    // Devices copy rows in parallel, so a copy within one buffer could read what it already wrote.
    if (src.storage == dst.storage) c.args.rangeError("dst", "must be a different tensor from src (the copy would overlap)");
    const float beta = c.num(8, "beta");
    c.ops().copyColumns(c.f(src), rows, srcCols, srcStart, c.f(dst), dstCols, dstStart, width, beta);
    UNDEFINED;
  });
}

// opsReverseTime(x, out, batch, seqLen, features, lengths|null)
OPS_FUNCTION(reverseTime) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsReverseTime");
    const int64_t batch = c.dim(2, "batch"), seqLen = c.dim(3, "seqLen"), features = c.dim(4, "features");
    const int64_t numel = c.product(c.product(batch, seqLen, "batch·seqLen"), features, "batch·seqLen·features");
    TensorHandle& x = c.tensor(0, "x", numel);
    TensorHandle& out = c.tensor(1, "out", numel);
    if (x.storage == out.storage) c.args.rangeError("out", "must not be the same memory as x");
    std::vector<int32_t> lengths;
    if (!c.args.isAbsent(5)) {
      TensorHandle& lh = c.args.tensor(5, "lengths");
      if (lh.dtype != DType::Int32 || static_cast<int64_t>(lh.numel) != batch)
        c.args.typeError(5, "lengths", "an int32 tensor of batch elements");
      lengths = c.hostInts(lh);
      for (size_t b = 0; b < lengths.size(); ++b)
        if (lengths[b] < 0 || lengths[b] > seqLen)
          c.args.rangeError("lengths", "has lengths[" + std::to_string(b) + "] = " + std::to_string(lengths[b]) +
                                           " outside [0, seqLen = " + std::to_string(seqLen) + "]");
    }
    c.ops().reverseTime(c.f(x), c.f(out), batch, seqLen, features, lengths.empty() ? nullptr : lengths.data());
    UNDEFINED;
  });
}

// opsLoss(kind, pred, target, rows, cols, grad|null, out, outIndex, rowWeights?): out[outIndex] = mean loss;
// grad = d(mean loss)/d(pred). target: float32 [rows·cols], or int32 labels [rows] for sparse kinds.
OPS_FUNCTION(loss) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsLoss");
    const LossKind kind = c.args.kind<LossKind>(0, "kind", kLossNames);
    const int64_t rows = c.dim(3, "rows"), cols = c.dim(4, "cols");
    const int64_t numel = c.product(rows, cols, "rows·cols");
    TensorHandle& pred = c.tensor(1, "pred", numel);
    const bool sparse = isSparse(kind);
    TensorHandle& target = sparse ? c.tensor(2, "target", rows, DType::Int32) : c.tensor(2, "target", numel);
    if (sparse) checkLabels(c, target, cols, "target");
    TensorHandle* grad = c.optionalTensor(5, "grad", numel);
    TensorHandle& out = c.tensor(6, "out", -1);
    const int64_t index = c.args.integer(7, "outIndex", 0, kMaxDim);
    c.requireIndex(index, static_cast<int64_t>(out.numel), "outIndex");
    TensorHandle* weights = c.optionalTensor(8, "rowWeights", rows);
    c.ops().loss(kind, c.f(pred), sparse ? nullptr : c.f(target), sparse ? c.i32(target) : nullptr, c.f(weights), rows,
                 cols, c.f(grad), c.f(out) + index);
    UNDEFINED;
  });
}

// opsMetric(kind, pred, target, rows, cols, threshold, out, outIndex, rowWeights?)
OPS_FUNCTION(metric) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsMetric");
    const MetricKind kind = c.args.kind<MetricKind>(0, "kind", kMetricNames);
    const int64_t rows = c.dim(3, "rows"), cols = c.dim(4, "cols");
    const int64_t numel = c.product(rows, cols, "rows·cols");
    TensorHandle& pred = c.tensor(1, "pred", numel);
    const bool sparse = kind == MetricKind::SparseCategoricalAccuracy;
    if (kind != MetricKind::BinaryAccuracy && cols < 1) c.args.rangeError("cols", "must be at least 1");
    TensorHandle& target = sparse ? c.tensor(2, "target", rows, DType::Int32) : c.tensor(2, "target", numel);
    if (sparse) checkLabels(c, target, cols, "target");
    const float threshold = c.num(5, "threshold");
    TensorHandle& out = c.tensor(6, "out", -1);
    const int64_t index = c.args.integer(7, "outIndex", 0, kMaxDim);
    c.requireIndex(index, static_cast<int64_t>(out.numel), "outIndex");
    TensorHandle* weights = c.optionalTensor(8, "rowWeights", rows);
    c.ops().metric(kind, c.f(pred), sparse ? nullptr : c.f(target), sparse ? c.i32(target) : nullptr, c.f(weights),
                   rows, cols, threshold, c.f(out) + index);
    UNDEFINED;
  });
}

// opsSgd(param, grad, velocity|null, lr, momentum, nesterov)
OPS_FUNCTION(sgd) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsSgd");
    TensorHandle& p = c.tensor(0, "param", -1);
    const int64_t n = static_cast<int64_t>(p.numel);
    TensorHandle& g = c.tensor(1, "grad", n);
    TensorHandle* v = c.optionalTensor(2, "velocity", n);
    const float lr = c.num(3, "lr"), momentum = c.num(4, "momentum");
    const bool nesterov = c.args.boolean(5, "nesterov");
    c.ops().sgdUpdate(c.f(p), c.f(g), c.f(v), n, lr, momentum, nesterov);
    UNDEFINED;
  });
}

// opsAdam(param, grad, m, v, lr, baseLr, beta1, beta2, epsilon, weightDecay)
OPS_FUNCTION(adam) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsAdam");
    TensorHandle& p = c.tensor(0, "param", -1);
    const int64_t n = static_cast<int64_t>(p.numel);
    TensorHandle& g = c.tensor(1, "grad", n);
    TensorHandle& m = c.tensor(2, "m", n);
    TensorHandle& v = c.tensor(3, "v", n);
    const float lr = c.num(4, "lr"), baseLr = c.num(5, "baseLr"), b1 = c.num(6, "beta1"), b2 = c.num(7, "beta2");
    const float eps = c.num(8, "epsilon"), wd = c.num(9, "weightDecay");
    c.ops().adamUpdate(c.f(p), c.f(g), c.f(m), c.f(v), n, lr, baseLr, b1, b2, eps, wd);
    UNDEFINED;
  });
}

// opsRmsprop(param, grad, meanSquare, momentum|null, lr, rho, momentum, epsilon)
OPS_FUNCTION(rmsprop) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsRmsprop");
    TensorHandle& p = c.tensor(0, "param", -1);
    const int64_t n = static_cast<int64_t>(p.numel);
    TensorHandle& g = c.tensor(1, "grad", n);
    TensorHandle& ms = c.tensor(2, "meanSquare", n);
    TensorHandle* mom = c.optionalTensor(3, "momentumBuffer", n);
    const float lr = c.num(4, "lr"), rho = c.num(5, "rho"), momentum = c.num(6, "momentum"), eps = c.num(7, "epsilon");
    c.ops().rmspropUpdate(c.f(p), c.f(g), c.f(ms), c.f(mom), n, lr, rho, momentum, eps);
    UNDEFINED;
  });
}

// opsClipValue(x, lo, hi)
OPS_FUNCTION(clipValue) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsClipValue");
    TensorHandle& x = c.tensor(0, "x", -1);
    const float lo = c.num(1, "lo"), hi = c.num(2, "hi");
    if (!(lo <= hi)) c.args.rangeError("lo", "must not exceed 'hi'");
    c.ops().clipValue(c.f(x), static_cast<int64_t>(x.numel), lo, hi);
    UNDEFINED;
  });
}

// opsSumSquares(x, out, outIndex): out[outIndex] = Σ x²
OPS_FUNCTION(sumSquares) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsSumSquares");
    TensorHandle& x = c.tensor(0, "x", -1);
    TensorHandle& out = c.tensor(1, "out", -1);
    const int64_t index = c.args.integer(2, "outIndex", 0, kMaxDim);
    c.requireIndex(index, static_cast<int64_t>(out.numel), "outIndex");
    c.ops().sumSquares(c.f(x), static_cast<int64_t>(x.numel), c.f(out) + index);
    UNDEFINED;
  });
}

// opsClipNorm(tensors[], maxNorm, global)
OPS_FUNCTION(clipNorm) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsClipNorm");
    if (c.args.isAbsent(0) || !info[0].IsArray()) c.args.typeError(0, "tensors", "an array of tensor handles");
    Napi::Array list = info[0].As<Napi::Array>();
    if (list.Length() > (1u << 20)) c.args.rangeError("tensors", "holds too many tensors");
    std::vector<float*> ptrs;
    std::vector<int64_t> sizes;
    for (uint32_t i = 0; i < list.Length(); ++i) {
      const std::string name = "tensors[" + std::to_string(i) + "]";
      TensorHandle* h = asTensorHandle(c.env(), list.Get(i));
      if (!h) throw Napi::TypeError::New(c.env(), "opsClipNorm: argument '" + name + "' must be a tensor handle, got " +
                                                       Args::describe(list.Get(i)));
      if (!h->storage) throw Napi::Error::New(c.env(), "opsClipNorm: argument '" + name + "' is a tensor whose memory was already freed (used after dispose)");
      c.check(*h, 0, name.c_str(), -1, DType::Float32);
      ptrs.push_back(c.f(*h));
      sizes.push_back(static_cast<int64_t>(h->numel));
    }
    const float maxNorm = c.num(1, "maxNorm");
    if (!(maxNorm > 0)) c.args.rangeError("maxNorm", "must be positive");
    const bool global = c.args.boolean(2, "global");
    if (!ptrs.empty()) c.ops().clipNorm(ptrs.data(), sizes.data(), static_cast<int>(ptrs.size()), maxNorm, global);
    UNDEFINED;
  });
}

// opsDropoutMask(mask, rate, seed)
OPS_FUNCTION(dropoutMask) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsDropoutMask");
    TensorHandle& mask = c.tensor(0, "mask", -1);
    const double rate = c.args.number(1, "rate");
    if (!(rate >= 0 && rate < 1)) c.args.rangeError("rate", "must be in [0, 1)");
    const auto seed = static_cast<uint64_t>(c.args.integer(2, "seed", 0, (int64_t{1} << 53) - 1));
    c.ops().dropoutMask(c.f(mask), static_cast<int64_t>(mask.numel), static_cast<float>(rate), seed);
    UNDEFINED;
  });
}

// opsGather(table, vocab, dim, indices, out): out[i] = table[indices[i]]
OPS_FUNCTION(gather) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsGather");
    const int64_t vocab = c.dim(1, "vocab", kIntMax), dim = c.dim(2, "dim");
    TensorHandle& table = c.tensor(0, "table", c.product(vocab, dim, "vocab·dim"));
    TensorHandle& idx = c.tensor(3, "indices", -1, DType::Int32);
    const int64_t count = static_cast<int64_t>(idx.numel);
    TensorHandle& out = c.tensor(4, "out", c.product(count, dim, "count·dim"));
    checkLabels(c, idx, vocab, "indices");
    c.ops().gather(c.f(table), dim, c.i32(idx), count, c.f(out));
    UNDEFINED;
  });
}

// opsScatterAdd(dOut, indices, dTable, vocab, dim): dTable[indices[i]] += dOut[i]
OPS_FUNCTION(scatterAdd) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsScatterAdd");
    const int64_t vocab = c.dim(3, "vocab", kIntMax), dim = c.dim(4, "dim");
    TensorHandle& idx = c.tensor(1, "indices", -1, DType::Int32);
    const int64_t count = static_cast<int64_t>(idx.numel);
    TensorHandle& dOut = c.tensor(0, "dOut", c.product(count, dim, "count·dim"));
    TensorHandle& dTable = c.tensor(2, "dTable", c.product(vocab, dim, "vocab·dim"));
    checkLabels(c, idx, vocab, "indices");
    c.ops().scatterAdd(c.f(dOut), dim, c.i32(idx), count, c.f(dTable));
    UNDEFINED;
  });
}

// opsFirstNonFinite(x) -> index of the first NaN/Infinity, or -1
OPS_FUNCTION(firstNonFinite) {
  return guarded(info, [&]() -> Napi::Value {
    OpsCall c(info, "opsFirstNonFinite");
    TensorHandle& x = c.tensor(0, "x", -1);
    const int64_t i = c.ops().firstNonFinite(c.f(x), static_cast<int64_t>(x.numel));
    return Napi::Number::New(info.Env(), static_cast<double>(i));
  });
}

}  // namespace

void registerOpsBindings(Napi::Env env, Napi::Object exports) {
  const std::pair<const char*, Napi::Function::Callback> functions[] = {
      {"opsGemm", gemm},           {"opsBiasAdd", biasAdd},       {"opsColumnSums", columnSums},
      {"opsUnary", unary},         {"opsUnaryGrad", unaryGrad},   {"opsBinary", binary},
      {"opsReduceSum", reduceSum},
      {"opsAxpy", axpy},           {"opsScale", scale},           {"opsFill", fill},
      {"opsCopyColumns", copyColumns}, {"opsReverseTime", reverseTime}, {"opsLoss", loss},
      {"opsMetric", metric},       {"opsSgd", sgd},               {"opsAdam", adam},
      {"opsRmsprop", rmsprop},     {"opsClipValue", clipValue},   {"opsSumSquares", sumSquares},
      {"opsClipNorm", clipNorm},   {"opsDropoutMask", dropoutMask}, {"opsGather", gather},
      {"opsScatterAdd", scatterAdd}, {"opsFirstNonFinite", firstNonFinite},
  };
  for (const auto& [name, fn] : functions) exports.Set(name, Napi::Function::New(env, fn, name));
}

}  // namespace cgru::bindings
