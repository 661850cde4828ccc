// c-server.cc — the bench program on a single-threaded epoll server with no
// framework under it: the limit proxy. Issue 7 asks that xdrd's core come
// within 2× of "a single-threaded C server's calls/s for the same framing";
// this is that server, so the bench measures the gap instead of guessing it.
//
// It is written the way one would write the fastest honest server for this
// framing by hand, so the core is held to a real bar, not a straw man:
//  1. One thread, one epoll set, level-triggered. Level-triggered so one
//     read() per readiness event is enough (the rest of the socket's bytes
//     report again on the next epoll_wait); that keeps connections fair with
//     no per-connection loop-until-EAGAIN, and costs no extra syscall.
//  2. Per connection one input buffer read with an offset: every complete
//     frame of a read is handled in place, straight out of the buffer; only
//     an unfinished tail is moved to the front, and only when the space
//     behind it runs short. The buffer grows (once, to the frame's announced
//     length) for a frame larger than it; nothing is allocated per frame.
//  3. Per connection one output buffer: all replies of one read are appended
//     (headers and bodies, bodies copied), then written with one send().
//     Unsent bytes stay in the buffer and EPOLLOUT is watched until it has
//     drained; each EPOLLOUT event is again one send().
//  4. Backpressure: above kOutputHighWater unsent bytes the connection stops
//     watching EPOLLIN until the peer has read enough, so a peer that sends
//     but never reads cannot make us buffer without bound.
//  5. Buffers keep their capacity between frames (no allocation in the
//     steady state) but are released once empty if a huge frame grew them
//     beyond kKeepCapacity.
//  6. Protocol checks a real server needs, the same as the other bench
//     servers: length word bounds (28 bytes to 32 MiB + 4, libvirt's
//     VIR_NET_MESSAGE_MAX plus the word itself; outside them the connection
//     is closed), only CALLs are answered (other types are dropped), a
//     status other than OK, an unknown program, version or procedure and an
//     undecodable ECHO body each get an error reply (libvirt's remote_error,
//     encoded as plain-server.js does) instead of a hang.
//  7. Errors: EINTR is retried, EAGAIN waits for the next event, a peer
//     hang-up or any other socket error closes that connection only.
//     SIGPIPE is ignored and sends use MSG_NOSIGNAL.
//
// Procedures of the bench program (the same in all bench servers):
//   1 NOOP  empty args; returns an unsigned hyper (8 bytes), a constant
//   2 ECHO  args: opaque data<>; returns the same opaque (length checked)
//
// Control, the same line protocol as the other bench servers (bench/run.js);
// stdin is watched in the same epoll set:
//   stdout, once listening:  {"ready":true,"pid":...,"settings":{...}}
//   stdin "stats\n"         -> one JSON line of counters
//   stdin EOF or "quit\n"   -> closes everything, removes the socket, exit 0
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench_program.h"

namespace {

using bench::GetU32;
using bench::IsOneOpaque;
using bench::kBenchProgram;
using bench::kBenchVersion;
using bench::kNoopValue;
using bench::kProcEcho;
using bench::kProcNoop;

constexpr size_t kHeader = 28;  // length word + prog, vers, proc, type, serial, status
constexpr uint32_t kMaxFrame = 33554432 + 4;  // VIR_NET_MESSAGE_MAX + the length word
constexpr uint32_t kTypeCall = 0;
constexpr uint32_t kTypeReply = 1;
constexpr uint32_t kStatusOk = 0;
constexpr uint32_t kStatusError = 1;

// Free space offered to each read(): large enough that many small frames
// arrive per syscall, small enough that 16 connections stay cheap.
constexpr size_t kMinReadSpace = 64 * 1024;
constexpr size_t kOutputHighWater = 1024 * 1024;
// Above this an empty buffer is released: a one-off 32 MiB frame should not
// pin 32 MiB per connection, while the 1 MiB echo workload must not
// reallocate on every frame.
constexpr size_t kKeepCapacity = 8 * 1024 * 1024;
constexpr int kMaxEvents = 256;

// Writes v and returns the position after it.
uint8_t* PutU32(uint8_t* p, uint32_t v) {
  bench::PutU32(p, v);
  return p + 4;
}

// Bytes [begin, end) of a heap block. Not std::vector: resize() would zero
// every byte we are about to overwrite (a 64 KiB memset per echo reply).
struct ByteBuffer {
  std::unique_ptr<uint8_t[]> data;
  size_t capacity = 0;
  size_t begin = 0;
  size_t end = 0;

  size_t size() const { return end - begin; }
  const uint8_t* head() const { return data.get() + begin; }

  // Makes at least n bytes writable at data + end: moves the live bytes to
  // the front when that is enough, else grows (at least doubling).
  uint8_t* Room(size_t n) {
    if (capacity - end >= n) return data.get() + end;
    const size_t live = size();
    if (live + n <= capacity) {
      std::memmove(data.get(), data.get() + begin, live);
    } else {
      const size_t grown = std::max({capacity * 2, live + n, kMinReadSpace});
      std::unique_ptr<uint8_t[]> fresh(new uint8_t[grown]);  // uninitialised on purpose
      if (live) std::memcpy(fresh.get(), data.get() + begin, live);
      data = std::move(fresh);
      capacity = grown;
    }
    begin = 0;
    end = live;
    return data.get() + end;
  }

  void Consume(size_t n) {
    begin += n;
    if (begin == end) {
      begin = end = 0;  // empty: the next bytes start at the front, no memmove
      if (capacity > kKeepCapacity) {
        data.reset();
        capacity = 0;
      }
    }
  }
};

struct Counters {
  uint64_t calls = 0;        // CALL frames answered (OK or error reply)
  uint64_t error_replies = 0;
  uint64_t accepted = 0;
  uint64_t bad_frames = 0;   // connections closed for a length word out of bounds
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
};

struct Connection {
  int fd = -1;
  uint32_t interest = 0;  // the epoll events currently registered
  ByteBuffer in;
  ByteBuffer out;
};

class Server {
 public:
  Server(int epoll_fd, int listen_fd) : epoll_fd_(epoll_fd), listen_fd_(listen_fd) {}

  // Runs until stdin says quit or reaches EOF. Returns false on a fatal
  // epoll error.
  bool Run(bool watch_stdin);
  void CloseAll();

 private:
  void AcceptAll();
  void ServeEvent(Connection* c, uint32_t events);
  // One read(), every complete frame answered. False: close the connection.
  bool ReadAndServe(Connection* c);
  // One send() of what is pending. False: close the connection.
  bool Flush(Connection* c);
  bool UpdateInterest(Connection* c);
  void Close(Connection* c);

  void HandleFrame(Connection* c, const uint8_t* frame, uint32_t length);
  void AppendReply(Connection* c, const uint8_t* call, uint32_t status, const uint8_t* body, size_t n);
  void AppendError(Connection* c, const uint8_t* call, const std::string& message);

  // Stdin control lines. False: stop the server.
  bool ReadControl();
  bool HandleControlLine(const std::string& line);

  int epoll_fd_;
  int listen_fd_;
  std::vector<std::unique_ptr<Connection>> by_fd_;
  Counters counters_;
  std::string control_;  // stdin bytes not yet ending in a newline
};

bool Server::Run(bool watch_stdin) {
  epoll_event events[kMaxEvents];
  // Stdin that epoll cannot watch (a regular file, /dev/null) is read
  // through at once; its EOF then stops the server like a closed pipe.
  if (!watch_stdin) {
    while (ReadControl()) {
    }
    return true;
  }
  for (;;) {
    const int n = epoll_wait(epoll_fd_, events, kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("c-server: epoll_wait");
      return false;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd_) {
        AcceptAll();
      } else if (fd == STDIN_FILENO) {
        if (!ReadControl()) return true;
      } else if (static_cast<size_t>(fd) < by_fd_.size() && by_fd_[fd]) {
        // A connection closed earlier in this batch has no entry any more;
        // one accepted into its fd number since only sees a spurious
        // readiness, which read() answers with EAGAIN.
        ServeEvent(by_fd_[fd].get(), events[i].events);
      }
    }
  }
}

void Server::AcceptAll() {
  for (;;) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) std::perror("c-server: accept4");
      return;
    }
    auto c = std::make_unique<Connection>();
    c->fd = fd;
    c->interest = EPOLLIN;
    epoll_event ev{};
    ev.events = c->interest;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      std::perror("c-server: epoll_ctl(ADD)");
      close(fd);
      continue;
    }
    if (by_fd_.size() <= static_cast<size_t>(fd)) by_fd_.resize(static_cast<size_t>(fd) + 1);
    by_fd_[fd] = std::move(c);
    ++counters_.accepted;
  }
}

void Server::ServeEvent(Connection* c, uint32_t events) {
  // EPOLLERR: the socket is broken. EPOLLHUP on a stream socket: both
  // directions are shut, so no reply could be delivered any more.
  if (events & (EPOLLERR | EPOLLHUP)) {
    Close(c);
    return;
  }
  bool ok = true;
  if (events & EPOLLIN) ok = ReadAndServe(c);
  if (ok && c->out.size() > 0) ok = Flush(c);
  if (ok) ok = UpdateInterest(c);
  if (!ok) Close(c);
}

bool Server::ReadAndServe(Connection* c) {
  ByteBuffer& in = c->in;
  // Room for the rest of a frame whose length is already known, so a large
  // frame ends up whole and contiguous; at least kMinReadSpace otherwise.
  size_t want = kMinReadSpace;
  if (in.size() >= 4) {
    const uint32_t length = GetU32(in.head());  // bounds checked when it arrived
    if (length > in.size()) want = std::max(want, static_cast<size_t>(length) - in.size());
  }
  uint8_t* at = in.Room(want);
  ssize_t got;
  do {
    got = read(c->fd, at, in.capacity - in.end);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
  if (got == 0) return false;  // peer closed its side: nothing more will come
  in.end += static_cast<size_t>(got);
  counters_.bytes_read += static_cast<uint64_t>(got);

  while (in.size() >= 4) {
    const uint32_t length = GetU32(in.head());
    if (length < kHeader || length > kMaxFrame) {
      ++counters_.bad_frames;
      return false;
    }
    if (in.size() < length) break;
    HandleFrame(c, in.head(), length);
    in.Consume(length);
  }
  return true;
}

bool Server::Flush(Connection* c) {
  ByteBuffer& out = c->out;
  ssize_t sent;
  do {
    sent = send(c->fd, out.head(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
  counters_.bytes_written += static_cast<uint64_t>(sent);
  out.Consume(static_cast<size_t>(sent));
  return true;
}

bool Server::UpdateInterest(Connection* c) {
  uint32_t want = 0;
  if (c->out.size() < kOutputHighWater) want |= EPOLLIN;
  if (c->out.size() > 0) want |= EPOLLOUT;
  if (want == c->interest) return true;
  epoll_event ev{};
  ev.events = want;
  ev.data.fd = c->fd;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
    std::perror("c-server: epoll_ctl(MOD)");
    return false;
  }
  c->interest = want;
  return true;
}

void Server::Close(Connection* c) {
  const int fd = c->fd;
  // close() alone would leave the registration behind if the fd had been
  // duplicated; we never dup, but deleting first costs nothing here.
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  by_fd_[fd].reset();  // frees c
}

void Server::CloseAll() {
  for (auto& c : by_fd_) {
    if (c) close(c->fd);
    c.reset();
  }
}

void Server::HandleFrame(Connection* c, const uint8_t* frame, uint32_t length) {
  const uint32_t prog = GetU32(frame + 4);
  const uint32_t vers = GetU32(frame + 8);
  const int32_t proc = static_cast<int32_t>(GetU32(frame + 12));
  const uint32_t type = GetU32(frame + 16);
  const uint32_t status = GetU32(frame + 24);
  if (type != kTypeCall) return;  // replies, events, streams: nothing to run
  ++counters_.calls;
  if (status != kStatusOk) {
    AppendError(c, frame, "Unexpected message status " + std::to_string(status));
    return;
  }
  if (prog != kBenchProgram || vers != kBenchVersion) {
    // libvirt formats both with %d.
    AppendError(c, frame,
                "Cannot find program " + std::to_string(static_cast<int32_t>(prog)) + " version " +
                    std::to_string(static_cast<int32_t>(vers)));
    return;
  }
  const uint8_t* body = frame + kHeader;
  const size_t n = length - kHeader;
  if (proc == kProcNoop) {
    AppendReply(c, frame, kStatusOk, kNoopValue, sizeof kNoopValue);
  } else if (proc == kProcEcho) {
    if (!IsOneOpaque(body, n)) {
      AppendError(c, frame, "Unable to decode message payload");
      return;
    }
    AppendReply(c, frame, kStatusOk, body, n);
  } else {
    AppendError(c, frame, "unknown procedure: " + std::to_string(proc));
  }
}

// The reply header repeats the call's prog, vers, proc and serial.
void Server::AppendReply(Connection* c, const uint8_t* call, uint32_t status, const uint8_t* body,
                         size_t n) {
  const size_t total = kHeader + n;  // n <= kMaxFrame - kHeader: fits a u32
  uint8_t* p = c->out.Room(total);
  p = PutU32(p, static_cast<uint32_t>(total));
  std::memcpy(p, call + 4, 12);  // prog, vers, proc
  p = PutU32(p + 12, kTypeReply);
  std::memcpy(p, call + 20, 4);  // serial
  p = PutU32(p + 4, status);
  if (n) std::memcpy(p, body, n);
  c->out.end += total;
}

// libvirt's remote_error with code RPC (39), domain RPC (7), level ERROR,
// the message present and every other optional field NULL, as
// plain-server.js encodes it.
void Server::AppendError(Connection* c, const uint8_t* call, const std::string& message) {
  ++counters_.error_replies;
  uint8_t body[256];
  const size_t text = std::min(message.size(), size_t{128});  // ours are short
  const size_t padded = (text + 3) & ~size_t{3};
  uint8_t* p = body;
  p = PutU32(p, 39);  // code
  p = PutU32(p, 7);   // domain
  p = PutU32(p, 1);   // message: present
  p = PutU32(p, static_cast<uint32_t>(text));
  std::memcpy(p, message.data(), text);
  std::memset(p + text, 0, padded - text);
  p += padded;
  p = PutU32(p, 2);  // level ERROR
  p = PutU32(p, 0);  // dom: NULL
  p = PutU32(p, 0);  // str1
  p = PutU32(p, 0);  // str2
  p = PutU32(p, 0);  // str3
  p = PutU32(p, 0xffffffffu);  // int1 = -1
  p = PutU32(p, 0xffffffffu);  // int2 = -1
  p = PutU32(p, 0);  // net: NULL
  AppendReply(c, call, kStatusError, body, static_cast<size_t>(p - body));
}

bool Server::ReadControl() {
  char buf[4096];
  ssize_t got;
  do {
    got = read(STDIN_FILENO, buf, sizeof buf);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
  if (got == 0) return false;  // EOF: whoever started us is gone or done
  control_.append(buf, static_cast<size_t>(got));
  size_t start = 0;
  for (size_t nl; (nl = control_.find('\n', start)) != std::string::npos; start = nl + 1) {
    if (!HandleControlLine(control_.substr(start, nl - start))) return false;
  }
  control_.erase(0, start);
  return true;
}

bool Server::HandleControlLine(const std::string& line) {
  if (line == "quit") return false;
  if (line == "stats") {
    size_t open = 0;
    for (const auto& c : by_fd_) open += c ? 1 : 0;
    std::printf("{\"calls\":%" PRIu64 ",\"errorReplies\":%" PRIu64 ",\"accepted\":%" PRIu64
                ",\"open\":%zu,\"badFrames\":%" PRIu64 ",\"bytesRead\":%" PRIu64 ",\"bytesWritten\":%" PRIu64 "}\n",
                counters_.calls, counters_.error_replies, counters_.accepted, open, counters_.bad_frames,
                counters_.bytes_read, counters_.bytes_written);
    std::fflush(stdout);
  }
  return true;
}

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr, "c-server: %s\nusage: c-server --socket PATH\n", why.c_str());
  std::exit(2);
}

// Removes `path` if it is a socket nobody listens on (a crashed run's
// leftover); leaves anything else for bind() to refuse.
void RemoveStaleSocket(const std::string& path, const sockaddr_un& addr) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return;
  const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (probe < 0) return;
  const int rc = connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int err = rc == 0 ? 0 : errno;
  close(probe);
  if (err == ECONNREFUSED) unlink(path.c_str());
}

int Listen(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    std::fprintf(stderr, "c-server: socket path too long: %s\n", path.c_str());
    return -1;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  RemoveStaleSocket(path, addr);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::perror("c-server: socket");
    return -1;
  }
  // The mode is set before listen(): no connection can arrive in between.
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      chmod(path.c_str(), 0600) != 0 || listen(fd, SOMAXCONN) != 0) {
    std::fprintf(stderr, "c-server: listen on %s: %s\n", path.c_str(), std::strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") Usage("help");
    if (i + 1 >= argc) Usage("missing value for " + flag);
    const char* v = argv[++i];
    if (flag == "--socket") path = v;
    else Usage("unknown flag " + flag);
  }
  if (path.empty()) Usage("--socket is required");
  // A peer that hangs up must not kill us; sends also use MSG_NOSIGNAL.
  signal(SIGPIPE, SIG_IGN);

  const int listen_fd = Listen(path);
  if (listen_fd < 0) return 1;
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) {
    std::perror("c-server: epoll_create1");
    return 1;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd;
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev) != 0) {
    std::perror("c-server: epoll_ctl(listener)");
    return 1;
  }
  // Stdin stays blocking (it may be shared with a terminal); level-triggered
  // readiness means the one read() per event never blocks. EPERM: a file
  // epoll cannot watch; Run() reads it through instead.
  ev.events = EPOLLIN;
  ev.data.fd = STDIN_FILENO;
  bool watch_stdin = true;
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, STDIN_FILENO, &ev) != 0) {
    if (errno != EPERM) {
      std::perror("c-server: epoll_ctl(stdin)");
      return 1;
    }
    watch_stdin = false;
  }

  std::printf("{\"ready\":true,\"pid\":%d,\"settings\":{\"threads\":1,\"epoll\":\"level-triggered\","
              "\"minReadBytes\":%zu,\"outputHighWater\":%zu}}\n",
              static_cast<int>(getpid()), kMinReadSpace, kOutputHighWater);
  std::fflush(stdout);

  Server server(epoll_fd, listen_fd);
  const bool ok = server.Run(watch_stdin);
  server.CloseAll();
  close(listen_fd);
  unlink(path.c_str());  // as Node's server.close() does for plain-server.js
  close(epoll_fd);
  return ok ? 0 : 1;
}
