// The lock-order checker (lock.h): each kind of violation aborts with a
// message naming both locks and the thread. Each violation runs in a child
// forked from this single-threaded test process (a multithreaded fork whose
// child starts threads is not safe under TSan), and the parent asserts
// SIGABRT and the message.
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "check.h"
#include "base/lock.h"

#ifndef XDRD_LOCK_CHECKS
#error "test_lock needs a build with XDRD_LOCK_CHECKS (every scripts/native.js variant has it)"
#endif

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
