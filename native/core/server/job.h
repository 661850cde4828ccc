// job.h — a call on its way from the loop thread to a worker.
// Threads: owned by one thread at a time; in the FIFO under the server lock.
#pragma once

#include <type_traits>

#include "base/live_counts.h"
#include "server/connection.h"
#include "server/message.h"
#include "server/programs.h"

namespace xdrd {

struct Job {
  ConnectionRef client;  // a reference of its own (THREADING.md, "References")
  Message message;
  const ProgramTable::Entry* handler = nullptr;
  // What the call's handler and the client's in-flight list will share,
  // made by the loop thread with the job (connection.cc, HandleFrameLocked).
  RefPtr<CallState> state;
  LiveToken<live_detail::kJob> live;
};
static_assert(std::is_nothrow_move_constructible_v<Job>, "a Job must move without throwing (live_counts.h)");

}  // namespace xdrd
