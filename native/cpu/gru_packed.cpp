// The choice of packed kernels (gru_packed.h); the kernels, and the packing, are in
// gru_packed_avx2.cpp and gru_packed_avx512.cpp.
#include "cpu/gru_packed.h"

#include <cstdlib>
#include <cstring>

#include "cpu/cpu_isa.h"

namespace cgru::cpu::packed {

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

int tileRows(int gates) { return activeIsa() == Isa::Avx512 ? avx512::tileRows(gates) : avx2::tileRows(gates); }

void step(const StepArgs& a, int panelBegin, int panelEnd) {
  if (activeIsa() == Isa::Avx512) avx512::step(a, panelBegin, panelEnd);
  else avx2::step(a, panelBegin, panelEnd);
}

void project(const ProjectArgs& p, size_t rowBegin, size_t rowEnd, int panelBegin, int panelEnd) {
  if (activeIsa() == Isa::Avx512) avx512::project(p, rowBegin, rowEnd, panelBegin, panelEnd);
  else avx2::project(p, rowBegin, rowEnd, panelBegin, panelEnd);
}

void pack(const float* w, int gates, int H, int K, float* out) {
  if (activeIsa() == Isa::Avx512) avx512::pack(w, gates, H, K, out);
  else avx2::pack(w, gates, H, K, out);
}

#endif

bool enabled() {
  if (!available()) return false;
  const char* force = std::getenv("CGRU_GRU_KERNEL");
  return !(force && std::strcmp(force, "blas") == 0);
}

#if !defined(CGRU_PACKED_X86)  // no x86-64: callers use BLAS

bool available() { return false; }
const char* kernelName() { return "none"; }
int units() { return kUnitsAvx2; }
int tileRows(int) { return 1; }
void step(const StepArgs&, int, int) {}
void project(const ProjectArgs&, size_t, size_t, int, int) {}
void pack(const float*, int, int, int, float*) {}

#endif

}  // namespace cgru::cpu::packed
