// dispatch.cc — see dispatch.h.
#include "server/dispatch.h"

#include <pthread.h>

#include <cstdio>
#include <utility>

#include "base/live_counts.h"
#include "server/call.h"

namespace xdrd {

namespace {

// The dispatcher whose worker the current thread is, if any.
thread_local const Dispatcher* t_worker_of = nullptr;

// RunEnd: whether this worker is inside a run, and what it was asked to do
// at its end (a handful at most: one per bridge a run's handlers post to).
struct RunEndWork {
  void (*fn)(void*);
  void* arg;
};
thread_local bool t_in_run = false;
thread_local std::vector<RunEndWork> t_run_end;

}  // namespace

bool RunEnd::Defer(void (*fn)(void*), void* arg) {
  if (!t_in_run) return false;
  for (const RunEndWork& w : t_run_end) {
    if (w.fn == fn && w.arg == arg) return true;
  }
  t_run_end.push_back(RunEndWork{fn, arg});
  return true;
}

Dispatcher::Dispatcher(Server* server, RankedMutex& server_mu, CounterSet& counters,
                       RefPtr<CommandQueue> commands, uint32_t max_message_bytes)
    : server_(server),
      mu_(server_mu),
      counters_(counters),
      commands_(std::move(commands)),
      max_message_bytes_(max_message_bytes) {}

Dispatcher::~Dispatcher() = default;

Server* Dispatcher::WorkerServerOf(const CommandQueue* commands) {
  const Dispatcher* d = t_worker_of;
  return d != nullptr && d->commands_.get() == commands ? d->server_ : nullptr;
}

void Dispatcher::StartLocked(int count) {
  AssertHeld(mu_);
  stop_ = false;
  wakes_pending_ = 0;
  for (int i = 0; i < count; ++i) workers_.emplace_back([this, i] { WorkerMain(i); });
}

void Dispatcher::QueueLocked(Connection& c, std::vector<Job>* calls) {
  AssertHeld(mu_);
  std::lock_guard<RankedMutex> client_lock(c.mu);
  if (!c.QueueCallsLocked(static_cast<uint32_t>(calls->size()))) return;
  for (Job& job : *calls) jobs_.push_back(std::move(job));
  CounterSet::Add(counters_.jobs_queued, calls->size());
  // No signal here: the loop signals once between turns, for all the jobs
  // of the turn (WakeWorkerLocked). Busy workers come back for more anyway.
  calls->clear();
}

// The loop thread between turns, and a worker that leaves jobs behind. One
// signal at a time: the worker it wakes takes the front of the FIFO and
// passes the baton on if work is left, so a burst of calls costs a wake-up
// or two, not one per call (a futex each).
void Dispatcher::WakeWorkerLocked() {
  AssertHeld(mu_);
  if (jobs_.empty() || idle_workers_ == 0 || wakes_pending_ > 0) return;
  ++wakes_pending_;
  job_cv_.NotifyOne();
}

std::deque<Job> Dispatcher::TakeAllLocked() {
  AssertHeld(mu_);
  std::deque<Job> taken;
  taken.swap(jobs_);
  CounterSet::Sub(counters_.jobs_queued, taken.size());
  return taken;
}

std::vector<std::thread> Dispatcher::StopLocked() {
  AssertHeld(mu_);
  stop_ = true;
  job_cv_.NotifyAll();
  std::vector<std::thread> workers = std::move(workers_);
  workers_.clear();
  return workers;
}

void Dispatcher::WorkerMain(int index) {
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
      CounterSet::Add(counters_.workers_idle);
      mu_.Wait(job_cv_);
      CounterSet::Sub(counters_.workers_idle);
      --idle_workers_;
      if (wakes_pending_ > 0) --wakes_pending_;  // ours, or one we beat to the job
    }
    if (stop_) break;
    CounterSet::Add(counters_.workers_busy);
    // The front job, and if it is quick the quick ones right behind it.
    const bool quick = jobs_.front().handler->traits.quick;
    do {
      run.push_back(std::move(jobs_.front()));
      jobs_.pop_front();
    } while (quick && !jobs_.empty() && jobs_.front().handler->traits.quick && run.size() < kMaxQuickRun);
    CounterSet::Sub(counters_.jobs_queued, run.size());
    for (Job& job : run) {
      std::lock_guard<RankedMutex> client_lock(job.client->mu);
      states.push_back(job.client->ClaimCallLocked(std::move(job.state)));
    }
    // Work is left, and it may wait behind this run: pass the baton on.
    WakeWorkerLocked();
    lock.unlock();
    t_in_run = true;
    for (size_t i = 0; i < run.size(); ++i) {
      if (states[i]) RunJob(run[i], std::move(states[i]));
    }
    t_in_run = false;
    // What the run's handlers put off (RunEnd), still with no lock held.
    for (const RunEndWork& w : t_run_end) w.fn(w.arg);
    t_run_end.clear();
    // The jobs, and their client references, go here with no lock held.
    run.clear();
    states.clear();
    lock.lock();
    CounterSet::Sub(counters_.workers_busy);
  }
  t_worker_of = nullptr;
}

void Dispatcher::RunJob(Job& job, RefPtr<CallState> state) {
  CounterSet::Add(counters_.calls_dispatched);
  Call call(commands_, std::move(job.client), std::move(job.message), std::move(state), max_message_bytes_);
  try {
    job.handler->fn(std::move(call));
  } catch (...) {
    // The handler's Call was destroyed unanswered while unwinding and has
    // answered itself with an internal error.
    CounterSet::Add(counters_.handler_exceptions);
  }
}

}  // namespace xdrd
