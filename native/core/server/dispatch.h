// dispatch.h — the job FIFO and the worker pool: the loop thread queues
// the calls it framed, and N worker pthreads take them (one at a time, or
// a run of quick ones) and run their handlers.
//
// Threads and locks (THREADING.md, "The rules")
//   Every field is guarded by the server lock, which the Dispatcher borrows
//   from its server. Methods ending in Locked need it; the workers take it
//   themselves. The `job` condition variable is signalled with it held.
//   Handlers run with no lock held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <thread>
#include <vector>

#include "base/lock.h"
#include "base/refcount.h"
#include "server/commands.h"
#include "server/counters.h"
#include "server/job.h"

namespace xdrd {

class Server;

// What a handler may put off until its worker has run every job of the
// current run (a run: the quick jobs a worker took in one go). The addon's
// bridge hands a run's calls to the JS thread in one locked step this way,
// instead of one per call. Worker threads only; `fn` runs on the same
// worker, after the run's last job, with no lock held, before the worker
// takes more jobs or sleeps.
class RunEnd {
 public:
  // On a worker, inside a run: arranges fn(arg) once after the run (asking
  // again with the same pair changes nothing) and returns true. On any
  // other thread returns false: the caller does the work now. `fn` must
  // not throw.
  static bool Defer(void (*fn)(void*), void* arg);
};

class Dispatcher {
 public:
  // The most quick calls one worker takes at once (HandlerTraits).
  static constexpr size_t kMaxQuickRun = 64;

  // `server` identifies the workers' server to Call (WorkerServerOf);
  // `server_mu` is its lock; calls are answered through `commands`.
  Dispatcher(Server* server, RankedMutex& server_mu, CounterSet& counters,
             RefPtr<CommandQueue> commands, uint32_t max_message_bytes);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // The server whose worker the calling thread is, if that server answers
  // through `commands`; null on any other thread. Any thread.
  static Server* WorkerServerOf(const CommandQueue* commands);

  // Loop thread, server lock: starts `count` workers (they block on the
  // server lock until it is released).
  void StartLocked(int count);
  // Server lock, then takes `c`'s lock: moves its framed calls into the
  // FIFO (dropping them if it is closing). No signal: WakeWorkerLocked.
  void QueueLocked(Connection& c, std::vector<Job>* calls);
  // Server lock: signals one idle worker if jobs wait and no signal is on
  // its way.
  void WakeWorkerLocked();
  bool EmptyLocked() const { return jobs_.empty(); }
  // Server lock: every job still queued, taken out of the FIFO.
  std::deque<Job> TakeAllLocked();
  // Server lock: tells the workers to finish; returns the threads for the
  // caller to join once it has dropped the lock.
  std::vector<std::thread> StopLocked();

 private:
  void WorkerMain(int index);
  void RunJob(Job& job, RefPtr<CallState> state);

  Server* const server_;
  RankedMutex& mu_;  // the server lock
  CounterSet& counters_;
  const RefPtr<CommandQueue> commands_;
  const uint32_t max_message_bytes_;
  CondVar job_cv_;                    // signalled with mu_ held
  std::deque<Job> jobs_;              // [mu_] the FIFO
  int idle_workers_ = 0;              // [mu_] waiting on job_cv_
  // [mu_] job_cv_ signals not yet taken by a waking worker: at most one.
  int wakes_pending_ = 0;
  bool stop_ = false;                 // [mu_]
  std::vector<std::thread> workers_;  // [mu_]
};

}  // namespace xdrd
