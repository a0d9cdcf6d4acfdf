#include "cpu/thread_pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace cgru::cpu {

void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield");
#endif
}

ThreadPool& ThreadPool::instance() {
  static ThreadPool pool;
  return pool;
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<PosixCondition> lock(state_);
    stop_ = true;
  }
  state_.notifyAll();
  for (std::thread& w : workers_) w.join();
}

void ThreadPool::runJob(int n, Fn fn, void* ctx) {
  std::lock_guard<std::mutex> running(runMutex_);
  {
    std::lock_guard<PosixCondition> lock(state_);
    while (static_cast<int>(workers_.size()) < n - 1) {
      const int tid = static_cast<int>(workers_.size()) + 1;
      workers_.emplace_back([this, tid] { workerLoop(tid); });
    }
    fn_ = fn;
    ctx_ = ctx;
    participants_ = n;
    pending_.store(n - 1, std::memory_order_relaxed);
    ++generation_;
    published_.store(generation_, std::memory_order_release);
  }
  state_.notifyAll();
  fn(ctx, 0);
  // The workers' share takes about as long as ours, so this wait is short: spin.
  spinUntil([&] { return pending_.load(std::memory_order_acquire) == 0; });
}

void ThreadPool::workerLoop(int tid) {
  uint64_t seen = 0;
  for (;;) {
    Fn fn;
    void* ctx;
    {
      std::lock_guard<PosixCondition> lock(state_);
      while (!stop_ && generation_ == seen) state_.wait();
      if (stop_) return;
      seen = generation_;
      if (tid >= participants_) continue;
      fn = fn_;
      ctx = ctx_;
    }
    fn(ctx, tid);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
    linger(seen);
  }
}

void ThreadPool::linger(uint64_t seen) {
  // Between two looks at the clock a watching thread spins about a microsecond; a gap this long
  // means it was descheduled, or its yield let another thread run: another thread wanted this core.
  constexpr auto kDescheduled = std::chrono::microseconds(1000);
  auto last = std::chrono::steady_clock::now();
  const auto until = last + kLinger;
  const uint64_t stops = stopRequests_.load(std::memory_order_relaxed);
  for (unsigned spins = 1; published_.load(std::memory_order_acquire) == seen; ++spins) {
    cpuRelax();
    if (spins % 16 == 0) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last > kDescheduled) markBusy();
      if (now > until || busy() || stopRequests_.load(std::memory_order_relaxed) != stops) return;
      last = now;
      std::this_thread::yield();  // a gap that includes it: another thread had this core
    }
  }
}

}  // namespace cgru::cpu
