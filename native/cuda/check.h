// Status checking for CUDA, cuDNN and cuBLAS calls. Every failure becomes a cgru::Error whose
// message names the call and the library's own status name and text, e.g.
//   "cudnnRNNForward failed: CUDNN_STATUS_BAD_PARAM (2000): <cuDNN's last error message>".
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <string>

#include "cuda/libraries.h"

namespace cgru::cuda {

// "cudaErrorInsufficientDriver (35): CUDA driver version is insufficient for CUDA runtime version"
std::string describeCuda(cudaError_t status);
// "CUDNN_STATUS_NOT_INITIALIZED (1001)" plus cuDNN's last detailed message when it has one.
std::string describeCudnn(cudnnStatus_t status);
std::string describeCublas(cublasStatus_t status);

// `call` may be a whole call expression; only the text before its '(' is kept.
[[noreturn]] void throwCuda(const char* call, cudaError_t status);
[[noreturn]] void throwCudnn(const char* call, cudnnStatus_t status);
[[noreturn]] void throwCublas(const char* call, cublasStatus_t status);

inline void checkCuda(cudaError_t status, const char* call) {
  if (status != cudaSuccess) throwCuda(call, status);
}
inline void checkCudnn(cudnnStatus_t status, const char* call) {
  if (status != CUDNN_STATUS_SUCCESS) throwCudnn(call, status);
}
inline void checkCublas(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS) throwCublas(call, status);
}

}  // namespace cgru::cuda

// The call's name is the text before its argument list: CGRU_CUDA(cudaMalloc(&p, n)) reports
// "cudaMalloc failed: ...". cuDNN and cuBLAS calls go through the loaded function tables:
// CGRU_CUDNN(cudnnCreate, &handle) calls cudnn().cudnnCreate(&handle).
#define CGRU_CUDA(expr) ::cgru::cuda::checkCuda((expr), #expr)
#define CGRU_CUDNN(fn, ...) ::cgru::cuda::checkCudnn(::cgru::cuda::cudnn().fn(__VA_ARGS__), #fn)
#define CGRU_CUBLAS(fn, ...) ::cgru::cuda::checkCublas(::cgru::cuda::cublas().fn(__VA_ARGS__), #fn)
