// server.h — the daemon core: handler registration, the lifecycle (start,
// shutdown), the loop thread's main function, the client list and reaping.
// Its parts: Connection (one client), Dispatcher (job FIFO and workers),
// CommandQueue (requests from other threads), Acceptor (listeners), Outbox
// (notices and logs). THREADING.md states the rules; each method below
// says which thread calls it and which lock it needs.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/idle_core.h"
#include "base/lock.h"
#include "loop/event_loop.h"
#include "net/acceptor.h"
#include "net/listen_socket.h"
#include "server/api_types.h"
#include "server/call.h"
#include "server/client_slots.h"
#include "server/commands.h"
#include "server/connection.h"
#include "server/counters.h"
#include "server/dispatch.h"
#include "server/outbox.h"
#include "server/programs.h"

namespace xdrd {

class Server {
 public:
  // Owner thread.
  explicit Server(ServerOptions options = {});
  ~Server();  // Stop()s first
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Owner thread, before Start(): registration. A procedure handler wins
  // over the program's catch-all. A program with no handler for a procedure
  // answers "unknown procedure: N"; an unregistered (program, version)
  // answers "Cannot find program P version V". Returns false (and registers
  // nothing) while the server runs.
  bool Handle(uint32_t prog, uint32_t vers, int32_t proc, Handler handler, HandlerTraits traits = {});
  bool HandleProgram(uint32_t prog, uint32_t vers, Handler catch_all, HandlerTraits traits = {});

  static constexpr size_t kMaxQuickRun = Dispatcher::kMaxQuickRun;

  // Owner thread, any time (before, during or after a run): listeners.
  // Failures come back in the result's error and message; the server is
  // unchanged. ListenFd adopts a listening socket the process inherited
  // (socket activation); on failure the descriptor stays the caller's, on
  // success it is the server's. While the loop runs, the listener is handed
  // to the loop thread, which starts watching it at its next turn.
  ListenSocket ListenUnix(const std::string& path, mode_t mode = 0600, ListenerOptions options = {});
  ListenSocket ListenTcp(const std::string& host = "127.0.0.1", uint16_t port = 0,
                         ListenerOptions options = {});
  ListenSocket ListenFd(int fd, ListenerOptions options = {});

  // Any thread holding no xdrd lock (a handler, the application): asks
  // something of client `id` (ClientControl). Applied in order with the
  // replies the same thread gives: a reply and then an event reach the
  // wire in that order. On a worker of this server it is applied at once;
  // from any other thread it is queued, and the loop thread finds the
  // client by id. A client that has gone by then is skipped (an event for
  // it counts in events_dropped). False only when nothing was queued: id 0
  // (never a client), an event whose frame would exceed max_message_bytes,
  // or a server stopped after a run.
  bool ControlClient(uint64_t id, ClientControl control);

  // Owner thread: starts the loop thread, which starts the workers. False
  // (with *error set) if already running, or if XDRD_EVENT_BACKEND names no
  // backend. Never from a handler.
  bool Start(std::string* error = nullptr);
  // Owner thread (never a handler): graceful stop; returns when every
  // thread is joined. At once: listeners stop accepting (UNIX paths are
  // removed); the loop thread closes their descriptors at its next turn.
  // Until every call is answered and written, or `deadline_ms` passes:
  // clients are still read, PINGs answered, queued jobs still start, and
  // each new CALL gets the error "server is shutting down" (code 1, domain
  // RPC). At the deadline every unanswered call gets that error and its
  // cancel flag (Call::cancelled) is set; a handler's later answer is
  // dropped. Then what can be written is written, clients are closed,
  // threads joined. A handler that never returns blocks this (poll
  // Call::cancelled()). Calling it again returns the first result; the
  // server may Start() again afterwards (listeners must be opened again).
  ShutdownResult Shutdown(uint32_t deadline_ms);
  void Stop() { Shutdown(0); }
  // Any thread, while another thread is inside Shutdown(): brings its
  // deadline forward to at most `deadline_ms` from now. No effect otherwise.
  void ShortenShutdown(uint32_t deadline_ms);

  // Any thread: the backend the loop waits in (the option, or
  // XDRD_EVENT_BACKEND).
  EventBackend event_backend() const { return loop_.backend(); }

  // Any thread, no lock taken: a snapshot of the counters (counters.h).
  ServerCounters Counters() const { return counters_.Snapshot(); }

  // Any thread: whether this server's loop thread is running now. The lock
  // checker uses it (lock.h, JsThreadScope).
  bool LoopRunning() const { return loop_running_.load(std::memory_order_acquire); }

  // Any thread: the event loop's work counts (tests, benchmarks).
  EventLoop::Stats LoopStats() const { return loop_.stats(); }

  // The server whose worker the calling thread is, if it answers through
  // `commands` (Call uses it); null otherwise.
  static Server* WorkerServerOf(const CommandQueue* commands) { return Dispatcher::WorkerServerOf(commands); }

 private:
  friend class Call;

  // Owner thread, or the loop thread applying a ListenerRequest.
  void AddListener(const ListenSocket& s, ListenerOptions options);

  // Loop thread.
  void LoopThreadMain();
  void BetweenTurnsLocked();
  int RunTurn(int timeout_ms, bool busy_poll);
  void AdoptLocked(std::vector<Acceptor::Accepted>& accepted);  // server lock (Acceptor, once per burst)
  void AdoptOneLocked(int fd, PeerInfo peer);   // server lock
  void UpdateAcceptingLocked();                 // server lock
  void ServiceClient(Connection& c, short revents, bool timer_fired);
  void UnlockAndSettle(Connection& c, std::vector<Job>* calls, bool authorized);
  void ReapClosedClientsLocked();               // server lock
  void ResumeStarvedLocked();                   // server lock
  void FinishRun(std::unique_lock<RankedMutex>& lock);

  // server_commands.cc: what other threads ask, applied by the loop thread or, on
  // a worker of this server, at once (server lock, then the client lock).
  void OnCommands();                            // loop thread, no lock
  void ResolveCommandsLocked(std::vector<Command>* commands);  // loop thread, server lock
  void ApplyFromWorker(Command& item);          // worker, no lock
  size_t PumpListedClients(std::unique_lock<RankedMutex>& lock);  // loop thread, server lock
  bool ListForPumpLocked(Connection& c);  // any server thread, server lock

  // shutdown.cc; loop thread, server lock.
  bool DrainedLocked();
  void AnswerOutstandingLocked();
  void CloseAllLocked();

  const ServerOptions options_;
  ProgramTable programs_;  // frozen while running
  mutable CounterSet counters_;

  mutable RankedMutex mu_{LockRank::kServer, "server"};
  bool running_ = false;                 // [mu_]
  bool draining_ = false;                // [mu_] Shutdown() has begun
  int64_t deadline_ms_ = 0;              // [mu_] when draining ends
  ShutdownResult result_;                // [mu_] of the last shutdown
  uint64_t unauthenticated_ = 0;         // [mu_] clients accepted, not yet authorized
  uint64_t next_client_id_ = 1;          // [mu_] never reused
  std::unordered_map<uint64_t, ConnectionRef> clients_;  // [mu_] by id
  std::vector<Connection*> to_reap_;     // [mu_] closing; clients_ keeps them alive
  std::vector<uint64_t> starved_ids_;    // [mu_] clients waiting for buffer room
  std::vector<ConnectionRef> to_pump_;   // [mu_] a worker applied a command to them (listed_for_pump)

  std::atomic<int64_t> undrained_connections_{0};  // ConnectionHost::undrained_connections
  std::string backend_error_;            // a bad XDRD_EVENT_BACKEND; Start() fails with it
  EventLoop loop_;
  RefPtr<CommandQueue> commands_;
  EventLoop::Id command_watch_ = 0;
  Outbox outbox_;                        // loop thread (owner thread once it ends)
  bool loop_draining_ = false;           // loop thread: a copy of draining_, taken between turns
  std::vector<uint8_t> read_scratch_;    // loop thread
  // loop thread: the calls one ServiceClient framed, kept between calls so
  // its capacity is reused (empty between uses; moved-from after queuing).
  std::vector<Job> service_calls_;
  const ConnectionHost host_;
  Dispatcher dispatcher_;                // [mu_]
  // max_clients and max_unauthenticated_clients as slots: the loop thread
  // reserves one, no lock held, before each accept; a client holds its slot
  // until it is reaped (and its unauthenticated one until its verdict),
  // released under mu_. clients_.size() and unauthenticated_ never exceed
  // what is taken here.
  ClientSlots slots_;
  Acceptor acceptor_;                    // [mu_]
  IdleCoreProbe idle_core_;              // loop thread (RunTurn)
  // Loop thread (OnCommands): scratch kept for its capacity.
  std::vector<Command> taken_commands_;
  std::vector<ListenerRequest> taken_listeners_;
  std::vector<size_t> command_order_;
  std::vector<ConnectionRef> pumping_;   // loop thread (PumpListedClients): to_pump_, taken
  std::deque<Job> cancelled_jobs_;       // loop thread: answered at the deadline, dropped unlocked

  std::thread loop_thread_;              // owner thread
  std::atomic<bool> loop_running_{false};  // set by the owner at Start, cleared by the loop at its end
};

}  // namespace xdrd
