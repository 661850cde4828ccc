// The lock-order checker (lock.h): each kind of violation aborts with a
// message naming both locks and the thread, and the JS-thread rule (a
// JsThreadScope taking a lock tied to a running loop) aborts with one
// naming the lock, the N-API entry and the thread. Each violation runs in a child
// forked from this single-threaded test process (a multithreaded fork whose
// child starts threads is not safe under TSan), and the parent asserts
// SIGABRT and the message.
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string>

#include "check.h"
#include "base/lock.h"
#include "server/server.h"

#ifndef XDRD_LOCK_CHECKS
#error "test_lock needs a build with XDRD_LOCK_CHECKS (every scripts/native.js variant has it)"
#endif

using xdrd::JsThreadScope;
using xdrd::JsThreadStopping;
using xdrd::LockRank;
using xdrd::RankedMutex;

namespace {

struct ChildResult {
  bool aborted = false;
  std::string stderr_text;
};

// Runs `body` in a forked child whose stderr is captured.
template <typename Body>
ChildResult RunInChild(Body body) {
  int fds[2];
  XT_REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  XT_REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    pthread_setname_np(pthread_self(), "lock-test");
    body();
    _exit(0);  // no violation: the parent sees a clean exit
  }
  close(fds[1]);
  ChildResult result;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) result.stderr_text.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  XT_REQUIRE(waitpid(pid, &status, 0) == pid);
  result.aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
  return result;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

XT_TEST(client_lock_without_server_lock_aborts) {
  ChildResult r = RunInChild([] {
    RankedMutex client(LockRank::kClient, "client 7");
    client.lock();
  });
  XT_CHECK(r.aborted);
  XT_CHECK(Contains(r.stderr_text, "thread 'lock-test'"));
  XT_CHECK(Contains(r.stderr_text, "a client lock is taken only while holding the server lock"));
  XT_CHECK(Contains(r.stderr_text, "taking client lock 'client 7'"));
}

XT_TEST(server_lock_under_client_lock_aborts) {
  ChildResult r = RunInChild([] {
    RankedMutex server(LockRank::kServer, "server");
    RankedMutex client(LockRank::kClient, "client 3");
    server.lock();
    client.lock();
    server.unlock();  // allowed: the server lock may be dropped...
    server.lock();    // ...but not taken again under the client lock
  });
  XT_CHECK(r.aborted);
  XT_CHECK(Contains(r.stderr_text,
                    "taking server lock 'server' while holding client lock 'client 3'"));
  XT_CHECK(Contains(r.stderr_text, "lock-test"));
}

XT_TEST(second_client_lock_aborts) {
  ChildResult r = RunInChild([] {
    RankedMutex server(LockRank::kServer, "server");
    RankedMutex a(LockRank::kClient, "client 1");
    RankedMutex b(LockRank::kClient, "client 2");
    server.lock();
    a.lock();
    b.lock();
  });
  XT_CHECK(r.aborted);
  XT_CHECK(Contains(r.stderr_text, "at most one client lock at a time"));
  XT_CHECK(Contains(r.stderr_text, "taking client lock 'client 2' while holding client lock 'client 1'"));
}

XT_TEST(anything_under_a_leaf_lock_aborts) {
  ChildResult r = RunInChild([] {
    RankedMutex leaf(LockRank::kLeaf, "event loop");
    RankedMutex server(LockRank::kServer, "server");
    leaf.lock();
    server.lock();
  });
  XT_CHECK(r.aborted);
  XT_CHECK(Contains(r.stderr_text, "nothing may be taken under a leaf lock"));
  XT_CHECK(Contains(r.stderr_text, "taking server lock 'server' while holding leaf lock 'event loop'"));
}

XT_TEST(leaf_under_leaf_aborts) {
  ChildResult r = RunInChild([] {
    RankedMutex a(LockRank::kLeaf, "event loop");
    RankedMutex b(LockRank::kLeaf, "completion queue");
    a.lock();
    b.lock();
  });
  XT_CHECK(r.aborted);
  XT_CHECK(Contains(r.stderr_text, "taking leaf lock 'completion queue' while holding leaf lock 'event loop'"));
}

// The allowed patterns must not trip the checker.
XT_TEST(documented_order_is_accepted) {
  ChildResult r = RunInChild([] {
    RankedMutex server(LockRank::kServer, "server");
    RankedMutex client(LockRank::kClient, "client 1");
    RankedMutex other(LockRank::kClient, "client 2");
    RankedMutex leaf(LockRank::kLeaf, "event loop");
    {
      std::lock_guard<RankedMutex> s(server);
      std::lock_guard<RankedMutex> c(client);
      std::lock_guard<RankedMutex> l(leaf);  // a leaf under both
    }
    server.lock();
    client.lock();
    server.unlock();  // drop the server lock once the client lock is held
    leaf.lock();
    leaf.unlock();
    client.unlock();
    server.lock();    // then a different client, the same way
    other.lock();
    other.unlock();
    server.unlock();
    leaf.lock();      // a leaf alone
    leaf.unlock();
  });
  XT_CHECK(!r.aborted);
  XT_CHECK_EQ(r.stderr_text, std::string());
}

// Two unrelated pairs of mutexes that happen to occupy the same bytes, one
// pair after the other, taken in opposite address order: a server lock over
// an event-loop lock, then (in the same two slots, swapped) the same again.
// Only a mutex that is destroyed when freed lets helgrind and DRD forget its
// lock-order edges; with std::mutex's trivial destructor, helgrind reported
// this as a lock-order violation (CI, test_clients: one Server's event-loop
// lock and the next Server's server lock at the same address). Plain runs
// check that both pairs lock; the helgrind run of this binary is what bites.
// It runs in this process, not a child: valgrind's children are silent.
XT_TEST(a_destroyed_mutex_leaves_no_lock_order_behind) {
  alignas(RankedMutex) unsigned char slot_a[sizeof(RankedMutex)];
  alignas(RankedMutex) unsigned char slot_b[sizeof(RankedMutex)];
  int rounds = 0;
  for (int swap = 0; swap < 2; ++swap) {
    auto* server = new (swap ? slot_b : slot_a) RankedMutex(LockRank::kServer, "server");
    auto* leaf = new (swap ? slot_a : slot_b) RankedMutex(LockRank::kLeaf, "event loop");
    {
      std::lock_guard<RankedMutex> s(*server);
      std::lock_guard<RankedMutex> l(*leaf);
      ++rounds;
    }
    leaf->~RankedMutex();
    server->~RankedMutex();
  }
  XT_CHECK_EQ(rounds, 2);
}

// ---- The JS-thread rule (THREADING.md, "The JS thread") ----------------------

constexpr const char* kJsRule =
    "the JS thread takes no server or client lock while the server's loop runs";

XT_TEST(js_scope_server_lock_while_loop_runs_aborts) {
  ChildResult r = RunInChild([] {
    std::atomic<bool> loop_running{true};
    RankedMutex server(LockRank::kServer, "server");
    server.ForbidOnJsThreadWhile(&loop_running);
    const JsThreadScope js("stats");
    server.lock();
  });
  XT_CHECK(r.aborted);
  XT_CHECK(Contains(r.stderr_text, "xdrd: lock order violation on thread 'lock-test'"));
  XT_CHECK(Contains(r.stderr_text, kJsRule));
  XT_CHECK(Contains(r.stderr_text, "taking server lock 'server' in N-API entry 'stats'"));
}

// A client lock of a running server, under the lock of another server that
// is not running (so the rank rules hold): the client rank is checked too.
XT_TEST(js_scope_client_lock_while_loop_runs_aborts) {
  ChildResult r = RunInChild([] {
    std::atomic<bool> stopped{false};
    std::atomic<bool> running{true};
    RankedMutex other_server(LockRank::kServer, "server");
    RankedMutex client(LockRank::kClient, "client 12");
    other_server.ForbidOnJsThreadWhile(&stopped);
    client.ForbidOnJsThreadWhile(&running);
    const JsThreadScope js("closeClient");
    other_server.lock();
    client.lock();
  });
  XT_CHECK(r.aborted);
  XT_CHECK(Contains(r.stderr_text, kJsRule));
  XT_CHECK(Contains(r.stderr_text, "taking client lock 'client 12' in N-API entry 'closeClient'"));
}

// The innermost entry is named: JS called from a call-back calls a method.
XT_TEST(js_scope_names_the_innermost_entry) {
  ChildResult r = RunInChild([] {
    std::atomic<bool> loop_running{true};
    RankedMutex server(LockRank::kServer, "server");
    server.ForbidOnJsThreadWhile(&loop_running);
    const JsThreadScope callback("thread-safe function call-back");
    { const JsThreadScope inner("authorize"); }
    const JsThreadScope method("listenUnix");
    server.lock();
  });
  XT_CHECK(r.aborted);
  XT_CHECK(Contains(r.stderr_text, "taking server lock 'server' in N-API entry 'listenUnix'"));
}

XT_TEST(js_scope_with_loop_stopped_is_accepted) {
  ChildResult r = RunInChild([] {
    std::atomic<bool> loop_running{false};
    RankedMutex server(LockRank::kServer, "server");
    RankedMutex client(LockRank::kClient, "client 1");
    server.ForbidOnJsThreadWhile(&loop_running);
    client.ForbidOnJsThreadWhile(&loop_running);
    const JsThreadScope js("start");
    std::lock_guard<RankedMutex> s(server);
    std::lock_guard<RankedMutex> c(client);
  });
  XT_CHECK(!r.aborted);
  XT_CHECK_EQ(r.stderr_text, std::string());
}

// Outside any JS scope (the loop thread, a worker, the closer) the flag
// means nothing; and once a scope ends the thread is no longer marked.
XT_TEST(locks_outside_a_js_scope_are_accepted) {
  ChildResult r = RunInChild([] {
    std::atomic<bool> loop_running{true};
    RankedMutex server(LockRank::kServer, "server");
    server.ForbidOnJsThreadWhile(&loop_running);
    { std::lock_guard<RankedMutex> s(server); }
    { const JsThreadScope js("stats"); }
    { std::lock_guard<RankedMutex> s(server); }
  });
  XT_CHECK(!r.aborted);
  XT_CHECK_EQ(r.stderr_text, std::string());
}

XT_TEST(stopping_on_the_js_thread_is_accepted) {
  ChildResult r = RunInChild([] {
    std::atomic<bool> loop_running{true};
    RankedMutex server(LockRank::kServer, "server");
    RankedMutex client(LockRank::kClient, "client 1");
    server.ForbidOnJsThreadWhile(&loop_running);
    client.ForbidOnJsThreadWhile(&loop_running);
    const JsThreadScope js("stopNow");
    const JsThreadStopping stopping;
    std::lock_guard<RankedMutex> s(server);
    std::lock_guard<RankedMutex> c(client);
  });
  XT_CHECK(!r.aborted);
  XT_CHECK_EQ(r.stderr_text, std::string());
}

// The exemption covers the stop only: it ends with its scope, and a new
// entry point nested in it is checked again.
XT_TEST(stopping_exemption_ends_with_its_scope) {
  ChildResult r = RunInChild([] {
    std::atomic<bool> loop_running{true};
    RankedMutex server(LockRank::kServer, "server");
    server.ForbidOnJsThreadWhile(&loop_running);
    const JsThreadScope js("stopNow");
    { const JsThreadStopping stopping; }
    server.lock();
  });
  XT_CHECK(r.aborted);
  XT_CHECK(Contains(r.stderr_text, "taking server lock 'server' in N-API entry 'stopNow'"));
}

XT_TEST(entry_nested_in_stopping_is_checked) {
  ChildResult r = RunInChild([] {
    std::atomic<bool> loop_running{true};
    RankedMutex server(LockRank::kServer, "server");
    server.ForbidOnJsThreadWhile(&loop_running);
    const JsThreadScope js("stopNow");
    const JsThreadStopping stopping;
    const JsThreadScope nested("stats");
    server.lock();
  });
  XT_CHECK(r.aborted);
  XT_CHECK(Contains(r.stderr_text, "taking server lock 'server' in N-API entry 'stats'"));
}

// The real server ties its lock to its loop: registering a handler while
// it runs takes the server lock (Handle refuses, after taking it), which a
// JS-marked thread must not do.
XT_TEST(running_server_lock_in_js_scope_aborts) {
  ChildResult r = RunInChild([] {
    xdrd::Server server;
    XT_REQUIRE(server.Start());
    XT_REQUIRE(server.LoopRunning());
    const JsThreadScope js("handle");
    (void)server.Handle(1, 1, 1, [](xdrd::Call) {});
  });
  XT_CHECK(r.aborted);
  XT_CHECK(Contains(r.stderr_text, kJsRule));
  XT_CHECK(Contains(r.stderr_text, "taking server lock 'server' in N-API entry 'handle'"));
}

// What the addon does on the JS thread: register and start before the
// loop exists, then while it runs only lock-free paths (counters, control
// requests and listeners through the command queue), then stop it under
// the exemption and destroy it.
XT_TEST(running_server_js_paths_are_accepted) {
  ChildResult r = RunInChild([] {
    const JsThreadScope js("lifetime");
    auto server = std::make_unique<xdrd::Server>();
    XT_REQUIRE(server->Handle(1, 1, 1, [](xdrd::Call) {}));
    XT_REQUIRE(server->Start());
    (void)server->Counters();
    xdrd::ClientControl control;
    control.kind = xdrd::ClientControl::Kind::kClose;
    XT_REQUIRE(server->ControlClient(42, control));  // queued; the loop finds no client 42
    xdrd::ListenSocket tcp = server->ListenTcp("127.0.0.1", 0);
    XT_REQUIRE(tcp.ok());
    {
      const JsThreadStopping stopping;
      server->Stop();
    }
    XT_REQUIRE(!server->LoopRunning());
    (void)server->Counters();
    server.reset();  // joined already: destroying it needs no exemption
  });
  XT_CHECK(!r.aborted);
  XT_CHECK_EQ(r.stderr_text, std::string());
}
