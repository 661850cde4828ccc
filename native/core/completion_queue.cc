// completion_queue.cc — see completion_queue.h.
#include "completion_queue.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace xdrd {

CompletionQueue::CompletionQueue() {
  fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

CompletionQueue::~CompletionQueue() {
  // Items still here hold client references; drop them outside the lock.
  std::vector<Completion> leftovers;
  Close(&leftovers);
  leftovers.clear();
  close(fd_);
}

bool CompletionQueue::Push(Completion& c) {
  std::lock_guard<RankedMutex> lock(mu_);
  if (closed_) return false;
  items_.push_back(std::move(c));
  if (!signalled_) {
    signalled_ = true;
    uint64_t one = 1;
    ssize_t n = write(fd_, &one, sizeof one);  // cannot overflow: one per drain
    (void)n;
  }
  return true;
}

void CompletionQueue::TakeAll(std::vector<Completion>* out) {
  std::lock_guard<RankedMutex> lock(mu_);
  uint64_t count;
  ssize_t n = read(fd_, &count, sizeof count);
  (void)n;  // EAGAIN when nothing was written: harmless
  signalled_ = false;
  if (out->empty()) {
    out->swap(items_);
  } else {
    for (auto& c : items_) out->push_back(std::move(c));
    items_.clear();
  }
}

void CompletionQueue::Open() {
  std::lock_guard<RankedMutex> lock(mu_);
  closed_ = false;
}

void CompletionQueue::Close(std::vector<Completion>* leftovers) {
  std::lock_guard<RankedMutex> lock(mu_);
  closed_ = true;
  for (auto& c : items_) leftovers->push_back(std::move(c));
  items_.clear();
}

}  // namespace xdrd
