// Helpers shared by the native tests: a latch (tests wait on latches that the
// test releases, never on sleeps) and an owned non-blocking pipe.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "base/lock.h"

namespace xt {

// scripts/native.js sets XDRD_UNDER_VALGRIND=1 for helgrind, DRD and
// memcheck, which run 20-200 times slower: tests that only need volume
// (not a particular count) scale down with this.
inline bool UnderValgrind() { return std::getenv("XDRD_UNDER_VALGRIND") != nullptr; }
// Which valgrind tool (scripts/native.js sets it beside the above): DRD is
// far slower than the others on some tests.
inline bool UnderDrd() {
  const char* tool = std::getenv("XDRD_VALGRIND_TOOL");
  return tool != nullptr && std::string(tool) == "drd";
}

// Built with TSan (5-15x slower) or ASan: tests whose clocks must fire on
// time give them more room, like under valgrind.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
inline bool UnderSlowTool() { return kSanitized || UnderValgrind(); }

// Counts down to zero once; Wait() blocks until then. The notify happens
// under the mutex, which is what helgrind and DRD need to see the ordering.
class Latch {
 public:
  explicit Latch(int count = 1) : count_(count) {}
  void CountDown() {
    std::lock_guard<std::mutex> lock(mu_);
    if (count_ > 0 && --count_ == 0) cv_.NotifyAll();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.Wait(lock, [&] { return count_ == 0; });
  }
  // For checks that something has NOT happened yet; never used as a delay.
  bool Released() {
    std::lock_guard<std::mutex> lock(mu_);
    return count_ == 0;
  }

 private:
  std::mutex mu_;
  xdrd::CondVar cv_;
  int count_;
};

// Waits for a state the test cannot be told about directly (a server
// counter), checking every millisecond, for at most `limit_ms`. A bound on
// waiting, never a delay that makes a test pass.
template <typename Pred>
bool WaitUntil(Pred pred, int limit_ms = 10000) {
  for (int waited = 0; !pred(); ++waited) {
    if (waited >= limit_ms) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

class Pipe {
 public:
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("pipe2 failed");
    read_fd = fds[0];
    write_fd = fds[1];
  }
  ~Pipe() {
    if (read_fd >= 0) close(read_fd);
    if (write_fd >= 0) close(write_fd);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  // Makes the read end readable (and keeps it so until Drain()).
  void Fill() {
    char c = 'x';
    if (write(write_fd, &c, 1) != 1) throw std::runtime_error("pipe write failed");
  }
  void Drain() {
    char buf[256];
    while (read(read_fd, buf, sizeof buf) > 0) {
    }
  }
  int read_fd = -1;
  int write_fd = -1;
};

}  // namespace xt
