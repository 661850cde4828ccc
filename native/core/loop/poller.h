// poller.h — the part of an EventLoop that talks to the kernel: it keeps
// the kernel's view of which watch wants which events, waits, and turns
// what the wait reports into ready watches. Internal to the loop; the
// backends are poll_poller.cc and epoll_poller.cc.
//
// Threads and locks
//   Every method except Wait() runs under the owning EventLoop's lock:
//   SetInterestLocked from any thread, the others on the loop thread.
//   Wait() runs on the loop thread without the lock and touches only state
//   that the loop thread alone changes, so no other thread can race it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "loop/event_backend.h"

namespace xdrd {

using WatchId = int64_t;

// A watch the wait found ready. `revents` is what the kernel reported for
// its fd, in poll()'s bits; the loop masks it with what the watch asks for
// when it dispatches, unless `edge`: then it is a rise the kernel reports
// once (an edge-triggered registration), and it is delivered whole.
struct ReadyWatch {
  WatchId id;
  short revents;
  bool edge = false;
};

// Work counts the loop keeps per loop (EventLoop::Stats), added to by the
// backend.
struct PollerCounts {
  uint64_t ready_events = 0;     // readiness reports taken from the kernel (the wake-up fd not counted)
  uint64_t watches_scanned = 0;  // watch entries visited to find and fan out ready ones, or to rebuild a set
  uint64_t rebuilds = 0;         // whole-set rebuilds (poll: its array; epoll: its interest list)
  uint64_t interest_syscalls = 0; // system calls made to change the kernel's interest list (epoll_ctl)
};

class Poller {
 public:
  virtual ~Poller() = default;

  // Watch `id` on `fd` now wants `events` (poll() bits); 0 means none: the
  // watch is removed or disabled, and the backend forgets it. `edge` (only
  // where SupportsEdge()): register it edge-triggered; such a watch must be
  // the only one on its fd. Watches the backend finds it cannot serve (their fd is
  // closed) are forgotten and appended to *invalid; the loop reports
  // POLLNVAL to them. Returns true when a Wait() already sleeping would not
  // see the change, so the loop must wake it.
  virtual bool SetInterestLocked(WatchId id, int fd, short events, bool edge, std::vector<WatchId>* invalid,
                                 PollerCounts* counts) = 0;

  // Whether SetInterestLocked can register a watch edge-triggered.
  virtual bool SupportsEdge() const = 0;

  // Loop thread, before Wait(): brings what Wait() reads up to date and
  // returns the timeout to wait with (the given one, or 0 when something is
  // ready without asking the kernel).
  virtual int PrepareLocked(int timeout_ms, PollerCounts* counts) = 0;

  // Loop thread, no lock. Returns the system call's result (ready entries,
  // 0 on timeout, -1 with errno set).
  virtual int Wait(int timeout_ms) = 0;

  // Loop thread, after Wait() returned n >= 0 (0 included: some watches are
  // ready without the kernel). Appends the ready watches to *ready, sets
  // *woken if the wake-up fd was ready, and appends to *invalid (forgotten,
  // as above) the watches whose fd the wait found closed.
  virtual void CollectLocked(int n, std::vector<ReadyWatch>* ready, bool* woken, std::vector<WatchId>* invalid,
                             PollerCounts* counts) = 0;
};

// Both throw std::system_error when the kernel refuses the resources.
// `wake_fd` becomes readable to end a wait; the poller watches it for
// POLLIN and never closes it.
std::unique_ptr<Poller> MakePollPoller(int wake_fd);
std::unique_ptr<Poller> MakeEpollPoller(int wake_fd);

}  // namespace xdrd
