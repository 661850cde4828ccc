// lock.h — mutexes that know their rank in THREADING.md's lock order.
//
// Ranks, outermost first: the server lock, then one client lock, then leaf
// locks (the event loop's, the completion queue's). With XDRD_LOCK_CHECKS
// defined (the debug and sanitizer builds), every thread keeps a record of the
// ranked locks it holds and aborts with a message naming both locks and the
// thread when it breaks the order:
//   - a client lock taken without the server lock held;
//   - the server lock taken while a client lock is held;
//   - a second client lock (or a second server lock) taken;
//   - anything taken while a leaf lock is held.
// Without it a RankedMutex is a std::mutex and nothing more.
//
// Threads: any. The record is thread-local, so the checks take no lock.
#pragma once

#include <pthread.h>

#include <cstdint>
#include <mutex>

namespace xdrd {

// A condition variable initialised with pthread_cond_init, not the static
// initializer std::condition_variable uses: DRD only tracks condition
// variables it has seen initialised, and reports destroying any other one
// ("not a condition variable"), e.g. a server that never started. Notify it
// with its mutex held (THREADING.md).
class CondVar {
 public:
  CondVar() { pthread_cond_init(&cv_, nullptr); }
  ~CondVar() { pthread_cond_destroy(&cv_); }
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void NotifyOne() { pthread_cond_signal(&cv_); }
  void NotifyAll() { pthread_cond_broadcast(&cv_); }
  // For plain mutexes (tests): `lock` must be locked.
  void Wait(std::unique_lock<std::mutex>& lock) { pthread_cond_wait(&cv_, lock.mutex()->native_handle()); }
  template <typename Pred>
  void Wait(std::unique_lock<std::mutex>& lock, Pred pred) {
    while (!pred()) Wait(lock);
  }

 private:
  friend class RankedMutex;
  pthread_cond_t cv_;
};

enum class LockRank : uint8_t { kServer = 1, kClient = 2, kLeaf = 3 };

class RankedMutex {
 public:
  // `name` is copied (truncated to fit) and appears in violation messages.
  RankedMutex(LockRank rank, const char* name);
  RankedMutex(const RankedMutex&) = delete;
  RankedMutex& operator=(const RankedMutex&) = delete;

  // BasicLockable, so std::lock_guard and std::unique_lock work.
  void lock();
  void unlock();

  // Waits on `cv` with this mutex held by the caller (and held again on
  // return). The lock record is unchanged: while waiting the thread takes
  // nothing else.
  void Wait(CondVar& cv);

  LockRank rank() const { return rank_; }
  const char* name() const { return name_; }

  // True if the calling thread holds this mutex (always true without
  // XDRD_LOCK_CHECKS, where nothing is recorded). For assertions only.
  bool HeldByThisThread() const;

 private:
  std::mutex mu_;
  LockRank rank_;
  char name_[40];
};

// Aborts unless the calling thread holds `m` (a no-op without
// XDRD_LOCK_CHECKS). Functions whose names end in Locked start with it.
void AssertHeld(const RankedMutex& m);

}  // namespace xdrd
