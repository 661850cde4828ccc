// commands.h — what other threads ask of the loop thread, and the queue
// that carries it: a handler's reply, an event, a keepalive switch, an
// authorization verdict, a close (for one connection), and listeners added
// while the server runs.
//
// Threads and locks
//   Push*(): any thread. TakeAll(): the loop thread, in the callback of its
//   watch on fd(). Open(): the owner, at Start(). Close(): the loop thread
//   as its last act, and the owner at destruction.
//   mu_ is a leaf lock (THREADING.md): nothing is taken under it and no
//   reference is dropped under it. The eventfd only wakes the loop; the
//   commands themselves cross threads under mu_.
//
// Lifetime
//   Calls hold a reference on the queue, so a call completed after its
//   server stopped (or is gone) pushes into a closed queue: the push fails
//   and the caller drops its reply and its client reference at once. A
//   stopped server holds no client that way.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "base/live_counts.h"
#include "base/lock.h"
#include "base/refcount.h"
#include "net/listen_socket.h"
#include "server/api_types.h"
#include "server/connection.h"

namespace xdrd {

// One request about one connection. Commands for one connection are
// applied in the order they were pushed.
struct Command {
  enum class Kind : uint8_t { kReply, kKeepalive, kEvent, kAuthorize, kClose };
  Kind kind = Kind::kReply;
  // The connection: held by reference (a Call's commands), or named by id
  // (the application's requests, which the loop thread resolves; a client
  // that has gone by then is skipped).
  ConnectionRef client;
  uint64_t client_id = 0;
  RefPtr<CallState> call;      // kReply: the call answered
  std::vector<uint8_t> frame;  // kReply: the encoded reply; kEvent: the MESSAGE frame
  uint32_t keepalive_interval_ms = 0;  // kKeepalive
  uint32_t keepalive_count = 0;
  bool allow = false;         // kAuthorize: let it in (or close it as denied)
  bool after_writes = false;  // kClose: once what is queued is written
  LiveToken<live_detail::kMessage> live;
};
// Queues of these grow by moving; a throwing move would make them copy.
static_assert(std::is_nothrow_move_constructible_v<Command>, "Command must move without throwing");

// Applies `command` to `c`. Client lock held; any thread the server lets
// apply (the loop thread, a worker of the server). True if it let a client
// that awaited authorization in (the server then counts one fewer).
bool ApplyCommandLocked(Connection& c, Command& command);

// A listening socket to add once the loop thread takes it.
struct ListenerRequest {
  ListenSocket socket;
  ListenerOptions options;
};

class CommandQueue : public RefCounted<CommandQueue> {
 public:
  // Throws std::system_error if the eventfd cannot be created.
  CommandQueue();
  ~CommandQueue();
  CommandQueue(const CommandQueue&) = delete;
  CommandQueue& operator=(const CommandQueue&) = delete;

  // The eventfd the loop watches for POLLIN.
  int fd() const { return fd_; }

  // Queues `c` and wakes the loop. Returns false, leaving `c` with the
  // caller, once the queue is closed. Inside a PushBatch on this thread the
  // command is collected instead, and true is returned: the batch hands it
  // over (or drops it, if the queue has closed by then) when it ends.
  bool Push(Command& c);

  // A scope on one thread (the JS thread, around one flush of answers):
  // its Push()es to one queue cross in one locked step with one wake-up at
  // its end, not one each. Pushes to any other queue go through at once.
  // Commands refused because the queue closed are dropped after the lock
  // is released. Not nestable.
  class PushBatch {
   public:
    // `expected`: how many pushes to make room for at once.
    explicit PushBatch(size_t expected = 0);
    ~PushBatch();
    PushBatch(const PushBatch&) = delete;
    PushBatch& operator=(const PushBatch&) = delete;

   private:
    friend class CommandQueue;
    RefPtr<CommandQueue> queue_;  // the first queue pushed to; kept alive until the end
    std::vector<Command>& items_;  // this thread's (commands.cc), empty between batches
  };
  // The same for a listener; false (the socket stays the caller's) once closed.
  bool PushListener(ListenerRequest& request);
  // Moves everything queued into *commands and *listeners and resets the
  // wake-up.
  void TakeAll(std::vector<Command>* commands, std::vector<ListenerRequest>* listeners);
  // Accepts pushes (again).
  void Open();
  // Refuses later pushes until Open(); hands back what was still queued.
  void Close(std::vector<Command>* leftovers, std::vector<ListenerRequest>* listeners);

 private:
  void WakeLocked();

  RankedMutex mu_{LockRank::kLeaf, "command queue"};
  std::vector<Command> items_;              // [mu_]
  std::vector<ListenerRequest> listeners_;  // [mu_]
  bool closed_ = false;                     // [mu_]
  bool signalled_ = false;                  // [mu_] the eventfd holds an unread wake-up
  int fd_ = -1;
};

}  // namespace xdrd
