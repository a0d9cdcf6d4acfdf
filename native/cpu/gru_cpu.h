// The CPU GRU engine (core/gru.h contract) on BLAS: one GEMM for the input projection of all
// timesteps per layer and direction, one recurrent GEMM per step, fused gate math, and weight
// gradients as whole-sequence GEMMs.
#pragma once
#include "core/gru.h"

namespace cgru::cpu {

// The process-wide CPU engine (stateless apart from a per-thread scratch cache).
GruEngine& gruEngine();

}  // namespace cgru::cpu
