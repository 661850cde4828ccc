// lock.cc — the lock-order checker behind RankedMutex (see lock.h).
#include "base/lock.h"

#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace xdrd {

namespace {

#ifdef XDRD_LOCK_CHECKS
// The ranked locks this thread holds, in the order taken. The lock order
// allows at most three at once (server, client, leaf); more is a violation
// caught before it is recorded.
struct HeldLocks {
  const RankedMutex* locks[4];
  int count = 0;
};
thread_local HeldLocks t_held;

const char* RankName(LockRank r) {
  switch (r) {
    case LockRank::kServer: return "server";
    case LockRank::kClient: return "client";
    case LockRank::kLeaf: return "leaf";
  }
  return "?";
}

[[noreturn]] void Violation(const char* rule, const RankedMutex& taking, const RankedMutex* holding) {
  char thread_name[32] = "?";
  pthread_getname_np(pthread_self(), thread_name, sizeof thread_name);
  if (holding) {
    std::fprintf(stderr,
                 "xdrd: lock order violation on thread '%s': %s: taking %s lock '%s' while "
                 "holding %s lock '%s'\n",
                 thread_name, rule, RankName(taking.rank()), taking.name(), RankName(holding->rank()),
                 holding->name());
  } else {
    std::fprintf(stderr, "xdrd: lock order violation on thread '%s': %s: taking %s lock '%s'\n",
                 thread_name, rule, RankName(taking.rank()), taking.name());
  }
  std::fflush(stderr);
  std::abort();
}

void CheckBeforeLock(const RankedMutex& m) {
  const RankedMutex* server = nullptr;
  for (int i = 0; i < t_held.count; ++i) {
    const RankedMutex* h = t_held.locks[i];
    if (h == &m) Violation("a lock taken twice by one thread", m, h);
    if (h->rank() == LockRank::kLeaf) Violation("nothing may be taken under a leaf lock", m, h);
    if (m.rank() == LockRank::kServer && h->rank() == LockRank::kClient)
      Violation("the server lock is taken before any client lock, never after", m, h);
    if (m.rank() == LockRank::kServer && h->rank() == LockRank::kServer)
      Violation("one server lock at a time", m, h);
    if (m.rank() == LockRank::kClient && h->rank() == LockRank::kClient)
      Violation("at most one client lock at a time", m, h);
    if (h->rank() == LockRank::kServer) server = h;
  }
  if (m.rank() == LockRank::kClient && server == nullptr)
    Violation("a client lock is taken only while holding the server lock", m, nullptr);
}

// Whether this thread is the JS thread inside an N-API entry point (the
// innermost one's name, else null), and whether it is stopping a server
// there (JsThreadStopping).
struct JsMark {
  const char* entry = nullptr;
  bool stopping = false;
};
thread_local JsMark t_js;

// THREADING.md, "The JS thread": while a server's loop runs, the JS thread
// takes neither its server lock nor a client lock; only stopping it (which
// joins the loop) may. `loop_running` is the flag the lock was tied to by
// ForbidOnJsThreadWhile, if any.
void CheckJsThread(const RankedMutex& m, const std::atomic<bool>* loop_running) {
  if (t_js.entry == nullptr || t_js.stopping || loop_running == nullptr) return;
  if (!loop_running->load(std::memory_order_acquire)) return;
  char thread_name[32] = "?";
  pthread_getname_np(pthread_self(), thread_name, sizeof thread_name);
  std::fprintf(stderr,
               "xdrd: lock order violation on thread '%s': the JS thread takes no server or client lock "
               "while the server's loop runs: taking %s lock '%s' in N-API entry '%s'\n",
               thread_name, RankName(m.rank()), m.name(), t_js.entry);
  std::fflush(stderr);
  std::abort();
}

void Record(const RankedMutex& m) { t_held.locks[t_held.count++] = &m; }

void Forget(const RankedMutex& m) {
  for (int i = t_held.count - 1; i >= 0; --i) {
    if (t_held.locks[i] != &m) continue;
    for (int j = i; j + 1 < t_held.count; ++j) t_held.locks[j] = t_held.locks[j + 1];
    --t_held.count;
    return;
  }
  std::fprintf(stderr, "xdrd: unlock of lock '%s', which this thread does not hold\n", m.name());
  std::abort();
}
#endif  // XDRD_LOCK_CHECKS

}  // namespace

RankedMutex::RankedMutex(LockRank rank, const char* name) : rank_(rank) {
  std::snprintf(name_, sizeof name_, "%s", name);
}

// std::mutex's destructor is trivial, so on its own a freed mutex is never
// destroyed as far as helgrind and DRD can tell: a new mutex that later
// occupies the same bytes inherits the old one's lock-order edges, and
// helgrind reports an order "violation" between two unrelated objects (seen
// in CI: a Server's event-loop lock and the next Server's server lock at the
// same address). Destroying the pthread mutex is what tells them.
RankedMutex::~RankedMutex() { pthread_mutex_destroy(mu_.native_handle()); }

void RankedMutex::lock() {
#ifdef XDRD_LOCK_CHECKS
  CheckJsThread(*this, forbidden_on_js_thread_while_);
  CheckBeforeLock(*this);
#endif
  mu_.lock();
#ifdef XDRD_LOCK_CHECKS
  Record(*this);
#endif
}

void RankedMutex::unlock() {
#ifdef XDRD_LOCK_CHECKS
  Forget(*this);
#endif
  mu_.unlock();
}

void RankedMutex::Wait(CondVar& cv) { pthread_cond_wait(&cv.cv_, mu_.native_handle()); }

bool RankedMutex::HeldByThisThread() const {
#ifdef XDRD_LOCK_CHECKS
  for (int i = 0; i < t_held.count; ++i) {
    if (t_held.locks[i] == this) return true;
  }
  return false;
#else
  return true;
#endif
}

#ifdef XDRD_LOCK_CHECKS
JsThreadScope::JsThreadScope(const char* entry) : outer_entry_(t_js.entry), outer_stopping_(t_js.stopping) {
  t_js.entry = entry;
  t_js.stopping = false;
}

JsThreadScope::~JsThreadScope() {
  t_js.entry = outer_entry_;
  t_js.stopping = outer_stopping_;
}

JsThreadStopping::JsThreadStopping() : outer_stopping_(t_js.stopping) { t_js.stopping = true; }

JsThreadStopping::~JsThreadStopping() { t_js.stopping = outer_stopping_; }
#endif  // XDRD_LOCK_CHECKS

void AssertHeld(const RankedMutex& m) {
#ifdef XDRD_LOCK_CHECKS
  if (!m.HeldByThisThread()) {
    std::fprintf(stderr, "xdrd: lock '%s' must be held here and is not\n", m.name());
    std::abort();
  }
#else
  (void)m;
#endif
}

}  // namespace xdrd
