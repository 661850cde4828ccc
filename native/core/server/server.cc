// server.cc — registration, lifecycle, the loop thread's main function and
// reaping. See server.h for which thread calls what; functions ending in
// Locked expect the lock their comment names (checked in debug builds).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  // POLLRDHUP
#endif
#include "server/server.h"

#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "base/clock.h"

namespace xdrd {

namespace {

// The backend the options ask for, unless XDRD_EVENT_BACKEND names one
// (unset or empty: it does not). A value naming none is kept in *error for
// Start() to report; the loop is made with the asked-for backend meanwhile.
EventBackend ChooseBackend(EventBackend asked, std::string* error) {
  const char* name = std::getenv("XDRD_EVENT_BACKEND");
  if (name == nullptr || *name == '\0') return asked;
  EventBackend named = asked;
  if (!ParseEventBackend(name, &named))
    *error = std::string("XDRD_EVENT_BACKEND must be 'epoll' or 'poll', not '") + name + "'";
  return named;
}

// Busy polling leaves this long between polls (see RunTurn).
constexpr int64_t kBusyPollGapUs = 2;

// Spins for about `us` microseconds, telling the CPU it is a spin.
void PauseBetweenPolls(int64_t us) {
  const int64_t until = MonotonicUs() + us;
  while (MonotonicUs() < until) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }
}

}  // namespace

Server::Server(ServerOptions options)
    : options_(std::move(options)),
      loop_(ChooseBackend(options_.event_backend, &backend_error_)),
      commands_(MakeRef<CommandQueue>()),
      outbox_(options_, counters_),
      host_{options_, counters_, loop_, outbox_, programs_, read_scratch_, loop_draining_, undrained_connections_},
      dispatcher_(this, mu_, counters_, commands_, options_.max_message_bytes),
      slots_(options_.max_clients, options_.require_authorization, options_.max_unauthenticated_clients),
      acceptor_(
          loop_, mu_, counters_, slots_, [this](std::vector<Acceptor::Accepted>& accepted) { AdoptLocked(accepted); },
          [this](std::string line) { outbox_.Log(0, std::move(line)); }, [this] { outbox_.Deliver(); }) {
  // The lock checker's proof of THREADING.md's JS-thread rule (lock.h):
  // while the loop runs, the owner thread marked as JS must not take it.
  mu_.ForbidOnJsThreadWhile(&loop_running_);
  read_scratch_.resize(64 * 1024);
  command_watch_ = loop_.AddWatch(commands_->fd(), POLLIN, [this](EventLoop::Id, int, short) { OnCommands(); });
}

Server::~Server() {
  Stop();
  {
    std::lock_guard<RankedMutex> lock(mu_);
    acceptor_.CloseAllLocked();  // opened but never started
  }
  loop_.RemoveWatch(command_watch_);
  // Late answers of calls that outlive us are refused from now on.
  std::vector<Command> leftovers;
  std::vector<ListenerRequest> listeners;
  commands_->Close(&leftovers, &listeners);
  for (ListenerRequest& l : listeners) close(l.socket.fd);
}

// ---- Registration and lifecycle (owner thread) --------------------------------

bool Server::Handle(uint32_t prog, uint32_t vers, int32_t proc, Handler handler, HandlerTraits traits) {
  std::lock_guard<RankedMutex> lock(mu_);
  if (running_) return false;
  programs_.Add(prog, vers, proc, ProgramTable::Entry{std::move(handler), traits});
  return true;
}

bool Server::HandleProgram(uint32_t prog, uint32_t vers, Handler catch_all, HandlerTraits traits) {
  std::lock_guard<RankedMutex> lock(mu_);
  if (running_) return false;
  programs_.AddCatchAll(prog, vers, ProgramTable::Entry{std::move(catch_all), traits});
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

// While the loop runs the listener goes to it through the command queue,
// so the owner (the JS thread, in the addon) takes no server lock. A
// refused push means the loop has ended (closing the queue is its last
// act): nothing races with the lock then.
void Server::AddListener(const ListenSocket& s, ListenerOptions options) {
  if (loop_running_.load(std::memory_order_acquire)) {
    ListenerRequest request{s, options};
    if (commands_->PushListener(request)) return;
  }
  std::lock_guard<RankedMutex> lock(mu_);
  acceptor_.AddLocked(s, options);
}

bool Server::Start(std::string* error) {
  {
    std::lock_guard<RankedMutex> lock(mu_);
    if (running_) {
      if (error) *error = "the server is already running";
      return false;
    }
    if (!backend_error_.empty()) {
      if (error) *error = backend_error_;
      return false;
    }
    running_ = true;
    acceptor_.SetBelowLimitsLocked(true);
  }
  commands_->Open();
  loop_running_.store(true, std::memory_order_release);
  loop_thread_ = std::thread([this] { LoopThreadMain(); });
  return true;
}

bool Server::ControlClient(uint64_t id, ClientControl control) {
  if (id == 0) return false;
  Command item;
  item.client_id = id;
  switch (control.kind) {
    case ClientControl::Kind::kAuthorize:
      item.kind = Command::Kind::kAuthorize;
      item.allow = control.allow;
      break;
    case ClientControl::Kind::kClose:
      item.kind = Command::Kind::kClose;
      item.after_writes = control.after_writes;
      break;
    case ClientControl::Kind::kKeepalive:
      item.kind = Command::Kind::kKeepalive;
      item.keepalive_interval_ms = control.keepalive_interval_ms;
      item.keepalive_count = control.keepalive_count;
      break;
    case ClientControl::Kind::kEvent: {
      Header h;
      h.prog = control.prog;
      h.vers = control.vers;
      h.proc = control.proc;
      h.type = kTypeMessage;
      h.serial = control.serial;  // not a call's: events never use up a serial
      h.status = kStatusOk;
      item.kind = Command::Kind::kEvent;
      size_t start = BeginFrame(&item.frame, h);
      item.frame.insert(item.frame.end(), control.body.begin(), control.body.end());
      if (!FinishFrame(&item.frame, start, options_.max_message_bytes)) return false;
      break;
    }
  }
  if (Dispatcher::WorkerServerOf(commands_.get()) == this) {
    ApplyFromWorker(item);
    return true;
  }
  return commands_->Push(item);
}

// ---- Loop thread ----------------------------------------------------------------

void Server::LoopThreadMain() {
  LiveToken<live_detail::kThread> live;
  pthread_setname_np(pthread_self(), "xdrd-loop");
  std::unique_lock<RankedMutex> lock(mu_);
  // The workers start while we hold the server lock; they block on it until
  // the first turn releases it.
  dispatcher_.StartLocked(options_.workers);
  loop_draining_ = false;
  bool active = false;  // the last turn ran a callback
  for (;;) {
    // Answers workers queued write now; the client's next call is likely
    // soon, so the next turn may busy-poll for it.
    if (PumpListedClients(lock) > 0) active = true;
    BetweenTurnsLocked();
    int timeout = -1;
    const bool draining_now = draining_;
    if (draining_) {
      // Shutdown stopped the listeners at once (Acceptor::StopLocked); their
      // descriptors are closed here, by the one thread that accepts on them.
      if (!loop_draining_) acceptor_.CloseAllLocked();
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
    outbox_.Deliver();  // what reaping noted, before poll() may sleep
    active = RunTurn(timeout, active && !draining_now) > 0;
    outbox_.Deliver();
    lock.lock();
  }
  FinishRun(lock);
}

// Server lock, between turns: wake a worker for the jobs the turn queued,
// reap closed clients, read starved ones again if there is room.
void Server::BetweenTurnsLocked() {
  AssertHeld(mu_);
  dispatcher_.WakeWorkerLocked();
  if (!to_reap_.empty()) ReapClosedClientsLocked();
  if (!starved_ids_.empty()) ResumeStarvedLocked();
}

// The end of a run: close every client, join the workers, drop what no
// worker took, and close the command queue (the loop thread's last act).
void Server::FinishRun(std::unique_lock<RankedMutex>& lock) {
  std::vector<std::thread> workers = dispatcher_.StopLocked();
  result_.clients_closed = clients_.size();
  CloseAllLocked();
#ifdef XDRD_LOCK_CHECKS
  // Every connection was torn down, and took itself out of the count; one
  // left in would make the next run's shutdown wait for its deadline.
  if (undrained_connections_.load() != 0) {
    std::fprintf(stderr, "xdrd: %lld connections still counted undrained after closing all\n",
                 static_cast<long long>(undrained_connections_.load()));
    std::abort();
  }
#endif
  lock.unlock();
  cancelled_jobs_.clear();
  for (auto& t : workers) t.join();

  // Jobs no worker took, and clients workers listed for pumping: all are
  // closed; drop them.
  lock.lock();
  std::deque<Job> unstarted = dispatcher_.TakeAllLocked();
  std::vector<ConnectionRef> unpumped;
  unpumped.swap(to_pump_);
  for (ConnectionRef& c : unpumped) c->listed_for_pump = false;
  lock.unlock();
  unstarted.clear();
  unpumped.clear();
  // One more turn runs the free step of every watch removed above (dropping
  // the clients' watch references) and drops late commands.
  loop_.RunOnce(0);
  outbox_.Deliver();
  // Answers that come later (a JS handler finishing after close()) are
  // refused and dropped by whoever gives them, so a stopped server holds
  // no client until it starts again or is destroyed. Listeners handed over
  // meanwhile stay for the next run.
  std::vector<Command> late;
  std::vector<ListenerRequest> listeners;
  loop_running_.store(false, std::memory_order_release);
  commands_->Close(&late, &listeners);
  late.clear();
  if (!listeners.empty()) {
    std::lock_guard<RankedMutex> relock(mu_);
    for (ListenerRequest& l : listeners) acceptor_.AddLocked(l.socket, l.options);
  }
}

// Loop thread, no lock held: one turn of the event loop. After a turn that
// did something, the next is likely soon (a handler's answer, the client's
// next call): while no thread waits for a core, poll without sleeping for up
// to busy_poll_us first, so it is taken without a wake-up. Returns the
// callbacks run, as EventLoop::RunOnce. (Stopping the spin when its catches
// come slowly was tried and dropped: at 1 x 1 the sleeping hand-offs then
// cost the other threads more CPU than the spin did; bench/RESULTS.md.)
int Server::RunTurn(int timeout_ms, bool busy_poll) {
  if (busy_poll && options_.busy_poll_us > 0 && timeout_ms != 0) {
    const int64_t start = MonotonicUs();
    if (idle_core_.CoreIdle(start)) {
      const int64_t until = start + options_.busy_poll_us;
      CounterSet::Add(counters_.busy_polls);
      int64_t now = start;
      do {
        bool woken = false;
        int ran = loop_.RunOnce(0, &woken);
        // A Wake() (Shutdown, a stop) must reach LoopThreadMain's checks:
        // this turn took it from the eventfd, and no later poll() would see it.
        if (ran != 0 || woken) {
          const int64_t spun = MonotonicUs() - start;
          CounterSet::Add(counters_.busy_poll_catches);
          CounterSet::Add(counters_.busy_poll_us, static_cast<uint64_t>(spun));
          return ran;
        }
        // Each poll takes the loop's lock several times; polled back to back
        // it keeps that lock from a worker whose Wake() or UpdateWatch()
        // brings the very answer we wait for (measured: 1 x 1 on epoll fell
        // to 0.8x of the poll()-era loop). Leave a gap between polls.
        PauseBetweenPolls(kBusyPollGapUs);
        now = MonotonicUs();
      } while (now < until);
      CounterSet::Add(counters_.busy_poll_us, static_cast<uint64_t>(now - start));
    }
  }
  return loop_.RunOnce(timeout_ms);
}

// Loop thread, server lock, from the Acceptor once per burst: the
// connections it accepted, each in a slot it reserved (which becomes the
// client's). Then the listeners are told whether there is room left.
void Server::AdoptLocked(std::vector<Acceptor::Accepted>& accepted) {
  AssertHeld(mu_);
  for (Acceptor::Accepted& a : accepted) AdoptOneLocked(a.fd, std::move(a.peer));
  UpdateAcceptingLocked();
}

void Server::AdoptOneLocked(int fd, PeerInfo peer) {
  AssertHeld(mu_);
  ConnectionRef client = MakeRef<Connection>(host_, next_client_id_++, fd, std::move(peer));
  Connection* raw = client.get();
  raw->mu.ForbidOnJsThreadWhile(&loop_running_);  // as the server lock; not yet shared
  {
    std::lock_guard<RankedMutex> client_lock(raw->mu);
    raw->AttachLocked([this, raw](EventLoop::Id, int, short revents) { ServiceClient(*raw, revents, false); },
                      [this, raw](EventLoop::Id) { ServiceClient(*raw, 0, true); },
                      options_.require_authorization);
  }
  outbox_.Connected(raw->id(), raw->peer());
  if (options_.require_authorization) {
    ++unauthenticated_;
    CounterSet::Add(counters_.clients_unauthenticated);
  }
  clients_.emplace(raw->id(), std::move(client));
  CounterSet::Add(counters_.clients_accepted);
  CounterSet::Add(counters_.clients_live);
}

// Listeners watch for connections only while the server is below
// max_clients and max_unauthenticated_clients (and they are not backing off).
// Counted from the clients themselves, not the slots: reservations the loop
// thread holds in a burst are settled before its own call here, and must not
// make a worker's call see a limit that is not reached.
void Server::UpdateAcceptingLocked() {
  AssertHeld(mu_);
  acceptor_.SetBelowLimitsLocked(
      clients_.size() < options_.max_clients &&
      (!options_.require_authorization || unauthenticated_ < options_.max_unauthenticated_clients));
}

// Loop thread, in a callback of the client's watch or timer (which hold the
// references that keep it alive here). Server lock, then the client lock,
// then only the client lock for the I/O; the server lock again at the end
// to queue jobs and reaping.
void Server::ServiceClient(Connection& c, short revents, bool timer_fired) {
  std::vector<Job>& calls = service_calls_;  // empty: UnlockAndSettle clears it
  bool readable = (revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0;
  mu_.lock();
  c.mu.lock();
  mu_.unlock();
  c.OnHangupLocked(revents);
  if (timer_fired) c.OnTimerLocked();
  c.PumpLocked(readable, &calls);
  UnlockAndSettle(c, &calls, false);
  outbox_.Deliver();
}

// Client lock held on entry, dropped here: what the server must do after
// pumping or applying to `c` (queue its calls, list it for reaping or for
// resuming, count an authorization), under the server lock alone. Calls of
// a client that closed meanwhile are dropped with no lock held (the last
// client reference may go with them).
void Server::UnlockAndSettle(Connection& c, std::vector<Job>* calls, bool authorized) {
  const bool reap = c.TakeReapTicketLocked();
  const bool list_starved = c.TakeStarveTicketLocked();
  const bool repump = c.TakeRepumpTicketLocked();
  c.mu.unlock();
  if (reap || list_starved || repump || authorized || !calls->empty()) {
    std::lock_guard<RankedMutex> lock(mu_);
    if (reap) to_reap_.push_back(&c);
    if (list_starved) starved_ids_.push_back(c.id());
    // We are the loop thread: the wake only keeps its next wait from
    // sleeping, so the list is pumped first.
    if (repump && ListForPumpLocked(c)) loop_.Wake();
    if (!calls->empty()) dispatcher_.QueueLocked(c, calls);
    if (authorized) {
      --unauthenticated_;
      slots_.ReleaseUnauthenticated();
      CounterSet::Sub(counters_.clients_unauthenticated);
      UpdateAcceptingLocked();
    }
  }
  calls->clear();
}

void Server::ReapClosedClientsLocked() {
  AssertHeld(mu_);
  for (Connection* c : to_reap_) {
    bool awaited_verdict = false;
    {
      std::lock_guard<RankedMutex> client_lock(c->mu);
      awaited_verdict = c->TearDownLocked();
      if (awaited_verdict) {
        --unauthenticated_;
        CounterSet::Sub(counters_.clients_unauthenticated);
      }
      outbox_.Disconnected(c->id(), c->close_reason_locked());
    }
    CounterSet::Add(counters_.clients_closed);
    CounterSet::Sub(counters_.clients_live);
    // The list's reference. Not the last: the watch's and the timer's are
    // dropped by their free functions after this turn.
    clients_.erase(c->id());
    slots_.ReleaseClient(awaited_verdict);
  }
  if (!to_reap_.empty()) {
    // Descriptors were freed: a listener backing off may accept again now.
    acceptor_.EndBackOffLocked();
    UpdateAcceptingLocked();
  }
  to_reap_.clear();
}

// Between turns: once the buffers have drained to three quarters of the
// bound, starved clients are read again.
void Server::ResumeStarvedLocked() {
  AssertHeld(mu_);
  if (CounterSet::Signed(counters_.buffered_bytes) > static_cast<int64_t>(options_.max_buffered_bytes / 4 * 3))
    return;
  for (uint64_t id : starved_ids_) {
    auto it = clients_.find(id);
    if (it == clients_.end()) continue;
    Connection& c = *it->second;
    bool pump;
    {
      std::lock_guard<RankedMutex> client_lock(c.mu);
      pump = c.ResumeLocked();
    }
    // Its socket was readable when it starved (an edge watch is told of no
    // new rise for those bytes): pumped before the loop sleeps.
    if (pump && ListForPumpLocked(c)) loop_.Wake();
  }
  starved_ids_.clear();
}

}  // namespace xdrd
