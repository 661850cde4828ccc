// listen_socket.cc — see listen_socket.h.
#include "listen_socket.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace xdrd {

namespace {

ListenSocket Failure(int fd, int err, const std::string& what) {
  if (fd >= 0) close(fd);
  ListenSocket s;
  s.error = err;
  s.message = what + ": " + std::strerror(err);
  return s;
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

ListenSocket ListenUnix(const std::string& path, mode_t mode, int backlog) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // The temporary path is longer than `path`; check both fit.
  std::string dir_template = DirName(path) + "/.xdrd-bind-XXXXXX";
  if (path.empty() || dir_template.size() + 6 >= sizeof addr.sun_path ||
      path.size() >= sizeof addr.sun_path)
    return Failure(-1, ENAMETOOLONG, "listen on UNIX socket '" + path + "'");

  struct stat st;
  if (lstat(path.c_str(), &st) == 0)
    return Failure(-1, EADDRINUSE, "listen on UNIX socket '" + path + "': path exists");

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Failure(-1, errno, "socket(AF_UNIX)");

  // mkdtemp makes the directory 0700: nobody else can reach the socket until
  // it has its final mode and has been renamed into place.
  std::string dir = dir_template;
  if (mkdtemp(dir.data()) == nullptr) return Failure(fd, errno, "mkdtemp '" + dir_template + "'");
  std::string tmp_path = dir + "/sock";
  std::memcpy(addr.sun_path, tmp_path.c_str(), tmp_path.size() + 1);

  auto cleanup_fail = [&](int err, const std::string& what) {
    unlink(tmp_path.c_str());
    rmdir(dir.c_str());
    return Failure(fd, err, what);
  };
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return cleanup_fail(errno, "bind '" + tmp_path + "'");
  if (chmod(tmp_path.c_str(), mode) != 0) return cleanup_fail(errno, "chmod '" + tmp_path + "'");
  if (listen(fd, backlog) != 0) return cleanup_fail(errno, "listen '" + path + "'");
  // link() refuses to replace an existing path, so a path created since the
  // check above is not clobbered; then the temporary name goes.
  if (link(tmp_path.c_str(), path.c_str()) != 0)
    return cleanup_fail(errno, "listen on UNIX socket '" + path + "'");
  unlink(tmp_path.c_str());
  rmdir(dir.c_str());

  ListenSocket s;
  s.fd = fd;
  s.path = path;
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
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int err = errno;
    freeaddrinfo(res);
    return Failure(-1, err, "socket for " + where);
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (res->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
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
  s.host = host;
  s.port = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                       : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return s;
}

}  // namespace xdrd
