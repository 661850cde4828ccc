// IdleCoreProbe (idle_core.h): the runnable count parsed from a loadavg
// line, the verdict against the CPU count, the cache, and a file that
// cannot be read or parsed meaning "not idle" (nothing spins blind).
#include <unistd.h>

#include <cstdio>
#include <string>

#include "check.h"
#include "base/idle_core.h"
#include "server_fixture.h"

using xdrd::IdleCoreProbe;

namespace {

// A loadavg-like file in a private directory, removed with it.
struct FakeLoadavg {
  xt::TempDir dir;
  std::string path = dir.File("loadavg");
  explicit FakeLoadavg(const std::string& line) { Write(line); }
  ~FakeLoadavg() { unlink(path.c_str()); }
  void Write(const std::string& line) {
    FILE* f = std::fopen(path.c_str(), "w");
    XT_REQUIRE(f != nullptr);
    std::fputs(line.c_str(), f);
    std::fclose(f);
  }
};

}  // namespace

XT_TEST(real_loadavg_counts_at_least_the_reading_thread) {
  IdleCoreProbe probe;
  int running = probe.ReadRunnable();
  XT_CHECK(running >= 1);
  XT_CHECK(probe.online_cpus() >= 1);
}

// The count includes the asking thread: with 2 CPUs, "2 runnable" is the
// asker and one other, each on its own core.
XT_TEST(no_more_runnable_than_cpus_leaves_a_core_to_spin_on) {
  FakeLoadavg f("0.50 0.40 0.30 1/345 6789\n");
  IdleCoreProbe probe(f.path.c_str(), 2);
  XT_CHECK_EQ(probe.ReadRunnable(), 1);
  XT_CHECK(probe.CoreIdle(0));
  f.Write("0.50 0.40 0.30 2/345 6789\n");
  IdleCoreProbe probe2(f.path.c_str(), 2);
  XT_CHECK(probe2.CoreIdle(0));
}

XT_TEST(more_runnable_than_cpus_means_someone_waits) {
  FakeLoadavg f("3.10 2.00 1.00 3/345 6789\n");
  IdleCoreProbe probe(f.path.c_str(), 2);
  XT_CHECK(!probe.CoreIdle(0));
  f.Write("3.10 2.00 1.00 17/345 6789\n");
  IdleCoreProbe probe2(f.path.c_str(), 16);
  XT_CHECK_EQ(probe2.ReadRunnable(), 17);
  XT_CHECK(!probe2.CoreIdle(0));
}

XT_TEST(answer_is_cached_for_a_millisecond) {
  FakeLoadavg f("0.00 0.00 0.00 1/100 1\n");
  IdleCoreProbe probe(f.path.c_str(), 2);
  XT_CHECK(probe.CoreIdle(5000));
  f.Write("0.00 0.00 0.00 9/100 1\n");
  XT_CHECK(probe.CoreIdle(5000 + IdleCoreProbe::kRecheckUs - 1));  // cached
  XT_CHECK_EQ(probe.reads(), uint64_t{1});
  XT_CHECK(!probe.CoreIdle(5000 + IdleCoreProbe::kRecheckUs));  // read again
  XT_CHECK_EQ(probe.reads(), uint64_t{2});
}

XT_TEST(unreadable_or_garbled_file_is_never_idle) {
  IdleCoreProbe missing("/nonexistent/loadavg", 4);
  XT_CHECK_EQ(missing.ReadRunnable(), -1);
  XT_CHECK(!missing.CoreIdle(0));
  for (const char* line : {"", "0.1 0.2 0.3\n", "0.1 0.2 0.3 x/12 5\n", "0.1 0.2 0.3 3 5\n"}) {
    FakeLoadavg f(line);
    IdleCoreProbe probe(f.path.c_str(), 4);
    XT_CHECK_EQ(probe.ReadRunnable(), -1);
    XT_CHECK(!probe.CoreIdle(0));
  }
}
