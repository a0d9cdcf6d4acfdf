// cgru::cudaReport() and cgru::cudaBackend() for builds with CUDA (replaces core/cuda_absent.cpp):
// probes the driver, the device, cuDNN and cuBLAS once, and says precisely what is missing.
#include <dlfcn.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "core/backend.h"
#include "core/errors.h"
#include "cuda/check.h"
#include "cuda/cuda_backend.h"
#include "cuda/libraries.h"

namespace cgru {
namespace {

std::string versionText(int v) {  // CUDA's 13000 -> "13.0"
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

// Why cudaGetDeviceCount failed, with what is known about the driver.
std::string driverProblem(cudaError_t status, int driverVersion, int runtimeVersion) {
  std::string msg = "cudaGetDeviceCount returned " + cuda::describeCuda(status);
  if (status == cudaErrorInsufficientDriver || status == cudaErrorNoDevice || driverVersion == 0) {
    ::dlerror();
    void* libcuda = ::dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!libcuda) {
      const char* e = ::dlerror();
      msg += "; no NVIDIA driver is installed (libcuda.so.1 cannot be loaded: " + std::string(e ? e : "not found") + ")";
    } else if (driverVersion > 0 && driverVersion < runtimeVersion) {
      msg += "; the installed NVIDIA driver supports CUDA " + versionText(driverVersion) + " but this binary needs CUDA " +
             versionText(runtimeVersion) + " (update the driver)";
    }
    // libcuda stays loaded: the CUDA runtime holds it anyway when it is present.
  }
  return msg;
}

struct CudaState {
  CudaReport report;
  std::unique_ptr<cuda::CudaBackend> backend;
};

void appendReason(CudaReport& r, const std::string& why) {
  if (!r.reason.empty()) r.reason += "; ";
  r.reason += why;
}

void probe(CudaState& st) {
  CudaReport& r = st.report;
  r.compiled = true;

  const char* devEnv = std::getenv("CUDNN_GRU_CUDA_DEVICE");
  bool deviceOk = true;
  if (devEnv && *devEnv) {
    char* end = nullptr;
    const long v = std::strtol(devEnv, &end, 10);
    if (*end != '\0' || v < 0 || v > 1024) {
      appendReason(r, std::string("CUDNN_GRU_CUDA_DEVICE='") + devEnv + "' is not a device index");
      deviceOk = false;
    } else {
      r.deviceIndex = static_cast<int>(v);
    }
  }

  cudaRuntimeGetVersion(&r.runtimeVersion);
  cudaDriverGetVersion(&r.driverVersion);  // 0 when no driver is installed
  cudaGetLastError();
  int count = 0;
  const cudaError_t countStatus = cudaGetDeviceCount(&count);
  if (countStatus != cudaSuccess) {
    cudaGetLastError();
    appendReason(r, driverProblem(countStatus, r.driverVersion, r.runtimeVersion));
    deviceOk = false;
  } else if (count == 0) {
    appendReason(r, "no CUDA device found (cudaGetDeviceCount returned 0)");
    deviceOk = false;
  } else if (deviceOk && r.deviceIndex >= count) {
    appendReason(r, "CUDNN_GRU_CUDA_DEVICE=" + std::to_string(r.deviceIndex) + " but only " + std::to_string(count) +
                        " CUDA device(s) exist");
    deviceOk = false;
  }
  if (deviceOk) {
    cudaDeviceProp prop{};
    const cudaError_t st2 = cudaGetDeviceProperties(&prop, r.deviceIndex);
    if (st2 != cudaSuccess) {
      cudaGetLastError();
      appendReason(r, "cudaGetDeviceProperties returned " + cuda::describeCuda(st2));
      deviceOk = false;
    } else {
      r.deviceName = prop.name;
      r.computeMajor = prop.major;
      r.computeMinor = prop.minor;
      r.totalMemoryBytes = prop.totalGlobalMem;
    }
  }

  // The libraries are looked for even without a device, so that the report says all that is
  // missing at once.
  const cuda::LoadResult& libs = cuda::loadLibraries();
  r.searchedPaths = libs.searchedPaths;
  if (libs.cublas.handle) {
    r.cublasPath = libs.cublas.path;
    int major = 0, minor = 0, patch = 0;
    const auto& api = cuda::cublas();
    if (api.cublasGetProperty(MAJOR_VERSION, &major) == CUBLAS_STATUS_SUCCESS &&
        api.cublasGetProperty(MINOR_VERSION, &minor) == CUBLAS_STATUS_SUCCESS &&
        api.cublasGetProperty(PATCH_LEVEL, &patch) == CUBLAS_STATUS_SUCCESS)
      r.cublasVersion = major * 10000 + minor * 100 + patch;  // CUBLAS_VERSION's encoding
  } else {
    appendReason(r, libs.cublas.error);
  }
  if (libs.cudnn.handle) {
    r.cudnnPath = libs.cudnn.path;
    r.cudnnVersion = cuda::cudnn().cudnnGetVersion();
  } else {
    appendReason(r, libs.cudnn.error);
  }
  // Another major would run cuDNN on a second cuBLAS, or fail when cuDNN first needs it.
  const int cublasMajor = r.cublasVersion / 10000;
  const bool majorsMatch = !libs.cudnn.handle || !r.cublasVersion || cublasMajor == libs.cudnnCudaMajor;
  if (!majorsMatch) {
    const std::string want = std::to_string(libs.cudnnCudaMajor);
    const bool loadable = libs.cudnnCudaMajor == 12 || libs.cudnnCudaMajor == 13;  // what loadCublas searches for
    appendReason(r, "cuDNN " + std::to_string(r.cudnnVersion) + " (" + r.cudnnPath + ") was built for CUDA " + want +
                        " and loads libcublasLt.so." + want + ", but the cuBLAS found is version " +
                        std::to_string(cublasMajor) + " (" + r.cublasPath + "): " +
                        (loadable ? "install cuBLAS " + want + " or point CUDNN_GRU_CUBLAS_PATH at it"
                                  : std::string("install cuDNN 9 for CUDA 13 or 12")));
  }
  if (!deviceOk || !libs.cublas.handle || !libs.cudnn.handle || !majorsMatch) return;

  try {
    st.backend = std::make_unique<cuda::CudaBackend>(r.deviceIndex);
    r.available = true;
  } catch (const std::exception& e) {
    appendReason(r, e.what());
  }
}

CudaState& state() {
  // Made once and never destroyed: at process exit the CUDA runtime and the loaded libraries
  // may already be torn down, and nothing needs freeing then.
  static CudaState* st = [] {
    auto* s = new CudaState();
    try {
      probe(*s);
    } catch (const std::exception& e) {
      s->report.available = false;
      s->backend.reset();
      appendReason(s->report, std::string("CUDA probe failed: ") + e.what());
    } catch (...) {
      s->report.available = false;
      s->backend.reset();
      appendReason(s->report, "CUDA probe failed with an unknown exception");
    }
    return s;
  }();
  return *st;
}

}  // namespace

const CudaReport& cudaReport() { return state().report; }

Backend* cudaBackend() { return state().backend.get(); }

}  // namespace cgru
