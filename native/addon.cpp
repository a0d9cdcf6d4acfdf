#include <napi.h>

#include "bindings/environment.h"
#include "bindings/register.h"

namespace {
Napi::Object init(Napi::Env env, Napi::Object exports) {
  cgru::bindings::initEnvironment(env);
  cgru::bindings::registerTensorBindings(env, exports);
  cgru::bindings::registerInfoBindings(env, exports);
  cgru::bindings::registerGruBindings(env, exports);
  cgru::bindings::registerOpsBindings(env, exports);
  return exports;
}
}  // namespace

NODE_API_MODULE(cudnn_gru, init)
