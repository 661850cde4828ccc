// idle_core.h — is a core idle right now? Asked by the loop thread before it
// busy-polls instead of sleeping in poll() (ServerOptions::busy_poll_us): a
// spin is only worth its CPU when it takes no core from a thread that could
// run, and on a loaded machine it would.
//
// How: the kernel's count of runnable threads, system-wide, is the fourth
// field of /proc/loadavg ("running/total"). It includes the asking thread.
// Fewer runnable threads than online CPUs means some core has nothing to
// run. The answer is cached for kRecheckUs, so asking often costs little.
//
// Threads: one instance belongs to one thread (the loop thread); no lock.
// Where /proc/loadavg cannot be read the answer is always "no", so nothing
// spins blind.
#pragma once

#include <cstdint>

namespace xdrd {

class IdleCoreProbe {
 public:
  // `path` and `cpus` are for tests; cpus 0: the online CPUs.
  explicit IdleCoreProbe(const char* path = "/proc/loadavg", int cpus = 0);
  ~IdleCoreProbe();
  IdleCoreProbe(const IdleCoreProbe&) = delete;
  IdleCoreProbe& operator=(const IdleCoreProbe&) = delete;

  // now_us: the caller's monotonic clock, in microseconds.
  bool CoreIdle(int64_t now_us);

  // One reading of /proc/loadavg's runnable count, or -1; for tests.
  int ReadRunnable();
  int online_cpus() const { return cpus_; }
  // How many times the file was read.
  uint64_t reads() const { return reads_; }

  static constexpr int64_t kRecheckUs = 1000;

 private:
  int fd_ = -1;
  int cpus_ = 1;
  int64_t checked_us_ = -1;
  bool idle_ = false;
  uint64_t reads_ = 0;
};

}  // namespace xdrd
