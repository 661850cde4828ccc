// connection_clocks.cc — a Connection's clocks: keepalive (PING after
// silence, close after interval x (count + 1)), the partial-frame timeout,
// and the one timer that serves both. Loop thread, client lock (functions
// ending in Locked; checked in debug builds). See connection.h.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  // POLLRDHUP
#endif
#include <poll.h>

#include <algorithm>
#include <string>
#include <utility>

#include "base/clock.h"
#include "server/connection.h"
#include "wire/wire.h"

namespace xdrd {

// ---- Clocks (loop thread) ------------------------------------------------------------------------

void Connection::OnTimerLocked() {
  AssertHeld(mu);
  timer_due_ms_ = -1;  // a one-shot: it is disarmed now
  if (!closing_locked()) CheckClocksLocked(MonotonicMs());
}

void Connection::OnHangupLocked(short revents) {
  AssertHeld(mu);
  // Only a starved client or one awaiting authorization is watched for
  // POLLRDHUP: it is gone, and what it sent last will never be read. Close
  // it, so what it holds is freed (and poll() does not spin on its hang-up).
  // On epoll the hang-up is a rise reported once, maybe while the client
  // is still read: remembered, for when it starves later (PumpLocked).
  if (revents & (POLLRDHUP | POLLHUP | POLLERR)) hung_up_ = true;
  CloseIfGoneWhileUnreadLocked();
}

void Connection::CloseIfGoneWhileUnreadLocked() {
  AssertHeld(mu);
  if (hung_up_ && (paused(kStarved) || paused(kAwaitingAuth))) MarkClosingLocked(CloseReason::kEof);
}

// Anything received counts as life for keepalive (libvirt resets on a whole
// frame; a partial one is bounded by the frame timeout). A throttled
// client's clocks restart when it is read again.
void Connection::UpdateClocksLocked(uint64_t read_before) {
  int64_t now = MonotonicMs();
  if (bytes_read_ != read_before) last_rx_ms_ = now;
  if (!splitter_.mid_frame()) {
    frame_started_ms_ = -1;
  } else if (frame_started_ms_ < 0 || frames_seen_ != splitter_.frames_completed()) {
    frame_started_ms_ = now;  // a new frame began
  }
  frames_seen_ = splitter_.frames_completed();
  ScheduleTimerLocked(now);
}

// The keepalive and partial-frame rules, when the timer fires. While the
// server withholds POLLIN (throttled) both clocks stand still: silence the
// server caused is not the client's.
void Connection::CheckClocksLocked(int64_t now) {
  AssertHeld(mu);
  if (paused(kThrottled)) return;
  const uint32_t frame_timeout_ms = host_.options.frame_timeout_ms;
  if (frame_started_ms_ >= 0 && now - frame_started_ms_ >= frame_timeout_ms) {
    host_.outbox.Log(id_, "frame not finished within " + std::to_string(frame_timeout_ms) +
                              " ms; closing the connection");
    CounterSet::Add(host_.counters.frame_timeouts);
    MarkClosingLocked(CloseReason::kFrameTimeout);
    return;
  }
  if (keepalive_interval_ms_ == 0) return;
  if (paused(kStarved)) {
    last_rx_ms_ = now;  // we are the ones not reading: not the client's silence
    return;
  }
  const int64_t interval = keepalive_interval_ms_;
  if (now - last_rx_ms_ >= interval * (int64_t{keepalive_count_} + 1)) {
    host_.outbox.Log(id_, "keepalive timeout; closing the connection");
    CounterSet::Add(host_.counters.keepalive_drops);
    MarkClosingLocked(CloseReason::kKeepalive);
    return;
  }
  if (now - std::max(last_rx_ms_, last_ping_ms_) >= interval) {
    QueueLocked(MakePingFrame(), /*is_reply=*/false);
    last_ping_ms_ = now;
    CounterSet::Add(host_.counters.pings_sent);
  }
}

// Arms the timer for the next deadline. It is only ever moved earlier here;
// a timer that fires before anything is due just re-arms.
void Connection::ScheduleTimerLocked(int64_t now) {
  AssertHeld(mu);
  if (closing_locked() || paused(kThrottled)) return;
  int64_t next = -1;
  auto consider = [&](int64_t t) {
    if (next < 0 || t < next) next = t;
  };
  if (frame_started_ms_ >= 0) consider(frame_started_ms_ + host_.options.frame_timeout_ms);
  if (keepalive_interval_ms_ > 0) {
    const int64_t interval = keepalive_interval_ms_;
    consider(std::max(last_rx_ms_, last_ping_ms_) + interval);
    consider(last_rx_ms_ + interval * (int64_t{keepalive_count_} + 1));
  }
  if (next < 0 || (timer_due_ms_ >= 0 && timer_due_ms_ <= next)) return;
  const int64_t delay = std::max<int64_t>(0, next - now);
  if (timer_ == 0) {
    Ref();  // the timer's reference, dropped by its free function
    timer_ = host_.loop.AddTimer(delay, 0, std::move(on_timer_), [this] { Unref(); });
    on_timer_ = nullptr;
  } else {
    host_.loop.UpdateTimer(timer_, delay, 0);
  }
  timer_due_ms_ = next;
}

}  // namespace xdrd
