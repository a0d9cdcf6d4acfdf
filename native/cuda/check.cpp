#include "cuda/check.h"

#include "core/errors.h"
#include "cuda/libraries.h"

namespace cgru::cuda {
namespace {
std::string callName(const char* call) {
  std::string s(call ? call : "?");
  const size_t paren = s.find('(');
  return paren == std::string::npos ? s : s.substr(0, paren);
}
}  // namespace

std::string describeCuda(cudaError_t status) {
  const char* name = cudaGetErrorName(status);
  const char* text = cudaGetErrorString(status);
  return std::string(name ? name : "cudaError?") + " (" + std::to_string(static_cast<int>(status)) + "): " +
         (text ? text : "unknown error");
}

std::string describeCudnn(cudnnStatus_t status) {
  const CudnnApi& api = cudnn();
  std::string out = api.cudnnGetErrorString ? api.cudnnGetErrorString(status) : "CUDNN_STATUS_?";
  out += " (" + std::to_string(static_cast<int>(status)) + ")";
  if (api.cudnnGetLastErrorString) {
    char detail[1024] = {0};
    api.cudnnGetLastErrorString(detail, sizeof detail);
    detail[sizeof detail - 1] = 0;
    if (detail[0]) out += ": " + std::string(detail);
  }
  return out;
}

std::string describeCublas(cublasStatus_t status) {
  const CublasApi& api = cublas();
  std::string out = api.cublasGetStatusName ? api.cublasGetStatusName(status) : "CUBLAS_STATUS_?";
  out += " (" + std::to_string(static_cast<int>(status)) + ")";
  if (api.cublasGetStatusString) out += ": " + std::string(api.cublasGetStatusString(status));
  return out;
}

void throwCuda(const char* call, cudaError_t status) {
  // Clear the runtime's "last error" so that a later, unrelated check does not report it again
  // (sticky errors such as an illegal address stay, and keep being reported by every call).
  cudaGetLastError();
  throw Error(callName(call) + " failed: " + describeCuda(status));
}
void throwCudnn(const char* call, cudnnStatus_t status) {
  throw Error(callName(call) + " failed: " + describeCudnn(status));
}
void throwCublas(const char* call, cublasStatus_t status) {
  throw Error(callName(call) + " failed: " + describeCublas(status));
}

}  // namespace cgru::cuda
