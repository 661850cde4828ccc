// listen_socket.cc — see listen_socket.h.
#include "net/listen_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace xdrd {

namespace {

// A failed result with `message` as given; closes `fd` if it is >= 0.
ListenSocket FailureMessage(int fd, int err, const std::string& message) {
  if (fd >= 0) close(fd);
  ListenSocket s;
  s.error = err;
  s.message = message;
  return s;
}

ListenSocket Failure(int fd, int err, const std::string& what) {
  return FailureMessage(fd, err, what + ": " + std::strerror(err));
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// What is at a path we are about to listen on.
enum class Existing {
  kNothing,    // no such path
  kNotSocket,  // a file, directory, symlink, FIFO, device...
  kLive,       // a socket that took our probe connection (or refused it in
               // a way other than "nobody listening"): someone serves there
  kStale,      // a socket file with nobody listening on it
};

struct PathProbe {
  Existing what = Existing::kNothing;
  int connect_error = 0;  // kLive: errno of the probe's connect (0: it connected)
  struct stat st {};      // kStale: the file, to check it is still the same one
};

// lstat()s `path` and, for a socket, connects to it to see whether anyone is
// listening. The probe socket is non-blocking, so a listener whose backlog is
// full answers EAGAIN at once instead of blocking us. Returns false with
// errno set when `path` cannot be examined.
bool ProbePath(const std::string& path, PathProbe* out) {
  *out = PathProbe{};
  if (lstat(path.c_str(), &out->st) != 0) {
    if (errno != ENOENT) return false;
    out->what = Existing::kNothing;
    return true;
  }
  if (!S_ISSOCK(out->st.st_mode)) {
    out->what = Existing::kNotSocket;
    return true;
  }
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (probe < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int rc = connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = rc == 0 ? 0 : errno;
  close(probe);
  if (err == ECONNREFUSED) {
    out->what = Existing::kStale;
  } else if (err == ENOENT) {
    out->what = Existing::kNothing;  // removed since the lstat
  } else {
    out->what = Existing::kLive;
    out->connect_error = err == EINPROGRESS ? 0 : err;
  }
  return true;
}

}  // namespace

ListenSocket ListenUnix(const std::string& path, mode_t mode, int backlog) {
  const std::string where = "listen on UNIX socket '" + path + "'";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // The temporary path is longer than `path`; check both fit.
  std::string dir_template = DirName(path) + "/.xdrd-bind-XXXXXX";
  if (path.empty() || dir_template.size() + 6 >= sizeof addr.sun_path ||
      path.size() >= sizeof addr.sun_path)
    return Failure(-1, ENAMETOOLONG, where);

  // Decide before creating anything whether the path may be taken at all.
  PathProbe existing;
  if (!ProbePath(path, &existing)) return Failure(-1, errno, where);
  switch (existing.what) {
    case Existing::kNothing:
    case Existing::kStale:
      break;
    case Existing::kNotSocket:
      return FailureMessage(-1, EADDRINUSE,
                            where + ": path exists and is not a socket; not replacing it");
    case Existing::kLive:
      if (existing.connect_error == 0 || existing.connect_error == EAGAIN)
        return FailureMessage(-1, EADDRINUSE,
                              where + ": path exists and another process is listening on it");
      return FailureMessage(-1, EADDRINUSE,
                            where + ": path exists and is a socket that may be in use (connect: " +
                                std::strerror(existing.connect_error) + "); not replacing it");
  }

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Failure(-1, errno, "socket(AF_UNIX)");

  // mkdtemp makes the directory 0700 whatever the umask: nobody else can
  // reach the socket until it has its final mode and is moved into place.
  std::string dir = dir_template;
  if (mkdtemp(dir.data()) == nullptr) return Failure(fd, errno, "mkdtemp '" + dir_template + "'");
  std::string tmp_path = dir + "/sock";
  std::memcpy(addr.sun_path, tmp_path.c_str(), tmp_path.size() + 1);

  auto cleanup_fail_message = [&](int err, const std::string& message) {
    unlink(tmp_path.c_str());
    rmdir(dir.c_str());
    return FailureMessage(fd, err, message);
  };
  auto cleanup_fail = [&](int err, const std::string& what) {
    return cleanup_fail_message(err, what + ": " + std::strerror(err));
  };
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return cleanup_fail(errno, "bind '" + tmp_path + "'");
  if (chmod(tmp_path.c_str(), mode) != 0) return cleanup_fail(errno, "chmod '" + tmp_path + "'");
  if (listen(fd, backlog) != 0) return cleanup_fail(errno, "listen '" + path + "'");

  bool replaced_stale = false;
  if (existing.what == Existing::kStale) {
    // Replace the dead socket only if it is still the very file we probed;
    // rename() swaps it out atomically.
    struct stat now;
    if (lstat(path.c_str(), &now) != 0) {
      if (errno != ENOENT) return cleanup_fail(errno, where);
      existing.what = Existing::kNothing;  // gone meanwhile: link below
    } else if (!S_ISSOCK(now.st_mode) || now.st_dev != existing.st.st_dev ||
               now.st_ino != existing.st.st_ino) {
      return cleanup_fail_message(EADDRINUSE,
                                  where + ": path changed while binding; not replacing it");
    } else {
      if (rename(tmp_path.c_str(), path.c_str()) != 0) return cleanup_fail(errno, where);
      replaced_stale = true;
    }
  }
  if (existing.what == Existing::kNothing) {
    // link() refuses to replace an existing path, so a path created since
    // the probe is not clobbered.
    if (link(tmp_path.c_str(), path.c_str()) != 0) {
      if (errno == EEXIST)
        return cleanup_fail_message(EADDRINUSE,
                                    where + ": path appeared while binding; not replacing it");
      return cleanup_fail(errno, where);
    }
    unlink(tmp_path.c_str());
  }
  rmdir(dir.c_str());

  ListenSocket s;
  s.fd = fd;
  s.family = AF_UNIX;
  s.path = path;
  s.owns_path = true;
  s.replaced_stale = replaced_stale;
  return s;
}

ListenSocket ListenTcp(const std::string& host_in, uint16_t port, int backlog) {
  std::string host = host_in.empty() ? "127.0.0.1" : host_in;
  std::string where = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    ListenSocket s;
    s.error = EINVAL;
    s.message = "listen on " + where + ": not a numeric address (" + gai_strerror(rc) + ")";
    return s;
  }
  int family = res->ai_family;
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int err = errno;
    freeaddrinfo(res);
    return Failure(-1, err, "socket for " + where);
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
    int err = errno;
    freeaddrinfo(res);
    return Failure(fd, err, "bind " + where);
  }
  freeaddrinfo(res);
  if (listen(fd, backlog) != 0) return Failure(fd, errno, "listen " + where);

  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0)
    return Failure(fd, errno, "getsockname " + where);
  ListenSocket s;
  s.fd = fd;
  s.family = family;
  s.host = host;
  s.port = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                       : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return s;
}

ListenSocket AdoptListenSocket(int fd) {
  const std::string where = "adopt listening socket fd " + std::to_string(fd);
  // Failures leave `fd` open (FailureMessage closes only fds >= 0 it is
  // given; it is given -1): the caller still owns it.
  auto fail = [&](int err, const std::string& why) {
    return FailureMessage(-1, err, where + ": " + why);
  };
  // The same for a failed call, with errno's text after `what`.
  auto fail_errno = [&](const char* what) {
    int err = errno;
    return fail(err, std::string(what) + ": " + std::strerror(err));
  };

  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
    if (errno == ENOTSOCK) return fail(ENOTSOCK, "not a socket");
    return fail_errno("getsockopt(SO_TYPE)");
  }
  if (type != SOCK_STREAM) return fail(EINVAL, "not a stream socket");

  int listening = 0;
  len = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0)
    return fail_errno("getsockopt(SO_ACCEPTCONN)");
  if (!listening) return fail(EINVAL, "socket is not listening");

  sockaddr_storage local{};
  len = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0)
    return fail_errno("getsockname");

  ListenSocket s;
  s.family = local.ss_family;
  if (local.ss_family == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&local);
    size_t offset = offsetof(sockaddr_un, sun_path);
    // Unnamed (no path bytes) and abstract (leading NUL) sockets have no
    // filesystem path.
    if (len > offset && un->sun_path[0] != '\0')
      s.path = std::string(un->sun_path, strnlen(un->sun_path, len - offset));
  } else if (local.ss_family == AF_INET || local.ss_family == AF_INET6) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* addr;
    if (local.ss_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&local);
      addr = &in->sin_addr;
      s.port = ntohs(in->sin_port);
    } else {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&local);
      addr = &in6->sin6_addr;
      s.port = ntohs(in6->sin6_port);
    }
    if (inet_ntop(local.ss_family, addr, text, sizeof text) == nullptr)
      return fail_errno("inet_ntop");
    s.host = text;
  } else {
    return fail(EAFNOSUPPORT, "address family " + std::to_string(local.ss_family) +
                                  " is not supported (only UNIX, IPv4 and IPv6)");
  }

  // Only now, with every check passed, change the descriptor's flags.
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0))
    return fail_errno("set O_NONBLOCK");
  int fdfl = fcntl(fd, F_GETFD);
  if (fdfl < 0 || (!(fdfl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) != 0))
    return fail_errno("set FD_CLOEXEC");

  s.fd = fd;
  s.owns_path = false;
  return s;
}

}  // namespace xdrd
