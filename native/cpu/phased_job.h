// One job of dependent phases on the engine's threads: the recurrent time loops (a forward's input
// projection then its steps; a backward's cell maths and recurrent GEMM of every step). Phase p
// has chunks(p) work items that may run in any order once every item of the phases before it is
// done.
//
// Each phase's chunks are split into one contiguous block per thread, its owner, so that a
// thread works on the same hidden units (the same slice of the packed weights, which then stays
// in its core's cache) from step to step. A thread whose own next item cannot start yet takes
// an unclaimed item of another's block in a phase that can: a thread that falls behind (or is
// descheduled by another process before it claimed) holds up a phase only by the item it is on.
// A thread claims an item only once that item can start, so it never holds one while waiting.
#pragma once
#include <atomic>
#include <cstdint>
#include <vector>

#include "cpu/thread_pool.h"

namespace cgru::cpu {

// work(phase, chunk) for every chunk < chunksOf(phase) of phases [0, phases), on `threads`
// threads (1: in order on the caller's). chunksOf(p) >= 1.
template <class ChunksOf, class Work>
void runPhasedJob(int threads, int phases, ChunksOf&& chunksOf, Work&& work) {
  if (threads <= 1) {
    for (int p = 0; p < phases; ++p)
      for (int c = 0, n = chunksOf(p); c < n; ++c) work(p, c);
    return;
  }
  // start[p]: the items of the phases before p, i.e. the count of done items that lets p begin.
  std::vector<int64_t> start(static_cast<size_t>(phases) + 1, 0);
  for (int p = 0; p < phases; ++p) start[static_cast<size_t>(p) + 1] = start[static_cast<size_t>(p)] + chunksOf(p);
  // Rounded up, so that a phase of fewer chunks than threads goes to the first ones: the caller's
  // first (the others may still be waking up).
  const auto blockBegin = [&](int owner, int p) {
    return static_cast<int>((static_cast<int64_t>(start[p + 1] - start[p]) * owner + threads - 1) / threads);
  };
  // An owner's claim state: its next phase (high half) and the index in its block of that phase.
  struct alignas(64) Claim {
    std::atomic<uint64_t> state{0};
  };
  struct alignas(64) Done {
    std::atomic<int64_t> value{0};
  };
  std::vector<Claim> claims(static_cast<size_t>(threads));
  Done done;
  const auto pack = [](int p, int i) { return static_cast<uint64_t>(p) << 32 | static_cast<uint32_t>(i); };
  enum class Take { kTook, kNotYet, kNone };
  // The next item of owner's block if it can start (after `finished` items are done): done by the
  // caller, or kNotYet (also when another thread claimed it first), or kNone when none is left.
  const auto take = [&](int owner, int64_t finished) {
    std::atomic<uint64_t>& claim = claims[static_cast<size_t>(owner)].state;
    uint64_t seen = claim.load(std::memory_order_acquire);
    int p = static_cast<int>(seen >> 32), i = static_cast<int>(seen & 0xffffffffu);
    // Past the end of its block (or an empty block): the owner's first item of a later phase.
    while (p < phases && blockBegin(owner, p) + i >= blockBegin(owner + 1, p)) ++p, i = 0;
    if (p >= phases) return Take::kNone;
    if (finished < start[static_cast<size_t>(p)]) return Take::kNotYet;
    if (!claim.compare_exchange_strong(seen, pack(p, i + 1), std::memory_order_acq_rel)) return Take::kNotYet;
    work(p, blockBegin(owner, p) + i);
    done.value.fetch_add(1, std::memory_order_release);
    return Take::kTook;
  };
  // How often a thread waiting for its own next item looks for another's to take: it reads their
  // claims, which their owners then have to take back from its cache, so not on every spin.
  constexpr unsigned kStealEvery = 64;
  ThreadPool::instance().run(threads, [&](int tid) {
    for (unsigned idle = 0;;) {  // idle: turns since this thread last took an item
      const int64_t finished = done.value.load(std::memory_order_acquire);
      const Take own = take(tid, finished);
      if (own == Take::kTook) {
        idle = 0;
        continue;
      }
      if (own == Take::kNone || idle % kStealEvery == kStealEvery - 1) {
        bool others = false, took = false;
        for (int k = 1; k < threads && !took; ++k) {
          const Take t = take((tid + k) % threads, finished);
          took = t == Take::kTook;
          others = others || t != Take::kNone;
        }
        if (took) {
          idle = 0;
          continue;
        }
        if (own == Take::kNone && !others) break;
      }
      backOff(idle++);
    }
  });
}

}  // namespace cgru::cpu
