// Listening sockets (listen_socket.h): ListenUnix's mode and what it does
// with a path that already exists (never replaces a file or a live socket,
// replaces a stale one), that the path never shows wider permissions, and
// AdoptListenSocket's checks on a descriptor it is handed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "check.h"
#include "net/listen_socket.h"

using namespace xdrd;

namespace {

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/xdrd-ls-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  // Names in the directory, to check nothing temporary is left behind.
  size_t EntryCount() const {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(path_)) {
      (void)e;
      ++n;
    }
    return n;
  }

 private:
  std::string path_;
};

sockaddr_un UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// A plain (blocking) socket bound at `path` and listening; -1 on failure.
int RawUnixListener(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr = UnixAddress(path);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 8) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Leaves a stale socket file at `path`: bound, listened on, closed, never
// unlinked (what a crashed server leaves).
bool MakeStaleSocket(const std::string& path) {
  int fd = RawUnixListener(path);
  if (fd < 0) return false;
  close(fd);
  return true;
}

// errno of a non-blocking connect() to `path` (0 when it connects).
int ConnectError(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  sockaddr_un addr = UnixAddress(path);
  int err = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 ? 0 : errno;
  close(fd);
  return err;
}

// Whether `listen_fd` serves `path`: a client connects there and sends
// "ping", and some connection accepted on `listen_fd` reads it (earlier ones
// may be probe connections that hung up at once).
bool AcceptsClient(int listen_fd, const std::string& path) {
  int client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (client < 0) return false;
  sockaddr_un addr = UnixAddress(path);
  bool got = false;
  if (connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      send(client, "ping", 4, MSG_NOSIGNAL) == 4) {
    for (int tries = 0; tries < 4 && !got; ++tries) {
      pollfd p{listen_fd, POLLIN, 0};
      if (poll(&p, 1, 5000) != 1) break;
      int conn = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) break;
      char buf[4];
      pollfd q{conn, POLLIN, 0};
      if (poll(&q, 1, 5000) == 1 && recv(conn, buf, sizeof buf, MSG_WAITALL) == 4 &&
          std::memcmp(buf, "ping", 4) == 0)
        got = true;
      close(conn);
    }
  }
  close(client);
  return got;
}

bool FdIsOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }
bool HasNonBlock(int fd) { return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }
bool HasCloExec(int fd) { return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }
bool Contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// Sets the umask for a scope and puts the old one back.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t m) : old_(umask(m)) {}
  ~ScopedUmask() { umask(old_); }

 private:
  mode_t old_;
};

void CheckFreshPathMode(mode_t mode) {
  TempDir dir;
  std::string path = dir.File("sock");
  ListenSocket s = ListenUnix(path, mode, 8);
  XT_REQUIRE(s.ok());
  struct stat st;
  XT_CHECK(stat(path.c_str(), &st) == 0);
  XT_CHECK(S_ISSOCK(st.st_mode));
  XT_CHECK_EQ(st.st_mode & 07777, mode);
  XT_CHECK(s.owns_path);
  XT_CHECK(!s.replaced_stale);
  XT_CHECK_EQ(s.family, AF_UNIX);
  XT_CHECK_EQ(s.path, path);
  XT_CHECK(HasNonBlock(s.fd));
  XT_CHECK(HasCloExec(s.fd));
  XT_CHECK_EQ(dir.EntryCount(), 1u);  // the temporary directory is gone
  close(s.fd);
  unlink(path.c_str());
}

}  // namespace

// ---------------------------------------------------------------- ListenUnix

XT_TEST(fresh_path_gets_exact_mode_0600) { CheckFreshPathMode(0600); }

XT_TEST(fresh_path_gets_exact_mode_0660) { CheckFreshPathMode(0660); }

XT_TEST(umask_is_left_alone) {
  TempDir dir;
  std::string path = dir.File("sock");
  ScopedUmask restore(027);
  ListenSocket s = ListenUnix(path, 0666, 8);
  mode_t now = umask(027);
  XT_CHECK_EQ(now, mode_t{027});
  XT_REQUIRE(s.ok());
  struct stat st;
  XT_CHECK(stat(path.c_str(), &st) == 0);
  XT_CHECK_EQ(st.st_mode & 07777, mode_t{0666});  // the mode asked for, not masked
  close(s.fd);
}

XT_TEST(existing_regular_file_is_never_replaced) {
  TempDir dir;
  std::string path = dir.File("sock");
  { std::ofstream(path) << "precious"; }
  ListenSocket s = ListenUnix(path, 0600, 8);
  XT_CHECK(!s.ok());
  XT_CHECK_EQ(s.fd, -1);
  XT_CHECK_EQ(s.error, EADDRINUSE);
  XT_CHECK(Contains(s.message, "not a socket"));
  XT_CHECK(Contains(s.message, path.c_str()));
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  XT_CHECK_EQ(content.str(), std::string("precious"));
  XT_CHECK_EQ(dir.EntryCount(), 1u);  // no temporary directory left
}

XT_TEST(existing_directory_is_never_replaced) {
  TempDir dir;
  std::string path = dir.File("sock");
  XT_REQUIRE(mkdir(path.c_str(), 0700) == 0);
  ListenSocket s = ListenUnix(path, 0600, 8);
  XT_CHECK(!s.ok());
  XT_CHECK_EQ(s.error, EADDRINUSE);
  XT_CHECK(Contains(s.message, "not a socket"));
  struct stat st;
  XT_CHECK(lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode));
}

// Even a symlink to a stale socket is not followed or replaced.
XT_TEST(existing_symlink_is_never_replaced) {
  TempDir dir;
  std::string target = dir.File("stale");
  std::string path = dir.File("sock");
  XT_REQUIRE(MakeStaleSocket(target));
  XT_REQUIRE(symlink(target.c_str(), path.c_str()) == 0);
  ListenSocket s = ListenUnix(path, 0600, 8);
  XT_CHECK(!s.ok());
  XT_CHECK_EQ(s.error, EADDRINUSE);
  XT_CHECK(Contains(s.message, "not a socket"));
  struct stat st;
  XT_CHECK(lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode));
  XT_CHECK_EQ(ConnectError(target), ECONNREFUSED);  // the target is untouched too
}

XT_TEST(live_socket_is_not_stolen) {
  TempDir dir;
  std::string path = dir.File("sock");
  ListenSocket first = ListenUnix(path, 0600, 8);
  XT_REQUIRE(first.ok());
  struct stat before, after;
  XT_REQUIRE(lstat(path.c_str(), &before) == 0);
  ListenSocket second = ListenUnix(path, 0600, 8);
  XT_CHECK(!second.ok());
  XT_CHECK_EQ(second.fd, -1);
  XT_CHECK_EQ(second.error, EADDRINUSE);
  XT_CHECK(Contains(second.message, "another process is listening on it"));
  XT_REQUIRE(lstat(path.c_str(), &after) == 0);
  XT_CHECK_EQ(after.st_ino, before.st_ino);
  XT_CHECK(AcceptsClient(first.fd, path));
  XT_CHECK_EQ(dir.EntryCount(), 1u);
  close(first.fd);
}

// A listener whose backlog is full refuses new connections with EAGAIN: it
// is alive all the same.
XT_TEST(live_socket_with_full_backlog_is_not_stolen) {
  TempDir dir;
  std::string path = dir.File("sock");
  ListenSocket first = ListenUnix(path, 0600, 0);
  XT_REQUIRE(first.ok());
  int clients[64];
  int n = 0;
  int last_error = 0;
  while (n < 64) {
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c < 0) break;
    sockaddr_un addr = UnixAddress(path);
    if (connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      last_error = errno;
      close(c);
      break;
    }
    clients[n++] = c;
  }
  XT_CHECK_EQ(last_error, EAGAIN);
  if (last_error == EAGAIN) {
    ListenSocket second = ListenUnix(path, 0600, 8);
    XT_CHECK(!second.ok());
    XT_CHECK_EQ(second.error, EADDRINUSE);
    XT_CHECK(Contains(second.message, "another process is listening on it"));
  }
  for (int i = 0; i < n; ++i) close(clients[i]);
  close(first.fd);
}

XT_TEST(stale_socket_is_replaced) {
  TempDir dir;
  std::string path = dir.File("sock");
  XT_REQUIRE(MakeStaleSocket(path));
  XT_REQUIRE(ConnectError(path) == ECONNREFUSED);
  ListenSocket s = ListenUnix(path, 0660, 8);
  XT_REQUIRE(s.ok());
  XT_CHECK(s.replaced_stale);
  XT_CHECK(s.owns_path);
  struct stat st;
  XT_CHECK(lstat(path.c_str(), &st) == 0);
  XT_CHECK(S_ISSOCK(st.st_mode));
  XT_CHECK_EQ(st.st_mode & 07777, mode_t{0660});
  XT_CHECK(AcceptsClient(s.fd, path));
  XT_CHECK_EQ(dir.EntryCount(), 1u);
  close(s.fd);
}

// One thread binds, closes and unlinks (or leaves stale, to be replaced next
// round) again and again; another lstat()s the path as fast as it can. No
// sighting may show wider bits than 0600. The umask is 0 meanwhile, so a
// socket bound directly at the path would show up as 0777.
XT_TEST(mode_is_right_the_moment_the_path_appears) {
  TempDir dir;
  std::string path = dir.File("sock");
  ScopedUmask open_umask(0);
  const bool under_valgrind = std::getenv("XDRD_UNDER_VALGRIND") != nullptr;
  std::mutex mu;
  bool stop = false;
  long sightings = 0;
  long wider = 0;
  mode_t worst = 0;
  std::thread watcher([&] {
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stop) return;
      }
      if (under_valgrind) usleep(1000);
      struct stat st;
      if (lstat(path.c_str(), &st) != 0) continue;
      std::lock_guard<std::mutex> lock(mu);
      ++sightings;
      if ((st.st_mode & 07777 & ~mode_t{0600}) != 0) {
        ++wider;
        worst = st.st_mode & 07777;
      }
    }
  });
  int failures = 0;
  bool expect_stale = false;
  // Under valgrind threads take turns, so the race cannot show there and a
  // spinning watcher only starves the binder: a few rounds check the paths.
  const int rounds = under_valgrind ? 6 : 200;
  for (int round = 0; round < rounds && failures == 0; ++round) {
    ListenSocket s = ListenUnix(path, 0600, 4);
    if (!s.ok() || s.replaced_stale != expect_stale) {
      ++failures;
      break;
    }
    close(s.fd);
    expect_stale = round % 2 == 0;  // every other round leaves a stale socket
    if (!expect_stale) unlink(path.c_str());
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    stop = true;
  }
  watcher.join();
  XT_CHECK_EQ(failures, 0);
  XT_CHECK_EQ(wider, 0L);
  XT_CHECK_EQ(worst, mode_t{0});
  std::fprintf(stderr, "  (path seen %ld times)\n", sightings);
}

XT_TEST(listen_tcp_reports_its_family) {
  ListenSocket s = ListenTcp("127.0.0.1", 0, 8);
  XT_REQUIRE(s.ok());
  XT_CHECK_EQ(s.family, AF_INET);
  XT_CHECK(!s.owns_path);
  close(s.fd);
}

// ---------------------------------------------------------- AdoptListenSocket

XT_TEST(adopt_accepts_listening_tcp_socket) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);  // blocking, inheritable: as handed over
  XT_REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 8) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    XT_REQUIRE(false);
  }
  ListenSocket s = AdoptListenSocket(fd);
  XT_CHECK(s.ok());
  XT_CHECK_EQ(s.fd, fd);
  XT_CHECK_EQ(s.error, 0);
  XT_CHECK_EQ(s.family, AF_INET);
  XT_CHECK_EQ(s.host, std::string("127.0.0.1"));
  XT_CHECK_EQ(s.port, ntohs(addr.sin_port));
  XT_CHECK(s.port != 0);
  XT_CHECK(s.path.empty());
  XT_CHECK(!s.owns_path);
  XT_CHECK(HasNonBlock(fd));
  XT_CHECK(HasCloExec(fd));
  close(fd);
}

XT_TEST(adopt_accepts_listening_unix_socket) {
  TempDir dir;
  std::string path = dir.File("sock");
  int fd = RawUnixListener(path);
  XT_REQUIRE(fd >= 0);
  ListenSocket s = AdoptListenSocket(fd);
  XT_CHECK(s.ok());
  XT_CHECK_EQ(s.fd, fd);
  XT_CHECK_EQ(s.family, AF_UNIX);
  XT_CHECK_EQ(s.path, path);
  XT_CHECK(!s.owns_path);
  XT_CHECK(!s.replaced_stale);
  XT_CHECK(HasNonBlock(fd));
  XT_CHECK(HasCloExec(fd));
  XT_CHECK(AcceptsClient(fd, path));
  close(fd);
}

XT_TEST(adopt_abstract_unix_socket_has_no_path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  XT_REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string name = "xdrd-test-abstract-" + std::to_string(getpid());
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd, 8) != 0) {
    close(fd);
    XT_REQUIRE(false);
  }
  ListenSocket s = AdoptListenSocket(fd);
  XT_CHECK(s.ok());
  XT_CHECK_EQ(s.family, AF_UNIX);
  XT_CHECK(s.path.empty());
  XT_CHECK(!s.owns_path);
  close(fd);
}

XT_TEST(adopt_refuses_non_listening_socket) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  XT_REQUIRE(fd >= 0);
  ListenSocket s = AdoptListenSocket(fd);
  XT_CHECK(!s.ok());
  XT_CHECK_EQ(s.fd, -1);
  XT_CHECK_EQ(s.error, EINVAL);
  XT_CHECK(Contains(s.message, "is not listening"));
  XT_CHECK(FdIsOpen(fd));       // still the caller's
  XT_CHECK(!HasNonBlock(fd));   // and untouched
  XT_CHECK(!HasCloExec(fd));
  close(fd);
}

XT_TEST(adopt_refuses_pipe) {
  int fds[2];
  XT_REQUIRE(pipe(fds) == 0);
  ListenSocket s = AdoptListenSocket(fds[0]);
  XT_CHECK(!s.ok());
  XT_CHECK_EQ(s.error, ENOTSOCK);
  XT_CHECK(Contains(s.message, "not a socket"));
  XT_CHECK(FdIsOpen(fds[0]));
  close(fds[0]);
  close(fds[1]);
}

XT_TEST(adopt_refuses_udp_socket) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  XT_REQUIRE(fd >= 0);
  ListenSocket s = AdoptListenSocket(fd);
  XT_CHECK(!s.ok());
  XT_CHECK_EQ(s.error, EINVAL);
  XT_CHECK(Contains(s.message, "not a stream socket"));
  XT_CHECK(FdIsOpen(fd));
  close(fd);
}
