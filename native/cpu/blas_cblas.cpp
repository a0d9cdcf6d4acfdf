#include <thread>

#include "cgru_build_config.h"
#include "cpu/blas.h"

#if defined(CGRU_BLAS_Accelerate)
#define ACCELERATE_NEW_LAPACK
#include <Accelerate/Accelerate.h>
#elif defined(CGRU_BLAS_MKL)
#include <mkl.h>
#else
#include <cblas.h>
#endif

namespace cgru::cpu {

void sgemm(bool transA, bool transB, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

const char* blasName() { return CGRU_BLAS_NAME; }
bool blasIsBuiltin() { return false; }

#if defined(CGRU_BLAS_OpenBLAS)
void setBlasThreads(int n) { openblas_set_num_threads(n); }
int blasThreads() { return openblas_get_num_threads(); }
#elif defined(CGRU_BLAS_MKL)
void setBlasThreads(int n) { mkl_set_num_threads(n); }
int blasThreads() { return mkl_get_max_threads(); }
#else
// Accelerate schedules its own threads and offers no control.
void setBlasThreads(int) {}
int blasThreads() { return static_cast<int>(std::thread::hardware_concurrency()); }
#endif

}  // namespace cgru::cpu
