// Call: how an answer finds its server. A Call recognises a worker of its
// own server by the command queue it holds, never by the server's address:
// a Call that outlives its server and is answered on a worker of a new
// server built at the same address must not reach the new server.
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

#include "check.h"
#include "rpc_client.h"
#include "server_fixture.h"
#include "test_util.h"

using namespace xdrd;
using xt::CallFrame;
using xt::kTestProgram;
using xt::kTestVersion;
using xt::RpcClient;
using Bytes = std::vector<uint8_t>;

namespace {

const Bytes kBody = {0, 0, 0, 7};

// Room for one Server, so a second one can be built at the first one's
// address once the first is destroyed.
struct ServerSlot {
  alignas(Server) unsigned char bytes[sizeof(Server)];
  Server* Make(ServerOptions options) { return new (bytes) Server(std::move(options)); }
};

}  // namespace

XT_TEST(late_answer_on_a_worker_of_a_new_server_at_the_same_address_is_dropped) {
  xt::TempDir dir;
  const LiveCounts baseline = ReadLiveCounts();
  ServerOptions options;
  options.workers = 1;
  ServerSlot slot;

  // Server A parks a call and stops: the shutdown answers the call itself.
  xt::CallStore parked;
  Server* a = slot.Make(options);
  a->Handle(kTestProgram, kTestVersion, xt::kProcDeferred, [&parked](Call call) { parked.Put(std::move(call)); });
  XT_REQUIRE(a->ListenUnix(dir.File("a")).ok());
  XT_REQUIRE(a->Start());
  {
    RpcClient c = RpcClient::Unix(dir.File("a"));
    XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcDeferred, 1, kBody)));
    parked.WaitFor(1);
  }
  a->~Server();
  std::unique_ptr<Call> late = parked.Take(1);
  XT_REQUIRE(late != nullptr);

  // Server B, at A's address. Its handler answers A's call on B's worker
  // first, then its own.
  Server* b = slot.Make(options);
  XT_REQUIRE(static_cast<void*>(b) == static_cast<void*>(a));
  b->Handle(kTestProgram, kTestVersion, xt::kProcEcho, [&late](Call call) {
    late->Reply(kBody);  // A's: its queue is closed, so it is dropped here
    late.reset();
    call.Reply(std::vector<uint8_t>(call.body(), call.body() + call.body_size()));
  });
  XT_REQUIRE(b->ListenUnix(dir.File("b")).ok());
  XT_REQUIRE(b->Start());
  RpcClient c = RpcClient::Unix(dir.File("b"));
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, 2, kBody)));
  auto reply = c.ReadFrame();
  XT_REQUIRE(reply.has_value());
  Header h = xt::HeaderOf(*reply);
  XT_CHECK_EQ(h.type, kTypeReply);
  XT_CHECK_EQ(h.serial, 2u);
  XT_CHECK_EQ(h.status, kStatusOk);
  XT_CHECK_BYTES(Bytes(reply->end() - 4, reply->end()), kBody);
  // The loop thread counts the reply written just after the kernel took it.
  XT_CHECK(xt::WaitUntil([&] { return b->Counters().replies_written == 1; }, 10000));
  ServerCounters counters = b->Counters();
  // A's reply never touched B: B dropped nothing, wrote its one reply, and
  // has one client.
  XT_CHECK_EQ(counters.replies_dropped, 0u);
  XT_CHECK_EQ(counters.clients_live, 1u);
  XT_CHECK_EQ(counters.calls_reply_pending, 0u);
  c.Close();
  b->~Server();
  const LiveCounts now = ReadLiveCounts();
  XT_CHECK_EQ(now.clients, baseline.clients);
  XT_CHECK_EQ(now.threads, baseline.threads);
  XT_CHECK_EQ(now.messages, baseline.messages);
}


// Call::Reply writes a small reply into the received frame's own buffer
// when it fits. Replies shorter than, as long as and longer than the call,
// from a separate buffer and from the call's own body (which must not be
// overwritten by the reply's header), each arrive exact.
XT_TEST(replies_written_into_the_received_buffer_or_a_new_one_are_exact) {
  xt::TempDir dir;
  ServerOptions options;
  options.workers = 1;
  Server server(options);
  // The reply body is the call's body cut or padded to the length its
  // first byte names; an odd length byte means "answer from the call's own
  // bytes" (only when that length is the body's own).
  server.Handle(kTestProgram, kTestVersion, xt::kProcEcho, [](Call call) {
    const size_t want = call.body()[0];
    if (want % 2 == 1 && want == call.body_size()) {
      call.Reply(call.body(), call.body_size());  // straight from the received frame
      return;
    }
    Bytes out(want, 0xab);
    for (size_t i = 0; i < want && i < call.body_size(); ++i) out[i] = call.body()[i];
    call.Reply(out);
  });
  XT_REQUIRE(server.ListenUnix(dir.File("s")).ok());
  XT_REQUIRE(server.Start());
  RpcClient c = RpcClient::Unix(dir.File("s"));
  uint32_t serial = 0;
  // (call body length, reply length): shorter, equal, longer, own body.
  const std::pair<size_t, size_t> cases[] = {{40, 8}, {40, 40}, {8, 200}, {36, 36}, {13, 13}};
  for (const auto& [in_len, out_len] : cases) {
    Bytes body(in_len);
    for (size_t i = 0; i < in_len; ++i) body[i] = static_cast<uint8_t>(i * 7 + 1);
    body[0] = static_cast<uint8_t>(out_len);
    XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, ++serial, body)));
    auto reply = c.ReadFrame();
    XT_REQUIRE(reply.has_value());
    Header h = xt::HeaderOf(*reply);
    XT_CHECK_EQ(h.type, kTypeReply);
    XT_CHECK_EQ(h.serial, serial);
    XT_CHECK_EQ(h.status, kStatusOk);
    Bytes expected(out_len, 0xab);
    for (size_t i = 0; i < out_len && i < in_len; ++i) expected[i] = body[i];
    XT_CHECK_EQ(reply->size(), kMinFrameBytes + out_len);
    XT_CHECK_BYTES(Bytes(reply->begin() + static_cast<std::ptrdiff_t>(kMinFrameBytes), reply->end()), expected);
  }
  c.Close();
}
