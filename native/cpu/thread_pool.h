// A small persistent thread pool for the CPU engine's per-step parallel work, and the spinning
// helper its jobs use to wait for each other between steps.
//
// Workers are created once (on first use, and again only when more are needed) and sleep on a
// condition variable between jobs, so an idle process spends nothing and BLAS, which runs between
// our jobs, keeps the cores to itself. Inside a job the threads wait for each other with spinUntil
// rather than sleeping: a job's steps are a few microseconds apart.
#pragma once
#include <pthread.h>

#include <atomic>
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

  ThreadPool() = default;
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

 private:
  using Fn = void (*)(void*, int);
  void runJob(int n, Fn fn, void* ctx);
  void workerLoop(int tid);

  std::mutex runMutex_;  // one job at a time
  PosixCondition state_;  // guards the fields below; workers sleep on it between jobs
  std::vector<std::thread> workers_;
  uint64_t generation_ = 0;
  bool stop_ = false;
  Fn fn_ = nullptr;
  void* ctx_ = nullptr;
  int participants_ = 0;
  std::atomic<int> pending_{0};
};

// A pause hint for spin loops.
void cpuRelax();

// Spins until ready() is true: with a pause hint at first, then yielding the core, so that a
// thread we wait for that was descheduled (other processes on the machine) gets to run.
template <class Ready>
void spinUntil(Ready&& ready) {
  for (unsigned spins = 0; !ready(); ++spins) {
    if (spins < 2048) cpuRelax();
    else std::this_thread::yield();
  }
}

}  // namespace cgru::cpu
