// listen_socket.h — getting listening sockets: binding a UNIX (path, mode) or
// TCP (host, port) one, or adopting one the process was handed (inherited
// from a parent or passed by a service manager). Every socket returned is
// non-blocking and close-on-exec.
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
  int family = 0;       // AF_UNIX, AF_INET or AF_INET6
  std::string path;     // UNIX: the socket's path (empty: abstract or unnamed)
  // UNIX: true only when ListenUnix put the socket file at `path`. Only such
  // a path is the server's to unlink when it stops; an adopted socket's path
  // belongs to whoever created it.
  bool owns_path = false;
  // UNIX: ListenUnix found a dead socket file at `path` (nobody listening)
  // and put the new socket in its place.
  bool replaced_stale = false;
  std::string host;     // TCP: the numeric host bound
  uint16_t port = 0;    // TCP: the port bound (the kernel's pick for port 0)
  bool ok() const { return fd >= 0; }
};

// Binds a UNIX stream socket at `path` with permission bits `mode` and
// listens on it.
//
// The path never exists with wider permissions than `mode`, not even for a
// moment, so a client that may not connect never gets a window in which it
// can: the socket is bound inside a fresh 0700 directory beside `path` (on
// the same filesystem), given its mode there, and only then moved to `path`.
// The process umask is neither read nor changed (other threads may rely on
// it).
//
// What is already at `path` decides how the socket gets there:
//  - nothing: hard-linked into place. link() fails rather than replace, so a
//    path that appears meanwhile is never clobbered.
//  - a socket file nobody listens on (connect() is refused: its server died
//    without unlinking it): renamed over it, atomically, so there is no
//    moment without a socket at `path`; `replaced_stale` is set. The old
//    file is re-checked to be the same one just before the rename.
//  - a socket somebody listens on (connect() succeeds or fails in any other
//    way, e.g. EAGAIN with a full backlog): EADDRINUSE. Taking it over would
//    silently cut that server off from new clients. (The probe connection
//    shows up at that server as a client that hangs up at once.)
//  - anything else (regular file, directory, symlink, FIFO, ...): EADDRINUSE.
//    It is not ours to delete, and a symlink could point anywhere.
// On success `owns_path` is true.
ListenSocket ListenUnix(const std::string& path, mode_t mode, int backlog);

// Binds a TCP socket to a numeric IPv4 or IPv6 address ("127.0.0.1" when
// host is empty) and `port` (0: any free port), and listens on it.
ListenSocket ListenTcp(const std::string& host, uint16_t port, int backlog);

// Takes over `fd`, an already listening socket the process did not create
// itself (inherited across exec, or passed by socket activation), so that a
// server can accept on it like on its own.
//
// It must be a stream socket (SOCK_STREAM; EINVAL otherwise, ENOTSOCK for a
// descriptor that is no socket at all) that is listening (EINVAL), of family
// AF_UNIX, AF_INET or AF_INET6 (EAFNOSUPPORT). The descriptor is then made
// non-blocking and close-on-exec; being non-blocking is a property of the
// open file, so another process sharing it sees that too.
//
// Filled in: `family`; for UNIX `path` from getsockname() (empty for an
// abstract or unnamed socket) with `owns_path` false — the path is left
// alone at close; for TCP the numeric `host` and the `port`.
//
// On failure `fd` is not closed: the caller still owns it. On success the
// returned ListenSocket owns it.
ListenSocket AdoptListenSocket(int fd);

}  // namespace xdrd
