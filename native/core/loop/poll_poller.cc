// poll_poller.cc — the poll(2) backend: the reference the epoll backend is
// tested against. poll() takes the whole set on every call, so each turn
// costs every enabled watch; the array it takes is rebuilt only in a turn
// after something changed. See poller.h for threads and locks.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  // POLLRDHUP
#endif
#include <poll.h>

#include <unordered_map>

#include "loop/poller.h"

namespace xdrd {

namespace {

class PollPoller final : public Poller {
 public:
  explicit PollPoller(int wake_fd) : wake_fd_(wake_fd) {}

  // poll() has no edges: an edge watch is served level-triggered, as the
  // loop's contract allows.
  bool SupportsEdge() const override { return false; }

  bool SetInterestLocked(WatchId id, int fd, short events, bool, std::vector<WatchId>*, PollerCounts*) override {
    if (events == 0) {
      if (interest_.erase(id) == 0) return false;
    } else {
      Entry& e = interest_[id];
      if (e.fd == fd && e.events == events) return false;
      e = Entry{fd, events};
    }
    dirty_ = true;
    // poll() works on the array it was given: a sleeping call never sees a
    // change, so it must be woken to take the new array.
    return true;
  }

  int PrepareLocked(int timeout_ms, PollerCounts* counts) override {
    if (dirty_) {
      dirty_ = false;
      pollfds_.clear();
      ids_.clear();
      pollfds_.push_back({wake_fd_, POLLIN, 0});
      ids_.push_back(0);
      for (const auto& [id, e] : interest_) {
        pollfds_.push_back({e.fd, e.events, 0});
        ids_.push_back(id);
      }
      counts->watches_scanned += interest_.size();
      ++counts->rebuilds;
    }
    return timeout_ms;
  }

  int Wait(int timeout_ms) override { return poll(pollfds_.data(), pollfds_.size(), timeout_ms); }

  void CollectLocked(int n, std::vector<ReadyWatch>* ready, bool* woken, std::vector<WatchId>* invalid,
                     PollerCounts* counts) override {
    // The kernel looked at every entry; so must we, to find the ready ones.
    counts->watches_scanned += pollfds_.size() - 1;
    if (n <= 0) return;
    if (pollfds_[0].revents & POLLIN) *woken = true;
    for (size_t i = 1; i < pollfds_.size(); ++i) {
      const short revents = pollfds_[i].revents;
      if (revents == 0) continue;
      ++counts->ready_events;
      if (!(revents & POLLNVAL)) {
        ready->push_back({ids_[i], revents});
        continue;
      }
      // The fd is closed. Only a watch still asking for it learns so: one
      // removed or changed since poll() began is not this entry any more.
      auto it = interest_.find(ids_[i]);
      if (it == interest_.end() || it->second.fd != pollfds_[i].fd) continue;
      interest_.erase(it);
      dirty_ = true;
      invalid->push_back(ids_[i]);
    }
  }

 private:
  struct Entry {
    int fd = -1;
    short events = 0;
  };

  const int wake_fd_;
  std::unordered_map<WatchId, Entry> interest_;  // enabled watches only
  bool dirty_ = true;                            // interest_ changed since pollfds_ was built
  // Built under the lock by PrepareLocked, read by Wait() and CollectLocked
  // on the loop thread: no other thread touches them.
  std::vector<pollfd> pollfds_;  // [0] is the wake-up fd
  std::vector<WatchId> ids_;     // the watch of each pollfds_ entry
};

}  // namespace

std::unique_ptr<Poller> MakePollPoller(int wake_fd) { return std::make_unique<PollPoller>(wake_fd); }

}  // namespace xdrd
