// Row-major single-precision GEMM and BLAS thread control, backed by OpenBLAS, MKL, Accelerate
// (blas_cblas.cpp) or, when none was found at build time, a portable blocked GEMM
// (blas_builtin.cpp).
#pragma once

#include "cpu/cpu_isa.h"

namespace cgru::cpu {

// C[m×n] = alpha · op(A) · op(B) + beta · C, all row-major; op(X) = Xᵀ when trans is true.
// lda/ldb/ldc are the row strides of A, B, C as stored.
void sgemm(bool transA, bool transB, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc);

const char* blasName();
// The kernel set the BLAS runs (OpenBLAS: its core name, e.g. "SkylakeX"); "" where it has none.
const char* blasCore();
// Makes the BLAS run the kernels for `isa` where it can choose (OpenBLAS built with DYNAMIC_ARCH,
// as Debian's and the prebuilds' are), whatever OPENBLAS_CORETYPE says; elsewhere it keeps its
// own choice. Called once at load, before any GEMM.
void selectBlasKernels(Isa isa);
bool blasIsBuiltin();
// Threads BLAS uses; setBlasThreads(n) with n >= 1.
void setBlasThreads(int n);
int blasThreads();

}  // namespace cgru::cpu
