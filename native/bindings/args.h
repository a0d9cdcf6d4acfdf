// Argument checking shared by every binding: each check names the function and the argument,
// says what was expected and what came, and throws a JS TypeError/RangeError.
#pragma once
#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/storage.h"

namespace cgru::bindings {

// The native side of a JS tensor's data: a storage plus its element type. Passed to JS as a
// type-tagged External, so no other object can be mistaken for it.
struct TensorHandle {
  StoragePtr storage;  // null once freed
  DType dtype;
  size_t numel;
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
  // The same check for a value that is not a positional argument (an object field, say).
  int64_t integerValue(const Napi::Value& value, const std::string& name, int64_t min, int64_t max) const;
  double number(size_t i, const char* name) const;
  bool boolean(size_t i, const char* name) const;
  std::string oneOf(size_t i, const char* name, std::initializer_list<const char*> choices) const;
  Napi::Object object(size_t i, const char* name) const;
  Napi::TypedArray typedArray(size_t i, const char* name) const;
  // A live (not freed) tensor handle; with dtype/device checks when given.
  TensorHandle& tensor(size_t i, const char* name) const;

  static std::string describe(const Napi::Value& value);

 private:
  const Napi::CallbackInfo& info_;
  const char* function_;
};

// The tensor handle `value` wraps (freed or not), or nullptr when it is anything else.
TensorHandle* asTensorHandle(Napi::Env env, const Napi::Value& value);

Device parseDevice(const std::string& name);
DType parseDType(const std::string& name);
Napi::Value wrapHandle(Napi::Env env, TensorHandle* handle);

// Runs a binding body, turning native exceptions into JS errors.
template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& body);

}  // namespace cgru::bindings

#include "bindings/guard.inl"
