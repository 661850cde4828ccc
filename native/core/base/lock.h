// lock.h — mutexes that know their rank in THREADING.md's lock order.
//
// Ranks, outermost first: the server lock, then one client lock, then leaf
// locks (the four THREADING.md lists). With XDRD_LOCK_CHECKS
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

#include <atomic>
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
  ~RankedMutex();
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

  // Makes this a lock the JS thread must not take while `*loop_running` is
  // true (the server lock and client locks of a server whose loop thread
  // runs: THREADING.md, "The JS thread"). With XDRD_LOCK_CHECKS, taking it
  // inside a JsThreadScope then aborts, unless a JsThreadStopping scope is
  // open. Call before the mutex is shared; the flag must outlive it. A no-op
  // without XDRD_LOCK_CHECKS.
  void ForbidOnJsThreadWhile(const std::atomic<bool>* loop_running) {
#ifdef XDRD_LOCK_CHECKS
    forbidden_on_js_thread_while_ = loop_running;
#else
    (void)loop_running;
#endif
  }

 private:
  std::mutex mu_;
  LockRank rank_;
  char name_[40];
#ifdef XDRD_LOCK_CHECKS
  const std::atomic<bool>* forbidden_on_js_thread_while_ = nullptr;
#endif
};

// Marks the calling thread as the JS thread inside an N-API entry point of
// the addon (a method or accessor JS calls, the constructor, the
// thread-safe function's call-back, a finalizer, the env cleanup hook) for
// the scope's lifetime. `entry` names the entry point in violation messages
// and must outlive the scope (a string literal). Scopes nest (JS called
// from a call-back may call a method): the innermost one is named, and the
// outer one is restored when it ends. Without XDRD_LOCK_CHECKS it is empty
// and costs nothing.
class JsThreadScope {
 public:
#ifdef XDRD_LOCK_CHECKS
  explicit JsThreadScope(const char* entry);
  ~JsThreadScope();
#else
  explicit JsThreadScope(const char*) {}
  ~JsThreadScope() {}  // user-provided: a scope variable is never "unused"
#endif
  JsThreadScope(const JsThreadScope&) = delete;
  JsThreadScope& operator=(const JsThreadScope&) = delete;

#ifdef XDRD_LOCK_CHECKS
 private:
  const char* outer_entry_;
  bool outer_stopping_;
#endif
};

// Inside a JsThreadScope: the JS thread is stopping a server (Stop,
// Shutdown, ShortenShutdown, destroying it). Stopping joins the loop
// thread, and THREADING.md allows it the server lock (and client locks)
// while the loop still runs, so the check of ForbidOnJsThreadWhile is
// lifted until the scope ends — or until a nested JsThreadScope begins,
// since a new entry point is not part of the stop. Empty without
// XDRD_LOCK_CHECKS.
class JsThreadStopping {
 public:
#ifdef XDRD_LOCK_CHECKS
  JsThreadStopping();
  ~JsThreadStopping();
#else
  JsThreadStopping() {}
  ~JsThreadStopping() {}
#endif
  JsThreadStopping(const JsThreadStopping&) = delete;
  JsThreadStopping& operator=(const JsThreadStopping&) = delete;

#ifdef XDRD_LOCK_CHECKS
 private:
  bool outer_stopping_;
#endif
};

// Aborts unless the calling thread holds `m` (a no-op without
// XDRD_LOCK_CHECKS). Functions whose names end in Locked start with it.
void AssertHeld(const RankedMutex& m);

}  // namespace xdrd
