// busy_poll_governor.h — should the loop thread spin after this turn?
//
// After a turn that did something the loop thread may poll without
// sleeping for up to busy_poll_us (Server::RunTurn), so that the next call
// or answer is taken without a thread wake-up. That pays when work comes
// soon; when it does not, every spin is a core burnt for nothing (1 x 1
// traffic once spent more CPU spinning than serving). The governor keeps
// the account: over a window of spins, the microseconds spun per spin that
// caught work. While that stays at or under `max_us_per_catch` — about
// what a sleeping hand-off costs, so a catch saves at least what it spent —
// spinning goes on. Otherwise the loop thread sleeps in poll() for a
// number of turns, doubling each time a probe window fails again, and then
// probes with another window.
//
// Threads: one instance belongs to the loop thread; no lock.
#pragma once

#include <algorithm>
#include <cstdint>

namespace xdrd {

class BusyPollGovernor {
 public:
  static constexpr int64_t kDefaultMaxUsPerCatch = 15;
  static constexpr uint32_t kDefaultWindow = 32;
  static constexpr uint32_t kFirstRestTurns = 64;
  static constexpr uint32_t kLongestRestTurns = 4096;

  explicit BusyPollGovernor(int64_t max_us_per_catch = kDefaultMaxUsPerCatch, uint32_t window = kDefaultWindow)
      : max_us_per_catch_(max_us_per_catch), window_(std::max<uint32_t>(window, 1)) {}

  // Asked once per turn that could spin: true to spin, false to sleep.
  // A resting governor counts the turn towards the end of its rest.
  bool ShouldSpin() {
    if (rest_left_ == 0) return true;
    --rest_left_;
    return false;
  }

  // The spin that ShouldSpin() allowed: how long it ran, and whether it
  // found work before its limit.
  void Record(int64_t spun_us, bool caught) {
    ++spins_;
    spun_us_ += std::max<int64_t>(spun_us, 0);
    if (caught) ++catches_;
    if (spins_ < window_) return;
    const bool pays = catches_ > 0 && spun_us_ <= max_us_per_catch_ * static_cast<int64_t>(catches_);
    if (pays) {
      rest_turns_ = kFirstRestTurns;
    } else {
      rest_left_ = rest_turns_;
      rest_turns_ = std::min(rest_turns_ * 2, kLongestRestTurns);
      ++rests_;
    }
    spins_ = 0;
    catches_ = 0;
    spun_us_ = 0;
  }

  bool resting() const { return rest_left_ > 0; }
  // How many times a window did not pay; for tests and counters.
  uint64_t rests() const { return rests_; }
  // The rest the next window that fails will get.
  uint32_t next_rest_turns() const { return rest_turns_; }

 private:
  const int64_t max_us_per_catch_;
  const uint32_t window_;
  uint32_t spins_ = 0;
  uint32_t catches_ = 0;
  int64_t spun_us_ = 0;
  uint32_t rest_left_ = 0;
  uint32_t rest_turns_ = kFirstRestTurns;
  uint64_t rests_ = 0;
};

}  // namespace xdrd
