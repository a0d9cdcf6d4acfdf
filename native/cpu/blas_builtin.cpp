// Portable GEMM for builds without a BLAS library: cache-blocked, B packed into contiguous
// panels so the inner loop vectorises. Correct everywhere, several times slower than OpenBLAS.
#include <algorithm>
#include <vector>

#include "cpu/blas.h"

namespace cgru::cpu {
namespace {
int gThreads = 1;
constexpr int kBlockK = 256;
constexpr int kBlockN = 512;
}  // namespace

void sgemm(bool transA, bool transB, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc) {
  if (m == 0 || n == 0) return;
  for (int i = 0; i < m; ++i) {
    float* row = c + static_cast<long>(i) * ldc;
    if (beta == 0.0f) std::fill(row, row + n, 0.0f);
    else if (beta != 1.0f) for (int j = 0; j < n; ++j) row[j] *= beta;
  }
  std::vector<float> panel(static_cast<size_t>(kBlockK) * kBlockN);
  for (int k0 = 0; k0 < k; k0 += kBlockK) {
    const int kb = std::min(kBlockK, k - k0);
    for (int n0 = 0; n0 < n; n0 += kBlockN) {
      const int nb = std::min(kBlockN, n - n0);
      for (int p = 0; p < kb; ++p)
        for (int j = 0; j < nb; ++j)
          panel[static_cast<size_t>(p) * nb + j] =
              transB ? b[static_cast<long>(n0 + j) * ldb + k0 + p] : b[static_cast<long>(k0 + p) * ldb + n0 + j];
      for (int i = 0; i < m; ++i) {
        float* row = c + static_cast<long>(i) * ldc + n0;
        for (int p = 0; p < kb; ++p) {
          const float av = alpha * (transA ? a[static_cast<long>(k0 + p) * lda + i] : a[static_cast<long>(i) * lda + k0 + p]);
          const float* prow = panel.data() + static_cast<size_t>(p) * nb;
          for (int j = 0; j < nb; ++j) row[j] += av * prow[j];
        }
      }
    }
  }
}

const char* blasName() { return "builtin"; }
bool blasIsBuiltin() { return true; }
const char* blasCore() { return ""; }
void selectBlasKernels(Isa) {}
void setBlasThreads(int n) { gThreads = n; }
int blasThreads() { return gThreads; }

}  // namespace cgru::cpu
