// Event-loop behaviours, one test each, every one run against both
// backends (`name/epoll`, `name/poll`): poll() is the reference, and epoll
// must behave the same except where a test says how they differ. Tests
// with a second thread hand control over with latches, never with sleeps;
// waits for what another thread should cause are bounded, so a regression
// fails a check instead of hanging until ctest's timeout.
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "loop/event_loop.h"
#include "test_util.h"

using xdrd::EventBackend;
using xdrd::EventLoop;
using Id = EventLoop::Id;

// Defines a test taking `backend` and registers it once per backend.
#define LOOP_TEST(name)                                                                  \
  static void name(EventBackend backend);                                                \
  static void name##_epoll() { name(EventBackend::kEpoll); }                             \
  static void name##_poll() { name(EventBackend::kPoll); }                               \
  static const ::xt::Registrar name##_epoll_registrar(#name "/epoll", name##_epoll);     \
  static const ::xt::Registrar name##_poll_registrar(#name "/poll", name##_poll);        \
  static void name(EventBackend backend)

namespace {

// A connected pair of non-blocking UNIX stream sockets, closed when done.
struct SocketPair {
  SocketPair() {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
      throw std::runtime_error("socketpair failed");
    a = fds[0];
    b = fds[1];
  }
  ~SocketPair() {
    if (a >= 0) close(a);
    if (b >= 0) close(b);
  }
  SocketPair(const SocketPair&) = delete;
  SocketPair& operator=(const SocketPair&) = delete;
  int a = -1;
  int b = -1;
};

// Makes *fd be `number` (free, or naming what *fd names already), as
// accept() would give a new connection the lowest free number.
bool MoveFdTo(int* fd, int number) {
  if (*fd == number) return true;
  if (dup2(*fd, number) != number) return false;
  close(*fd);
  *fd = number;
  return true;
}

void WriteByte(int fd) {
  char c = 'x';
  if (write(fd, &c, 1) != 1) throw std::runtime_error("write failed");
}

// What poll() itself reports for `fd` now, masked as the loop masks it.
short PollReports(int fd, short events) {
  pollfd p{fd, events, 0};
  if (poll(&p, 1, 0) < 0) return -1;
  return static_cast<short>(p.revents & (events | POLLERR | POLLHUP | POLLNVAL));
}

// True once thread `tid` of this process sits in a wait system call (the
// backend's), so a test can act on a loop that is surely asleep.
bool WaitUntilAsleepInWait(pid_t tid) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/syscall";
  return xt::WaitUntil([&] {
    std::ifstream in(path);
    long nr = -1;
    in >> nr;
    if (nr == SYS_epoll_pwait || nr == SYS_ppoll) return true;
#ifdef SYS_epoll_wait
    if (nr == SYS_epoll_wait) return true;
#endif
#ifdef SYS_poll
    if (nr == SYS_poll) return true;
#endif
    return false;
  });
}

// Runs turns until `done` holds; a bounded number, so a bug fails the test
// instead of hanging it. Each turn waits at most 1 s.
template <typename Pred>
bool RunUntil(EventLoop& loop, Pred done, int max_turns = 2000) {
  for (int i = 0; i < max_turns && !done(); ++i) loop.RunOnce(1000);
  return done();
}

// For a test whose loop thread blocks in RunOnce(-1) until another thread's
// action ends the turn: a watched pipe that stays empty unless the test
// gives up. Filling it ends that turn whatever else is broken, so the
// thread can still be joined after a failed check.
class Unstick {
 public:
  explicit Unstick(EventLoop& loop) {
    loop.AddWatch(pipe_.read_fd, POLLIN, [this](Id, int, short) { pipe_.Drain(); });
  }
  void Now() { pipe_.Fill(); }

 private:
  xt::Pipe pipe_;
};

}  // namespace

LOOP_TEST(watch_fires_when_fd_is_readable) {
  EventLoop loop(backend);
  xt::Pipe p;
  int calls = 0;
  short seen = 0;
  int seen_fd = -1;
  Id id = loop.AddWatch(p.read_fd, POLLIN, [&](Id, int fd, short revents) {
    ++calls;
    seen = revents;
    seen_fd = fd;
  });
  XT_CHECK(id > 0);
  XT_CHECK_EQ(loop.RunOnce(0), 0);  // nothing readable yet
  p.Fill();
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(calls, 1);
  XT_CHECK_EQ(seen_fd, p.read_fd);
  XT_CHECK(seen & POLLIN);
}

// A turn that takes a Wake() and runs no callback says so: a caller that
// polls with timeout 0 in a loop (the server's busy poll) must stop and
// look at why it was woken, or the next blocking poll() sleeps through it.
LOOP_TEST(turn_that_takes_a_wake_reports_it) {
  EventLoop loop(backend);
  bool woken = true;
  XT_CHECK_EQ(loop.RunOnce(0, &woken), 0);
  XT_CHECK(!woken);
  loop.Wake();
  XT_CHECK_EQ(loop.RunOnce(0, &woken), 0);
  XT_CHECK(woken);
  XT_CHECK_EQ(loop.RunOnce(0, &woken), 0);  // taken once, not again
  XT_CHECK(!woken);
}

LOOP_TEST(watch_with_no_events_is_not_dispatched) {
  EventLoop loop(backend);
  xt::Pipe p;
  p.Fill();
  int calls = 0;
  Id id = loop.AddWatch(p.read_fd, POLLIN, [&](Id, int, short) { ++calls; });
  XT_CHECK(loop.UpdateWatch(id, 0));
  XT_CHECK_EQ(loop.RunOnce(0), 0);
  XT_CHECK_EQ(calls, 0);
  XT_CHECK(loop.UpdateWatch(id, POLLIN));
  XT_CHECK_EQ(loop.RunOnce(0), 1);
  XT_CHECK_EQ(calls, 1);
}

LOOP_TEST(hangup_is_reported_without_asking) {
  EventLoop loop(backend);
  xt::Pipe p;
  close(p.write_fd);
  p.write_fd = -1;
  short seen = 0;
  loop.AddWatch(p.read_fd, POLLIN, [&](Id, int, short revents) { seen = revents; });
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK(seen & POLLHUP);
}

// An edge watch on `fd` asking for `events` that counts its calls and
// keeps the last revents it was told.
struct EdgeProbe {
  int calls = 0;
  short seen = 0;
  Id id = 0;
  EdgeProbe(EventLoop& loop, int fd, short events) {
    id = loop.AddWatch(fd, events, [this](Id, int, short revents) { ++calls, seen = revents; }, nullptr,
                       EventLoop::WatchMode::kEdge);
  }
};

// An edge watch is told of a rise once on epoll, and not again while the
// fd stays ready; new data is a new rise. poll() has no edges: there it is
// told at every turn, as a level watch (the contract its owner codes for).
LOOP_TEST(edge_watch_is_told_of_a_rise_once) {
  EventLoop loop(backend);
  XT_CHECK_EQ(loop.edge_capable(), backend == EventBackend::kEpoll);
  SocketPair s;
  EdgeProbe w(loop, s.a, POLLIN);
  // Nothing to read yet (writable, but it does not ask for POLLOUT).
  XT_CHECK_EQ(loop.RunOnce(0), 0);
  WriteByte(s.b);
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(w.calls, 1);
  XT_CHECK(w.seen & POLLIN);
  // Not read: still readable.
  XT_CHECK_EQ(PollReports(s.a, POLLIN), POLLIN);
  XT_CHECK_EQ(loop.RunOnce(0), backend == EventBackend::kEpoll ? 0 : 1);
  const int before = w.calls;
  WriteByte(s.b);  // a new rise
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(w.calls, before + 1);
}

// On epoll a rise reaches an edge watch whatever events it asks for at that
// moment: its owner must learn of bytes it may not read yet, as no second
// report comes. On poll() the watch is masked as a level watch.
LOOP_TEST(edge_watch_is_told_of_rises_it_does_not_ask_for) {
  EventLoop loop(backend);
  SocketPair s;
  EdgeProbe w(loop, s.a, POLLIN);
  XT_CHECK(loop.UpdateWatch(w.id, 0));
  WriteByte(s.b);
  if (backend == EventBackend::kEpoll) {
    XT_CHECK_EQ(loop.RunOnce(1000), 1);
    XT_CHECK_EQ(w.calls, 1);
    XT_CHECK(w.seen & POLLIN);
  } else {
    XT_CHECK_EQ(loop.RunOnce(0), 0);
    XT_CHECK_EQ(w.calls, 0);
  }
}

// Changing an edge watch's input events costs no system call on epoll
// (its registration asks for every rise of input); adding or dropping
// POLLOUT costs one, as any change of a level watch does. poll() keeps its
// interest in its own array and never makes one.
LOOP_TEST(edge_watch_changes_cost_no_system_call) {
  EventLoop loop(backend);
  SocketPair edge_pair, level_pair;
  Id edge = loop.AddWatch(edge_pair.a, POLLIN, [](Id, int, short) {}, nullptr, EventLoop::WatchMode::kEdge);
  Id level = loop.AddWatch(level_pair.a, POLLIN, [](Id, int, short) {});
  const bool epoll = backend == EventBackend::kEpoll;
  XT_CHECK_EQ(loop.stats().interest_syscalls, epoll ? 2u : 0u);  // the two adds
  uint64_t before = loop.stats().interest_syscalls;
  for (int i = 0; i < 10; ++i) {
    XT_CHECK(loop.UpdateWatch(edge, 0));
    XT_CHECK(loop.UpdateWatch(edge, i % 2 ? POLLIN : static_cast<short>(POLLIN | POLLRDHUP)));
  }
  XT_CHECK_EQ(loop.stats().interest_syscalls - before, 0u);
  before = loop.stats().interest_syscalls;
  XT_CHECK(loop.UpdateWatch(edge, POLLIN | POLLOUT));
  XT_CHECK(loop.UpdateWatch(edge, POLLIN));
  XT_CHECK_EQ(loop.stats().interest_syscalls - before, epoll ? 2u : 0u);
  before = loop.stats().interest_syscalls;
  for (int i = 0; i < 10; ++i) {
    XT_CHECK(loop.UpdateWatch(level, 0));
    XT_CHECK(loop.UpdateWatch(level, POLLIN));
  }
  XT_CHECK_EQ(loop.stats().interest_syscalls - before, epoll ? 20u : 0u);
  XT_CHECK(loop.RemoveWatch(edge));
  XT_CHECK(loop.RemoveWatch(level));
  loop.RunOnce(0);
}

// An edge watch is told of POLLOUT only while it asks for it: a socket
// becomes writable again each time its peer reads, and a watch that sent
// a reply has no use for that.
LOOP_TEST(edge_watch_is_told_of_pollout_only_when_it_asks) {
  EventLoop loop(backend);
  SocketPair s;
  EdgeProbe w(loop, s.a, POLLIN);
  XT_CHECK_EQ(loop.RunOnce(0), 0);  // writable, not asked
  XT_CHECK(loop.UpdateWatch(w.id, POLLIN | POLLOUT));
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(w.calls, 1);
  XT_CHECK(w.seen & POLLOUT);
  XT_CHECK(!(w.seen & POLLIN));
}

// The peer's hang-up reaches an edge watch once, with POLLRDHUP, whatever
// it asks for.
LOOP_TEST(edge_watch_is_told_of_a_hangup) {
  EventLoop loop(backend);
  SocketPair s;
  EdgeProbe w(loop, s.a, POLLIN | POLLRDHUP);
  XT_CHECK_EQ(loop.RunOnce(0), 0);
  close(s.b);
  s.b = -1;
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK(w.seen & POLLRDHUP);
  XT_CHECK(w.seen & POLLIN);  // the end of the stream reads as readable
  // Told once on epoll, though it still asks for both; poll() tells again.
  XT_CHECK_EQ(loop.RunOnce(0), backend == EventBackend::kEpoll ? 0 : 1);
}

LOOP_TEST(callback_removes_its_own_watch) {
  EventLoop loop(backend);
  xt::Pipe p;
  p.Fill();  // stays readable: a watch that survived would fire every turn
  int calls = 0, frees = 0, frees_seen_in_callback = -1;
  loop.AddWatch(
      p.read_fd, POLLIN,
      [&](Id self, int, short) {
        ++calls;
        XT_CHECK(loop.RemoveWatch(self));
        XT_CHECK(!loop.RemoveWatch(self));  // a second removal is refused
        frees_seen_in_callback = frees;
      },
      [&] { ++frees; });
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(frees_seen_in_callback, 0);  // not freed under its own callback
  XT_CHECK_EQ(frees, 1);                   // freed at the end of that turn
  XT_CHECK_EQ(loop.RunOnce(0), 0);
  XT_CHECK_EQ(calls, 1);
  XT_CHECK_EQ(loop.watch_count(), 0u);
}

LOOP_TEST(callback_removes_another_watch_pending_in_same_turn) {
  EventLoop loop(backend);
  xt::Pipe a, b;
  a.Fill();
  b.Fill();
  int b_calls = 0, b_frees = 0;
  Id b_id = 0;
  // a is registered first, so it is dispatched first in the turn where both
  // fds are ready.
  loop.AddWatch(a.read_fd, POLLIN, [&](Id self, int, short) {
    XT_CHECK(loop.RemoveWatch(b_id));
    loop.UpdateWatch(self, 0);
  });
  b_id = loop.AddWatch(b.read_fd, POLLIN, [&](Id, int, short) { ++b_calls; }, [&] { ++b_frees; });
  XT_CHECK_EQ(loop.RunOnce(1000), 1);  // only a ran
  XT_CHECK_EQ(b_calls, 0);
  XT_CHECK_EQ(b_frees, 1);
  loop.RunOnce(0);
  XT_CHECK_EQ(b_calls, 0);
}

LOOP_TEST(callback_adds_watches_during_dispatch) {
  EventLoop loop(backend);
  xt::Pipe a;
  a.Fill();
  std::vector<xt::Pipe> pipes(50);
  for (auto& p : pipes) p.Fill();
  int added_calls = 0;
  bool added = false;
  Id a_id = loop.AddWatch(a.read_fd, POLLIN, [&](Id self, int, short) {
    if (added) return;
    added = true;
    // Enough insertions to rebalance the registry under the dispatcher.
    for (auto& p : pipes) loop.AddWatch(p.read_fd, POLLIN, [&](Id, int, short) { ++added_calls; });
    loop.UpdateWatch(self, 0);
  });
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(added_calls, 0);  // not polled in the turn that added them
  XT_CHECK_EQ(loop.RunOnce(1000), 50);
  XT_CHECK_EQ(added_calls, 50);
  XT_CHECK(loop.RemoveWatch(a_id));
}

LOOP_TEST(same_fd_watched_twice) {
  EventLoop loop(backend);
  xt::Pipe p;
  p.Fill();
  int first = 0, second = 0;
  Id one = loop.AddWatch(p.read_fd, POLLIN, [&](Id, int, short) { ++first; });
  Id two = loop.AddWatch(p.read_fd, POLLIN, [&](Id, int, short) { ++second; });
  XT_CHECK(one != two);
  XT_CHECK_EQ(loop.RunOnce(1000), 2);
  XT_CHECK_EQ(first, 1);
  XT_CHECK_EQ(second, 1);
  XT_CHECK(loop.RemoveWatch(one));
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(first, 1);
  XT_CHECK_EQ(second, 2);
}

LOOP_TEST(one_shot_timer_fires_once_and_can_be_rearmed) {
  EventLoop loop(backend);
  int fired = 0;
  Id id = loop.AddTimer(0, 0, [&](Id) { ++fired; });
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(fired, 1);
  XT_CHECK_EQ(loop.RunOnce(0), 0);
  XT_CHECK_EQ(fired, 1);
  XT_CHECK_EQ(loop.timer_count(), 1u);  // disarmed, still registered
  XT_CHECK(loop.UpdateTimer(id, 0, 0));
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(fired, 2);
}

LOOP_TEST(poll_sleeps_until_the_next_timer) {
  EventLoop loop(backend);
  int fired = 0;
  loop.AddTimer(20, 0, [&](Id) { ++fired; });
  // No timeout given: only the timer can end this turn. The rounding up of
  // the poll timeout means the first turn is the one that fires it.
  XT_CHECK_EQ(loop.RunOnce(-1), 1);
  XT_CHECK_EQ(fired, 1);
}

LOOP_TEST(disarmed_timer_does_not_fire) {
  EventLoop loop(backend);
  int fired = 0;
  loop.AddTimer(-1, 5, [&](Id) { ++fired; });
  XT_CHECK_EQ(loop.RunOnce(30), 0);
  XT_CHECK_EQ(fired, 0);
}

LOOP_TEST(repeating_timer_fires_again) {
  EventLoop loop(backend);
  int fired = 0;
  loop.AddTimer(0, 1, [&](Id) { ++fired; });
  XT_CHECK(RunUntil(loop, [&] { return fired >= 3; }));
}

LOOP_TEST(timer_cancels_itself) {
  EventLoop loop(backend);
  int fired = 0, frees = 0, frees_seen_in_callback = -1;
  loop.AddTimer(
      0, 1,
      [&](Id self) {
        ++fired;
        XT_CHECK(loop.RemoveTimer(self));
        frees_seen_in_callback = frees;
      },
      [&] { ++frees; });
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(frees_seen_in_callback, 0);
  XT_CHECK_EQ(frees, 1);
  loop.RunOnce(20);
  XT_CHECK_EQ(fired, 1);
  XT_CHECK_EQ(loop.timer_count(), 0u);
}

LOOP_TEST(timer_cancels_another_due_in_same_turn) {
  EventLoop loop(backend);
  int b_fired = 0, b_frees = 0;
  Id b = 0;
  loop.AddTimer(0, 0, [&](Id) { XT_CHECK(loop.RemoveTimer(b)); });
  b = loop.AddTimer(0, 0, [&](Id) { ++b_fired; }, [&] { ++b_frees; });
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(b_fired, 0);
  XT_CHECK_EQ(b_frees, 1);
}

LOOP_TEST(timer_disarms_another_due_in_same_turn) {
  EventLoop loop(backend);
  int b_fired = 0;
  Id b = 0;
  loop.AddTimer(0, 0, [&](Id) { XT_CHECK(loop.UpdateTimer(b, -1, 0)); });
  b = loop.AddTimer(0, 0, [&](Id) { ++b_fired; });
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(b_fired, 0);
}

LOOP_TEST(wake_interrupts_poll_without_timeout) {
  EventLoop loop(backend);
  Unstick unstick(loop);
  xt::Latch turn_done;
  std::thread loop_thread([&] {
    loop.RunOnce(-1);  // nothing ready: only Wake() can end it
    turn_done.CountDown();
  });
  loop.Wake();
  const bool ended = xt::WaitUntil([&] { return turn_done.Released(); });
  if (!ended) unstick.Now();
  loop_thread.join();
  XT_CHECK(ended);
}

LOOP_TEST(wakeups_coalesce) {
  EventLoop loop(backend);
  for (int i = 0; i < 1000; ++i) loop.Wake();
  XT_CHECK_EQ(loop.RunOnce(-1), 0);  // the wake-up ends the turn...
  // ...and is fully drained: a second turn with a timeout sees nothing.
  xt::Pipe p;
  int calls = 0;
  loop.AddWatch(p.read_fd, POLLIN, [&](Id, int, short) { ++calls; });
  XT_CHECK_EQ(loop.RunOnce(0), 0);
  XT_CHECK_EQ(calls, 0);
}

// A Wake() while no wait sleeps (the loop thread busy, or not in RunOnce)
// writes nothing: the next wait is told under the lock, does not sleep, and
// reports the wake-up; the one after it sleeps again.
LOOP_TEST(wake_outside_the_wait_costs_no_write) {
  EventLoop loop(backend);
  const uint64_t before = loop.stats().wakeups;
  loop.Wake();
  loop.Wake();
  XT_CHECK_EQ(loop.stats().wakeups - before, 0u);
  bool woken = false;
  XT_CHECK_EQ(loop.RunOnce(-1, &woken), 0);  // would sleep for ever without it
  XT_CHECK(woken);
  XT_CHECK_EQ(loop.RunOnce(0, &woken), 0);
  XT_CHECK(!woken);
  XT_CHECK_EQ(loop.stats().wakeups - before, 0u);
}

LOOP_TEST(timer_added_from_another_thread_interrupts_poll) {
  EventLoop loop(backend);
  Unstick unstick(loop);
  std::atomic<bool> done{false}, gave_up{false};
  xt::Latch started;
  std::thread loop_thread([&] {
    started.CountDown();
    while (!done.load() && !gave_up.load()) loop.RunOnce(-1);
  });
  started.Wait();
  loop.AddTimer(0, 0, [&](Id) { done.store(true); });
  const bool fired = xt::WaitUntil([&] { return done.load(); });
  if (!fired) {
    gave_up.store(true);
    unstick.Now();
  }
  loop_thread.join();
  XT_CHECK(fired);
}

LOOP_TEST(watch_added_from_another_thread_interrupts_poll) {
  EventLoop loop(backend);
  Unstick unstick(loop);
  xt::Pipe p;
  p.Fill();
  std::atomic<bool> done{false}, gave_up{false};
  xt::Latch started;
  std::thread loop_thread([&] {
    started.CountDown();
    while (!done.load() && !gave_up.load()) loop.RunOnce(-1);
  });
  started.Wait();
  loop.AddWatch(p.read_fd, POLLIN, [&](Id self, int, short) {
    loop.RemoveWatch(self);
    done.store(true);
  });
  const bool fired = xt::WaitUntil([&] { return done.load(); });
  if (!fired) {
    gave_up.store(true);
    unstick.Now();
  }
  loop_thread.join();
  XT_CHECK(fired);
}

// The case that makes deferred freeing necessary: another thread removes a
// watch while the loop is inside that watch's callback. The removal returns
// at once; the free function must still wait for the callback to finish.
LOOP_TEST(remove_from_another_thread_frees_after_running_callback) {
  EventLoop loop(backend);
  xt::Pipe p;
  p.Fill();
  xt::Latch entered, removed;
  std::atomic<int> calls{0}, frees{0}, frees_when_callback_ended{-1};
  Id id = loop.AddWatch(
      p.read_fd, POLLIN,
      [&](Id, int, short) {
        ++calls;
        entered.CountDown();
        removed.Wait();
        frees_when_callback_ended.store(frees.load());
      },
      [&] { ++frees; });
  std::thread loop_thread([&] { loop.RunOnce(-1); });
  entered.Wait();
  XT_CHECK(loop.RemoveWatch(id));
  XT_CHECK_EQ(frees.load(), 0);
  removed.CountDown();
  loop_thread.join();
  XT_CHECK_EQ(frees_when_callback_ended.load(), 0);
  XT_CHECK_EQ(frees.load(), 1);
  loop.RunOnce(0);  // the fd is still readable; the watch must be gone
  XT_CHECK_EQ(calls.load(), 1);
}

LOOP_TEST(remove_from_another_thread_while_polling_frees_promptly) {
  EventLoop loop(backend);
  xt::Pipe p;  // never readable
  xt::Latch freed;
  Id id = loop.AddWatch(p.read_fd, POLLIN, [&](Id, int, short) {}, [&] { freed.CountDown(); });
  std::atomic<bool> stop{false};
  xt::Latch started;
  std::thread loop_thread([&] {
    started.CountDown();
    while (!stop.load()) loop.RunOnce(-1);
  });
  started.Wait();
  XT_CHECK(loop.RemoveWatch(id));
  freed.Wait();  // would hang if removal did not wake the sleeping poll()
  stop.store(true);
  loop.Wake();
  loop_thread.join();
  XT_CHECK(freed.Released());
}

LOOP_TEST(free_functions_may_call_back_into_the_loop) {
  EventLoop loop(backend);
  int fired = 0;
  Id id = loop.AddTimer(-1, 0, [](Id) {}, [&] {
    // Runs outside the loop's lock: registering here must not deadlock.
    loop.AddTimer(0, 0, [&](Id) { ++fired; });
  });
  XT_CHECK(loop.RemoveTimer(id));
  loop.RunOnce(0);  // frees the first timer, which adds the second
  XT_CHECK(RunUntil(loop, [&] { return fired == 1; }));
}

LOOP_TEST(destructor_frees_what_is_still_registered) {
  int frees = 0;
  {
    EventLoop loop(backend);
    xt::Pipe p;
    loop.AddWatch(p.read_fd, POLLIN, [](Id, int, short) {}, [&] { ++frees; });
    loop.AddTimer(1000, 0, [](Id) {}, [&] { ++frees; });
    Id removed = loop.AddTimer(-1, 0, [](Id) {}, [&] { ++frees; });
    loop.RemoveTimer(removed);  // removed but never reaped by a turn
  }
  XT_CHECK_EQ(frees, 3);
}

LOOP_TEST(ids_are_never_reused) {
  EventLoop loop(backend);
  Id a = loop.AddTimer(-1, 0, [](Id) {});
  XT_CHECK(loop.RemoveTimer(a));
  loop.RunOnce(0);
  Id b = loop.AddTimer(-1, 0, [](Id) {});
  Id c = loop.AddWatch(0, 0, [](Id, int, short) {});
  XT_CHECK(b > a);
  XT_CHECK(c > b);
  XT_CHECK(!loop.RemoveTimer(a));
  XT_CHECK(!loop.UpdateTimer(a, 0, 0));
  XT_CHECK(!loop.RemoveWatch(b));  // a timer id is not a watch id
}

// Many threads register, update and remove while the loop dispatches: every
// free function runs exactly once, and the sanitizers see the traffic.
LOOP_TEST(concurrent_registration_while_dispatching) {
  EventLoop loop(backend);
  constexpr int kThreads = 4, kRounds = 200;
  std::atomic<int> frees{0}, fired{0};
  std::atomic<bool> stop{false};
  std::thread loop_thread([&] {
    while (!stop.load()) loop.RunOnce(-1);
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      xt::Pipe p;
      p.Fill();
      for (int i = 0; i < kRounds; ++i) {
        Id timer = loop.AddTimer(0, 0, [&](Id) { ++fired; }, [&] { ++frees; });
        Id watch = loop.AddWatch(p.read_fd, POLLIN, [](Id, int, short) {}, [&] { ++frees; });
        loop.UpdateWatch(watch, (i & 1) ? POLLIN : 0);
        loop.UpdateTimer(timer, i & 1 ? 0 : -1, 0);
        loop.RemoveWatch(watch);
        loop.RemoveTimer(timer);
      }
      // The pipe must outlive its watches' presence in a poll set: wait
      // until the loop has freed them before closing it.
      xt::Latch reaped;
      loop.AddTimer(0, 0, [&](Id self) { loop.RemoveTimer(self); }, [&] { reaped.CountDown(); });
      reaped.Wait();
    });
  }
  for (auto& t : threads) t.join();
  stop.store(true);
  loop.Wake();
  loop_thread.join();
  XT_CHECK_EQ(frees.load(), kThreads * kRounds * 2);
  XT_CHECK(fired.load() <= kThreads * kRounds);
}

// ---- Readiness as poll() reports it ----------------------------------------

// What the server relies on for a starved client or one awaiting
// authorization: a watch asking only for POLLRDHUP ignores data that is
// waiting and fires when the peer shuts down, with the bits poll() gives.
LOOP_TEST(rdhup_only_watch_fires_on_peer_shutdown_not_on_data) {
  EventLoop loop(backend);
  SocketPair s;
  WriteByte(s.b);  // data waiting: not asked for
  int calls = 0;
  short seen = 0;
  loop.AddWatch(s.a, POLLRDHUP, [&](Id, int, short revents) {
    ++calls;
    seen = revents;
  });
  XT_CHECK_EQ(loop.RunOnce(0), 0);
  XT_CHECK_EQ(calls, 0);
  shutdown(s.b, SHUT_WR);
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(seen, PollReports(s.a, POLLRDHUP));
  XT_CHECK(seen & POLLRDHUP);
  XT_CHECK(!(seen & POLLIN));
  close(s.b);  // the peer is gone entirely: POLLHUP as well
  s.b = -1;
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(seen, PollReports(s.a, POLLRDHUP));
  XT_CHECK(seen & POLLHUP);
}

// Hang-ups and errors for each kind of watch the server makes, compared
// with what poll() itself says about the same fd at the same moment.
LOOP_TEST(hangup_and_error_bits_match_poll) {
  const short kinds[] = {POLLIN, POLLOUT, POLLIN | POLLOUT, POLLIN | POLLRDHUP, POLLRDHUP};
  for (short events : kinds) {
    EventLoop loop(backend);
    SocketPair s;
    short seen = 0;
    loop.AddWatch(s.a, events, [&](Id, int, short revents) { seen = revents; });
    shutdown(s.b, SHUT_WR);
    loop.RunOnce(1000);
    XT_CHECK_EQ(seen, PollReports(s.a, events));
    close(s.b);
    s.b = -1;
    seen = 0;
    XT_CHECK_EQ(loop.RunOnce(1000), 1);
    XT_CHECK_EQ(seen, PollReports(s.a, events));
    XT_CHECK(seen & POLLHUP);
  }
  // POLLERR: the write end of a pipe whose reader is gone.
  EventLoop loop(backend);
  xt::Pipe p;
  close(p.read_fd);
  p.read_fd = -1;
  short seen = 0;
  loop.AddWatch(p.write_fd, POLLIN, [&](Id, int, short revents) { seen = revents; });
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(seen, PollReports(p.write_fd, POLLIN));
  XT_CHECK(seen & POLLERR);
}

// epoll refuses regular files (EPERM); poll() says they are always
// readable and writable. The loop says what poll() says, every turn.
LOOP_TEST(regular_file_is_always_ready) {
  EventLoop loop(backend);
  char path[] = "/tmp/xdrd-loop-XXXXXX";
  int fd = mkstemp(path);
  XT_REQUIRE(fd >= 0);
  unlink(path);
  short seen = 0;
  Id id = loop.AddWatch(fd, POLLIN | POLLOUT, [&](Id, int, short revents) { seen = revents; });
  XT_CHECK_EQ(loop.RunOnce(-1), 1);  // must not sleep: it is ready without the kernel saying so
  XT_CHECK_EQ(seen, PollReports(fd, POLLIN | POLLOUT));
  XT_CHECK_EQ(loop.RunOnce(0), 1);
  XT_CHECK(loop.UpdateWatch(id, POLLOUT));
  seen = 0;
  XT_CHECK_EQ(loop.RunOnce(0), 1);
  XT_CHECK_EQ(seen, POLLOUT);
  XT_CHECK(loop.UpdateWatch(id, 0));
  XT_CHECK_EQ(loop.RunOnce(0), 0);
  XT_CHECK(loop.RemoveWatch(id));
  close(fd);
}

LOOP_TEST(negative_fd_is_never_ready) {
  EventLoop loop(backend);
  int calls = 0;
  Id id = loop.AddWatch(-1, POLLIN | POLLOUT, [&](Id, int, short) { ++calls; });
  XT_CHECK_EQ(loop.RunOnce(0), 0);
  XT_CHECK(loop.UpdateWatch(id, POLLIN));
  XT_CHECK_EQ(loop.RunOnce(0), 0);
  XT_CHECK_EQ(calls, 0);
  XT_CHECK(loop.RemoveWatch(id));
}

// ---- One fd, several watches ----------------------------------------------

// epoll holds one registration per fd; the loop keeps the union of the
// watches' events there and gives each watch only what it asked for.
LOOP_TEST(same_fd_watched_twice_for_different_events) {
  EventLoop loop(backend);
  SocketPair s;
  WriteByte(s.b);  // s.a: readable and writable
  short seen_r = 0, seen_w = 0;
  int calls_r = 0, calls_w = 0;
  Id r = loop.AddWatch(s.a, POLLIN, [&](Id, int, short revents) {
    ++calls_r;
    seen_r = revents;
  });
  Id w = loop.AddWatch(s.a, POLLOUT, [&](Id, int, short revents) {
    ++calls_w;
    seen_w = revents;
  });
  XT_CHECK_EQ(loop.RunOnce(1000), 2);
  XT_CHECK_EQ(seen_r, POLLIN);
  XT_CHECK_EQ(seen_w, POLLOUT);
  XT_CHECK(loop.UpdateWatch(r, 0));
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(calls_r, 1);
  XT_CHECK_EQ(calls_w, 2);
  XT_CHECK(loop.RemoveWatch(w));
  XT_CHECK(loop.UpdateWatch(r, POLLIN));
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(calls_r, 2);
  XT_CHECK_EQ(calls_w, 2);
  XT_CHECK(loop.UpdateWatch(r, POLLOUT));  // the only watch left changes what the fd is watched for
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(seen_r, POLLOUT);
}

// Two watches of one fd share its ready event; the first one's callback
// removes the second, which then is not called.
LOOP_TEST(watch_removed_by_earlier_callback_on_same_fd) {
  EventLoop loop(backend);
  xt::Pipe p;
  p.Fill();
  Id second = 0;
  int second_calls = 0, second_frees = 0;
  loop.AddWatch(p.read_fd, POLLIN, [&](Id self, int, short) {
    XT_CHECK(loop.RemoveWatch(second));
    loop.UpdateWatch(self, 0);
  });
  second = loop.AddWatch(p.read_fd, POLLIN, [&](Id, int, short) { ++second_calls; }, [&] { ++second_frees; });
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(second_calls, 0);
  XT_CHECK_EQ(second_frees, 1);
  XT_CHECK_EQ(loop.RunOnce(0), 0);
}

// A watch added during dispatch to an fd that is ready in this turn waits
// for the next turn, as a watch on any other fd does.
LOOP_TEST(watch_added_to_ready_fd_during_dispatch_waits_a_turn) {
  EventLoop loop(backend);
  xt::Pipe p;
  p.Fill();
  int added_calls = 0;
  loop.AddWatch(p.read_fd, POLLIN, [&](Id self, int, short) {
    loop.UpdateWatch(self, 0);
    loop.AddWatch(p.read_fd, POLLIN, [&](Id, int, short) { ++added_calls; });
  });
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(added_calls, 0);
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(added_calls, 1);
}

// ---- An fd closed without RemoveWatch -----------------------------------------

// Both backends: when the loop finds out, the watch gets POLLNVAL once and
// is then disabled; UpdateWatch re-arms it (with the same events too).
// Changing its events gives the number to the kernel again, which is where
// epoll finds out; poll() finds out at its next call anyway.
LOOP_TEST(closed_fd_gets_pollnval_once_then_is_disabled) {
  EventLoop loop(backend);
  xt::Pipe p;
  int calls = 0;
  short seen = 0;
  Id id = loop.AddWatch(p.read_fd, POLLIN, [&](Id, int, short revents) {
    ++calls;
    seen = revents;
  });
  XT_CHECK_EQ(loop.RunOnce(0), 0);
  close(p.read_fd);  // the caller bug: no RemoveWatch first
  p.read_fd = -1;
  XT_CHECK(loop.UpdateWatch(id, POLLIN | POLLPRI));
  XT_CHECK_EQ(loop.RunOnce(0), 1);
  XT_CHECK_EQ(calls, 1);
  XT_CHECK_EQ(seen, POLLNVAL);
  XT_CHECK_EQ(loop.RunOnce(0), 0);  // disabled: not reported again
  XT_CHECK_EQ(loop.RunOnce(0), 0);
  XT_CHECK_EQ(loop.watch_count(), 1u);  // still registered, until removed
  XT_CHECK(loop.UpdateWatch(id, POLLIN | POLLPRI));  // re-armed; the fd is still closed
  XT_CHECK_EQ(loop.RunOnce(0), 1);
  XT_CHECK_EQ(calls, 2);
  XT_CHECK_EQ(seen, POLLNVAL);
  XT_CHECK_EQ(loop.RunOnce(0), 0);
  XT_CHECK(loop.RemoveWatch(id));
  XT_CHECK_EQ(loop.RunOnce(0), 0);
  XT_CHECK_EQ(calls, 2);
}

// Where the backends differ: poll() reports a closed fd at its next call;
// the kernel drops a closed file from an epoll interest list by itself,
// so on epoll a watch whose number is never given to the kernel again
// never fires. On neither does it fire more than once.
LOOP_TEST(closed_fd_left_alone) {
  EventLoop loop(backend);
  xt::Pipe p;
  p.Fill();
  int calls = 0;
  short seen = 0;
  Id id = loop.AddWatch(p.read_fd, POLLIN, [&](Id, int, short revents) {
    ++calls;
    seen = revents;
  });
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(seen, POLLIN);
  close(p.read_fd);
  p.read_fd = -1;
  int ran = 0;
  for (int i = 0; i < 3; ++i) ran += loop.RunOnce(0);
  if (backend == EventBackend::kPoll) {
    XT_CHECK_EQ(ran, 1);
    XT_CHECK_EQ(seen, POLLNVAL);
  } else {
    XT_CHECK_EQ(ran, 0);
    XT_CHECK_EQ(seen, POLLIN);
  }
  XT_CHECK(loop.RemoveWatch(id));
}

// The server's case: in one turn a callback removes a watch (deferred: it
// is freed after dispatch), closes its fd, and a new client gets the same
// number and a new watch. The old watch's readiness, already collected
// this turn, must not reach the new watch, now or later.
LOOP_TEST(fd_number_reused_before_deferred_removal) {
  EventLoop loop(backend);
  xt::Pipe trigger;
  trigger.Fill();
  SocketPair old_pair;
  WriteByte(old_pair.b);  // the old client is readable in the same turn
  std::unique_ptr<SocketPair> fresh;
  int old_calls = 0, new_calls = 0, old_frees = 0;
  Id old_id = 0;
  const int number = old_pair.a;
  loop.AddWatch(trigger.read_fd, POLLIN, [&](Id self, int, short) {
    loop.UpdateWatch(self, 0);
    XT_CHECK(loop.RemoveWatch(old_id));
    close(old_pair.a);
    old_pair.a = -1;
    fresh = std::make_unique<SocketPair>();
    // The new connection under the old number, as accept() would give it.
    XT_REQUIRE(MoveFdTo(&fresh->a, number));
    loop.AddWatch(number, POLLIN, [&](Id, int, short) { ++new_calls; });
  });
  old_id = loop.AddWatch(number, POLLIN, [&](Id, int, short) { ++old_calls; }, [&] { ++old_frees; });
  XT_CHECK_EQ(loop.RunOnce(1000), 1);  // the trigger only
  XT_CHECK_EQ(old_calls, 0);
  XT_CHECK_EQ(new_calls, 0);
  XT_CHECK_EQ(old_frees, 1);
  XT_CHECK_EQ(loop.RunOnce(0), 0);  // the new connection has sent nothing
  XT_CHECK_EQ(new_calls, 0);
  WriteByte(fresh->b);
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(new_calls, 1);
  XT_CHECK_EQ(old_calls, 0);
}

// The hard case for epoll: the fd is closed without removal while a
// duplicate keeps its file open (as a fork() would), then its number is
// reused. The kernel still holds the old file under that number and goes
// on reporting it; those reports carry the old registration's generation,
// so they never reach the new watch, and the loop replaces its epoll set
// once to be rid of them (level-triggered, they would end every wait).
// poll() knows only numbers: there the old watch follows the number.
LOOP_TEST(closed_fd_kept_open_by_duplicate_then_number_reused) {
  EventLoop loop(backend);
  SocketPair first;
  const int number = first.a;
  const int duplicate = dup(number);
  XT_REQUIRE(duplicate >= 0);
  int old_calls = 0, new_calls = 0;
  short old_seen = 0;
  Id old_id = loop.AddWatch(number, POLLIN, [&](Id, int, short revents) {
    ++old_calls;
    old_seen = revents;
  });
  XT_CHECK_EQ(loop.RunOnce(0), 0);
  close(number);  // no RemoveWatch; the duplicate keeps the file open
  first.a = -1;
  SocketPair second;
  XT_REQUIRE(MoveFdTo(&second.a, number));
  loop.AddWatch(number, POLLIN, [&](Id, int, short) { ++new_calls; });
  WriteByte(first.b);  // the old file is readable; the new one is not
  int ran = 0;
  for (int i = 0; i < 3; ++i) ran += loop.RunOnce(0);
  XT_CHECK_EQ(new_calls, 0);
  if (backend == EventBackend::kEpoll) {
    XT_CHECK_EQ(ran, 1);  // the old watch learns its fd is gone, once
    XT_CHECK_EQ(old_seen, POLLNVAL);
    XT_CHECK_EQ(loop.stats().rebuilds, 1u);
    const uint64_t reports = loop.stats().ready_events;
    for (int i = 0; i < 3; ++i) XT_CHECK_EQ(loop.RunOnce(0), 0);
    XT_CHECK_EQ(loop.stats().ready_events, reports);  // the old file is heard no more
  } else {
    XT_CHECK_EQ(ran, 0);  // poll() watches the number, which names the new, quiet file
  }
  WriteByte(second.b);
  old_calls = 0;
  XT_CHECK_EQ(loop.RunOnce(1000), backend == EventBackend::kEpoll ? 1 : 2);
  XT_CHECK_EQ(new_calls, 1);
  XT_CHECK_EQ(old_calls, backend == EventBackend::kEpoll ? 0 : 1);
  XT_CHECK(loop.RemoveWatch(old_id));
  close(duplicate);
}

// ---- Changes from other threads -------------------------------------------------

// A worker asks for POLLOUT while the loop sleeps. On epoll the epoll_ctl
// alone reaches the sleeping epoll_wait: no wake-up is written. poll()
// must be woken to take the new array.
LOOP_TEST(update_from_another_thread_reaches_a_sleeping_wait) {
  EventLoop loop(backend);
  xt::Pipe p;
  p.Fill();
  std::atomic<int> calls{0};
  Id id = loop.AddWatch(p.read_fd, 0, [&](Id self, int, short) {
    ++calls;
    loop.UpdateWatch(self, 0);
  });
  loop.RunOnce(0);  // the poll() array is built before the test begins
  const EventLoop::Stats before = loop.stats();
  std::atomic<pid_t> tid{0};
  xt::Latch started;
  std::thread loop_thread([&] {
    tid.store(gettid());
    started.CountDown();
    while (calls.load() == 0) loop.RunOnce(-1);  // only the update can end these turns
  });
  started.Wait();
  XT_REQUIRE(WaitUntilAsleepInWait(tid.load()));
  XT_CHECK(loop.UpdateWatch(id, POLLIN));
  loop_thread.join();
  const EventLoop::Stats after = loop.stats();
  XT_CHECK_EQ(calls.load(), 1);
  if (backend == EventBackend::kEpoll) {
    XT_CHECK_EQ(after.wakeups - before.wakeups, 0u);
    XT_CHECK_EQ(after.turns - before.turns, 1u);
  } else {
    XT_CHECK_EQ(after.wakeups - before.wakeups, 1u);
  }
}

// The same change made while the loop dispatches another callback: no
// wake-up (nothing sleeps), and the very next turn sees it even without
// waiting.
LOOP_TEST(update_from_another_thread_during_dispatch_takes_effect_next_turn) {
  EventLoop loop(backend);
  xt::Pipe a, b;
  a.Fill();
  b.Fill();
  int b_calls = 0;
  Id b_id = loop.AddWatch(b.read_fd, 0, [&](Id, int, short) { ++b_calls; });
  xt::Latch in_callback, updated;
  loop.AddWatch(a.read_fd, POLLIN, [&](Id self, int, short) {
    loop.UpdateWatch(self, 0);
    in_callback.CountDown();
    updated.Wait();
  });
  const uint64_t wakeups_before = loop.stats().wakeups;
  int first_turn = -1;
  std::thread loop_thread([&] { first_turn = loop.RunOnce(1000); });
  in_callback.Wait();
  XT_CHECK(loop.UpdateWatch(b_id, POLLIN));
  updated.CountDown();
  loop_thread.join();
  XT_CHECK_EQ(first_turn, 1);
  XT_CHECK_EQ(b_calls, 0);
  XT_CHECK_EQ(loop.stats().wakeups - wakeups_before, 0u);
  XT_CHECK_EQ(loop.RunOnce(0), 1);
  XT_CHECK_EQ(b_calls, 1);
}

// A timer added by another thread wakes a sleeping loop only when it is
// due before that wait would end anyway.
LOOP_TEST(timer_from_another_thread_wakes_only_when_due_sooner) {
  EventLoop loop(backend);
  std::atomic<int> fired{0};
  std::atomic<pid_t> tid{0};
  xt::Latch started;
  int ran = -1;
  std::thread loop_thread([&] {
    tid.store(gettid());
    started.CountDown();
    ran = loop.RunOnce(60 * 1000);
  });
  started.Wait();
  XT_REQUIRE(WaitUntilAsleepInWait(tid.load()));
  const uint64_t before = loop.stats().wakeups;
  // Due after the wait's own timeout: the next turn takes care of it.
  Id later = loop.AddTimer(3600 * 1000, 0, [&](Id) { ++fired; });
  XT_CHECK_EQ(loop.stats().wakeups - before, 0u);
  loop.AddTimer(0, 0, [&](Id) { ++fired; });
  XT_CHECK_EQ(loop.stats().wakeups - before, 1u);
  loop_thread.join();
  XT_CHECK_EQ(ran, 1);
  XT_CHECK_EQ(fired.load(), 1);
  XT_CHECK(loop.RemoveTimer(later));
}

// ---- Timers in a heap ----------------------------------------------------------

// Timers due together fire in due order. UpdateTimer(delay 0) in a shuffled
// order gives them increasing due times in that order, so the heap must
// give them back in exactly that order; removed and disarmed ones not at
// all.
LOOP_TEST(timers_due_together_fire_in_due_order) {
  EventLoop loop(backend);
  const int kTimers = xt::UnderValgrind() ? 100 : 500;
  std::vector<int> fired_order;
  std::vector<Id> ids;
  for (int i = 0; i < kTimers; ++i) ids.push_back(loop.AddTimer(-1, 0, [&fired_order, i](Id) { fired_order.push_back(i); }));
  std::vector<int> order(static_cast<size_t>(kTimers));
  for (int i = 0; i < kTimers; ++i) order[static_cast<size_t>(i)] = i;
  std::mt19937 rng(18);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<int> expected;
  for (int i : order) XT_CHECK(loop.UpdateTimer(ids[static_cast<size_t>(i)], 0, 0));
  for (int i : order) {
    if (i % 7 == 0) {
      XT_CHECK(loop.RemoveTimer(ids[static_cast<size_t>(i)]));
    } else if (i % 11 == 0) {
      XT_CHECK(loop.UpdateTimer(ids[static_cast<size_t>(i)], -1, 0));
    } else if (i % 5 == 0) {
      continue;  // moved to the end below
    } else {
      expected.push_back(i);
    }
  }
  for (int i : order) {
    if (i % 5 == 0 && i % 7 != 0 && i % 11 != 0) {
      XT_CHECK(loop.UpdateTimer(ids[static_cast<size_t>(i)], 0, 0));  // due again, later than all the others
      expected.push_back(i);
    }
  }
  XT_CHECK_EQ(loop.RunOnce(0), static_cast<int>(expected.size()));
  XT_CHECK(fired_order == expected);
  XT_CHECK_EQ(loop.RunOnce(0), 0);
}

// After much moving and removing among far-off timers, the earliest is
// still found: the wait's timeout comes from the heap's top, and only the
// timers made due fire.
LOOP_TEST(timer_heap_finds_earliest_after_churn) {
  EventLoop loop(backend);
  const int kTimers = xt::UnderValgrind() ? 300 : 2000;
  const int64_t kHour = 3600 * 1000;
  std::mt19937 rng(42);
  std::vector<Id> ids;
  std::vector<bool> live;
  std::vector<int> fired;
  for (int i = 0; i < kTimers; ++i) {
    ids.push_back(loop.AddTimer(kHour + static_cast<int64_t>(rng() % kHour), 0,
                                [&fired, i](Id) { fired.push_back(i); }));
    live.push_back(true);
  }
  for (int round = 0; round < 4 * kTimers; ++round) {
    const size_t i = rng() % static_cast<size_t>(kTimers);
    if (!live[i]) continue;
    switch (rng() % 4) {
      case 0: XT_CHECK(loop.RemoveTimer(ids[i])); live[i] = false; break;
      case 1: XT_CHECK(loop.UpdateTimer(ids[i], -1, 0)); break;
      default: XT_CHECK(loop.UpdateTimer(ids[i], kHour + static_cast<int64_t>(rng() % kHour), 0)); break;
    }
  }
  std::vector<int> expected;
  for (size_t i = 0; i < live.size() && expected.size() < 5; i += live.size() / 20) {
    if (!live[i]) continue;
    XT_CHECK(loop.UpdateTimer(ids[i], 0, 0));
    expected.push_back(static_cast<int>(i));
  }
  XT_CHECK(!expected.empty());
  XT_CHECK(RunUntil(loop, [&] { return fired.size() >= expected.size(); }, 10));
  XT_CHECK(fired == expected);
  XT_CHECK_EQ(loop.RunOnce(0), 0);
}

// A timer that an earlier callback of the same turn moves later (or
// earlier, to a time after the turn began) is not run in that turn.
LOOP_TEST(timer_moved_by_another_due_in_same_turn) {
  EventLoop loop(backend);
  int b_fired = 0, c_fired = 0;
  Id b = 0, c = 0;
  loop.AddTimer(0, 0, [&](Id) {
    XT_CHECK(loop.UpdateTimer(b, 3600 * 1000, 0));
    XT_CHECK(loop.UpdateTimer(c, 0, 0));
  });
  b = loop.AddTimer(0, 0, [&](Id) { ++b_fired; });
  c = loop.AddTimer(0, 0, [&](Id) { ++c_fired; });
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(b_fired, 0);
  XT_CHECK_EQ(c_fired, 0);
  XT_CHECK_EQ(loop.RunOnce(1000), 1);  // c, due again now
  XT_CHECK_EQ(c_fired, 1);
  XT_CHECK_EQ(b_fired, 0);  // b, an hour away
  XT_CHECK_EQ(loop.timer_count(), 3u);
}

// ---- Per-turn work ------------------------------------------------------------------

// Raises the soft descriptor limit to the hard one; false if that is still
// below `needed`.
bool EnsureDescriptors(rlim_t needed, rlim_t* have) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return false;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  *have = lim.rlim_cur;
  return lim.rlim_cur >= needed;
}

// Thousands of idle watches (5,000 socket pairs: 10,000 descriptors) do
// not add to a turn on epoll: a turn with one ready fd scans one watch and
// takes one readiness report, as it does with no idle watches at all. On
// poll() every idle watch is scanned every turn (which shows the counter
// counts what it claims to).
LOOP_TEST(idle_watches_do_not_add_to_a_turn) {
  // Valgrind keeps the process to the soft limit it started with (often
  // 1,024), so there fewer make the same point.
  const int kIdle = xt::UnderValgrind() ? 200 : 5000;
  const rlim_t needed = 2 * static_cast<rlim_t>(kIdle) + 64;
  rlim_t have = 0;
  if (!EnsureDescriptors(needed, &have))
    XT_SKIP("needs " + std::to_string(needed) + " descriptors; RLIMIT_NOFILE allows " + std::to_string(have));
  EventLoop loop(backend);
  xt::Pipe active;
  active.Fill();  // stays readable: every turn has exactly this one ready fd
  int active_calls = 0;
  loop.AddWatch(active.read_fd, POLLIN, [&](Id, int, short) { ++active_calls; });
  constexpr int kTurns = 10;
  // The work of kTurns turns, each of which must run the active watch only.
  auto measure = [&](uint64_t* scanned, uint64_t* reports) {
    loop.RunOnce(0);  // a changed set is rebuilt (poll()) before measuring
    const EventLoop::Stats before = loop.stats();
    for (int i = 0; i < kTurns; ++i) XT_CHECK_EQ(loop.RunOnce(1000), 1);
    const EventLoop::Stats after = loop.stats();
    *scanned = after.watches_scanned - before.watches_scanned;
    *reports = after.ready_events - before.ready_events;
  };
  uint64_t scanned_alone = 0, reports_alone = 0;
  measure(&scanned_alone, &reports_alone);

  std::vector<std::unique_ptr<SocketPair>> idle;
  idle.reserve(static_cast<size_t>(kIdle));
  for (int i = 0; i < kIdle; ++i) {
    idle.push_back(std::make_unique<SocketPair>());
    loop.AddWatch(idle.back()->a, POLLIN, [](Id, int, short) {});
  }
  uint64_t scanned_idle = 0, reports_idle = 0;
  measure(&scanned_idle, &reports_idle);

  XT_CHECK_EQ(reports_alone, static_cast<uint64_t>(kTurns));
  XT_CHECK_EQ(reports_idle, static_cast<uint64_t>(kTurns));
  if (backend == EventBackend::kEpoll) {
    XT_CHECK_EQ(scanned_alone, static_cast<uint64_t>(kTurns));
    XT_CHECK_EQ(scanned_idle, scanned_alone);
  } else {
    XT_CHECK(scanned_idle >= scanned_alone + static_cast<uint64_t>(kTurns) * static_cast<uint64_t>(kIdle));
  }
  XT_CHECK_EQ(loop.watch_count(), static_cast<size_t>(kIdle) + 1);
}
