#pragma once
#include <new>

#include "core/errors.h"
#include "cpu/cpu_backend.h"

namespace cgru::bindings {

template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& body) {
  Napi::Env env = info.Env();
  try {
    cpu::applyBlasThreads();
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const ArgumentError& e) {
    throw Napi::TypeError::New(env, e.what());
  } catch (const std::bad_alloc&) {
    throw Napi::RangeError::New(env, "cudnn-gru: out of host memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

}  // namespace cgru::bindings
