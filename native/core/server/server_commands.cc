// server_commands.cc — the server's side of the command queue (commands.h):
// applying what other threads ask, on the loop thread or, on a worker of
// this server, at once. See server.h for the threads and locks.
#include <algorithm>
#include <functional>
#include <utility>

#include "server/server.h"

namespace xdrd {

// Loop thread, no lock: the command queue's watch fired.
void Server::OnCommands() {
  // Reused from turn to turn: TakeAll swaps it with the queue's vector, so
  // both keep their capacity and a burst of pushes does not regrow one.
  std::vector<Command>& done = taken_commands_;
  commands_->TakeAll(&done, &taken_listeners_);
  const bool by_id = std::any_of(done.begin(), done.end(), [](const Command& c) { return !c.client; });
  if (by_id || !taken_listeners_.empty()) {
    std::lock_guard<RankedMutex> lock(mu_);
    for (ListenerRequest& l : taken_listeners_) acceptor_.AddLocked(l.socket, l.options);
    if (by_id) ResolveCommandsLocked(&done);
  }
  taken_listeners_.clear();
  // Group the commands by client, keeping each client's own order (a reply
  // and an event pushed in that order must reach the wire in that order).
  // Each client is then locked once and pumped once, so the replies of a JS
  // batch go out in one vectored write per client, not one write each.
  std::vector<size_t>& order = command_order_;
  order.clear();
  for (size_t i = 0; i < done.size(); ++i)
    if (done[i].client) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::less<Connection*>()(done[a].client.get(), done[b].client.get());
  });
  std::vector<Job> calls;
  for (size_t i = 0; i < order.size();) {
    Connection& c = *done[order[i]].client;
    bool authorized = false;
    mu_.lock();
    c.mu.lock();
    mu_.unlock();
    for (; i < order.size() && done[order[i]].client.get() == &c; ++i)
      authorized |= ApplyCommandLocked(c, done[order[i]]);
    // Write it now (we are the loop thread); freed slots may let queued
    // calls in.
    c.PumpLocked(/*readable=*/false, &calls);
    UnlockAndSettle(c, &calls, authorized);
  }
  done.clear();  // drops the client references with no lock held
}

// Loop thread, server lock: finds the clients of commands given by id. One
// that has gone is skipped; an event for it counts as dropped.
void Server::ResolveCommandsLocked(std::vector<Command>* commands) {
  AssertHeld(mu_);
  for (Command& command : *commands) {
    if (command.client) continue;
    auto it = clients_.find(command.client_id);
    if (it != clients_.end()) {
      command.client = it->second;
    } else if (command.kind == Command::Kind::kEvent) {
      CounterSet::Add(counters_.events_dropped);
    }
  }
}

// A worker of this server, no lock held: the command is applied at once, as
// qemud's workers queued their replies (server lock, then the client lock).
// The I/O is the loop thread's: the client is listed for it to pump before
// its next turn, which writes the answer without a POLLOUT round trip
// through the backend (on epoll, two epoll_ctl calls per answer).
void Server::ApplyFromWorker(Command& item) {
  mu_.lock();
  if (!item.client) {
    auto it = clients_.find(item.client_id);
    if (it == clients_.end()) {
      if (item.kind == Command::Kind::kEvent) CounterSet::Add(counters_.events_dropped);
      mu_.unlock();
      return;
    }
    item.client = it->second;
  }
  Connection& c = *item.client;
  // Listed before the client lock is taken and the server lock dropped: the
  // loop thread, which takes the list under the server lock, then waits for
  // the client lock until this command is applied.
  const bool wake = ListForPumpLocked(c);
  c.mu.lock();
  mu_.unlock();
  bool authorized = ApplyCommandLocked(c, item);
  c.AccountLocked();
  const bool reap = c.TakeReapTicketLocked();
  c.mu.unlock();
  if (reap || authorized) {
    std::lock_guard<RankedMutex> lock(mu_);
    if (reap) to_reap_.push_back(&c);
    if (authorized) {
      --unauthenticated_;
      slots_.ReleaseUnauthenticated();
      CounterSet::Sub(counters_.clients_unauthenticated);
      UpdateAcceptingLocked();
    }
  }
  if (wake || reap) loop_.Wake();  // it pumps and reaps between turns
  item.client.reset();  // with no lock held: it may be the last reference
}

// Any server thread, server lock: lists `c` for the loop thread to pump
// before its next wait. True when the caller must wake the loop: the list
// was empty (else whoever listed the first one woke it).
bool Server::ListForPumpLocked(Connection& c) {
  AssertHeld(mu_);
  if (c.listed_for_pump) return false;
  c.listed_for_pump = true;
  const bool first = to_pump_.empty();
  to_pump_.push_back(ConnectionRef::Share(&c));
  return first;
}

// Loop thread, server lock held on entry and on return (dropped inside):
// pumps the clients workers applied commands to since the last turn (writes
// their answers, takes the calls that freed slots let in, sets the watch).
// Returns how many it pumped.
size_t Server::PumpListedClients(std::unique_lock<RankedMutex>& lock) {
  AssertHeld(mu_);
  if (to_pump_.empty()) return 0;
  pumping_.swap(to_pump_);
  for (ConnectionRef& c : pumping_) c->listed_for_pump = false;
  lock.unlock();
  std::vector<Job> calls;
  for (ConnectionRef& c : pumping_) {
    mu_.lock();
    c->mu.lock();
    mu_.unlock();
    c->PumpLocked(/*readable=*/false, &calls);
    UnlockAndSettle(*c, &calls, false);
  }
  const size_t pumped = pumping_.size();
  pumping_.clear();  // with no lock held: a reference may be the last
  lock.lock();
  return pumped;
}

}  // namespace xdrd
