// event_loop.h — the poll() event loop of the loop thread.
//
// Threads
//   RunOnce()                 one thread at a time: the loop thread.
//   Add/Update/Remove*, Wake  any thread, including a callback running on the
//                             loop thread.
//   the destructor            any thread, once no RunOnce() can still run.
//
// Locks
//   mu_ is a leaf lock (THREADING.md); no callback, free function or
//   callback destructor runs under it, so callers need not think about it.
//
// Lifetime
//   Remove*() only marks an entry. The loop thread erases marked entries at a
//   safe point: after the turn's dispatch, when no dispatch can still see
//   them. Only then does it run the entry's free function and destroy its
//   callback (both outside mu_). So a callback that is running while another
//   thread removes its watch finishes first, and the free function runs after
//   it. Entries still registered when the loop is destroyed are freed by the
//   destructor. Ids are never reused.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "base/lock.h"

namespace xdrd {

class EventLoop {
 public:
  using Id = int64_t;
  // revents is poll()'s, masked to the events currently asked for plus
  // POLLERR, POLLHUP and POLLNVAL (which poll() always reports).
  using WatchCallback = std::function<void(Id id, int fd, short revents)>;
  using TimerCallback = std::function<void(Id id)>;
  // Runs once, on the loop thread or in the destructor, after the entry is
  // removed and no dispatch can still reach it. Typically drops a reference.
  using FreeCallback = std::function<void()>;

  // Throws std::system_error if the wake-up eventfd cannot be created.
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Watches an fd for `events` (POLLIN, POLLOUT; 0 = disabled for now).
  // The same fd may be watched more than once.
  Id AddWatch(int fd, short events, WatchCallback cb, FreeCallback on_free = nullptr);
  // Returns false if the watch does not exist or is already removed.
  bool UpdateWatch(Id id, short events);
  bool RemoveWatch(Id id);

  // A timer first due after delay_ms (< 0: disarmed), then every interval_ms
  // (0: one-shot; after firing it stays registered, disarmed, until updated
  // or removed). A timer with delay 0 fires on the next turn.
  Id AddTimer(int64_t delay_ms, int64_t interval_ms, TimerCallback cb,
              FreeCallback on_free = nullptr);
  bool UpdateTimer(Id id, int64_t delay_ms, int64_t interval_ms);
  bool RemoveTimer(Id id);

  // Makes the current or next poll() return at once. Wake-ups coalesce: any
  // number of calls before the loop notices cost one eventfd write.
  void Wake();

  // One turn: poll() until an fd is ready, a timer is due, Wake() is called,
  // or timeout_ms passes (< 0: no limit), then run the due callbacks and free
  // what was removed. Returns the number of callbacks run, or -1 with errno
  // set if poll() failed (EINTR is not a failure: it counts as an empty turn).
  // *woken (if given) tells whether this turn took a Wake(): a turn that
  // took one and ran no callback must still return to its caller's checks
  // (a caller polling with timeout 0 in a loop would otherwise swallow it).
  int RunOnce(int timeout_ms = -1, bool* woken = nullptr);

  // Live (not removed) entries, for tests and statistics.
  size_t watch_count() const;
  size_t timer_count() const;

 private:
  using Clock = std::chrono::steady_clock;

  struct Watch {
    int fd;
    short events;
    bool removed = false;
    WatchCallback cb;
    FreeCallback on_free;
  };
  struct Timer {
    bool armed;
    Clock::time_point due;
    std::chrono::milliseconds interval;
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

  void WakeIfPollingLocked();
  void CollectRemovedLocked(std::vector<Garbage>* out);
  int PollTimeoutLocked(int timeout_ms, Clock::time_point now) const;
  int DispatchTimers(Clock::time_point now);
  int DispatchWatches();
  void DrainWakeFd();
  static void RunGarbage(std::vector<Garbage>* garbage);

  mutable RankedMutex mu_{LockRank::kLeaf, "event loop"};
  std::map<Id, Watch> watches_;  // ordered: dispatch follows registration order
  std::map<Id, Timer> timers_;
  Id next_id_ = 1;
  bool have_removed_ = false;    // some entry is marked and awaits the free step
  bool polling_ = false;         // the loop thread is inside poll()
  bool wake_pending_ = false;    // the eventfd has been written and not yet drained
  bool running_ = false;         // a RunOnce() is in progress
  int wake_fd_ = -1;

  // Scratch of the loop thread, reused from turn to turn (touched only inside
  // RunOnce, which runs on one thread at a time).
  std::vector<pollfd> pollfds_;
  std::vector<Id> poll_ids_;
  std::vector<Id> due_timers_;
};

}  // namespace xdrd
