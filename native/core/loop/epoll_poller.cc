// epoll_poller.cc — the epoll(7) backend. The kernel keeps the interest
// list; every change is made by epoll_ctl when it happens, so a turn costs
// the descriptors that are ready, not the ones that are watched. See
// poller.h for threads and locks, and THREADING.md ("The event loop") for
// what callers see.
//
// How epoll differs from poll(), and what is done about it (each has a test
// in test/native/test_event_loop.cc):
//  - One registration per fd number: EPOLL_CTL_ADD refuses a second one. So
//    each fd has a registration (FdReg) listing its watches; the kernel gets
//    the union of their events and a ready event fans out to all of them.
//  - A closed fd leaves the interest list by itself (when no duplicate keeps
//    its file open), and epoll has no POLLNVAL. The backend finds out when
//    an epoll_ctl on that number fails (ENOENT, EBADF) and reports the
//    registration's watches as invalid; the loop gives them POLLNVAL.
//  - The same number may come back as another file before the loop has
//    caught up. Every ADD gives the registration a new generation, carried
//    in epoll_event.data with the fd, and an event whose generation is not
//    the registration's current one is dropped: it belongs to a file the
//    watch no longer means.
//  - epoll refuses files without a poll method (regular files, directories)
//    with EPERM, where poll() reports them always readable and writable.
//    Such registrations are kept out of the kernel and reported ready every
//    turn, as poll() would.
//  - An edge watch (WatchMode::kEdge) is registered with EPOLLET for input
//    and hang-up whatever the watch asks for (the loop gives the same
//    events), so only adding or dropping POLLOUT reaches epoll_ctl. Its
//    reports are marked `edge`, for the loop to deliver unmasked. It must
//    be alone on its fd: one registration cannot be both.
//  - A change made by epoll_ctl reaches an epoll_wait already sleeping in
//    another thread (the kernel checks readiness on ADD and MOD and wakes
//    the waiter), so interest changes need no wake-up of the loop.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  // POLLRDHUP
#endif
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <utility>

#include "base/unique_fd.h"
#include "loop/poller.h"

namespace xdrd {

namespace {

// epoll_event.data of the wake-up fd; a watched fd's data has the fd in the
// upper 32 bits, which never holds all ones.
constexpr uint64_t kWakeTag = ~uint64_t{0};

uint64_t Tag(int fd, uint32_t generation) {
  return (uint64_t{static_cast<uint32_t>(fd)} << 32) | generation;
}

// poll() and epoll name the same conditions with their own constants; map
// them one by one rather than rely on the values agreeing.
uint32_t ToEpoll(short events) {
  uint32_t out = 0;
  if (events & POLLIN) out |= EPOLLIN;
  if (events & POLLPRI) out |= EPOLLPRI;
  if (events & POLLOUT) out |= EPOLLOUT;
  if (events & POLLRDNORM) out |= EPOLLRDNORM;
  if (events & POLLRDBAND) out |= EPOLLRDBAND;
  if (events & POLLWRNORM) out |= EPOLLWRNORM;
  if (events & POLLWRBAND) out |= EPOLLWRBAND;
  if (events & POLLRDHUP) out |= EPOLLRDHUP;
  // POLLERR and POLLHUP are not asked for: both calls report them always.
  return out;
}

short FromEpoll(uint32_t events) {
  int out = 0;
  if (events & EPOLLIN) out |= POLLIN;
  if (events & EPOLLPRI) out |= POLLPRI;
  if (events & EPOLLOUT) out |= POLLOUT;
  if (events & EPOLLRDNORM) out |= POLLRDNORM;
  if (events & EPOLLRDBAND) out |= POLLRDBAND;
  if (events & EPOLLWRNORM) out |= POLLWRNORM;
  if (events & EPOLLWRBAND) out |= POLLWRBAND;
  if (events & EPOLLRDHUP) out |= POLLRDHUP;
  if (events & EPOLLERR) out |= POLLERR;
  if (events & EPOLLHUP) out |= POLLHUP;
  return static_cast<short>(out);
}

// What poll() reports for a file without a poll method (the kernel's
// DEFAULT_POLLMASK).
constexpr short kAlwaysReadyEvents = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

int Ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = data;
  return epoll_ctl(epfd, op, fd, &ev);
}

// An epoll instance watching `wake_fd`; invalid (errno set) if the kernel
// refuses.
UniqueFd NewEpoll(int wake_fd) {
  UniqueFd fd(epoll_create1(EPOLL_CLOEXEC));
  if (!fd.valid()) return fd;
  if (Ctl(fd.get(), EPOLL_CTL_ADD, wake_fd, EPOLLIN, kWakeTag) != 0) fd.Reset();
  return fd;
}

class EpollPoller final : public Poller {
 public:
  explicit EpollPoller(int wake_fd) : wake_fd_(wake_fd), epfd_(NewEpoll(wake_fd)) {
    if (!epfd_.valid()) throw std::system_error(errno, std::generic_category(), "epoll");
  }

  bool SupportsEdge() const override { return true; }

  bool SetInterestLocked(WatchId id, int fd, short events, bool edge, std::vector<WatchId>* invalid,
                         PollerCounts* counts) override {
    if (fd < 0) return false;  // poll() ignores a negative fd: such a watch is never ready
    if (static_cast<size_t>(fd) >= fds_.size()) {
      if (events == 0) return false;
      fds_.resize(static_cast<size_t>(fd) + 1);
    }
    FdReg& r = fds_[static_cast<size_t>(fd)];
    auto it = std::find_if(r.watches.begin(), r.watches.end(), [id](const auto& w) { return w.first == id; });
    bool added = false;
    if (events == 0) {
      if (it == r.watches.end()) return false;
      r.watches.erase(it);
    } else if (it == r.watches.end()) {
      // One registration serves every watch of a number, and an
      // edge-triggered one cannot also be level-triggered for another.
      if (!r.watches.empty() && (edge || r.edge)) {
        std::fprintf(stderr, "xdrd: an edge-triggered watch must be the only watch on fd %d\n", fd);
        std::abort();
      }
      r.watches.emplace_back(id, events);
      r.edge = edge;
      added = true;
    } else if (it->second == events) {
      return false;
    } else {
      it->second = events;
    }
    return Apply(fd, r, added, invalid, counts);
  }

  int PrepareLocked(int timeout_ms, PollerCounts*) override { return always_ready_.empty() ? timeout_ms : 0; }

  int Wait(int timeout_ms) override {
    return epoll_wait(epfd_.get(), events_.data(), static_cast<int>(events_.size()), timeout_ms);
  }

  void CollectLocked(int n, std::vector<ReadyWatch>* ready, bool* woken, std::vector<WatchId>* invalid,
                     PollerCounts* counts) override {
    bool stale_seen = false;
    for (int i = 0; i < n; ++i) {
      const epoll_event& ev = events_[static_cast<size_t>(i)];
      if (ev.data.u64 == kWakeTag) {
        *woken = true;
        continue;
      }
      ++counts->ready_events;
      const size_t fd = static_cast<size_t>(ev.data.u64 >> 32);
      const uint32_t generation = static_cast<uint32_t>(ev.data.u64);
      if (fd >= fds_.size() || fds_[fd].state != State::kKernel || fds_[fd].generation != generation) {
        // Reported for a registration that is gone: changed by another
        // thread after the wait returned, or one the kernel still holds for
        // a file closed without removal (see Rebuild).
        stale_seen = true;
        continue;
      }
      const short revents = FromEpoll(ev.events);
      for (const auto& w : fds_[fd].watches) {
        ++counts->watches_scanned;
        ready->push_back({w.first, revents, fds_[fd].edge});
      }
    }
    for (size_t i = 0; i < always_ready_.size();) {
      const int fd = always_ready_[i];
      FdReg& r = fds_[static_cast<size_t>(fd)];
      // poll() would say POLLNVAL once the number names nothing.
      if (fcntl(fd, F_GETFD) < 0) {
        InvalidateAll(r, invalid);
        always_ready_[i] = always_ready_.back();
        always_ready_.pop_back();
        continue;
      }
      ++counts->ready_events;
      for (const auto& w : r.watches) {
        ++counts->watches_scanned;
        ready->push_back({w.first, kAlwaysReadyEvents});
      }
      ++i;
    }
    if (stale_seen && stale_suspect_) Rebuild(invalid, counts);
  }

 private:
  enum class State : unsigned char {
    kNone,         // not in the kernel; no watches
    kKernel,       // in the interest list with `kernel_events` and `generation`
    kAlwaysReady,  // epoll refused it (EPERM); in always_ready_
  };
  struct FdReg {
    std::vector<std::pair<WatchId, short>> watches;  // each with its events (never 0)
    uint32_t generation = 0;                         // of the current kernel registration
    uint32_t kernel_events = 0;                      // what the kernel was given
    State state = State::kNone;
    bool edge = false;  // registered edge-triggered (then its only watch asked for it)
  };

  // Brings the kernel in line with r.watches after one of them was added
  // (`added`: then the last one), changed or removed. Returns true when a
  // sleeping wait must be woken.
  bool Apply(int fd, FdReg& r, bool added, std::vector<WatchId>* invalid, PollerCounts* counts) {
    switch (r.state) {
      case State::kNone:
        break;
      case State::kAlwaysReady:
        always_ready_.erase(std::find(always_ready_.begin(), always_ready_.end(), fd));
        r.state = State::kNone;
        break;  // the number may name a pollable file by now: ask the kernel again
      case State::kKernel: {
        if (r.watches.empty()) {
          // Fails only if the file is already gone (closed without removal).
          ++counts->interest_syscalls;
          if (Ctl(epfd_.get(), EPOLL_CTL_DEL, fd, 0, 0) != 0) stale_suspect_ = true;
          r.state = State::kNone;
          r.edge = false;
          return false;
        }
        const uint32_t want = Union(r);
        // A new watch is checked against the kernel even when the union is
        // unchanged: the number may name a different file than the one
        // registered, and only MOD tells.
        if (want == r.kernel_events && !added) return false;
        ++counts->interest_syscalls;
        if (Ctl(epfd_.get(), EPOLL_CTL_MOD, fd, want, Tag(fd, r.generation)) == 0) {
          r.kernel_events = want;
          return false;
        }
        // The file registered under this number is gone: closed without its
        // watches being removed (ENOENT: the number names another file now;
        // EBADF: nothing). Its watches learn it now. The kernel may still
        // hold the old file, if a duplicate keeps it open.
        stale_suspect_ = true;
        r.state = State::kNone;
        const size_t keep = added ? 1 : 0;  // the new watch means the file there now
        for (size_t i = 0; i + keep < r.watches.size(); ++i) invalid->push_back(r.watches[i].first);
        r.watches.erase(r.watches.begin(), r.watches.end() - static_cast<std::ptrdiff_t>(keep));
        break;
      }
    }
    if (r.watches.empty()) {
      r.edge = false;
      return false;
    }
    return Add(epfd_.get(), fd, r, invalid, counts);
  }

  // Registers r (state kNone, watches not empty) with `epfd` under a new
  // generation. Returns true when a sleeping wait must be woken.
  bool Add(int epfd, int fd, FdReg& r, std::vector<WatchId>* invalid, PollerCounts* counts) {
    const uint32_t want = Union(r);
    ++r.generation;
    // EEXIST: the kernel still holds this very file under this number, from
    // a registration we gave up on (the fd was closed while a duplicate kept
    // the file open, and the number was made to name that file again). Take
    // it over.
    ++counts->interest_syscalls;
    if (Ctl(epfd, EPOLL_CTL_ADD, fd, want, Tag(fd, r.generation)) == 0 ||
        (errno == EEXIST && (++counts->interest_syscalls, Ctl(epfd, EPOLL_CTL_MOD, fd, want, Tag(fd, r.generation)) == 0))) {
      r.state = State::kKernel;
      r.kernel_events = want;
      return false;
    }
    if (errno == EPERM) {
      r.state = State::kAlwaysReady;
      always_ready_.push_back(fd);
      return true;  // ready at once: a sleeping wait must return
    }
    // EBADF: no file under this number. ENOMEM, ENOSPC: the kernel takes no
    // more. Either way these watches cannot be served.
    InvalidateAll(r, invalid);
    return false;
  }

  // What the kernel is given for r. Edge-triggered, a rise is reported once:
  // the watch's owner remembers it (event_loop.h, WatchMode::kEdge).
  static uint32_t Union(const FdReg& r) {
    uint32_t want = r.edge ? static_cast<uint32_t>(EPOLLET) : 0u;
    for (const auto& w : r.watches) want |= ToEpoll(w.second);
    return want;
  }

  static void InvalidateAll(FdReg& r, std::vector<WatchId>* invalid) {
    for (const auto& w : r.watches) invalid->push_back(w.first);
    r.watches.clear();
    r.state = State::kNone;
    r.edge = false;
  }

  // The kernel reported a registration we consider gone, after an
  // epoll_ctl failed in a way that means a file was closed without
  // removal: a duplicate may keep that file open, and then its item stays
  // in the interest list, cannot be deleted (its number names another file
  // or nothing) and, level-triggered, would end every wait. Only a new
  // epoll instance drops it: re-register everything there. Rare (a caller
  // bug), and O(fds) when it happens.
  void Rebuild(std::vector<WatchId>* invalid, PollerCounts* counts) {
    UniqueFd fresh = NewEpoll(wake_fd_);
    if (!fresh.valid()) return;  // out of descriptors: try again at the next stale event
    for (size_t fd = 0; fd < fds_.size(); ++fd) {
      FdReg& r = fds_[fd];
      if (r.state != State::kKernel) continue;
      counts->watches_scanned += r.watches.size();
      r.state = State::kNone;
      Add(fresh.get(), static_cast<int>(fd), r, invalid, counts);
    }
    epfd_ = std::move(fresh);
    stale_suspect_ = false;
    ++counts->rebuilds;
  }

  const int wake_fd_;
  // Written under the lock only by the loop thread (Rebuild), read by Wait()
  // on the loop thread and by epoll_ctl under the lock.
  UniqueFd epfd_;
  std::vector<FdReg> fds_;        // by fd number; grows to the largest watched
  std::vector<int> always_ready_; // fds in State::kAlwaysReady
  bool stale_suspect_ = false;    // an epoll_ctl found a file closed without removal
  std::array<epoll_event, 256> events_;  // loop thread: what the last wait returned
};

}  // namespace

std::unique_ptr<Poller> MakeEpollPoller(int wake_fd) { return std::make_unique<EpollPoller>(wake_fd); }

}  // namespace xdrd
