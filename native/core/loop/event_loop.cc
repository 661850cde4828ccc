// event_loop.cc — see event_loop.h for which thread calls what.
//
// Every member below is guarded by mu_ except the scratch vectors (loop
// thread only, inside RunOnce) and wake_fd_ (set in the constructor, closed in
// the destructor). Functions ending in Locked expect mu_ held.
#include "loop/event_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <system_error>

namespace xdrd {

namespace {

// A caller bug we cannot recover from (two threads in RunOnce, or RunOnce
// from inside a callback): say so and stop, rather than corrupt the loop.
[[noreturn]] void Misuse(const char* what) {
  std::fprintf(stderr, "xdrd: EventLoop misuse: %s\n", what);
  std::abort();
}

}  // namespace

EventLoop::EventLoop() {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

EventLoop::~EventLoop() {
  std::vector<Garbage> garbage;
  {
    std::lock_guard<RankedMutex> lock(mu_);
    if (running_) Misuse("destroyed while RunOnce() is running");
    for (auto& [id, w] : watches_) w.removed = true;
    for (auto& [id, t] : timers_) t.removed = true;
    have_removed_ = true;
    CollectRemovedLocked(&garbage);
  }
  RunGarbage(&garbage);
  close(wake_fd_);
}

EventLoop::Id EventLoop::AddWatch(int fd, short events, WatchCallback cb, FreeCallback on_free) {
  std::lock_guard<RankedMutex> lock(mu_);
  Id id = next_id_++;
  watches_.emplace(id, Watch{fd, events, false, std::move(cb), std::move(on_free)});
  WakeIfPollingLocked();
  return id;
}

bool EventLoop::UpdateWatch(Id id, short events) {
  std::lock_guard<RankedMutex> lock(mu_);
  auto it = watches_.find(id);
  if (it == watches_.end() || it->second.removed) return false;
  if (it->second.events != events) {
    it->second.events = events;
    WakeIfPollingLocked();
  }
  return true;
}

bool EventLoop::RemoveWatch(Id id) {
  std::lock_guard<RankedMutex> lock(mu_);
  auto it = watches_.find(id);
  if (it == watches_.end() || it->second.removed) return false;
  it->second.removed = true;
  have_removed_ = true;
  // Wake the loop so the fd leaves the poll set and the free step runs now,
  // not at some later event.
  WakeIfPollingLocked();
  return true;
}

EventLoop::Id EventLoop::AddTimer(int64_t delay_ms, int64_t interval_ms, TimerCallback cb,
                                  FreeCallback on_free) {
  std::lock_guard<RankedMutex> lock(mu_);
  Id id = next_id_++;
  Timer t{delay_ms >= 0, Clock::now() + std::chrono::milliseconds(delay_ms < 0 ? 0 : delay_ms),
          std::chrono::milliseconds(interval_ms > 0 ? interval_ms : 0), false, std::move(cb),
          std::move(on_free)};
  timers_.emplace(id, std::move(t));
  WakeIfPollingLocked();
  return id;
}

bool EventLoop::UpdateTimer(Id id, int64_t delay_ms, int64_t interval_ms) {
  std::lock_guard<RankedMutex> lock(mu_);
  auto it = timers_.find(id);
  if (it == timers_.end() || it->second.removed) return false;
  Timer& t = it->second;
  t.armed = delay_ms >= 0;
  t.due = Clock::now() + std::chrono::milliseconds(delay_ms < 0 ? 0 : delay_ms);
  t.interval = std::chrono::milliseconds(interval_ms > 0 ? interval_ms : 0);
  WakeIfPollingLocked();
  return true;
}

bool EventLoop::RemoveTimer(Id id) {
  std::lock_guard<RankedMutex> lock(mu_);
  auto it = timers_.find(id);
  if (it == timers_.end() || it->second.removed) return false;
  it->second.removed = true;
  have_removed_ = true;
  WakeIfPollingLocked();
  return true;
}

void EventLoop::Wake() {
  std::lock_guard<RankedMutex> lock(mu_);
  if (wake_pending_) return;
  wake_pending_ = true;
  uint64_t one = 1;
  // The counter cannot overflow (one write per drain), so this cannot fail
  // with EAGAIN; any other error would mean wake_fd_ is gone.
  ssize_t n = write(wake_fd_, &one, sizeof one);
  (void)n;
}

void EventLoop::WakeIfPollingLocked() {
  // A change made while the loop thread is dispatching is seen when it builds
  // the next poll set; only a poll() already sleeping needs a kick.
  if (!polling_ || wake_pending_) return;
  wake_pending_ = true;
  uint64_t one = 1;
  ssize_t n = write(wake_fd_, &one, sizeof one);
  (void)n;
}

void EventLoop::DrainWakeFd() {
  std::lock_guard<RankedMutex> lock(mu_);
  uint64_t count;
  ssize_t n = read(wake_fd_, &count, sizeof count);
  (void)n;  // EAGAIN only if nothing was written: harmless
  wake_pending_ = false;
}

size_t EventLoop::watch_count() const {
  std::lock_guard<RankedMutex> lock(mu_);
  size_t n = 0;
  for (const auto& [id, w] : watches_) n += !w.removed;
  return n;
}

size_t EventLoop::timer_count() const {
  std::lock_guard<RankedMutex> lock(mu_);
  size_t n = 0;
  for (const auto& [id, t] : timers_) n += !t.removed;
  return n;
}

void EventLoop::CollectRemovedLocked(std::vector<Garbage>* out) {
  if (!have_removed_) return;
  have_removed_ = false;
  for (auto it = watches_.begin(); it != watches_.end();) {
    if (!it->second.removed) {
      ++it;
      continue;
    }
    out->push_back({std::move(it->second.on_free), std::move(it->second.cb), nullptr});
    it = watches_.erase(it);
  }
  for (auto it = timers_.begin(); it != timers_.end();) {
    if (!it->second.removed) {
      ++it;
      continue;
    }
    out->push_back({std::move(it->second.on_free), nullptr, std::move(it->second.cb)});
    it = timers_.erase(it);
  }
}

void EventLoop::RunGarbage(std::vector<Garbage>* garbage) {
  for (auto& g : *garbage) {
    if (g.on_free) g.on_free();
  }
  garbage->clear();  // destroys the callbacks, and whatever they captured
}

int EventLoop::PollTimeoutLocked(int timeout_ms, Clock::time_point now) const {
  int timeout = timeout_ms < 0 ? -1 : timeout_ms;
  for (const auto& [id, t] : timers_) {
    if (t.removed || !t.armed) continue;
    if (t.due <= now) return 0;
    // Round up, so poll() never returns just before the timer is due and
    // the loop does not spin through sub-millisecond waits.
    auto left = std::chrono::ceil<std::chrono::milliseconds>(t.due - now).count();
    int left_ms = left > 24 * 3600 * 1000 ? 24 * 3600 * 1000 : static_cast<int>(left);
    if (timeout < 0 || left_ms < timeout) timeout = left_ms;
  }
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
    pollfds_.clear();
    poll_ids_.clear();
    pollfds_.push_back({wake_fd_, POLLIN, 0});
    poll_ids_.push_back(0);
    for (const auto& [id, w] : watches_) {
      if (w.removed || w.events == 0) continue;
      pollfds_.push_back({w.fd, w.events, 0});
      poll_ids_.push_back(id);
    }
    timeout = PollTimeoutLocked(timeout_ms, Clock::now());
    polling_ = true;
  }

  int ready = poll(pollfds_.data(), pollfds_.size(), timeout);
  int poll_errno = errno;

  {
    std::lock_guard<RankedMutex> lock(mu_);
    polling_ = false;
  }

  int dispatched = 0;
  if (ready < 0 && poll_errno != EINTR) {
    dispatched = -1;
  } else {
    if (ready > 0 && (pollfds_[0].revents & POLLIN)) {
      DrainWakeFd();
      if (woken != nullptr) *woken = true;
    }
    dispatched += DispatchTimers(Clock::now());
    if (ready > 0) dispatched += DispatchWatches();
  }

  {
    std::lock_guard<RankedMutex> lock(mu_);
    CollectRemovedLocked(&garbage);
    running_ = false;
  }
  RunGarbage(&garbage);
  if (dispatched < 0) errno = poll_errno;
  return dispatched;
}

int EventLoop::DispatchTimers(Clock::time_point now) {
  due_timers_.clear();
  {
    std::lock_guard<RankedMutex> lock(mu_);
    for (const auto& [id, t] : timers_) {
      if (!t.removed && t.armed && t.due <= now) due_timers_.push_back(id);
    }
  }
  int ran = 0;
  for (Id id : due_timers_) {
    const TimerCallback* cb;
    {
      std::lock_guard<RankedMutex> lock(mu_);
      auto it = timers_.find(id);
      // Another callback of this turn may have removed, disarmed or moved it.
      if (it == timers_.end() || it->second.removed || !it->second.armed || it->second.due > now)
        continue;
      Timer& t = it->second;
      if (t.interval.count() > 0) {
        t.due = now + t.interval;
      } else {
        t.armed = false;
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

int EventLoop::DispatchWatches() {
  int ran = 0;
  for (size_t i = 1; i < pollfds_.size(); ++i) {
    if (pollfds_[i].revents == 0) continue;
    const WatchCallback* cb;
    int fd;
    short revents;
    {
      std::lock_guard<RankedMutex> lock(mu_);
      auto it = watches_.find(poll_ids_[i]);
      if (it == watches_.end() || it->second.removed || it->second.events == 0) continue;
      const Watch& w = it->second;
      revents = static_cast<short>(pollfds_[i].revents & (w.events | POLLERR | POLLHUP | POLLNVAL));
      if (revents == 0) continue;  // asked-for events changed since poll()
      fd = w.fd;
      cb = &w.cb;
    }
    (*cb)(poll_ids_[i], fd, revents);
    ++ran;
  }
  return ran;
}

}  // namespace xdrd
