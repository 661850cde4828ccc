// call.h — one RPC call as a handler sees it, and the only way to answer it.
//
// Threads
//   A worker creates the Call and passes it to the handler with no lock
//   held. Any thread holding no xdrd lock may answer it, once, now or later:
//   on a worker of the same server the reply is queued directly (as qemud
//   did), from any other thread it goes through the command queue
//   (THREADING.md, "Answering a call").
//
// Exactly once
//   A Call is answered once. Answering twice is a bug and aborts. A Call
//   destroyed unanswered (a handler that forgot, or threw) answers itself
//   with an internal error, so the client never waits forever.
//
// References
//   A Call holds a reference on its connection and on the server's command
//   queue: both stay valid however long the handler keeps it. If the client
//   has gone by then, the reply is dropped.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "server/connection.h"
#include "server/message.h"
#include "wire/wire.h"

namespace xdrd {

class CommandQueue;
struct Command;

class Call {
 public:
  Call(Call&& other) noexcept;
  Call& operator=(Call&&) = delete;
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;
  ~Call();

  const Header& header() const { return message_.header; }
  const uint8_t* body() const { return message_.body(); }
  size_t body_size() const { return message_.body_size(); }
  uint64_t client_id() const { return client_->id(); }
  // When the loop thread framed the call (monotonic clock, microseconds):
  // now minus this is how long it waited for a worker and the handler.
  int64_t received_us() const { return message_.received_us; }

  // Answers with status OK and `body` (already XDR-encoded).
  void Reply(const uint8_t* body, size_t n);
  void Reply(const std::vector<uint8_t>& body) { Reply(body.data(), body.size()); }
  // Answers with status ERROR and libvirt's error struct.
  void ReplyError(const RpcError& error);

  // Switches server-side keepalive on for this call's client: a PING after
  // `interval_ms` without traffic, and the client is closed when nothing has
  // arrived for interval_ms x (count + 1). What libvirt's daemon does once a
  // client asks for the keepalive feature. Call it before answering; it
  // takes effect before the answer is written.
  void EnableKeepalive(uint32_t interval_ms, uint32_t count);

  // Gives up the received frame without copying it, for a caller that hands
  // the body to another owner (the addon lends large bodies to JS this
  // way). The body is the returned vector's bytes from *body_offset on.
  // Afterwards body() and body_size() are empty; the header stays, and the
  // Call is answered as before.
  std::vector<uint8_t> TakeFrame(size_t* body_offset);

  // True once the server has given up on this call (a shutdown deadline
  // passed) and answered it itself: a long handler should stop, and
  // whatever it answers now is dropped.
  // (A moved-from shell has no state and was never given up on; nor, once
  // answered, is the Call: its answer took the state along.)
  bool cancelled() const { return state_ && state_->cancelled.load(std::memory_order_acquire); }

 private:
  friend class Dispatcher;
  Call(RefPtr<CommandQueue> commands, ConnectionRef client, Message message, RefPtr<CallState> state,
       uint32_t max_message_bytes);

  void Deliver(std::vector<uint8_t> frame);
  void Send(Command& item);

  uint32_t max_message_bytes_;
  RefPtr<CommandQueue> commands_;
  ConnectionRef client_;
  Message message_;
  RefPtr<CallState> state_;
  bool answered_ = false;
};

}  // namespace xdrd
