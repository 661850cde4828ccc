// BusyPollGovernor (busy_poll_governor.h): spinning goes on while a window
// of spins catches work for at most max_us_per_catch each; a window that
// does not pay buys a rest of some turns, doubling while probes keep
// failing (up to a bound), and a probe that pays ends the doubling.
#include "check.h"
#include "base/busy_poll_governor.h"

using xdrd::BusyPollGovernor;

namespace {

// Runs one window of `n` spins, each `us` long, catching work or not.
void Window(BusyPollGovernor& g, uint32_t n, int64_t us, bool caught) {
  for (uint32_t i = 0; i < n; ++i) {
    XT_REQUIRE(g.ShouldSpin());
    g.Record(us, caught);
  }
}

// Counts the turns the governor sleeps before it lets a spin through.
uint32_t RestTurns(BusyPollGovernor& g) {
  uint32_t turns = 0;
  while (!g.ShouldSpin()) ++turns;
  return turns;
}

}  // namespace

XT_TEST(fast_catches_keep_it_spinning) {
  BusyPollGovernor g(15, 8);
  for (int w = 0; w < 100; ++w) Window(g, 8, 10, true);
  XT_CHECK(!g.resting());
  XT_CHECK_EQ(g.rests(), uint64_t{0});
}

XT_TEST(a_window_at_exactly_the_limit_pays) {
  BusyPollGovernor g(15, 4);
  Window(g, 4, 15, true);
  XT_CHECK(!g.resting());
}

XT_TEST(spins_that_miss_buy_a_rest) {
  BusyPollGovernor g(15, 8);
  Window(g, 8, 50, false);
  XT_CHECK(g.resting());
  XT_CHECK_EQ(g.rests(), uint64_t{1});
  XT_CHECK_EQ(RestTurns(g), BusyPollGovernor::kFirstRestTurns);
}

XT_TEST(slow_catches_do_not_pay) {
  // Each spin catches work, but only after 40 us: more than a wake-up costs.
  BusyPollGovernor g(15, 8);
  Window(g, 8, 40, true);
  XT_CHECK(g.resting());
}

XT_TEST(a_few_quick_catches_among_misses_are_judged_on_the_total) {
  // 2 catches in 8 spins, 4 us each when caught, 50 us for each miss:
  // 308 us for 2 catches is 154 us a catch, which does not pay.
  BusyPollGovernor g(15, 8);
  for (int i = 0; i < 8; ++i) {
    XT_REQUIRE(g.ShouldSpin());
    g.Record(i < 2 ? 4 : 50, i < 2);
  }
  XT_CHECK(g.resting());
}

XT_TEST(failed_probes_double_the_rest_up_to_a_bound) {
  BusyPollGovernor g(15, 4);
  uint32_t expected = BusyPollGovernor::kFirstRestTurns;
  for (int probe = 0; probe < 12; ++probe) {
    Window(g, 4, 50, false);
    XT_CHECK_EQ(RestTurns(g), expected);
    expected = std::min(expected * 2, BusyPollGovernor::kLongestRestTurns);
  }
  XT_CHECK_EQ(g.next_rest_turns(), BusyPollGovernor::kLongestRestTurns);
}

XT_TEST(a_probe_that_pays_ends_the_doubling) {
  BusyPollGovernor g(15, 4);
  Window(g, 4, 50, false);
  RestTurns(g);
  Window(g, 4, 50, false);
  XT_CHECK_EQ(RestTurns(g), BusyPollGovernor::kFirstRestTurns * 2);
  Window(g, 4, 5, true);  // the traffic changed: catches come fast again
  XT_CHECK(!g.resting());
  XT_CHECK_EQ(g.next_rest_turns(), BusyPollGovernor::kFirstRestTurns);
  Window(g, 4, 50, false);
  XT_CHECK_EQ(RestTurns(g), BusyPollGovernor::kFirstRestTurns);
}
