// server.h — the daemon core: listeners, clients, the job FIFO, the worker
// pthreads and the loop thread, under qemud's threading rules.
//
// Threads
//   owner thread   constructs, registers handlers, Listen*, Start, Stop,
//                  destroys. Handle*/HandleProgram only before Start.
//   loop thread    "xdrd-loop": poll(); accept; read and frame; answers
//                  PING and protocol errors itself; writes replies; reaps
//                  closed clients.
//   workers        "xdrd-worker-N": pop a job (or a run of quick ones),
//                  run its handler.
//   any thread     completes a Call (see call.h); Counters(); Listen*.
//
// Locks (THREADING.md)
//   mu_ is the server lock, the top of the order. It guards the fields marked
//   [mu_]. The loop thread holds it between turns of the event loop and
//   drops it for the whole turn (poll() and dispatch); every fd callback
//   takes it first, then a client's lock, then drops it before any I/O.
//   Jobs are pushed with mu_ held; job_cv_ is signalled with mu_ held, once
//   per loop turn (not per job), only when a worker is idle and no signal
//   is already on its way. Handlers run with no lock held.
//   The event loop's and the completion queue's locks are leaf locks.
//
// References
//   The client list, each poll watch, each queued job, each Call and each
//   queued completion hold a reference on their client (client.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "call.h"
#include "client.h"
#include "completion_queue.h"
#include "event_loop.h"
#include "idle_core.h"
#include "listen_socket.h"
#include "lock.h"
#include "message.h"

namespace xdrd {

// Runs on a worker thread with no lock held. It must answer the Call, now or
// later, from any thread (call.h).
using Handler = std::function<void(Call call)>;

// How a handler behaves, which decides how the workers share its calls.
struct HandlerTraits {
  // The handler never blocks: it answers at once, or hands the Call to
  // another thread and returns (the addon's JS bridge does). A worker that
  // pops a quick call also pops the quick calls queued right behind it (up
  // to kMaxQuickRun) and runs them back to back, and no other worker is
  // woken for them. A handler that may block must not say so: its calls are
  // taken one at a time, and a worker that takes one while more wait wakes
  // another, so slow calls still spread over the pool.
  bool quick = false;
};

// A record of what the loop dropped, refused or paused.
struct LogRecord {
  uint64_t client_id = 0;  // the client it concerns; 0: the server itself
  std::string message;
};

// A client arrived or left. Delivered in batches, in the order they
// happened: a client's connect before anything else about it, its
// disconnect last.
struct ClientNotice {
  enum class Kind : uint8_t { kConnect, kDisconnect };
  Kind kind = Kind::kConnect;
  uint64_t client_id = 0;
  PeerInfo peer;                              // kConnect
  CloseReason reason = CloseReason::kNone;    // kDisconnect
};

// Per-listener settings.
struct ListenerOptions {
  // Passed to the client (PeerInfo::read_only) for the application to
  // enforce; the core itself treats read-only clients like any other.
  bool read_only = false;
};

// What the application may ask of a client by id, from any thread
// (Server::ControlClient).
struct ClientControl {
  enum class Kind : uint8_t { kAuthorize, kClose, kKeepalive, kEvent };
  Kind kind = Kind::kClose;
  bool allow = false;         // kAuthorize
  bool after_writes = false;  // kClose: let what is already queued be written first
  uint32_t keepalive_interval_ms = 0, keepalive_count = 0;  // kKeepalive
  // kEvent: a MESSAGE frame with this header's prog, vers, proc (serial 0,
  // status OK) and this XDR-encoded body.
  uint32_t prog = 0, vers = 0;
  int32_t proc = 0;
  std::vector<uint8_t> body;
};

struct ServerOptions {
  int workers = 5;  // libvirtd's min_workers
  // Calls a client may have outstanding (read and not yet answered on the
  // wire). At the limit its socket is not read until a reply is written, so
  // the kernel pushes back on the sender. libvirtd's max_client_requests.
  uint32_t max_requests_per_client = 5;
  uint32_t max_message_bytes = kDefaultMaxMessageBytes;
  int listen_backlog = 512;
  // Connected clients at most; at the limit accepting pauses (connections
  // wait in the kernel's backlog) and resumes when one leaves.
  // libvirtd's max_clients.
  uint32_t max_clients = 5000;
  // Unsent bytes one client may have queued; past it the client is closed
  // (it is not reading). At least one full message always fits.
  size_t max_send_queue_bytes = 64u << 20;
  // Bytes held in receive and send buffers, summed over all clients. At the
  // bound no client is read (it is "starved") until the sum falls below
  // three quarters of it; a starved client's half-read frame still times
  // out, so the bound cannot wedge the server. Counts bytes held; vector
  // capacity adds at most as much again plus 4 KiB per client.
  size_t max_buffered_bytes = 256u << 20;
  // Bytes read from one client per turn before the loop moves on, so one
  // busy client cannot starve the others.
  size_t read_budget_bytes = 256 * 1024;
  // A frame started and not finished within this closes its client (the
  // clock stops while the server itself is not reading the client).
  uint32_t frame_timeout_ms = 30000;
  // Log sink for what the loop drops or refuses. Called on the loop thread
  // with no lock held, at most `log_burst` times per second; the rest are
  // counted in Counters::log_suppressed. Null: no logging.
  std::function<void(const LogRecord&)> log;
  int log_burst = 10;
  // Client arrivals and departures, in batches, on the loop thread with no
  // lock held. Null: none.
  std::function<void(std::vector<ClientNotice>&)> on_clients;
  // When set, a new client is not read until ControlClient(kAuthorize)
  // settles it: allowed, it is read; denied, it is closed (kDenied)
  // without a byte of it read.
  bool require_authorization = false;
  // Clients accepted and not yet authorized, at most; at the bound
  // accepting pauses, as at max_clients. libvirtd's max_anonymous_clients.
  uint32_t max_unauthenticated_clients = 20;
  // After a turn of the event loop that did something, the loop thread
  // polls without sleeping for up to this many microseconds before it
  // sleeps in poll(), but only while no runnable thread waits for a core
  // (idle_core.h). A reply or a call that arrives meanwhile is taken
  // without a wake-up of the loop thread (about 12 us each on a VM).
  // 0: never spin.
  uint32_t busy_poll_us = 50;
};

// A snapshot; every field is read from an atomic or under the server lock.
struct ServerCounters {
  uint64_t clients_accepted = 0;
  uint64_t clients_closed = 0;
  uint64_t clients_live = 0;
  uint64_t closed_mid_frame = 0;  // closed while a frame was half read
  uint64_t closed_mid_call = 0;   // closed with calls read and not answered
  uint64_t clients_throttled = 0; // now: at their request budget, not read
  uint64_t calls_received = 0;
  uint64_t calls_dispatched = 0;  // handed to a handler
  uint64_t replies_written = 0;   // fully written to the socket
  uint64_t replies_dropped = 0;   // answered after their client had gone
  uint64_t error_replies = 0;     // protocol errors answered by the loop
  uint64_t frames_dropped = 0;    // MESSAGE/REPLY/STREAM frames nobody expects
  uint64_t pings_answered = 0;
  uint64_t pings_sent = 0;        // server-side keepalive
  uint64_t keepalive_drops = 0;   // clients closed for keepalive silence
  uint64_t frame_timeouts = 0;    // clients closed for a frame left unfinished
  uint64_t send_queue_drops = 0;  // clients closed for not reading their replies
  uint64_t accepts_paused = 0;    // times accepting paused (client limit or no fds)
  uint64_t accept_failures = 0;   // accept() calls that failed for want of fds/memory
  uint64_t accept_retries = 0;    // back-off timer ticks after such a failure
  uint64_t calls_read = 0;        // now, summed over clients: READ
  uint64_t calls_waiting = 0;     //   WAIT_DISPATCH
  uint64_t calls_dispatching = 0; //   DISPATCHING
  uint64_t calls_reply_pending = 0; // reply queued, not yet written
  uint64_t workers_busy = 0;      // running a job (a worker still starting is neither busy nor idle)
  uint64_t buffered_bytes = 0;     // now: receive + send buffers, all clients
  uint64_t buffered_bytes_peak = 0;
  uint64_t clients_starved = 0;    // now: not read because of max_buffered_bytes
  uint64_t fds_closed = 0;        // descriptors received and closed
  uint64_t handler_exceptions = 0;
  uint64_t log_suppressed = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t jobs_queued = 0;
  uint64_t workers_idle = 0;
  uint64_t clients_unauthenticated = 0;  // now: waiting for authorization
  uint64_t clients_denied = 0;    // closed because authorization refused them
  uint64_t events_sent = 0;       // MESSAGE frames queued by ControlClient
  uint64_t events_dropped = 0;    // ... for a client that was already closing
};

// What a shutdown did; a second Shutdown()/Stop() returns the first's.
struct ShutdownResult {
  bool drained = false;          // every call answered and written before the deadline
  uint64_t calls_cancelled = 0;  // answered with the shutdown error at the deadline
  uint64_t clients_closed = 0;   // connections closed at the end
};

class Server {
 public:
  explicit Server(ServerOptions options = {});
  ~Server();  // Stop()s first
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registration, before Start(). A procedure handler wins over the
  // program's catch-all. A program with no handler for a procedure answers
  // "unknown procedure: N"; an unregistered (program, version) answers
  // "Cannot find program P version V".
  // Returns false (and registers nothing) while the server runs.
  bool Handle(uint32_t prog, uint32_t vers, int32_t proc, Handler handler, HandlerTraits traits = {});
  bool HandleProgram(uint32_t prog, uint32_t vers, Handler catch_all, HandlerTraits traits = {});

  // The most quick calls one worker takes at once (HandlerTraits).
  static constexpr size_t kMaxQuickRun = 64;

  // Listeners, any time (before or after Start). Failures come back in the
  // result's error and message; the server is unchanged. ListenFd adopts a
  // listening socket the process inherited (socket activation); on failure
  // the descriptor stays the caller's, on success it is the server's.
  ListenSocket ListenUnix(const std::string& path, mode_t mode = 0600, ListenerOptions options = {});
  ListenSocket ListenTcp(const std::string& host = "127.0.0.1", uint16_t port = 0,
                         ListenerOptions options = {});
  ListenSocket ListenFd(int fd, ListenerOptions options = {});

  // Any thread holding no xdrd lock (a handler, the application): asks
  // something of client `id` (see ClientControl). Applied in order with
  // the replies the same thread gives: a reply and then an event reach the
  // wire in that order. False if no such client is connected, or if an
  // event's frame would exceed max_message_bytes.
  bool ControlClient(uint64_t id, ClientControl control);

  // Starts the loop thread, which starts the workers. False (with *error
  // set) if already running. Start and Stop belong to the owner thread and
  // must not be called from a handler.
  bool Start(std::string* error = nullptr);
  // Graceful stop, from the owner thread; returns when every thread is
  // joined. At once: listeners close (UNIX paths are removed). Until every
  // call is answered and written, or `deadline_ms` passes: clients are still
  // read, PINGs answered, queued jobs still start, and each new CALL gets
  // the error "server is shutting down" (code 1, domain RPC). At the
  // deadline every unanswered call gets that error and its cancel flag
  // (Call::cancelled) is set; a handler's later answer is dropped. Then
  // what can be written is written, clients are closed, threads joined. A
  // handler that never returns blocks this (poll Call::cancelled()).
  // Calling it again returns the first result; the server may Start()
  // again afterwards (listeners must be opened again).
  ShutdownResult Shutdown(uint32_t deadline_ms);
  // Shutdown(0): unanswered calls get the shutdown error at once.
  void Stop() { Shutdown(0); }
  // Any thread, while another thread is inside Shutdown(): brings its
  // deadline forward to at most `deadline_ms` from now (the process is
  // exiting and cannot wait out the grace period). No effect otherwise.
  void ShortenShutdown(uint32_t deadline_ms);

  ServerCounters Counters() const;

 private:
  friend class Call;

  struct Registered {
    Handler fn;
    HandlerTraits traits;
  };
  struct Program {
    std::unordered_map<int32_t, Registered> procedures;
    Registered catch_all;
  };
  struct Job {
    ClientRef client;
    Message message;
    const Registered* handler = nullptr;
    LiveToken<live_detail::kJob> live;
  };
  static_assert(std::is_nothrow_move_constructible_v<Job>, "a Job must move without throwing (live_counts.h)");
  struct Listener {
    ListenSocket socket;
    ListenerOptions options;
    uint32_t id = 0;
    EventLoop::Id watch = 0;
    bool backing_off = false;  // accept() failed for want of fds: wait for a tick
  };
  // What applying a completion changed beyond its client.
  struct ApplyEffects {
    bool authorized = false;  // a client left the unauthenticated count
  };

  static bool IsWorkerOf(const Server* server);  // is this thread one of its workers?
  void AddListener(const ListenSocket& s, ListenerOptions options);
  PeerInfo DescribePeerLocked(const Listener& l, int fd);

  // Loop thread.
  void LoopThreadMain();
  void OnListenerReady(EventLoop::Id watch, int listen_fd);
  void AcceptLocked(EventLoop::Id watch, int listen_fd);
  void QueueJobsLocked(Client& c, std::vector<Job>* calls);
  void OnClientEvent(Client* client, short revents);
  void PumpClientLocked(Client& c, bool readable, std::vector<Job>* calls);
  void TakeFramesLocked(Client& c, std::vector<Job>* calls);
  void SetThrottledLocked(Client& c, bool throttled);
  void AccountLocked(Client& c);
  void ResumeStarvedLocked();
  void OnCompletions();
  void HandleFrameLocked(Client& c, const Header& h, size_t payload_offset,
                         std::vector<uint8_t>&& frame, std::vector<Job>* calls);
  void ReplyErrorLocked(Client& c, const Header& call, const RpcError& error);
  void ReapClosedClientsLocked();
  void CloseAllLocked();
  bool DrainedLocked();
  void AnswerOutstandingLocked();
  void UpdateAcceptingLocked();
  void CloseListenersLocked();
  void Log(uint64_t client_id, std::string message);
  // Hands the logs and client notices gathered under locks to their sinks.
  // Loop thread, no lock held.
  void FlushLogs();

  // Workers.
  void WorkerMain(int index);
  void RunJob(Job& job, RefPtr<CallState> state);

  // What a Call asks (completion_queue.h), from a worker of this server
  // (server lock, then the client lock) or, via the completion queue, on the
  // loop thread.
  void ApplyFromWorker(Completion& item);
  void ApplyLocked(Client& c, Completion& item, ApplyEffects* effects);
  void Push(Completion& item);

  // The client's timer (keepalive, partial frame), loop thread.
  void OnClientTimer(Client* client);
  void ServiceClient(Client& c, short revents, bool timer_fired);
  void CheckClocksLocked(Client& c, int64_t now);
  void ScheduleTimerLocked(Client& c, int64_t now);

  const Registered* FindHandler(const Header& h, RpcError* error) const;
  int RunTurn(int timeout_ms, bool busy_poll);
  void WakeWorkerLocked();

  const ServerOptions options_;
  std::map<std::pair<uint32_t, uint32_t>, Program> programs_;  // frozen at Start

  mutable RankedMutex mu_{LockRank::kServer, "server"};
  CondVar job_cv_;       // signalled with mu_ held
  std::deque<Job> jobs_;                 // [mu_] the FIFO
  IdleCoreProbe idle_core_;              // loop thread only (RunTurn)
  // Loop thread only (OnCompletions): scratch kept for its capacity.
  std::vector<Completion> taken_completions_;
  std::vector<size_t> completion_order_;
  int idle_workers_ = 0;                 // [mu_] waiting on job_cv_
  int busy_workers_ = 0;                 // [mu_] between taking a job and coming back for the next
  // [mu_] job_cv_ signals not yet taken by a waking worker: at most one
  // (WakeWorkerLocked).
  int wakes_pending_ = 0;
  bool running_ = false;                 // [mu_]
  bool stop_ = false;                    // [mu_]
  bool draining_ = false;                // [mu_] Shutdown() has begun
  int64_t deadline_ms_ = 0;              // [mu_] when draining ends
  ShutdownResult result_;                // [mu_] of the last shutdown
  bool accepting_ = true;                // [mu_] below max_clients and max_unauthenticated_clients
  uint64_t unauthenticated_ = 0;         // [mu_] clients accepted, not yet authorized
  uint32_t next_listener_id_ = 1;        // [mu_]
  std::vector<uint64_t> starved_ids_;    // [mu_] clients waiting for buffer room
  uint64_t next_client_id_ = 1;          // [mu_] never reused
  std::unordered_map<uint64_t, ClientRef> clients_;  // [mu_] by id
  std::vector<Client*> to_reap_;         // [mu_] closing; clients_ keeps them alive
  std::vector<Listener> listeners_;      // [mu_]
  std::vector<std::thread> workers_;     // [mu_] started by the loop thread

  EventLoop loop_;
  std::thread loop_thread_;              // owner thread only
  RefPtr<CompletionQueue> completions_;
  EventLoop::Id completion_watch_ = 0;

  // Loop-thread scratch.
  bool loop_draining_ = false;  // a copy of draining_, taken between turns
  std::vector<uint8_t> read_scratch_;
  std::vector<LogRecord> pending_logs_;  // emitted once no lock is held
  std::vector<ClientNotice> pending_notices_;
  int64_t log_window_start_ms_ = 0;
  int log_in_window_ = 0;

  struct AtomicCounters {
    std::atomic<uint64_t> clients_accepted{0}, clients_closed{0}, closed_mid_frame{0},
        closed_mid_call{0}, clients_throttled{0}, calls_received{0}, calls_dispatched{0}, replies_written{0},
        replies_dropped{0}, error_replies{0}, frames_dropped{0}, pings_answered{0},
        pings_sent{0}, keepalive_drops{0}, frame_timeouts{0}, send_queue_drops{0},
        accepts_paused{0}, accept_failures{0}, accept_retries{0},
        fds_closed{0}, handler_exceptions{0}, log_suppressed{0}, bytes_read{0},
        bytes_written{0}, clients_denied{0}, events_sent{0}, events_dropped{0};
  };
  mutable AtomicCounters counters_;
  std::atomic<int64_t> buffered_bytes_{0};
  std::atomic<int64_t> buffered_peak_{0};
  std::atomic<int64_t> clients_starved_{0};
};

}  // namespace xdrd
