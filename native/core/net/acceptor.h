// acceptor.h — a server's listening sockets: accepting connections in
// bursts, pausing at the server's client limits, backing off while the
// process is out of descriptors, closing (and unlinking) at the end.
//
// Threads and locks
//   The loop thread accepts; every method ending in Locked needs the server
//   lock, which the Acceptor borrows from its server (the back-off timer's
//   callback takes it itself). Registering the watches and timers goes
//   through the event loop, whose lock callers need not think about.
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
#include "server/counters.h"

namespace xdrd {

class Acceptor {
 public:
  // Called for each connection accepted, with the server lock held: the
  // server adopts `fd` (it is non-blocking and close-on-exec).
  using AdoptFn = std::function<void(int fd, PeerInfo peer)>;
  // Called with a log line, with the server lock held (loop thread).
  using LogFn = std::function<void(std::string)>;
  // Called after a burst of accepts, with no lock held (loop thread): the
  // server delivers the connect notices before any new client is read.
  using AfterBurstFn = std::function<void()>;

  Acceptor(EventLoop& loop, RankedMutex& server_mu, CounterSet& counters, AdoptFn adopt, LogFn log,
           AfterBurstFn after_burst);
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // Watches `socket` (which is the Acceptor's from now on) for connections.
  void AddLocked(const ListenSocket& socket, ListenerOptions options);
  // Whether the server is below its client limits; listeners watch for
  // connections only while it is and they are not backing off.
  void SetBelowLimitsLocked(bool below);
  bool accepting_locked() const { return below_limits_; }
  // Descriptors were freed (a client left): stop backing off now.
  void EndBackOffLocked();
  // Closes every listener; removes the UNIX paths the server created.
  void CloseAllLocked();

 private:
  struct Listener {
    ListenSocket socket;
    ListenerOptions options;
    uint32_t id = 0;
    EventLoop::Id watch = 0;
    bool backing_off = false;  // accept() failed for want of fds: wait for a tick
  };

  // Loop thread, from the listener's watch.
  void OnReady(EventLoop::Id watch, int listen_fd);
  void AcceptLocked(EventLoop::Id watch, int listen_fd);
  void BackOffLocked(EventLoop::Id watch);
  void ApplyWatchesLocked();

  EventLoop& loop_;
  RankedMutex& mu_;  // the server lock
  CounterSet& counters_;
  const AdoptFn adopt_;
  const LogFn log_;
  const AfterBurstFn after_burst_;
  std::vector<Listener> listeners_;  // [mu_]
  uint32_t next_listener_id_ = 1;    // [mu_]
  bool below_limits_ = true;         // [mu_]
};

}  // namespace xdrd
