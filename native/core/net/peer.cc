// peer.cc — see peer.h.
#include "net/peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace xdrd {

PeerInfo DescribePeer(int fd, int family) {
  PeerInfo peer;
  if (family == AF_UNIX) {
    peer.transport = Transport::kUnix;
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof cred) {
      peer.has_credentials = true;
      peer.uid = cred.uid;
      peer.gid = cred.gid;
      peer.pid = cred.pid;
    }
    return peer;
  }
  peer.transport = Transport::kTcp;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    char text[INET6_ADDRSTRLEN] = "";
    if (addr.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&addr);
      inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
      peer.port = ntohs(a->sin_port);
    } else if (addr.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
      inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
      peer.port = ntohs(a->sin6_port);
    }
    peer.address = text;
  }
  return peer;
}

}  // namespace xdrd
