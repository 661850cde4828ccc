// Many idle clients: the loop's work per turn must not grow with them on
// epoll. The idle ends live in a forked child, so this process holds only
// the server's ends (both in one process would need twice the descriptors,
// more than this machine's hard limit allows at 10,000).
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "check.h"
#include "rpc_client.h"
#include "server_fixture.h"
#include "test_util.h"

using namespace xdrd;
using Bytes = std::vector<uint8_t>;
using xt::RpcClient;
using xt::TestServer;

namespace {

const Bytes kBody = {0, 0, 0, 7};

// Idle clients: 10,000, or 1,000 under valgrind (whose tools are 20-50x
// slower and reserve descriptors of their own; memcheck and helgrind take
// about 3 s for 1,000), or 100 under DRD (which slows down with every
// client adopted: more than 8 minutes had not accepted 1,000).
size_t IdleClients() { return xt::UnderDrd() ? 100 : xt::UnderValgrind() ? 1000 : 10000; }

// Raises the soft descriptor limit to the hard one; returns the soft limit
// now in force.
rlim_t RaiseDescriptorLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
  if (r.rlim_cur < r.rlim_max) {
    rlimit raised = r;
    raised.rlim_cur = r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) r = raised;
  }
  return r.rlim_cur;
}

// The child that holds the idle ends. It is forked from a process whose
// server threads run, so it uses only async-signal-safe calls (socket,
// connect, read, write, _exit) and allocates nothing.
class IdleHolder {
 public:
  IdleHolder(const std::string& path, size_t count) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    int ready[2], quit[2];
    if (pipe(ready) != 0 || pipe(quit) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      close(ready[0]);
      close(quit[1]);
      char status = 'y';
      for (size_t i = 0; i < count; ++i) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        // Blocking: a connect waits while the listen backlog is full.
        if (fd < 0 || connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
          status = 'n';
          break;
        }
      }
      ssize_t w = write(ready[1], &status, 1);
      (void)w;
      char c;
      while (read(quit[0], &c, 1) > 0) {
      }  // EOF: the parent is done (or gone); exiting closes every end
      _exit(0);
    }
    close(ready[1]);
    close(quit[0]);
    ready_fd_ = ready[0];
    quit_fd_ = quit[1];
  }
  ~IdleHolder() { Release(); }

  bool started() const { return pid_ > 0; }

  // Waits (bounded) for the child to report; true if all connected.
  bool WaitConnected(int limit_ms) {
    pollfd p{ready_fd_, POLLIN, 0};
    if (poll(&p, 1, limit_ms) != 1) return false;
    char status = 0;
    return read(ready_fd_, &status, 1) == 1 && status == 'y';
  }

  // Ends the child (its exit closes the idle ends) and reaps it.
  void Release() {
    if (quit_fd_ >= 0) close(quit_fd_);
    if (ready_fd_ >= 0) close(ready_fd_);
    quit_fd_ = ready_fd_ = -1;
    if (pid_ > 0) {
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
  int ready_fd_ = -1;
  int quit_fd_ = -1;
};

}  // namespace

// 10,000 idle clients and one busy one: every call of the busy one is
// answered, and on epoll a turn visits only what is ready (on poll() it
// visits every watch: the reference the counter is checked against).
XT_TEST(idle_clients_add_nothing_to_a_turn) {
  const size_t idle = IdleClients();
  const rlim_t limit = RaiseDescriptorLimit();
  // The server's ends plus its own descriptors and the busy client's.
  if (limit < idle + 256) {
    XT_SKIP("RLIMIT_NOFILE allows " + std::to_string(limit) + " descriptors; this test needs " +
            std::to_string(idle + 256) + " (raise the hard limit: ulimit -Hn)");
    return;
  }
  ServerOptions options = TestServer::DefaultOptions();
  options.max_clients = idle + 16;
  TestServer t(options);
  XT_REQUIRE(t.server->ListenUnix(t.UnixPath()).ok());
  XT_REQUIRE(t.server->Start());
  const bool epoll = t.server->event_backend() == EventBackend::kEpoll;

  IdleHolder holder(t.UnixPath(), idle);
  XT_REQUIRE(holder.started());
  XT_REQUIRE(holder.WaitConnected(xt::UnderValgrind() ? 600000 : 120000));
  XT_REQUIRE(xt::WaitUntil([&] { return t.server->Counters().clients_live == idle; }, 120000));

  RpcClient busy = RpcClient::Unix(t.UnixPath());
  XT_REQUIRE(busy.connected());
  XT_REQUIRE(xt::WaitUntil([&] { return t.server->Counters().clients_live == idle + 1; }));
  const EventLoop::Stats before = t.server->LoopStats();
  constexpr uint32_t kCalls = 200;
  for (uint32_t serial = 0; serial < kCalls; ++serial) {
    XT_REQUIRE(busy.Send(xt::CallFrame(xt::kTestProgram, xt::kTestVersion, xt::kProcEcho, serial, kBody)));
    auto reply = busy.ReadFrame();
    XT_REQUIRE(reply.has_value());
    XT_CHECK_EQ(xt::HeaderOf(*reply).serial, serial);
    XT_CHECK_EQ(xt::HeaderOf(*reply).status, static_cast<uint32_t>(kStatusOk));
    XT_CHECK(reply->size() == 28 + kBody.size() && std::equal(kBody.begin(), kBody.end(), reply->begin() + 28));
  }
  const EventLoop::Stats after = t.server->LoopStats();
  const uint64_t turns = after.turns - before.turns;
  XT_REQUIRE(turns >= kCalls);  // a turn at least per call read
  const double scanned_per_turn = static_cast<double>(after.watches_scanned - before.watches_scanned) / turns;
  const double ready_per_turn = static_cast<double>(after.ready_events - before.ready_events) / turns;
  std::fprintf(stderr, "  %s, %zu idle: %.2f watches scanned and %.2f ready events per turn over %llu turns\n",
               epoll ? "epoll" : "poll", idle, scanned_per_turn, ready_per_turn,
               static_cast<unsigned long long>(turns));
  if (epoll) {
    // The busy client, the command queue: a handful, whatever `idle` is.
    XT_CHECK(scanned_per_turn < 4);
    XT_CHECK(ready_per_turn < 4);
  } else {
    XT_CHECK(scanned_per_turn >= static_cast<double>(idle));
  }
  busy.Close();

  // The idle ones leave together; the server reaps every one.
  holder.Release();
  XT_CHECK(xt::WaitUntil([&] { return t.server->Counters().clients_live == 0; }, 120000));
  XT_CHECK_EQ(t.server->Counters().clients_closed, static_cast<uint64_t>(idle + 1));
  XT_CHECK(t.ShutDownAndCheckNothingLeft());
}
