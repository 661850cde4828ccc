// event_loop.cc — see event_loop.h for which thread calls what.
//
// Every member is guarded by mu_ except the loop thread's scratch (ready_,
// due_timers_: touched only inside RunOnce) and wake_fd_ (set in the
// constructor). Functions ending in Locked expect mu_ held.
#include "loop/event_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <system_error>

namespace xdrd {

namespace {

// A caller bug we cannot recover from (two threads in RunOnce, or RunOnce
// from inside a callback): say so and stop, rather than corrupt the loop.
[[noreturn]] void Misuse(const char* what) {
  std::fprintf(stderr, "xdrd: EventLoop misuse: %s\n", what);
  std::abort();
}

constexpr int64_t kMaxWaitMs = 24 * 3600 * 1000;

}  // namespace

EventLoop::EventLoop(EventBackend backend)
    : backend_(backend), wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!wake_fd_.valid()) throw std::system_error(errno, std::generic_category(), "eventfd");
  poller_ = backend == EventBackend::kPoll ? MakePollPoller(wake_fd_.get()) : MakeEpollPoller(wake_fd_.get());
  edge_capable_ = poller_->SupportsEdge();
}

EventLoop::~EventLoop() {
  std::vector<Garbage> garbage;
  {
    std::lock_guard<RankedMutex> lock(mu_);
    if (running_) Misuse("destroyed while RunOnce() is running");
    // Removed or not, every entry still here is freed now. The backend needs
    // no word of it: it goes with the loop.
    for (auto& [id, w] : watches_) garbage.push_back({std::move(w.on_free), std::move(w.cb), nullptr});
    for (auto& [id, t] : timers_) garbage.push_back({std::move(t.on_free), nullptr, std::move(t.cb)});
    watches_.clear();
    timers_.clear();
    heap_.clear();
    removed_watches_.clear();
    removed_timers_.clear();
    pending_nval_.clear();
    live_watches_ = live_timers_ = 0;
  }
  RunGarbage(&garbage);
}

// ---- Watches ----------------------------------------------------------------

EventLoop::Id EventLoop::AddWatch(int fd, short events, WatchCallback cb, FreeCallback on_free, WatchMode mode) {
  std::lock_guard<RankedMutex> lock(mu_);
  Id id = next_id_++;
  const bool edge = mode == WatchMode::kEdge && edge_capable_;
  auto it = watches_.emplace(id, Watch{fd, events, edge, false, false, false, std::move(cb), std::move(on_free)}).first;
  ++live_watches_;
  SyncWatchLocked(id, it->second);
  return id;
}

bool EventLoop::UpdateWatch(Id id, short events) {
  std::lock_guard<RankedMutex> lock(mu_);
  auto it = watches_.find(id);
  if (it == watches_.end() || it->second.removed) return false;
  Watch& w = it->second;
  // An invalid watch is tried again even with the same events: that is how
  // a caller re-arms it.
  if (w.events == events && !w.invalid) return true;
  w.events = events;
  w.invalid = false;
  w.nval_pending = false;  // a POLLNVAL not yet delivered is moot now
  SyncWatchLocked(id, w);
  return true;
}

bool EventLoop::RemoveWatch(Id id) {
  std::lock_guard<RankedMutex> lock(mu_);
  auto it = watches_.find(id);
  if (it == watches_.end() || it->second.removed) return false;
  it->second.removed = true;
  --live_watches_;
  removed_watches_.push_back(id);
  // Out of the backend now, while the caller's fd is surely still open (a
  // caller closes it after this returns).
  SyncWatchLocked(id, it->second);
  // Wake the loop so the free step runs now, not at some later event.
  WakeIfPollingLocked();
  return true;
}

// Tells the backend what the watch wants now, and takes in what the backend
// found invalid on the way.
void EventLoop::SyncWatchLocked(Id id, const Watch& w) {
  // An edge watch asks the kernel for every rise of input and hang-up,
  // whatever its events say now, so pausing and resuming its reading costs
  // no system call. POLLOUT only while it asks for it: a writable socket
  // rises each time its peer reads (unix sockets wake the writer), and
  // telling the watch of that after every reply it sent would cost a
  // callback per reply; a watch wants POLLOUT only while a write is stuck.
  const short asked = w.edge ? static_cast<short>(kEdgeWatchEvents | (w.events & POLLOUT)) : w.events;
  const short effective = w.removed || w.invalid ? 0 : asked;
  ++interest_changes_;
  const bool needs_wake = poller_->SetInterestLocked(id, w.fd, effective, w.edge, &invalid_, &counts_);
  MarkInvalidLocked();
  if (needs_wake) WakeIfPollingLocked();
}

// The backend found the fds of these watches closed (and forgot them): each
// gets one POLLNVAL at the next dispatch and is disabled until UpdateWatch.
void EventLoop::MarkInvalidLocked() {
  if (invalid_.empty()) return;
  for (Id id : invalid_) {
    auto it = watches_.find(id);
    if (it == watches_.end() || it->second.removed) continue;
    Watch& w = it->second;
    w.invalid = true;
    if (!w.nval_pending) {
      w.nval_pending = true;
      pending_nval_.push_back(id);
    }
  }
  invalid_.clear();
  WakeIfPollingLocked();  // deliver it now, not at some later event
}

// ---- Timers -----------------------------------------------------------------

EventLoop::Id EventLoop::AddTimer(int64_t delay_ms, int64_t interval_ms, TimerCallback cb,
                                  FreeCallback on_free) {
  std::lock_guard<RankedMutex> lock(mu_);
  Id id = next_id_++;
  Timer t;
  t.id = id;
  t.cb = std::move(cb);
  t.on_free = std::move(on_free);
  Timer& stored = timers_.emplace(id, std::move(t)).first->second;
  ++live_timers_;
  ArmTimerLocked(stored, delay_ms, interval_ms);
  return id;
}

bool EventLoop::UpdateTimer(Id id, int64_t delay_ms, int64_t interval_ms) {
  std::lock_guard<RankedMutex> lock(mu_);
  auto it = timers_.find(id);
  if (it == timers_.end() || it->second.removed) return false;
  ArmTimerLocked(it->second, delay_ms, interval_ms);
  return true;
}

bool EventLoop::RemoveTimer(Id id) {
  std::lock_guard<RankedMutex> lock(mu_);
  auto it = timers_.find(id);
  if (it == timers_.end() || it->second.removed) return false;
  Timer& t = it->second;
  t.removed = true;
  t.due_now = false;
  if (t.heap_index != kNotInHeap) HeapEraseLocked(&t);
  --live_timers_;
  removed_timers_.push_back(id);
  WakeIfPollingLocked();
  return true;
}

// Sets a timer's schedule. A timer taken for this turn's dispatch and not
// run yet is not run: it was moved.
void EventLoop::ArmTimerLocked(Timer& t, int64_t delay_ms, int64_t interval_ms) {
  t.interval = std::chrono::milliseconds(interval_ms > 0 ? interval_ms : 0);
  t.due_now = false;
  if (delay_ms < 0) {
    if (t.heap_index != kNotInHeap) HeapEraseLocked(&t);
    return;
  }
  t.due = Clock::now() + std::chrono::milliseconds(delay_ms);
  if (t.heap_index == kNotInHeap) {
    HeapPushLocked(&t);
  } else {
    HeapFixLocked(t.heap_index);
  }
  // A wait that ends before the timer is due needs no kick: the next turn
  // takes its timeout from the heap.
  if (polling_ && t.due < wait_until_) WakeIfPollingLocked();
}

bool EventLoop::Earlier(const Timer* a, const Timer* b) {
  if (a->due != b->due) return a->due < b->due;
  return a->id < b->id;
}

void EventLoop::HeapSwapLocked(size_t i, size_t j) {
  std::swap(heap_[i], heap_[j]);
  heap_[i]->heap_index = i;
  heap_[j]->heap_index = j;
}

void EventLoop::HeapPushLocked(Timer* t) {
  t->heap_index = heap_.size();
  heap_.push_back(t);
  HeapFixLocked(t->heap_index);
}

void EventLoop::HeapEraseLocked(Timer* t) {
  const size_t i = t->heap_index;
  const size_t last = heap_.size() - 1;
  if (i != last) HeapSwapLocked(i, last);
  heap_.pop_back();
  t->heap_index = kNotInHeap;
  if (i < heap_.size()) HeapFixLocked(i);
}

// Restores the heap order around entry i after its key changed (or another
// entry took its place): up towards the root, or else down.
void EventLoop::HeapFixLocked(size_t i) {
  while (i > 0) {
    const size_t parent = (i - 1) / 2;
    if (!Earlier(heap_[i], heap_[parent])) break;
    HeapSwapLocked(i, parent);
    i = parent;
  }
  for (;;) {
    const size_t left = 2 * i + 1, right = left + 1;
    size_t least = i;
    if (left < heap_.size() && Earlier(heap_[left], heap_[least])) least = left;
    if (right < heap_.size() && Earlier(heap_[right], heap_[least])) least = right;
    if (least == i) break;
    HeapSwapLocked(i, least);
    i = least;
  }
}

// ---- Wake-ups -----------------------------------------------------------------

void EventLoop::Wake() {
  std::lock_guard<RankedMutex> lock(mu_);
  if (wake_pending_) return;
  wake_pending_ = true;
  // No wait sleeps now: the next one is told under mu_ and returns at once,
  // so a busy loop thread is woken without a system call.
  if (!polling_) {
    wake_deferred_ = true;
    return;
  }
  WriteWakeLocked();
}

void EventLoop::WakeIfPollingLocked() {
  // A change made while the loop thread is dispatching is seen before its
  // next wait; only a wait already sleeping needs a kick.
  if (!polling_ || wake_pending_) return;
  wake_pending_ = true;
  WriteWakeLocked();
}

void EventLoop::WriteWakeLocked() {
  ++wakeups_;
  uint64_t one = 1;
  // The counter cannot overflow (one write per drain), so this cannot fail
  // with EAGAIN; any other error would mean wake_fd_ is gone.
  ssize_t n = write(wake_fd_.get(), &one, sizeof one);
  (void)n;
}

// ---- Introspection ------------------------------------------------------------

size_t EventLoop::watch_count() const {
  std::lock_guard<RankedMutex> lock(mu_);
  return live_watches_;
}

size_t EventLoop::timer_count() const {
  std::lock_guard<RankedMutex> lock(mu_);
  return live_timers_;
}

EventLoop::Stats EventLoop::stats() const {
  std::lock_guard<RankedMutex> lock(mu_);
  Stats s;
  s.turns = turns_;
  s.ready_events = counts_.ready_events;
  s.watches_scanned = counts_.watches_scanned;
  s.rebuilds = counts_.rebuilds;
  s.wakeups = wakeups_;
  s.interest_changes = interest_changes_;
  s.interest_syscalls = counts_.interest_syscalls;
  return s;
}

// ---- The turn -------------------------------------------------------------------

void EventLoop::CollectRemovedLocked(std::vector<Garbage>* out) {
  for (Id id : removed_watches_) {
    auto it = watches_.find(id);
    if (it == watches_.end()) continue;
    out->push_back({std::move(it->second.on_free), std::move(it->second.cb), nullptr});
    watches_.erase(it);
  }
  removed_watches_.clear();
  for (Id id : removed_timers_) {
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;
    out->push_back({std::move(it->second.on_free), nullptr, std::move(it->second.cb)});
    timers_.erase(it);
  }
  removed_timers_.clear();
}

void EventLoop::RunGarbage(std::vector<Garbage>* garbage) {
  for (auto& g : *garbage) {
    if (g.on_free) g.on_free();
  }
  garbage->clear();  // destroys the callbacks, and whatever they captured
}

int EventLoop::WaitTimeoutLocked(int timeout_ms, Clock::time_point now) const {
  if (!pending_nval_.empty()) return 0;  // a POLLNVAL to deliver
  int timeout = timeout_ms < 0 ? -1 : timeout_ms;
  if (heap_.empty()) return timeout;
  const Timer* next = heap_.front();
  if (next->due <= now) return 0;
  // Round up, so the wait never returns just before the timer is due and
  // the loop does not spin through sub-millisecond waits.
  auto left = std::chrono::ceil<std::chrono::milliseconds>(next->due - now).count();
  int left_ms = static_cast<int>(std::min<int64_t>(left, kMaxWaitMs));
  if (timeout < 0 || left_ms < timeout) timeout = left_ms;
  return timeout;
}

int EventLoop::RunOnce(int timeout_ms, bool* woken) {
  if (woken != nullptr) *woken = false;
  std::vector<Garbage> garbage;
  int timeout;
  {
    std::lock_guard<RankedMutex> lock(mu_);
    if (running_) Misuse("RunOnce() called while another RunOnce() is running");
    running_ = true;
    CollectRemovedLocked(&garbage);
  }
  RunGarbage(&garbage);

  {
    std::lock_guard<RankedMutex> lock(mu_);
    const Clock::time_point now = Clock::now();
    timeout = poller_->PrepareLocked(wake_deferred_ ? 0 : WaitTimeoutLocked(timeout_ms, now), &counts_);
    polling_ = true;
    wait_until_ = timeout < 0 ? Clock::time_point::max() : now + std::chrono::milliseconds(timeout);
  }

  const int n = poller_->Wait(timeout);
  const int wait_errno = errno;

  bool took_wake = false;
  ready_.clear();
  {
    std::lock_guard<RankedMutex> lock(mu_);
    polling_ = false;
    ++turns_;
    if (n >= 0) {
      poller_->CollectLocked(n, &ready_, &took_wake, &invalid_, &counts_);
      MarkInvalidLocked();
    }
    if (n >= 0 || wait_errno == EINTR) {
      for (Id id : pending_nval_) ready_.push_back({id, POLLNVAL});
      pending_nval_.clear();
    }
    if (wake_deferred_) {  // a Wake() made while no wait slept: taken now
      wake_deferred_ = false;
      wake_pending_ = false;
      took_wake = true;
    } else if (took_wake) {
      uint64_t count;
      ssize_t r = read(wake_fd_.get(), &count, sizeof count);
      (void)r;  // EAGAIN only if nothing was written: harmless
      wake_pending_ = false;
    }
  }

  int dispatched = 0;
  if (n < 0 && wait_errno != EINTR) {
    dispatched = -1;
  } else {
    if (took_wake && woken != nullptr) *woken = true;
    // The order watches were added in, whatever order the backend found
    // them ready in: both backends dispatch alike.
    std::sort(ready_.begin(), ready_.end(),
              [](const ReadyWatch& a, const ReadyWatch& b) { return a.id < b.id; });
    dispatched += DispatchTimers(Clock::now());
    dispatched += DispatchWatches();
  }

  {
    std::lock_guard<RankedMutex> lock(mu_);
    CollectRemovedLocked(&garbage);
    running_ = false;
  }
  RunGarbage(&garbage);
  if (dispatched < 0) errno = wait_errno;
  return dispatched;
}

// Takes every timer due by `now` off the heap, then runs them in due order.
// One that an earlier callback of this turn removed, disarmed or moved is
// not run (moving it puts it back in the heap and clears due_now).
int EventLoop::DispatchTimers(Clock::time_point now) {
  due_timers_.clear();
  {
    std::lock_guard<RankedMutex> lock(mu_);
    while (!heap_.empty() && heap_.front()->due <= now) {
      Timer* t = heap_.front();
      HeapEraseLocked(t);
      t->due_now = true;
      due_timers_.push_back(t->id);
    }
  }
  int ran = 0;
  for (Id id : due_timers_) {
    const TimerCallback* cb;
    {
      std::lock_guard<RankedMutex> lock(mu_);
      auto it = timers_.find(id);
      if (it == timers_.end() || it->second.removed || !it->second.due_now) continue;
      Timer& t = it->second;
      t.due_now = false;
      if (t.interval.count() > 0) {
        t.due = now + t.interval;
        HeapPushLocked(&t);
      }
      // Entries are erased only by this thread, after dispatch, so the
      // callback stays valid after the lock is dropped. No one writes cb.
      cb = &t.cb;
    }
    (*cb)(id);
    ++ran;
  }
  return ran;
}

// Runs the callbacks of this turn's ready watches (ready_, in id order).
// One that an earlier callback of this turn removed, disabled, or changed
// to events that were not reported, is not run.
int EventLoop::DispatchWatches() {
  int ran = 0;
  for (const ReadyWatch& ready : ready_) {
    const WatchCallback* cb;
    int fd;
    short revents;
    {
      std::lock_guard<RankedMutex> lock(mu_);
      auto it = watches_.find(ready.id);
      if (it == watches_.end() || it->second.removed) continue;
      Watch& w = it->second;
      if (ready.revents & POLLNVAL) {
        if (!w.nval_pending) continue;  // re-armed by UpdateWatch since, or already told
        w.nval_pending = false;
        revents = POLLNVAL;
      } else if (ready.edge) {
        // A rise is reported once: delivered whatever the watch asks for
        // now, or its owner would never learn of it.
        if (w.invalid || !w.edge) continue;
        revents = static_cast<short>(ready.revents & (kEdgeWatchEvents | POLLOUT | POLLERR | POLLHUP));
        if (revents == 0) continue;
      } else {
        if (w.invalid || w.events == 0) continue;
        revents = static_cast<short>(ready.revents & (w.events | POLLERR | POLLHUP));
        if (revents == 0) continue;  // asked-for events changed since the wait
      }
      fd = w.fd;
      cb = &w.cb;
    }
    (*cb)(ready.id, fd, revents);
    ++ran;
  }
  return ran;
}

}  // namespace xdrd
