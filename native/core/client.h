// client.h — one connection: its socket, receive framing, send queue, call
// counts and reference count.
//
// Threads and locks
//   mu (rank "client") guards every field marked [mu]. It is taken only
//   while holding the server lock; once held, the server lock may be dropped
//   (THREADING.md). A thread holds at most one client lock.
//   Socket I/O (ReadLocked, FlushLocked) happens only on the loop thread.
//   Workers and the loop thread change the call counts and the send queue.
//   id() is immutable and readable without the lock.
//
// References
//   Every registration holds its own: the server's client list, the poll
//   watch, each queued job, each running call, each queued completion.
//   The last Unref() deletes the client on whatever thread drops it; the
//   destructor takes no lock.
//
// Closing
//   MarkClosingLocked() only marks; the loop thread reaps the client between
//   turns (removes its watch, closes the socket).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "event_loop.h"
#include "frame_splitter.h"
#include "live_counts.h"
#include "lock.h"
#include "message.h"
#include "refcount.h"

namespace xdrd {

enum class CloseReason : uint8_t {
  kNone = 0,
  kEof,          // the peer closed
  kIoError,      // read or write failed
  kProtocol,     // an unframeable stream or an undecodable header
  kServerClose,  // the server is stopping
  kKeepalive,    // no traffic for keepalive interval x (count + 1)
  kFrameTimeout, // a frame started and not finished in time
  kSendQueue,    // its unsent frames passed the per-client bound (it does not read)
  kLimit,        // it announced a frame larger than max_message_bytes
  kHandler,      // the application closed it (Server::ControlClient)
  kDenied,       // the application's authorization refused it
};

const char* CloseReasonName(CloseReason r);

enum class Transport : uint8_t { kUnix, kTcp };

// Who is on the other end; fixed at accept, readable without the lock.
struct PeerInfo {
  Transport transport = Transport::kUnix;
  // UNIX sockets: the peer's credentials (SO_PEERCRED) when the kernel gave them.
  bool has_credentials = false;
  uint32_t uid = 0, gid = 0;
  int32_t pid = 0;
  // TCP: the peer's numeric address and port.
  std::string address;
  uint16_t port = 0;
  // From the listener that accepted it.
  bool read_only = false;
  uint32_t listener_id = 0;
};

// How many of a client's calls are in each state.
struct CallCounts {
  uint32_t read = 0;           // READ: read, not yet queued for a worker
  uint32_t wait_dispatch = 0;  // WAIT_DISPATCH: in the job FIFO
  uint32_t dispatching = 0;    // DISPATCHING: a handler has it
  uint32_t reply_pending = 0;  // its reply is in the send queue
  uint32_t total() const { return read + wait_dispatch + dispatching + reply_pending; }
};

class Client : public RefCounted<Client> {
 public:
  Client(uint64_t id, int fd, uint32_t max_message_bytes, PeerInfo peer = {});
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  uint64_t id() const { return id_; }
  const PeerInfo& peer() const { return peer_; }

  enum class ReadStatus { kOk, kEof, kIoError, kProtocol };
  // Reads what the socket has (at most `budget` bytes, for fairness among
  // clients) into the frame splitter. Received descriptors are closed.
  // Loop thread.
  ReadStatus ReadLocked(std::vector<uint8_t>* scratch, size_t budget);
  // Writes as much of the send queue as the socket takes (vectored, resumed
  // after partial writes). Returns the number of reply frames it finished,
  // or -1 on a write error. Loop thread.
  int FlushLocked();
  // Appends a frame to the send queue (the loop writes it).
  void QueueLocked(std::vector<uint8_t> bytes, bool is_reply);
  // Marks the client for the loop thread to reap; the first reason wins.
  // Notes whether a frame was half read or calls were unanswered then.
  void MarkClosingLocked(CloseReason reason);
  // The poll events this client should be watched for now: POLLIN unless
  // closing, throttled or starved, POLLOUT while frames wait to be sent.
  short WantedEventsLocked() const;
  // Closes the socket and drops unsent frames. Loop thread, while reaping.
  void CloseSocketLocked();
  // Bytes waiting in the send queue.
  size_t queued_bytes() const { return send_queue_bytes_; }

  RankedMutex mu;

  // [mu]
  EventLoop::Id watch = 0;
  short watched_events = 0;  // what the watch was last set to
  bool closing = false;
  bool reap_queued = false;     // the server has it on its reap list
  bool throttled = false;       // a CALL waits for a free request slot: not read
  bool starved = false;         // the server's buffer bound is reached: not read
  bool starve_listed = false;   // on the server's list of starved clients
  bool awaiting_auth = false;   // the application has not authorized it yet: not read
  bool close_after_writes = false;  // close once the send queue is empty; not read
  size_t accounted_bytes = 0;   // what this client adds to the server's buffered bytes
  bool closed_mid_frame = false;
  bool closed_mid_call = false;
  CloseReason close_reason = CloseReason::kNone;
  CallCounts calls;
  FrameSplitter splitter;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint32_t fds_received = 0;  // descriptors that arrived (and were closed)
  // Calls a handler has (DISPATCHING), so a shutdown deadline can answer them.
  std::vector<RefPtr<CallState>> in_flight;

  // The client's one timer: keepalive and the partial-frame timeout. Times
  // are milliseconds on the monotonic clock.
  EventLoop::Id timer = 0;
  int64_t timer_due_ms = -1;      // what the timer is armed for; -1: disarmed
  int64_t last_rx_ms = 0;         // when bytes last arrived
  int64_t frame_started_ms = -1;  // when the frame in progress began; -1: none
  uint64_t frames_seen = 0;       // splitter.frames_completed() when last looked
  uint32_t keepalive_interval_ms = 0;  // 0: the server does not PING
  uint32_t keepalive_count = 0;
  int64_t last_ping_ms = -1;

 private:
  friend class RefCounted<Client>;
  ~Client();

  const uint64_t id_;
  const PeerInfo peer_;
  int fd_;                        // [mu]; -1 once closed
  std::deque<OutFrame> send_queue_;  // [mu]
  size_t send_offset_ = 0;        // [mu] bytes of the first frame already sent
  size_t send_queue_bytes_ = 0;   // [mu] unsent bytes in send_queue_
  LiveToken<live_detail::kClient> live_;
};

using ClientRef = RefPtr<Client>;

}  // namespace xdrd
