// acceptor.h — a server's listening sockets: accepting connections in
// bursts, each within a client slot reserved before its accept, so the
// server's client limits hold exactly; pausing at those limits, backing off
// while the process is out of descriptors, closing (and unlinking) at the
// end.
//
// Threads and locks
//   The loop thread accepts. A listener's callback is the one fd callback
//   that does I/O before it takes the server lock (DESIGN.md rule 4's
//   exception; THREADING.md, "Accepting"): per connection it reserves a
//   slot (ClientSlots, no lock), then accept4()s and reads the peer's
//   credentials with no lock held; then it takes the server lock once for
//   the whole burst, to hand the connections to the server. Every other
//   method ending in Locked needs the server lock, which the Acceptor
//   borrows from its server (the back-off timer's callback takes it
//   itself). While the loop runs only the loop thread closes a listening
//   descriptor, so the one a callback accepts on stays open under it.
//   Registering the watches and timers goes through the event loop, whose
//   lock callers need not think about.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/lock.h"
#include "loop/event_loop.h"
#include "net/listen_socket.h"
#include "net/peer.h"
#include "server/api_types.h"
#include "server/client_slots.h"
#include "server/counters.h"

namespace xdrd {

class Acceptor {
 public:
  // A connection accepted in a burst: non-blocking and close-on-exec, its
  // peer described, its client slot reserved.
  struct Accepted {
    int fd = -1;
    PeerInfo peer;
  };
  // Called once per burst, on the loop thread with the server lock held,
  // with what the burst accepted (possibly nothing): the server adopts each
  // fd, whose reserved slot becomes the client's, and then tells the
  // Acceptor whether it is below its limits (SetBelowLimitsLocked). The
  // server leaves `accepted` as it is; the Acceptor clears it.
  using AdoptFn = std::function<void(std::vector<Accepted>& accepted)>;
  // Called with a log line, with the server lock held (loop thread).
  using LogFn = std::function<void(std::string)>;
  // Called after a burst of accepts, with no lock held (loop thread): the
  // server delivers the connect notices before any new client is read.
  using AfterBurstFn = std::function<void()>;

  // `slots` is the server's; it outlives the Acceptor.
  Acceptor(EventLoop& loop, RankedMutex& server_mu, CounterSet& counters, ClientSlots& slots, AdoptFn adopt,
           LogFn log, AfterBurstFn after_burst);
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // The loop thread, or the owner while no loop runs; server lock. Watches
  // `socket` (which is the Acceptor's from now on) for connections.
  void AddLocked(const ListenSocket& socket, ListenerOptions options);
  // Server lock, any thread: whether the server is below its client limits;
  // listeners watch for connections only while it is, they are not backing
  // off and the Acceptor is not stopped. A hint to save wake-ups: the slots
  // are what bound the clients.
  void SetBelowLimitsLocked(bool below);
  bool accepting_locked() const { return below_limits_; }
  // Server lock, any thread: descriptors were freed (a client left): stop
  // backing off now.
  void EndBackOffLocked();
  // Server lock, any thread (Shutdown's owner thread while the loop runs):
  // stops accepting at once. No listener is watched any more, connections a
  // callback already running has accepted are closed instead of adopted,
  // and the UNIX paths the server created are removed. The descriptors stay
  // open, since the loop thread may be accepting on one with no lock held,
  // until CloseAllLocked.
  void StopLocked();
  // Server lock; the loop thread while it runs, else the owner thread:
  // closes every listener (stopping it first, if StopLocked has not) and
  // starts afresh: listeners added afterwards are watched.
  void CloseAllLocked();

 private:
  struct Listener {
    ListenSocket socket;
    ListenerOptions options;
    uint32_t id = 0;
    EventLoop::Id watch = 0;
    bool backing_off = false;  // accept() failed for want of fds: wait for a tick
  };

  // Loop thread, from the listener's watch, no lock held on entry: the
  // burst (reserve, accept, describe; no lock), then FinishBurstLocked.
  void OnReady(EventLoop::Id watch, int listen_fd, int family, ListenerOptions options, uint32_t listener_id);
  // Loop thread, server lock: hands the burst's connections to the server
  // (or closes them, if stopped), and deals with a failed accept.
  void FinishBurstLocked(EventLoop::Id watch, int failure);
  void BackOffLocked(EventLoop::Id watch);
  void UnlinkPathsLocked();
  void ApplyWatchesLocked();

  EventLoop& loop_;
  RankedMutex& mu_;  // the server lock
  CounterSet& counters_;
  ClientSlots& slots_;
  const AdoptFn adopt_;
  const LogFn log_;
  const AfterBurstFn after_burst_;
  std::vector<Listener> listeners_;  // [mu_]
  uint32_t next_listener_id_ = 1;    // [mu_]
  bool below_limits_ = true;         // [mu_]
  bool stopped_ = false;             // [mu_] StopLocked, until CloseAllLocked
  std::vector<Accepted> accepted_;   // loop thread: one burst's, empty between bursts
};

}  // namespace xdrd
