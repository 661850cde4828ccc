// connection.h — one accepted client: its socket, receive framing, send
// queue, clocks (keepalive, partial frame), request budget, buffer
// accounting and the count of its calls in each state.
//
// Threads and locks (THREADING.md)
//   `mu` is the client lock. Every method whose name ends in Locked needs
//   it; id() and peer() are fixed and need nothing. The per-method comments
//   below say which thread calls what. Socket I/O happens on the loop thread
//   only.
//
// References
//   RefCounted: the server's client list, the poll watch, the timer (once
//   registered), each queued job, each Call and each queued command hold
//   one. The last Unref() deletes it on whatever thread drops it; the
//   destructor takes no lock and touches nothing of the server's.
//
// States
//   Its lifecycle is open → (closing after writes) → closing; "closing"
//   only marks it, and the loop thread reaps it between turns. Separately,
//   reading may be paused for any set of reasons at once (PauseReason):
//   throttled at the request budget, starved by the server-wide buffer
//   bound, awaiting the application's authorization.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "base/live_counts.h"
#include "base/lock.h"
#include "base/refcount.h"
#include "base/ring_queue.h"
#include "loop/event_loop.h"
#include "server/api_types.h"
#include "server/counters.h"
#include "server/message.h"
#include "server/outbox.h"
#include "wire/frame_splitter.h"

namespace xdrd {

struct Job;
class ProgramTable;

// What every connection of one server shares with it. Owned by the server;
// used only from the server's own threads while it runs (a connection that
// outlives its server is never pumped or applied to again).
struct ConnectionHost {
  const ServerOptions& options;
  CounterSet& counters;
  EventLoop& loop;
  Outbox& outbox;                   // loop thread only
  const ProgramTable& programs;     // frozen while running
  std::vector<uint8_t>& read_scratch;  // loop thread only
  const bool& draining;             // loop thread only: new CALLs get the shutdown error
  // Connections with a call in any phase or bytes unsent, not closing: a
  // shutdown has drained when it is 0 (and no job waits). Each connection
  // adds itself while it is such, under its own lock.
  std::atomic<int64_t>& undrained_connections;
};

// A call's states, counted per connection and mirrored in the server's
// gauges (calls_read, calls_waiting, calls_dispatching, calls_reply_pending).
enum class CallPhase : uint8_t { kRead, kWaiting, kDispatching, kReplyPending };

class Connection : public RefCounted<Connection> {
 public:
  Connection(const ConnectionHost& host, uint64_t id, int fd, PeerInfo peer);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  uint64_t id() const { return id_; }
  const PeerInfo& peer() const { return peer_; }

  RankedMutex mu;

  // [the server lock] On the server's list of clients a worker applied a
  // command to, for the loop thread to pump (Server::ApplyFromWorker).
  bool listed_for_pump = false;

  // ---- Loop thread ----
  // Registers the watch (holding a reference), starting unread when
  // authorization is required. The timer is registered (holding a reference
  // too) when a clock first needs it: an idle client without keepalive never
  // does, and so costs the loop no timer entry.
  void AttachLocked(EventLoop::WatchCallback on_event, EventLoop::TimerCallback on_timer,
                    bool awaiting_auth);
  // All the I/O the connection needs now: write what is queued, take the
  // frames that may be taken (CALLs into *calls), read if `readable` and not
  // paused, answer PINGs and protocol errors, re-arm the clocks, set the
  // watch.
  void PumpLocked(bool readable, std::vector<Job>* calls);
  // The timer fired: keepalive PING or silence, partial-frame timeout.
  void OnTimerLocked();
  // The watch reported `revents` while reading was paused (starved or
  // awaiting authorization): a hang-up closes it.
  void OnHangupLocked(short revents);
  // True exactly once after it is marked closing: the caller puts it on the
  // reap list.
  bool TakeReapTicketLocked();
  // True exactly once per starvation: the caller lists it to be resumed.
  bool TakeStarveTicketLocked();
  // True once after a pump that left its socket possibly unread (the read
  // budget ran out) with nothing pausing it: the caller lists it to be
  // pumped again before the loop sleeps. On epoll its watch is
  // edge-triggered, and no further rise would be reported for those bytes.
  bool TakeRepumpTicketLocked();
  // Reads it again after starvation (the buffers have drained). True when
  // its socket may hold unread bytes: the caller lists it to be pumped.
  bool ResumeLocked();
  // Reaping: removes the watch and timer, closes the socket, gives back its
  // buffers' share of the server's sum. Returns whether it still awaited
  // authorization.
  bool TearDownLocked();
  // At a shutdown deadline: answers every call a handler still has with
  // `error` and marks those calls answered by the server; writes once.
  // Returns how many were answered.
  uint64_t CancelInFlightLocked(const RpcError& error);
  // True when nothing of it is outstanding: no call in any state, nothing
  // unwritten (or it is closing anyway).
  bool DrainedLocked() const;

  // ---- Loop thread or a worker ----
  // Moves `n` framed calls (READ) into the FIFO (WAIT_DISPATCH); false, and
  // they are forgotten, if it is closing.
  bool QueueCallsLocked(uint32_t n);
  // A worker takes a call of its from the FIFO: DISPATCHING, and `state`
  // (the job's) tracked for the shutdown deadline. Returns it, or null if
  // the client is closing (the call is dropped).
  RefPtr<CallState> ClaimCallLocked(RefPtr<CallState> state);
  // A queued call is answered by the server at a shutdown deadline.
  bool CancelQueuedCallLocked(const Header& h, const RpcError& error);
  // The handler's answer to `call` (a reply or error frame).
  void QueueReplyLocked(std::vector<uint8_t> frame, CallState* call);
  // An event (MESSAGE frame) from the application.
  void QueueEventLocked(std::vector<uint8_t> frame);
  // Server-side keepalive: PING after interval_ms of silence, close after
  // interval_ms x (count + 1).
  void EnableKeepaliveLocked(uint32_t interval_ms, uint32_t count);
  // The application's verdict. True if it let a waiting client in.
  bool AuthorizeLocked(bool allow);
  // The application closes it, at once or once its queued frames are written.
  void CloseLocked(bool after_writes);
  // A worker changed its queues: bring the server's buffer sum up to date
  // (the loop thread, which pumps it next, sets the watch).
  void AccountLocked();
  // Marks it for the loop thread to reap; the first reason wins.
  void MarkClosingLocked(CloseReason reason);

  bool closing_locked() const { return lifecycle_ == Lifecycle::kClosing; }
  CloseReason close_reason_locked() const { return close_reason_; }

 private:
  friend class RefCounted<Connection>;
  ~Connection();

  enum class Lifecycle : uint8_t { kOpen, kClosingAfterWrites, kClosing };
  enum PauseReason : uint8_t { kThrottled = 1, kStarved = 2, kAwaitingAuth = 4 };
  enum class ReadStatus { kOk, kEof, kIoError, kProtocol };

  bool paused(PauseReason r) const { return (pause_ & r) != 0; }
  void SetPause(PauseReason r, bool on) {
    pause_ = static_cast<uint8_t>(on ? pause_ | r : pause_ & ~r);
  }
  uint32_t OutstandingLocked() const;
  void CountLocked(CallPhase phase, int delta);
  void NoteDrainLocked();

  ReadStatus ReadLocked(size_t budget);
  // Returns the reply frames it finished writing, or -1 on a write error.
  int WriteLocked();
  void FlushLocked();
  void QueueLocked(std::vector<uint8_t> bytes, bool is_reply);
  void TakeFramesLocked(std::vector<Job>* calls);
  // *framed_us: when the frames being taken were framed, read from the
  // clock by the first call that needs it (0 until then): the frames one
  // take handles all came in with the same read.
  void HandleFrameLocked(const Header& h, size_t payload_offset, std::vector<uint8_t>&& frame,
                         std::vector<Job>* calls, int64_t* framed_us);
  void ReplyErrorLocked(const Header& call, const RpcError& error);
  void SetThrottledLocked(bool throttled);
  void CheckClocksLocked(int64_t now);
  void ScheduleTimerLocked(int64_t now);
  void UpdateClocksLocked(uint64_t read_before);
  // A client that hung up is closed if it is not being read (starved or
  // awaiting authorization): what it sent last would never be read.
  void CloseIfGoneWhileUnreadLocked();
  void SyncWatchLocked();
  short WantedEventsLocked() const;
  void CloseSocketLocked();

  const ConnectionHost& host_;
  const uint64_t id_;
  const PeerInfo peer_;

  // [mu]
  int fd_;  // -1 once closed
  Lifecycle lifecycle_ = Lifecycle::kOpen;
  uint8_t pause_ = 0;             // PauseReason bits
  bool reap_ticket_taken_ = false;
  bool starve_ticket_taken_ = false;
  bool repump_ticket_ = false;    // TakeRepumpTicketLocked
  // Its socket may hold bytes not read yet: the watch reported it readable
  // (on epoll: a rise, reported once) and no read since came back short.
  // Kept while reading is paused, so unpausing reads without a new report.
  bool in_ready_ = false;
  // The watch reported a hang-up (POLLRDHUP, POLLHUP or POLLERR); kept, as
  // on epoll it is reported once.
  bool hung_up_ = false;
  bool torn_down_ = false;        // reaped: its counts left the server's gauges
  bool counted_undrained_ = false;  // in host_.undrained_connections
  CloseReason close_reason_ = CloseReason::kNone;
  bool closed_mid_frame_ = false;
  bool closed_mid_call_ = false;
  uint32_t calls_[4] = {0, 0, 0, 0};  // by CallPhase
  // Calls a handler has (DISPATCHING), so a shutdown deadline can answer them.
  std::vector<RefPtr<CallState>> in_flight_;

  FrameSplitter splitter_;
  uint64_t bytes_read_ = 0;
  uint64_t bytes_written_ = 0;
  // Not a std::deque: that allocates about 600 bytes before holding
  // anything, and most clients of a busy daemon are idle (ring_queue.h).
  RingQueue<OutFrame> send_queue_;
  size_t send_offset_ = 0;        // bytes of the first frame already sent
  size_t send_queue_bytes_ = 0;   // unsent bytes in send_queue_
  size_t accounted_bytes_ = 0;    // what it adds to the server's buffered bytes

  EventLoop::Id watch_ = 0;
  short watched_events_ = 0;      // what the watch was last set to
  bool watch_is_edge_ = false;    // served edge-triggered: only its POLLOUT needs upkeep
  // The one timer: keepalive and the partial-frame timeout (monotonic ms).
  EventLoop::Id timer_ = 0;       // 0: not registered yet (ScheduleTimerLocked)
  EventLoop::TimerCallback on_timer_;  // its callback, until it is registered
  int64_t timer_due_ms_ = -1;     // what the timer is armed for; -1: disarmed
  int64_t last_rx_ms_ = 0;        // when bytes last arrived
  int64_t frame_started_ms_ = -1; // when the frame in progress began; -1: none
  uint64_t frames_seen_ = 0;      // splitter_.frames_completed() when last looked
  uint32_t keepalive_interval_ms_ = 0;  // 0: the server does not PING
  uint32_t keepalive_count_ = 0;
  int64_t last_ping_ms_ = -1;

  LiveToken<live_detail::kClient> live_;
};

using ConnectionRef = RefPtr<Connection>;

}  // namespace xdrd
