// clock.h — the monotonic clock, in the units the core counts in.
// Threads: any.
#pragma once

#include <chrono>
#include <cstdint>

namespace xdrd {

inline int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline int64_t MonotonicUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace xdrd
