// The server over real sockets: calls answered by workers and from other
// threads, in and out of order; protocol errors answered byte for byte as
// libvirtd answers them; large frames in pieces; frames that are dropped;
// keepalive PING; stop and restart; many idle connections. Slow handlers
// wait on latches.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include "check.h"
#include "server/dispatch.h"
#include "rpc_client.h"
#include "server_fixture.h"
#include "test_util.h"

using namespace xdrd;
using xt::CallFrame;
using xt::HeaderOf;
using xt::kTestProgram;
using xt::kTestVersion;
using xt::RpcClient;
using xt::TestServer;
using Bytes = std::vector<uint8_t>;

namespace {

// Expected bytes, written without the code under test: a test-local XDR
// writer for the error replies the server must send.
void Put32(Bytes* b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b->push_back(static_cast<uint8_t>(v >> shift));
}
void PutString(Bytes* b, const std::string& s) {
  Put32(b, static_cast<uint32_t>(s.size()));
  b->insert(b->end(), s.begin(), s.end());
  while (b->size() % 4) b->push_back(0);
}

// A REPLY with status ERROR, as libvirtd 9.0 fills an RPC error.
Bytes RpcErrorReply(uint32_t prog, uint32_t vers, int32_t proc, uint32_t serial, int32_t code,
                    const std::string& message, const std::string& format = "%s") {
  Bytes b;
  Put32(&b, 0);                              // length, patched below
  Put32(&b, prog);                           // prog: the call's
  Put32(&b, vers);                           // vers: the call's
  Put32(&b, static_cast<uint32_t>(proc));    // proc: the call's
  Put32(&b, 1);                              // type REPLY
  Put32(&b, serial);                         // serial: the call's
  Put32(&b, 1);                              // status ERROR
  Put32(&b, static_cast<uint32_t>(code));    // code
  Put32(&b, 7);                              // domain RPC
  Put32(&b, 1);                              // message present
  PutString(&b, message);                    //   the text the user sees
  Put32(&b, 2);                              // level ERROR
  Put32(&b, 0);                              // dom NULL
  Put32(&b, 1);                              // str1 present
  PutString(&b, format);                     //   the message's format
  Put32(&b, 1);                              // str2 present
  PutString(&b, format == "%s" ? message : message.substr(std::strlen("internal error: ")));
  Put32(&b, 0);                              // str3 NULL
  Put32(&b, 0xffffffff);                     // int1 -1
  Put32(&b, 0xffffffff);                     // int2 -1
  Put32(&b, 0);                              // net NULL
  uint32_t len = static_cast<uint32_t>(b.size());
  for (int i = 0; i < 4; ++i) b[static_cast<size_t>(i)] = static_cast<uint8_t>(len >> (24 - 8 * i));
  return b;
}

Bytes OkReply(uint32_t prog, uint32_t vers, int32_t proc, uint32_t serial, const Bytes& body) {
  Bytes b;
  Put32(&b, static_cast<uint32_t>(28 + body.size()));  // length
  Put32(&b, prog);                                     // prog
  Put32(&b, vers);                                     // vers
  Put32(&b, static_cast<uint32_t>(proc));              // proc
  Put32(&b, 1);                                        // type REPLY
  Put32(&b, serial);                                   // serial
  Put32(&b, 0);                                        // status OK
  b.insert(b.end(), body.begin(), body.end());         // body
  return b;
}

const Bytes kBody = {0, 0, 0, 2, 'h', 'i', 0, 0};  // string "hi"

// `calls` CALL frames back to back, serials 0..calls-1, with kBody.
Bytes Burst(uint32_t prog, uint32_t vers, int32_t (*proc_of)(uint32_t serial), uint32_t calls) {
  Bytes burst;
  for (uint32_t serial = 0; serial < calls; ++serial) {
    Bytes f = CallFrame(prog, vers, proc_of(serial), serial, kBody);
    burst.insert(burst.end(), f.begin(), f.end());
  }
  return burst;
}

// Reads `calls` replies from `c`, in any order: each serial exactly once,
// each an OK reply echoing kBody.
void ExpectEachSerialAnsweredOnce(RpcClient& c, uint32_t prog, uint32_t vers,
                                  int32_t (*proc_of)(uint32_t serial), uint32_t calls) {
  std::vector<int> seen(calls, 0);
  for (uint32_t i = 0; i < calls; ++i) {
    auto reply = c.ReadFrame();
    XT_REQUIRE(reply.has_value());
    uint32_t serial = HeaderOf(*reply).serial;
    XT_REQUIRE(serial < calls);
    ++seen[serial];
    XT_CHECK_BYTES(*reply, OkReply(prog, vers, proc_of(serial), serial, kBody));
  }
  for (int n : seen) XT_CHECK_EQ(n, 1);
}

int32_t EchoProc(uint32_t) { return xt::kProcEcho; }
int32_t SpreadProc(uint32_t serial) { return static_cast<int32_t>(serial % 7); }

}  // namespace

XT_TEST(echo_over_unix_socket) {
  TestServer t;
  ListenSocket l = t.server->ListenUnix(t.UnixPath(), 0600);
  XT_REQUIRE(l.ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(c.connected());
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, 41, kBody)));
  auto reply = c.ReadFrame();
  XT_REQUIRE(reply.has_value());
  XT_CHECK_BYTES(*reply, OkReply(kTestProgram, kTestVersion, xt::kProcEcho, 41, kBody));
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

XT_TEST(echo_over_tcp) {
  TestServer t;
  ListenSocket l = t.server->ListenTcp("127.0.0.1", 0);
  XT_REQUIRE(l.ok());
  XT_CHECK(l.port != 0);
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Tcp(l.port);
  XT_REQUIRE(c.connected());
  for (uint32_t serial = 0; serial < 3; ++serial) {
    XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, serial, kBody)));
    auto reply = c.ReadFrame();
    XT_REQUIRE(reply.has_value());
    XT_CHECK_BYTES(*reply, OkReply(kTestProgram, kTestVersion, xt::kProcEcho, serial, kBody));
  }
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// Large frames that arrive in many pieces (the loop reads a large frame in
// progress straight into its buffer, and what follows it into its scratch):
// a 1 MiB echo, a small call right behind it and a 200 KiB echo, written in
// odd-sized pieces with pauses, are each answered byte for byte, and every
// byte sent is counted as read.
XT_TEST(large_echoes_arriving_in_many_pieces_are_answered_exactly) {
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath(), 0600).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(c.connected());
  std::vector<Bytes> bodies = {Bytes(1 << 20), kBody, Bytes(200 * 1024)};
  for (size_t i = 0; i < bodies[0].size(); ++i) bodies[0][i] = static_cast<uint8_t>(i * 7 + (i >> 12));
  for (size_t i = 0; i < bodies[2].size(); ++i) bodies[2][i] = static_cast<uint8_t>(i * 13 + 1);
  Bytes stream;
  for (uint32_t serial = 0; serial < 3; ++serial) {
    const Bytes f = CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, serial, bodies[serial]);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  const size_t kPiece = 40961;  // odd, so frame ends fall inside pieces
  for (size_t at = 0; at < stream.size(); at += kPiece) {
    XT_REQUIRE(c.Send(stream.data() + at, std::min(kPiece, stream.size() - at)));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // each piece its own read
  }
  std::vector<int> seen(3, 0);
  for (int i = 0; i < 3; ++i) {
    auto reply = c.ReadFrame();
    XT_REQUIRE(reply.has_value());
    const uint32_t serial = HeaderOf(*reply).serial;
    XT_REQUIRE(serial < 3);
    ++seen[serial];
    XT_CHECK(*reply == OkReply(kTestProgram, kTestVersion, xt::kProcEcho, serial, bodies[serial]));
  }
  for (int n : seen) XT_CHECK_EQ(n, 1);
  XT_CHECK_EQ(t.server->Counters().bytes_read, static_cast<uint64_t>(stream.size()));
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

XT_TEST(unix_socket_gets_its_mode_and_existing_path_is_refused) {
  TestServer t;
  ListenSocket l = t.server->ListenUnix(t.UnixPath(), 0640);
  XT_REQUIRE(l.ok());
  struct stat st;
  XT_REQUIRE(stat(t.UnixPath().c_str(), &st) == 0);
  XT_CHECK(S_ISSOCK(st.st_mode));
  XT_CHECK_EQ(st.st_mode & 0777, 0640u);
  ListenSocket again = t.server->ListenUnix(t.UnixPath(), 0600);
  XT_CHECK(!again.ok());
  XT_CHECK_EQ(again.error, EADDRINUSE);
  XT_CHECK(again.message.find("path exists") != std::string::npos);
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
  XT_CHECK(access(t.UnixPath().c_str(), F_OK) != 0);  // unlinked at stop
}

// Answers completed from the test thread go through the completion queue;
// the client matches them by serial, in whatever order they come.
XT_TEST(out_of_order_completion_from_another_thread) {
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  for (uint32_t serial : {10u, 11u, 12u})
    XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcDeferred, serial, kBody)));
  t.store.WaitFor(3);
  for (uint32_t serial : {12u, 10u, 11u}) {
    auto call = t.store.Take(serial);
    XT_REQUIRE(call != nullptr);
    Bytes body = {0, 0, 0, static_cast<uint8_t>(serial)};
    call->Reply(body);
    auto reply = c.ReadFrame();
    XT_REQUIRE(reply.has_value());
    XT_CHECK_BYTES(*reply, OkReply(kTestProgram, kTestVersion, xt::kProcDeferred, serial, body));
  }
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// Replies answered from another thread in one burst, interleaved across two
// clients, reach each client in the order they were answered (the loop
// groups a burst by client and writes each client's replies together).
XT_TEST(burst_of_completions_keeps_each_clients_order) {
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient a = RpcClient::Unix(t.UnixPath());
  RpcClient b = RpcClient::Unix(t.UnixPath());
  for (uint32_t serial : {1u, 2u, 3u, 4u, 5u})
    XT_REQUIRE(a.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcDeferred, serial, kBody)));
  for (uint32_t serial : {11u, 12u, 13u, 14u, 15u})
    XT_REQUIRE(b.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcDeferred, serial, kBody)));
  t.store.WaitFor(10);
  const std::vector<uint32_t> answered = {14, 3, 11, 5, 1, 15, 12, 2, 4, 13};
  for (uint32_t serial : answered) {
    auto call = t.store.Take(serial);
    XT_REQUIRE(call != nullptr);
    call->Reply(Bytes{0, 0, 0, static_cast<uint8_t>(serial)});
  }
  for (RpcClient* c : {&a, &b}) {
    for (uint32_t serial : answered) {
      if ((serial > 10) != (c == &b)) continue;
      auto reply = c->ReadFrame();
      XT_REQUIRE(reply.has_value());
      XT_CHECK_BYTES(*reply, OkReply(kTestProgram, kTestVersion, xt::kProcDeferred, serial,
                                     Bytes{0, 0, 0, static_cast<uint8_t>(serial)}));
    }
  }
  a.Close();
  b.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// A handler blocked on a latch holds one worker; other calls still run.
XT_TEST(latched_handler_does_not_block_other_calls) {
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient slow = RpcClient::Unix(t.UnixPath());
  RpcClient fast = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(slow.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcLatched, 1)));
  t.latched_entered.Wait();
  for (uint32_t serial = 0; serial < 20; ++serial) {
    XT_REQUIRE(fast.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, serial, kBody)));
    auto reply = fast.ReadFrame();
    XT_REQUIRE(reply.has_value());
    XT_CHECK_EQ(HeaderOf(*reply).serial, serial);
  }
  t.latch.CountDown();
  auto reply = slow.ReadFrame();
  XT_REQUIRE(reply.has_value());
  XT_CHECK_BYTES(*reply, OkReply(kTestProgram, kTestVersion, xt::kProcLatched, 1, {0, 0, 0, 1}));
  slow.Close();
  fast.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// Calls that may block (handlers not marked quick) are taken one at a time,
// and a worker that takes one while more wait wakes another: four calls
// that arrive in one write, each waiting for all four to have started, meet
// on four workers. (Were they run back to back on one worker, none would
// be answered.)
XT_TEST(slow_calls_sent_together_start_on_separate_workers) {
  constexpr uint32_t kMeetProgram = 0x20000002;
  constexpr int kCalls = 4;  // = the fixture's workers
  TestServer t;
  xt::Latch all_started(kCalls);
  XT_REQUIRE(t.server->Handle(kMeetProgram, 1, 1, [&all_started](Call call) {
    all_started.CountDown();
    all_started.Wait();
    call.Reply(std::vector<uint8_t>{0, 0, 0, 1});
  }));
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(c.Send(Burst(kMeetProgram, 1, [](uint32_t) { return int32_t{1}; }, kCalls)));
  int answered = 0;
  for (int i = 0; i < kCalls; ++i) {
    auto reply = c.ReadFrame();
    if (!reply.has_value()) break;
    XT_CHECK_BYTES(*reply, OkReply(kMeetProgram, 1, 1, HeaderOf(*reply).serial, {0, 0, 0, 1}));
    ++answered;
  }
  XT_CHECK_EQ(answered, kCalls);
  for (int i = 0; i < kCalls; ++i) all_started.CountDown();  // frees them if they never met
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// Quick handlers (HandlerTraits::quick) are run in runs by one worker; a
// quick call queued behind a blocked slow one is still answered, and every
// call of a pipelined burst from many clients is answered exactly once.
XT_TEST(quick_calls_run_in_runs_and_pass_a_blocked_slow_call) {
  constexpr uint32_t kQuickProgram = 0x20000003;
  TestServer t;
  XT_REQUIRE(t.server->HandleProgram(kQuickProgram, 1, [](Call call) {
    call.Reply(call.body(), call.body_size());
  }, HandlerTraits{/*quick=*/true}));
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient slow = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(slow.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcLatched, 1)));
  t.latched_entered.Wait();
  const int kClients = xt::UnderValgrind() ? 3 : 6;
  const uint32_t kCalls = xt::UnderValgrind() ? 30 : 200;
  std::vector<RpcClient> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(RpcClient::Unix(t.UnixPath()));
  const Bytes burst = Burst(kQuickProgram, 1, SpreadProc, kCalls);
  for (auto& c : clients) XT_REQUIRE(c.Send(burst));
  for (auto& c : clients) ExpectEachSerialAnsweredOnce(c, kQuickProgram, 1, SpreadProc, kCalls);
  XT_CHECK(!t.latch.Released());  // the slow call was blocked all along
  t.latch.CountDown();
  auto reply = slow.ReadFrame();
  XT_REQUIRE(reply.has_value());
  XT_CHECK_BYTES(*reply, OkReply(kTestProgram, kTestVersion, xt::kProcLatched, 1, {0, 0, 0, 1}));
  clients.clear();
  slow.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// RunEnd (dispatch.h): what a quick handler puts off runs on its worker once,
// after the run's last job, and answers given there reach their clients.
// The handler here holds its calls and the run's end answers them all, the
// way the addon's bridge hands a worker's run to JS in one step.
namespace {
thread_local std::vector<Call> t_held_calls;
std::mutex g_run_end_mu;
std::vector<size_t> g_run_end_sizes;  // [g_run_end_mu] the calls answered by each run's end
std::atomic<int> g_defer_refused{0};

void AnswerHeldCalls(void*) {
  std::vector<Call> calls = std::move(t_held_calls);
  t_held_calls.clear();  // a moved-from vector is valid but unspecified
  {
    std::lock_guard<std::mutex> lock(g_run_end_mu);
    g_run_end_sizes.push_back(calls.size());
  }
  for (Call& call : calls) call.Reply(call.body(), call.body_size());
}
}  // namespace

XT_TEST(run_end_work_runs_once_after_the_last_job_of_a_run) {
  XT_CHECK(!RunEnd::Defer(&AnswerHeldCalls, nullptr));  // not a worker: do it now
  constexpr uint32_t kHeldProgram = 0x20000004;
  TestServer t;
  XT_REQUIRE(t.server->HandleProgram(kHeldProgram, 1, [](Call call) {
    t_held_calls.push_back(std::move(call));
    // Asked twice: the work still runs once per run (a second run of it
    // would find no calls and record an empty run).
    for (int i = 0; i < 2; ++i) {
      if (!RunEnd::Defer(&AnswerHeldCalls, nullptr)) g_defer_refused.fetch_add(1);
    }
  }, HandlerTraits{/*quick=*/true}));
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  const int kClients = xt::UnderValgrind() ? 2 : 4;
  const uint32_t kCalls = xt::UnderValgrind() ? 30 : 200;
  std::vector<RpcClient> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(RpcClient::Unix(t.UnixPath()));
  const Bytes burst = Burst(kHeldProgram, 1, SpreadProc, kCalls);
  for (auto& c : clients) XT_REQUIRE(c.Send(burst));
  for (auto& c : clients) ExpectEachSerialAnsweredOnce(c, kHeldProgram, 1, SpreadProc, kCalls);
  clients.clear();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
  XT_CHECK_EQ(g_defer_refused.load(), 0);
  std::lock_guard<std::mutex> lock(g_run_end_mu);
  size_t answered = 0;
  for (size_t n : g_run_end_sizes) {
    XT_CHECK(n >= 1);
    answered += n;
  }
  XT_CHECK_EQ(answered, static_cast<size_t>(kClients) * kCalls);
}

XT_TEST(handler_that_never_answers_gets_an_internal_error) {
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcForget, 5)));
  auto reply = c.ReadFrame();
  XT_REQUIRE(reply.has_value());
  XT_CHECK_BYTES(*reply, RpcErrorReply(kTestProgram, kTestVersion, xt::kProcForget, 5, 1,
                                       "internal error: the handler finished without replying",
                                       "internal error: %s"));
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

XT_TEST(throwing_handler_gets_an_internal_error_and_server_lives_on) {
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcThrow, 6)));
  auto reply = c.ReadFrame();
  XT_REQUIRE(reply.has_value());
  XT_CHECK_BYTES(*reply, RpcErrorReply(kTestProgram, kTestVersion, xt::kProcThrow, 6, 1,
                                       "internal error: the handler finished without replying",
                                       "internal error: %s"));
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, 7, kBody)));
  reply = c.ReadFrame();
  XT_REQUIRE(reply.has_value());
  XT_CHECK_EQ(HeaderOf(*reply).serial, 7u);
  // Counted by the worker after the unwinding Call has answered.
  XT_CHECK(xt::WaitUntil([&] { return t.server->Counters().handler_exceptions == 1; }));
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

XT_TEST(unknown_procedure_is_answered_like_libvirtd) {
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, 9999, 3)));
  auto reply = c.ReadFrame();
  XT_REQUIRE(reply.has_value());
  // The whole frame, field by field: libvirt-wire.md §4 and §9.
  const Bytes expected = {
      0x00, 0x00, 0x00, 0x88,  // length 136
      0x20, 0x00, 0x00, 0x01,  // prog: the call's
      0x00, 0x00, 0x00, 0x01,  // vers 1
      0x00, 0x00, 0x27, 0x0f,  // proc 9999
      0x00, 0x00, 0x00, 0x01,  // type REPLY
      0x00, 0x00, 0x00, 0x03,  // serial 3
      0x00, 0x00, 0x00, 0x01,  // status ERROR
      0x00, 0x00, 0x00, 0x27,  // code 39 RPC
      0x00, 0x00, 0x00, 0x07,  // domain 7 RPC
      0x00, 0x00, 0x00, 0x01,  // message present
      0x00, 0x00, 0x00, 0x17,  //   23 bytes
      'u', 'n', 'k', 'n', 'o', 'w', 'n', ' ', 'p', 'r', 'o', 'c', 'e', 'd', 'u', 'r', 'e', ':', ' ',
      '9', '9', '9', '9', 0x00,  // "unknown procedure: 9999" + 1 pad
      0x00, 0x00, 0x00, 0x02,  // level 2 ERROR
      0x00, 0x00, 0x00, 0x00,  // dom NULL
      0x00, 0x00, 0x00, 0x01,  // str1 present
      0x00, 0x00, 0x00, 0x02,  //   2 bytes
      '%', 's', 0x00, 0x00,    //   "%s" + 2 pad
      0x00, 0x00, 0x00, 0x01,  // str2 present
      0x00, 0x00, 0x00, 0x17,  //   23 bytes
      'u', 'n', 'k', 'n', 'o', 'w', 'n', ' ', 'p', 'r', 'o', 'c', 'e', 'd', 'u', 'r', 'e', ':', ' ',
      '9', '9', '9', '9', 0x00,  // the message again + 1 pad
      0x00, 0x00, 0x00, 0x00,  // str3 NULL
      0xff, 0xff, 0xff, 0xff,  // int1 -1
      0xff, 0xff, 0xff, 0xff,  // int2 -1
      0x00, 0x00, 0x00, 0x00,  // net NULL
  };
  XT_CHECK_BYTES(*reply, expected);
  // The connection stays open.
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, 4, kBody)));
  reply = c.ReadFrame();
  XT_REQUIRE(reply.has_value());
  XT_CHECK_EQ(HeaderOf(*reply).serial, 4u);
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

XT_TEST(unknown_program_and_version_are_answered_like_libvirtd) {
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(c.Send(CallFrame(0x12345678, 1, 7, 8)));
  auto reply = c.ReadFrame();
  XT_REQUIRE(reply.has_value());
  XT_CHECK_BYTES(*reply, RpcErrorReply(0x12345678, 1, 7, 8, 39,
                                       "Cannot find program 305419896 version 1"));
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, 2, xt::kProcEcho, 9)));
  reply = c.ReadFrame();
  XT_REQUIRE(reply.has_value());
  XT_CHECK_BYTES(*reply, RpcErrorReply(kTestProgram, 2, xt::kProcEcho, 9, 39,
                                       "Cannot find program 536870913 version 2"));
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

XT_TEST(call_with_nonzero_status_is_refused) {
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, 10, kBody, kTypeCall, 1)));
  auto reply = c.ReadFrame();
  XT_REQUIRE(reply.has_value());
  XT_CHECK_BYTES(*reply, RpcErrorReply(kTestProgram, kTestVersion, xt::kProcEcho, 10, 39,
                                       "Unexpected message status 1"));
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// A CALL_WITH_FDS gets an error reply with its serial, and the descriptor
// that came with it is closed: with every read end of a pipe closed, a
// write to the pipe fails with EPIPE.
XT_TEST(call_with_fds_is_refused_and_descriptors_closed) {
  signal(SIGPIPE, SIG_IGN);
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  int pipe_fds[2];
  XT_REQUIRE(pipe2(pipe_fds, O_CLOEXEC) == 0);

  Header h;
  h.prog = kTestProgram;
  h.vers = kTestVersion;
  h.proc = xt::kProcEcho;
  h.type = kTypeCallWithFds;
  h.serial = 11;
  h.nfds = 1;
  Bytes frame = EncodeFrame(h, nullptr, 0);
  iovec iov{frame.data(), frame.size()};
  alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cm), &pipe_fds[0], sizeof(int));
  XT_REQUIRE(sendmsg(c.fd(), &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(frame.size()));
  close(pipe_fds[0]);  // the server now holds the only read end

  auto reply = c.ReadFrame();
  XT_REQUIRE(reply.has_value());
  XT_CHECK_BYTES(*reply, RpcErrorReply(kTestProgram, kTestVersion, xt::kProcEcho, 11, 39,
                                       "fd passing is not supported by this server"));
  char byte = 'x';
  XT_CHECK(write(pipe_fds[1], &byte, 1) == -1 && errno == EPIPE);
  XT_CHECK_EQ(t.server->Counters().fds_closed, 1u);
  close(pipe_fds[1]);
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// Descriptors passed with SCM_RIGHTS alongside a plain CALL (not
// CALL_WITH_FDS) and alongside a PING: every one is closed on receipt and
// counted, and the frames are handled as if nothing had come with them: the
// CALL is served, the PING answered, no error reply. Then a CALL_WITH_FDS
// with a descriptor: its error reply is counted in error_replies too.
XT_TEST(descriptors_sent_with_any_frame_are_closed_and_counted) {
  signal(SIGPIPE, SIG_IGN);
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  // Sends `frame` with the read ends of `n` fresh pipes, keeps the write
  // ends in `writers`, and closes its own copies of the read ends.
  std::vector<int> writers;
  auto send_with_fds = [&](const Bytes& frame, size_t n) {
    std::vector<int> readers;
    for (size_t i = 0; i < n; ++i) {
      int p[2];
      XT_REQUIRE(pipe2(p, O_CLOEXEC) == 0);
      readers.push_back(p[0]);
      writers.push_back(p[1]);
    }
    iovec iov{const_cast<uint8_t*>(frame.data()), frame.size()};
    std::vector<unsigned char> control(CMSG_SPACE(n * sizeof(int)), 0);
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(n * sizeof(int));
    std::memcpy(CMSG_DATA(cm), readers.data(), n * sizeof(int));
    XT_REQUIRE(sendmsg(c.fd(), &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(frame.size()));
    for (int r : readers) close(r);  // the server now holds the only read ends
  };

  send_with_fds(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, 1, kBody), 2);
  auto reply = c.ReadFrame();
  XT_REQUIRE(reply.has_value());
  XT_CHECK_BYTES(*reply, OkReply(kTestProgram, kTestVersion, xt::kProcEcho, 1, kBody));
  send_with_fds(MakePingFrame(), 1);
  reply = c.ReadFrame();
  XT_REQUIRE(reply.has_value());
  XT_CHECK_BYTES(*reply, MakePongFrame());
  ServerCounters counters = t.server->Counters();
  XT_CHECK_EQ(counters.fds_closed, 3u);
  XT_CHECK_EQ(counters.error_replies, 0u);
  XT_CHECK_EQ(counters.calls_received, 1u);
  XT_CHECK_EQ(counters.pings_answered, 1u);

  Header h;
  h.prog = kTestProgram;
  h.vers = kTestVersion;
  h.proc = xt::kProcEcho;
  h.type = kTypeCallWithFds;
  h.serial = 2;
  h.nfds = 1;
  send_with_fds(EncodeFrame(h, nullptr, 0), 1);
  reply = c.ReadFrame();
  XT_REQUIRE(reply.has_value());
  XT_CHECK_BYTES(*reply, RpcErrorReply(kTestProgram, kTestVersion, xt::kProcEcho, 2, 39,
                                       "fd passing is not supported by this server"));
  counters = t.server->Counters();
  XT_CHECK_EQ(counters.fds_closed, 4u);
  XT_CHECK_EQ(counters.error_replies, 1u);
  XT_CHECK_EQ(counters.calls_received, 2u);
  XT_CHECK_EQ(counters.calls_dispatched, 1u);  // the echo only

  // Every read end the server was given is closed: a write to each pipe fails.
  for (int w : writers) {
    char byte = 'x';
    XT_CHECK(write(w, &byte, 1) == -1 && errno == EPIPE);
    close(w);
  }
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// MESSAGE, REPLY, STREAM and STREAM_HOLE from a client: no bytes back, the
// connection stays usable, each is counted.
XT_TEST(unexpected_frames_are_dropped_and_counted) {
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  for (uint32_t type : {kTypeMessage, kTypeReply, kTypeStream, kTypeStreamHole, kTypeReplyWithFds})
    XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, 0, {}, type)));
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, 12, kBody)));
  auto reply = c.ReadFrame();
  XT_REQUIRE(reply.has_value());
  XT_CHECK_BYTES(*reply, OkReply(kTestProgram, kTestVersion, xt::kProcEcho, 12, kBody));
  XT_CHECK_EQ(t.server->Counters().frames_dropped, 5u);
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

XT_TEST(ping_is_answered_with_pong_by_the_loop) {
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(c.Send(MakePingFrame()));
  auto reply = c.ReadFrame();
  XT_REQUIRE(reply.has_value());
  const Bytes pong = {
      0x00, 0x00, 0x00, 0x1c,  // length 28
      0x6b, 0x65, 0x65, 0x70,  // prog KEEPALIVE "keep"
      0x00, 0x00, 0x00, 0x01,  // vers 1
      0x00, 0x00, 0x00, 0x02,  // proc 2 PONG
      0x00, 0x00, 0x00, 0x02,  // type MESSAGE
      0x00, 0x00, 0x00, 0x00,  // serial 0
      0x00, 0x00, 0x00, 0x00,  // status OK
  };
  XT_CHECK_BYTES(*reply, pong);
  XT_CHECK_EQ(t.server->Counters().calls_dispatched, 0u);  // no worker involved
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

XT_TEST(bad_length_word_closes_without_reply) {
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  for (uint32_t len : {8u, 27u, 33554437u}) {
    RpcClient c = RpcClient::Unix(t.UnixPath());
    Bytes word;
    Put32(&word, len);
    XT_REQUIRE(c.Send(word));
    XT_CHECK(c.ExpectEof());
  }
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// Pipelined calls from several clients at once, each answered once.
XT_TEST(pipelined_calls_from_many_clients) {
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  const int kClients = xt::UnderValgrind() ? 4 : 8;
  const uint32_t kCalls = xt::UnderValgrind() ? 20 : 50;
  std::vector<RpcClient> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(RpcClient::Unix(t.UnixPath()));
  const Bytes batch = Burst(kTestProgram, kTestVersion, EchoProc, kCalls);
  for (auto& c : clients) XT_REQUIRE(c.Send(batch));
  for (auto& c : clients) ExpectEachSerialAnsweredOnce(c, kTestProgram, kTestVersion, EchoProc, kCalls);
  clients.clear();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// Answers given on a worker are written by the loop thread without asking
// the backend for POLLOUT: a writable socket costs no watch change per call
// (on epoll that would be two epoll_ctl calls each).
XT_TEST(worker_answers_cost_no_watch_changes) {
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(c.connected());
  // The first call settles the client's watch; count from after it.
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, 0, kBody)));
  XT_REQUIRE(c.ReadFrame().has_value());
  const uint64_t before = t.server->LoopStats().interest_changes;
  constexpr uint32_t kCalls = 100;
  for (uint32_t serial = 1; serial <= kCalls; ++serial) {
    XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, serial, kBody)));
    auto reply = c.ReadFrame();
    XT_REQUIRE(reply.has_value());
    XT_CHECK_BYTES(*reply, OkReply(kTestProgram, kTestVersion, xt::kProcEcho, serial, kBody));
  }
  XT_CHECK_EQ(t.server->LoopStats().interest_changes - before, 0u);
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// Stop with a call parked in a handler: the call is answered with the
// shutdown error, the client closed, the late answer dropped; nothing stays
// alive.
XT_TEST(stop_with_call_outstanding_then_restart) {
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcDeferred, 1, kBody)));
  t.store.WaitFor(1);
  t.server->Stop();
  auto error = c.ReadFrame();
  XT_REQUIRE(error.has_value());
  XT_CHECK_BYTES(*error, RpcErrorReply(kTestProgram, kTestVersion, xt::kProcDeferred, 1, 1,
                                       "server is shutting down"));
  XT_CHECK(c.ExpectEof());
  auto late = t.store.Take(1);
  XT_REQUIRE(late != nullptr);
  XT_CHECK(late->cancelled());
  late->Reply(kBody);  // dropped: the server answered it already
  late.reset();

  // A stopped server listens and serves again.
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient again = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(again.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, 2, kBody)));
  auto reply = again.ReadFrame();
  XT_REQUIRE(reply.has_value());
  XT_CHECK_EQ(HeaderOf(*reply).serial, 2u);
  again.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

XT_TEST(registration_is_refused_while_running) {
  TestServer t;
  XT_REQUIRE(t.server->Start());
  XT_CHECK(!t.server->Handle(1, 1, 1, [](Call call) { call.Reply(nullptr, 0); }));
  XT_CHECK(!t.server->Start());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// 1,000 idle connections do not slow or starve an active client (100 under
// valgrind, where the point is the locking, not the count).
XT_TEST(thousand_idle_connections_and_one_active) {
  const int kIdle = xt::UnderValgrind() ? 100 : 1000;
  const uint32_t kCalls = xt::UnderValgrind() ? 20 : 200;
  rlimit lim;
  XT_REQUIRE(getrlimit(RLIMIT_NOFILE, &lim) == 0);
  rlim_t need = 2 * static_cast<rlim_t>(kIdle) + 200;  // both ends live in this process
  if (lim.rlim_cur < need) {
    lim.rlim_cur = need;
    if (lim.rlim_max < need) lim.rlim_max = need;
    XT_REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0);
  }
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  std::vector<RpcClient> idle;
  for (int i = 0; i < kIdle; ++i) {
    idle.push_back(RpcClient::Unix(t.UnixPath()));
    XT_REQUIRE(idle.back().connected());
  }
  RpcClient active = RpcClient::Unix(t.UnixPath());
  for (uint32_t serial = 0; serial < kCalls; ++serial) {
    XT_REQUIRE(active.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, serial, kBody)));
    auto reply = active.ReadFrame();
    XT_REQUIRE(reply.has_value());
    XT_CHECK_EQ(HeaderOf(*reply).serial, serial);
  }
  XT_CHECK_EQ(t.server->Counters().clients_live, static_cast<uint64_t>(kIdle + 1));
  idle.clear();
  active.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

XT_TEST(catch_all_handler_takes_unregistered_procedures) {
  TestServer t;
  // Registered before Start: program 0x20000002 has one procedure and a
  // catch-all that answers with the procedure number.
  constexpr uint32_t kOther = 0x20000002;
  t.server->Handle(kOther, 1, 1, [](Call call) { call.Reply({0, 0, 0, 0}); });
  t.server->HandleProgram(kOther, 1, [](Call call) {
    Bytes body = {0, 0, 0, static_cast<uint8_t>(call.header().proc)};
    call.Reply(body);
  });
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(c.Send(CallFrame(kOther, 1, 1, 1)));   // the procedure's own handler
  XT_REQUIRE(c.Send(CallFrame(kOther, 1, 42, 2)));  // the catch-all
  for (int i = 0; i < 2; ++i) {
    auto reply = c.ReadFrame();
    XT_REQUIRE(reply.has_value());
    uint32_t serial = HeaderOf(*reply).serial;
    if (serial == 1) XT_CHECK_BYTES(*reply, OkReply(kOther, 1, 1, 1, {0, 0, 0, 0}));
    else XT_CHECK_BYTES(*reply, OkReply(kOther, 1, 42, 2, {0, 0, 0, 42}));
  }
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

XT_TEST(latched_handler_over_tcp) {
  TestServer t;
  ListenSocket l = t.server->ListenTcp();
  XT_REQUIRE(l.ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Tcp(l.port);
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcLatched, 1)));
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, 2, kBody)));
  t.latched_entered.Wait();
  // The echo overtakes the latched call on the same connection.
  auto first = c.ReadFrame();
  XT_REQUIRE(first.has_value());
  XT_CHECK_BYTES(*first, OkReply(kTestProgram, kTestVersion, xt::kProcEcho, 2, kBody));
  t.latch.CountDown();
  auto second = c.ReadFrame();
  XT_REQUIRE(second.has_value());
  XT_CHECK_BYTES(*second, OkReply(kTestProgram, kTestVersion, xt::kProcLatched, 1, {0, 0, 0, 1}));
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// Log lines come from the loop thread with no lock held, at most log_burst
// a second; the rest are counted.
XT_TEST(log_of_dropped_frames_is_rate_limited) {
  std::mutex mu;
  std::vector<std::string> lines;
  ServerOptions options = TestServer::DefaultOptions();
  options.log_burst = 5;
  options.log = [&](const LogRecord& record) {
    std::lock_guard<std::mutex> lock(mu);
    lines.push_back(record.message);
  };
  TestServer t(options);
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  Bytes burst;
  for (int i = 0; i < 100; ++i) {
    Bytes f = CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, 0, {}, kTypeReply);
    burst.insert(burst.end(), f.begin(), f.end());
  }
  XT_REQUIRE(c.Send(burst));
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, 1, kBody)));
  XT_REQUIRE(c.ReadFrame().has_value());  // everything before it was read
  ServerCounters counters = t.server->Counters();
  XT_CHECK_EQ(counters.frames_dropped, 100u);
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
  // Within one second at most 5 lines; the 100 frames were read well within
  // a few windows, so most were suppressed.
  XT_CHECK(lines.size() >= 5 && lines.size() < 100);
  XT_CHECK_EQ(lines.size() + counters.log_suppressed, 100u);
  XT_CHECK(lines[0].find("dropped unexpected REPLY frame") != std::string::npos);
}

// Sets XDRD_EVENT_BACKEND (or unsets it, for null) for one scope and puts
// back what was there: the second ctest pass sets it for the whole run.
class ScopedBackendEnv {
 public:
  explicit ScopedBackendEnv(const char* value) {
    const char* old = std::getenv("XDRD_EVENT_BACKEND");
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value != nullptr) {
      setenv("XDRD_EVENT_BACKEND", value, 1);
    } else {
      unsetenv("XDRD_EVENT_BACKEND");
    }
  }
  ~ScopedBackendEnv() {
    if (had_) {
      setenv("XDRD_EVENT_BACKEND", old_.c_str(), 1);
    } else {
      unsetenv("XDRD_EVENT_BACKEND");
    }
  }
  ScopedBackendEnv(const ScopedBackendEnv&) = delete;
  ScopedBackendEnv& operator=(const ScopedBackendEnv&) = delete;

 private:
  bool had_ = false;
  std::string old_;
};

// The option picks the backend; XDRD_EVENT_BACKEND overrides it; and the
// server answers calls on either.
XT_TEST(event_backend_option_and_environment_override) {
  for (EventBackend asked : {EventBackend::kEpoll, EventBackend::kPoll}) {
    for (const char* env : {static_cast<const char*>(nullptr), "epoll", "poll"}) {
      ScopedBackendEnv scoped(env);
      ServerOptions options = TestServer::DefaultOptions();
      options.event_backend = asked;
      TestServer t(options);
      const EventBackend expected = env == nullptr ? asked : std::strcmp(env, "poll") == 0 ? EventBackend::kPoll
                                                                                           : EventBackend::kEpoll;
      XT_CHECK(t.server->event_backend() == expected);
      XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
      XT_REQUIRE(t.server->Start());
      RpcClient c = RpcClient::Unix(t.UnixPath());
      XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, 7, kBody)));
      auto reply = c.ReadFrame();
      XT_REQUIRE(reply.has_value());
      XT_CHECK_EQ(HeaderOf(*reply).serial, 7u);
      c.Close();
      XT_CHECK(t.ShutDownAndCheckNothingLeft());
    }
  }
}

// A value that names no backend is a startup error naming the variable;
// the server did not start and nothing is left running.
XT_TEST(unknown_event_backend_in_environment_fails_start) {
  ScopedBackendEnv scoped("kqueue");
  TestServer t;
  std::string error;
  XT_CHECK(!t.server->Start(&error));
  XT_CHECK(error.find("XDRD_EVENT_BACKEND") != std::string::npos);
  XT_CHECK(error.find("kqueue") != std::string::npos);
  XT_CHECK(!t.server->LoopRunning());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}
