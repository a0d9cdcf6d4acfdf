// Each bindings/*.cpp file adds its functions to the module's exports.
#pragma once
#include <napi.h>

namespace cgru::bindings {
void registerTensorBindings(Napi::Env env, Napi::Object exports);
void registerInfoBindings(Napi::Env env, Napi::Object exports);
void registerGruBindings(Napi::Env env, Napi::Object exports);
void registerOpsBindings(Napi::Env env, Napi::Object exports);
}  // namespace cgru::bindings
