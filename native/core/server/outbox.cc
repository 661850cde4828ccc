// outbox.cc — see outbox.h.
#include "server/outbox.h"

#include <utility>

#include "base/clock.h"

namespace xdrd {

void Outbox::Log(uint64_t client_id, std::string message) {
  if (!options_.log) return;
  int64_t now = MonotonicMs();
  if (now - window_start_ms_ >= 1000) {
    window_start_ms_ = now;
    in_window_ = 0;
  }
  if (in_window_ >= options_.log_burst) {
    CounterSet::Add(counters_.log_suppressed);
    return;
  }
  ++in_window_;
  logs_.push_back(LogRecord{client_id, std::move(message)});
}

void Outbox::Connected(uint64_t client_id, const PeerInfo& peer) {
  if (!options_.on_clients) return;
  ClientNotice notice;
  notice.kind = ClientNotice::Kind::kConnect;
  notice.client_id = client_id;
  notice.peer = peer;
  notices_.push_back(std::move(notice));
}

void Outbox::Disconnected(uint64_t client_id, CloseReason reason) {
  if (!options_.on_clients) return;
  ClientNotice notice;
  notice.kind = ClientNotice::Kind::kDisconnect;
  notice.client_id = client_id;
  notice.reason = reason;
  notices_.push_back(std::move(notice));
}

void Outbox::Deliver() {
  if (!notices_.empty()) {
    std::vector<ClientNotice> notices;
    notices.swap(notices_);
    options_.on_clients(notices);
  }
  if (logs_.empty()) return;
  std::vector<LogRecord> records;
  records.swap(logs_);
  for (const LogRecord& r : records) options_.log(r);
}

}  // namespace xdrd
