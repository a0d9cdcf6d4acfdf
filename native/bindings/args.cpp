#include "bindings/args.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>

#include "bindings/handles.h"

namespace cgru::bindings {
namespace {
// Identifies the Externals of tensor handles (napi_type_tag, Node-API 8).
constexpr napi_type_tag kTensorHandleTag = {0x6367727554656e73ULL, 0x6f7248616e646c65ULL};

// As JS prints it: integers in full, others in the fewest digits that read back exactly.
std::string numberText(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  if (d == std::floor(d) && std::fabs(d) < 0x1p63) return std::to_string(static_cast<long long>(d));
  char text[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, d);
    if (std::strtod(text, nullptr) == d) break;
  }
  return text;
}
}  // namespace

std::string Args::describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsNumber()) {
    return "the number " + numberText(v.As<Napi::Number>().DoubleValue());
  }
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s.size() > 40) s = s.substr(0, 40) + "...";
    return "the string '" + s + "'";
  }
  if (v.IsTypedArray()) {
    static const char* names[] = {"Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
                                  "Int32Array", "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array",
                                  "BigUint64Array"};
    const auto type = v.As<Napi::TypedArray>().TypedArrayType();
    return std::string("a ") + (type >= 0 && type < 11 ? names[type] : "typed array") + " of length " +
           std::to_string(v.As<Napi::TypedArray>().ElementLength());
  }
  if (v.IsArray()) return "an array of length " + std::to_string(v.As<Napi::Array>().Length());
  if (v.IsFunction()) return "a function";
  if (v.IsExternal()) return "a foreign native handle";
  if (v.IsBigInt()) return "a bigint";
  if (v.IsSymbol()) return "a symbol";
  return "an object";
}

void Args::typeError(size_t i, const char* name, const std::string& expected) const {
  const std::string got = i < info_.Length() ? describe(info_[i]) : "nothing";
  throw Napi::TypeError::New(env(), std::string(function_) + ": argument '" + name + "' must be " + expected +
                                        ", got " + got);
}

void Args::rangeError(const char* name, const std::string& message) const {
  throw Napi::RangeError::New(env(), std::string(function_) + ": argument '" + name + "' " + message);
}

namespace {
// Whether v is an integer in [min, max].
bool isIntegerIn(const Napi::Value& v, int64_t min, int64_t max) {
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : std::nan("");
  return std::isfinite(d) && d == std::floor(d) && d >= static_cast<double>(min) && d <= static_cast<double>(max);
}
}  // namespace

int64_t Args::integer(size_t i, const char* name, int64_t min, int64_t max) const {
  if (i >= info_.Length()) typeError(i, name, "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  if (!isIntegerIn(info_[i], min, max)) integerError(info_[i], name, min, max);
  return static_cast<int64_t>(info_[i].As<Napi::Number>().DoubleValue());
}

int64_t Args::integerField(const Napi::Value& v, const char* object, const char* key, int64_t min, int64_t max) const {
  if (!isIntegerIn(v, min, max)) integerError(v, std::string(object) + "." + key, min, max);
  return static_cast<int64_t>(v.As<Napi::Number>().DoubleValue());
}

void Args::integerError(const Napi::Value& v, const std::string& name, int64_t min, int64_t max) const {
  throw Napi::TypeError::New(env(), std::string(function_) + ": argument '" + name + "' must be an integer in [" +
                                        std::to_string(min) + ", " + std::to_string(max) + "], got " + describe(v));
}

double Args::number(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsNumber()) typeError(i, name, "a finite number");
  const double d = info_[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) typeError(i, name, "a finite number");
  return d;
}

bool Args::boolean(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsBoolean()) typeError(i, name, "a boolean");
  return info_[i].As<Napi::Boolean>().Value();
}

std::string Args::oneOf(size_t i, const char* name, std::initializer_list<const char*> choices) const {
  return choices.begin()[oneOfIndex(i, name, choices.begin(), choices.size())];
}

size_t Args::oneOfIndex(size_t i, const char* name, const char* const* choices, size_t count) const {
  if (i < info_.Length() && info_[i].IsString()) {
    const std::string s = info_[i].As<Napi::String>().Utf8Value();
    for (size_t k = 0; k < count; ++k)
      if (s == choices[k]) return k;
  }
  // Spelled out only for the error: every elementwise op names its kind, and building this list
  // on each call cost more than the check.
  std::string expected;
  for (size_t k = 0; k < count; ++k) expected += (k ? "', '" : "one of '") + std::string(choices[k]);
  typeError(i, name, expected + "'");
}

Napi::Object Args::object(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsObject() || info_[i].IsArray() || info_[i].IsFunction())
    typeError(i, name, "a plain object");
  return info_[i].As<Napi::Object>();
}

Napi::TypedArray Args::typedArray(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsTypedArray()) typeError(i, name, "a Float32Array or Int32Array");
  return info_[i].As<Napi::TypedArray>();
}

void TensorHandle::noteHostData(const void* data, size_t count) {
  if (dtype != DType::Int32 || count == 0) {
    minValue = maxValue = 0;
    return;
  }
  const auto* v = static_cast<const int32_t*>(data);
  const auto [lo, hi] = std::minmax_element(v, v + count);
  minValue = *lo;
  maxValue = *hi;
}

TensorHandle* asTensorHandle(Napi::Env env, const Napi::Value& value) {
  static TensorHandle freed{nullptr, DType::Float32, 0};
  TensorHandle* handle = nullptr;
  switch (lookupObject(env, value, kTensorHandleTag, &handle)) {
    case HandleState::Live: return handle;
    case HandleState::Released: return &freed;
    case HandleState::Foreign: break;
  }
  return nullptr;
}

TensorHandle& Args::tensor(size_t i, const char* name) const {
  TensorHandle* handle = i < info_.Length() ? asTensorHandle(env(), info_[i]) : nullptr;
  if (!handle) typeError(i, name, "a tensor handle");
  if (!handle->storage)
    throw Napi::Error::New(env(), std::string(function_) + ": argument '" + name +
                                      "' is a tensor whose memory was already freed (used after dispose)");
  return *handle;
}

Device parseDevice(const std::string& name) { return name == "cuda" ? Device::Cuda : Device::Cpu; }
DType parseDType(const std::string& name) { return name == "int32" ? DType::Int32 : DType::Float32; }

// The bytes are reported to V8 so that its GC sees their weight (the JS layer frees forgotten
// tensors when they are collected).
Napi::Value wrapHandle(Napi::Env env, TensorHandle* handle) {
  std::unique_ptr<TensorHandle> owned(handle);
  const auto bytes = static_cast<int64_t>(owned->storage->bytes());
  Napi::Value value = wrapObject(env, std::move(owned), kTensorHandleTag);
  Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
  return value;
}

void releaseTensor(Napi::Env env, const Napi::Value& value, const TensorHandle& handle) {
  Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(handle.storage->bytes()));
  releaseObject(env, value);
}

}  // namespace cgru::bindings
