// Helpers shared by the native tests: a latch (tests wait on latches that the
// test releases, never on sleeps) and an owned non-blocking pipe.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>

namespace xt {

// Counts down to zero once; Wait() blocks until then. The notify happens
// under the mutex, which is what helgrind and DRD need to see the ordering.
class Latch {
 public:
  explicit Latch(int count = 1) : count_(count) {}
  void CountDown() {
    std::lock_guard<std::mutex> lock(mu_);
    if (count_ > 0 && --count_ == 0) cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return count_ == 0; });
  }
  // For checks that something has NOT happened yet; never used as a delay.
  bool Released() {
    std::lock_guard<std::mutex> lock(mu_);
    return count_ == 0;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_;
};

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
