// CPU GRU engine. See core/gru.h for the maths and layouts, gru_cpu.h for the strategy.
//
// Per layer and direction (a "slot"):
//   forward:  Gi[B·T,3H] = X · W_ihᵀ (one GEMM), then per step Gh[B,3H] = b_hh + h · W_hhᵀ (one
//             GEMM) and the fused gate math, which also adds b_ih;
//   backward: per step the fused gate-gradient math into dGi/dGh[B·T,3H] and one GEMM
//             dh_prev += dGh_t · W_hh; after the loop dW_ih = dGiᵀ·X, dW_hh = dGhᵀ·Hprev,
//             db = column sums, dX (+)= dGi · W_ih.
// All [B·T, ·] matrices are batch-major (row b·T + t) like x and y, so the per-step GEMMs read
// rows with a stride of T rows.
//
// Where the CPU has AVX2 and FMA the forward runs on the packed kernels of gru_packed.h instead
// (W_ih and W_hh packed once per call, the gate maths fused into the recurrent GEMM, the work of
// each step split over the engine's thread pool); the BLAS path above is the fallback.
//
// Variable lengths: every step runs its GEMM on the whole batch; a sample whose step t is not
// valid (t >= lengths[b]) keeps its state and outputs zeros. The forward direction thus ends at
// its last valid step and the reverse direction, run t = T−1 … 0, starts at lengths[b]−1 from h0.
#include "cpu/gru_cpu.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "core/errors.h"
#include "core/gru_checks.h"
#include "core/storage.h"
#include "cpu/blas.h"
#include "cpu/cpu_backend.h"
#include "cpu/gru_packed.h"
#include "cpu/thread_pool.h"

namespace cgru::cpu {
namespace {

// ------------------------------------------------------------------ vectorisable maths

// no-trapping-math lets GCC if-convert the float clamps in fastExp so the gate loops vectorise
// (no effect on results: nothing here inspects floating-point exception flags). Only the kernels
// get it: GCC does not inline functions across differing optimize options.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif

// The gate kernels are built twice on x86-64 Linux (AVX2 and baseline SSE2) and the loader picks
// the one the CPU supports (GCC/Clang function multi-versioning through an ifunc).
#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define CGRU_KERNEL __attribute__((target_clones("avx2", "default")))
#else
#define CGRU_KERNEL
#endif

// exp(x) with ~1 ulp relative error (Cephes expf), written without branches or calls so that
// the compiler vectorises the loops that use it.
inline float fastExp(float x) {
  // Plain ternaries and builtins only: header functions (std::min, std::fabs) are compiled
  // without this file's optimize pragma and GCC then refuses to inline them here.
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  // n = round(x / ln 2) via the 1.5·2^23 trick (exact without -ffast-math).
  const float kMagic = 12582912.0f;
  float n = x * 1.44269504088896341f + kMagic;
  n -= kMagic;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  __builtin_memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline float fastSigmoid(float x) { return 1.0f / (1.0f + fastExp(-x)); }

inline float fastTanh(float x) {
  const float e = fastExp(-2.0f * __builtin_fabsf(x));
  const float t = (1.0f - e) / (1.0f + e);
  return __builtin_copysignf(t, x);
}

// One sample, one valid step: gates from the input projection gi (without its bias b_ih), the
// recurrent projection gh (with b_hh), the state h (updated in place) and the output row y. With kTrain
// the gate values r, z, n and hn = W_hn h + b_hn are kept in g[4H].
template <bool kTrain>
CGRU_KERNEL void gateForward(int H, const float* __restrict gi, const float* __restrict gh, const float* __restrict bih,
                             float* __restrict h, float* __restrict y, float* __restrict g) {
  for (int j = 0; j < H; ++j) {
    const float r = fastSigmoid(gi[j] + bih[j] + gh[j]);
    const float z = fastSigmoid(gi[H + j] + bih[H + j] + gh[H + j]);
    const float hn = gh[2 * H + j];
    const float n = fastTanh(gi[2 * H + j] + bih[2 * H + j] + r * hn);
    const float hv = n + z * (h[j] - n);
    h[j] = hv;
    y[j] = hv;
    if (kTrain) {
      g[j] = r;
      g[H + j] = z;
      g[2 * H + j] = n;
      g[3 * H + j] = hn;
    }
  }
}

// One sample, one valid step of backward. dh: gradient reaching h' from later steps; dy: from the
// output (or null); g: saved r,z,n,hn; hp: the state entering the step. Writes the pre-activation
// gradients of the input side (dgi) and recurrent side (dgh, whose n part is scaled by r) and the
// direct part of the gradient for the previous state, dh·z.
template <bool kHasDy>
CGRU_KERNEL void gateBackward(int H, const float* __restrict dh, const float* __restrict dy, const float* __restrict g,
                  const float* __restrict hp, float* __restrict dgi, float* __restrict dgh, float* __restrict dhPrev) {
  for (int j = 0; j < H; ++j) {
    const float d = kHasDy ? dh[j] + dy[j] : dh[j];
    const float r = g[j], z = g[H + j], n = g[2 * H + j], hn = g[3 * H + j];
    const float dnp = d * (1.0f - z) * (1.0f - n * n);
    const float dzp = d * (hp[j] - n) * z * (1.0f - z);
    const float drp = dnp * hn * r * (1.0f - r);
    dgi[j] = drp;
    dgi[H + j] = dzp;
    dgi[2 * H + j] = dnp;
    dgh[j] = drp;
    dgh[H + j] = dzp;
    dgh[2 * H + j] = dnp * r;
    dhPrev[j] = d * z;
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

// Column sums of a [rows, cols] matrix into out[cols] (overwritten).
void columnSums(const float* m, size_t rows, int cols, float* out) {
  std::fill(out, out + cols, 0.0f);
  for (size_t i = 0; i < rows; ++i) {
    const float* __restrict row = m + i * static_cast<size_t>(cols);
    float* __restrict o = out;
    for (int j = 0; j < cols; ++j) o[j] += row[j];
  }
}

// ------------------------------------------------------------------ dropout

inline uint64_t splitmix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Mask for the input of `layer` (>= 1): element i is kept when the i-th value of a splitmix64
// stream keyed by (seed, layer) is at or above p·2^32. Counter-based, so it is the same for the
// same seed regardless of threads or call order.
void makeDropoutMask(uint64_t seed, int layer, float p, size_t count, uint8_t* mask) {
  const uint64_t base = splitmix64(seed ^ splitmix64(0x6772752D64726F70ULL + static_cast<uint64_t>(layer)));
  const uint64_t threshold = static_cast<uint64_t>(static_cast<double>(p) * 4294967296.0);
  for (size_t i = 0; i < count; ++i) {
    const uint64_t v = splitmix64(base + (i + 1) * 0x9E3779B97F4A7C15ULL) >> 32;
    mask[i] = v >= threshold ? 1 : 0;
  }
}

void applyMask(float* v, const uint8_t* mask, size_t count, float scale) {
  for (size_t i = 0; i < count; ++i) v[i] = mask[i] ? v[i] * scale : 0.0f;
}

// ------------------------------------------------------------------ scratch

// Asks for transparent huge pages on a large buffer: the training state and scratch are written
// once per call, and with 4 KiB pages the first-touch page faults cost as much as the maths.
void adviseHugePages(void* data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr size_t kHuge = size_t{2} << 20;
  if (bytes < 2 * kHuge) return;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + 4095) & ~uintptr_t{4095};
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~uintptr_t{4095};
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

// Per-thread scratch reused across calls (no allocation per call once warm). Buffers above
// kKeepBytes are released after the call so an idle process does not hold them.
class Scratch {
 public:
  explicit Scratch(size_t floats) {
    Cache& cache = cache_();
    if (cache.floats < floats) {
      cache.release();
      constexpr size_t kAlign = size_t{2} << 20;
      const size_t bytes = (floats * sizeof(float) + kAlign - 1) / kAlign * kAlign;
      cache.data = static_cast<float*>(std::aligned_alloc(kAlign, bytes));
      if (!cache.data) throw std::bad_alloc();
      cache.floats = bytes / sizeof(float);
      adviseHugePages(cache.data, bytes);
    }
    base_ = cache.data;
  }
  ~Scratch() {
    Cache& cache = cache_();
    if (cache.floats * sizeof(float) > kKeepBytes) cache.release();
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  float* take(size_t floats) {
    float* p = base_ + used_;
    used_ += round(floats);
    return p;
  }
  static size_t round(size_t floats) { return (floats + 15) / 16 * 16; }

 private:
  static constexpr size_t kKeepBytes = size_t{128} << 20;
  struct Cache {
    float* data = nullptr;
    size_t floats = 0;
    void release() {
      std::free(data);
      data = nullptr;
      floats = 0;
    }
    ~Cache() { release(); }
  };
  static Cache& cache_() {
    thread_local Cache cache;
    return cache;
  }
  float* base_ = nullptr;
  size_t used_ = 0;
};

// ------------------------------------------------------------------ reserve

// One Storage per buffer (rather than one for all): buffers below the C library's mmap threshold
// are then recycled from the heap between training steps instead of being mapped, faulted in
// and zeroed by the kernel anew on every step.
class CpuGruReserve final : public GruReserve {
 public:
  CpuGruReserve(const GruConfig& c, int batch, int seqLen, std::vector<int> lengths)
      : config(c), batch(batch), seqLen(seqLen), lengths(std::move(lengths)) {
    const size_t B = batch, T = seqLen, H = c.hiddenSize, D = c.numDirections(), L = c.numLayers;
    const size_t slots = L * D;
    for (size_t s = 0; s < slots; ++s) {
      hprev_.push_back(make(B * T * H * sizeof(float)));
      gates_.push_back(make(B * T * 4 * H * sizeof(float)));
    }
    layerIn_.resize(L);
    mask_.resize(L);
    for (size_t l = 1; l < L; ++l) {
      layerIn_[l] = make(B * T * D * H * sizeof(float));
      if (c.dropout > 0.0f) mask_[l] = make(B * T * D * H);
    }
  }

  size_t bytes() const override { return bytes_; }

  float* hprev(int slot) const { return hprev_[slot]->as<float>(); }
  float* gates(int slot) const { return gates_[slot]->as<float>(); }
  float* layerIn(int layer) const { return layerIn_[layer]->as<float>(); }
  uint8_t* mask(int layer) const { return mask_[layer]->as<uint8_t>(); }

  GruConfig config;
  int batch, seqLen;
  std::vector<int> lengths;

 private:
  std::unique_ptr<Storage> make(size_t bytes) {
    auto s = std::make_unique<Storage>(Device::Cpu, bytes);
    bytes_ += bytes;
    return s;
  }
  size_t bytes_ = 0;
  std::vector<std::unique_ptr<Storage>> hprev_, gates_, layerIn_, mask_;
};

// ------------------------------------------------------------------ engine

// x with the padded steps zeroed, so that nothing (not even a NaN) in the padding can reach a
// result through a GEMM.
void copyMaskedInput(const float* x, const GruDims& d, const std::vector<int>& len, float* out) {
  const size_t rowBytes = static_cast<size_t>(d.I) * sizeof(float);
  for (int b = 0; b < d.B; ++b) {
    const size_t at = static_cast<size_t>(b) * d.T * d.I;
    const size_t valid = static_cast<size_t>(len[static_cast<size_t>(b)]);
    std::memcpy(out + at, x + at, valid * rowBytes);
    std::memset(out + at + valid * d.I, 0, (static_cast<size_t>(d.T) - valid) * rowBytes);
  }
}

// The packed kernels (gru_packed.h) where the CPU has them. CGRU_GRU_KERNEL=blas forces the BLAS
// path (for comparisons, and to test that path on such CPUs).
bool usePackedKernels() {
  if (!packed::available()) return false;
  const char* force = std::getenv("CGRU_GRU_KERNEL");
  return !(force && std::strcmp(force, "blas") == 0);
}

// Multiply-adds per step and thread below which another thread costs more than it saves.
constexpr size_t kMacsPerThread = size_t{1} << 17;
// Work items per thread and step: small enough that a thread that falls behind (descheduled by
// other processes on the machine) holds up the step only briefly, large enough that taking them
// costs little.
constexpr int kChunksPerThread = 4;
// Rows of the input projection per work item.
constexpr size_t kProjectRows = 64;

// One layer and direction on the packed kernels: the input projection of all steps, then the
// time loop. The work is a sequence of items that the engine's threads take in order from one
// shared counter: the projection in blocks of rows, then each step's hidden units in chunks of
// panels. A step's chunk starts once everything before that step is done. gi (in project.out),
// y, hprev and gates point at step 0 of sample 0 (y at this direction's columns); h holds the
// initial state and h2 is a second [B, H] buffer. Returns whichever holds the final state.
const float* runPacked(const packed::ProjectArgs& project, const packed::StepArgs& base, int dir, int T,
                       size_t yStepStride, float* y, float* hprev, float* gates, float* h, float* h2) {
  const int H = base.H;
  const int panels = packed::panels(H);
  const size_t rows = static_cast<size_t>(base.B) * T;
  const size_t macs = static_cast<size_t>(base.B) * 3 * H * H;
  const int threads = static_cast<int>(
      std::max<size_t>(1, std::min<size_t>(macs / kMacsPerThread, static_cast<size_t>(std::min(numThreads(), panels)))));
  const int projectItems = static_cast<int>((rows + kProjectRows - 1) / kProjectRows);
  const int chunks = std::min(panels, threads * kChunksPerThread);
  const int items = projectItems + T * chunks;
  struct alignas(64) Counter {
    std::atomic<int> value{0};
  };
  Counter next, done;
  ThreadPool::instance().run(threads, [&](int) {
    packed::StepArgs a = base;
    for (;;) {
      const int item = next.value.fetch_add(1, std::memory_order_relaxed);
      if (item >= items) break;
      if (item < projectItems) {
        const size_t r0 = static_cast<size_t>(item) * kProjectRows;
        packed::project(project, r0, std::min(rows, r0 + kProjectRows));
        done.value.fetch_add(1, std::memory_order_release);
        continue;
      }
      const int s = (item - projectItems) / chunks, c = (item - projectItems) % chunks;
      const int before = projectItems + s * chunks;
      if (threads > 1) spinUntil([&] { return done.value.load(std::memory_order_acquire) >= before; });
      const int t = dir == 0 ? s : T - 1 - s;
      a.t = t;
      a.hIn = s % 2 == 0 ? h : h2;
      a.hOut = s % 2 == 0 ? h2 : h;
      a.gi = project.out + static_cast<size_t>(t) * 3 * H;
      a.y = y + static_cast<size_t>(t) * yStepStride;
      a.hprev = hprev ? hprev + static_cast<size_t>(t) * H : nullptr;
      a.gates = gates ? gates + static_cast<size_t>(t) * 4 * H : nullptr;
      packed::step(a, panels * c / chunks, panels * (c + 1) / chunks);
      done.value.fetch_add(1, std::memory_order_release);
    }
  });
  return T % 2 == 0 ? h : h2;
}

class CpuGruEngine final : public GruEngine {
 public:
  std::unique_ptr<GruReserve> forward(const GruForwardArgs& a) override {
    const GruDims d = checkGruForwardArgs(a, true);
    const std::vector<int> len = gruLengths(a);
    const int maxLen = *std::max_element(len.begin(), len.end());
    const bool ragged = std::any_of(len.begin(), len.end(), [&](int v) { return v < d.T; });
    const int B = d.B, T = d.T, H = d.H, D = d.D, L = d.L;
    const size_t BT = d.BT(), DH = static_cast<size_t>(D) * H;

    std::unique_ptr<CpuGruReserve> res;
    if (a.training) res = std::make_unique<CpuGruReserve>(a.config, B, T, len);
    const bool useDropout = a.training && a.config.dropout > 0.0f;

    const bool pingPong = !a.training && L > 1;
    const bool usePacked = usePackedKernels();
    const int maxInSize = std::max(d.I, L > 1 ? static_cast<int>(DH) : 0);
    const size_t packedScratch = usePacked ? Scratch::round(packed::packedFloats(H, H)) +
                                                 Scratch::round(packed::packedFloats(H, maxInSize)) + Scratch::round(B * H)
                                           : Scratch::round(B * 3 * H);
    Scratch scratch((ragged ? Scratch::round(BT * d.I) : 0) + Scratch::round(BT * 3 * H) + Scratch::round(B * H) +
                    packedScratch +
                    (pingPong ? Scratch::round(BT * DH) * (L > 2 ? 2 : 1) : 0));
    float* xs = ragged ? scratch.take(BT * d.I) : nullptr;
    float* gi = scratch.take(BT * 3 * H);
    float* gh = usePacked ? nullptr : scratch.take(static_cast<size_t>(B) * 3 * H);
    float* h = scratch.take(static_cast<size_t>(B) * H);
    float* h2 = usePacked ? scratch.take(static_cast<size_t>(B) * H) : nullptr;
    float* wHhPacked = usePacked ? scratch.take(packed::packedFloats(H, H)) : nullptr;
    float* wIhPacked = usePacked ? scratch.take(packed::packedFloats(H, maxInSize)) : nullptr;
    float* ping = pingPong ? scratch.take(BT * DH) : nullptr;
    float* pong = pingPong && L > 2 ? scratch.take(BT * DH) : nullptr;

    if (ragged) copyMaskedInput(a.x, d, len, xs);
    const float* in = ragged ? xs : a.x;
    for (int l = 0; l < L; ++l) {
      const int inSize = a.config.layerInputSize(l);
      float* out = l == L - 1 ? a.y : (a.training ? res->layerIn(l + 1) : (l % 2 == 0 ? ping : pong));
      for (int dir = 0; dir < D; ++dir) {
        const int slot = l * D + dir;
        const float* wIh = a.params.wIh[slot];
        const float* wHh = a.params.wHh[slot];
        const float* bIh = a.params.bIh[slot];
        const float* bHh = a.params.bHh[slot];
        if (!usePacked)
          sgemm(false, true, static_cast<int>(BT), 3 * H, inSize, 1.0f, in, inSize, wIh, inSize, 0.0f, gi, 3 * H);
        if (a.h0) std::memcpy(h, a.h0 + static_cast<size_t>(slot) * B * H, sizeof(float) * B * H);
        else std::fill(h, h + static_cast<size_t>(B) * H, 0.0f);
        float* hprev = res ? res->hprev(slot) : nullptr;
        float* gates = res ? res->gates(slot) : nullptr;
        if (usePacked) {
          // The input projection and the recurrence in one job on the engine's threads: BLAS stays
          // idle, so its threads (which spin for a while after each call) do not compete with ours.
          packed::pack(wIh, H, inSize, wIhPacked);
          packed::pack(wHh, H, H, wHhPacked);
          packed::ProjectArgs project;
          project.H = H;
          project.K = inSize;
          project.w = wIhPacked;
          project.x = in;
          project.out = gi;
          packed::StepArgs step;
          step.B = B;
          step.H = H;
          step.w = wHhPacked;
          step.bIh = bIh;
          step.bHh = bHh;
          step.giStride = static_cast<size_t>(T) * 3 * H;
          step.yStride = static_cast<size_t>(T) * DH;
          step.hprevStride = static_cast<size_t>(T) * H;
          step.gatesStride = static_cast<size_t>(T) * 4 * H;
          step.lengths = ragged ? len.data() : nullptr;
          const float* hLast = runPacked(project, step, dir, T, DH, out + static_cast<size_t>(dir) * H, hprev, gates, h, h2);
          std::memcpy(a.hN + static_cast<size_t>(slot) * B * H, hLast, sizeof(float) * B * H);
          continue;
        }
        for (int s = 0; s < T; ++s) {
          const int t = dir == 0 ? s : T - 1 - s;
          const bool anyValid = t < maxLen;
          if (anyValid) {
            // gh = b_hh + h·W_hhᵀ (beta = 1 also spares BLAS a pass that zeroes its output).
            for (int b = 0; b < B; ++b) std::memcpy(gh + static_cast<size_t>(b) * 3 * H, bHh, sizeof(float) * 3 * H);
            sgemm(false, true, B, 3 * H, H, 1.0f, h, H, wHh, H, 1.0f, gh, 3 * H);
          }
          for (int b = 0; b < B; ++b) {
            const size_t row = static_cast<size_t>(b) * T + t;
            float* hb = h + static_cast<size_t>(b) * H;
            float* yb = out + row * DH + static_cast<size_t>(dir) * H;
            if (hprev) std::memcpy(hprev + row * H, hb, sizeof(float) * H);
            if (t >= len[static_cast<size_t>(b)]) {
              std::fill(yb, yb + H, 0.0f);
              continue;
            }
            const float* gib = gi + row * 3 * H;
            const float* ghb = gh + static_cast<size_t>(b) * 3 * H;
            if (gates) gateForward<true>(H, gib, ghb, bIh, hb, yb, gates + row * 4 * H);
            else gateForward<false>(H, gib, ghb, bIh, hb, yb, nullptr);
          }
        }
        std::memcpy(a.hN + static_cast<size_t>(slot) * B * H, h, sizeof(float) * B * H);
      }
      if (l < L - 1 && useDropout) {
        makeDropoutMask(a.config.seed, l + 1, a.config.dropout, BT * DH, res->mask(l + 1));
        applyMask(out, res->mask(l + 1), BT * DH, 1.0f / (1.0f - a.config.dropout));
      }
      in = out;
    }
    return res;
  }

  void backward(const GruForwardArgs& a, GruReserve& reserve, const GruBackwardArgs& g) override {
    const GruDims d = checkGruForwardArgs(a, false);
    auto* res = dynamic_cast<CpuGruReserve*>(&reserve);
    if (!res) throw ArgumentError("gru backward: the training state was not made by the CPU engine");
    const std::vector<int> len = gruLengths(a);
    const GruConfig& c = a.config;
    if (res->batch != d.B || res->seqLen != d.T || res->config.inputSize != c.inputSize ||
        res->config.hiddenSize != c.hiddenSize || res->config.numLayers != c.numLayers ||
        res->config.bidirectional != c.bidirectional || res->config.dropout != c.dropout ||
        res->config.seed != c.seed)
      throw ArgumentError("gru backward: the configuration differs from the training forward's");
    if (res->lengths != len) throw ArgumentError("gru backward: lengths differ from the training forward's");
    const size_t slots = static_cast<size_t>(c.numSlots());
    const auto& p = g.dParams;
    if (!g.dx || !g.dh0 || p.wIh.size() != slots || p.wHh.size() != slots || p.bIh.size() != slots ||
        p.bHh.size() != slots)
      throw ArgumentError("gru backward: dx, dh0 and every parameter gradient must be given");

    const int maxLen = *std::max_element(len.begin(), len.end());
    const bool ragged = std::any_of(len.begin(), len.end(), [&](int v) { return v < d.T; });
    const int B = d.B, T = d.T, H = d.H, D = d.D, L = d.L;
    const size_t BT = d.BT(), DH = static_cast<size_t>(D) * H;
    const bool useDropout = c.dropout > 0.0f;

    Scratch scratch((ragged ? Scratch::round(BT * d.I) : 0) + 2 * Scratch::round(BT * 3 * H) +
                    2 * Scratch::round(static_cast<size_t>(B) * H) +
                    (L > 1 ? Scratch::round(BT * DH) * (L > 2 ? 2 : 1) : 0));
    float* xs = ragged ? scratch.take(BT * d.I) : nullptr;
    float* dgi = scratch.take(BT * 3 * H);
    float* dgh = scratch.take(BT * 3 * H);
    float* dh = scratch.take(static_cast<size_t>(B) * H);
    float* dh2 = scratch.take(static_cast<size_t>(B) * H);
    float* bufA = L > 1 ? scratch.take(BT * DH) : nullptr;
    float* bufB = L > 2 ? scratch.take(BT * DH) : nullptr;
    if (ragged) copyMaskedInput(a.x, d, len, xs);
    if (ragged) {
      // Rows of padded steps stay zero: they add nothing to the weight gradients or dX.
      std::fill(dgi, dgi + BT * 3 * H, 0.0f);
      std::fill(dgh, dgh + BT * 3 * H, 0.0f);
    }

    const float* dOut = g.dy;  // gradient reaching this layer's output, or null for zeros
    for (int l = L - 1; l >= 0; --l) {
      const int inSize = c.layerInputSize(l);
      const float* in = l == 0 ? (ragged ? xs : a.x) : res->layerIn(l);
      float* dIn = l == 0 ? g.dx : ((L - 1 - l) % 2 == 0 ? bufA : bufB);
      for (int dir = 0; dir < D; ++dir) {
        const int slot = l * D + dir;
        const float* wIh = a.params.wIh[slot];
        const float* wHh = a.params.wHh[slot];
        const float* gates = res->gates(slot);
        const float* hprev = res->hprev(slot);
        float* dhCur = dh;
        float* dhNext = dh2;
        if (g.dhN) std::memcpy(dhCur, g.dhN + static_cast<size_t>(slot) * B * H, sizeof(float) * B * H);
        else std::fill(dhCur, dhCur + static_cast<size_t>(B) * H, 0.0f);
        for (int s = 0; s < T; ++s) {
          const int t = dir == 0 ? T - 1 - s : s;
          if (t >= maxLen) continue;  // no sample has this step: dh passes through unchanged
          for (int b = 0; b < B; ++b) {
            const size_t row = static_cast<size_t>(b) * T + t;
            const float* dhb = dhCur + static_cast<size_t>(b) * H;
            float* dhPrev = dhNext + static_cast<size_t>(b) * H;
            if (t >= len[static_cast<size_t>(b)]) {
              std::memcpy(dhPrev, dhb, sizeof(float) * H);
              continue;
            }
            const float* gb = gates + row * 4 * H;
            const float* hp = hprev + row * H;
            if (dOut)
              gateBackward<true>(H, dhb, dOut + row * DH + static_cast<size_t>(dir) * H, gb, hp, dgi + row * 3 * H,
                                 dgh + row * 3 * H, dhPrev);
            else
              gateBackward<false>(H, dhb, nullptr, gb, hp, dgi + row * 3 * H, dgh + row * 3 * H, dhPrev);
          }
          sgemm(false, false, B, H, 3 * H, 1.0f, dgh + static_cast<size_t>(t) * 3 * H, T * 3 * H, wHh, H, 1.0f,
                dhNext, H);
          std::swap(dhCur, dhNext);
        }
        std::memcpy(g.dh0 + static_cast<size_t>(slot) * B * H, dhCur, sizeof(float) * B * H);
        const int bt = static_cast<int>(BT);
        sgemm(true, false, 3 * H, inSize, bt, 1.0f, dgi, 3 * H, in, inSize, 0.0f, p.wIh[slot], inSize);
        sgemm(true, false, 3 * H, H, bt, 1.0f, dgh, 3 * H, hprev, H, 0.0f, p.wHh[slot], H);
        columnSums(dgi, BT, 3 * H, p.bIh[slot]);
        columnSums(dgh, BT, 3 * H, p.bHh[slot]);
        sgemm(false, false, bt, inSize, 3 * H, 1.0f, dgi, 3 * H, wIh, inSize, dir == 0 ? 0.0f : 1.0f, dIn, inSize);
      }
      if (l > 0 && useDropout) applyMask(dIn, res->mask(l), BT * DH, 1.0f / (1.0f - c.dropout));
      dOut = dIn;
    }
  }
};

}  // namespace

GruEngine& gruEngine() {
  static CpuGruEngine engine;
  return engine;
}

}  // namespace cgru::cpu
