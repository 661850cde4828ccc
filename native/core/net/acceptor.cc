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

Acceptor::Acceptor(EventLoop& loop, RankedMutex& server_mu, CounterSet& counters, AdoptFn adopt, LogFn log,
                   AfterBurstFn after_burst)
    : loop_(loop),
      mu_(server_mu),
      counters_(counters),
      adopt_(std::move(adopt)),
      log_(std::move(log)),
      after_burst_(std::move(after_burst)) {}

void Acceptor::AddLocked(const ListenSocket& socket, ListenerOptions options) {
  AssertHeld(mu_);
  Listener l;
  l.socket = socket;
  l.options = options;
  l.id = next_listener_id_++;
  l.watch = loop_.AddWatch(socket.fd, below_limits_ ? POLLIN : 0,
                           [this](EventLoop::Id id, int fd, short) { OnReady(id, fd); });
  listeners_.push_back(std::move(l));
}

void Acceptor::OnReady(EventLoop::Id watch, int listen_fd) {
  {
    std::lock_guard<RankedMutex> lock(mu_);
    AcceptLocked(watch, listen_fd);
  }
  after_burst_();
}

void Acceptor::AcceptLocked(EventLoop::Id watch, int listen_fd) {
  AssertHeld(mu_);
  const Listener* listener = nullptr;
  for (const Listener& l : listeners_) {
    if (l.watch == watch) listener = &l;
  }
  if (listener == nullptr) return;  // closed meanwhile
  const int family = listener->socket.family;
  const ListenerOptions options = listener->options;
  const uint32_t listener_id = listener->id;
  for (int i = 0; i < kAcceptsPerTurn && below_limits_; ++i) {
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // The connection stays queued in the kernel and the listener stays
        // readable: without a pause poll() would spin on it. Try again at
        // the next tick of the back-off timer, or as soon as a client
        // leaves and frees a descriptor.
        CounterSet::Add(counters_.accept_failures);
        CounterSet::Add(counters_.accepts_paused);
        log_(std::string("accept: ") + std::strerror(errno) + "; pausing accepts for " +
             std::to_string(kAcceptPauseMs) + " ms");
        BackOffLocked(watch);
        break;
      }
      log_(std::string("accept: ") + std::strerror(errno));
      break;
    }
    PeerInfo peer = DescribePeer(fd, family);
    peer.read_only = options.read_only;
    peer.listener_id = listener_id;
    adopt_(fd, std::move(peer));  // may lower below_limits_ (and `listeners_` is untouched)
  }
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
  for (Listener& l : listeners_) loop_.UpdateWatch(l.watch, below_limits_ && !l.backing_off ? POLLIN : 0);
}

void Acceptor::CloseAllLocked() {
  AssertHeld(mu_);
  for (Listener& l : listeners_) {
    loop_.RemoveWatch(l.watch);
    close(l.socket.fd);
    // Only a path we created; an adopted socket's path belongs to whoever
    // made it (a service manager may hand it to the next process).
    if (l.socket.owns_path && !l.socket.path.empty()) unlink(l.socket.path.c_str());
  }
  listeners_.clear();
}

}  // namespace xdrd
