// shutdown.cc — stopping a server: the owner's side (Shutdown, which only
// signals the loop thread and joins it) and the loop thread's (draining,
// the deadline, closing every client). See server.h for the threads.
#include <algorithm>

#include "base/clock.h"
#include "server/server.h"

namespace xdrd {

// Owner thread. Stopping may take the server lock while the loop runs
// (THREADING.md, "The JS thread").
ShutdownResult Server::Shutdown(uint32_t deadline_ms) {
  {
    std::lock_guard<RankedMutex> lock(mu_);
    if (!running_) return result_;
    if (!draining_) {
      draining_ = true;
      deadline_ms_ = MonotonicMs() + deadline_ms;
      result_ = ShutdownResult{};
      // Not closed here: the loop thread may be accepting on a listener
      // with no lock held (THREADING.md, "Accepting"). It closes them when
      // it sees draining_, at its next turn.
      acceptor_.StopLocked();
    }
  }
  loop_.Wake();
  loop_thread_.join();
  std::lock_guard<RankedMutex> lock(mu_);
  running_ = false;
  draining_ = false;
  return result_;
}

void Server::ShortenShutdown(uint32_t deadline_ms) {
  {
    std::lock_guard<RankedMutex> lock(mu_);
    if (!draining_) return;
    deadline_ms_ = std::min<int64_t>(deadline_ms_, MonotonicMs() + deadline_ms);
  }
  loop_.Wake();
}

// Loop thread, server lock: shutdown is complete when no call waits for a
// worker, runs, or has a reply unwritten. O(1): each connection keeps the
// count of undrained ones up to date (Connection::NoteDrainLocked).
bool Server::DrainedLocked() {
  AssertHeld(mu_);
  return dispatcher_.EmptyLocked() && undrained_connections_.load(std::memory_order_acquire) == 0;
}

// Loop thread, server lock, at the deadline: every call not yet answered
// gets the shutdown error — those still queued for a worker and those a
// handler has (whose cancel flag is set, and whose late answers will be
// dropped). One last write each; what a client has not read by then is lost
// when it is closed.
void Server::AnswerOutstandingLocked() {
  AssertHeld(mu_);
  const RpcError error = ShuttingDownError();
  cancelled_jobs_ = dispatcher_.TakeAllLocked();
  for (Job& job : cancelled_jobs_) {
    Connection& c = *job.client;
    std::lock_guard<RankedMutex> client_lock(c.mu);
    if (c.CancelQueuedCallLocked(job.message.header, error)) ++result_.calls_cancelled;
  }
  for (auto& [id, client] : clients_) {
    std::lock_guard<RankedMutex> client_lock(client->mu);
    result_.calls_cancelled += client->CancelInFlightLocked(error);
  }
  // The jobs (and their client references) are dropped by FinishRun with
  // no lock held.
}

// Loop thread, server lock: the end of a run.
void Server::CloseAllLocked() {
  AssertHeld(mu_);
  for (auto& [id, client] : clients_) {
    std::lock_guard<RankedMutex> client_lock(client->mu);
    client->MarkClosingLocked(CloseReason::kServerClose);
    if (client->TakeReapTicketLocked()) to_reap_.push_back(client.get());
  }
  ReapClosedClientsLocked();
  acceptor_.CloseAllLocked();
}

}  // namespace xdrd
