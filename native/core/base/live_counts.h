// live_counts.h — process-wide counts of live core objects (clients, jobs,
// messages, threads), so tests and the stress tool can prove that everything
// taken is given back: after a server stops, all four return to where they
// started.
//
// Threads: any. Each thread counts into a shard of its own (a token made on
// one thread and dropped on another adds on the first and subtracts on the
// second), so the threads that pass calls along never write one shared
// cache line: with a single global counter, every construction and
// destruction of a message was a locked add contended by the loop thread,
// the workers and the JS thread. ReadLiveCounts() sums the shards, and what
// exited threads left, under the shard list's own mutex, a leaf that
// nothing else is taken under. Only for reporting: nothing is handed
// across threads through these counts.
#pragma once

#include <atomic>
#include <cstdint>

namespace xdrd {

struct LiveCounts {
  int64_t clients;
  int64_t jobs;
  int64_t messages;  // RPC frames held: calls being dispatched, replies queued
  int64_t threads;   // xdrd threads running (loop, workers, the addon's closer)
};

// The sum over all threads. Exact once the threads that touched the
// objects counted have finished what they were doing (joined, or handed
// the objects over under a lock the reader then takes).
LiveCounts ReadLiveCounts();

namespace live_detail {
enum Kind { kClient, kJob, kMessage, kThread, kKinds };
// The calling thread's counters (its shard; after the thread's shard is
// gone, in its exit, the shared counters that exited threads fold into).
std::atomic<int64_t>* ThisThreadCounts() noexcept;
}  // namespace live_detail

// A member that counts its owner: +1 when constructed or copied from a
// counted owner, -1 when a counted owner is destroyed. Moving hands the
// count over: the moved-from owner (a shell whose contents went along)
// stops counting, and no counter is touched. A call's messages and
// commands move several times on their way between threads; each move used
// to cost two locked adds.
// Every member is noexcept on purpose: an owner's implicit move constructor
// is noexcept only if its members' are, and std::vector copies (instead of
// moving) elements whose move may throw when it grows. A Job or Command
// copied that way copies its whole frame and takes client references.
template <live_detail::Kind K>
class LiveToken {
 public:
  LiveToken() noexcept { Add(1); }
  LiveToken(const LiveToken& other) noexcept : counted_(other.counted_) {
    if (counted_) Add(1);
  }
  LiveToken(LiveToken&& other) noexcept : counted_(other.counted_) { other.counted_ = false; }
  LiveToken& operator=(const LiveToken& other) noexcept {
    if (counted_ != other.counted_) Add(other.counted_ ? 1 : -1);
    counted_ = other.counted_;
    return *this;
  }
  LiveToken& operator=(LiveToken&& other) noexcept {
    if (this != &other) {
      if (counted_) Add(-1);  // what this owner held is gone
      counted_ = other.counted_;
      other.counted_ = false;
    }
    return *this;
  }
  ~LiveToken() {
    if (counted_) Add(-1);
  }

 private:
  static void Add(int64_t n) noexcept {
    live_detail::ThisThreadCounts()[K].fetch_add(n, std::memory_order_relaxed);
  }
  bool counted_ = true;
};

}  // namespace xdrd
