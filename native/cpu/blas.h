// Row-major single-precision GEMM and BLAS thread control, backed by OpenBLAS, MKL, Accelerate
// (blas_cblas.cpp) or, when none was found at build time, a portable blocked GEMM
// (blas_builtin.cpp).
#pragma once

namespace cgru::cpu {

// C[m×n] = alpha · op(A) · op(B) + beta · C, all row-major; op(X) = Xᵀ when trans is true.
// lda/ldb/ldc are the row strides of A, B, C as stored.
void sgemm(bool transA, bool transB, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc);

const char* blasName();
bool blasIsBuiltin();
// Threads BLAS uses; setBlasThreads(n) with n >= 1.
void setBlasThreads(int n);
int blasThreads();

}  // namespace cgru::cpu
