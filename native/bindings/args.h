// Argument checking shared by every binding: each check names the function and the argument,
// says what was expected and what came, and throws a JS TypeError/RangeError.
#pragma once
#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/storage.h"

namespace cgru::bindings {

// The native side of a JS tensor's data: a storage plus its element type. JS holds it through a
// type-tagged External naming a slot of the environment's handle table (bindings/handles.h), so
// no other object can be mistaken for it.
struct TensorHandle {
  StoragePtr storage;  // null only in the stand-in for freed tensors (asTensorHandle)
  DType dtype;
  size_t numel;
  // int32 tensors: the smallest and largest element. int32 data only ever comes from the host
  // (alloc with init, write) or from another int32 tensor (copyTo); no kernel writes int32. So the
  // range is always known, and label/index checks need no device-to-host copy (on CUDA that
  // copy would synchronise the stream on every training step).
  int32_t minValue = 0, maxValue = 0;

  // Records the range of int32 host data that now fills this tensor (no-op for float32).
  void noteHostData(const void* data, size_t count);
};

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* function) : info_(info), function_(function) {}

  Napi::Env env() const { return info_.Env(); }
  size_t count() const { return info_.Length(); }
  bool isAbsent(size_t i) const { return i >= info_.Length() || info_[i].IsUndefined() || info_[i].IsNull(); }

  [[noreturn]] void typeError(size_t i, const char* name, const std::string& expected) const;
  [[noreturn]] void rangeError(const char* name, const std::string& message) const;

  int64_t integer(size_t i, const char* name, int64_t min, int64_t max) const;
  // The same check for field `key` of the object argument `object` (named "object.key").
  int64_t integerField(const Napi::Value& value, const char* object, const char* key, int64_t min, int64_t max) const;
  double number(size_t i, const char* name) const;
  bool boolean(size_t i, const char* name) const;
  std::string oneOf(size_t i, const char* name, std::initializer_list<const char*> choices) const;
  // The index of argument i in `choices` (a name table in an enum's order); the same error as oneOf.
  size_t oneOfIndex(size_t i, const char* name, const char* const* choices, size_t count) const;
  template <typename Kind, size_t N>
  Kind kind(size_t i, const char* name, const char* const (&names)[N]) const {
    return static_cast<Kind>(oneOfIndex(i, name, names, N));
  }
  Napi::Object object(size_t i, const char* name) const;
  Napi::TypedArray typedArray(size_t i, const char* name) const;
  // A live (not freed) tensor handle; with dtype/device checks when given.
  TensorHandle& tensor(size_t i, const char* name) const;

  static std::string describe(const Napi::Value& value);

 private:
  [[noreturn]] void integerError(const Napi::Value& value, const std::string& name, int64_t min, int64_t max) const;

  const Napi::CallbackInfo& info_;
  const char* function_;
};

// The tensor handle `value` names; for a freed tensor a shared stand-in whose storage is null
// (never modify it); nullptr when `value` is not a tensor handle.
TensorHandle* asTensorHandle(Napi::Env env, const Napi::Value& value);

Device parseDevice(const std::string& name);
DType parseDType(const std::string& name);
// Gives `handle` (new'd, with its storage) to the environment's table; returns the JS handle.
Napi::Value wrapHandle(Napi::Env env, TensorHandle* handle);
// Frees the tensor a live `value` names, now.
void releaseTensor(Napi::Env env, const Napi::Value& value, const TensorHandle& handle);

// Runs a binding body with its environment's BLAS threads, turning native exceptions into JS errors.
template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& body);

}  // namespace cgru::bindings

#include "bindings/guard.inl"
