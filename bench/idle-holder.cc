// idle-holder.cc — opens N connections to a UNIX socket and holds them,
// saying nothing: the idle clients of bench/run.js's "idle" workload.
//
// Why a process of its own: the idle ends must not share the server's
// descriptor table (10,000 clients need 10,000 descriptors on each side,
// and the machine's hard limit is about 20,000) nor its CPU accounting.
// Why C++ and not Node: it must cost the shared machine nothing while the
// load runs, so it holds plain blocking sockets and sleeps on stdin; no
// event loop ever looks at them.
//
// Control (bench/run.js):
//   argv    --socket PATH --count N [--timeout S]
//   stdout  {"ok":true,"connected":N} once every connect() has returned, or
//           {"ok":false,"error":"...","limit":L} (e.g. the descriptor limit
//           is too low; run.js prints it and skips the row)
//   stdin   EOF: exit (the kernel closes every connection)
// The soft RLIMIT_NOFILE is raised to the hard one first, as Node does.
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// Descriptors besides the idle connections: stdio and a little slack.
constexpr long kSpareFds = 16;

[[noreturn]] void Fail(const std::string& why, rlim_t limit) {
  std::string escaped;
  for (char c : why) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  std::printf("{\"ok\":false,\"error\":\"%s\",\"limit\":%llu}\n", escaped.c_str(),
              static_cast<unsigned long long>(limit));
  std::fflush(stdout);
  std::exit(1);
}

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr, "idle-holder: %s\nusage: idle-holder --socket PATH --count N [--timeout S]\n", why.c_str());
  std::exit(2);
}

// The soft limit raised to the hard one; returns the limit now in force.
rlim_t RaiseFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  return rl.rlim_cur;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  long count = -1;
  long timeout_s = 30;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) Usage("missing value for " + flag);
    const char* v = argv[++i];
    if (flag == "--socket") path = v;
    else if (flag == "--count") count = std::strtol(v, nullptr, 10);
    else if (flag == "--timeout") timeout_s = std::strtol(v, nullptr, 10);
    else Usage("unknown flag " + flag);
  }
  if (path.empty() || count < 0) Usage("--socket and --count are required");
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) Usage("socket path too long");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  const rlim_t limit = RaiseFdLimit();
  if (limit != RLIM_INFINITY && static_cast<rlim_t>(count + kSpareFds) > limit) {
    Fail("RLIMIT_NOFILE allows " + std::to_string(limit) + " descriptors, " + std::to_string(count + kSpareFds) +
             " needed (raise the hard limit: ulimit -Hn)",
         limit);
  }

  // A blocking connect() to a UNIX socket waits while the listen backlog is
  // full, i.e. until the server has accepted enough: that paces us to the
  // server. SO_SNDTIMEO bounds the wait, so a server that stopped
  // accepting (maxClients reached) fails the run instead of hanging it.
  const timeval tv{timeout_s, 0};
  std::vector<int> fds;
  fds.reserve(static_cast<size_t>(count));
  for (long i = 0; i < count; ++i) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) Fail(std::string("socket: ") + std::strerror(errno), limit);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int r;
    do {
      r = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    } while (r != 0 && errno == EINTR);
    if (r != 0) {
      Fail("connect #" + std::to_string(i + 1) + ": " + std::strerror(errno), limit);
    }
    fds.push_back(fd);
  }
  std::printf("{\"ok\":true,\"connected\":%ld}\n", count);
  std::fflush(stdout);

  // Hold them until run.js closes our stdin (or dies, which closes it too).
  char buf[256];
  for (;;) {
    const ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR)) break;
  }
  return 0;
}
