#include "bindings/environment.h"

#include <memory>

#include "core/errors.h"

namespace cgru::bindings {

// Node-API deletes the instance data at the environment's teardown, after the last JS call.
void initEnvironment(Napi::Env env) {
  auto state = std::make_unique<Environment>();
  env.SetInstanceData(state.get());
  state.release();
}

Environment& environment(Napi::Env env) {
  Environment* state = env.GetInstanceData<Environment>();
  if (!state) throw Error("cudnn-gru: the addon was not initialised in this environment");
  return *state;
}

}  // namespace cgru::bindings
