// live_counts.h — process-wide counts of live core objects (clients, jobs,
// messages, threads), so tests and the stress tool can prove that everything
// taken is given back: after a server stops, all four return to where they
// started.
//
// Threads: any; plain atomics, read only for reporting (nothing is handed
// across threads through them).
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

LiveCounts ReadLiveCounts();

namespace live_detail {
enum Kind { kClient, kJob, kMessage, kThread, kKinds };
extern std::atomic<int64_t> g_counts[kKinds];
}  // namespace live_detail

// A member that counts its owner: +1 when constructed or copied, -1 when
// destroyed. A moved-from owner still counts until it is destroyed.
// Every member is noexcept on purpose: an owner's implicit move constructor
// is noexcept only if its members' are, and std::vector copies (instead of
// moving) elements whose move may throw when it grows. A Job or Command
// copied that way copies its whole frame and takes client references.
template <live_detail::Kind K>
class LiveToken {
 public:
  LiveToken() noexcept { live_detail::g_counts[K].fetch_add(1, std::memory_order_relaxed); }
  LiveToken(const LiveToken&) noexcept : LiveToken() {}
  LiveToken& operator=(const LiveToken&) noexcept { return *this; }
  ~LiveToken() { live_detail::g_counts[K].fetch_sub(1, std::memory_order_relaxed); }
};

}  // namespace xdrd
