// acceptor.cc — see acceptor.h.
#include "net/acceptor.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace xdrd {

namespace {

// How many connections one readable listener accepts per turn, so a flood
// of connects cannot starve the clients already connected.
constexpr int kAcceptsPerTurn = 64;
// How long accepting pauses when the process is out of descriptors or memory.
constexpr int64_t kAcceptPauseMs = 100;

}  // namespace

Acceptor::Acceptor(EventLoop& loop, RankedMutex& server_mu, CounterSet& counters, ClientSlots& slots,
                   AdoptFn adopt, LogFn log, AfterBurstFn after_burst)
    : loop_(loop),
      mu_(server_mu),
      counters_(counters),
      slots_(slots),
      adopt_(std::move(adopt)),
      log_(std::move(log)),
      after_burst_(std::move(after_burst)) {
  accepted_.reserve(kAcceptsPerTurn);
}

void Acceptor::AddLocked(const ListenSocket& socket, ListenerOptions options) {
  AssertHeld(mu_);
  Listener l;
  l.socket = socket;
  l.options = options;
  l.id = next_listener_id_++;
  // What the callback needs before it holds the server lock travels with
  // it: fixed for the listener's life, so it reads nothing guarded by mu_.
  const int family = socket.family;
  const uint32_t id = l.id;
  l.watch = loop_.AddWatch(socket.fd, below_limits_ && !stopped_ ? POLLIN : 0,
                           [this, family, options, id](EventLoop::Id watch, int fd, short) {
                             OnReady(watch, fd, family, options, id);
                           });
  listeners_.push_back(std::move(l));
}

// No lock is held while accepting (rule 4's exception): the server lock is
// not held across accept4() and the credential lookup, which the workers
// and every other client would otherwise wait behind. The slot reserved
// before each accept4() is what keeps the limits exact without the lock:
// a connection is taken from the kernel only once the server has room for
// it, so one that arrives at the limit, mid-burst or not, stays in the
// backlog. `listen_fd` stays open meanwhile: while the loop runs only this
// thread closes listeners (CloseAllLocked).
void Acceptor::OnReady(EventLoop::Id watch, int listen_fd, int family, ListenerOptions options,
                       uint32_t listener_id) {
  int failure = 0;  // errno of an accept4() that failed for a reason other than "none left"
  for (int i = 0; i < kAcceptsPerTurn; ++i) {
    if (!slots_.Reserve()) break;  // at a limit: the rest wait in the backlog
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      slots_.CancelReservation();
      if (error == EINTR || error == ECONNABORTED) continue;
      if (error != EAGAIN && error != EWOULDBLOCK) failure = error;
      break;
    }
    Accepted a;
    a.fd = fd;
    a.peer = DescribePeer(fd, family);
    a.peer.read_only = options.read_only;
    a.peer.listener_id = listener_id;
    accepted_.push_back(std::move(a));
  }
  {
    std::lock_guard<RankedMutex> lock(mu_);
    FinishBurstLocked(watch, failure);
  }
  after_burst_();
}

void Acceptor::FinishBurstLocked(EventLoop::Id watch, int failure) {
  AssertHeld(mu_);
  if (stopped_) {
    // Shutdown began while we accepted: to the server these came after its
    // listeners closed. Their peers see the connection closed.
    for (Accepted& a : accepted_) {
      close(a.fd);
      slots_.CancelReservation();
    }
    accepted_.clear();
  }
  if (failure == EMFILE || failure == ENFILE || failure == ENOBUFS || failure == ENOMEM) {
    // The connection stays queued in the kernel and the listener stays
    // readable: without a pause the loop would spin on it. Try again at
    // the next tick of the back-off timer, or as soon as a client leaves
    // and frees a descriptor.
    CounterSet::Add(counters_.accept_failures);
    CounterSet::Add(counters_.accepts_paused);
    log_(std::string("accept: ") + std::strerror(failure) + "; pausing accepts for " +
         std::to_string(kAcceptPauseMs) + " ms");
    BackOffLocked(watch);
  } else if (failure != 0) {
    log_(std::string("accept: ") + std::strerror(failure));
  }
  // Even with nothing accepted: a burst cut short by a full slot count has
  // the server recheck its limits, so the listener stops being watched.
  adopt_(accepted_);
  accepted_.clear();
}

void Acceptor::BackOffLocked(EventLoop::Id watch) {
  AssertHeld(mu_);
  for (Listener& l : listeners_) {
    if (l.watch != watch || l.backing_off) continue;
    l.backing_off = true;
    loop_.UpdateWatch(watch, 0);
    loop_.AddTimer(kAcceptPauseMs, 0, [this, watch](EventLoop::Id self) {
      loop_.RemoveTimer(self);
      std::lock_guard<RankedMutex> timer_lock(mu_);
      for (Listener& backing : listeners_) {
        if (backing.watch == watch && backing.backing_off) {
          backing.backing_off = false;
          CounterSet::Add(counters_.accept_retries);
        }
      }
      ApplyWatchesLocked();
    });
  }
}

void Acceptor::SetBelowLimitsLocked(bool below) {
  AssertHeld(mu_);
  if (!below && below_limits_) CounterSet::Add(counters_.accepts_paused);
  below_limits_ = below;
  ApplyWatchesLocked();
}

void Acceptor::EndBackOffLocked() {
  AssertHeld(mu_);
  for (Listener& l : listeners_) l.backing_off = false;
  ApplyWatchesLocked();
}

void Acceptor::ApplyWatchesLocked() {
  const short events = below_limits_ && !stopped_ ? POLLIN : 0;
  for (Listener& l : listeners_) loop_.UpdateWatch(l.watch, l.backing_off ? 0 : events);
}

void Acceptor::StopLocked() {
  AssertHeld(mu_);
  stopped_ = true;
  ApplyWatchesLocked();
  UnlinkPathsLocked();
}

void Acceptor::UnlinkPathsLocked() {
  for (Listener& l : listeners_) {
    // Only a path we created; an adopted socket's path belongs to whoever
    // made it (a service manager may hand it to the next process). Once:
    // the path may be someone else's by the time the descriptor closes.
    if (l.socket.owns_path && !l.socket.path.empty()) unlink(l.socket.path.c_str());
    l.socket.owns_path = false;
  }
}

void Acceptor::CloseAllLocked() {
  AssertHeld(mu_);
  UnlinkPathsLocked();
  for (Listener& l : listeners_) {
    loop_.RemoveWatch(l.watch);
    close(l.socket.fd);
  }
  listeners_.clear();
  stopped_ = false;
}

}  // namespace xdrd
