#include <cstdlib>
#include <string>
#include <thread>

#include "cgru_build_config.h"
#include "cpu/blas.h"
#include "cpu/thread_pool.h"

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
  // OpenBLAS runs m·n·k up to 65536 · GEMM_MULTITHREAD_THRESHOLD (4) on the calling thread
  // (interface/gemm.c); above that its threads need the cores our watching workers spin on.
  constexpr double kThreadedMnk = 65536.0 * 4;
  if (static_cast<double>(m) * n * k > kThreadedMnk && blasThreads() > 1) ThreadPool::instance().stopWatching();
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

const char* blasName() { return CGRU_BLAS_NAME; }
bool blasIsBuiltin() { return false; }

#if defined(CGRU_BLAS_OpenBLAS)
const char* blasCore() { return openblas_get_corename(); }
#else
const char* blasCore() { return ""; }
#endif

#if defined(CGRU_BLAS_OpenBLAS) && defined(__x86_64__) && defined(__linux__)
}  // namespace cgru::cpu

// OpenBLAS's DYNAMIC_ARCH kernel selection (driver/others/dynamic.c): init picks the kernel table
// from OPENBLAS_CORETYPE or, unset, from its own cpuid table, once, when the library loads; quit
// forgets the choice. Not in cblas.h and absent from builds for one CPU, hence weak.
extern "C" void gotoblas_dynamic_init(void) __attribute__((weak));
extern "C" void gotoblas_dynamic_quit(void) __attribute__((weak));

namespace cgru::cpu {
namespace {

// The core whose SGEMM kernels suit the ISA. OpenBLAS 0.3.21 (Debian 12) does not know
// Sapphire Rapids and falls back to its SSE3 kernels: sgemm 1024³ on 2 cores of one took 37 GF/s
// as "Prescott", 126 as "Haswell", 212 as "SkylakeX" (medians of 7 interleaved rounds). Users also
// inherit OPENBLAS_CORETYPE settings made for other CPUs. Later cores (Cooperlake,
// SapphireRapids) share SkylakeX's SGEMM kernels.
const char* coreFor(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "SkylakeX";
    case Isa::Avx2: return "Haswell";
    case Isa::Generic: return nullptr;
  }
  return nullptr;
}

}  // namespace

void selectBlasKernels(Isa isa) {
  const char* core = coreFor(isa);
  if (!core || !gotoblas_dynamic_init || !gotoblas_dynamic_quit) return;
  if (std::string(openblas_get_corename()) == core) return;
  // init reads the choice from OPENBLAS_CORETYPE: set it for the call, then restore the user's
  // value so that child processes see their environment unchanged.
  const char* previous = std::getenv("OPENBLAS_CORETYPE");
  const std::string saved = previous ? previous : "";
  setenv("OPENBLAS_CORETYPE", core, 1);
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  if (previous) setenv("OPENBLAS_CORETYPE", saved.c_str(), 1);
  else unsetenv("OPENBLAS_CORETYPE");
}
#else
void selectBlasKernels(Isa) {}
#endif

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
