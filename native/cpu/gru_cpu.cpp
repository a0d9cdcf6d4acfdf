// CPU recurrent engine (GRU, LSTM, simple RNN). See core/gru.h for the maths and layouts,
// gru_cpu.h for the strategy, rnn_cells.h for the per-mode gate maths: the engine is one template
// over the cell, which supplies the gate count G and the fused per-sample kernels.
//
// Per layer and direction (a "slot"):
//   forward:  Gi[B·T,G·H] = X · W_ihᵀ (one GEMM), then per step Gh[B,G·H] = b_hh + h · W_hhᵀ (one
//             GEMM) and the fused gate math, which also adds b_ih;
//   backward: per step the fused gate-gradient math into dGi/dGh[B·T,G·H] and one GEMM
//             dh_prev += dGh_t · W_hh; after the loop dW_ih = dGiᵀ·X, dW_hh = dGhᵀ·Hprev,
//             db = column sums, dX (+)= dGi · W_ih. For LSTM and RNN dGh = dGi (one buffer).
// All [B·T, ·] matrices are batch-major (row b·T + t) like x and y, so the per-step GEMMs read
// rows with a stride of T rows.
//
// Where the active ISA (cpu_isa.h) is AVX2 or AVX-512, the forward runs on the packed kernels of
// gru_packed.h instead (W_ih and W_hh packed once per call, the gate maths fused into the
// recurrent GEMM, the work of each step split over the engine's thread pool); the BLAS path above
// is the fallback.
//
// Variable lengths: every step runs its GEMM on the whole batch; a sample whose step t is not
// valid (t >= lengths[b]) keeps its state and outputs zeros. The forward direction thus ends at
// its last valid step and the reverse direction, run t = T−1 … 0, starts at lengths[b]−1 from h0
// (and, for the LSTM, c0).
#include "cpu/gru_cpu.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "core/gru_checks.h"
#include "core/storage.h"
#include "cpu/blas.h"
#include "cpu/cpu_backend.h"
#include "cpu/cpu_isa.h"
#include "cpu/gru_packed.h"
#include "cpu/rnn_cells.h"
#include "cpu/phased_job.h"

namespace cgru::cpu {
namespace {

// Column sums of a [rows, cols] matrix into out[cols] (overwritten), over the rows in order.
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

// Per-thread scratch reused across calls (no allocation per call once warm). Buffers above
// kKeepBytes are released after the call so an idle process does not hold them (to the host
// allocator, which keeps freed large buffers within its own bound for the next call).
class Scratch {
 public:
  explicit Scratch(size_t floats) {
    Cache& cache = cache_();
    if (cache.floats < floats) {
      cache.release();
      const size_t bytes = (floats * sizeof(float) + kHugePage - 1) / kHugePage * kHugePage;
      cache.data = static_cast<float*>(cpuBackend().allocate(bytes));
      cache.floats = bytes / sizeof(float);
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
      if (data) cpuBackend().deallocate(data, floats * sizeof(float));
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

// Packed weights (gru_packed.h) kept from one call to the next on this thread, each with the
// version of the storage it was packed from (core/storage.h): a call whose weights have the same
// version reuses the packing. Inference passes the same weights again and again, and packing (a
// strided gather of every weight) took 35 of the 160 µs of a batch-1 forward of H = 128, T = 50;
// comparing the weights with a copy of them instead of the versions took another 6 µs. Weights
// changed in place (an optimizer step) have a new version and are packed again. A matrix above
// kMaxFloats is packed into the caller's buffer each time instead (keeping its packing would cost
// more memory than packing it costs time next to the GEMMs that read it).
class PackedWeights {
 public:
  static constexpr size_t kMaxFloats = size_t{1} << 20;  // 4 MiB: a GRU W_hh up to H = 591, an LSTM one to H = 512
  // The packing of w [gates·H × K] (its storage at `version`) for the matrix `entry` (one per
  // layer, direction and kind in a call), or w packed into fallback (packedFloats(gates, H, K)
  // floats) when it is too large.
  static const float* get(size_t entry, const float* w, uint64_t version, int gates, int H, int K, float* fallback) {
    const size_t floats = static_cast<size_t>(gates) * H * K;
    if (floats > kMaxFloats) {
      packed::pack(w, gates, H, K, fallback);
      return fallback;
    }
    std::vector<Entry>& entries = entries_();
    if (entries.size() <= entry) entries.resize(entry + 1);
    Entry& e = entries[entry];
    const bool sameShape = e.gates == gates && e.H == H && e.K == K;  // the packing's unit count is fixed per process
    if (sameShape && e.version == version) return e.packed.get();
    e.version = 0;  // matches nothing until it is whole again (an allocation below may throw)
    if (!sameShape) {
      auto* room = static_cast<float*>(
          std::aligned_alloc(64, Scratch::round(packed::packedFloats(gates, H, K)) * sizeof(float)));
      if (!room) throw std::bad_alloc();
      e.packed.reset(room);
      e.gates = gates;
      e.H = H;
      e.K = K;
    }
    packed::pack(w, gates, H, K, e.packed.get());
    e.version = version;
    return e.packed.get();
  }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  struct Entry {
    std::unique_ptr<float, Free> packed;
    int gates = 0, H = 0, K = 0;
    uint64_t version = 0;  // 0: none (storages start at 1)
  };
  static std::vector<Entry>& entries_() {
    thread_local std::vector<Entry> entries;
    return entries;
  }
};

// ------------------------------------------------------------------ reserve

// One Storage per buffer (rather than one for all): buffers below the C library's mmap threshold
// are then recycled from the heap between training steps instead of being mapped, faulted in
// and zeroed by the kernel anew on every step.
class CpuGruReserve final : public GruReserve {
 public:
  // savedPerUnit: the floats per hidden unit and step the cell keeps for backward.
  CpuGruReserve(const GruConfig& c, int batch, int seqLen, std::vector<int> lengths, int savedPerUnit)
      : config(c), batch(batch), seqLen(seqLen), lengths(std::move(lengths)) {
    const size_t B = batch, T = seqLen, H = c.hiddenSize, D = c.numDirections(), L = c.numLayers;
    const size_t slots = L * D;
    for (size_t s = 0; s < slots; ++s) {
      hprev_.push_back(make(B * T * H * sizeof(float)));
      gates_.push_back(make(B * T * static_cast<size_t>(savedPerUnit) * H * sizeof(float)));
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

// Multiply-adds per step and thread below which another thread costs more than it saves. A step
// of fewer samples than a tile's rows streams the whole of W_hh for them, as a full tile would: it
// counts as one tile (at batch 1 and H 128 the step is bound by reading W_hh from the core's cache,
// and two threads read it twice as fast), unless another process competes for the cores
// (ThreadPool::busy): a thread descheduled mid-step holds the others up, which costs such short
// steps more than the second thread gains (batch 1, H 128, a busy loop on the other core: 0.28 ms
// a forward on two threads, 0.105 on one).
constexpr size_t kMacsPerThread = size_t{1} << 17;
constexpr size_t kTileRows = 8;
// Work items per thread and step: up to kChunksPerThread, so that a thread that falls behind holds
// up the step only briefly (another thread takes its items), but none below kMacsPerChunk, whose
// completion, announced to the other threads, would cost more than the share it evens out.
constexpr size_t kChunksPerThread = 4;
constexpr size_t kMacsPerChunk = size_t{1} << 18;
// Rows of the input projection per work item.
constexpr size_t kProjectRows = 64;

// Asks for the cache lines of n floats at p (for writing: `write`).
inline void prefetchFloats(const float* p, size_t n, bool write) {
  constexpr size_t kLineFloats = 16;
  for (size_t i = 0; i < n; i += kLineFloats) {
    if (write) __builtin_prefetch(p + i, 1, 3);
    else __builtin_prefetch(p + i, 0, 3);
  }
}

// How a time loop whose steps are B rows × `columns` of a GEMM with K = H runs: on how many
// threads, and in how many chunks of panels per step.
struct StepSplit {
  int threads, chunks;
};
// stepPanels: the step's panels in the kernels' layout of its columns (packed::layout).
StepSplit stepSplit(int B, size_t columns, int H, int stepPanels) {
  const size_t panels = static_cast<size_t>(stepPanels);
  const size_t rows = ThreadPool::instance().busy() ? static_cast<size_t>(B) : std::max<size_t>(static_cast<size_t>(B), kTileRows);
  const size_t macs = rows * columns * static_cast<size_t>(H);
  const size_t threads = std::max<size_t>(1, std::min({macs / kMacsPerThread, static_cast<size_t>(numThreads()), panels}));
  const size_t perThread = std::clamp<size_t>(macs / threads / kMacsPerChunk, 1, kChunksPerThread);
  return {static_cast<int>(threads), static_cast<int>(std::min(panels, threads * perThread))};
}

// Whether `bytes` written now cannot stay in cache until they are read: more than a core's L2
// holds (and false where the system does not tell its size). Such outputs are written past the
// caches (packed::StepArgs::stream, ProjectArgs::stream): streaming a batch-1 step's output
// instead made it slower (ops.gru at B 1 H 128: 0.083 → 0.096 ms).
bool outlivesCache(size_t bytes) {
  const size_t l2 = l2CacheBytes();
  return l2 != 0 && bytes > l2;
}

// The input projection of `rows` rows as work items for `threads` threads: blocks of rows, and
// of panels too where there are fewer row blocks than threads (batch 1: one block of T rows).
struct ProjectBlocks {
  size_t rows;
  int rowBlocks, panelBlocks, panels;
  int count() const { return rowBlocks * panelBlocks; }
  void run(const packed::ProjectArgs& project, int c) const {
    const size_t r0 = static_cast<size_t>(c / panelBlocks) * kProjectRows;
    const int q = c % panelBlocks;
    packed::project(project, r0, std::min(rows, r0 + kProjectRows), panels * q / panelBlocks,
                    panels * (q + 1) / panelBlocks);
  }
  // Thread tid's contiguous share of the items, of `threads`.
  void runShare(const packed::ProjectArgs& project, int tid, int threads) const {
    for (int c = count() * tid / threads; c < count() * (tid + 1) / threads; ++c) run(project, c);
  }
};
ProjectBlocks projectBlocks(size_t rows, int threads, int panels) {
  const int rowBlocks = static_cast<int>((rows + kProjectRows - 1) / kProjectRows);
  return {rows, rowBlocks, std::clamp((threads + rowBlocks - 1) / rowBlocks, 1, panels), panels};
}

// Where each core's L2 holds all of packed W_hh twice over, a layer's time loop is split by
// samples instead of hidden units (runPackedBySamples): each thread runs the whole loop for its
// own block of samples, with no wait for the other threads between steps, at the cost of reading
// all of W_hh rather than its share. Measured on a Xeon with 2 MiB L2, 2 threads: GRU c2 (B 64,
// H 256, W_hh 768 KiB) forward 16.0 → 14.8 ms, RNN c2 6.5 → 5.4, GRU B 32 H 128 1.02 → 0.81;
// c3 (H 512, W_hh 3 MiB, beyond L2) 146 → 152 ms, so there the threads keep splitting hidden
// units. The backward's loop (runPackedBackward) splits the same way: GRU c2 training 59.1 →
// 57.7 ms. Blocks are whole tiles of the kernels and the input projection keeps runPacked's
// blocks, so the values are the same bit for bit whichever way a loop is split.
struct SampleSplit {
  int threads, tile, tiles;
  // Thread tid's samples [first, second).
  std::pair<int, int> samples(int B, int tid) const {
    return {std::min(B, tiles * tid / threads * tile), std::min(B, tiles * (tid + 1) / threads * tile)};
  }
};
// For B samples in tiles of `tile` rows against packed weights of wBytes, on up to `threads`.
SampleSplit sampleSplit(int B, int tile, size_t wBytes, int threads) {
  const int tiles = (B + tile - 1) / tile;
  const size_t l2 = l2CacheBytes();
  if (threads < 2 || tiles < 2 || l2 == 0 || 2 * wBytes > l2) return {1, tile, tiles};
  return {std::min(threads, tiles), tile, tiles};
}

// The operands of loop step s (time t) for samples `first` … of `base` (whose B, lengths and c
// the caller has set for them): runPacked's buffers, given at step 0 of sample 0, moved there.
template <typename Cell>
packed::StepArgs stepArgs(const packed::StepArgs& base, int s, int t, size_t first, const float* gi, size_t yStepStride,
                          float* y, float* hprev, float* saved, float* h, float* h2) {
  const size_t H = static_cast<size_t>(base.H), step = static_cast<size_t>(t);
  packed::StepArgs a = base;
  a.t = t;
  a.hIn = (s % 2 == 0 ? h : h2) + first * H;
  a.hOut = (s % 2 == 0 ? h2 : h) + first * H;
  a.gi = gi + step * Cell::kGates * H + first * base.giStride;
  a.y = y + step * yStepStride + first * base.yStride;
  a.hprev = hprev ? hprev + step * H + first * base.hprevStride : nullptr;
  a.saved = saved ? saved + step * Cell::kSaved * H + first * base.savedStride : nullptr;
  return a;
}

// A layer and direction as runPacked below, each thread on its own samples from the input
// projection to the last step.
template <typename Cell>
const float* runPackedBySamples(const packed::ProjectArgs& project, const packed::StepArgs& base, SampleSplit split,
                                int dir, int T, size_t yStepStride, float* y, float* hprev, float* saved, float* h,
                                float* h2) {
  const int H = base.H;
  const int panels = packed::panels(packed::layout(Cell::kGates, H).units);
  const ProjectBlocks blocks = projectBlocks(static_cast<size_t>(base.B) * T, split.threads, packed::panels(project.H));
  std::atomic<int> projected{0};
  ThreadPool::instance().run(split.threads, [&](int tid) {
    // The projection in runPacked's blocks (the same values, bit for bit), then the samples.
    blocks.runShare(project, tid, split.threads);
    projected.fetch_add(1, std::memory_order_acq_rel);
    spinUntil([&] { return projected.load(std::memory_order_acquire) == split.threads; });
    const auto [b0, b1] = split.samples(base.B, tid);
    const size_t first = static_cast<size_t>(b0);
    packed::StepArgs mine = base;
    mine.B = b1 - b0;
    mine.lengths = base.lengths ? base.lengths + b0 : nullptr;
    mine.c = base.c ? base.c + first * H : nullptr;
    for (int s = 0; s < T; ++s) {
      const int t = dir == 0 ? s : T - 1 - s;
      packed::step(stepArgs<Cell>(mine, s, t, first, project.out, yStepStride, y, hprev, saved, h, h2), 0, panels);
    }
  });
  return T % 2 == 0 ? h : h2;
}

// One layer and direction on the packed kernels, as one phased job (phased_job.h): the input
// projection of all steps, then each step's hidden units in chunks of panels.
// gi (in project.out), y, hprev and saved point at step 0 of sample 0 (y at this direction's
// columns); h holds the initial state and h2 is a second [B, H] buffer (the LSTM's c, in base, is
// updated in place: each unit's belongs to one chunk). Returns whichever of h, h2 holds the final
// state.
template <typename Cell>
const float* runPacked(const packed::ProjectArgs& project, const packed::StepArgs& base, int dir, int T,
                       size_t yStepStride, float* y, float* hprev, float* saved, float* h, float* h2) {
  const int H = base.H;
  const packed::Layout layout = packed::layout(Cell::kGates, H);
  const int panels = packed::panels(layout.units);
  const size_t rows = static_cast<size_t>(base.B) * T;
  const auto [threads, chunks] = stepSplit(base.B, static_cast<size_t>(Cell::kGates) * H, H, panels);
  const SampleSplit bySamples = sampleSplit(base.B, packed::tileRows(layout.gates),
                                            packed::packedFloats(layout.gates, layout.units, H) * sizeof(float), threads);
  if (bySamples.threads > 1)
    return runPackedBySamples<Cell>(project, base, bySamples, dir, T, yStepStride, y, hprev, saved, h, h2);
  const ProjectBlocks blocks = projectBlocks(rows, threads, packed::panels(project.H));
  // The projection's output goes past the caches here (GRU c3 forward 142 → 134 ms on the Xeon
  // of runPackedBySamples's figures; LSTM and RNN c3 unchanged), not in runPackedBySamples,
  // where a thread reads back the rows it wrote (GRU c2 forward 14.3 → 14.9 ms streamed).
  packed::ProjectArgs streamed = project;
  streamed.stream = outlivesCache(rows * Cell::kGates * static_cast<size_t>(H) * sizeof(float));
  runPhasedJob(
      threads, 1 + T, [&](int phase) { return phase == 0 ? blocks.count() : chunks; },
      [&](int phase, int c) {
        if (phase == 0) return blocks.run(streamed, c);
        const int s = phase - 1;
        const int t = dir == 0 ? s : T - 1 - s;
        packed::step(stepArgs<Cell>(base, s, t, 0, project.out, yStepStride, y, hprev, saved, h, h2),
                     panels * c / chunks, panels * (c + 1) / chunks);
      });
  return T % 2 == 0 ? h : h2;
}

// The backward's time loop of one layer and direction on the packed kernels, as one phased job:
// each step (steps[k], in order) is the cell's gradient maths in chunks of samples
// (cellRows(t, b0, b1, k)), then dh_prev += dGh_t · W_hh in chunks of panels of hidden units
// (recurrent: W_hhᵀ packed in column blocks; x at dGh row 0 of step 0; out and k's parity are
// chosen per step by outOf(k)). One job for the whole loop: BLAS's threads would otherwise wake
// and sync for every step's small GEMM.
template <typename CellRows, typename OutOf>
void runPackedBackward(const std::vector<int>& steps, int B, int H, size_t gStride, packed::ProjectArgs recurrent,
                       CellRows&& cellRows, OutOf&& outOf) {
  const int panels = packed::panels(recurrent.H);
  const auto split = stepSplit(B, static_cast<size_t>(recurrent.K), H, panels);
  const float* dg = recurrent.x;
  const SampleSplit bySamples =
      sampleSplit(B, packed::tileRows(recurrent.gates),
                  packed::packedFloats(recurrent.gates, recurrent.H, recurrent.K) * sizeof(float), split.threads);
  if (bySamples.threads > 1) {
    ThreadPool::instance().run(bySamples.threads, [&](int tid) {
      const auto [b0, b1] = bySamples.samples(B, tid);
      packed::ProjectArgs p = recurrent;
      for (size_t k = 0; k < steps.size(); ++k) {
        const int t = steps[k];
        cellRows(t, b0, b1, static_cast<int>(k));
        p.x = dg + static_cast<size_t>(t) * gStride;
        p.out = outOf(static_cast<int>(k));
        packed::project(p, static_cast<size_t>(b0), static_cast<size_t>(b1), 0, panels);
      }
    });
    return;
  }
  const int threads = split.threads, colChunks = std::min(split.chunks, panels);
  const int rowChunks = std::min(B, threads);  // the cell's maths is light next to the GEMM
  runPhasedJob(
      threads, 2 * static_cast<int>(steps.size()), [&](int phase) { return phase % 2 == 0 ? rowChunks : colChunks; },
      [&](int phase, int c) {
        const int k = phase / 2;
        const int t = steps[static_cast<size_t>(k)];
        if (phase % 2 == 0) return cellRows(t, B * c / rowChunks, B * (c + 1) / rowChunks, k);
        packed::ProjectArgs p = recurrent;
        p.x = dg + static_cast<size_t>(t) * gStride;
        p.out = outOf(k);
        packed::project(p, 0, static_cast<size_t>(B), panels * c / colChunks, panels * (c + 1) / colChunks);
      });
}

// One network of one cell type: the sequence loop over layers, directions and steps, with
// lengths, dropout, the packed kernels and the training state.
template <typename Cell>
std::unique_ptr<GruReserve> forwardWith(const GruForwardArgs& a, const GruDims& d) {
  constexpr int G = Cell::kGates;
  const std::vector<int> len = gruLengths(a);
  const int maxLen = *std::max_element(len.begin(), len.end());
  const bool ragged = std::any_of(len.begin(), len.end(), [&](int v) { return v < d.T; });
  const int B = d.B, T = d.T, H = d.H, D = d.D, L = d.L;
  const size_t BT = d.BT(), DH = static_cast<size_t>(D) * H, BH = static_cast<size_t>(B) * H;

  std::unique_ptr<CpuGruReserve> res;
  if (a.training) res = std::make_unique<CpuGruReserve>(a.config, B, T, len, Cell::kSaved);
  const bool useDropout = a.training && a.config.dropout > 0.0f;

  const bool pingPong = !a.training && L > 1;
  const bool usePacked = packed::enabled();
  const int maxInSize = std::max(d.I, L > 1 ? static_cast<int>(DH) : 0);
  // W_ih and W_hh packed in the kernels' layout (a one-gate cell's units in blocks).
  const packed::Layout layout = packed::layout(G, H);
  // Room to pack the weights that PackedWeights does not keep.
  const auto packRoom = [&](int gates, int units, int K) {
    const size_t floats = static_cast<size_t>(gates) * units * K;
    return floats > PackedWeights::kMaxFloats ? packed::packedFloats(gates, units, K) : 0;
  };
  const size_t packedScratch = usePacked ? Scratch::round(packRoom(layout.gates, layout.units, H)) +
                                               Scratch::round(packRoom(layout.gates, layout.units, maxInSize)) +
                                               Scratch::round(BH)
                                         : Scratch::round(static_cast<size_t>(B) * G * H);
  Scratch scratch((ragged ? Scratch::round(BT * d.I) : 0) + Scratch::round(BT * G * H) + Scratch::round(BH) +
                  (Cell::kCellState ? Scratch::round(BH) : 0) + packedScratch +
                  (pingPong ? Scratch::round(BT * DH) * (L > 2 ? 2 : 1) : 0));
  float* xs = ragged ? scratch.take(BT * d.I) : nullptr;
  float* gi = scratch.take(BT * G * H);
  float* gh = usePacked ? nullptr : scratch.take(static_cast<size_t>(B) * G * H);
  float* h = scratch.take(BH);
  float* c = Cell::kCellState ? scratch.take(BH) : nullptr;
  float* h2 = usePacked ? scratch.take(BH) : nullptr;
  float* wHhRoom = usePacked ? scratch.take(packRoom(layout.gates, layout.units, H)) : nullptr;
  float* wIhRoom = usePacked ? scratch.take(packRoom(layout.gates, layout.units, maxInSize)) : nullptr;
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
        sgemm(false, true, static_cast<int>(BT), G * H, inSize, 1.0f, in, inSize, wIh, inSize, 0.0f, gi, G * H);
      if (a.h0) std::memcpy(h, a.h0 + static_cast<size_t>(slot) * BH, sizeof(float) * BH);
      else std::fill(h, h + BH, 0.0f);
      if (Cell::kCellState) {
        if (a.c0) std::memcpy(c, a.c0 + static_cast<size_t>(slot) * BH, sizeof(float) * BH);
        else std::fill(c, c + BH, 0.0f);
      }
      float* hprev = res ? res->hprev(slot) : nullptr;
      float* gates = res ? res->gates(slot) : nullptr;
      if (usePacked) {
        // The input projection and the recurrence in one job on the engine's threads: BLAS stays
        // idle, so its threads (which spin for a while after each call) do not compete with ours.
        const float* wIhPacked = PackedWeights::get(2 * static_cast<size_t>(slot), wIh, a.wIhVersions[slot],
                                                    layout.gates, layout.units, inSize, wIhRoom);
        const float* wHhPacked = PackedWeights::get(2 * static_cast<size_t>(slot) + 1, wHh, a.wHhVersions[slot],
                                                    layout.gates, layout.units, H, wHhRoom);
        packed::ProjectArgs project;
        project.gates = layout.gates;
        project.H = layout.units;
        project.K = inSize;
        project.w = wIhPacked;
        project.x = in;
        project.xStride = static_cast<size_t>(inSize);
        project.out = gi;
        project.outStride = static_cast<size_t>(G) * H;
        packed::StepArgs step;
        step.mode = a.config.mode;
        step.B = B;
        step.H = H;
        step.w = wHhPacked;
        step.bIh = bIh;
        step.bHh = bHh;
        step.c = c;
        step.giStride = static_cast<size_t>(T) * G * H;
        step.yStride = static_cast<size_t>(T) * DH;
        step.hprevStride = static_cast<size_t>(T) * H;
        step.savedStride = static_cast<size_t>(T) * Cell::kSaved * H;
        step.lengths = ragged ? len.data() : nullptr;
        step.stream = outlivesCache(BT * H * sizeof(float) * (1 + (res ? 1 + Cell::kSaved : 0)));
        const float* hLast =
            runPacked<Cell>(project, step, dir, T, DH, out + static_cast<size_t>(dir) * H, hprev, gates, h, h2);
        std::memcpy(a.hN + static_cast<size_t>(slot) * BH, hLast, sizeof(float) * BH);
        if (Cell::kCellState) std::memcpy(a.cN + static_cast<size_t>(slot) * BH, c, sizeof(float) * BH);
        continue;
      }
      for (int s = 0; s < T; ++s) {
        const int t = dir == 0 ? s : T - 1 - s;
        const bool anyValid = t < maxLen;
        if (anyValid) {
          // gh = b_hh + h·W_hhᵀ (beta = 1 also spares BLAS a pass that zeroes its output).
          for (int b = 0; b < B; ++b) std::memcpy(gh + static_cast<size_t>(b) * G * H, bHh, sizeof(float) * G * H);
          sgemm(false, true, B, G * H, H, 1.0f, h, H, wHh, H, 1.0f, gh, G * H);
        }
        for (int b = 0; b < B; ++b) {
          const size_t row = static_cast<size_t>(b) * T + t;
          float* hb = h + static_cast<size_t>(b) * H;
          float* cb = Cell::kCellState ? c + static_cast<size_t>(b) * H : nullptr;
          float* yb = out + row * DH + static_cast<size_t>(dir) * H;
          if (hprev) std::memcpy(hprev + row * H, hb, sizeof(float) * H);
          if (t >= len[static_cast<size_t>(b)]) {
            std::fill(yb, yb + H, 0.0f);
            continue;
          }
          const float* gib = gi + row * G * H;
          const float* ghb = gh + static_cast<size_t>(b) * G * H;
          if (gates) Cell::template forward<true>(H, gib, ghb, bIh, hb, cb, yb, gates + row * Cell::kSaved * H);
          else Cell::template forward<false>(H, gib, ghb, bIh, hb, cb, yb, nullptr);
        }
      }
      std::memcpy(a.hN + static_cast<size_t>(slot) * BH, h, sizeof(float) * BH);
      if (Cell::kCellState) std::memcpy(a.cN + static_cast<size_t>(slot) * BH, c, sizeof(float) * BH);
    }
    if (l < L - 1 && useDropout) {
      makeDropoutMask(a.config.seed, l + 1, a.config.dropout, BT * DH, res->mask(l + 1));
      applyMask(out, res->mask(l + 1), BT * DH, 1.0f / (1.0f - a.config.dropout));
    }
    in = out;
  }
  return res;
}

// wᵀ for w [rows × cols], packed (gru_packed.h's layout) as `blocks` blocks of cols / blocks units
// with K = rows, for the backward's GEMMs against a weight matrix (·W rather than ·Wᵀ): several
// vectors of weights per k, so that each broadcast feeds several FMAs. Each vector of that layout
// (one k, units() consecutive units of a block) is a run of consecutive floats of w's row k, so it
// is copied from w directly (packing a transposed copy gathered those floats a row apart, after a
// transpose of its own).
void packTransposed(const float* w, size_t rows, int cols, int blocks, float* out) {
  const int units = packed::units();
  const int blockUnits = cols / blocks;
  float* o = out;
  for (int j0 = 0; j0 < blockUnits; j0 += units) {
    const size_t n = static_cast<size_t>(std::min(units, blockUnits - j0));
    for (size_t k = 0; k < rows; ++k) {
      const float* row = w + k * static_cast<size_t>(cols) + j0;
      for (int b = 0; b < blocks; ++b, o += units) {
        std::memcpy(o, row + static_cast<size_t>(b) * blockUnits, sizeof(float) * n);
        std::fill(o + n, o + units, 0.0f);
      }
    }
  }
}

// out [M × N] (+)= x [M × K] · W for W [K × N] packed by packTransposed, in row blocks across
// the threads (the backward's dX = dGi · W_ih).
void packedProduct(const packed::ProjectArgs& product, size_t M) {
  const int panels = packed::panels(product.H);
  const size_t macs = M * static_cast<size_t>(product.K) * product.gates * product.H;
  const int threads = static_cast<int>(std::clamp<size_t>(macs / kMacsPerThread, 1, static_cast<size_t>(numThreads())));
  const ProjectBlocks blocks = projectBlocks(M, threads, panels);
  ThreadPool::instance().run(threads, [&](int tid) { blocks.runShare(product, tid, threads); });
}

template <typename Cell>
void backwardWith(const GruForwardArgs& a, const GruDims& d, const CpuGruReserve& res, const GruBackwardArgs& g) {
  constexpr int G = Cell::kGates;
  const std::vector<int>& len = res.lengths;
  const GruConfig& c = a.config;
  const int maxLen = *std::max_element(len.begin(), len.end());
  const bool ragged = std::any_of(len.begin(), len.end(), [&](int v) { return v < d.T; });
  const int B = d.B, T = d.T, H = d.H, D = d.D, L = d.L;
  const size_t BT = d.BT(), DH = static_cast<size_t>(D) * H, BH = static_cast<size_t>(B) * H;
  const size_t GH = static_cast<size_t>(G) * H;
  const bool useDropout = c.dropout > 0.0f;

  const bool usePacked = packed::enabled();
  // The packed dh_prev += dGh_t · W_hh takes dh_prev's H columns as `blocks` blocks of H / blocks,
  // packed like gates, so that a tile holds several vectors of weights per k: with one, each
  // broadcast of dGh feeds a single FMA and the loads, not the FMAs, set the pace.
  const int blocks = packed::columnBlocks(H);
  const size_t packedWHhT = usePacked ? packed::packedFloats(blocks, H / blocks, G * H) : 0;
  // The packed dX = dGi · W_ih: W_ihᵀ's packing, for the largest of the layers' inputs (layer 0's
  // only when the caller wants dx).
  size_t packedWIhT = 0;
  for (int l = g.dx ? 0 : 1; usePacked && l < L; ++l) {
    const int n = c.layerInputSize(l);
    packedWIhT = std::max(packedWIhT, packed::packedFloats(packed::columnBlocks(n), n / packed::columnBlocks(n), G * H));
  }
  const size_t BGH = static_cast<size_t>(B) * GH;
  Scratch scratch((ragged ? Scratch::round(BT * d.I) : 0) +
                  (Cell::kSeparateRecurrentGrad ? 2 : 1) * (Scratch::round(BT * GH) + Scratch::round(BGH)) +
                  (Cell::kCellState ? 4 : 2) * Scratch::round(BH) +
                  (L > 1 ? Scratch::round(BT * DH) * (L > 2 ? 2 : 1) : 0) +
                  Scratch::round(packedWHhT) + Scratch::round(packedWIhT));
  float* xs = ragged ? scratch.take(BT * d.I) : nullptr;
  float* dgi = scratch.take(BT * GH);
  float* dgh = Cell::kSeparateRecurrentGrad ? scratch.take(BT * GH) : dgi;
  // The bias gradients, summed per sample as the cell maths writes dGi (dGh) rows, then over the
  // samples: each sample's rows belong to one chunk at each step whatever the split, so the sums
  // do not depend on it, and dGi and dGh (39 MB each at c3) are not read again for them
  // (that took 12-16 of c3 training's ~540 ms).
  float* biasRows = scratch.take(BGH);
  float* biasRowsH = Cell::kSeparateRecurrentGrad ? scratch.take(BGH) : nullptr;
  float* dh = scratch.take(BH);
  float* dh2 = scratch.take(BH);
  float* dc = Cell::kCellState ? scratch.take(BH) : nullptr;
  float* dc2 = Cell::kCellState ? scratch.take(BH) : nullptr;
  float* bufA = L > 1 ? scratch.take(BT * DH) : nullptr;
  float* bufB = L > 2 ? scratch.take(BT * DH) : nullptr;
  float* wHhTPacked = usePacked ? scratch.take(packedWHhT) : nullptr;
  float* wIhTPacked = usePacked ? scratch.take(packedWIhT) : nullptr;
  if (ragged) copyMaskedInput(a.x, d, len, xs);
  if (ragged) {
    // Rows of padded steps stay zero: they add nothing to the weight gradients or dX.
    std::fill(dgi, dgi + BT * GH, 0.0f);
    if (Cell::kSeparateRecurrentGrad) std::fill(dgh, dgh + BT * GH, 0.0f);
  }

  const float* dOut = g.dy;  // gradient reaching this layer's output, or null for zeros
  for (int l = L - 1; l >= 0; --l) {
    const int inSize = c.layerInputSize(l);
    const float* in = l == 0 ? (ragged ? xs : a.x) : res.layerIn(l);
    float* dIn = l == 0 ? g.dx : ((L - 1 - l) % 2 == 0 ? bufA : bufB);
    for (int dir = 0; dir < D; ++dir) {
      const int slot = l * D + dir;
      const float* wIh = a.params.wIh[slot];
      const float* wHh = a.params.wHh[slot];
      const float* gates = res.gates(slot);
      const float* hprev = res.hprev(slot);
      // Step k of the loop reads dh (dc) from buffer k % 2 and writes the other one.
      float* const dhBuf[2] = {dh, dh2};
      float* const dcBuf[2] = {dc, dc2};
      if (g.dhN) std::memcpy(dh, g.dhN + static_cast<size_t>(slot) * BH, sizeof(float) * BH);
      else std::fill(dh, dh + BH, 0.0f);
      if (Cell::kCellState) {
        if (g.dcN) std::memcpy(dc, g.dcN + static_cast<size_t>(slot) * BH, sizeof(float) * BH);
        else std::fill(dc, dc + BH, 0.0f);
      }
      std::fill(biasRows, biasRows + BGH, 0.0f);
      if (Cell::kSeparateRecurrentGrad) std::fill(biasRowsH, biasRowsH + BGH, 0.0f);
      // Steps no sample has are skipped: dh (and dc) pass through them unchanged.
      std::vector<int> steps;
      for (int s = 0; s < T; ++s) {
        const int t = dir == 0 ? T - 1 - s : s;
        if (t < maxLen) steps.push_back(t);
      }
      // The cell's gradient maths of step t (loop step k) for samples [b0, b1): their dGi / dGh
      // rows (added to their bias sums) and the direct part of dh_prev (and dc_prev).
      auto cellRows = [&](int t, int b0, int b1, int k) {
        const float* dhCur = dhBuf[k % 2];
        float* dhNext = dhBuf[1 - k % 2];
        const float* dcCur = dcBuf[k % 2];
        float* dcNext = dcBuf[1 - k % 2];
        for (int b = b0; b < b1; ++b) {
          const size_t row = static_cast<size_t>(b) * T + t;
          if (b + 1 < b1) {
            // The next sample's rows are a whole sequence away from these and long out of cache:
            // fetch them while this one computes.
            const size_t next = row + T;
            prefetchFloats(gates + next * Cell::kSaved * H, static_cast<size_t>(Cell::kSaved) * H, false);
            prefetchFloats(hprev + next * H, static_cast<size_t>(H), false);
            if (dOut) prefetchFloats(dOut + next * DH + static_cast<size_t>(dir) * H, static_cast<size_t>(H), false);
            prefetchFloats(dgi + next * GH, GH, true);
            if (Cell::kSeparateRecurrentGrad) prefetchFloats(dgh + next * GH, GH, true);
          }
          const size_t at = static_cast<size_t>(b) * H;
          const float* dhb = dhCur + at;
          float* dhPrev = dhNext + at;
          const float* dcb = Cell::kCellState ? dcCur + at : nullptr;
          float* dcPrev = Cell::kCellState ? dcNext + at : nullptr;
          if (t >= len[static_cast<size_t>(b)]) {
            std::memcpy(dhPrev, dhb, sizeof(float) * H);
            if (Cell::kCellState) std::memcpy(dcPrev, dcb, sizeof(float) * H);
            continue;
          }
          const float* gb = gates + row * Cell::kSaved * H;
          const float* hp = hprev + row * H;
          float* dghRow = Cell::kSeparateRecurrentGrad ? dgh + row * GH : nullptr;
          if (dOut)
            Cell::template backward<true>(H, dhb, dOut + row * DH + static_cast<size_t>(dir) * H, dcb, gb, hp,
                                          dgi + row * GH, dghRow, dhPrev, dcPrev);
          else
            Cell::template backward<false>(H, dhb, nullptr, dcb, gb, hp, dgi + row * GH, dghRow, dhPrev, dcPrev);
          const size_t sample = static_cast<size_t>(b) * GH;
          addRow(static_cast<int>(GH), dgi + row * GH, biasRows + sample);
          if (Cell::kSeparateRecurrentGrad) addRow(static_cast<int>(GH), dghRow, biasRowsH + sample);
        }
      };
      if (usePacked) {
        packTransposed(wHh, GH, H, blocks, wHhTPacked);
        packed::ProjectArgs recurrent;  // dh_prev[B, H] += dGh_t[B, G·H] · W_hh
        recurrent.gates = blocks;
        recurrent.H = H / blocks;
        recurrent.K = G * H;
        recurrent.w = wHhTPacked;
        recurrent.x = dgh;
        recurrent.xStride = static_cast<size_t>(T) * GH;
        recurrent.outStride = static_cast<size_t>(H);
        recurrent.add = true;
        runPackedBackward(steps, B, H, GH, recurrent, cellRows, [&](int k) { return dhBuf[1 - k % 2]; });
      } else {
        for (size_t k = 0; k < steps.size(); ++k) {
          const int t = steps[k];
          cellRows(t, 0, B, static_cast<int>(k));
          sgemm(false, false, B, H, G * H, 1.0f, dgh + static_cast<size_t>(t) * GH, T * G * H, wHh, H, 1.0f,
                dhBuf[1 - k % 2], H);
        }
      }
      const float* dhCur = dhBuf[steps.size() % 2];
      const float* dcCur = dcBuf[steps.size() % 2];
      std::memcpy(g.dh0 + static_cast<size_t>(slot) * BH, dhCur, sizeof(float) * BH);
      if (Cell::kCellState) std::memcpy(g.dc0 + static_cast<size_t>(slot) * BH, dcCur, sizeof(float) * BH);
      const int bt = static_cast<int>(BT);
      sgemm(true, false, G * H, inSize, bt, 1.0f, dgi, G * H, in, inSize, 0.0f, g.dParams.wIh[slot], inSize);
      sgemm(true, false, G * H, H, bt, 1.0f, dgh, G * H, hprev, H, 0.0f, g.dParams.wHh[slot], H);
      columnSums(biasRows, static_cast<size_t>(B), G * H, g.dParams.bIh[slot]);
      if (Cell::kSeparateRecurrentGrad) columnSums(biasRowsH, static_cast<size_t>(B), G * H, g.dParams.bHh[slot]);
      else std::memcpy(g.dParams.bHh[slot], g.dParams.bIh[slot], sizeof(float) * GH);
      // dX = dGi · W_ih; dIn is null at layer 0 when the caller wants no input gradient (the
      // network's input is data), which skips 2·B·T·G·H·inputSize FLOPs, as PyTorch skips them
      // for an input that does not require grad.
      if (dIn && usePacked) {
        const int inBlocks = packed::columnBlocks(inSize);
        packTransposed(wIh, GH, inSize, inBlocks, wIhTPacked);
        packed::ProjectArgs inputGrad;  // dIn[BT, in] (+)= dGi[BT, G·H] · W_ih
        inputGrad.gates = inBlocks;
        inputGrad.H = inSize / inBlocks;
        inputGrad.K = G * H;
        inputGrad.w = wIhTPacked;
        inputGrad.x = dgi;
        inputGrad.xStride = GH;
        inputGrad.out = dIn;
        inputGrad.outStride = static_cast<size_t>(inSize);
        inputGrad.add = dir != 0;
        packedProduct(inputGrad, BT);
      } else if (dIn) {
        sgemm(false, false, bt, inSize, G * H, 1.0f, dgi, G * H, wIh, inSize, dir == 0 ? 0.0f : 1.0f, dIn, inSize);
      }
    }
    if (l > 0 && useDropout) applyMask(dIn, res.mask(l), BT * DH, 1.0f / (1.0f - c.dropout));
    dOut = dIn;
  }
}

class CpuGruEngine final : public GruEngine {
 public:
  std::unique_ptr<GruReserve> forward(const GruForwardArgs& a) override {
    const GruDims d = checkGruForwardArgs(a, true);
    switch (a.config.mode) {
      case RnnMode::Gru: return forwardWith<GruCell>(a, d);
      case RnnMode::Lstm: return forwardWith<LstmCell>(a, d);
      case RnnMode::RnnTanh: return forwardWith<RnnCell<false>>(a, d);
      case RnnMode::RnnRelu: return forwardWith<RnnCell<true>>(a, d);
    }
    throw ArgumentError("gru: unknown mode");
  }

  void backward(const GruForwardArgs& a, GruReserve& reserve, const GruBackwardArgs& g) override {
    const GruDims d = checkGruForwardArgs(a, false);
    const GruConfig& c = a.config;
    const std::string fn = std::string(rnnModeName(c.mode)) + " backward";
    auto* res = dynamic_cast<CpuGruReserve*>(&reserve);
    if (!res) throw ArgumentError(fn + ": the training state was not made by the CPU engine");
    if (res->batch != d.B || res->seqLen != d.T || !sameTrainingConfig(res->config, c))
      throw ArgumentError(fn + ": the configuration differs from the training forward's");
    if (res->lengths != gruLengths(a)) throw ArgumentError(fn + ": lengths differ from the training forward's");
    const size_t slots = static_cast<size_t>(c.numSlots());
    const auto& p = g.dParams;
    if (!g.dh0 || (c.hasCellState() && !g.dc0) || p.wIh.size() != slots || p.wHh.size() != slots ||
        p.bIh.size() != slots || p.bHh.size() != slots)
      throw ArgumentError(fn + ": dh0 (dc0 for an LSTM) and every parameter gradient must be given");
    switch (c.mode) {
      case RnnMode::Gru: return backwardWith<GruCell>(a, d, *res, g);
      case RnnMode::Lstm: return backwardWith<LstmCell>(a, d, *res, g);
      case RnnMode::RnnTanh: return backwardWith<RnnCell<false>>(a, d, *res, g);
      case RnnMode::RnnRelu: return backwardWith<RnnCell<true>>(a, d, *res, g);
    }
  }
};

}  // namespace

GruEngine& gruEngine() {
  static CpuGruEngine engine;
  return engine;
}

}  // namespace cgru::cpu
