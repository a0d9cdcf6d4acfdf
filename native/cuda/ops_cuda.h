// TensorOps on the CUDA backend (core/ops.h): GEMM through cuBLAS (FP32, no TF32), everything
// else as kernels in ops_cuda.cu queued on the backend's stream. Loss, metric and norm
// reductions are deterministic (per-row / per-block partials in double, reduced by one block in
// a fixed order); only scatterAdd uses atomics. Nothing synchronises with the host except
// reverseTime's upload of host lengths (staged, asynchronous) and firstNonFinite.
#pragma once
#include <memory>

#include "core/ops.h"

namespace cgru::cuda {

class CudaBackend;

std::unique_ptr<TensorOps> makeCudaOps(CudaBackend& backend);

}  // namespace cgru::cuda
