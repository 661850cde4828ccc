// call.cc — see call.h for the threads that use a Call.
#include "server/call.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "base/buffer_pool.h"
#include "server/commands.h"
#include "server/server.h"

namespace xdrd {

namespace {
// Received frame buffers below this size (the pool's smallest: smaller
// ones are plain heap blocks) may carry the reply (Call::Reply).
constexpr size_t kReuseReceivedBytes = 16 * 1024;
}  // namespace

Call::Call(RefPtr<CommandQueue> commands, ConnectionRef client, Message message, RefPtr<CallState> state,
           uint32_t max_message_bytes)
    : max_message_bytes_(max_message_bytes),
      commands_(std::move(commands)),
      client_(std::move(client)),
      message_(std::move(message)),
      state_(std::move(state)) {}

Call::Call(Call&& other) noexcept
    : max_message_bytes_(other.max_message_bytes_),
      commands_(std::move(other.commands_)),
      client_(std::move(other.client_)),
      message_(std::move(other.message_)),
      state_(std::move(other.state_)),
      answered_(other.answered_) {
  other.answered_ = true;  // the moved-from shell must not answer
}

Call::~Call() {
  if (!answered_) ReplyError(InternalError("the handler finished without replying"));
}

void Call::Reply(const uint8_t* body, size_t n) {
  Header h = message_.header;
  h.type = kTypeReply;
  h.status = kStatusOk;
  h.nfds = 0;
  // Room for the whole frame at once (length word, header, body). A small
  // reply that fits in the (small) received frame's buffer is written
  // there: the loop thread allocated that buffer and frees it once the
  // reply is written, so neither the answering thread's malloc nor a free
  // across threads is paid per call. Not when `body` lies in that buffer (a
  // C++ handler echoing its own body): the header would overwrite it. Large
  // buffers are not reused for small replies (a send queue counts what it
  // holds); otherwise the frame comes from the frame-buffer pool when
  // large, and the written frame goes back there (OutFrame's destructor).
  std::vector<uint8_t> frame;
  std::vector<uint8_t>& received = message_.frame;
  const size_t need = kMinFrameBytes + n;
  const auto at = reinterpret_cast<uintptr_t>(body);
  const auto own = reinterpret_cast<uintptr_t>(received.data());
  const bool inside = n != 0 && at >= own && at < own + received.capacity();
  if (received.capacity() >= need && received.capacity() < kReuseReceivedBytes && !inside) {
    frame = std::move(received);
    frame.clear();
    received.clear();  // a moved-from vector is valid but unspecified
    message_.payload_offset = 0;
  } else {
    frame = LargeBufferPool().Take(need);
  }
  size_t start = BeginFrame(&frame, h);
  frame.insert(frame.end(), body, body + n);  // already XDR-encoded
  if (!FinishFrame(&frame, start, max_message_bytes_)) {
    ReplyError(InternalError("reply of " + std::to_string(n) + " bytes exceeds the maximum message size"));
    return;
  }
  Deliver(std::move(frame));
}

std::vector<uint8_t> Call::TakeFrame(size_t* body_offset) {
  *body_offset = message_.payload_offset;
  std::vector<uint8_t> frame = std::move(message_.frame);
  message_.frame.clear();  // a moved-from vector is valid but unspecified
  message_.payload_offset = 0;
  return frame;
}

void Call::ReplyError(const RpcError& error) {
  std::vector<uint8_t> frame = EncodeErrorReply(message_.header, error);
  if (frame.empty()) frame = EncodeErrorReply(message_.header, InternalError("error reply too large"));
  Deliver(std::move(frame));
}

void Call::EnableKeepalive(uint32_t interval_ms, uint32_t count) {
  if (answered_) {
    std::fprintf(stderr, "xdrd: EnableKeepalive after the call (serial %u) was answered\n",
                 message_.header.serial);
    std::abort();
  }
  Command item;
  item.kind = Command::Kind::kKeepalive;
  item.client = client_;
  item.keepalive_interval_ms = interval_ms;
  item.keepalive_count = count;
  Send(item);
}

void Call::Deliver(std::vector<uint8_t> frame) {
  if (answered_) {
    std::fprintf(stderr, "xdrd: call serial %u answered twice\n", message_.header.serial);
    std::abort();
  }
  answered_ = true;
  Command item;
  item.client = std::move(client_);
  // Moved, not shared: the answer needs the state no more, and a copy is one
  // more atomic increment (and decrement) on a count the worker and the
  // loop thread also touch.
  item.call = std::move(state_);
  item.frame = std::move(frame);
  Send(item);
}

void Call::Send(Command& item) {
  // On a worker of the server whose queue this Call holds, the server is
  // alive (its worker runs this very code) and applies the command at once.
  // The queue, not the server's address, identifies it: the Call keeps the
  // queue alive, so no later server can have the same one.
  if (Server* server = Server::WorkerServerOf(commands_.get())) {
    server->ApplyFromWorker(item);
    return;
  }
  // A refused push means the server is stopped or gone; `item` drops the
  // reply and the client reference when it goes out of scope, with no lock
  // held.
  commands_->Push(item);
}

}  // namespace xdrd
