// A blocking libvirt-RPC test client over a real socket: connect, send
// frames (whole or in pieces), read whole frames with a time limit so a
// broken server fails the test instead of hanging it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "wire/wire.h"

namespace xt {

inline std::vector<uint8_t> CallFrame(uint32_t prog, uint32_t vers, int32_t proc, uint32_t serial,
                                      const std::vector<uint8_t>& body = {},
                                      uint32_t type = xdrd::kTypeCall,
                                      uint32_t status = xdrd::kStatusOk) {
  xdrd::Header h;
  h.prog = prog;
  h.vers = vers;
  h.proc = proc;
  h.type = type;
  h.serial = serial;
  h.status = status;
  return xdrd::EncodeFrame(h, body.data(), body.size());
}

inline xdrd::Header HeaderOf(const std::vector<uint8_t>& frame) {
  xdrd::Header h;
  xdrd::DecodeHeader(frame.data(), frame.size(), &h);
  return h;
}

class RpcClient {
 public:
  RpcClient() = default;
  explicit RpcClient(int fd) : fd_(fd) {}
  RpcClient(RpcClient&& o) noexcept : fd_(o.fd_), eof_(o.eof_), in_(std::move(o.in_)) { o.fd_ = -1; }
  RpcClient& operator=(RpcClient&& o) noexcept {
    if (this != &o) {
      Close();
      fd_ = o.fd_;
      eof_ = o.eof_;
      in_ = std::move(o.in_);
      o.fd_ = -1;
    }
    return *this;
  }
  ~RpcClient() { Close(); }

  static RpcClient Unix(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd);
      return RpcClient();
    }
    return RpcClient(fd);
  }

  static RpcClient Tcp(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd);
      return RpcClient();
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return RpcClient(fd);
  }

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  bool Send(const std::vector<uint8_t>& bytes) { return Send(bytes.data(), bytes.size()); }
  bool Send(const uint8_t* data, size_t n) {
    while (n > 0) {
      ssize_t w = send(fd_, data, n, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      data += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }

  // One whole frame, or nothing on EOF, error or timeout.
  std::optional<std::vector<uint8_t>> ReadFrame(int timeout_ms = 10000) {
    for (;;) {
      if (in_.size() >= 4) {
        uint32_t len = (uint32_t{in_[0]} << 24) | (uint32_t{in_[1]} << 16) |
                       (uint32_t{in_[2]} << 8) | uint32_t{in_[3]};
        if (len >= 4 && in_.size() >= len) {
          std::vector<uint8_t> frame(in_.begin(), in_.begin() + len);
          in_.erase(in_.begin(), in_.begin() + len);
          return frame;
        }
      }
      if (!Fill(timeout_ms)) return std::nullopt;
    }
  }

  // True if the server closes the connection (within the time limit)
  // without sending anything more.
  bool ExpectEof(int timeout_ms = 10000) {
    size_t before = in_.size();
    while (Fill(timeout_ms)) {
    }
    return eof_ && in_.size() == before;
  }

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  bool Fill(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    int r;
    do {
      r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) return false;
    // A heap buffer made once: a big stack buffer makes DRD's
    // --check-stack-var crawl, and zero-filling one per read costs as much.
    if (scratch_.empty()) scratch_.resize(65536);
    ssize_t n = recv(fd_, scratch_.data(), scratch_.size(), 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    in_.insert(in_.end(), scratch_.begin(), scratch_.begin() + n);
    return true;
  }

  int fd_ = -1;
  bool eof_ = false;
  std::vector<uint8_t> in_;
  std::vector<uint8_t> scratch_;
};

}  // namespace xt
