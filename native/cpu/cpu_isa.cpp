#include "cpu/cpu_isa.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <unistd.h>

#include "core/errors.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CGRU_ISA_X86 1
#include <cpuid.h>
#endif

namespace cgru::cpu {
namespace {

struct Detected {
  Isa best = Isa::Generic;
  std::vector<std::string> features;
};

#if defined(CGRU_ISA_X86)
struct CpuidRegs {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

CpuidRegs cpuid(uint32_t leaf, uint32_t subleaf) {
  CpuidRegs r;
  if (!__get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx)) return CpuidRegs{};
  return r;
}

// XCR0: which register states the OS saves on a context switch (valid only with OSXSAVE).
uint64_t xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

bool bit(uint32_t reg, int n) { return ((reg >> n) & 1u) != 0; }

Detected detect() {
  Detected d;
  const uint32_t maxLeaf = cpuid(0, 0).eax;
  const CpuidRegs l1 = cpuid(1, 0);
  const CpuidRegs l7 = maxLeaf >= 7 ? cpuid(7, 0) : CpuidRegs{};
  const CpuidRegs l71 = maxLeaf >= 7 && l7.eax >= 1 ? cpuid(7, 1) : CpuidRegs{};
  const bool osxsave = bit(l1.ecx, 27);
  const uint64_t xcr = osxsave ? xcr0() : 0;
  const bool osAvx = (xcr & 0x6) == 0x6;         // SSE and AVX (YMM) state
  const bool osAvx512 = (xcr & 0xE6) == 0xE6;    // and opmask, ZMM0-15 upper halves, ZMM16-31
  const bool osAmx = (xcr & 0x60000) == 0x60000; // tile config and data
  struct Feature {
    const char* name;
    bool present;
  };
  const Feature features[] = {
      {"avx", osAvx && bit(l1.ecx, 28)},
      {"fma", osAvx && bit(l1.ecx, 12)},
      {"f16c", osAvx && bit(l1.ecx, 29)},
      {"avx2", osAvx && bit(l7.ebx, 5)},
      {"avx512f", osAvx512 && bit(l7.ebx, 16)},
      {"avx512dq", osAvx512 && bit(l7.ebx, 17)},
      {"avx512cd", osAvx512 && bit(l7.ebx, 28)},
      {"avx512bw", osAvx512 && bit(l7.ebx, 30)},
      {"avx512vl", osAvx512 && bit(l7.ebx, 31)},
      {"avx512vnni", osAvx512 && bit(l7.ecx, 11)},
      {"avx512bf16", osAvx512 && bit(l71.eax, 5)},
      {"avx512fp16", osAvx512 && bit(l7.edx, 23)},
      {"amx-bf16", osAmx && bit(l7.edx, 22)},
      {"amx-tile", osAmx && bit(l7.edx, 24)},
      {"amx-int8", osAmx && bit(l7.edx, 25)},
  };
  for (const Feature& f : features)
    if (f.present) d.features.emplace_back(f.name);
  auto has = [&](const char* name) {
    for (const std::string& f : d.features)
      if (f == name) return true;
    return false;
  };
  if (has("avx2") && has("fma")) d.best = Isa::Avx2;
  // The AVX-512 kernels use F with VL (masked 256-bit forms) and DQ; every AVX-512 CPU since
  // Skylake-SP has all three (Knights Landing lacks VL and DQ and stays on AVX2).
  if (d.best == Isa::Avx2 && has("avx512f") && has("avx512vl") && has("avx512dq")) d.best = Isa::Avx512;
  return d;
}
#else
Detected detect() { return Detected{}; }
#endif

const Detected& detected() {
  static const Detected d = detect();
  return d;
}

Isa resolve() {
  const char* forced = std::getenv("CUDNN_GRU_CPU_ISA");
  if (!forced || !*forced) return detectedIsa();
  for (Isa isa : {Isa::Generic, Isa::Avx2, Isa::Avx512}) {
    if (std::strcmp(forced, isaName(isa)) != 0) continue;
    if (isa > detectedIsa())
      throw Error(std::string("CUDNN_GRU_CPU_ISA=") + forced + ": this CPU (or its OS) does not support " +
                          forced + "; the best it has is " + isaName(detectedIsa()));
    return isa;
  }
  throw Error(std::string("CUDNN_GRU_CPU_ISA: expected one of generic, avx2, avx512 (or unset), got '") +
                      forced + "'");
}

}  // namespace

const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::Generic: return "generic";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "generic";
}

Isa detectedIsa() { return detected().best; }

Isa activeIsa() {
  static const Isa isa = resolve();
  return isa;
}

const std::vector<std::string>& cpuFeatures() { return detected().features; }

size_t l2CacheBytes() {
  static const size_t bytes = [] {
#if defined(_SC_LEVEL2_CACHE_SIZE)
    const long v = ::sysconf(_SC_LEVEL2_CACHE_SIZE);
    return v > 0 ? static_cast<size_t>(v) : size_t{0};
#else
    return size_t{0};
#endif
  }();
  return bytes;
}

}  // namespace cgru::cpu
