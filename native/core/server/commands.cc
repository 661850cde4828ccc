// commands.cc — see commands.h.
#include "server/commands.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <system_error>
#include <utility>

namespace xdrd {

bool ApplyCommandLocked(Connection& c, Command& command) {
  AssertHeld(c.mu);
  switch (command.kind) {
    case Command::Kind::kReply:
      c.QueueReplyLocked(std::move(command.frame), command.call.get());
      return false;
    case Command::Kind::kKeepalive:
      c.EnableKeepaliveLocked(command.keepalive_interval_ms, command.keepalive_count);
      return false;
    case Command::Kind::kEvent:
      c.QueueEventLocked(std::move(command.frame));
      return false;
    case Command::Kind::kAuthorize:
      return c.AuthorizeLocked(command.allow);
    case Command::Kind::kClose:
      c.CloseLocked(command.after_writes);
      return false;
  }
  return false;
}

CommandQueue::CommandQueue() {
  fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

CommandQueue::~CommandQueue() {
  // Items still here hold client references; drop them outside the lock.
  std::vector<Command> leftovers;
  std::vector<ListenerRequest> listeners;
  Close(&leftovers, &listeners);
  leftovers.clear();
  for (ListenerRequest& l : listeners) close(l.socket.fd);
  close(fd_);
}

void CommandQueue::WakeLocked() {
  if (signalled_) return;
  signalled_ = true;
  uint64_t one = 1;
  ssize_t n = write(fd_, &one, sizeof one);  // cannot overflow: one per drain
  (void)n;
}

namespace {
thread_local CommandQueue::PushBatch* t_push_batch = nullptr;
// The vector a thread's batches collect into. It is empty between batches
// but keeps its capacity, and it changes places with the queue's own when
// that is empty (the loop thread's TakeAll swaps likewise), so in a steady
// flow of batches no vector is allocated and no command moved under mu_.
thread_local std::vector<Command> t_batch_items;
}  // namespace

CommandQueue::PushBatch::PushBatch(size_t expected) : items_(t_batch_items) {
  if (t_push_batch != nullptr) std::abort();  // not nestable: a bug in the caller
  items_.reserve(expected);  // before the batch is in force: this may throw
  t_push_batch = this;
}

CommandQueue::PushBatch::~PushBatch() {
  t_push_batch = nullptr;
  if (!queue_ || items_.empty()) return;
  {
    std::lock_guard<RankedMutex> lock(queue_->mu_);
    if (!queue_->closed_) {
      if (queue_->items_.empty()) {
        queue_->items_.swap(items_);
      } else {
        for (Command& c : items_) queue_->items_.push_back(std::move(c));
        items_.clear();
      }
      queue_->WakeLocked();
    }
  }
  items_.clear();  // refused: replies and client references dropped with no lock held
}

bool CommandQueue::Push(Command& c) {
  if (PushBatch* batch = t_push_batch) {
    if (!batch->queue_) batch->queue_ = RefPtr<CommandQueue>::Share(this);
    if (batch->queue_.get() == this) {
      batch->items_.push_back(std::move(c));
      return true;
    }
  }
  std::lock_guard<RankedMutex> lock(mu_);
  if (closed_) return false;
  items_.push_back(std::move(c));
  WakeLocked();
  return true;
}

bool CommandQueue::PushListener(ListenerRequest& request) {
  std::lock_guard<RankedMutex> lock(mu_);
  if (closed_) return false;
  listeners_.push_back(std::move(request));
  WakeLocked();
  return true;
}

void CommandQueue::TakeAll(std::vector<Command>* commands, std::vector<ListenerRequest>* listeners) {
  std::lock_guard<RankedMutex> lock(mu_);
  uint64_t count;
  ssize_t n = read(fd_, &count, sizeof count);
  (void)n;  // EAGAIN when nothing was written: harmless
  signalled_ = false;
  if (commands->empty()) {
    commands->swap(items_);
  } else {
    for (auto& c : items_) commands->push_back(std::move(c));
    items_.clear();
  }
  for (auto& l : listeners_) listeners->push_back(std::move(l));
  listeners_.clear();
}

void CommandQueue::Open() {
  std::lock_guard<RankedMutex> lock(mu_);
  closed_ = false;
}

void CommandQueue::Close(std::vector<Command>* leftovers, std::vector<ListenerRequest>* listeners) {
  std::lock_guard<RankedMutex> lock(mu_);
  closed_ = true;
  for (auto& c : items_) leftovers->push_back(std::move(c));
  items_.clear();
  for (auto& l : listeners_) listeners->push_back(std::move(l));
  listeners_.clear();
}

}  // namespace xdrd
