// backendInfo(), thread control and the TF32 switch.
#include <mutex>
#include <thread>

#include "bindings/args.h"
#include "core/errors.h"
#include "core/ops.h"
#include "bindings/register.h"
#include "cpu/blas.h"
#include "cpu/cpu_backend.h"
#include "cpu/cpu_isa.h"
#include "cpu/gru_packed.h"

namespace cgru::bindings {
namespace {

Napi::Value backendInfo(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);

    Napi::Object cpu = Napi::Object::New(env);
    cpu.Set("blas", cpu::blasName());
    cpu.Set("blasIsBuiltin", cpu::blasIsBuiltin());
    if (cpu::blasIsBuiltin())
      cpu.Set("warning", "built without a BLAS library: GEMM uses the slow portable fallback; install OpenBLAS and rebuild");
    cpu.Set("threads", cpu::numThreads());
    cpu.Set("blasThreads", cpu::blasThreads());
    cpu.Set("cores", std::thread::hardware_concurrency());
    cpu.Set("isa", cpu::isaName(cpu::activeIsa()));
    cpu.Set("isaDetected", cpu::isaName(cpu::detectedIsa()));
    const auto& features = cpu::cpuFeatures();
    Napi::Array featureList = Napi::Array::New(env, features.size());
    for (size_t i = 0; i < features.size(); ++i) featureList.Set(static_cast<uint32_t>(i), features[i]);
    cpu.Set("features", featureList);
    Napi::Object kernels = Napi::Object::New(env);
    const std::string recurrent = cpu::packed::enabled() ? std::string("packed-") + cpu::packed::kernelName() : "blas";
    kernels.Set("recurrentStep", recurrent);
    kernels.Set("inputProjection", recurrent);
    // The backward's time loop and input gradient run on the packed kernels too; its weight gradients on BLAS.
    kernels.Set("backward", cpu::packed::enabled() ? recurrent + " step and input gradient, blas weight gradients" : "blas");
    cpu.Set("kernels", kernels);
    cpu.Set("blasCore", cpu::blasCore());
    out.Set("cpu", cpu);

    const CudaReport& r = cudaReport();
    Napi::Object cuda = Napi::Object::New(env);
    cuda.Set("compiled", r.compiled);
    cuda.Set("available", r.available);
    // The GRU runs on any available CUDA backend; the model layer also needs its tensor ops.
    Backend* backend = cudaBackend();
    cuda.Set("tensorOps", backend != nullptr && backend->ops() != nullptr);
    cuda.Set("allowTF32", backend != nullptr && backend->allowTF32());
    if (!r.reason.empty()) cuda.Set("reason", r.reason);
    if (r.available) {
      cuda.Set("deviceName", r.deviceName);
      cuda.Set("deviceIndex", r.deviceIndex);
      cuda.Set("computeCapability", std::to_string(r.computeMajor) + "." + std::to_string(r.computeMinor));
      cuda.Set("totalMemoryBytes", static_cast<double>(r.totalMemoryBytes));
    }
    if (r.compiled) {
      cuda.Set("driverVersion", r.driverVersion);
      cuda.Set("runtimeVersion", r.runtimeVersion);
      cuda.Set("cudnnVersion", static_cast<double>(r.cudnnVersion));
      cuda.Set("cudnnPath", r.cudnnPath);
      cuda.Set("cublasVersion", r.cublasVersion);
      cuda.Set("cublasPath", r.cublasPath);
      Napi::Array searched = Napi::Array::New(env, r.searchedPaths.size());
      for (size_t i = 0; i < r.searchedPaths.size(); ++i) searched.Set(static_cast<uint32_t>(i), r.searchedPaths[i]);
      cuda.Set("searchedPaths", searched);
    }
    out.Set("cuda", cuda);
    return out;
  });
}

Napi::Value setNumThreads(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Args args(info, "setNumThreads");
    cpu::setNumThreads(static_cast<int>(args.integer(0, "numThreads", 1, 1024)));
    return info.Env().Undefined();
  });
}

Napi::Value getNumThreads(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value { return Napi::Number::New(info.Env(), cpu::numThreads()); });
}

// TF32 is a CUDA feature: where CUDA is not available this changes nothing (and says so through
// backendInfo().cuda.allowTF32 staying false).
Napi::Value setAllowTF32(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Args args(info, "setAllowTF32");
    if (args.isAbsent(0) || !info[0].IsBoolean()) args.typeError(0, "allow", "a boolean");
    if (Backend* backend = cudaBackend()) backend->setAllowTF32(info[0].As<Napi::Boolean>().Value());
    return info.Env().Undefined();
  });
}

}  // namespace

void registerInfoBindings(Napi::Env env, Napi::Object exports) {
  // The ISA is resolved at load, so that a bad CUDNN_GRU_CPU_ISA fails the require with its reason,
  // and the BLAS gets the kernels for it before its first GEMM.
  static std::once_flag blasKernelsChosen;
  cpu::Isa isa;
  try {
    isa = cpu::activeIsa();
  } catch (const Error& e) {
    throw Napi::Error::New(env, std::string("cudnn-gru: ") + e.what());
  }
  std::call_once(blasKernelsChosen, [isa] { cpu::selectBlasKernels(isa); });
  exports.Set("backendInfo", Napi::Function::New(env, backendInfo, "backendInfo"));
  exports.Set("setNumThreads", Napi::Function::New(env, setNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, getNumThreads, "getNumThreads"));
  exports.Set("setAllowTF32", Napi::Function::New(env, setAllowTF32, "setAllowTF32"));
}

}  // namespace cgru::bindings
