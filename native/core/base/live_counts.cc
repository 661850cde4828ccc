// live_counts.cc — see live_counts.h.
#include "base/live_counts.h"

namespace xdrd {

namespace live_detail {
std::atomic<int64_t> g_counts[kKinds];
}  // namespace live_detail

LiveCounts ReadLiveCounts() {
  using live_detail::g_counts;
  return {g_counts[live_detail::kClient].load(std::memory_order_relaxed),
          g_counts[live_detail::kJob].load(std::memory_order_relaxed),
          g_counts[live_detail::kMessage].load(std::memory_order_relaxed),
          g_counts[live_detail::kThread].load(std::memory_order_relaxed)};
}

}  // namespace xdrd
