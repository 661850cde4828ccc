// idle_core.cc — see idle_core.h.
#include "base/idle_core.h"

#include <fcntl.h>
#include <unistd.h>

namespace xdrd {

IdleCoreProbe::IdleCoreProbe(const char* path, int cpus) {
  fd_ = open(path, O_RDONLY | O_CLOEXEC);
  long n = cpus > 0 ? cpus : sysconf(_SC_NPROCESSORS_ONLN);
  cpus_ = n > 0 ? static_cast<int>(n) : 1;
}

IdleCoreProbe::~IdleCoreProbe() {
  if (fd_ >= 0) close(fd_);
}

int IdleCoreProbe::ReadRunnable() {
  if (fd_ < 0) return -1;
  // "0.50 0.40 0.30 2/345 6789": reading at offset 0 regenerates the line.
  ++reads_;
  char buf[128];
  ssize_t n = pread(fd_, buf, sizeof buf - 1, 0);
  if (n <= 0) return -1;
  buf[n] = '\0';
  int spaces = 0;
  const char* p = buf;
  while (*p != '\0' && spaces < 3) {
    if (*p == ' ') ++spaces;
    ++p;
  }
  if (spaces < 3 || *p < '0' || *p > '9') return -1;
  int running = 0;
  for (; *p >= '0' && *p <= '9'; ++p) running = running * 10 + (*p - '0');
  return *p == '/' ? running : -1;
}

bool IdleCoreProbe::CoreIdle(int64_t now_us) {
  if (checked_us_ >= 0 && now_us - checked_us_ < kRecheckUs) return idle_;
  checked_us_ = now_us;
  int running = ReadRunnable();
  idle_ = running >= 0 && running <= cpus_;
  return idle_;
}

}  // namespace xdrd
