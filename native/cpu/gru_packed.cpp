// Packing and the choice of packed kernels (gru_packed.h); the kernels are in gru_packed_avx2.cpp
// and gru_packed_avx512.cpp.
#include "cpu/gru_packed.h"

#include "cpu/cpu_isa.h"

namespace cgru::cpu::packed {

void pack(const float* w, int gates, int H, int K, float* out) {
  const int n = units();
  const size_t h = static_cast<size_t>(H), kk = static_cast<size_t>(K);
  const size_t width = static_cast<size_t>(gates) * n;
  for (int p = 0; p < panels(H); ++p) {
    float* panel = out + static_cast<size_t>(p) * kk * width;
    for (int g = 0; g < gates; ++g) {
      for (int u = 0; u < n; ++u) {
        const int j = p * n + u;
        float* o = panel + static_cast<size_t>(g) * n + u;
        if (j < H) {
          const float* src = w + (g * h + static_cast<size_t>(j)) * kk;
          for (size_t k = 0; k < kk; ++k) o[k * width] = src[k];
        } else {
          for (size_t k = 0; k < kk; ++k) o[k * width] = 0.0f;
        }
      }
    }
  }
}

#if defined(CGRU_PACKED_X86)

bool available() { return activeIsa() >= Isa::Avx2; }

const char* kernelName() {
  switch (activeIsa()) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    case Isa::Generic: break;
  }
  return "none";
}

int units() { return activeIsa() == Isa::Avx512 ? kUnitsAvx512 : kUnitsAvx2; }

void step(const StepArgs& a, int panelBegin, int panelEnd) {
  if (activeIsa() == Isa::Avx512) avx512::step(a, panelBegin, panelEnd);
  else avx2::step(a, panelBegin, panelEnd);
}

void project(const ProjectArgs& p, size_t rowBegin, size_t rowEnd) {
  if (activeIsa() == Isa::Avx512) avx512::project(p, rowBegin, rowEnd);
  else avx2::project(p, rowBegin, rowEnd);
}

#else  // no x86-64: callers use BLAS

bool available() { return false; }
const char* kernelName() { return "none"; }
int units() { return kUnitsAvx2; }
void step(const StepArgs&, int, int) {}
void project(const ProjectArgs&, size_t, size_t) {}

#endif

}  // namespace cgru::cpu::packed
