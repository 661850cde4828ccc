// loadgen.cc — a closed-loop load generator for libvirt-framed XDR-RPC over a
// UNIX stream socket. bench/run.js drives every server with it.
//
// Model
//   C connections, each keeping D calls in flight: a call is re-issued the
//   moment its reply has been read and checked (closed loop, so the rate is
//   what the server sustains, not what we offer). One thread, one epoll set,
//   level-triggered: on two shared cores a second load thread would only take
//   CPU from the server under test. Replies of one read are all handled
//   before the next writev, so the calls they free leave in one syscall.
//
// Frames (libvirt-wire.md §1)
//   length u32 (counts itself) | prog | vers | proc (i32) | type | serial |
//   status | body. Calls are type CALL (0), status OK (0); the body is empty
//   or one XDR opaque: a 4-byte length, the bytes, zero padding to 4.
//
// Every reply is checked: length word in range, type REPLY, the call's
//   prog/vers/proc, a serial we have in flight on that connection and have
//   fully sent, status OK, and the body (`--check echo`: equal to the call's
//   body; `--check hex:...`: equal to those bytes). The first four opaque
//   bytes of each call carry its serial, so an echo that returns another
//   call's body is caught too. Any failure ends the run with a non-zero exit.
//
// Serials: slot i of a connection issues serials i, i + D, i + 2D, ..., so
//   a reply's slot is serial % D and a stale or foreign serial cannot match.
//
// Zero-copy sending: each slot owns its prebuilt frame; re-issuing patches
//   the serial words in place and queues the slot; writev sends queued slots
//   straight from there. A slot is never rewritten while it is queued.
//
// Timing: warm-up (not recorded), then the measured window (fixed duration
//   or a number of completed calls), then a drain in which the calls still
//   in flight are read and checked but not counted. Latency is the time from
//   issuing a call to reading its reply, kept in a log-linear histogram
//   (1/64 relative resolution). CPU: our own from getrusage, the server's
//   (all threads, user + system) from /proc/<pid>/stat, both taken at the
//   edges of the measured window. The server's live threads are also read
//   one by one from /proc/<pid>/task/*/stat and bucketed by name (DESIGN.md
//   §8): "loop" (xdrd-loop), "workers" (xdrd-worker-N), "main" (the thread
//   whose id is the pid: Node's JS thread), "rest" (everything else: V8 and
//   libuv helpers, GC). A thread that exits inside the window loses its
//   share, so the buckets may sum to a little less than the total.
//
// Output: one JSON line on stdout ({"ok":true,...} or {"ok":false,"error"}).
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_program.h"

namespace {

constexpr size_t kLengthWord = 4;
constexpr size_t kFrameHeader = 28;  // length word + 6 header words
constexpr uint32_t kTypeReply = 1;
constexpr uint32_t kStatusOk = 0;
constexpr uint32_t kStatusError = 1;
// VIR_NET_MESSAGE_MAX (header + body) plus the length word.
constexpr uint32_t kMaxFrame = 33554432 + 4;
// Read at least this much per read() call, so small frames are read many
// per syscall.
constexpr size_t kMinReadSpace = 256 * 1024;
constexpr int kMaxIov = 64;

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

int64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

using bench::GetU32;
using bench::PutU32;

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  int get() const { return fd_; }

 private:
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
};

// Log-linear histogram of nanoseconds: values below 128 are exact, above
// that each power of two is split into 64 buckets (≤ 1.6 % error).
class Histogram {
 public:
  Histogram() : buckets_(64 * 60, 0) {}

  void Add(uint64_t v) {
    ++buckets_[Index(v)];
    ++count_;
    sum_ += static_cast<double>(v);
    max_ = std::max(max_, v);
  }
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0; }

  // The value at quantile q (0..1]: the middle of its bucket, capped at max.
  uint64_t Quantile(double q) const {
    if (count_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
    rank = std::max<uint64_t>(1, std::min(rank, count_));
    uint64_t seen = 0;
    for (size_t i = 0; i < buckets_.size(); ++i) {
      seen += buckets_[i];
      if (seen >= rank) return std::min(max_, Middle(i));
    }
    return max_;
  }

 private:
  static size_t Index(uint64_t v) {
    if (v < 128) return static_cast<size_t>(v);
    const int bits = 64 - __builtin_clzll(v);  // 8..64
    const int shift = bits - 7;
    return static_cast<size_t>(shift) * 64 + static_cast<size_t>(v >> shift);
  }
  static uint64_t Middle(size_t i) {
    if (i < 128) return i;
    const size_t shift = i / 64 - 1;
    const uint64_t mantissa = i - shift * 64;  // 64..127
    return (mantissa << shift) + ((uint64_t{1} << shift) >> 1);
  }

  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  uint64_t max_ = 0;
  double sum_ = 0;
};

enum class Check { kNone, kEcho, kBytes };

struct Options {
  std::string socket;
  std::string label;
  int connections = 1;
  int depth = 1;
  uint32_t prog = 0;
  uint32_t vers = 1;
  int32_t proc = 0;
  long body_bytes = -1;  // < 0: empty body; else an opaque of this many bytes
  std::vector<uint8_t> body_raw;  // --body-hex: these bytes as the body, the same in every call
  bool have_body_raw = false;
  Check check = Check::kNone;
  std::vector<uint8_t> expect;  // for Check::kBytes
  double warmup_s = 0.5;
  double duration_s = 2.0;
  uint64_t count = 0;  // > 0: measure this many calls instead of a duration
  long server_pid = 0;
  double timeout_s = 10.0;  // no reply for this long: fail
};

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr,
               "loadgen: %s\n"
               "usage: loadgen --socket PATH --prog N --proc N [--vers N]\n"
               "  [--connections C] [--depth D] [--body-bytes N | --body-hex HEX (omit: empty body)]\n"
               "  [--check none|echo|hex:HEX] [--warmup S] [--duration S | --count N]\n"
               "  [--server-pid PID] [--timeout S] [--label TEXT]\n",
               why.c_str());
  std::exit(2);
}

long long ParseInt(const std::string& flag, const char* s, long long lo, long long hi) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s, &end, 0);  // 0x... accepted
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
    Usage("bad value for " + flag + ": " + s);
  return v;
}

double ParseSeconds(const std::string& flag, const char* s) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || !(v >= 0) || v > 86400) Usage("bad value for " + flag + ": " + s);
  return v;
}

std::vector<uint8_t> ParseHex(const std::string& hex, const char* flag = "--check hex:") {
  if (hex.size() % 2 != 0) Usage(std::string(flag) + " needs an even number of digits");
  std::vector<uint8_t> out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    const std::string byte = hex.substr(i, 2);
    char* end = nullptr;
    const long v = std::strtol(byte.c_str(), &end, 16);
    if (*end != '\0') Usage(std::string(flag) + " bad digits " + byte);
    out.push_back(static_cast<uint8_t>(v));
  }
  return out;
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  bool have_prog = false, have_proc = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) Usage("missing value for " + flag);
    const char* v = argv[++i];
    if (flag == "--socket") o.socket = v;
    else if (flag == "--label") o.label = v;
    else if (flag == "--connections") o.connections = static_cast<int>(ParseInt(flag, v, 1, 4096));
    else if (flag == "--depth") o.depth = static_cast<int>(ParseInt(flag, v, 1, 4096));
    else if (flag == "--prog") { o.prog = static_cast<uint32_t>(ParseInt(flag, v, 0, UINT32_MAX)); have_prog = true; }
    else if (flag == "--vers") o.vers = static_cast<uint32_t>(ParseInt(flag, v, 0, UINT32_MAX));
    else if (flag == "--proc") { o.proc = static_cast<int32_t>(ParseInt(flag, v, INT32_MIN, INT32_MAX)); have_proc = true; }
    else if (flag == "--body-bytes") o.body_bytes = static_cast<long>(ParseInt(flag, v, 0, kMaxFrame - kFrameHeader - 8));
    else if (flag == "--body-hex") {
      o.body_raw = ParseHex(v, "--body-hex");
      if (o.body_raw.size() % 4 != 0 || o.body_raw.size() > kMaxFrame - kFrameHeader) Usage("--body-hex: the body must be whole XDR words and fit a frame");
      o.have_body_raw = true;
    }
    else if (flag == "--warmup") o.warmup_s = ParseSeconds(flag, v);
    else if (flag == "--duration") o.duration_s = ParseSeconds(flag, v);
    else if (flag == "--count") o.count = static_cast<uint64_t>(ParseInt(flag, v, 1, INT64_MAX));
    else if (flag == "--server-pid") o.server_pid = static_cast<long>(ParseInt(flag, v, 1, INT32_MAX));
    else if (flag == "--timeout") o.timeout_s = ParseSeconds(flag, v);
    else if (flag == "--check") {
      const std::string c = v;
      if (c == "none") o.check = Check::kNone;
      else if (c == "echo") o.check = Check::kEcho;
      else if (c.rfind("hex:", 0) == 0) { o.check = Check::kBytes; o.expect = ParseHex(c.substr(4)); }
      else Usage("--check must be none, echo or hex:HEX");
    } else Usage("unknown flag " + flag);
  }
  if (o.socket.empty() || !have_prog || !have_proc) Usage("--socket, --prog and --proc are required");
  if (o.socket.size() >= sizeof(sockaddr_un{}.sun_path)) Usage("socket path too long");
  if (o.count == 0 && o.duration_s <= 0) Usage("--duration must be > 0");
  if (o.have_body_raw && o.body_bytes >= 0) Usage("--body-bytes and --body-hex are exclusive");
  if (o.have_body_raw && o.check == Check::kEcho) Usage("--check echo needs --body-bytes");
  if (o.timeout_s <= 0) Usage("--timeout must be > 0");
  return o;
}

// A /proc stat line's command name and utime + stime in seconds; false if
// the line is not in the expected format.
bool ParseStat(const std::string& line, std::string* name, double* seconds) {
  // The command name is in parentheses and may hold spaces or ')'.
  const size_t open = line.find('('), close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  *name = line.substr(open + 1, close - open - 1);
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // Fields after the name start at field 3 (state); utime is 14, stime 15.
  for (int n = 3; n <= 15 && (rest >> field); ++n) {
    if (n == 14) utime = std::stoull(field);
    if (n == 15) stime = std::stoull(field);
  }
  *seconds = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return true;
}

// utime + stime of a whole process (every thread, live or exited), seconds.
double ProcessCpuSeconds(long pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line, name;
  double seconds = 0;
  if (!std::getline(f, line)) throw Failure("cannot read /proc/" + std::to_string(pid) + "/stat");
  if (!ParseStat(line, &name, &seconds)) throw Failure("unexpected /proc/pid/stat format");
  return seconds;
}

// utime + stime of one thread, and its name, from /proc/<pid>/task/<tid>/stat.
// False if the thread has gone.
bool ThreadCpu(long pid, const std::string& tid, std::string* name, double* seconds) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + tid + "/stat");
  std::string line;
  return std::getline(f, line) && ParseStat(line, name, seconds);
}

// CPU seconds of the server's live threads, bucketed (see the top comment).
struct ThreadBuckets {
  double loop = 0, workers = 0, main = 0, rest = 0;
};

ThreadBuckets ServerThreadCpu(long pid) {
  ThreadBuckets b;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) throw Failure(Errno(("opendir " + dir).c_str()));
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string name;
    double secs = 0;
    if (!ThreadCpu(pid, e->d_name, &name, &secs)) continue;
    if (std::strtol(e->d_name, nullptr, 10) == pid) b.main += secs;
    else if (name == "xdrd-loop") b.loop += secs;
    else if (name.rfind("xdrd-worker", 0) == 0) b.workers += secs;
    else b.rest += secs;
  }
  closedir(d);
  return b;
}

double OwnCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

struct Slot {
  std::vector<uint8_t> frame;  // the whole call, length word included
  uint32_t serial = 0;         // of the call in flight (or the next one)
  int64_t sent_ns = 0;
  bool busy = false;    // issued; reply not yet read
  bool queued = false;  // in the send queue (not fully written yet)
};

struct Pending {
  uint32_t slot;
  size_t offset;  // bytes of the slot's frame already written
};

struct Conn {
  int index = 0;
  Fd fd;
  std::vector<Slot> slots;
  std::deque<Pending> sendq;
  bool out_armed = false;  // EPOLLOUT registered
  std::vector<uint8_t> in;  // received bytes live in [rd, wr)
  size_t rd = 0, wr = 0;
};

class LoadGen {
 public:
  explicit LoadGen(Options o) : o_(std::move(o)) {}

  void Run();
  void PrintResult() const;

 private:
  enum class Phase { kWarmup, kMeasure, kDrain };

  void Connect();
  void BuildSlots(Conn& c);
  bool ShouldIssue() const;
  void Issue(Conn& c, uint32_t slot);
  void Flush(Conn& c);
  void SetOut(Conn& c, bool on);
  void Read(Conn& c);
  void EnsureReadSpace(Conn& c);
  void TakeFrames(Conn& c, int64_t now);
  void OnReply(Conn& c, const uint8_t* f, uint32_t len, int64_t now);
  void BeginMeasure(int64_t now);
  void EndMeasure(int64_t now);
  [[noreturn]] void Fail(const Conn& c, const std::string& what) const {
    throw Failure("connection " + std::to_string(c.index) + ": " + what);
  }

  const Options o_;
  Fd epoll_;
  std::vector<Conn> conns_;
  Phase phase_ = Phase::kWarmup;
  uint64_t in_flight_ = 0;
  uint64_t warmup_calls_ = 0;
  uint64_t drained_calls_ = 0;
  uint64_t completed_ = 0;  // in the measured window
  Histogram hist_;
  int64_t last_progress_ns_ = 0;
  int64_t t0_ = 0, t1_ = 0;
  double own_cpu0_ = 0, own_cpu1_ = 0;
  double srv_cpu0_ = 0, srv_cpu1_ = 0;
  ThreadBuckets srv_threads0_, srv_threads1_;
};

void LoadGen::Connect() {
  epoll_ = Fd(epoll_create1(EPOLL_CLOEXEC));
  if (epoll_.get() < 0) throw Failure(Errno("epoll_create1"));
  conns_.resize(static_cast<size_t>(o_.connections));
  for (int i = 0; i < o_.connections; ++i) {
    Conn& c = conns_[static_cast<size_t>(i)];
    c.index = i;
    c.fd = Fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (c.fd.get() < 0) throw Failure(Errno("socket"));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, o_.socket.c_str(), o_.socket.size() + 1);
    // Blocking connect (the server is already listening), then non-blocking I/O.
    if (connect(c.fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
      throw Failure(Errno(("connect " + o_.socket).c_str()));
    if (fcntl(c.fd.get(), F_SETFL, O_NONBLOCK) != 0) throw Failure(Errno("fcntl"));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.fd.get(), &ev) != 0) throw Failure(Errno("epoll_ctl"));
    c.in.resize(2 * kMinReadSpace);
    BuildSlots(c);
  }
}

void LoadGen::BuildSlots(Conn& c) {
  const size_t data = o_.body_bytes < 0 ? 0 : static_cast<size_t>(o_.body_bytes);
  const size_t body = o_.have_body_raw ? o_.body_raw.size() : o_.body_bytes < 0 ? 0 : 4 + ((data + 3) & ~size_t{3});
  c.slots.resize(static_cast<size_t>(o_.depth));
  for (size_t s = 0; s < c.slots.size(); ++s) {
    Slot& slot = c.slots[s];
    slot.frame.assign(kFrameHeader + body, 0);
    uint8_t* f = slot.frame.data();
    PutU32(f, static_cast<uint32_t>(slot.frame.size()));
    PutU32(f + 4, o_.prog);
    PutU32(f + 8, o_.vers);
    PutU32(f + 12, static_cast<uint32_t>(o_.proc));
    PutU32(f + 16, 0);  // CALL
    PutU32(f + 24, 0);  // OK
    if (o_.body_bytes >= 0) {
      PutU32(f + kFrameHeader, static_cast<uint32_t>(data));
      // A pattern that differs per connection and slot; padding stays zero.
      for (size_t i = 0; i < data; ++i)
        f[kFrameHeader + 4 + i] = static_cast<uint8_t>(i * 131 + s * 7 + static_cast<size_t>(c.index));
    }
    if (o_.have_body_raw) std::memcpy(f + kFrameHeader, o_.body_raw.data(), o_.body_raw.size());
    slot.serial = static_cast<uint32_t>(s);
  }
}

bool LoadGen::ShouldIssue() const {
  if (phase_ == Phase::kDrain) return false;
  if (phase_ == Phase::kMeasure && o_.count > 0) return completed_ + in_flight_ < o_.count;
  return true;
}

void LoadGen::Issue(Conn& c, uint32_t s) {
  Slot& slot = c.slots[s];
  uint8_t* f = slot.frame.data();
  PutU32(f + 20, slot.serial);
  if (o_.body_bytes >= 4) PutU32(f + kFrameHeader + 4, slot.serial);  // see the header comment
  slot.busy = true;
  slot.queued = true;
  slot.sent_ns = NowNs();
  c.sendq.push_back(Pending{s, 0});
  ++in_flight_;
}

void LoadGen::SetOut(Conn& c, bool on) {
  if (c.out_armed == on) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
  ev.data.u32 = static_cast<uint32_t>(c.index);
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) != 0) throw Failure(Errno("epoll_ctl"));
  c.out_armed = on;
}

void LoadGen::Flush(Conn& c) {
  while (!c.sendq.empty()) {
    iovec iov[kMaxIov];
    int n = 0;
    for (auto it = c.sendq.begin(); it != c.sendq.end() && n < kMaxIov; ++it, ++n) {
      std::vector<uint8_t>& f = c.slots[it->slot].frame;
      iov[n].iov_base = f.data() + it->offset;
      iov[n].iov_len = f.size() - it->offset;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(n);
    ssize_t w = sendmsg(c.fd.get(), &msg, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        SetOut(c, true);
        return;
      }
      Fail(c, Errno("send"));
    }
    size_t left = static_cast<size_t>(w);
    while (left > 0) {
      Pending& p = c.sendq.front();
      Slot& slot = c.slots[p.slot];
      const size_t rest = slot.frame.size() - p.offset;
      if (left < rest) {
        p.offset += left;
        left = 0;
      } else {
        left -= rest;
        slot.queued = false;
        c.sendq.pop_front();
      }
    }
  }
  SetOut(c, false);
}

void LoadGen::EnsureReadSpace(Conn& c) {
  size_t need = kMinReadSpace;
  const size_t have = c.wr - c.rd;
  if (have >= kLengthWord) {
    // Room for the whole of a large frame already begun, so it ends up
    // contiguous and is moved at most once.
    const uint32_t len = GetU32(c.in.data() + c.rd);
    if (len > have && len <= kMaxFrame) need = std::max(need, static_cast<size_t>(len) - have);
  }
  if (c.in.size() - c.wr >= need) return;
  if (c.rd > 0) {
    std::memmove(c.in.data(), c.in.data() + c.rd, have);
    c.rd = 0;
    c.wr = have;
  }
  if (c.in.size() - c.wr < need) c.in.resize(std::max(c.in.size() * 2, c.wr + need));
}

void LoadGen::Read(Conn& c) {
  for (;;) {
    EnsureReadSpace(c);
    const size_t space = c.in.size() - c.wr;
    const ssize_t n = ::read(c.fd.get(), c.in.data() + c.wr, space);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      Fail(c, Errno("read"));
    }
    if (n == 0) Fail(c, "the server closed the connection with " + std::to_string(in_flight_) + " calls in flight");
    c.wr += static_cast<size_t>(n);
    TakeFrames(c, NowNs());
    if (static_cast<size_t>(n) < space) break;  // the socket is drained
  }
  if (!c.sendq.empty()) Flush(c);
}

void LoadGen::TakeFrames(Conn& c, int64_t now) {
  while (c.wr - c.rd >= kLengthWord) {
    const uint8_t* f = c.in.data() + c.rd;
    const uint32_t len = GetU32(f);
    if (len < kFrameHeader || len > kMaxFrame) Fail(c, "bad length word " + std::to_string(len));
    if (c.wr - c.rd < len) break;
    OnReply(c, f, len, now);
    c.rd += len;
  }
  if (c.rd == c.wr) c.rd = c.wr = 0;
}

void LoadGen::OnReply(Conn& c, const uint8_t* f, uint32_t len, int64_t now) {
  const uint32_t prog = GetU32(f + 4), vers = GetU32(f + 8), type = GetU32(f + 16);
  const int32_t proc = static_cast<int32_t>(GetU32(f + 12));
  const uint32_t serial = GetU32(f + 20), status = GetU32(f + 24);
  if (type != kTypeReply) Fail(c, "frame of type " + std::to_string(type) + ", expected REPLY");
  if (prog != o_.prog || vers != o_.vers || proc != o_.proc)
    Fail(c, "reply for prog " + std::to_string(prog) + " vers " + std::to_string(vers) + " proc " +
                std::to_string(proc) + ", not the call's");
  const uint32_t s = serial % static_cast<uint32_t>(o_.depth);
  Slot& slot = c.slots[s];
  if (!slot.busy || slot.serial != serial) Fail(c, "reply with serial " + std::to_string(serial) + ", which is not in flight");
  if (slot.queued) Fail(c, "reply to serial " + std::to_string(serial) + " before the call was fully sent");
  const uint8_t* body = f + kFrameHeader;
  const size_t body_len = len - kFrameHeader;
  if (status == kStatusError) {
    // remote_error: code, domain, then message as an optional string.
    std::string msg = "(undecodable)";
    if (body_len >= 16 && GetU32(body + 8) == 1) {
      const uint32_t n = GetU32(body + 12);
      if (n <= body_len - 16) msg.assign(reinterpret_cast<const char*>(body + 16), n);
    }
    Fail(c, "serial " + std::to_string(serial) + " answered with an error: " + msg);
  }
  if (status != kStatusOk) Fail(c, "serial " + std::to_string(serial) + ": status " + std::to_string(status));
  if (o_.check == Check::kEcho) {
    const size_t want = slot.frame.size() - kFrameHeader;
    if (body_len != want || std::memcmp(body, slot.frame.data() + kFrameHeader, want) != 0)
      Fail(c, "serial " + std::to_string(serial) + ": the echo differs from the call's body (" +
                  std::to_string(body_len) + " bytes, sent " + std::to_string(want) + ")");
  } else if (o_.check == Check::kBytes) {
    if (body_len != o_.expect.size() || std::memcmp(body, o_.expect.data(), body_len) != 0)
      Fail(c, "serial " + std::to_string(serial) + ": unexpected reply body (" + std::to_string(body_len) + " bytes)");
  }

  slot.busy = false;
  --in_flight_;
  last_progress_ns_ = now;
  switch (phase_) {
    case Phase::kWarmup: ++warmup_calls_; break;
    case Phase::kDrain: ++drained_calls_; break;
    case Phase::kMeasure:
      ++completed_;
      hist_.Add(static_cast<uint64_t>(std::max<int64_t>(0, now - slot.sent_ns)));
      if (o_.count > 0 && completed_ >= o_.count) EndMeasure(now);
      break;
  }
  if (ShouldIssue()) {
    if (slot.serial > UINT32_MAX - static_cast<uint32_t>(o_.depth)) Fail(c, "serials exhausted");
    slot.serial += static_cast<uint32_t>(o_.depth);
    Issue(c, s);
  }
}

void LoadGen::BeginMeasure(int64_t now) {
  phase_ = Phase::kMeasure;
  t0_ = now;
  own_cpu0_ = OwnCpuSeconds();
  if (o_.server_pid) {
    srv_cpu0_ = ProcessCpuSeconds(o_.server_pid);
    srv_threads0_ = ServerThreadCpu(o_.server_pid);
  }
}

void LoadGen::EndMeasure(int64_t now) {
  phase_ = Phase::kDrain;
  t1_ = now;
  own_cpu1_ = OwnCpuSeconds();
  if (o_.server_pid) {
    srv_cpu1_ = ProcessCpuSeconds(o_.server_pid);
    srv_threads1_ = ServerThreadCpu(o_.server_pid);
  }
}

void LoadGen::Run() {
  Connect();
  const int64_t start = NowNs();
  const int64_t warm_end = start + static_cast<int64_t>(o_.warmup_s * 1e9);
  const int64_t timeout = static_cast<int64_t>(o_.timeout_s * 1e9);
  if (o_.warmup_s <= 0) BeginMeasure(start);
  last_progress_ns_ = start;
  for (Conn& c : conns_) {
    for (uint32_t s = 0; s < c.slots.size() && ShouldIssue(); ++s) Issue(c, s);
    Flush(c);
  }
  std::vector<epoll_event> events(static_cast<size_t>(std::min(o_.connections, 256)));
  for (;;) {
    const int64_t now = NowNs();
    if (phase_ == Phase::kWarmup && now >= warm_end) BeginMeasure(now);
    const int64_t measure_end = t0_ + static_cast<int64_t>(o_.duration_s * 1e9);
    if (phase_ == Phase::kMeasure && o_.count == 0 && now >= measure_end) EndMeasure(now);
    if (phase_ == Phase::kDrain && in_flight_ == 0) break;
    if (now - last_progress_ns_ > timeout)
      throw Failure("no reply for " + std::to_string(o_.timeout_s) + " s with " + std::to_string(in_flight_) +
                    " calls in flight");
    int64_t next = last_progress_ns_ + timeout;
    if (phase_ == Phase::kWarmup) next = std::min(next, warm_end);
    if (phase_ == Phase::kMeasure && o_.count == 0) next = std::min(next, measure_end);
    const int wait_ms = static_cast<int>(std::max<int64_t>(0, (next - now + 999999) / 1000000));
    const int n = epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), wait_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Failure(Errno("epoll_wait"));
    }
    for (int i = 0; i < n; ++i) {
      Conn& c = conns_[events[static_cast<size_t>(i)].data.u32];
      const uint32_t ev = events[static_cast<size_t>(i)].events;
      if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) Read(c);
      if ((ev & EPOLLOUT) && !c.sendq.empty()) Flush(c);
    }
  }
  if (completed_ == 0) throw Failure("no call completed in the measured window");
}

void LoadGen::PrintResult() const {
  const double secs = static_cast<double>(t1_ - t0_) / 1e9;
  const double calls = static_cast<double>(completed_);
  const double data = o_.body_bytes > 0 ? static_cast<double>(o_.body_bytes) : 0;
  const double own = own_cpu1_ - own_cpu0_;
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  std::string server = "null", server_per_call = "null", threads = "null";
  if (o_.server_pid) {
    const double srv = srv_cpu1_ - srv_cpu0_;
    char buf[256];
    std::snprintf(buf, sizeof buf, "%.3f", srv);
    server = buf;
    std::snprintf(buf, sizeof buf, "%.4f", srv / calls * 1e6);
    server_per_call = buf;
    const ThreadBuckets& a = srv_threads0_;
    const ThreadBuckets& b = srv_threads1_;
    auto per_call = [calls](double s0, double s1) { return (s1 - s0) / calls * 1e6; };
    std::snprintf(buf, sizeof buf, "{\"loop\":%.4f,\"workers\":%.4f,\"main\":%.4f,\"rest\":%.4f}",
                  per_call(a.loop, b.loop), per_call(a.workers, b.workers), per_call(a.main, b.main),
                  per_call(a.rest, b.rest));
    threads = buf;
  }
  std::string label;
  for (char ch : o_.label)
    if (ch != '"' && ch != '\\' && static_cast<unsigned char>(ch) >= 0x20) label += ch;
  std::printf(
      "{\"ok\":true,\"label\":\"%s\",\"connections\":%d,\"depth\":%d,\"body_bytes\":%ld,"
      "\"calls\":%" PRIu64 ",\"warmup_calls\":%" PRIu64 ",\"drained_calls\":%" PRIu64 ",\"seconds\":%.4f,"
      "\"calls_per_s\":%.1f,\"mb_per_s\":%.2f,\"p50_us\":%.2f,\"p99_us\":%.2f,\"max_us\":%.2f,\"mean_us\":%.2f,"
      "\"loadgen_cpu_s\":%.3f,\"loadgen_cpu_us_per_call\":%.4f,\"server_cpu_s\":%s,"
      "\"server_cpu_us_per_call\":%s,\"server_threads_us_per_call\":%s}\n",
      label.c_str(), o_.connections, o_.depth, o_.body_bytes, completed_, warmup_calls_, drained_calls_, secs,
      calls / secs, calls * data / secs / 1e6, us(hist_.Quantile(0.50)), us(hist_.Quantile(0.99)),
      us(hist_.max()), hist_.mean() / 1e3, own, own / calls * 1e6, server.c_str(), server_per_call.c_str(), threads.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseArgs(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  LoadGen gen(options);
  try {
    gen.Run();
  } catch (const std::exception& e) {
    std::string msg;
    for (char ch : std::string(e.what())) msg += (ch == '"' || ch == '\\') ? '\'' : ch;
    std::printf("{\"ok\":false,\"error\":\"%s\"}\n", msg.c_str());
    std::fprintf(stderr, "loadgen: %s\n", e.what());
    return 1;
  }
  gen.PrintResult();
  return 0;
}
