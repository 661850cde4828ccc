// peer.h — who is on the other end of an accepted connection.
// Threads: a plain value, fixed at accept and read-only afterwards.
#pragma once

#include <cstdint>
#include <string>

namespace xdrd {

enum class Transport : uint8_t { kUnix, kTcp };

struct PeerInfo {
  Transport transport = Transport::kUnix;
  // UNIX sockets: the peer's credentials (SO_PEERCRED) when the kernel gave them.
  bool has_credentials = false;
  uint32_t uid = 0, gid = 0;
  int32_t pid = 0;
  // TCP: the peer's numeric address and port.
  std::string address;
  uint16_t port = 0;
  // From the listener that accepted it.
  bool read_only = false;
  uint32_t listener_id = 0;
};

// Reads the credentials (UNIX) or the address (TCP) of connected socket
// `fd`, accepted on a socket of address family `family`.
PeerInfo DescribePeer(int fd, int family);

}  // namespace xdrd
