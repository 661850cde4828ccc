// listen_socket.h — creating listening sockets: UNIX (path, mode) and TCP
// (host, port). Every socket is non-blocking and close-on-exec.
//
// Threads: plain functions with no shared state; any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace xdrd {

struct ListenSocket {
  int fd = -1;          // -1 on failure
  int error = 0;        // errno of the failing step
  std::string message;  // e.g. "bind 127.0.0.1:80: Permission denied"
  std::string path;     // UNIX: the socket's path (we unlink it on close)
  std::string host;     // TCP: the numeric host bound
  uint16_t port = 0;    // TCP: the port bound (the kernel's pick for port 0)
  bool ok() const { return fd >= 0; }
};

// Binds a UNIX stream socket at `path` with permission bits `mode`, with no
// moment at which the path exists with wider permissions: the socket is bound
// inside a fresh 0700 directory beside `path`, given its mode there, and
// then hard-linked into place (link() never replaces a path). An existing
// `path` is an error (EADDRINUSE); it is never replaced.
ListenSocket ListenUnix(const std::string& path, mode_t mode, int backlog);

// Binds a TCP socket to a numeric IPv4 or IPv6 address ("127.0.0.1" when
// host is empty) and `port` (0: any free port).
ListenSocket ListenTcp(const std::string& host, uint16_t port, int backlog);

}  // namespace xdrd
