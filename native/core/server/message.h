// message.h — RPC frames as the core holds them: an incoming call on its way
// to a handler, and an outgoing frame waiting in a client's send queue.
// Each counts as a live message (live_counts.h).
//
// Threads: plain values, owned by one thread at a time and handed over
// under the lock that guards the queue they sit in. Destroying one gives its
// frame buffer back to LargeBufferPool() (buffer_pool.h), which takes that
// pool's leaf lock only for a large buffer: a moved-from Message or OutFrame
// (empty vector) takes no lock, so one may die under any lock, while one
// that still owns its frame must not die under another leaf lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "base/buffer_pool.h"
#include "base/live_counts.h"
#include "base/refcount.h"
#include "wire/wire.h"

namespace xdrd {

struct Message {
  Message() = default;
  Message(Message&&) = default;
  Message& operator=(Message&&) = default;
  // The received frame is reused for a later one (buffer_pool.h).
  ~Message() { LargeBufferPool().Give(std::move(frame)); }

  Header header;
  std::vector<uint8_t> frame;  // the whole frame, length word included
  size_t payload_offset = 0;   // where the body starts in `frame`
  int64_t received_us = 0;     // when the loop framed it (monotonic clock)
  LiveToken<live_detail::kMessage> live;

  const uint8_t* body() const { return frame.data() + payload_offset; }
  size_t body_size() const { return frame.size() - payload_offset; }
};

// What the server and a running handler share about one call.
//   cancelled: set by the server at a shutdown deadline; handlers poll it.
//   answered_by_server: [client lock] the server answered the call itself
//     (the shutdown error); the handler's late answer is dropped.
// Reference-counted with RefCounted (not std::shared_ptr, whose counts
// helgrind cannot follow): the worker's Call and the client's in-flight list
// each hold one, and the last may go on any thread.
struct CallState : RefCounted<CallState> {
  explicit CallState(const Header& h) : header(h) {}
  const Header header;
  std::atomic<bool> cancelled{false};
  bool answered_by_server = false;
};

static_assert(std::is_nothrow_move_constructible_v<Message>, "Message must move without throwing");

struct OutFrame {
  OutFrame() = default;
  OutFrame(OutFrame&&) = default;
  OutFrame& operator=(OutFrame&&) = default;
  // Written (or dropped with the connection): the buffer is reused for a
  // later frame (buffer_pool.h).
  ~OutFrame() { LargeBufferPool().Give(std::move(bytes)); }

  std::vector<uint8_t> bytes;
  // A reply to a call: writing it completes the call (and, with the request
  // budget, frees its slot). PONGs and events are not replies.
  bool is_reply = false;
  LiveToken<live_detail::kMessage> live;
};

}  // namespace xdrd
