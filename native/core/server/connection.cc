// connection.cc — see connection.h for which thread calls what. Every
// function ending in Locked expects the client lock (checked in debug builds).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  // POLLRDHUP
#endif
#include "server/connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "base/buffer_pool.h"
#include "base/clock.h"
#include "server/job.h"
#include "server/programs.h"

namespace xdrd {

namespace {

constexpr size_t kMaxIov = 64;

// Room for the most descriptors a libvirt message may carry; more are
// closed by the kernel (MSG_CTRUNC).
constexpr size_t kFdControlBytes = CMSG_SPACE(sizeof(int) * kMaxFds);

std::string ClientLockName(uint64_t id) {
  char name[40];
  std::snprintf(name, sizeof name, "client %llu", static_cast<unsigned long long>(id));
  return name;
}

const char* TypeName(uint32_t type) {
  switch (type) {
    case kTypeCall: return "CALL";
    case kTypeReply: return "REPLY";
    case kTypeMessage: return "MESSAGE";
    case kTypeStream: return "STREAM";
    case kTypeCallWithFds: return "CALL_WITH_FDS";
    case kTypeReplyWithFds: return "REPLY_WITH_FDS";
    case kTypeStreamHole: return "STREAM_HOLE";
  }
  return "unknown";
}

}  // namespace

Connection::Connection(const ConnectionHost& host, uint64_t id, int fd, PeerInfo peer)
    : mu(LockRank::kClient, ClientLockName(id).c_str()),
      host_(host),
      id_(id),
      peer_(std::move(peer)),
      fd_(fd),
      splitter_(host.options.max_message_bytes) {}

Connection::~Connection() {
  // No lock: the last reference is gone, so no other thread can see us.
  if (fd_ >= 0) close(fd_);
}

// ---- Call counts ------------------------------------------------------------------

uint32_t Connection::OutstandingLocked() const { return calls_[0] + calls_[1] + calls_[2] + calls_[3]; }

// Changes one phase's count here and in the server's gauge, so a stats
// snapshot needs no client lock.
void Connection::CountLocked(CallPhase phase, int delta) {
  calls_[static_cast<int>(phase)] += static_cast<uint32_t>(delta);
  if (torn_down_) return;  // no longer in the server's sums (TearDownLocked)
  CounterSet& c = host_.counters;
  CounterSet::Cell* gauge = &c.calls_read;
  switch (phase) {
    case CallPhase::kRead: gauge = &c.calls_read; break;
    case CallPhase::kWaiting: gauge = &c.calls_waiting; break;
    case CallPhase::kDispatching: gauge = &c.calls_dispatching; break;
    case CallPhase::kReplyPending: gauge = &c.calls_reply_pending; break;
  }
  CounterSet::Change(*gauge, delta);
  NoteDrainLocked();
}

// Keeps the server's count of undrained connections (Server::DrainedLocked)
// in step with this one. A call moving from one phase to the next is
// counted in its new phase before it leaves the old one, so a connection
// never looks drained half way through a move.
void Connection::NoteDrainLocked() {
  const bool undrained = !torn_down_ && !DrainedLocked();
  if (undrained == counted_undrained_) return;
  counted_undrained_ = undrained;
  host_.undrained_connections.fetch_add(undrained ? 1 : -1, std::memory_order_release);
}

// ---- Registration and reaping (loop thread) ------------------------------------------

void Connection::AttachLocked(EventLoop::WatchCallback on_event, EventLoop::TimerCallback on_timer,
                              bool awaiting_auth) {
  AssertHeld(mu);
  SetPause(kAwaitingAuth, awaiting_auth);
  short want = WantedEventsLocked();
  Ref();  // the watch's reference, dropped by its free function
  // Edge-triggered where the backend can: pausing and resuming the reading
  // of a client at its request budget, which a busy client does every few
  // calls, then costs no epoll_ctl (in_ready_ remembers the rise).
  watch_ = host_.loop.AddWatch(fd_, want, std::move(on_event), [this] { Unref(); }, EventLoop::WatchMode::kEdge);
  watched_events_ = want;
  watch_is_edge_ = host_.loop.edge_capable();
  on_timer_ = std::move(on_timer);  // registered when first armed (ScheduleTimerLocked)
  last_rx_ms_ = MonotonicMs();
}

bool Connection::TakeReapTicketLocked() {
  AssertHeld(mu);
  if (!closing_locked() || reap_ticket_taken_) return false;
  reap_ticket_taken_ = true;
  return true;
}

bool Connection::TakeStarveTicketLocked() {
  AssertHeld(mu);
  if (!paused(kStarved) || starve_ticket_taken_ || closing_locked()) return false;
  starve_ticket_taken_ = true;
  return true;
}

bool Connection::TakeRepumpTicketLocked() {
  AssertHeld(mu);
  const bool taken = repump_ticket_;
  repump_ticket_ = false;
  return taken && !closing_locked();
}

bool Connection::ResumeLocked() {
  AssertHeld(mu);
  starve_ticket_taken_ = false;
  if (!paused(kStarved)) return false;
  SetPause(kStarved, false);
  CounterSet::Sub(host_.counters.clients_starved);
  SyncWatchLocked();
  return in_ready_ && !closing_locked();
}

bool Connection::TearDownLocked() {
  AssertHeld(mu);
  const bool was_awaiting_auth = paused(kAwaitingAuth);
  SetPause(kAwaitingAuth, false);
  host_.loop.RemoveWatch(watch_);  // its free function drops the watch's reference
  if (timer_ != 0) host_.loop.RemoveTimer(timer_);  // and the timer's
  on_timer_ = nullptr;  // never registered, or registered already: not needed
  CounterSet& c = host_.counters;
  if (closed_mid_frame_) CounterSet::Add(c.closed_mid_frame);
  if (closed_mid_call_) CounterSet::Add(c.closed_mid_call);
  if (close_reason_ == CloseReason::kDenied) CounterSet::Add(c.clients_denied);
  SetThrottledLocked(false);
  if (paused(kStarved)) CounterSet::Sub(c.clients_starved);
  SetPause(kStarved, false);
  CloseSocketLocked();
  // Its buffers go with it: no longer the server's to bound.
  CounterSet::Change(c.buffered_bytes, -static_cast<int64_t>(accounted_bytes_));
  accounted_bytes_ = 0;
  // Calls still counted here are gone with it (their jobs and Calls drop
  // their answers); take them out of the server's gauges.
  for (int phase = 0; phase < 4; ++phase)
    if (calls_[phase] != 0) CountLocked(static_cast<CallPhase>(phase), -static_cast<int>(calls_[phase]));
  torn_down_ = true;
  NoteDrainLocked();
  return was_awaiting_auth;
}

void Connection::MarkClosingLocked(CloseReason reason) {
  AssertHeld(mu);
  if (closing_locked()) return;
  lifecycle_ = Lifecycle::kClosing;
  close_reason_ = reason;
  // The reasons with no counter at their cause (keepalive and frame
  // timeouts count where their clocks fire).
  if (reason == CloseReason::kProtocol) CounterSet::Add(host_.counters.protocol_closes);
  if (reason == CloseReason::kLimit) CounterSet::Add(host_.counters.limit_closes);
  closed_mid_frame_ = splitter_.mid_frame();
  closed_mid_call_ = OutstandingLocked() > 0;
  NoteDrainLocked();  // a closing connection is drained: nothing of it is waited for
}

bool Connection::DrainedLocked() const {
  AssertHeld(mu);
  return closing_locked() || (OutstandingLocked() == 0 && send_queue_bytes_ == 0);
}

// ---- Socket I/O (loop thread) -----------------------------------------------------------

Connection::ReadStatus Connection::ReadLocked(size_t budget) {
  AssertHeld(mu);
  std::vector<uint8_t>& scratch = host_.read_scratch;
  size_t taken = 0;
  alignas(cmsghdr) unsigned char control[kFdControlBytes];
  while (taken < budget) {
    // A large frame in progress is read straight into its own buffer (up to
    // its end), and whatever follows into the scratch: the frame's bytes are
    // then not copied again (issue 21). Small frames, and a frame whose
    // length word is not complete yet, go through the scratch only. The
    // frame's part stays within the budget left, so a read still overruns
    // the budget (and the server's buffer bound) by at most the scratch.
    iovec iov[2];
    size_t tail_n = 0;
    uint8_t* tail = splitter_.WritableTail(budget - taken, &tail_n);
    size_t iov_count = 0;
    if (tail != nullptr) iov[iov_count++] = iovec{tail, tail_n};
    iov[iov_count++] = iovec{scratch.data(), scratch.size()};
    const size_t capacity = tail_n + scratch.size();
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = iov_count;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    // Closed at once, whatever the outcome (nothing landed there on an
    // error or EOF): the splitter must not be left holding the open room.
    const size_t into_tail = n > 0 ? std::min(static_cast<size_t>(n), tail_n) : 0;
    if (tail != nullptr) splitter_.CommitTail(into_tail);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        in_ready_ = false;
        return ReadStatus::kOk;
      }
      return ReadStatus::kIoError;
    }
    // fd passing is not supported: whatever descriptors came along are
    // closed at once, so a peer cannot make us hold its files.
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      const unsigned char* data = CMSG_DATA(c);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, data + i * sizeof(int), sizeof fd);
        close(fd);
        CounterSet::Add(host_.counters.fds_closed);
      }
    }
    if (n == 0) return ReadStatus::kEof;
    bytes_read_ += static_cast<uint64_t>(n);
    // Counted before anything is answered, so a peer that sees the answer
    // sees the counters that led to it.
    CounterSet::Add(host_.counters.bytes_read, static_cast<uint64_t>(n));
    taken += static_cast<size_t>(n);
    if (!splitter_.Feed(scratch.data(), static_cast<size_t>(n) - into_tail)) return ReadStatus::kProtocol;
    // Drained: a stream socket gives all it holds, up to the room offered,
    // and bytes arriving after this are a new rise, reported by the watch.
    // Not after a hang-up, though: its rise is reported once, maybe before
    // these last bytes were read, and only the next read sees the end.
    if (static_cast<size_t>(n) < capacity && !hung_up_) {
      in_ready_ = false;
      return ReadStatus::kOk;
    }
  }
  return ReadStatus::kOk;  // the budget ran out first: in_ready_ stays
}

int Connection::WriteLocked() {
  AssertHeld(mu);
  int replies_done = 0;
  while (!send_queue_.empty() && fd_ >= 0) {
    iovec iov[kMaxIov];
    size_t count = 0;
    for (; count < send_queue_.size() && count < kMaxIov; ++count) {
      OutFrame& f = send_queue_[count];
      size_t skip = count == 0 ? send_offset_ : 0;
      iov[count].iov_base = f.bytes.data() + skip;
      iov[count].iov_len = f.bytes.size() - skip;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    ssize_t n = sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return -1;
    }
    bytes_written_ += static_cast<uint64_t>(n);
    CounterSet::Add(host_.counters.bytes_written, static_cast<uint64_t>(n));
    send_queue_bytes_ -= static_cast<size_t>(n);
    size_t left = static_cast<size_t>(n);
    while (left > 0) {
      OutFrame& f = send_queue_.front();
      size_t rest = f.bytes.size() - send_offset_;
      if (left < rest) {
        send_offset_ += left;
        break;
      }
      left -= rest;
      send_offset_ = 0;
      if (f.is_reply) {
        CountLocked(CallPhase::kReplyPending, -1);
        ++replies_done;
      }
      send_queue_.pop_front();
    }
  }
  NoteDrainLocked();
  return replies_done;
}

void Connection::FlushLocked() {
  if (closing_locked()) return;
  int replies = WriteLocked();
  if (replies < 0) MarkClosingLocked(CloseReason::kIoError);
  else CounterSet::Add(host_.counters.replies_written, static_cast<uint64_t>(replies));
}

void Connection::QueueLocked(std::vector<uint8_t> bytes, bool is_reply) {
  AssertHeld(mu);
  OutFrame f;
  f.bytes = std::move(bytes);
  f.is_reply = is_reply;
  if (is_reply) CountLocked(CallPhase::kReplyPending, +1);
  send_queue_bytes_ += f.bytes.size();
  send_queue_.push_back(std::move(f));
  NoteDrainLocked();
}

short Connection::WantedEventsLocked() const {
  if (closing_locked() || fd_ < 0) return 0;
  // A starved client, or one waiting for authorization, is not read, but a
  // peer that hangs up must still be noticed, or it would stay held: ask
  // for POLLRDHUP instead. One the application is closing is not read.
  short in = paused(kThrottled) || lifecycle_ == Lifecycle::kClosingAfterWrites ? 0
             : paused(kStarved) || paused(kAwaitingAuth)                      ? POLLRDHUP
                                                                              : POLLIN;
  return static_cast<short>(in | (send_queue_.empty() ? 0 : POLLOUT));
}

void Connection::SyncWatchLocked() {
  short want = WantedEventsLocked();
  if (want == watched_events_) return;
  // Edge-triggered, it is told of input and hang-ups whatever it asks for:
  // only POLLOUT (a write that could not finish) is worth telling the loop.
  if (watch_is_edge_ && ((want ^ watched_events_) & POLLOUT) == 0) {
    watched_events_ = want;
    return;
  }
  host_.loop.UpdateWatch(watch_, want);
  watched_events_ = want;
}

void Connection::CloseSocketLocked() {
  AssertHeld(mu);
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  for (size_t i = 0; i < send_queue_.size(); ++i) {
    if (send_queue_[i].is_reply) CountLocked(CallPhase::kReplyPending, -1);
  }
  send_queue_.clear();  // and its storage: a closed client sends nothing more
  send_offset_ = 0;
  send_queue_bytes_ = 0;
  NoteDrainLocked();
}

// ---- Pumping (loop thread) ------------------------------------------------------------------

// Write what is queued (which may free request slots), take the frames that
// may be taken, read if the socket is readable and the client is not paused,
// take again, write the PONGs and errors that produced, and set the watch.
void Connection::PumpLocked(bool readable, std::vector<Job>* calls) {
  AssertHeld(mu);
  if (closing_locked()) return;
  const ServerOptions& options = host_.options;
  const uint64_t read_before = bytes_read_;
  if (readable) in_ready_ = true;
  FlushLocked();
  TakeFramesLocked(calls);
  int64_t headroom = static_cast<int64_t>(options.max_buffered_bytes) - CounterSet::Signed(host_.counters.buffered_bytes);
  const bool may_read = in_ready_ && !closing_locked() && !paused(kThrottled) && !paused(kAwaitingAuth) &&
                        lifecycle_ != Lifecycle::kClosingAfterWrites;
  if (may_read && headroom <= 0 && !paused(kStarved)) {
    SetPause(kStarved, true);  // the server lists it (TakeStarveTicketLocked) and resumes it
    CounterSet::Add(host_.counters.clients_starved);
    CloseIfGoneWhileUnreadLocked();  // its hang-up, if already reported, will not be again
  }
  if (may_read && !paused(kStarved)) {
    // Never more than the room left (give or take one read chunk).
    size_t budget = std::min<size_t>(options.read_budget_bytes, static_cast<size_t>(headroom));
    ReadStatus status = ReadLocked(budget);
    TakeFramesLocked(calls);
    switch (status) {
      case ReadStatus::kOk:
        // Bytes may be left (the budget ran out): read on at the next pump,
        // with no rise reported for them.
        if (in_ready_) repump_ticket_ = true;
        break;
      case ReadStatus::kEof: MarkClosingLocked(CloseReason::kEof); break;
      case ReadStatus::kIoError: MarkClosingLocked(CloseReason::kIoError); break;
      case ReadStatus::kProtocol:
        host_.outbox.Log(id_, splitter_.error_message() + "; closing the connection");
        MarkClosingLocked(splitter_.error() == FrameError::kLengthAboveMaximum ? CloseReason::kLimit
                                                                                : CloseReason::kProtocol);
        break;
    }
  }
  FlushLocked();
  if (lifecycle_ == Lifecycle::kClosingAfterWrites && send_queue_bytes_ == 0) MarkClosingLocked(CloseReason::kHandler);
  // Writing the loop's own replies (errors) may have freed the slots a
  // queued CALL waits for: take and write until nothing more moves.
  while (!closing_locked() && paused(kThrottled) && OutstandingLocked() < options.max_requests_per_client) {
    TakeFramesLocked(calls);
    FlushLocked();
  }
  // A client that does not read what it is sent (PONGs to a flood of PINGs,
  // replies) may not make us hold it without bound.
  if (!closing_locked() &&
      send_queue_bytes_ > std::max<size_t>(options.max_send_queue_bytes, options.max_message_bytes + 4)) {
    host_.outbox.Log(id_, std::to_string(send_queue_bytes_) +
                              " bytes unsent, more than the send-queue bound; closing the connection");
    CounterSet::Add(host_.counters.send_queue_drops);
    MarkClosingLocked(CloseReason::kSendQueue);
  }
  if (closing_locked()) SetThrottledLocked(false);
  UpdateClocksLocked(read_before);
  AccountLocked();
  SyncWatchLocked();
}

// Takes complete frames in order until one is a CALL the client has no
// request slot for: that one stays queued, and with it everything behind it
// (a PING behind it is answered when a slot frees), and the client stops
// being read until then.
void Connection::TakeFramesLocked(std::vector<Job>* calls) {
  AssertHeld(mu);
  std::vector<uint8_t> frame;
  int64_t framed_us = 0;
  while (lifecycle_ == Lifecycle::kOpen) {
    const std::vector<uint8_t>* next = splitter_.Front();
    if (next == nullptr) break;
    Header h;
    HeaderDecodeResult decoded = DecodeHeader(next->data(), next->size(), &h);
    if (decoded.ok() && (h.type == kTypeCall || h.type == kTypeCallWithFds) &&
        OutstandingLocked() >= host_.options.max_requests_per_client) {
      SetThrottledLocked(true);
      return;
    }
    splitter_.Pop(&frame);
    if (!decoded.ok()) {
      host_.outbox.Log(id_, std::string(HeaderErrorText(decoded.error)) + "; closing the connection");
      MarkClosingLocked(CloseReason::kProtocol);
      return;
    }
    HandleFrameLocked(h, decoded.payload_offset, std::move(frame), calls, &framed_us);
  }
  SetThrottledLocked(false);
}

void Connection::HandleFrameLocked(const Header& h, size_t payload_offset, std::vector<uint8_t>&& frame,
                                   std::vector<Job>* calls, int64_t* framed_us) {
  AssertHeld(mu);
  CounterSet& counters = host_.counters;
  switch (h.type) {
    case kTypeCall:
    case kTypeCallWithFds: {
      CounterSet::Add(counters.calls_received);
      if (h.type == kTypeCallWithFds) {
        // Any descriptors that came with it were closed on receipt.
        ReplyErrorLocked(h, MakeRpcError("fd passing is not supported by this server"));
        return;
      }
      if (h.status != kStatusOk) {
        ReplyErrorLocked(h, UnexpectedStatusError(h.status));
        return;
      }
      if (host_.draining) {
        ReplyErrorLocked(h, ShuttingDownError());
        return;
      }
      RpcError error;
      const ProgramTable::Entry* handler = host_.programs.Find(h, &error);
      if (handler == nullptr) {
        ReplyErrorLocked(h, error);
        return;
      }
      Job job;
      job.client = ConnectionRef::Share(this);
      job.message.header = h;
      job.message.frame = std::move(frame);
      job.message.payload_offset = payload_offset;
      if (*framed_us == 0) *framed_us = MonotonicUs();
      job.message.received_us = *framed_us;
      job.handler = handler;
      // Made here, on the loop thread, which also drops the last reference
      // once the reply is written: the allocation and the free stay on one
      // thread (a worker making it cost a malloc there and a free across
      // threads per call).
      job.state = MakeRef<CallState>(h);
      CountLocked(CallPhase::kRead, +1);
      calls->push_back(std::move(job));
      return;
    }
    case kTypeMessage:
      if (IsKeepalivePing(h)) {
        QueueLocked(MakePongFrame(), /*is_reply=*/false);
        CounterSet::Add(counters.pings_answered);
        return;
      }
      if (IsKeepalivePong(h)) return;  // an answer to a PING of ours
      [[fallthrough]];
    case kTypeReply:
    case kTypeReplyWithFds:
    case kTypeStream:
    case kTypeStreamHole:
      // libvirtd drops these silently and keeps the connection; so do we.
      CounterSet::Add(counters.frames_dropped);
      host_.outbox.Log(id_, std::string("dropped unexpected ") + TypeName(h.type) + " frame (prog " +
                                std::to_string(h.prog) + " proc " + std::to_string(h.proc) + ")");
      return;
    default:
      host_.outbox.Log(id_, "frame of unknown type " + std::to_string(h.type) + "; closing the connection");
      MarkClosingLocked(CloseReason::kProtocol);
      return;
  }
}

void Connection::ReplyErrorLocked(const Header& call, const RpcError& error) {
  AssertHeld(mu);
  CounterSet::Add(host_.counters.error_replies);
  QueueLocked(EncodeErrorReply(call, error), /*is_reply=*/true);
}

void Connection::SetThrottledLocked(bool throttled) {
  AssertHeld(mu);
  if (paused(kThrottled) == throttled) return;
  SetPause(kThrottled, throttled);
  if (throttled) {
    CounterSet::Add(host_.counters.clients_throttled);
  } else {
    CounterSet::Sub(host_.counters.clients_throttled);
    // The clocks stood still while we were not reading: restart them.
    int64_t now = MonotonicMs();
    last_rx_ms_ = now;
    if (frame_started_ms_ >= 0) frame_started_ms_ = now;
  }
}

// Brings the server's buffered-bytes sum up to date with this client's
// receive and send buffers.
void Connection::AccountLocked() {
  AssertHeld(mu);
  size_t usage = splitter_.buffered_bytes() + send_queue_bytes_;
  int64_t delta = static_cast<int64_t>(usage) - static_cast<int64_t>(accounted_bytes_);
  accounted_bytes_ = usage;
  if (delta == 0) return;
  CounterSet& c = host_.counters;
  int64_t now = static_cast<int64_t>(c.buffered_bytes.fetch_add(static_cast<uint64_t>(delta), std::memory_order_relaxed)) + delta;
  if (now > 0) CounterSet::RaisePeak(c.buffered_bytes_peak, static_cast<uint64_t>(now));
}

// ---- Calls and commands (loop thread or a worker) ---------------------------------------------

bool Connection::QueueCallsLocked(uint32_t n) {
  AssertHeld(mu);
  // Into the new phase first (NoteDrainLocked).
  const bool open = !closing_locked();
  if (open) CountLocked(CallPhase::kWaiting, static_cast<int>(n));
  CountLocked(CallPhase::kRead, -static_cast<int>(n));
  return open;
}

RefPtr<CallState> Connection::ClaimCallLocked(RefPtr<CallState> state) {
  AssertHeld(mu);
  if (closing_locked()) {
    CountLocked(CallPhase::kWaiting, -1);
    return RefPtr<CallState>();
  }
  CountLocked(CallPhase::kDispatching, +1);  // into the new phase first
  CountLocked(CallPhase::kWaiting, -1);
  in_flight_.push_back(state);
  return state;
}

bool Connection::CancelQueuedCallLocked(const Header& h, const RpcError& error) {
  AssertHeld(mu);
  const bool open = !closing_locked();
  if (open) QueueLocked(EncodeErrorReply(h, error), /*is_reply=*/true);  // its reply first
  CountLocked(CallPhase::kWaiting, -1);
  return open;
}

uint64_t Connection::CancelInFlightLocked(const RpcError& error) {
  AssertHeld(mu);
  uint64_t cancelled = 0;
  for (auto& state : in_flight_) {
    state->answered_by_server = true;
    state->cancelled.store(true, std::memory_order_release);
    if (!closing_locked()) {
      QueueLocked(EncodeErrorReply(state->header, error), /*is_reply=*/true);  // its reply first
      ++cancelled;
    }
    CountLocked(CallPhase::kDispatching, -1);
  }
  in_flight_.clear();
  if (!closing_locked() && WriteLocked() < 0) MarkClosingLocked(CloseReason::kIoError);
  AccountLocked();
  return cancelled;
}

void Connection::QueueReplyLocked(std::vector<uint8_t> frame, CallState* call) {
  AssertHeld(mu);
  if (call != nullptr) {
    in_flight_.erase(std::remove_if(in_flight_.begin(), in_flight_.end(),
                                    [&](const RefPtr<CallState>& s) { return s.get() == call; }),
                     in_flight_.end());
    if (call->answered_by_server) {  // a shutdown deadline answered it
      CounterSet::Add(host_.counters.replies_dropped);
      return;
    }
  }
  if (closing_locked()) {
    CountLocked(CallPhase::kDispatching, -1);
    CounterSet::Add(host_.counters.replies_dropped);
    return;
  }
  QueueLocked(std::move(frame), /*is_reply=*/true);  // its reply first
  CountLocked(CallPhase::kDispatching, -1);
}

void Connection::QueueEventLocked(std::vector<uint8_t> frame) {
  AssertHeld(mu);
  if (closing_locked()) {
    CounterSet::Add(host_.counters.events_dropped);
    return;
  }
  CounterSet::Add(host_.counters.events_sent);
  QueueLocked(std::move(frame), /*is_reply=*/false);
}

void Connection::EnableKeepaliveLocked(uint32_t interval_ms, uint32_t count) {
  AssertHeld(mu);
  if (closing_locked()) return;
  int64_t now = MonotonicMs();
  keepalive_interval_ms_ = interval_ms;
  keepalive_count_ = count;
  last_rx_ms_ = now;
  last_ping_ms_ = -1;
  ScheduleTimerLocked(now);
}

bool Connection::AuthorizeLocked(bool allow) {
  AssertHeld(mu);
  if (closing_locked() || !paused(kAwaitingAuth)) return false;
  if (!allow) {
    MarkClosingLocked(CloseReason::kDenied);
    return false;
  }
  SetPause(kAwaitingAuth, false);
  // Its clocks start now: the wait was ours, not its silence.
  last_rx_ms_ = MonotonicMs();
  return true;
}

void Connection::CloseLocked(bool after_writes) {
  AssertHeld(mu);
  if (closing_locked()) return;
  if (!after_writes || send_queue_bytes_ == 0) {
    MarkClosingLocked(CloseReason::kHandler);
    return;
  }
  lifecycle_ = Lifecycle::kClosingAfterWrites;  // PumpLocked closes it once written
}

}  // namespace xdrd
