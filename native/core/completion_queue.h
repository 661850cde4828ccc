// completion_queue.h — how finished calls get back to the loop thread from
// threads that are not workers of the server (the JS thread, a handler's
// own threads, a worker of another server).
//
// Threads and locks
//   Push(): any thread. TakeAll(): the loop thread, in the callback of its
//   watch on fd(). Open(): the owner, at Start(). Close(): the loop thread
//   as its last act, and the owner at destruction.
//   mu_ is a leaf lock: nothing is taken under it and no reference is
//   dropped under it (dropping the last client reference runs a destructor).
//   The eventfd only wakes the loop; the items themselves cross threads
//   under mu_.
//
// Lifetime
//   Calls hold a reference on the queue, so a call completed after its
//   server stopped (or is gone) pushes into a closed queue: the push fails
//   and the caller drops its reply and its client reference at once. A
//   stopped server holds no client that way.
#pragma once

#include <memory>
#include <type_traits>
#include <vector>

#include "client.h"
#include "lock.h"

namespace xdrd {

// What a thread other than the loop asks of one client: queue a reply or an
// event, switch server-side keepalive on, settle its authorization, close
// it. Items for one client are applied in the order they were pushed.
struct Completion {
  enum class Kind : uint8_t { kReply, kKeepalive, kEvent, kAuthorize, kClose };
  Kind kind = Kind::kReply;
  ClientRef client;
  RefPtr<CallState> call;  // kReply: the call answered
  std::vector<uint8_t> frame;  // kReply: the encoded reply; kEvent: the MESSAGE frame
  uint32_t keepalive_interval_ms = 0;  // kKeepalive
  uint32_t keepalive_count = 0;
  bool allow = false;         // kAuthorize: let it in (or close it as denied)
  bool after_writes = false;  // kClose: once what is queued is written
  LiveToken<live_detail::kMessage> live;
};
// Queues of these grow by moving; a throwing move would make them copy.
static_assert(std::is_nothrow_move_constructible_v<Completion>, "Completion must move without throwing");

class CompletionQueue : public RefCounted<CompletionQueue> {
 public:
  // Throws std::system_error if the eventfd cannot be created.
  CompletionQueue();
  ~CompletionQueue();
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  // The eventfd the loop watches for POLLIN.
  int fd() const { return fd_; }

  // Queues `c` and wakes the loop. Returns false, leaving `c` with the
  // caller, once the queue is closed.
  bool Push(Completion& c);
  // Moves everything queued into *out and resets the wake-up.
  void TakeAll(std::vector<Completion>* out);
  // Accepts pushes (again).
  void Open();
  // Refuses later pushes until Open(); hands back what was still queued.
  void Close(std::vector<Completion>* leftovers);

 private:
  RankedMutex mu_{LockRank::kLeaf, "completion queue"};
  std::vector<Completion> items_;  // [mu_]
  bool closed_ = false;            // [mu_]
  bool signalled_ = false;         // [mu_] the eventfd holds an unread wake-up
  int fd_ = -1;
};

}  // namespace xdrd
