// A small persistent thread pool for the CPU engine's per-step parallel work, and the spinning
// helper its jobs use to wait for each other between steps.
//
// Workers are created once (on first use, and again only when more are needed). After a job a
// worker watches for the next one for kLinger, then sleeps on a condition variable, so an idle
// process spends nothing: waking a sleeping thread takes tens of microseconds, about what a whole
// batch-1 GRU step loop takes, and calls such as predict at batch 1 come back to back. Inside a
// job the threads wait for each other by spinning (backOff) rather than sleeping: a job's steps
// are a few microseconds apart.
//
// Watching pays only while our threads have the cores to themselves. When another process wants
// one, a watching worker takes time from the caller's thread (measured: a batch-1 forward at H 128
// with a busy loop beside it, 0.28 ms with watching, 0.14 without). So a worker that finds it was
// descheduled while watching marks the pool busy(): for kBusyBackoff, workers sleep at once after
// a job, and the engine keeps short steps on the caller's thread (gru_cpu.cpp). Watching workers
// also yield the core to any other runnable thread, and BLAS calls stop them (stopWatching).
#pragma once
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace cgru::cpu {

// A mutex with one condition variable, on POSIX threads: std::condition_variable::wait built by
// GCC >= 12 needs GLIBCXX_3.4.30, which GCC 11's libstdc++ (RHEL 9 and its kin) lacks.
// BasicLockable, so std::lock_guard works; wait() and notifyAll() need the lock held / not.
class PosixCondition {
 public:
  PosixCondition() {
    pthread_mutex_init(&mutex_, nullptr);
    pthread_cond_init(&cond_, nullptr);
  }
  ~PosixCondition() {
    pthread_cond_destroy(&cond_);
    pthread_mutex_destroy(&mutex_);
  }
  PosixCondition(const PosixCondition&) = delete;
  PosixCondition& operator=(const PosixCondition&) = delete;
  void lock() { pthread_mutex_lock(&mutex_); }
  void unlock() { pthread_mutex_unlock(&mutex_); }
  void wait() { pthread_cond_wait(&cond_, &mutex_); }
  void notifyAll() { pthread_cond_broadcast(&cond_); }

 private:
  pthread_mutex_t mutex_;
  pthread_cond_t cond_;
};

class ThreadPool {
 public:
  static constexpr auto kLinger = std::chrono::microseconds(300);
  static constexpr auto kBusyBackoff = std::chrono::milliseconds(50);

  // The process-wide pool.
  static ThreadPool& instance();

  // Runs fn(tid) for tid = 0 … n−1 on n threads (the caller is tid 0) and returns when all are
  // done. n <= 1 runs inline. Calls are serialised; fn must not throw.
  template <class F>
  void run(int n, F&& fn) {
    if (n <= 1) {
      fn(0);
      return;
    }
    runJob(n, [](void* ctx, int tid) { (*static_cast<std::remove_reference_t<F>*>(ctx))(tid); }, &fn);
  }

  // Whether another process competes for the cores (see above); markBusy() says it does.
  bool busy() const {
    return std::chrono::steady_clock::now().time_since_epoch().count() < busyUntil_.load(std::memory_order_relaxed);
  }
  void markBusy() {
    busyUntil_.store((std::chrono::steady_clock::now() + kBusyBackoff).time_since_epoch().count(), std::memory_order_relaxed);
  }
  // Sends watching workers to sleep now: called before work on other threads (BLAS's), which
  // would otherwise share a core with a spinning worker.
  void stopWatching() { stopRequests_.fetch_add(1, std::memory_order_relaxed); }

  ThreadPool() = default;
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

 private:
  using Fn = void (*)(void*, int);
  void runJob(int n, Fn fn, void* ctx);
  void workerLoop(int tid);
  // Returns when a job after generation `seen` is published, kLinger has passed, the pool is
  // (found) busy, or stopWatching() was called.
  void linger(uint64_t seen);

  std::mutex runMutex_;  // one job at a time
  PosixCondition state_;  // guards the fields below; workers sleep on it between jobs
  std::vector<std::thread> workers_;
  uint64_t generation_ = 0;
  bool stop_ = false;
  Fn fn_ = nullptr;
  void* ctx_ = nullptr;
  int participants_ = 0;
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> published_{0};  // generation_, readable without the lock
  std::atomic<int64_t> busyUntil_{0};    // steady_clock ticks
  std::atomic<uint64_t> stopRequests_{0};
};

// A pause hint for spin loops.
void cpuRelax();

// One wait of a spin loop on its `spins`-th turn: a pause hint at first, then yielding the core,
// so that a thread we wait for that was descheduled (other processes on the machine) gets to run.
inline void backOff(unsigned spins) {
  if (spins < 2048) cpuRelax();
  else std::this_thread::yield();
}

// Spins until ready() is true, backing off as above.
template <class Ready>
void spinUntil(Ready&& ready) {
  for (unsigned spins = 0; !ready(); ++spins) backOff(spins);
}

}  // namespace cgru::cpu
