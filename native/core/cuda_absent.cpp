// Compiled instead of native/cuda/ when the build found no CUDA toolkit or no cuDNN headers.
#include "cgru_build_config.h"
#include "core/backend.h"

namespace cgru {

const CudaReport& cudaReport() {
  static const CudaReport report = [] {
    CudaReport r;
    r.compiled = false;
    r.reason = std::string("this binary was built without CUDA: ") + CGRU_CUDA_BUILD_NOTE;
    return r;
  }();
  return report;
}

Backend* cudaBackend() { return nullptr; }

}  // namespace cgru
