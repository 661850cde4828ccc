// What the application sees of and asks of its clients: connect and
// disconnect notices (on_clients) with who the peer is and why it left;
// authorization before a client is read, and the bound on clients waiting
// for it; ControlClient's events, closes and keepalive by client id; an
// adopted listening socket (ListenFd); the client id on log records.
// The test waits on what the server tells it (notices, replies), never on
// sleeps; a wait that must NOT be answered is a short bounded one.
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "flood.h"
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

// Procedures this file adds to the fixture's test program.
enum : int32_t {
  kProcNote = 100,             // records (client id, serial) in the Journal, then echoes
  kProcEventThenReply = 101,   // ControlClient(kEvent) on the worker, then Reply
  kProcReplyThenEvent = 102,   // Reply on the worker, then ControlClient(kEvent)
  kProcCloseThenEvent = 103,   // ControlClient(kClose), then kEvent, then Reply
};

constexpr uint32_t kEventProg = 0x20000002;
constexpr uint32_t kEventVers = 3;
constexpr int32_t kEventProc = 77;

const Bytes kBody = {0, 0, 0, 2, 'h', 'i', 0, 0};  // string "hi"

void Put32(Bytes* b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b->push_back(static_cast<uint8_t>(v >> shift));
}

// A frame written by hand, without the code under test.
Bytes Frame(uint32_t prog, uint32_t vers, int32_t proc, uint32_t type, uint32_t serial,
            const Bytes& body) {
  Bytes b;
  Put32(&b, static_cast<uint32_t>(28 + body.size()));
  Put32(&b, prog);
  Put32(&b, vers);
  Put32(&b, static_cast<uint32_t>(proc));
  Put32(&b, type);
  Put32(&b, serial);
  Put32(&b, 0);  // status OK
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

Bytes EventFrame(const Bytes& body) { return Frame(kEventProg, kEventVers, kEventProc, 2, 0, body); }
Bytes OkReply(int32_t proc, uint32_t serial, const Bytes& body) {
  return Frame(kTestProgram, kTestVersion, proc, 1, serial, body);
}

ClientControl Event(const Bytes& body) {
  ClientControl c;
  c.kind = ClientControl::Kind::kEvent;
  c.prog = kEventProg;
  c.vers = kEventVers;
  c.proc = kEventProc;
  c.body = body;
  return c;
}

ClientControl Authorize(bool allow) {
  ClientControl c;
  c.kind = ClientControl::Kind::kAuthorize;
  c.allow = allow;
  return c;
}

ClientControl Close(bool after_writes) {
  ClientControl c;
  c.kind = ClientControl::Kind::kClose;
  c.after_writes = after_writes;
  return c;
}

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

// How long a wait for something that must happen may take before the test
// fails instead of hanging (valgrind runs 20-200 times slower).
int WaitLimitMs() { return xt::UnderValgrind() ? 120000 : 20000; }

// What the server told the test, in the order it happened: notices from the
// on_clients sink (loop thread), calls from kProcNote (workers), log records
// (loop thread). Everything under one mutex; waits are on a condition
// variable notified under it, with a time limit so a broken server fails
// the test rather than hanging it.
class Journal {
 public:
  struct Entry {
    enum Kind { kConnect, kDisconnect, kCall } kind;
    uint64_t client_id;
  };

  Journal() {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cv_, &attr);
    pthread_condattr_destroy(&attr);
  }
  ~Journal() { pthread_cond_destroy(&cv_); }
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Sinks for ServerOptions; the Journal must outlive the server.
  std::function<void(std::vector<ClientNotice>&)> NoticeSink() {
    return [this](std::vector<ClientNotice>& batch) {
      std::lock_guard<std::mutex> lock(mu_);
      for (ClientNotice& n : batch) {
        entries_.push_back({n.kind == ClientNotice::Kind::kConnect ? Entry::kConnect : Entry::kDisconnect,
                            n.client_id});
        (n.kind == ClientNotice::Kind::kConnect ? connects_ : disconnects_).push_back(n);
      }
      pthread_cond_broadcast(&cv_);
    };
  }
  std::function<void(const LogRecord&)> LogSink() {
    return [this](const LogRecord& r) {
      std::lock_guard<std::mutex> lock(mu_);
      logs_.push_back(r);
      pthread_cond_broadcast(&cv_);
    };
  }
  void NoteCall(uint64_t client_id) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.push_back({Entry::kCall, client_id});
    pthread_cond_broadcast(&cv_);
  }

  // The n-th connect notice (0-based), once it has come.
  bool WaitConnect(size_t n, ClientNotice* out = nullptr) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!WaitLocked(lock, [&] { return connects_.size() > n; })) return false;
    if (out) *out = connects_[n];
    return true;
  }
  uint64_t ConnectId(size_t n) {
    ClientNotice notice;
    return WaitConnect(n, &notice) ? notice.client_id : 0;
  }
  // The disconnect notice of client `id`, once it has come.
  bool WaitDisconnect(uint64_t id, ClientNotice* out = nullptr) {
    std::unique_lock<std::mutex> lock(mu_);
    const ClientNotice* found = nullptr;
    bool ok = WaitLocked(lock, [&] {
      for (const ClientNotice& n : disconnects_)
        if (n.client_id == id) found = &n;
      return found != nullptr;
    });
    if (ok && out) *out = *found;
    return ok;
  }
  CloseReason ReasonOf(uint64_t id) {
    ClientNotice notice;
    return WaitDisconnect(id, &notice) ? notice.reason : CloseReason::kNone;
  }
  // The first log record whose message contains `text`.
  bool WaitLog(const std::string& text, LogRecord* out) {
    std::unique_lock<std::mutex> lock(mu_);
    const LogRecord* found = nullptr;
    bool ok = WaitLocked(lock, [&] {
      for (const LogRecord& r : logs_)
        if (r.message.find(text) != std::string::npos) found = &r;
      return found != nullptr;
    });
    if (ok) *out = *found;
    return ok;
  }

  // No waiting: what has come so far.
  size_t connects() {
    std::lock_guard<std::mutex> lock(mu_);
    return connects_.size();
  }
  std::vector<Entry> entries() {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_;
  }
  bool HasDisconnect(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const ClientNotice& n : disconnects_)
      if (n.client_id == id) return true;
    return false;
  }

  // Every client has exactly one connect notice, first among its entries,
  // and at most one disconnect notice, last among them; every call came
  // from a client whose connect notice came before it.
  bool CheckOrder() {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<uint64_t, int> state;  // 0: unseen, 1: connected, 2: disconnected
    for (const Entry& e : entries_) {
      int& s = state[e.client_id];
      switch (e.kind) {
        case Entry::kConnect:
          if (s != 0) return Bad("second connect notice", e.client_id);
          s = 1;
          break;
        case Entry::kCall:
          if (s != 1) return Bad(s == 0 ? "call before its connect notice" : "call after its disconnect notice",
                                 e.client_id);
          break;
        case Entry::kDisconnect:
          if (s != 1) return Bad(s == 0 ? "disconnect before connect" : "second disconnect notice", e.client_id);
          s = 2;
          break;
      }
    }
    return true;
  }

 private:
  static bool Bad(const char* what, uint64_t id) {
    std::fprintf(stderr, "  notice order: %s (client %llu)\n", what, static_cast<unsigned long long>(id));
    return false;
  }

  template <typename Pred>
  bool WaitLocked(std::unique_lock<std::mutex>& lock, Pred pred) {
    timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    int64_t ns = int64_t{deadline.tv_nsec} + int64_t{WaitLimitMs()} * 1000000;
    deadline.tv_sec += static_cast<time_t>(ns / 1000000000);
    deadline.tv_nsec = static_cast<long>(ns % 1000000000);
    while (!pred()) {
      if (pthread_cond_timedwait(&cv_, lock.mutex()->native_handle(), &deadline) == ETIMEDOUT) return pred();
    }
    return true;
  }

  std::mutex mu_;
  pthread_cond_t cv_;
  std::vector<Entry> entries_;
  std::vector<ClientNotice> connects_, disconnects_;
  std::vector<LogRecord> logs_;
};

ServerOptions WithJournal(Journal* journal, ServerOptions o = TestServer::DefaultOptions()) {
  o.on_clients = journal->NoticeSink();
  o.log = journal->LogSink();
  o.log_burst = 1000;
  return o;
}

void RegisterNote(Server& server, Journal* journal) {
  server.Handle(kTestProgram, kTestVersion, kProcNote, [journal](Call call) {
    journal->NoteCall(call.client_id());
    call.Reply(Bytes(call.body(), call.body() + call.body_size()));
  });
}

// One echo round trip through kProcNote.
bool NoteRoundTrip(RpcClient& c, uint32_t serial) {
  if (!c.Send(CallFrame(kTestProgram, kTestVersion, kProcNote, serial, kBody))) return false;
  auto reply = c.ReadFrame(WaitLimitMs());
  return reply.has_value() && *reply == OkReply(kProcNote, serial, kBody);
}

uint16_t LocalPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return ntohs(addr.sin_port);
}

bool FdIsOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

}  // namespace

// ---- on_clients: connect notices ------------------------------------------------

// Each client's connect notice comes before any of its calls reaches a
// handler; a UNIX peer is described by its credentials and its listener.
XT_TEST(connect_notice_precedes_calls_and_describes_unix_peer) {
  Journal journal;
  TestServer t(WithJournal(&journal));
  RegisterNote(*t.server, &journal);
  const std::string rw_path = t.dir.File("rw"), ro_path = t.dir.File("ro");
  ListenerOptions read_only;
  read_only.read_only = true;
  XT_REQUIRE(t.server->ListenUnix(rw_path).ok());
  XT_REQUIRE(t.server->ListenUnix(ro_path, 0600, read_only).ok());
  XT_REQUIRE(t.server->Start());

  // Connected one at a time, so the n-th connect notice is the n-th client.
  const std::vector<std::string> paths = {rw_path, ro_path, rw_path};
  std::vector<RpcClient> clients;
  std::vector<ClientNotice> notices(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    clients.push_back(RpcClient::Unix(paths[i]));
    XT_REQUIRE(clients.back().connected());
    // Calls sent at once, before the notice is seen: they must still be
    // ordered after it.
    for (uint32_t serial = 0; serial < 3; ++serial)
      XT_REQUIRE(clients.back().Send(CallFrame(kTestProgram, kTestVersion, kProcNote, serial, kBody)));
    XT_REQUIRE(journal.WaitConnect(i, &notices[i]));
  }
  for (RpcClient& c : clients) {
    // Pipelined calls run on several workers: replies come in any order.
    std::vector<uint32_t> serials;
    for (int i = 0; i < 3; ++i) {
      auto reply = c.ReadFrame(WaitLimitMs());
      XT_REQUIRE(reply.has_value());
      uint32_t serial = HeaderOf(*reply).serial;
      XT_CHECK_BYTES(*reply, OkReply(kProcNote, serial, kBody));
      serials.push_back(serial);
    }
    std::sort(serials.begin(), serials.end());
    XT_CHECK(serials == (std::vector<uint32_t>{0, 1, 2}));
  }
  for (size_t i = 0; i < notices.size(); ++i) {
    const ClientNotice& n = notices[i];
    XT_CHECK(n.kind == ClientNotice::Kind::kConnect);
    XT_CHECK(n.client_id != 0);
    XT_CHECK(n.peer.transport == Transport::kUnix);
    XT_CHECK(n.peer.has_credentials);
    XT_CHECK_EQ(n.peer.uid, static_cast<uint32_t>(getuid()));
    XT_CHECK_EQ(n.peer.gid, static_cast<uint32_t>(getgid()));
    XT_CHECK_EQ(n.peer.pid, static_cast<int32_t>(getpid()));
    XT_CHECK_EQ(n.peer.read_only, paths[i] == ro_path);
    XT_CHECK(n.peer.listener_id != 0);
    XT_CHECK(n.peer.address.empty());
  }
  XT_CHECK(notices[0].client_id != notices[1].client_id && notices[1].client_id != notices[2].client_id &&
           notices[0].client_id != notices[2].client_id);
  XT_CHECK_EQ(notices[0].peer.listener_id, notices[2].peer.listener_id);
  XT_CHECK(notices[0].peer.listener_id != notices[1].peer.listener_id);

  // Nine calls, each attributed to a client that was announced first.
  size_t calls = 0;
  for (const Journal::Entry& e : journal.entries()) calls += e.kind == Journal::Entry::kCall;
  XT_CHECK_EQ(calls, 9u);
  clients.clear();
  for (const ClientNotice& n : notices) XT_CHECK(journal.ReasonOf(n.client_id) == CloseReason::kEof);
  XT_CHECK(journal.CheckOrder());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
  XT_CHECK(journal.CheckOrder());  // nothing more came at shutdown
}

XT_TEST(connect_notice_describes_tcp_peer) {
  Journal journal;
  TestServer t(WithJournal(&journal));
  ListenSocket l = t.server->ListenTcp("127.0.0.1", 0);
  XT_REQUIRE(l.ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Tcp(l.port);
  XT_REQUIRE(c.connected());
  ClientNotice n;
  XT_REQUIRE(journal.WaitConnect(0, &n));
  XT_CHECK(n.peer.transport == Transport::kTcp);
  XT_CHECK_EQ(n.peer.address, std::string("127.0.0.1"));
  XT_CHECK(n.peer.port != 0);
  XT_CHECK_EQ(n.peer.port, LocalPort(c.fd()));
  XT_CHECK(!n.peer.has_credentials);
  XT_CHECK(!n.peer.read_only);
  XT_CHECK(n.peer.listener_id != 0);
  c.Close();
  XT_CHECK(journal.ReasonOf(n.client_id) == CloseReason::kEof);
  XT_CHECK(journal.CheckOrder());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// ---- on_clients: why a client left -----------------------------------------------

XT_TEST(disconnect_reason_eof_when_the_client_closes) {
  Journal journal;
  TestServer t(WithJournal(&journal));
  RegisterNote(*t.server, &journal);
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  uint64_t id = journal.ConnectId(0);
  XT_REQUIRE(id != 0);
  XT_REQUIRE(NoteRoundTrip(c, 1));
  XT_CHECK(!journal.HasDisconnect(id));
  c.Close();
  XT_CHECK(journal.ReasonOf(id) == CloseReason::kEof);
  XT_CHECK(journal.CheckOrder());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

XT_TEST(disconnect_reason_protocol_for_a_bad_length_word) {
  Journal journal;
  TestServer t(WithJournal(&journal));
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  uint64_t id = journal.ConnectId(0);
  XT_REQUIRE(id != 0);
  Bytes word;
  Put32(&word, 5);
  XT_REQUIRE(c.Send(word));
  XT_CHECK(c.ExpectEof(WaitLimitMs()));
  XT_CHECK(journal.ReasonOf(id) == CloseReason::kProtocol);
  XT_CHECK(journal.CheckOrder());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

XT_TEST(disconnect_reason_limit_for_a_frame_above_max_message_bytes) {
  Journal journal;
  ServerOptions options = WithJournal(&journal);
  options.max_message_bytes = 1024;
  TestServer t(options);
  RegisterNote(*t.server, &journal);
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  // The largest frame allowed still passes...
  RpcClient ok = RpcClient::Unix(t.UnixPath());
  uint64_t ok_id = journal.ConnectId(0);
  XT_REQUIRE(ok_id != 0);
  Bytes largest(1024 - 24, 0);
  XT_REQUIRE(ok.Send(CallFrame(kTestProgram, kTestVersion, kProcNote, 1, largest)));
  auto reply = ok.ReadFrame(WaitLimitMs());
  XT_REQUIRE(reply.has_value());
  XT_CHECK_EQ(HeaderOf(*reply).serial, 1u);
  // ... one byte more closes the client as soon as the length word is read.
  RpcClient big = RpcClient::Unix(t.UnixPath());
  uint64_t big_id = journal.ConnectId(1);
  XT_REQUIRE(big_id != 0);
  Bytes word;
  Put32(&word, 1024 + 4 + 1);
  XT_REQUIRE(big.Send(word));
  XT_CHECK(big.ExpectEof(WaitLimitMs()));
  XT_CHECK(journal.ReasonOf(big_id) == CloseReason::kLimit);
  XT_CHECK(!journal.HasDisconnect(ok_id));
  ok.Close();
  XT_CHECK(journal.ReasonOf(ok_id) == CloseReason::kEof);
  XT_CHECK(journal.CheckOrder());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

XT_TEST(disconnect_reason_handler_for_control_client_close) {
  Journal journal;
  TestServer t(WithJournal(&journal));
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  uint64_t id = journal.ConnectId(0);
  XT_REQUIRE(id != 0);
  XT_CHECK(t.server->ControlClient(id, Close(false)));
  XT_CHECK(c.ExpectEof(WaitLimitMs()));
  XT_CHECK(journal.ReasonOf(id) == CloseReason::kHandler);
  XT_CHECK(journal.CheckOrder());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// Stop() with a client connected: its disconnect notice (kServerClose) has
// come by the time Stop returns (the loop thread, the only one that sends
// notices, is joined by then).
XT_TEST(disconnect_reason_server_close_on_stop) {
  Journal journal;
  TestServer t(WithJournal(&journal));
  RegisterNote(*t.server, &journal);
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  uint64_t id = journal.ConnectId(0);
  XT_REQUIRE(id != 0);
  XT_REQUIRE(NoteRoundTrip(c, 1));
  t.server->Stop();
  XT_CHECK(journal.HasDisconnect(id));
  XT_CHECK(journal.ReasonOf(id) == CloseReason::kServerClose);
  XT_CHECK(c.ExpectEof(WaitLimitMs()));
  XT_CHECK(journal.CheckOrder());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

XT_TEST(disconnect_reason_denied_when_authorization_refuses) {
  Journal journal;
  ServerOptions options = WithJournal(&journal);
  options.require_authorization = true;
  TestServer t(options);
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  uint64_t id = journal.ConnectId(0);
  XT_REQUIRE(id != 0);
  XT_CHECK(t.server->ControlClient(id, Authorize(false)));
  XT_CHECK(c.ExpectEof(WaitLimitMs()));
  XT_CHECK(journal.ReasonOf(id) == CloseReason::kDenied);
  XT_CHECK(journal.CheckOrder());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// ---- require_authorization --------------------------------------------------------

// Not a byte of a client is read before it is authorized; then its call is
// served as usual.
XT_TEST(unauthorized_client_is_not_read_until_allowed) {
  Journal journal;
  ServerOptions options = WithJournal(&journal);
  options.require_authorization = true;
  TestServer t(options);
  RegisterNote(*t.server, &journal);
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, kProcNote, 7, kBody)));
  uint64_t id = journal.ConnectId(0);
  XT_REQUIRE(id != 0);
  ServerCounters before = t.server->Counters();
  XT_CHECK_EQ(before.clients_unauthenticated, 1u);
  XT_CHECK_EQ(before.calls_received, 0u);
  XT_CHECK_EQ(before.bytes_read, 0u);
  // Not answered while pending (a bounded wait for something that must not
  // happen), and still not read.
  XT_CHECK(!c.ReadFrame(100).has_value());
  XT_CHECK_EQ(t.server->Counters().calls_received, 0u);
  XT_CHECK_EQ(t.server->Counters().bytes_read, 0u);

  XT_CHECK(t.server->ControlClient(id, Authorize(true)));
  auto reply = c.ReadFrame(WaitLimitMs());
  XT_REQUIRE(reply.has_value());
  XT_CHECK_BYTES(*reply, OkReply(kProcNote, 7, kBody));
  ServerCounters after = t.server->Counters();
  XT_CHECK_EQ(after.calls_received, 1u);
  XT_CHECK_EQ(after.clients_unauthenticated, 0u);
  XT_CHECK_EQ(after.clients_denied, 0u);
  // A second authorization of a settled client changes nothing.
  XT_CHECK(t.server->ControlClient(id, Authorize(false)));
  XT_REQUIRE(NoteRoundTrip(c, 8));
  XT_CHECK_EQ(t.server->Counters().clients_denied, 0u);
  c.Close();
  XT_CHECK(journal.ReasonOf(id) == CloseReason::kEof);
  XT_CHECK(journal.CheckOrder());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

XT_TEST(denied_client_is_closed_unread) {
  Journal journal;
  ServerOptions options = WithJournal(&journal);
  options.require_authorization = true;
  TestServer t(options);
  RegisterNote(*t.server, &journal);
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, kProcNote, 7, kBody)));
  uint64_t id = journal.ConnectId(0);
  XT_REQUIRE(id != 0);
  XT_CHECK(t.server->ControlClient(id, Authorize(false)));
  XT_CHECK(c.ExpectEof(WaitLimitMs()));  // no reply, only the close
  XT_CHECK(journal.ReasonOf(id) == CloseReason::kDenied);
  ServerCounters counters = t.server->Counters();
  XT_CHECK_EQ(counters.calls_received, 0u);
  XT_CHECK_EQ(counters.bytes_read, 0u);
  XT_CHECK_EQ(counters.clients_denied, 1u);
  XT_CHECK_EQ(counters.clients_unauthenticated, 0u);
  XT_CHECK_EQ(counters.clients_live, 0u);
  // Gone: queued, and skipped by the loop thread, which finds no such id;
  // nothing about it changes.
  XT_CHECK(t.server->ControlClient(id, Authorize(true)));
  // A second client, authorized after it: once it is answered, the loop
  // thread has passed the command for the first.
  RpcClient c2 = RpcClient::Unix(t.UnixPath());
  uint64_t id2 = journal.ConnectId(1);
  XT_REQUIRE(id2 != 0);
  XT_CHECK(t.server->ControlClient(id2, Authorize(true)));
  XT_CHECK(NoteRoundTrip(c2, 8));
  counters = t.server->Counters();
  XT_CHECK_EQ(counters.clients_denied, 1u);
  XT_CHECK_EQ(counters.clients_unauthenticated, 0u);
  XT_CHECK_EQ(counters.clients_live, 1u);
  c2.Close();
  XT_CHECK(journal.CheckOrder());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// clients_unauthenticated counts the clients still waiting: down by one for
// an allowed one, a denied one and one that hung up while waiting.
XT_TEST(unauthenticated_count_tracks_pending_clients) {
  Journal journal;
  ServerOptions options = WithJournal(&journal);
  options.require_authorization = true;
  TestServer t(options);
  RegisterNote(*t.server, &journal);
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  std::vector<RpcClient> clients;
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < 3; ++i) {
    clients.push_back(RpcClient::Unix(t.UnixPath()));
    ids.push_back(journal.ConnectId(i));
    XT_REQUIRE(ids.back() != 0);
  }
  XT_CHECK_EQ(t.server->Counters().clients_unauthenticated, 3u);

  XT_CHECK(t.server->ControlClient(ids[0], Authorize(true)));
  XT_REQUIRE(NoteRoundTrip(clients[0], 1));  // read, so the authorization was applied
  XT_CHECK_EQ(t.server->Counters().clients_unauthenticated, 2u);

  XT_CHECK(t.server->ControlClient(ids[1], Authorize(false)));
  XT_CHECK(journal.ReasonOf(ids[1]) == CloseReason::kDenied);
  XT_CHECK_EQ(t.server->Counters().clients_unauthenticated, 1u);

  clients[2].Close();  // hangs up while waiting: noticed although not read
  XT_CHECK(journal.ReasonOf(ids[2]) == CloseReason::kEof);
  ServerCounters counters = t.server->Counters();
  XT_CHECK_EQ(counters.clients_unauthenticated, 0u);
  XT_CHECK_EQ(counters.clients_denied, 1u);
  XT_CHECK_EQ(counters.clients_live, 1u);
  clients.clear();
  XT_CHECK(journal.CheckOrder());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// The application may settle a client from the notice sink itself (the
// loop thread, with no xdrd lock held).
XT_TEST(authorize_from_the_notice_sink) {
  // Declared before the server, so they outlive its sink.
  Journal journal;
  Server* server = nullptr;  // set before Start: the loop thread starts after
  ServerOptions options = WithJournal(&journal);
  options.require_authorization = true;
  auto record = journal.NoticeSink();
  options.on_clients = [&server, record](std::vector<ClientNotice>& batch) {
    record(batch);
    for (const ClientNotice& n : batch)
      if (n.kind == ClientNotice::Kind::kConnect && !server->ControlClient(n.client_id, Authorize(true)))
        std::fprintf(stderr, "  ControlClient from the sink refused\n");
  };
  TestServer t(options);
  server = t.server.get();
  RegisterNote(*t.server, &journal);
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  std::vector<RpcClient> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(RpcClient::Unix(t.UnixPath()));
  for (size_t i = 0; i < clients.size(); ++i) XT_CHECK(NoteRoundTrip(clients[i], static_cast<uint32_t>(i)));
  ServerCounters counters = t.server->Counters();
  XT_CHECK_EQ(counters.clients_unauthenticated, 0u);
  XT_CHECK_EQ(counters.calls_received, 3u);
  clients.clear();
  XT_CHECK(journal.CheckOrder());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// At max_unauthenticated_clients accepting pauses (the rest wait in the
// kernel's backlog); each authorization lets exactly one more in.
XT_TEST(max_unauthenticated_clients_pauses_accepting) {
  Journal journal;
  ServerOptions options = WithJournal(&journal);
  options.require_authorization = true;
  options.max_unauthenticated_clients = 2;
  TestServer t(options);
  RegisterNote(*t.server, &journal);
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  const size_t kClients = 6;
  std::vector<RpcClient> clients;
  for (size_t i = 0; i < kClients; ++i) {
    clients.push_back(RpcClient::Unix(t.UnixPath()));
    XT_REQUIRE(clients.back().connected());
    XT_REQUIRE(clients.back().Send(CallFrame(kTestProgram, kTestVersion, kProcNote, static_cast<uint32_t>(i), kBody)));
  }
  uint64_t first = journal.ConnectId(0);
  uint64_t second = journal.ConnectId(1);
  XT_REQUIRE(first != 0 && second != 0);
  XT_CHECK(xt::WaitUntil([&] { return t.server->Counters().accepts_paused >= 1; }, WaitLimitMs()));
  ServerCounters counters = t.server->Counters();
  XT_CHECK_EQ(counters.clients_accepted, 2u);
  XT_CHECK_EQ(counters.clients_unauthenticated, 2u);
  XT_CHECK_EQ(journal.connects(), 2u);

  // One authorized: one more comes in, and accepting pauses again.
  XT_CHECK(t.server->ControlClient(first, Authorize(true)));
  uint64_t third = journal.ConnectId(2);
  XT_REQUIRE(third != 0);
  // The first client is served meanwhile: the loop has run turns since.
  auto reply = clients[0].ReadFrame(WaitLimitMs());
  XT_REQUIRE(reply.has_value());
  XT_CHECK_BYTES(*reply, OkReply(kProcNote, 0, kBody));
  counters = t.server->Counters();
  XT_CHECK_EQ(counters.clients_accepted, 3u);
  XT_CHECK_EQ(counters.clients_unauthenticated, 2u);
  XT_CHECK(counters.accepts_paused >= 2);
  XT_CHECK_EQ(journal.connects(), 3u);

  // Authorizing each as it arrives serves everyone.
  XT_CHECK(t.server->ControlClient(second, Authorize(true)));
  XT_CHECK(t.server->ControlClient(third, Authorize(true)));
  for (size_t i = 3; i < kClients; ++i) {
    uint64_t id = journal.ConnectId(i);
    XT_REQUIRE(id != 0);
    XT_CHECK(t.server->ControlClient(id, Authorize(true)));
  }
  for (size_t i = 1; i < kClients; ++i) {
    reply = clients[i].ReadFrame(WaitLimitMs());
    XT_REQUIRE(reply.has_value());
    XT_CHECK_BYTES(*reply, OkReply(kProcNote, static_cast<uint32_t>(i), kBody));
  }
  counters = t.server->Counters();
  XT_CHECK_EQ(counters.clients_accepted, kClients);
  XT_CHECK_EQ(counters.clients_unauthenticated, 0u);
  XT_CHECK_EQ(counters.calls_received, kClients);
  clients.clear();
  XT_CHECK(journal.CheckOrder());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// A connect flood at max_unauthenticated_clients: exactly that many are
// taken (unread) and the rest wait in the backlog; authorizing them lets
// exactly as many more in. Verdicts come only from the test, so before each
// round of authorizations the connect notices must number exactly the bound
// plus the authorizations given so far, and none more may come within a
// bounded wait. Every client is served in the end.
XT_TEST(max_unauthenticated_clients_holds_exactly_under_a_connect_flood) {
  const size_t kMax = 4;
  const size_t kClients = xt::UnderValgrind() ? 24 : 64;
  Journal journal;
  ServerOptions options = WithJournal(&journal);
  options.require_authorization = true;
  options.max_unauthenticated_clients = kMax;
  TestServer t(options);
  RegisterNote(*t.server, &journal);
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  std::vector<RpcClient> clients = xt::ConnectFlood(t.UnixPath(), kClients, [](size_t i) {
    return CallFrame(kTestProgram, kTestVersion, kProcNote, static_cast<uint32_t>(i), kBody);
  });
  for (auto& c : clients) XT_REQUIRE(c.connected());

  size_t authorized = 0;
  for (;;) {
    const size_t expected = std::min(kClients, kMax + authorized);
    XT_REQUIRE(journal.WaitConnect(expected - 1));
    // One too many must not come (a bounded wait for something that must
    // not happen).
    XT_CHECK(!xt::WaitUntil([&] { return journal.connects() > expected; }, 50));
    XT_CHECK_EQ(journal.connects(), expected);
    XT_REQUIRE(xt::WaitUntil([&] { return t.server->Counters().clients_unauthenticated == expected - authorized; },
                             WaitLimitMs()));
    ServerCounters counters = t.server->Counters();
    XT_CHECK_EQ(counters.clients_accepted, expected);
    XT_CHECK_EQ(counters.clients_live, expected);
    if (authorized == kClients) break;
    // Authorize every client waiting now.
    for (; authorized < expected; ++authorized)
      XT_CHECK(t.server->ControlClient(journal.ConnectId(authorized), Authorize(true)));
  }
  std::vector<int64_t> answered(kClients, -1);
  XT_CHECK_EQ(xt::CollectAnswers(clients, answered, kClients, WaitLimitMs()), kClients);
  for (size_t i = 0; i < kClients; ++i) XT_CHECK_EQ(answered[i], static_cast<int64_t>(i));
  ServerCounters counters = t.server->Counters();
  XT_CHECK_EQ(counters.clients_unauthenticated, 0u);
  XT_CHECK_EQ(counters.calls_received, kClients);
  clients.clear();
  XT_CHECK(journal.CheckOrder());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// ---- ControlClient kEvent ---------------------------------------------------------

XT_TEST(event_reaches_the_client_as_a_message_frame) {
  Journal journal;
  TestServer t(WithJournal(&journal));
  RegisterNote(*t.server, &journal);
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  uint64_t id = journal.ConnectId(0);
  XT_REQUIRE(id != 0);
  const Bytes body = {0, 0, 0, 42, 0, 0, 0, 3, 'a', 'b', 'c', 0};
  XT_CHECK(t.server->ControlClient(id, Event(body)));
  auto frame = c.ReadFrame(WaitLimitMs());
  XT_REQUIRE(frame.has_value());
  XT_CHECK_BYTES(*frame, EventFrame(body));
  XT_CHECK(t.server->ControlClient(id, Event({})));
  frame = c.ReadFrame(WaitLimitMs());
  XT_REQUIRE(frame.has_value());
  XT_CHECK_BYTES(*frame, EventFrame({}));
  XT_CHECK_EQ(t.server->Counters().events_sent, 2u);
  // Id 0 is never a client: refused at once, nothing counted.
  XT_CHECK(!t.server->ControlClient(0, Event(body)));
  // No such client: queued; the loop thread finds no such id and counts the
  // event as dropped.
  XT_CHECK(t.server->ControlClient(id + 1000, Event(body)));
  XT_CHECK(xt::WaitUntil([&] { return t.server->Counters().events_dropped == 1; }, WaitLimitMs()));
  XT_REQUIRE(NoteRoundTrip(c, 1));  // the connection carries on as usual
  ServerCounters counters = t.server->Counters();
  XT_CHECK_EQ(counters.events_sent, 2u);
  XT_CHECK_EQ(counters.events_dropped, 1u);
  c.Close();
  XT_CHECK(journal.ReasonOf(id) == CloseReason::kEof);
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// From a handler on a worker, an event given before the reply reaches the
// wire before it, and one given after it follows it.
XT_TEST(event_from_a_worker_keeps_its_order_with_the_reply) {
  TestServer t;
  Server* server = t.server.get();
  server->Handle(kTestProgram, kTestVersion, kProcEventThenReply, [server](Call call) {
    Bytes body(call.body(), call.body() + call.body_size());
    server->ControlClient(call.client_id(), Event(body));
    call.Reply(body);
  });
  server->Handle(kTestProgram, kTestVersion, kProcReplyThenEvent, [server](Call call) {
    Bytes body(call.body(), call.body() + call.body_size());
    uint64_t id = call.client_id();  // a Call that has answered no longer knows its client
    call.Reply(body);
    server->ControlClient(id, Event(body));
  });
  XT_REQUIRE(server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  const int kRounds = xt::UnderValgrind() ? 5 : 50;
  for (int i = 0; i < kRounds; ++i) {
    const uint32_t serial = static_cast<uint32_t>(2 * i);
    const Bytes body = {0, 0, 0, static_cast<uint8_t>(i)};
    XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, kProcEventThenReply, serial, body)));
    auto first = c.ReadFrame(WaitLimitMs());
    auto second = c.ReadFrame(WaitLimitMs());
    XT_REQUIRE(first.has_value() && second.has_value());
    XT_CHECK_BYTES(*first, EventFrame(body));
    XT_CHECK_BYTES(*second, OkReply(kProcEventThenReply, serial, body));

    XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, kProcReplyThenEvent, serial + 1, body)));
    first = c.ReadFrame(WaitLimitMs());
    second = c.ReadFrame(WaitLimitMs());
    XT_REQUIRE(first.has_value() && second.has_value());
    XT_CHECK_BYTES(*first, OkReply(kProcReplyThenEvent, serial + 1, body));
    XT_CHECK_BYTES(*second, EventFrame(body));
  }
  XT_CHECK_EQ(t.server->Counters().events_sent, static_cast<uint64_t>(2 * kRounds));
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// The same from a thread that is not a worker (through the completion
// queue): a reply and then an event, in that order.
XT_TEST(event_after_a_reply_from_another_thread_follows_it) {
  TestServer t;
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  const uint32_t kCalls = 5;
  for (uint32_t serial = 1; serial <= kCalls; ++serial)
    XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcDeferred, serial, kBody)));
  t.store.WaitFor(kCalls);
  for (uint32_t serial = 1; serial <= kCalls; ++serial) {
    auto call = t.store.Take(serial);
    XT_REQUIRE(call != nullptr);
    uint64_t id = call->client_id();
    const Bytes body = {0, 0, 0, static_cast<uint8_t>(serial)};
    call->Reply(body);
    XT_CHECK(t.server->ControlClient(id, Event(body)));
  }
  for (uint32_t serial = 1; serial <= kCalls; ++serial) {
    const Bytes body = {0, 0, 0, static_cast<uint8_t>(serial)};
    auto reply = c.ReadFrame(WaitLimitMs());
    auto event = c.ReadFrame(WaitLimitMs());
    XT_REQUIRE(reply.has_value() && event.has_value());
    XT_CHECK_BYTES(*reply, OkReply(xt::kProcDeferred, serial, body));
    XT_CHECK_BYTES(*event, EventFrame(body));
  }
  XT_CHECK_EQ(t.server->Counters().events_sent, static_cast<uint64_t>(kCalls));
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// An event for a client already closing is not sent: refused (the client is
// gone) or counted in events_dropped, never written.
XT_TEST(event_for_a_closing_client_is_dropped) {
  // Declared before the server, so they outlive its handlers.
  Journal journal;
  xt::Latch asked;
  std::mutex mu;
  bool event_accepted = false;
  TestServer t(WithJournal(&journal));
  Server* server = t.server.get();
  server->Handle(kTestProgram, kTestVersion, kProcCloseThenEvent, [&, server](Call call) {
    uint64_t id = call.client_id();
    server->ControlClient(id, Close(false));
    bool accepted = server->ControlClient(id, Event(kBody));
    {
      std::lock_guard<std::mutex> lock(mu);
      event_accepted = accepted;
    }
    call.Reply(kBody);  // too late: dropped
    asked.CountDown();
  });
  XT_REQUIRE(server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  uint64_t id = journal.ConnectId(0);
  XT_REQUIRE(id != 0);
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, kProcCloseThenEvent, 1, kBody)));
  XT_CHECK(c.ExpectEof(WaitLimitMs()));  // neither the event nor the reply
  asked.Wait();
  XT_CHECK(journal.ReasonOf(id) == CloseReason::kHandler);
  ServerCounters counters = t.server->Counters();
  XT_CHECK_EQ(counters.events_sent, 0u);
  {
    std::lock_guard<std::mutex> lock(mu);
    XT_CHECK_EQ(counters.events_dropped, event_accepted ? 1u : 0u);
  }
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// ---- ControlClient kClose ---------------------------------------------------------

// after_writes: what is queued (a reply too big for one write) is written
// in full, then the connection is closed.
XT_TEST(close_after_writes_lets_the_reply_out_first) {
  Journal journal;
  TestServer t(WithJournal(&journal));
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcDeferred, 5, kBody)));
  t.store.WaitFor(1);
  auto call = t.store.Take(5);
  XT_REQUIRE(call != nullptr);
  uint64_t id = call->client_id();
  Bytes big(1 << 20);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7);
  call->Reply(big);
  XT_CHECK(t.server->ControlClient(id, Close(true)));
  call.reset();
  auto reply = c.ReadFrame(WaitLimitMs());
  XT_REQUIRE(reply.has_value());
  XT_CHECK(*reply == OkReply(xt::kProcDeferred, 5, big));
  XT_CHECK(c.ExpectEof(WaitLimitMs()));
  XT_CHECK(journal.ReasonOf(id) == CloseReason::kHandler);
  XT_CHECK_EQ(t.server->Counters().replies_written, 1u);
  XT_CHECK(journal.CheckOrder());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// Without after_writes the client is closed at once, with its call still
// unanswered; the late answer is dropped.
XT_TEST(close_without_after_writes_closes_at_once) {
  Journal journal;
  TestServer t(WithJournal(&journal));
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcDeferred, 5, kBody)));
  t.store.WaitFor(1);
  auto call = t.store.Take(5);
  XT_REQUIRE(call != nullptr);
  uint64_t id = call->client_id();
  XT_CHECK(t.server->ControlClient(id, Close(false)));
  XT_CHECK(c.ExpectEof(WaitLimitMs()));
  XT_CHECK(journal.ReasonOf(id) == CloseReason::kHandler);
  call->Reply(kBody);
  call.reset();
  XT_CHECK(xt::WaitUntil([&] { return t.server->Counters().replies_dropped == 1; }, WaitLimitMs()));
  XT_CHECK_EQ(t.server->Counters().replies_written, 0u);
  // Gone: the loop thread finds no such id and skips it.
  XT_CHECK(t.server->ControlClient(id, Close(false)));
  XT_CHECK(journal.CheckOrder());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// ---- ControlClient kKeepalive -----------------------------------------------------

// Switched on from outside any call: the silent client gets `count` PINGs
// and is then closed.
XT_TEST(keepalive_by_control_client_closes_a_silent_client) {
  Journal journal;
  TestServer t(WithJournal(&journal));
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  uint64_t id = journal.ConnectId(0);
  XT_REQUIRE(id != 0);
  const uint32_t interval = xt::UnderValgrind() ? 200 : 40, count = 2;
  ClientControl keepalive;
  keepalive.kind = ClientControl::Kind::kKeepalive;
  keepalive.keepalive_interval_ms = interval;
  keepalive.keepalive_count = count;
  int64_t start = NowMs();  // the server's clock starts no earlier than this
  XT_CHECK(t.server->ControlClient(id, keepalive));
  int pings = 0;
  while (auto f = c.ReadFrame(WaitLimitMs())) {
    XT_CHECK_BYTES(*f, MakePingFrame());
    ++pings;
  }
  int64_t closed_after = NowMs() - start;
  XT_CHECK(c.ExpectEof(0));
  // `count` PINGs on time; a timer that fires late on a loaded machine may
  // find the whole silence over and close before the last one, so at least
  // one and at most `count`.
  XT_CHECK(pings >= 1 && pings <= static_cast<int>(count));
  XT_CHECK(closed_after >= static_cast<int64_t>(interval * (count + 1)));
  XT_CHECK(journal.ReasonOf(id) == CloseReason::kKeepalive);
  ServerCounters counters = t.server->Counters();
  XT_CHECK_EQ(counters.keepalive_drops, 1u);
  XT_CHECK_EQ(counters.pings_sent, static_cast<uint64_t>(pings));
  XT_CHECK(journal.CheckOrder());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// ---- ListenFd ---------------------------------------------------------------------

// A listening UNIX socket made elsewhere (here: by the test) is served; at
// Stop the server closes the descriptor but leaves the path, which is not
// its own.
XT_TEST(listen_fd_serves_and_stop_leaves_the_path) {
  Journal journal;
  TestServer t(WithJournal(&journal));
  const std::string path = t.dir.File("adopted");
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  XT_REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  XT_REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  XT_REQUIRE(listen(fd, 16) == 0);
  ListenerOptions read_only;
  read_only.read_only = true;
  ListenSocket l = t.server->ListenFd(fd, read_only);
  XT_REQUIRE(l.ok());
  XT_CHECK_EQ(l.fd, fd);
  XT_CHECK_EQ(l.path, path);
  XT_CHECK(!l.owns_path);
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(path);
  XT_REQUIRE(c.connected());
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, 3, kBody)));
  auto reply = c.ReadFrame(WaitLimitMs());
  XT_REQUIRE(reply.has_value());
  XT_CHECK_BYTES(*reply, OkReply(xt::kProcEcho, 3, kBody));
  ClientNotice n;
  XT_REQUIRE(journal.WaitConnect(0, &n));
  XT_CHECK(n.peer.transport == Transport::kUnix);
  XT_CHECK(n.peer.read_only);
  t.server->Stop();
  // Every server thread is joined: nothing can have reused the number.
  errno = 0;
  XT_CHECK(!FdIsOpen(fd));
  XT_CHECK_EQ(errno, EBADF);
  XT_CHECK_EQ(access(path.c_str(), F_OK), 0);
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
  XT_CHECK_EQ(access(path.c_str(), F_OK), 0);
  unlink(path.c_str());
}

XT_TEST(listen_fd_serves_an_adopted_tcp_socket) {
  Journal journal;
  TestServer t(WithJournal(&journal));
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  XT_REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  XT_REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  XT_REQUIRE(listen(fd, 16) == 0);
  ListenSocket l = t.server->ListenFd(fd);
  XT_REQUIRE(l.ok());
  XT_CHECK(l.port != 0);
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Tcp(l.port);
  XT_REQUIRE(c.connected());
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, 4, kBody)));
  auto reply = c.ReadFrame(WaitLimitMs());
  XT_REQUIRE(reply.has_value());
  XT_CHECK_BYTES(*reply, OkReply(xt::kProcEcho, 4, kBody));
  ClientNotice n;
  XT_REQUIRE(journal.WaitConnect(0, &n));
  XT_CHECK(n.peer.transport == Transport::kTcp);
  XT_CHECK_EQ(n.peer.address, std::string("127.0.0.1"));
  XT_CHECK_EQ(n.peer.port, LocalPort(c.fd()));
  t.server->Stop();
  XT_CHECK(!FdIsOpen(fd));
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}

// A descriptor that cannot be adopted stays the caller's, open; the server
// is unchanged.
XT_TEST(listen_fd_refuses_a_socket_that_does_not_listen) {
  TestServer t;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  XT_REQUIRE(fd >= 0);
  ListenSocket l = t.server->ListenFd(fd);
  XT_CHECK(!l.ok());
  XT_CHECK_EQ(l.fd, -1);
  XT_CHECK_EQ(l.error, EINVAL);
  XT_CHECK(!l.message.empty());
  XT_CHECK(FdIsOpen(fd));
  xt::Pipe pipe;
  ListenSocket not_socket = t.server->ListenFd(pipe.read_fd);
  XT_CHECK(!not_socket.ok());
  XT_CHECK_EQ(not_socket.error, ENOTSOCK);
  XT_CHECK(FdIsOpen(pipe.read_fd));
  // The server still works with a listener of its own, and stopping it
  // leaves the refused descriptors alone.
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient c = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(c.Send(CallFrame(kTestProgram, kTestVersion, xt::kProcEcho, 1, kBody)));
  XT_REQUIRE(c.ReadFrame(WaitLimitMs()).has_value());
  c.Close();
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
  XT_CHECK(FdIsOpen(fd));
  XT_CHECK(FdIsOpen(pipe.read_fd));
  close(fd);
}

// ---- LogRecord -----------------------------------------------------------------------

// A record about a client carries its id (the one its connect notice gave).
XT_TEST(log_record_names_the_client_of_a_dropped_frame) {
  Journal journal;
  TestServer t(WithJournal(&journal));
  RegisterNote(*t.server, &journal);
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  RpcClient a = RpcClient::Unix(t.UnixPath());
  uint64_t a_id = journal.ConnectId(0);
  RpcClient b = RpcClient::Unix(t.UnixPath());
  uint64_t b_id = journal.ConnectId(1);
  XT_REQUIRE(a_id != 0 && b_id != 0 && a_id != b_id);
  XT_REQUIRE(b.Send(CallFrame(kTestProgram, kTestVersion, kProcNote, 9, {}, kTypeReply)));
  XT_REQUIRE(NoteRoundTrip(b, 10));  // the REPLY before it was read
  LogRecord record;
  XT_REQUIRE(journal.WaitLog("dropped unexpected REPLY frame", &record));
  XT_CHECK_EQ(record.client_id, b_id);
  XT_CHECK_EQ(t.server->Counters().frames_dropped, 1u);
  a.Close();
  b.Close();
  XT_CHECK(journal.CheckOrder());
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}
