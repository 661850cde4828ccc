// outbox.h — what the loop thread has to tell the application (client
// notices, log records), gathered while it holds locks and delivered once
// it holds none.
//
// Threads: the loop thread only (and the owner thread once the loop thread
// has ended). No lock of its own: every method runs on the one thread that
// owns the outbox at the time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "server/api_types.h"
#include "server/counters.h"

namespace xdrd {

class Outbox {
 public:
  Outbox(const ServerOptions& options, CounterSet& counters) : options_(options), counters_(counters) {}

  // Notes a log record, at most options.log_burst a second (the rest are
  // counted in log_suppressed). Any lock may be held.
  void Log(uint64_t client_id, std::string message);
  // Notes a client's arrival or departure. Any lock may be held.
  void Connected(uint64_t client_id, const PeerInfo& peer);
  void Disconnected(uint64_t client_id, CloseReason reason);
  // Hands everything noted to the application's sinks: notices first, in
  // order, then log records. No xdrd lock may be held.
  void Deliver();

 private:
  const ServerOptions& options_;
  CounterSet& counters_;
  std::vector<LogRecord> logs_;
  std::vector<ClientNotice> notices_;
  int64_t window_start_ms_ = 0;
  int in_window_ = 0;
};

}  // namespace xdrd
