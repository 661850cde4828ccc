// event_backend.h — which system call an EventLoop waits in. A plain value.
#pragma once

#include <cstring>

namespace xdrd {

enum class EventBackend : unsigned char {
  // epoll(7): the kernel keeps the interest list, so a turn costs what is
  // ready, not what is watched. The default on Linux.
  kEpoll,
  // poll(2) over an array of every enabled watch: the reference the epoll
  // backend is tested against; each turn costs every watched descriptor.
  kPoll,
};

inline constexpr EventBackend kDefaultEventBackend = EventBackend::kEpoll;

// "epoll" or "poll": the names the addon option and XDRD_EVENT_BACKEND use.
inline const char* EventBackendName(EventBackend b) { return b == EventBackend::kPoll ? "poll" : "epoll"; }

// False (and *out untouched) for any other name.
inline bool ParseEventBackend(const char* name, EventBackend* out) {
  if (std::strcmp(name, "epoll") == 0) {
    *out = EventBackend::kEpoll;
    return true;
  }
  if (std::strcmp(name, "poll") == 0) {
    *out = EventBackend::kPoll;
    return true;
  }
  return false;
}

}  // namespace xdrd
