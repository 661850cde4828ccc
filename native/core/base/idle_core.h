// idle_core.h — may this thread spin without taking a core from another?
// Asked by the loop thread before it busy-polls instead of sleeping in
// poll(), and by a worker before it spins for jobs
// (ServerOptions::busy_poll_us): a spin is only worth its CPU when no
// runnable thread is left waiting for a core because of it.
//
// How: the kernel's count of runnable threads, system-wide, is the fourth
// field of /proc/loadavg ("running/total"). It includes the asking thread,
// which is running. At most as many runnable threads as online CPUs means
// every one of them has a core, the asker included: spinning on its own
// core keeps nobody waiting. The answer is cached for kRecheckUs, so asking
// often costs little.
//
// Threads: one instance belongs to one thread; no lock.
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

  // True if no runnable thread waits for a core (see above). now_us: the
  // caller's monotonic clock, in microseconds.
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
