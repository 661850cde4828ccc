// server.cc — see server.h for which thread runs what and which lock it
// needs. Functions ending in Locked expect the lock their comment names
// (checked in debug builds by lock.h).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  // POLLRDHUP
#endif
#include "server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <functional>

namespace xdrd {

namespace {

// The server whose worker the current thread is, if any.
thread_local const Server* t_worker_of = nullptr;

// How many connections one readable listener accepts per turn, so a flood
// of connects cannot starve the clients already connected.
constexpr int kAcceptsPerTurn = 64;
// How long accept pauses when the process is out of descriptors or memory.
constexpr int64_t kAcceptPauseMs = 100;

int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t MonotonicUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
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

bool Server::IsWorkerOf(const Server* server) { return server != nullptr && t_worker_of == server; }

Server::Server(ServerOptions options)
    : options_(std::move(options)), completions_(MakeRef<CompletionQueue>()) {
  read_scratch_.resize(64 * 1024);
  completion_watch_ = loop_.AddWatch(completions_->fd(), POLLIN,
                                     [this](EventLoop::Id, int, short) { OnCompletions(); });
}

Server::~Server() {
  Stop();
  {
    std::lock_guard<RankedMutex> lock(mu_);
    CloseListenersLocked();  // opened but never started
  }
  loop_.RemoveWatch(completion_watch_);
  // Late answers of calls that outlive us are refused from now on.
  std::vector<Completion> leftovers;
  completions_->Close(&leftovers);
}

// ---- Registration and lifecycle (owner thread) --------------------------------

bool Server::Handle(uint32_t prog, uint32_t vers, int32_t proc, Handler handler, HandlerTraits traits) {
  std::lock_guard<RankedMutex> lock(mu_);
  if (running_) return false;
  programs_[{prog, vers}].procedures[proc] = Registered{std::move(handler), traits};
  return true;
}

bool Server::HandleProgram(uint32_t prog, uint32_t vers, Handler catch_all, HandlerTraits traits) {
  std::lock_guard<RankedMutex> lock(mu_);
  if (running_) return false;
  programs_[{prog, vers}].catch_all = Registered{std::move(catch_all), traits};
  return true;
}

ListenSocket Server::ListenUnix(const std::string& path, mode_t mode, ListenerOptions options) {
  ListenSocket s = xdrd::ListenUnix(path, mode, options_.listen_backlog);
  if (s.ok()) AddListener(s, options);
  return s;
}

ListenSocket Server::ListenTcp(const std::string& host, uint16_t port, ListenerOptions options) {
  ListenSocket s = xdrd::ListenTcp(host, port, options_.listen_backlog);
  if (s.ok()) AddListener(s, options);
  return s;
}

ListenSocket Server::ListenFd(int fd, ListenerOptions options) {
  ListenSocket s = xdrd::AdoptListenSocket(fd);
  if (s.ok()) AddListener(s, options);
  return s;
}

void Server::AddListener(const ListenSocket& s, ListenerOptions options) {
  std::lock_guard<RankedMutex> lock(mu_);
  Listener l;
  l.socket = s;
  l.options = options;
  l.id = next_listener_id_++;
  l.watch = loop_.AddWatch(s.fd, accepting_ ? POLLIN : 0, [this](EventLoop::Id id, int fd, short) {
    OnListenerReady(id, fd);
  });
  listeners_.push_back(std::move(l));
}

bool Server::Start(std::string* error) {
  {
    std::lock_guard<RankedMutex> lock(mu_);
    if (running_) {
      if (error) *error = "the server is already running";
      return false;
    }
    running_ = true;
    stop_ = false;
    accepting_ = true;
  }
  completions_->Open();
  loop_thread_ = std::thread([this] { LoopThreadMain(); });
  return true;
}

ShutdownResult Server::Shutdown(uint32_t deadline_ms) {
  {
    std::lock_guard<RankedMutex> lock(mu_);
    if (!running_) return result_;
    if (!draining_) {
      draining_ = true;
      deadline_ms_ = MonotonicMs() + deadline_ms;
      result_ = ShutdownResult{};
      CloseListenersLocked();
    }
  }
  loop_.Wake();
  loop_thread_.join();
  std::lock_guard<RankedMutex> lock(mu_);
  running_ = false;
  draining_ = false;
  return result_;
}

bool Server::ControlClient(uint64_t id, ClientControl control) {
  Completion item;
  {
    std::lock_guard<RankedMutex> lock(mu_);
    auto it = clients_.find(id);
    if (it == clients_.end()) return false;
    item.client = it->second;
  }
  switch (control.kind) {
    case ClientControl::Kind::kAuthorize:
      item.kind = Completion::Kind::kAuthorize;
      item.allow = control.allow;
      break;
    case ClientControl::Kind::kClose:
      item.kind = Completion::Kind::kClose;
      item.after_writes = control.after_writes;
      break;
    case ClientControl::Kind::kKeepalive:
      item.kind = Completion::Kind::kKeepalive;
      item.keepalive_interval_ms = control.keepalive_interval_ms;
      item.keepalive_count = control.keepalive_count;
      break;
    case ClientControl::Kind::kEvent: {
      Header h;
      h.prog = control.prog;
      h.vers = control.vers;
      h.proc = control.proc;
      h.type = kTypeMessage;
      h.serial = 0;  // events never use up a serial
      h.status = kStatusOk;
      item.kind = Completion::Kind::kEvent;
      size_t start = BeginFrame(&item.frame, h);
      item.frame.insert(item.frame.end(), control.body.begin(), control.body.end());
      if (!FinishFrame(&item.frame, start, options_.max_message_bytes)) return false;
      break;
    }
  }
  Push(item);
  return true;
}

// From a worker of this server the item is applied at once, as its replies
// are; from any other thread it goes through the completion queue, as its
// replies do. Either way one thread's items keep their order.
void Server::Push(Completion& item) {
  if (IsWorkerOf(this)) {
    ApplyFromWorker(item);
    return;
  }
  completions_->Push(item);  // refused while the server is stopped: `item` drops it
}

void Server::ShortenShutdown(uint32_t deadline_ms) {
  {
    std::lock_guard<RankedMutex> lock(mu_);
    if (!draining_) return;
    deadline_ms_ = std::min<int64_t>(deadline_ms_, MonotonicMs() + deadline_ms);
  }
  loop_.Wake();
}

ServerCounters Server::Counters() const {
  ServerCounters s;
  s.clients_accepted = counters_.clients_accepted.load();
  s.clients_closed = counters_.clients_closed.load();
  s.closed_mid_frame = counters_.closed_mid_frame.load();
  s.closed_mid_call = counters_.closed_mid_call.load();
  s.clients_throttled = counters_.clients_throttled.load();
  s.calls_received = counters_.calls_received.load();
  s.calls_dispatched = counters_.calls_dispatched.load();
  s.replies_written = counters_.replies_written.load();
  s.replies_dropped = counters_.replies_dropped.load();
  s.error_replies = counters_.error_replies.load();
  s.frames_dropped = counters_.frames_dropped.load();
  s.pings_answered = counters_.pings_answered.load();
  s.pings_sent = counters_.pings_sent.load();
  s.keepalive_drops = counters_.keepalive_drops.load();
  s.frame_timeouts = counters_.frame_timeouts.load();
  s.fds_closed = counters_.fds_closed.load();
  s.handler_exceptions = counters_.handler_exceptions.load();
  s.log_suppressed = counters_.log_suppressed.load();
  s.bytes_read = counters_.bytes_read.load();
  s.bytes_written = counters_.bytes_written.load();
  s.send_queue_drops = counters_.send_queue_drops.load();
  s.accepts_paused = counters_.accepts_paused.load();
  s.accept_failures = counters_.accept_failures.load();
  s.accept_retries = counters_.accept_retries.load();
  s.buffered_bytes = static_cast<uint64_t>(buffered_bytes_.load());
  s.buffered_bytes_peak = static_cast<uint64_t>(buffered_peak_.load());
  s.clients_starved = static_cast<uint64_t>(clients_starved_.load());
  std::lock_guard<RankedMutex> lock(mu_);
  s.clients_live = clients_.size();
  s.jobs_queued = jobs_.size();
  s.workers_idle = static_cast<uint64_t>(idle_workers_);
  s.workers_busy = static_cast<uint64_t>(busy_workers_);
  s.clients_unauthenticated = unauthenticated_;
  s.clients_denied = counters_.clients_denied.load();
  s.events_sent = counters_.events_sent.load();
  s.events_dropped = counters_.events_dropped.load();
  for (const auto& [id, client] : clients_) {
    std::lock_guard<RankedMutex> client_lock(client->mu);
    s.calls_read += client->calls.read;
    s.calls_waiting += client->calls.wait_dispatch;
    s.calls_dispatching += client->calls.dispatching;
    s.calls_reply_pending += client->calls.reply_pending;
  }
  return s;
}

// ---- Loop thread ----------------------------------------------------------------

void Server::LoopThreadMain() {
  LiveToken<live_detail::kThread> live;
  pthread_setname_np(pthread_self(), "xdrd-loop");
  std::unique_lock<RankedMutex> lock(mu_);
  // The workers start while we hold the server lock; they block on it until
  // the first turn releases it.
  wakes_pending_ = 0;
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this, i] { WorkerMain(i); });
  loop_draining_ = false;
  bool active = false;  // the last turn ran a callback
  for (;;) {
    WakeWorkerLocked();  // for the jobs this turn queued
    if (!to_reap_.empty()) ReapClosedClientsLocked();
    if (!starved_ids_.empty()) ResumeStarvedLocked();
    int timeout = -1;
    const bool draining_now = draining_;
    if (draining_) {
      loop_draining_ = true;
      int64_t left = deadline_ms_ - MonotonicMs();
      if (DrainedLocked()) {
        result_.drained = true;
        break;
      }
      if (left <= 0) {
        AnswerOutstandingLocked();
        break;
      }
      timeout = static_cast<int>(std::min<int64_t>(left, 24 * 3600 * 1000));
    }
    lock.unlock();
    FlushLogs();  // what reaping noted, before poll() may sleep
    active = RunTurn(timeout, active && !draining_now) > 0;
    FlushLogs();
    lock.lock();
  }
  stop_ = true;
  job_cv_.NotifyAll();
  result_.clients_closed = clients_.size();
  CloseAllLocked();
  std::vector<std::thread> workers = std::move(workers_);
  workers_.clear();
  lock.unlock();
  for (auto& t : workers) t.join();

  // Jobs no worker took: their clients are closed; drop them.
  std::deque<Job> unstarted;
  lock.lock();
  unstarted.swap(jobs_);
  lock.unlock();
  unstarted.clear();
  // One more turn runs the free step of every watch removed above (dropping
  // the clients' watch references) and drops late completions.
  loop_.RunOnce(0);
  FlushLogs();
  // Answers that come later (a JS handler finishing after close()) are
  // refused and dropped by whoever gives them, so a stopped server holds
  // no client until it starts again or is destroyed.
  std::vector<Completion> late;
  completions_->Close(&late);
  late.clear();
}

// Who is on the other end of a freshly accepted `fd`.
PeerInfo Server::DescribePeerLocked(const Listener& l, int fd) {
  AssertHeld(mu_);
  PeerInfo peer;
  peer.read_only = l.options.read_only;
  peer.listener_id = l.id;
  if (l.socket.family == AF_UNIX) {
    peer.transport = Transport::kUnix;
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof cred) {
      peer.has_credentials = true;
      peer.uid = cred.uid;
      peer.gid = cred.gid;
      peer.pid = cred.pid;
    }
    return peer;
  }
  peer.transport = Transport::kTcp;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    char text[INET6_ADDRSTRLEN] = "";
    if (addr.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&addr);
      inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
      peer.port = ntohs(a->sin_port);
    } else if (addr.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
      inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
      peer.port = ntohs(a->sin6_port);
    }
    peer.address = text;
  }
  return peer;
}

void Server::OnListenerReady(EventLoop::Id watch, int listen_fd) {
  {
    std::lock_guard<RankedMutex> lock(mu_);
    AcceptLocked(watch, listen_fd);
  }
  FlushLogs();  // the connect notices, before any of these clients is read
}

void Server::AcceptLocked(EventLoop::Id watch, int listen_fd) {
  AssertHeld(mu_);
  const Listener* listener = nullptr;
  for (const Listener& l : listeners_) {
    if (l.watch == watch) listener = &l;
  }
  if (listener == nullptr) return;  // closed meanwhile
  for (int i = 0; i < kAcceptsPerTurn && accepting_; ++i) {
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // The connection stays queued in the kernel and the listener stays
        // readable: without a pause poll() would spin on it. Try again at
        // the next tick of the back-off timer, or as soon as a client
        // leaves and frees a descriptor.
        counters_.accept_failures.fetch_add(1, std::memory_order_relaxed);
        counters_.accepts_paused.fetch_add(1, std::memory_order_relaxed);
        Log(0, std::string("accept: ") + std::strerror(errno) + "; pausing accepts for " +
            std::to_string(kAcceptPauseMs) + " ms");
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
                counters_.accept_retries.fetch_add(1, std::memory_order_relaxed);
              }
            }
            UpdateAcceptingLocked();
          });
        }
        break;
      }
      Log(0, std::string("accept: ") + std::strerror(errno));
      break;
    }
    ClientRef client =
        MakeRef<Client>(next_client_id_++, fd, options_.max_message_bytes, DescribePeerLocked(*listener, fd));
    Client* raw = client.get();
    {
      std::lock_guard<RankedMutex> client_lock(raw->mu);
      raw->awaiting_auth = options_.require_authorization;
      short want = raw->WantedEventsLocked();
      raw->Ref();  // the watch's reference, dropped by its free function
      raw->watch = loop_.AddWatch(
          fd, want, [this, raw](EventLoop::Id, int, short revents) { OnClientEvent(raw, revents); },
          [raw] { raw->Unref(); });
      raw->watched_events = want;
      raw->Ref();  // the timer's reference, dropped by its free function
      raw->timer = loop_.AddTimer(
          -1, 0, [this, raw](EventLoop::Id) { OnClientTimer(raw); }, [raw] { raw->Unref(); });
      raw->last_rx_ms = MonotonicMs();
    }
    if (options_.on_clients) {
      ClientNotice notice;
      notice.kind = ClientNotice::Kind::kConnect;
      notice.client_id = raw->id();
      notice.peer = raw->peer();
      pending_notices_.push_back(std::move(notice));
    }
    if (options_.require_authorization) ++unauthenticated_;
    clients_.emplace(raw->id(), std::move(client));
    counters_.clients_accepted.fetch_add(1, std::memory_order_relaxed);
    UpdateAcceptingLocked();
  }
}

// Listeners watch for connections only while the server is below
// max_clients and max_unauthenticated_clients and they are not backing off
// after running out of fds.
void Server::UpdateAcceptingLocked() {
  AssertHeld(mu_);
  bool below_limit = clients_.size() < options_.max_clients &&
                     (!options_.require_authorization || unauthenticated_ < options_.max_unauthenticated_clients);
  if (!below_limit && accepting_) counters_.accepts_paused.fetch_add(1, std::memory_order_relaxed);
  accepting_ = below_limit;
  for (Listener& l : listeners_) loop_.UpdateWatch(l.watch, accepting_ && !l.backing_off ? POLLIN : 0);
}

void Server::OnClientEvent(Client* client, short revents) {
  ServiceClient(*client, revents, false);
}

void Server::OnClientTimer(Client* client) { ServiceClient(*client, 0, true); }

// Loop thread, in a callback of the client's watch or timer (which hold the
// references that keep it alive here). Server lock, then the client lock,
// then only the client lock for the I/O; the server lock again at the end to
// queue jobs and reaping.
void Server::ServiceClient(Client& c, short revents, bool timer_fired) {
  std::vector<Job> calls;
  bool reap = false;
  bool readable = (revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0;

  mu_.lock();
  c.mu.lock();
  mu_.unlock();
  // Only a starved client or one awaiting authorization is watched for
  // POLLRDHUP: it is gone, and what it sent last will never be read. Close
  // it, so what it holds is freed (and poll() does not spin on its hang-up).
  if ((revents & (POLLRDHUP | POLLHUP | POLLERR)) && (c.starved || c.awaiting_auth))
    c.MarkClosingLocked(CloseReason::kEof);
  if (timer_fired) {
    c.timer_due_ms = -1;  // a one-shot: it is disarmed now
    if (!c.closing) CheckClocksLocked(c, MonotonicMs());
  }
  if (!c.closing) PumpClientLocked(c, readable, &calls);
  if (c.closing && !c.reap_queued) {
    c.reap_queued = true;
    reap = true;
  }
  bool list_starved = c.starved && !c.starve_listed && !c.closing;
  if (list_starved) c.starve_listed = true;
  c.mu.unlock();

  if (!calls.empty() || reap || list_starved) {
    std::lock_guard<RankedMutex> lock(mu_);
    if (reap) to_reap_.push_back(&c);
    if (list_starved) starved_ids_.push_back(c.id());
    if (!calls.empty()) QueueJobsLocked(c, &calls);
  }
  // Calls of a client that closed meanwhile are dropped here, with no lock
  // held (the last client reference may go with them).
  calls.clear();
  FlushLogs();
}

// Loop thread, no lock held: one turn of the event loop. After a turn that
// did something, the next is likely soon (a handler's answer, the client's
// next call): while no thread waits for a core, poll without sleeping for up to
// busy_poll_us first, so it is taken without a wake-up. Returns the
// callbacks run, as EventLoop::RunOnce.
int Server::RunTurn(int timeout_ms, bool busy_poll) {
  if (busy_poll && options_.busy_poll_us > 0 && timeout_ms != 0) {
    const int64_t start = MonotonicUs();
    if (idle_core_.CoreIdle(start)) {
      const int64_t until = start + options_.busy_poll_us;
      do {
        bool woken = false;
        int ran = loop_.RunOnce(0, &woken);
        // A Wake() (Shutdown, a stop) must reach LoopThreadMain's checks:
        // this turn took it from the eventfd, and no later poll() would see it.
        if (ran != 0 || woken) return ran;
      } while (MonotonicUs() < until);
    }
  }
  return loop_.RunOnce(timeout_ms);
}

// The keepalive and partial-frame rules, when the client's timer fires.
// While the server withholds POLLIN (throttled) both clocks stand still:
// silence the server caused is not the client's.
void Server::CheckClocksLocked(Client& c, int64_t now) {
  AssertHeld(c.mu);
  if (c.throttled) return;
  if (c.frame_started_ms >= 0 && now - c.frame_started_ms >= options_.frame_timeout_ms) {
    Log(c.id(), "frame not finished within " + std::to_string(options_.frame_timeout_ms) +
                    " ms; closing the connection");
    counters_.frame_timeouts.fetch_add(1, std::memory_order_relaxed);
    c.MarkClosingLocked(CloseReason::kFrameTimeout);
    return;
  }
  if (c.keepalive_interval_ms == 0) return;
  if (c.starved) {
    c.last_rx_ms = now;  // we are the ones not reading: not the client's silence
    return;
  }
  const int64_t interval = c.keepalive_interval_ms;
  if (now - c.last_rx_ms >= interval * (int64_t{c.keepalive_count} + 1)) {
    Log(c.id(), "keepalive timeout; closing the connection");
    counters_.keepalive_drops.fetch_add(1, std::memory_order_relaxed);
    c.MarkClosingLocked(CloseReason::kKeepalive);
    return;
  }
  if (now - std::max(c.last_rx_ms, c.last_ping_ms) >= interval) {
    c.QueueLocked(MakePingFrame(), /*is_reply=*/false);
    c.last_ping_ms = now;
    counters_.pings_sent.fetch_add(1, std::memory_order_relaxed);
  }
}

// Arms the client's timer for its next deadline. It is only ever moved
// earlier here; a timer that fires before anything is due just re-arms.
void Server::ScheduleTimerLocked(Client& c, int64_t now) {
  AssertHeld(c.mu);
  if (c.closing || c.throttled) return;
  int64_t next = -1;
  auto consider = [&](int64_t t) {
    if (next < 0 || t < next) next = t;
  };
  if (c.frame_started_ms >= 0) consider(c.frame_started_ms + options_.frame_timeout_ms);
  if (c.keepalive_interval_ms > 0) {
    const int64_t interval = c.keepalive_interval_ms;
    consider(std::max(c.last_rx_ms, c.last_ping_ms) + interval);
    consider(c.last_rx_ms + interval * (int64_t{c.keepalive_count} + 1));
  }
  if (next < 0 || (c.timer_due_ms >= 0 && c.timer_due_ms <= next)) return;
  loop_.UpdateTimer(c.timer, std::max<int64_t>(0, next - now), 0);
  c.timer_due_ms = next;
}

// All the I/O one client needs now, on the loop thread: write what is
// queued (which may free request slots), take the frames that may be taken,
// read if the socket is readable and the client is not throttled, take
// again, write the PONGs and errors that produced, and set the watch.
void Server::PumpClientLocked(Client& c, bool readable, std::vector<Job>* calls) {
  AssertHeld(c.mu);
  uint64_t read_before = c.bytes_read, fds_before = c.fds_received,
           written_before = c.bytes_written;
  auto flush = [&] {
    if (c.closing) return;
    int replies = c.FlushLocked();
    if (replies < 0) c.MarkClosingLocked(CloseReason::kIoError);
    else counters_.replies_written.fetch_add(static_cast<uint64_t>(replies), std::memory_order_relaxed);
  };
  flush();
  TakeFramesLocked(c, calls);
  int64_t headroom = static_cast<int64_t>(options_.max_buffered_bytes) -
                     buffered_bytes_.load(std::memory_order_relaxed);
  const bool may_read = readable && !c.closing && !c.throttled && !c.awaiting_auth && !c.close_after_writes;
  if (may_read && headroom <= 0 && !c.starved) {
    c.starved = true;  // ServiceClient lists it; ResumeStarvedLocked reads it again
    clients_starved_.fetch_add(1, std::memory_order_relaxed);
  }
  if (may_read && !c.starved) {
    // Never more than the room left (give or take one read chunk).
    size_t budget = std::min<size_t>(options_.read_budget_bytes, static_cast<size_t>(headroom));
    Client::ReadStatus status = c.ReadLocked(&read_scratch_, budget);
    // Counted before anything is answered, so a peer that sees the answer
    // sees the counters that led to it.
    counters_.bytes_read.fetch_add(c.bytes_read - read_before, std::memory_order_relaxed);
    counters_.fds_closed.fetch_add(c.fds_received - fds_before, std::memory_order_relaxed);
    TakeFramesLocked(c, calls);
    switch (status) {
      case Client::ReadStatus::kOk: break;
      case Client::ReadStatus::kEof: c.MarkClosingLocked(CloseReason::kEof); break;
      case Client::ReadStatus::kIoError: c.MarkClosingLocked(CloseReason::kIoError); break;
      case Client::ReadStatus::kProtocol:
        Log(c.id(), c.splitter.error_message() + "; closing the connection");
        c.MarkClosingLocked(c.splitter.error() == FrameError::kLengthAboveMaximum ? CloseReason::kLimit
                                                                                : CloseReason::kProtocol);
        break;
    }
  }
  flush();
  if (!c.closing && c.close_after_writes && c.queued_bytes() == 0) c.MarkClosingLocked(CloseReason::kHandler);
  // Writing the loop's own replies (errors) may have freed the slots a
  // queued CALL waits for: take and write until nothing more moves.
  while (!c.closing && c.throttled && c.calls.total() < options_.max_requests_per_client) {
    TakeFramesLocked(c, calls);
    flush();
  }
  // A client that does not read what it is sent (PONGs to a flood of PINGs,
  // replies) may not make us hold it without bound.
  if (!c.closing &&
      c.queued_bytes() > std::max<size_t>(options_.max_send_queue_bytes, options_.max_message_bytes + 4)) {
    Log(c.id(), std::to_string(c.queued_bytes()) + " bytes unsent, more than the send-queue bound; closing the connection");
    counters_.send_queue_drops.fetch_add(1, std::memory_order_relaxed);
    c.MarkClosingLocked(CloseReason::kSendQueue);
  }
  counters_.bytes_written.fetch_add(c.bytes_written - written_before, std::memory_order_relaxed);
  if (c.closing) SetThrottledLocked(c, false);

  // Clocks. Anything received counts as life for keepalive (libvirt resets
  // on a whole frame; a partial one is bounded by the frame timeout). A
  // throttled client's clocks restart when it is read again.
  int64_t now = MonotonicMs();
  if (c.bytes_read != read_before) c.last_rx_ms = now;
  if (!c.splitter.mid_frame()) {
    c.frame_started_ms = -1;
  } else if (c.frame_started_ms < 0 || c.frames_seen != c.splitter.frames_completed()) {
    c.frame_started_ms = now;  // a new frame began
  }
  c.frames_seen = c.splitter.frames_completed();
  ScheduleTimerLocked(c, now);
  AccountLocked(c);
  short want = c.WantedEventsLocked();
  if (want != c.watched_events) {
    loop_.UpdateWatch(c.watch, want);
    c.watched_events = want;
  }
}

// Takes complete frames in order until one is a CALL the client has no
// request slot for: that one stays queued, and with it everything behind it
// (a PING behind it is answered when a slot frees), and the client stops
// being read until then.
void Server::TakeFramesLocked(Client& c, std::vector<Job>* calls) {
  AssertHeld(c.mu);
  std::vector<uint8_t> frame;
  while (!c.closing && !c.close_after_writes) {
    const std::vector<uint8_t>* next = c.splitter.Front();
    if (next == nullptr) break;
    Header h;
    HeaderDecodeResult decoded = DecodeHeader(next->data(), next->size(), &h);
    if (decoded.ok() && (h.type == kTypeCall || h.type == kTypeCallWithFds) &&
        c.calls.total() >= options_.max_requests_per_client) {
      SetThrottledLocked(c, true);
      return;
    }
    c.splitter.Pop(&frame);
    if (!decoded.ok()) {
      Log(c.id(), std::string(HeaderErrorText(decoded.error)) + "; closing the connection");
      c.MarkClosingLocked(CloseReason::kProtocol);
      return;
    }
    HandleFrameLocked(c, h, decoded.payload_offset, std::move(frame), calls);
  }
  SetThrottledLocked(c, false);
}

// Brings the server's buffered-bytes sum up to date with this client's
// receive and send buffers.
void Server::AccountLocked(Client& c) {
  AssertHeld(c.mu);
  size_t usage = c.splitter.buffered_bytes() + c.queued_bytes();
  int64_t delta = static_cast<int64_t>(usage) - static_cast<int64_t>(c.accounted_bytes);
  c.accounted_bytes = usage;
  if (delta == 0) return;
  int64_t now = buffered_bytes_.fetch_add(delta, std::memory_order_relaxed) + delta;
  int64_t peak = buffered_peak_.load(std::memory_order_relaxed);
  while (now > peak && !buffered_peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

// Between turns, loop thread: once the buffers have drained to three
// quarters of the bound, starved clients are read again.
void Server::ResumeStarvedLocked() {
  AssertHeld(mu_);
  if (buffered_bytes_.load(std::memory_order_relaxed) >
      static_cast<int64_t>(options_.max_buffered_bytes / 4 * 3))
    return;
  for (uint64_t id : starved_ids_) {
    auto it = clients_.find(id);
    if (it == clients_.end()) continue;
    Client& c = *it->second;
    std::lock_guard<RankedMutex> client_lock(c.mu);
    c.starve_listed = false;
    if (!c.starved) continue;
    c.starved = false;
    clients_starved_.fetch_sub(1, std::memory_order_relaxed);
    short want = c.WantedEventsLocked();
    if (want != c.watched_events) {
      loop_.UpdateWatch(c.watch, want);
      c.watched_events = want;
    }
  }
  starved_ids_.clear();
}

void Server::SetThrottledLocked(Client& c, bool throttled) {
  AssertHeld(c.mu);
  if (c.throttled == throttled) return;
  c.throttled = throttled;
  if (throttled) {
    counters_.clients_throttled.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters_.clients_throttled.fetch_sub(1, std::memory_order_relaxed);
    // The clocks stood still while we were not reading: restart them.
    int64_t now = MonotonicMs();
    c.last_rx_ms = now;
    if (c.frame_started_ms >= 0) c.frame_started_ms = now;
  }
}

void Server::QueueJobsLocked(Client& c, std::vector<Job>* calls) {
  AssertHeld(mu_);
  std::lock_guard<RankedMutex> client_lock(c.mu);
  c.calls.read -= static_cast<uint32_t>(calls->size());
  if (c.closing) return;
  for (Job& job : *calls) jobs_.push_back(std::move(job));
  c.calls.wait_dispatch += static_cast<uint32_t>(calls->size());
  // No signal here: the loop signals once between turns, for all the jobs
  // of the turn (WakeWorkerLocked). Busy workers come back for more anyway.
  calls->clear();
}

// Server lock; the loop thread between turns, and a worker that leaves jobs
// behind. One signal at a time: the worker it wakes takes the front of the
// FIFO and passes the baton on if work is left, so a burst of calls costs a
// wake-up or two, not one per call (a futex each).
void Server::WakeWorkerLocked() {
  AssertHeld(mu_);
  if (jobs_.empty() || idle_workers_ == 0 || wakes_pending_ > 0) return;
  ++wakes_pending_;
  job_cv_.NotifyOne();
}

void Server::HandleFrameLocked(Client& c, const Header& h, size_t payload_offset,
                               std::vector<uint8_t>&& frame, std::vector<Job>* calls) {
  AssertHeld(c.mu);
  switch (h.type) {
    case kTypeCall:
    case kTypeCallWithFds: {
      counters_.calls_received.fetch_add(1, std::memory_order_relaxed);
      if (h.type == kTypeCallWithFds) {
        // Any descriptors that came with it were closed on receipt.
        ReplyErrorLocked(c, h, MakeRpcError("fd passing is not supported by this server"));
        return;
      }
      if (h.status != kStatusOk) {
        ReplyErrorLocked(c, h, UnexpectedStatusError(h.status));
        return;
      }
      if (loop_draining_) {
        ReplyErrorLocked(c, h, ShuttingDownError());
        return;
      }
      RpcError error;
      const Registered* handler = FindHandler(h, &error);
      if (handler == nullptr) {
        ReplyErrorLocked(c, h, error);
        return;
      }
      Job job;
      job.client = ClientRef::Share(&c);
      job.message.header = h;
      job.message.frame = std::move(frame);
      job.message.payload_offset = payload_offset;
      job.message.received_us = MonotonicUs();
      job.handler = handler;
      ++c.calls.read;
      calls->push_back(std::move(job));
      return;
    }
    case kTypeMessage:
      if (IsKeepalivePing(h)) {
        c.QueueLocked(MakePongFrame(), /*is_reply=*/false);
        counters_.pings_answered.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      if (IsKeepalivePong(h)) return;  // an answer to a PING of ours
      [[fallthrough]];
    case kTypeReply:
    case kTypeReplyWithFds:
    case kTypeStream:
    case kTypeStreamHole:
      // libvirtd drops these silently and keeps the connection; so do we.
      counters_.frames_dropped.fetch_add(1, std::memory_order_relaxed);
      Log(c.id(), std::string("dropped unexpected ") + TypeName(h.type) + " frame (prog " +
                      std::to_string(h.prog) + " proc " + std::to_string(h.proc) + ")");
      return;
    default:
      Log(c.id(), "frame of unknown type " + std::to_string(h.type) + "; closing the connection");
      c.MarkClosingLocked(CloseReason::kProtocol);
      return;
  }
}

const Server::Registered* Server::FindHandler(const Header& h, RpcError* error) const {
  // programs_ is frozen while the server runs: no lock needed.
  auto program = programs_.find({h.prog, h.vers});
  if (program == programs_.end()) {
    *error = UnknownProgramError(h.prog, h.vers);
    return nullptr;
  }
  auto proc = program->second.procedures.find(h.proc);
  if (proc != program->second.procedures.end()) return &proc->second;
  if (program->second.catch_all.fn) return &program->second.catch_all;
  *error = UnknownProcedureError(h.proc);
  return nullptr;
}

void Server::ReplyErrorLocked(Client& c, const Header& call, const RpcError& error) {
  AssertHeld(c.mu);
  counters_.error_replies.fetch_add(1, std::memory_order_relaxed);
  c.QueueLocked(EncodeErrorReply(call, error), /*is_reply=*/true);
}

void Server::OnCompletions() {
  // Reused from turn to turn: TakeAll swaps it with the queue's vector, so
  // both keep their capacity and a burst of pushes does not regrow one.
  std::vector<Completion>& done = taken_completions_;
  completions_->TakeAll(&done);
  // Group the items by client, keeping each client's own order (a reply and
  // an event pushed in that order must reach the wire in that order). Each
  // client is then locked once and flushed once, so the replies of a JS
  // batch go out in one vectored write per client, not one write each.
  std::vector<size_t>& order = completion_order_;
  order.resize(done.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::less<Client*>()(done[a].client.get(), done[b].client.get());
  });
  for (size_t i = 0; i < order.size();) {
    Client& c = *done[order[i]].client;
    bool reap = false;
    ApplyEffects effects;
    mu_.lock();
    c.mu.lock();
    mu_.unlock();
    for (; i < order.size() && done[order[i]].client.get() == &c; ++i) ApplyLocked(c, done[order[i]], &effects);
    // Write it now (we are the loop thread); freed slots may let queued
    // calls in.
    std::vector<Job> calls;
    if (!c.closing) PumpClientLocked(c, /*readable=*/false, &calls);
    if (c.closing && !c.reap_queued) {
      c.reap_queued = true;
      reap = true;
    }
    c.mu.unlock();
    if (reap || !calls.empty() || effects.authorized) {
      std::lock_guard<RankedMutex> lock(mu_);
      if (reap) to_reap_.push_back(&c);
      if (!calls.empty()) QueueJobsLocked(c, &calls);
      if (effects.authorized) {
        --unauthenticated_;
        UpdateAcceptingLocked();
      }
    }
  }
  done.clear();  // drops the client references with no lock held
}

void Server::ReapClosedClientsLocked() {
  AssertHeld(mu_);
  for (Client* c : to_reap_) {
    {
      std::lock_guard<RankedMutex> client_lock(c->mu);
      if (c->awaiting_auth) {
        c->awaiting_auth = false;
        --unauthenticated_;
      }
      if (c->close_reason == CloseReason::kDenied)
        counters_.clients_denied.fetch_add(1, std::memory_order_relaxed);
      if (options_.on_clients) {
        ClientNotice notice;
        notice.kind = ClientNotice::Kind::kDisconnect;
        notice.client_id = c->id();
        notice.reason = c->close_reason;
        pending_notices_.push_back(std::move(notice));
      }
      loop_.RemoveWatch(c->watch);  // its free function drops the watch's reference
      loop_.RemoveTimer(c->timer);  // and the timer's
      if (c->closed_mid_frame) counters_.closed_mid_frame.fetch_add(1, std::memory_order_relaxed);
      if (c->closed_mid_call) counters_.closed_mid_call.fetch_add(1, std::memory_order_relaxed);
      SetThrottledLocked(*c, false);
      if (c->starved) clients_starved_.fetch_sub(1, std::memory_order_relaxed);
      c->starved = false;
      c->CloseSocketLocked();
      // Its buffers go with it: no longer the server's to bound.
      buffered_bytes_.fetch_sub(static_cast<int64_t>(c->accounted_bytes), std::memory_order_relaxed);
      c->accounted_bytes = 0;
    }
    counters_.clients_closed.fetch_add(1, std::memory_order_relaxed);
    clients_.erase(c->id());  // the list's reference: may be the last
  }
  if (!to_reap_.empty()) {
    // Descriptors were freed: a listener backing off may accept again now.
    for (Listener& l : listeners_) l.backing_off = false;
    UpdateAcceptingLocked();
  }
  to_reap_.clear();
}

void Server::CloseAllLocked() {
  AssertHeld(mu_);
  for (auto& [id, client] : clients_) {
    std::lock_guard<RankedMutex> client_lock(client->mu);
    client->MarkClosingLocked(CloseReason::kServerClose);
    if (!client->reap_queued) {
      client->reap_queued = true;
      to_reap_.push_back(client.get());
    }
  }
  ReapClosedClientsLocked();
  CloseListenersLocked();
}

// Shutdown is complete when no call waits for a worker, runs, or has a
// reply unwritten.
bool Server::DrainedLocked() {
  AssertHeld(mu_);
  if (!jobs_.empty()) return false;
  for (auto& [id, client] : clients_) {
    std::lock_guard<RankedMutex> client_lock(client->mu);
    if (client->closing) continue;
    if (client->calls.total() > 0 || client->queued_bytes() > 0) return false;
  }
  return true;
}

// The deadline: every call not yet answered gets the shutdown error — those
// still queued for a worker and those a handler has (whose cancel flag is
// set, and whose late answers will be dropped). One last write each; what a
// client has not read by then is lost when it is closed.
void Server::AnswerOutstandingLocked() {
  AssertHeld(mu_);
  const RpcError error = ShuttingDownError();
  for (Job& job : jobs_) {
    Client& c = *job.client;
    std::lock_guard<RankedMutex> client_lock(c.mu);
    --c.calls.wait_dispatch;
    if (c.closing) continue;
    c.QueueLocked(EncodeErrorReply(job.message.header, error), /*is_reply=*/true);
    ++result_.calls_cancelled;
  }
  jobs_.clear();
  for (auto& [id, client] : clients_) {
    Client& c = *client;
    std::lock_guard<RankedMutex> client_lock(c.mu);
    for (auto& state : c.in_flight) {
      state->answered_by_server = true;
      state->cancelled.store(true, std::memory_order_release);
      --c.calls.dispatching;
      if (c.closing) continue;
      c.QueueLocked(EncodeErrorReply(state->header, error), /*is_reply=*/true);
      ++result_.calls_cancelled;
    }
    c.in_flight.clear();
    if (!c.closing && c.FlushLocked() < 0) c.MarkClosingLocked(CloseReason::kIoError);
    AccountLocked(c);
  }
}

void Server::CloseListenersLocked() {
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

void Server::Log(uint64_t client_id, std::string message) {
  if (!options_.log) return;
  int64_t now = MonotonicMs();
  if (now - log_window_start_ms_ >= 1000) {
    log_window_start_ms_ = now;
    log_in_window_ = 0;
  }
  if (log_in_window_ >= options_.log_burst) {
    counters_.log_suppressed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ++log_in_window_;
  pending_logs_.push_back(LogRecord{client_id, std::move(message)});
}

void Server::FlushLogs() {
  if (!pending_notices_.empty()) {
    std::vector<ClientNotice> notices;
    notices.swap(pending_notices_);
    options_.on_clients(notices);
  }
  if (pending_logs_.empty()) return;
  std::vector<LogRecord> records;
  records.swap(pending_logs_);
  for (const LogRecord& r : records) options_.log(r);
}

// ---- Workers ----------------------------------------------------------------------

void Server::WorkerMain(int index) {
  LiveToken<live_detail::kThread> live;
  char name[32];
  std::snprintf(name, sizeof name, "xdrd-worker-%d", index + 1);
  name[15] = '\0';  // the kernel's limit for a thread name
  pthread_setname_np(pthread_self(), name);
  t_worker_of = this;
  // Reused from run to run; empty whenever the server lock is taken.
  std::vector<Job> run;
  std::vector<RefPtr<CallState>> states;
  run.reserve(kMaxQuickRun);
  states.reserve(kMaxQuickRun);
  std::unique_lock<RankedMutex> lock(mu_);
  for (;;) {
    while (jobs_.empty() && !stop_) {
      ++idle_workers_;
      mu_.Wait(job_cv_);
      --idle_workers_;
      if (wakes_pending_ > 0) --wakes_pending_;  // ours, or one we beat to the job
    }
    if (stop_) break;
    ++busy_workers_;
    // The front job, and if it is quick the quick ones right behind it.
    const bool quick = jobs_.front().handler->traits.quick;
    do {
      run.push_back(std::move(jobs_.front()));
      jobs_.pop_front();
    } while (quick && !jobs_.empty() && jobs_.front().handler->traits.quick && run.size() < kMaxQuickRun);
    for (Job& job : run) {
      std::lock_guard<RankedMutex> client_lock(job.client->mu);
      --job.client->calls.wait_dispatch;
      RefPtr<CallState> state;
      if (!job.client->closing) {
        ++job.client->calls.dispatching;
        state = MakeRef<CallState>(job.message.header);
        job.client->in_flight.push_back(state);
      }
      states.push_back(std::move(state));
    }
    // Work is left, and it may wait behind this run: pass the baton on.
    WakeWorkerLocked();
    lock.unlock();
    for (size_t i = 0; i < run.size(); ++i) {
      if (states[i]) RunJob(run[i], std::move(states[i]));
    }
    // The jobs, and their client references, go here with no lock held.
    run.clear();
    states.clear();
    lock.lock();
    --busy_workers_;
  }
  t_worker_of = nullptr;
}

void Server::RunJob(Job& job, RefPtr<CallState> state) {
  counters_.calls_dispatched.fetch_add(1, std::memory_order_relaxed);
  Call call(this, completions_, std::move(job.client), std::move(job.message), std::move(state),
            options_.max_message_bytes);
  try {
    job.handler->fn(std::move(call));
  } catch (...) {
    // The handler's Call was destroyed unanswered while unwinding and has
    // answered itself with an internal error.
    counters_.handler_exceptions.fetch_add(1, std::memory_order_relaxed);
  }
}

void Server::ApplyFromWorker(Completion& item) {
  Client& c = *item.client;
  ApplyEffects effects;
  bool reap = false;
  mu_.lock();
  c.mu.lock();
  mu_.unlock();
  ApplyLocked(c, item, &effects);
  AccountLocked(c);
  short want = c.WantedEventsLocked();
  if (want != c.watched_events) {
    loop_.UpdateWatch(c.watch, want);  // wakes the loop, which writes it
    c.watched_events = want;
  }
  if (c.closing && !c.reap_queued) {
    c.reap_queued = true;
    reap = true;
  }
  c.mu.unlock();
  if (reap || effects.authorized) {
    std::lock_guard<RankedMutex> lock(mu_);
    if (reap) to_reap_.push_back(&c);
    if (effects.authorized) {
      --unauthenticated_;
      UpdateAcceptingLocked();
    }
  }
  if (reap) loop_.Wake();  // it reaps between turns
  item.client.reset();  // with no lock held: it may be the last reference
}

void Server::ApplyLocked(Client& c, Completion& item, ApplyEffects* effects) {
  AssertHeld(c.mu);
  switch (item.kind) {
    case Completion::Kind::kReply:
      if (item.call) {
        auto& in_flight = c.in_flight;
        in_flight.erase(std::remove_if(in_flight.begin(), in_flight.end(),
                                       [&](const RefPtr<CallState>& s) { return s.get() == item.call.get(); }),
                        in_flight.end());
        if (item.call->answered_by_server) {  // a shutdown deadline answered it
          counters_.replies_dropped.fetch_add(1, std::memory_order_relaxed);
          return;
        }
      }
      --c.calls.dispatching;
      if (c.closing) {
        counters_.replies_dropped.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      c.QueueLocked(std::move(item.frame), /*is_reply=*/true);
      return;
    case Completion::Kind::kKeepalive: {
      if (c.closing) return;
      int64_t now = MonotonicMs();
      c.keepalive_interval_ms = item.keepalive_interval_ms;
      c.keepalive_count = item.keepalive_count;
      c.last_rx_ms = now;
      c.last_ping_ms = -1;
      ScheduleTimerLocked(c, now);
      return;
    }
    case Completion::Kind::kEvent:
      if (c.closing) {
        counters_.events_dropped.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      counters_.events_sent.fetch_add(1, std::memory_order_relaxed);
      c.QueueLocked(std::move(item.frame), /*is_reply=*/false);
      return;
    case Completion::Kind::kAuthorize:
      if (c.closing || !c.awaiting_auth) return;
      if (!item.allow) {
        c.MarkClosingLocked(CloseReason::kDenied);
        return;
      }
      c.awaiting_auth = false;
      effects->authorized = true;
      // Its clocks start now: the wait was ours, not its silence.
      c.last_rx_ms = MonotonicMs();
      return;
    case Completion::Kind::kClose:
      if (c.closing) return;
      if (!item.after_writes || c.queued_bytes() == 0) {
        c.MarkClosingLocked(CloseReason::kHandler);
        return;
      }
      c.close_after_writes = true;  // PumpClientLocked closes it once written
      return;
  }
}

}  // namespace xdrd
