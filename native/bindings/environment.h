// State that belongs to one Node environment (the main thread, or one worker): made when the addon
// is loaded into it, destroyed at its teardown (exit, a worker ending or being terminated).
#pragma once
#include <napi.h>

#include "bindings/handles.h"

namespace cgru::bindings {

struct Environment {
  HandleTable handles;  // every native object this environment's JS holds
};

// Called once per environment, from the module's init.
void initEnvironment(Napi::Env env);
Environment& environment(Napi::Env env);

}  // namespace cgru::bindings
