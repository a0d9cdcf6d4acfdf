// Run-time loading of cuDNN 9 and cuBLAS (dlopen, never linked), so that one binary loads on
// machines with no GPU, no driver or no cuDNN. The function tables take their types from the
// real headers (decltype(&::cudnnCreate)), so every signature is checked by the compiler.
#pragma once
#include <cublas_v2.h>
#include <cudnn.h>

#include <string>
#include <vector>

namespace cgru::cuda {

#define CGRU_CUDNN_FUNCTIONS(X)                                                                   \
  X(cudnnGetVersion) X(cudnnGetCudartVersion) X(cudnnGetErrorString) X(cudnnGetLastErrorString)  \
  X(cudnnCreate) X(cudnnDestroy) X(cudnnSetStream)                                               \
  X(cudnnCreateTensorDescriptor) X(cudnnDestroyTensorDescriptor) X(cudnnSetTensorNdDescriptor)   \
  X(cudnnGetTensorNdDescriptor)                                                                  \
  X(cudnnCreateDropoutDescriptor) X(cudnnDestroyDropoutDescriptor) X(cudnnDropoutGetStatesSize)  \
  X(cudnnSetDropoutDescriptor) X(cudnnRestoreDropoutDescriptor)                                  \
  X(cudnnCreateRNNDescriptor) X(cudnnDestroyRNNDescriptor) X(cudnnSetRNNDescriptor_v8)           \
  X(cudnnGetRNNWeightSpaceSize) X(cudnnGetRNNWeightParams) X(cudnnGetRNNTempSpaceSizes)          \
  X(cudnnCreateRNNDataDescriptor) X(cudnnDestroyRNNDataDescriptor) X(cudnnSetRNNDataDescriptor)  \
  X(cudnnRNNForward) X(cudnnRNNBackwardData_v8) X(cudnnRNNBackwardWeights_v8)

// cuBLAS through its _v2 entry points (what cublas_v2.h's macros name).
#define CGRU_CUBLAS_FUNCTIONS(X)                                                                 \
  X(cublasCreate_v2) X(cublasDestroy_v2) X(cublasGetVersion_v2) X(cublasGetProperty)            \
  X(cublasGetStatusName) X(cublasGetStatusString) X(cublasSetStream_v2) X(cublasSetMathMode)    \
  X(cublasSetWorkspace_v2) X(cublasSetPointerMode_v2)                                            \
  X(cublasSgemm_v2) X(cublasSgemmStridedBatched) X(cublasSgeam) X(cublasSaxpy_v2)               \
  X(cublasSscal_v2) X(cublasSdot_v2)

#define CGRU_DECLARE_POINTER(name) decltype(&::name) name = nullptr;
struct CudnnApi {
  CGRU_CUDNN_FUNCTIONS(CGRU_DECLARE_POINTER)
};
struct CublasApi {
  CGRU_CUBLAS_FUNCTIONS(CGRU_DECLARE_POINTER)
};
#undef CGRU_DECLARE_POINTER

// What loading found. `error` is empty when the library and every symbol were found.
struct LoadedLibrary {
  void* handle = nullptr;
  std::string path;   // the file that loaded (resolved with dladdr)
  std::string error;  // why it did not load (names the paths that exist but failed)
};

struct LoadResult {
  LoadedLibrary cudnn, cublas;
  int cudnnCudaMajor = 0;  // the CUDA major version cuDNN was built for; 0 when cuDNN did not load
  std::vector<std::string> searchedPaths;  // every path passed to dlopen, in order
};

// Loads cuDNN and then cuBLAS, once per process; later calls return the first result. Never
// throws. cuDNN's sub-libraries load libcublasLt.so.<major> by soname when they first run (not
// when they load), <major> being the CUDA major cuDNN was built for: cuBLAS of that major is
// preferred (13, then 12, without cuDNN), so that cuDNN and our GEMMs share one cuBLAS.
const LoadResult& loadLibraries();

// The tables, valid once loadLibraries() reported no error for the library.
const CudnnApi& cudnn();
const CublasApi& cublas();

}  // namespace cgru::cuda
