// client.cc — see client.h for which thread calls what. Every function
// ending in Locked expects the client lock held (checked in debug builds).
#include "client.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE  // POLLRDHUP
#endif
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace xdrd {

namespace {

constexpr size_t kMaxIov = 64;

// Room for the most descriptors a libvirt message may carry; more are
// closed by the kernel (MSG_CTRUNC).
constexpr size_t kFdControlBytes = CMSG_SPACE(sizeof(int) * kMaxFds);

std::string ClientLockName(uint64_t id) {
  char name[40];
  std::snprintf(name, sizeof name, "client %llu", static_cast<unsigned long long>(id));
  return name;
}

}  // namespace

const char* CloseReasonName(CloseReason r) {
  switch (r) {
    case CloseReason::kNone: return "none";
    case CloseReason::kEof: return "eof";
    case CloseReason::kIoError: return "io-error";
    case CloseReason::kProtocol: return "protocol";
    case CloseReason::kServerClose: return "server-close";
    case CloseReason::kKeepalive: return "keepalive";
    case CloseReason::kFrameTimeout: return "frameTimeout";
    case CloseReason::kSendQueue: return "sendQueue";
    case CloseReason::kLimit: return "limit";
    case CloseReason::kHandler: return "handler";
    case CloseReason::kDenied: return "denied";
  }
  return "?";
}

Client::Client(uint64_t id, int fd, uint32_t max_message_bytes, PeerInfo peer)
    : mu(LockRank::kClient, ClientLockName(id).c_str()),
      splitter(max_message_bytes),
      id_(id),
      peer_(std::move(peer)),
      fd_(fd) {}

Client::~Client() {
  // No lock: the last reference is gone, so no other thread can see us.
  if (fd_ >= 0) close(fd_);
}

Client::ReadStatus Client::ReadLocked(std::vector<uint8_t>* scratch, size_t budget) {
  AssertHeld(mu);
  size_t taken = 0;
  alignas(cmsghdr) unsigned char control[kFdControlBytes];
  while (taken < budget) {
    iovec iov{scratch->data(), scratch->size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return ReadStatus::kOk;
      return ReadStatus::kIoError;
    }
    // fd passing is not supported: whatever descriptors came along are
    // closed at once, so a peer cannot make us hold its files.
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      const unsigned char* data = CMSG_DATA(c);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, data + i * sizeof(int), sizeof fd);
        close(fd);
        ++fds_received;
      }
    }
    if (n == 0) return ReadStatus::kEof;
    bytes_read += static_cast<uint64_t>(n);
    taken += static_cast<size_t>(n);
    if (!splitter.Feed(scratch->data(), static_cast<size_t>(n))) return ReadStatus::kProtocol;
    if (static_cast<size_t>(n) < scratch->size()) return ReadStatus::kOk;  // drained
  }
  return ReadStatus::kOk;
}

int Client::FlushLocked() {
  AssertHeld(mu);
  int replies_done = 0;
  while (!send_queue_.empty() && fd_ >= 0) {
    iovec iov[kMaxIov];
    size_t count = 0;
    for (auto it = send_queue_.begin(); it != send_queue_.end() && count < kMaxIov; ++it, ++count) {
      size_t skip = count == 0 ? send_offset_ : 0;
      iov[count].iov_base = it->bytes.data() + skip;
      iov[count].iov_len = it->bytes.size() - skip;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    ssize_t n = sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return -1;
    }
    bytes_written += static_cast<uint64_t>(n);
    send_queue_bytes_ -= static_cast<size_t>(n);
    size_t left = static_cast<size_t>(n);
    while (left > 0) {
      OutFrame& f = send_queue_.front();
      size_t rest = f.bytes.size() - send_offset_;
      if (left < rest) {
        send_offset_ += left;
        break;
      }
      left -= rest;
      send_offset_ = 0;
      if (f.is_reply) {
        --calls.reply_pending;
        ++replies_done;
      }
      send_queue_.pop_front();
    }
  }
  return replies_done;
}

void Client::QueueLocked(std::vector<uint8_t> bytes, bool is_reply) {
  AssertHeld(mu);
  OutFrame f;
  f.bytes = std::move(bytes);
  f.is_reply = is_reply;
  if (is_reply) ++calls.reply_pending;
  send_queue_bytes_ += f.bytes.size();
  send_queue_.push_back(std::move(f));
}

void Client::MarkClosingLocked(CloseReason reason) {
  AssertHeld(mu);
  if (closing) return;
  closing = true;
  close_reason = reason;
  closed_mid_frame = splitter.mid_frame();
  closed_mid_call = calls.total() > 0;
}

short Client::WantedEventsLocked() const {
  if (closing || fd_ < 0) return 0;
  // A starved client, or one waiting for authorization, is not read, but a
  // peer that hangs up must still be noticed, or it would stay held: ask
  // for POLLRDHUP instead. One the application is closing is not read.
  short in = throttled || close_after_writes ? 0 : starved || awaiting_auth ? POLLRDHUP : POLLIN;
  return static_cast<short>(in | (send_queue_.empty() ? 0 : POLLOUT));
}

void Client::CloseSocketLocked() {
  AssertHeld(mu);
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  for (const OutFrame& f : send_queue_) {
    if (f.is_reply) --calls.reply_pending;
  }
  send_queue_.clear();
  send_offset_ = 0;
  send_queue_bytes_ = 0;
}

}  // namespace xdrd
