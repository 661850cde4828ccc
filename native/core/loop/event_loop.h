// event_loop.h — the event loop of the loop thread: fd watches (level-
// triggered, or edge-triggered where the backend can: WatchMode) and timers
// over a backend (epoll by default, poll() as the reference;
// event_backend.h).
//
// Threads
//   RunOnce()                 one thread at a time: the loop thread.
//   Add/Update/Remove*, Wake  any thread, including a callback running on the
//                             loop thread.
//   stats(), *_count()        any thread.
//   the destructor            any thread, once no RunOnce() can still run.
//
// Locks
//   mu_ is a leaf lock (THREADING.md); no callback, free function or
//   callback destructor runs under it, so callers need not think about it.
//
// Lifetime
//   Remove*() only marks an entry (and takes a watch out of the backend at
//   once). The loop thread erases marked entries at a safe point: after the
//   turn's dispatch, when no dispatch can still see them. Only then does it
//   run the entry's free function and destroy its callback (both outside
//   mu_). So a callback that is running while another thread removes its
//   watch finishes first, and the free function runs after it. Entries
//   still registered when the loop is destroyed are freed by the
//   destructor. Ids are never reused.
//
// Cost
//   Adding, changing and removing a watch or a timer is O(log n) or better
//   and reaches the backend at once (epoll_ctl, or marking the poll() array
//   for a rebuild); on epoll, changing an edge watch's events reaches the
//   kernel only when POLLOUT is added or dropped (see WatchMode). A turn on
//   epoll costs the ready descriptors and the due timers, whatever the
//   number of watches; on poll() every enabled watch.
//
// A watch whose fd is closed without RemoveWatch
//   (a caller bug; remove the watch first.) When the loop finds out, the
//   watch gets one callback with revents == POLLNVAL and is then disabled,
//   as if its events were 0, until UpdateWatch (which tries again; with the
//   same events too) or RemoveWatch. When the loop finds out depends on the
//   backend:
//   - poll(): at the next turn (poll() reports POLLNVAL for the entry).
//   - epoll: when an epoll_ctl on that fd number fails, i.e. when that
//     number is next given to the kernel: a watch on it is added, or the
//     union of the events its watches ask for changes (UpdateWatch to other
//     events, RemoveWatch of one of several watches of the number). An fd
//     closed and never touched again simply never fires (the kernel drops a
//     closed file from the interest list by itself).
//   Both, when the number was reused before the loop found out: poll()
//   cannot tell and watches the new file under the old watch; epoll reports
//   POLLNVAL to the old watch when the new file is first given to the
//   kernel, and never delivers to a new watch an event meant for the old
//   file. And if a duplicate (dup(), fork()) keeps the closed file open,
//   epoll goes on reporting that file's readiness to the watch until the
//   loop finds out as above (the kernel's entry is for the file, not the
//   number).
#pragma once

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "base/lock.h"
#include "base/unique_fd.h"
#include "loop/event_backend.h"
#include "loop/poller.h"

namespace xdrd {

class EventLoop {
 public:
  using Id = WatchId;
  // revents is poll()'s, masked to the events currently asked for plus
  // POLLERR and POLLHUP (which poll() always reports); or exactly POLLNVAL
  // (see above).
  using WatchCallback = std::function<void(Id id, int fd, short revents)>;
  using TimerCallback = std::function<void(Id id)>;
  // Runs once, on the loop thread or in the destructor, after the entry is
  // removed and no dispatch can still reach it. Typically drops a reference.
  using FreeCallback = std::function<void()>;

  // Work the loop has done since it was made; counts only grow.
  struct Stats {
    uint64_t turns = 0;            // RunOnce() calls that waited in the backend
    uint64_t ready_events = 0;     // readiness reports taken from the backend
    uint64_t watches_scanned = 0;  // watch entries visited to find and dispatch ready ones or to rebuild a set
    uint64_t rebuilds = 0;         // whole-set rebuilds (poll(): its array after a change)
    uint64_t wakeups = 0;          // writes to the wake-up eventfd (Wake(), or a change a sleeping wait must see)
    uint64_t interest_changes = 0; // watches added, changed or removed
    uint64_t interest_syscalls = 0; // of those, the ones that cost a system call (epoll_ctl; none on poll())
  };

  // How a watch is told of readiness.
  //  kLevel: at every turn while its fd is ready for what the watch asks
  //          (as poll() reports it).
  //  kEdge:  where the backend can (epoll), when readiness rises: a rise is
  //          reported once, at the next turn, and not again until the next
  //          rise. Rises of POLLIN and POLLRDHUP (with POLLERR and POLLHUP)
  //          are reported whatever events the watch asks for at that moment;
  //          POLLOUT only while it asks for it. Its owner must remember a
  //          rise it cannot act on yet, and treat its fd as ready until a
  //          read or write comes back short or with EAGAIN. Changing its
  //          events costs no system call unless POLLOUT is added or dropped.
  //          The watch must be the only one on its fd (the process aborts
  //          otherwise). Where the backend cannot (poll()), it is served as
  //          kLevel: so the owner keeps its events right too, and the code
  //          that copes with edges copes with levels.
  enum class WatchMode : uint8_t { kLevel, kEdge };

  // Throws std::system_error if the wake-up eventfd or the backend cannot
  // be created.
  explicit EventLoop(EventBackend backend = kDefaultEventBackend);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  EventBackend backend() const { return backend_; }
  // Whether a WatchMode::kEdge watch is served edge-triggered here.
  bool edge_capable() const { return edge_capable_; }

  // Watches an fd for `events` (POLLIN, POLLOUT, POLLRDHUP; 0 = disabled for
  // now). The same fd may be watched more than once. A negative fd is never
  // ready (as poll() ignores it).
  Id AddWatch(int fd, short events, WatchCallback cb, FreeCallback on_free = nullptr,
              WatchMode mode = WatchMode::kLevel);
  // Returns false if the watch does not exist or is already removed.
  bool UpdateWatch(Id id, short events);
  bool RemoveWatch(Id id);

  // A timer first due after delay_ms (< 0: disarmed), then every interval_ms
  // (0: one-shot; after firing it stays registered, disarmed, until updated
  // or removed). A timer with delay 0 fires on the next turn. Timers due in
  // the same turn fire in due order (ties: in the order they were added).
  Id AddTimer(int64_t delay_ms, int64_t interval_ms, TimerCallback cb,
              FreeCallback on_free = nullptr);
  bool UpdateTimer(Id id, int64_t delay_ms, int64_t interval_ms);
  bool RemoveTimer(Id id);

  // Makes the current or next wait return at once. Wake-ups coalesce: any
  // number of calls before the loop notices cost one eventfd write, and
  // none while the loop thread is not inside its wait (the next wait is
  // then told under the lock and does not sleep).
  void Wake();

  // One turn: wait until an fd is ready, a timer is due, Wake() is called,
  // or timeout_ms passes (< 0: no limit), then run the due callbacks (timers
  // first, then watches in the order they were added) and free what was
  // removed. A callback never runs for a watch or timer that an earlier
  // callback of the same turn removed, disabled or moved. Returns the
  // number of callbacks run, or -1 with errno set if the wait failed (EINTR
  // is not a failure: it counts as an empty turn).
  // *woken (if given) tells whether this turn took a Wake(): a turn that
  // took one and ran no callback must still return to its caller's checks
  // (a caller polling with timeout 0 in a loop would otherwise swallow it).
  int RunOnce(int timeout_ms = -1, bool* woken = nullptr);

  // Live (not removed) entries, for tests and statistics.
  size_t watch_count() const;
  size_t timer_count() const;
  Stats stats() const;

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kNotInHeap = ~size_t{0};

  // What an edge watch asks the kernel for, whatever its events (POLLOUT
  // too while its events ask for it).
  static constexpr short kEdgeWatchEvents = POLLIN | POLLRDHUP;

  struct Watch {
    int fd;
    short events;
    bool edge;                  // served edge-triggered (asked for, and the backend can)
    bool removed = false;
    bool invalid = false;       // its fd was found closed: disabled until UpdateWatch
    bool nval_pending = false;  // invalid, and its POLLNVAL not delivered yet
    WatchCallback cb;
    FreeCallback on_free;
  };
  struct Timer {
    Id id;
    Clock::time_point due;
    std::chrono::milliseconds interval;
    size_t heap_index = kNotInHeap;  // armed and waiting: its place in heap_
    bool due_now = false;            // taken from the heap by this turn's dispatch, not run yet
    bool removed = false;
    TimerCallback cb;
    FreeCallback on_free;
  };
  // What the free step runs outside mu_: the free function, then the
  // destruction of the callback (its captures may drop references).
  struct Garbage {
    FreeCallback on_free;
    WatchCallback watch_cb;
    TimerCallback timer_cb;
  };

  // Interest and invalid watches.
  void SyncWatchLocked(Id id, const Watch& w);
  void MarkInvalidLocked();
  void WakeIfPollingLocked();
  void WriteWakeLocked();
  void ArmTimerLocked(Timer& t, int64_t delay_ms, int64_t interval_ms);
  // The timer heap: a binary min-heap on (due, id) whose entries know their
  // index, so any timer is moved or removed in O(log n).
  static bool Earlier(const Timer* a, const Timer* b);
  void HeapPushLocked(Timer* t);
  void HeapEraseLocked(Timer* t);
  void HeapFixLocked(size_t i);
  void HeapSwapLocked(size_t i, size_t j);

  void CollectRemovedLocked(std::vector<Garbage>* out);
  int WaitTimeoutLocked(int timeout_ms, Clock::time_point now) const;
  int DispatchTimers(Clock::time_point now);
  int DispatchWatches();
  static void RunGarbage(std::vector<Garbage>* garbage);

  const EventBackend backend_;
  UniqueFd wake_fd_;                // set in the constructor; only written and read after
  std::unique_ptr<Poller> poller_;  // [mu_]; its Wait() runs on the loop thread unlocked
  bool edge_capable_ = false;       // set in the constructor; only read after

  mutable RankedMutex mu_{LockRank::kLeaf, "event loop"};
  // Every member below is guarded by mu_ except the loop thread's scratch.
  // Entries live in node-based maps, so a callback pointer taken under mu_
  // stays valid while other threads add entries; only the free step, on
  // the loop thread after dispatch, erases them.
  std::unordered_map<Id, Watch> watches_;
  std::unordered_map<Id, Timer> timers_;
  std::vector<Timer*> heap_;        // armed timers not yet due this turn
  std::vector<Id> removed_watches_; // marked, awaiting the free step
  std::vector<Id> removed_timers_;
  std::vector<Id> invalid_;         // scratch: watches the backend just found invalid
  std::vector<Id> pending_nval_;    // invalid watches whose POLLNVAL is not delivered
  size_t live_watches_ = 0;
  size_t live_timers_ = 0;
  Id next_id_ = 1;
  bool polling_ = false;         // the loop thread is inside the backend's wait
  Clock::time_point wait_until_; // while polling_: when that wait times out at the latest
  bool wake_pending_ = false;    // a wake-up is pending: the eventfd written, or wake_deferred_
  bool wake_deferred_ = false;   // Wake() came while no wait slept: the next wait does not sleep
  bool running_ = false;         // a RunOnce() is in progress
  PollerCounts counts_;
  uint64_t turns_ = 0;
  uint64_t wakeups_ = 0;
  uint64_t interest_changes_ = 0;

  // Scratch of the loop thread, reused from turn to turn (touched only inside
  // RunOnce, which runs on one thread at a time).
  std::vector<ReadyWatch> ready_;
  std::vector<Id> due_timers_;
};

}  // namespace xdrd
