// The instruction sets the CPU engine's kernels are built for, detected once from cpuid (and, on
// x86-64, xgetbv: the OS must save the AVX / AVX-512 register state) and chosen at load:
// the best one the CPU has, or the one CUDNN_GRU_CPU_ISA names (generic | avx2 | avx512), for
// testing each path on one machine. One binary serves every CPU of its architecture.
// It selects the packed GEMM kernels (gru_packed.h) and the BLAS's kernels (blas.h); the
// element-wise gate kernels of rnn_cells.h are chosen by the loader (target_clones) and compute
// the same values in either version.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace cgru::cpu {

// Ordered: a CPU with one has every ISA before it.
enum class Isa { Generic = 0, Avx2 = 1, Avx512 = 2 };

const char* isaName(Isa isa);
// The best ISA this CPU and OS support.
Isa detectedIsa();
// The ISA the kernels use: CUDNN_GRU_CPU_ISA, or detectedIsa(). The first call resolves it and
// throws an Error for a value that is not an ISA name or names one the CPU lacks.
Isa activeIsa();
// CPU features relevant to the kernels (e.g. "avx2", "fma", "avx512f", "avx512bf16", "amx-tile"),
// for backendInfo().
const std::vector<std::string>& cpuFeatures();
// Bytes of one core's L2 cache as the system reports it (sysconf), 0 where it does not.
size_t l2CacheBytes();

}  // namespace cgru::cpu
