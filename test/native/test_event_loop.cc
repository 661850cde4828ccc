// Event-loop behaviours, one test each. Tests with a second thread hand
// control over with latches, never with sleeps; waits for what another
// thread should cause are bounded, so a regression fails a check instead
// of hanging until ctest's timeout.
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "check.h"
#include "loop/event_loop.h"
#include "test_util.h"

using xdrd::EventLoop;
using Id = EventLoop::Id;

namespace {

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

XT_TEST(watch_fires_when_fd_is_readable) {
  EventLoop loop;
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
XT_TEST(turn_that_takes_a_wake_reports_it) {
  EventLoop loop;
  bool woken = true;
  XT_CHECK_EQ(loop.RunOnce(0, &woken), 0);
  XT_CHECK(!woken);
  loop.Wake();
  XT_CHECK_EQ(loop.RunOnce(0, &woken), 0);
  XT_CHECK(woken);
  XT_CHECK_EQ(loop.RunOnce(0, &woken), 0);  // taken once, not again
  XT_CHECK(!woken);
}

XT_TEST(watch_with_no_events_is_not_dispatched) {
  EventLoop loop;
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

XT_TEST(hangup_is_reported_without_asking) {
  EventLoop loop;
  xt::Pipe p;
  close(p.write_fd);
  p.write_fd = -1;
  short seen = 0;
  loop.AddWatch(p.read_fd, POLLIN, [&](Id, int, short revents) { seen = revents; });
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK(seen & POLLHUP);
}

XT_TEST(callback_removes_its_own_watch) {
  EventLoop loop;
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

XT_TEST(callback_removes_another_watch_pending_in_same_turn) {
  EventLoop loop;
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

XT_TEST(callback_adds_watches_during_dispatch) {
  EventLoop loop;
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

XT_TEST(same_fd_watched_twice) {
  EventLoop loop;
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

XT_TEST(one_shot_timer_fires_once_and_can_be_rearmed) {
  EventLoop loop;
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

XT_TEST(poll_sleeps_until_the_next_timer) {
  EventLoop loop;
  int fired = 0;
  loop.AddTimer(20, 0, [&](Id) { ++fired; });
  // No timeout given: only the timer can end this turn. The rounding up of
  // the poll timeout means the first turn is the one that fires it.
  XT_CHECK_EQ(loop.RunOnce(-1), 1);
  XT_CHECK_EQ(fired, 1);
}

XT_TEST(disarmed_timer_does_not_fire) {
  EventLoop loop;
  int fired = 0;
  loop.AddTimer(-1, 5, [&](Id) { ++fired; });
  XT_CHECK_EQ(loop.RunOnce(30), 0);
  XT_CHECK_EQ(fired, 0);
}

XT_TEST(repeating_timer_fires_again) {
  EventLoop loop;
  int fired = 0;
  loop.AddTimer(0, 1, [&](Id) { ++fired; });
  XT_CHECK(RunUntil(loop, [&] { return fired >= 3; }));
}

XT_TEST(timer_cancels_itself) {
  EventLoop loop;
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

XT_TEST(timer_cancels_another_due_in_same_turn) {
  EventLoop loop;
  int b_fired = 0, b_frees = 0;
  Id b = 0;
  loop.AddTimer(0, 0, [&](Id) { XT_CHECK(loop.RemoveTimer(b)); });
  b = loop.AddTimer(0, 0, [&](Id) { ++b_fired; }, [&] { ++b_frees; });
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(b_fired, 0);
  XT_CHECK_EQ(b_frees, 1);
}

XT_TEST(timer_disarms_another_due_in_same_turn) {
  EventLoop loop;
  int b_fired = 0;
  Id b = 0;
  loop.AddTimer(0, 0, [&](Id) { XT_CHECK(loop.UpdateTimer(b, -1, 0)); });
  b = loop.AddTimer(0, 0, [&](Id) { ++b_fired; });
  XT_CHECK_EQ(loop.RunOnce(1000), 1);
  XT_CHECK_EQ(b_fired, 0);
}

XT_TEST(wake_interrupts_poll_without_timeout) {
  EventLoop loop;
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

XT_TEST(wakeups_coalesce) {
  EventLoop loop;
  for (int i = 0; i < 1000; ++i) loop.Wake();
  XT_CHECK_EQ(loop.RunOnce(-1), 0);  // the wake-up ends the turn...
  // ...and is fully drained: a second turn with a timeout sees nothing.
  xt::Pipe p;
  int calls = 0;
  loop.AddWatch(p.read_fd, POLLIN, [&](Id, int, short) { ++calls; });
  XT_CHECK_EQ(loop.RunOnce(0), 0);
  XT_CHECK_EQ(calls, 0);
}

XT_TEST(timer_added_from_another_thread_interrupts_poll) {
  EventLoop loop;
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

XT_TEST(watch_added_from_another_thread_interrupts_poll) {
  EventLoop loop;
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
XT_TEST(remove_from_another_thread_frees_after_running_callback) {
  EventLoop loop;
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

XT_TEST(remove_from_another_thread_while_polling_frees_promptly) {
  EventLoop loop;
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

XT_TEST(free_functions_may_call_back_into_the_loop) {
  EventLoop loop;
  int fired = 0;
  Id id = loop.AddTimer(-1, 0, [](Id) {}, [&] {
    // Runs outside the loop's lock: registering here must not deadlock.
    loop.AddTimer(0, 0, [&](Id) { ++fired; });
  });
  XT_CHECK(loop.RemoveTimer(id));
  loop.RunOnce(0);  // frees the first timer, which adds the second
  XT_CHECK(RunUntil(loop, [&] { return fired == 1; }));
}

XT_TEST(destructor_frees_what_is_still_registered) {
  int frees = 0;
  {
    EventLoop loop;
    xt::Pipe p;
    loop.AddWatch(p.read_fd, POLLIN, [](Id, int, short) {}, [&] { ++frees; });
    loop.AddTimer(1000, 0, [](Id) {}, [&] { ++frees; });
    Id removed = loop.AddTimer(-1, 0, [](Id) {}, [&] { ++frees; });
    loop.RemoveTimer(removed);  // removed but never reaped by a turn
  }
  XT_CHECK_EQ(frees, 3);
}

XT_TEST(ids_are_never_reused) {
  EventLoop loop;
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
XT_TEST(concurrent_registration_while_dispatching) {
  EventLoop loop;
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
