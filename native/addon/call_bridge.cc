// call_bridge.cc — see call_bridge.h for the threads and the flat layouts.
#include "call_bridge.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <utility>

#include "core/server/dispatch.h"
#include "core/wire/wire.h"
#include "core/wire/xdr.h"

namespace xdrd::addon {

namespace {

char g_drain_tag;

#if defined(XDRD_PLANT_LEAK) || defined(XDRD_PLANT_RACE)
// Test-only builds (CMake XDRD_PLANT, scripts/tools-bite.js): one
// deliberate bug each, which memcheck and helgrind must report.
#ifdef XDRD_PLANT_LEAK
void PlantedLeak() {
  // Lost at once: nothing keeps the pointer.
  volatile char* lost = static_cast<char*>(std::malloc(48));
  lost[0] = 1;
}
#endif
#ifdef XDRD_PLANT_RACE
// Written by workers (Post) and read by the JS thread (TakeBatch) with no
// lock and no atomic.
uint64_t g_planted_race_counter = 0;
#endif
#endif

int64_t MonotonicUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A JSON string literal for `text` (which may hold any bytes a log line can).
void AppendJsonString(std::string* out, const std::string& text) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (unsigned char ch : text) {
    if (ch == '"' || ch == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(ch));
    } else if (ch < 0x20 || ch == 0x7f) {
      out->append("\\u00");
      out->push_back(kHex[ch >> 4]);
      out->push_back(kHex[ch & 15]);
    } else {
      out->push_back(static_cast<char>(ch));
    }
  }
  out->push_back('"');
}

// Ids are below 2^53 for as long as any process runs; JS reads them exactly.
std::string IdText(uint64_t id) { return std::to_string(id); }

}  // namespace

void* CallBridge::DrainTag() { return &g_drain_tag; }

CallBridge::~CallBridge() = default;

void CallBridge::Attach(napi_threadsafe_function tsfn) {
  std::lock_guard<RankedMutex> lock(mu_);
  tsfn_ = tsfn;
  wake_pending_ = false;
}

void CallBridge::Detach() {
  std::lock_guard<RankedMutex> lock(mu_);
  tsfn_ = nullptr;
}

void CallBridge::Post(uint32_t handler, Call call, ArgsPlan* args) {
#ifdef XDRD_PLANT_LEAK
  PlantedLeak();
#endif
  // Decoded into this worker's own scratch, then appended to the run's (or
  // the shared) array (a few doubles per call).
  thread_local std::vector<double> values;
  values.clear();
  if (values.capacity() > kKeepValues) std::vector<double>().swap(values);  // after a huge call
  if (args != nullptr) {
    DecodeFailure failure;
    if (!args->plan.Decode(call.body(), call.body_size(), &values, &failure)) {
      // The reply the typed-handler wrapper made when JS decoded.
      args->refused.fetch_add(1, std::memory_order_relaxed);
      args_refused_.fetch_add(1, std::memory_order_relaxed);
      call.ReplyError(MakeRpcError("Unable to decode message payload: " + failure.Message()));
      return;
    }
  }
  RunBuffer& run = ThisWorkersRun();
  if (run.owner == this || (run.owner == nullptr && RunEnd::Defer(&CallBridge::FlushRun, this))) {
    // Inside a worker's run: queued with the run's other calls at its end.
    run.owner = this;
    run.calls.push_back(Pending{handler, std::move(call), run.values.size(), values.size()});
    run.values.insert(run.values.end(), values.begin(), values.end());
  } else {
    // Not on a worker's run (or the run's buffer serves another bridge):
    // queued now.
    std::vector<Pending> one;
    one.push_back(Pending{handler, std::move(call), 0, values.size()});
    Enqueue(one, values);
  }
#ifdef XDRD_PLANT_RACE
  // With no lock held, so no lock orders one worker's write before
  // another's, nor before the JS thread's read (helgrind must see it).
  g_planted_race_counter = g_planted_race_counter + 1;
#endif
}

CallBridge::RunBuffer& CallBridge::ThisWorkersRun() {
  thread_local RunBuffer run;
  return run;
}

void CallBridge::FlushRun(void* bridge) {
  RunBuffer& run = ThisWorkersRun();
  run.owner = nullptr;
  static_cast<CallBridge*>(bridge)->Enqueue(run.calls, run.values);
  if (run.values.capacity() > kKeepValues) std::vector<double>().swap(run.values);  // after a huge run
}

void CallBridge::Enqueue(std::vector<Pending>& calls, std::vector<double>& values) {
  if (calls.empty()) return;
  bool accepted = false;
  napi_threadsafe_function wake = nullptr;
  {
    std::lock_guard<RankedMutex> lock(mu_);
    if (tsfn_ != nullptr) {
      accepted = true;
      if (pending_.empty() && pending_values_.empty()) {
        // O(1) under the lock; the caller gets the queue's empty vectors
        // (with their room) back.
        pending_.swap(calls);
        pending_values_.swap(values);
      } else {
        const size_t base = pending_values_.size();
        for (Pending& p : calls) {
          p.values_at += base;
          pending_.push_back(std::move(p));
        }
        pending_values_.insert(pending_values_.end(), values.begin(), values.end());
      }
      if (!wake_pending_) {
        wake_pending_ = true;
        wake = tsfn_;
      }
    }
  }
  // No JS side any more: the calls are still ours; answered outside mu_.
  if (!accepted) {
    for (Pending& p : calls) p.call.ReplyError(ShuttingDownError());
  }
  // Moved-from shells, or the refused calls, go with no lock held.
  calls.clear();
  values.clear();
  if (wake != nullptr) Wake(wake);
}

void CallBridge::PostNotices(const std::vector<ClientNotice>& notices) {
  for (const ClientNotice& n : notices) {
    std::string json;
    if (n.kind == ClientNotice::Kind::kConnect) {
      const PeerInfo& p = n.peer;
      json = "{\"kind\":\"connect\",\"id\":" + IdText(n.client_id) + ",\"transport\":\"" +
             (p.transport == Transport::kUnix ? "unix" : "tcp") + "\",\"readOnly\":" +
             (p.read_only ? "true" : "false") + ",\"listener\":" + std::to_string(p.listener_id);
      if (p.has_credentials) {
        json += ",\"uid\":" + std::to_string(p.uid) + ",\"gid\":" + std::to_string(p.gid) +
                ",\"pid\":" + std::to_string(p.pid);
      }
      if (p.transport == Transport::kTcp) {
        json += ",\"address\":";
        AppendJsonString(&json, p.address);
        json += ",\"port\":" + std::to_string(p.port);
      }
      json += "}";
    } else {
      json = "{\"kind\":\"disconnect\",\"id\":" + IdText(n.client_id) + ",\"reason\":\"" +
             CloseReasonName(n.reason) + "\"}";
    }
    PostNotice(std::move(json), Membership{n.client_id, n.kind == ClientNotice::Kind::kConnect});
  }
}

void CallBridge::PostLog(const LogRecord& record) {
  std::string json = "{\"kind\":\"log\",\"id\":" + IdText(record.client_id) + ",\"message\":";
  AppendJsonString(&json, record.message);
  json += "}";
  PostNotice(std::move(json), std::nullopt);
}

void CallBridge::PostNotice(std::string json, std::optional<Membership> membership) {
  napi_threadsafe_function wake = nullptr;
  {
    std::lock_guard<RankedMutex> lock(mu_);
    if (tsfn_ == nullptr) return;  // no JS side any more: nobody to tell
    if (!notices_.empty()) notices_.push_back(',');
    notices_ += json;
    if (membership) membership_.push_back(*membership);
    if (!wake_pending_) {
      wake_pending_ = true;
      wake = tsfn_;
    }
  }
  if (wake != nullptr) Wake(wake);
}

std::string CallBridge::TakeNotices(std::vector<Membership>* membership) {
  std::string taken;
  {
    std::lock_guard<RankedMutex> lock(mu_);
    taken.swap(notices_);
    membership->swap(membership_);
  }
  if (taken.empty()) return taken;
  return "[" + taken + "]";
}

void CallBridge::Wake(napi_threadsafe_function tsfn) {
  // Outside mu_: the thread-safe function has its own lock, and mu_ is a leaf.
  if (napi_call_threadsafe_function(tsfn, DrainTag(), napi_tsfn_nonblocking) == napi_ok) {
    wakeups_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // The function is closing (the environment is going away): nobody will
  // drain the queue, so answer what is in it now.
  RefusePending();
}

void CallBridge::RefusePending() {
  std::vector<Pending> refused;
  {
    std::lock_guard<RankedMutex> lock(mu_);
    refused.swap(pending_);
    pending_values_.clear();
    wake_pending_ = false;
  }
  for (Pending& p : refused) p.call.ReplyError(ShuttingDownError());
}

uint32_t CallBridge::TakeBatch(uint32_t* area, const std::function<uint8_t*(size_t)>& alloc,
                               const std::function<double*(size_t)>& alloc_values, std::vector<LentBody>* lent) {
  std::vector<Pending>& batch = taken_;  // empty here: cleared below after every take
#ifdef XDRD_PLANT_RACE
  // Before the bridge lock (see Post). A read that cannot be optimised away.
  const bool planted_read = g_planted_race_counter == 0xffffffffffffffffull;
#endif
  napi_threadsafe_function rewake = nullptr;
  // After a backlog split, the moved-from shells: destroyed once mu_ is
  // released (no Call is destroyed under it, not even an empty one).
  std::vector<Pending> shells;
  {
    std::lock_guard<RankedMutex> lock(mu_);
    if (pending_.size() <= kMaxBatch) {
      // The usual case: O(1) under the lock.
      batch.swap(pending_);
      taken_values_.swap(pending_values_);
    } else {
      // A backlog: the oldest kMaxBatch now, the rest on the next turn.
      // (Moved by construction: a Call cannot be move-assigned.) The
      // batch's values are a prefix of the shared array; the rest's are
      // moved down to the start of a new one.
      shells.reserve(pending_.size() - kMaxBatch);
      for (size_t i = 0; i < pending_.size(); ++i) {
        (i < kMaxBatch ? batch : shells).push_back(std::move(pending_[i]));
      }
      pending_.swap(shells);
      const size_t cut = batch.back().values_at + batch.back().values_count;
      for (Pending& p : pending_) p.values_at -= cut;
      taken_values_.swap(pending_values_);
      pending_values_.assign(taken_values_.begin() + static_cast<std::ptrdiff_t>(cut), taken_values_.end());
      taken_values_.resize(cut);
    }
    // More than one batch's worth, or notices that came after JS took
    // them: keep the wake flag and ask for another turn, so the event loop
    // gets to run in between.
    if (pending_.empty() && notices_.empty()) {
      wake_pending_ = false;
    } else {
      rewake = tsfn_;
    }
  }
  const uint32_t n = static_cast<uint32_t>(batch.size());
  area[0] = n;
#ifdef XDRD_PLANT_RACE
  if (planted_read) area[0] = 0;
#endif
  if (n == 0) {
    if (rewake != nullptr) Wake(rewake);  // notices came after JS took them
    return 0;
  }
  // Leaves taken_ empty however this returns (what is left in it is
  // moved-from shells, which destroy silently).
  struct ClearTaken {
    std::vector<Pending>& v;
    std::vector<double>& values;
    ~ClearTaken() {
      v.clear();
      values.clear();
      if (values.capacity() > kKeepValues) std::vector<double>().swap(values);  // after a huge batch
    }
  } clear_taken{batch, taken_values_};

  size_t total = 0;
  for (const Pending& p : batch) {
    if (p.call.body_size() < kLendBodyBytes) total += p.call.body_size();
  }
  const int64_t now_us = MonotonicUs();
  uint8_t* bodies = alloc(total);
  // The batch's values are the whole of taken_values_, in call order: what
  // each record's count reads in turn.
  if (!taken_values_.empty()) {
    std::memcpy(alloc_values(taken_values_.size()), taken_values_.data(), taken_values_.size() * sizeof(double));
  }
  size_t offset = 0;
  uint32_t* rec = area + 1;
  for (Pending& p : batch) {
    uint32_t slot;
    if (!free_slots_.empty()) {
      slot = free_slots_.back();
      free_slots_.pop_back();
    } else {
      slot = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    const Header& h = p.call.header();
    const uint64_t client = p.call.client_id();
    const size_t len = p.call.body_size();
    rec[0] = slot;
    rec[1] = p.handler;
    rec[2] = static_cast<uint32_t>(h.proc);
    rec[3] = h.serial;
    rec[4] = static_cast<uint32_t>(client);
    rec[5] = static_cast<uint32_t>(client >> 32);
    const int64_t waited = now_us - p.call.received_us();
    rec[7] = waited <= 0 ? 0 : waited >= 0xffffffffLL ? 0xffffffffu : static_cast<uint32_t>(waited);
    // A body's values are bounded by its bytes times the schema's size.
    rec[8] = static_cast<uint32_t>(p.values_count);
    if (len >= kLendBodyBytes) {
      // Lent, not copied (lengths stay below 2^31: max_message_bytes).
      rec[6] = kExternalBody | static_cast<uint32_t>(len);
      LentBody body;
      body.frame = p.call.TakeFrame(&body.offset);
      body.size = len;
      lent->push_back(std::move(body));
      lent_.fetch_add(1, std::memory_order_relaxed);
    } else {
      rec[6] = static_cast<uint32_t>(len);
      if (len != 0) std::memcpy(bodies + offset, p.call.body(), len);
      offset += len;
    }
    rec += kInWords;
    slots_[slot].emplace(std::move(p.call));
  }
  calls_.fetch_add(n, std::memory_order_relaxed);
  batches_.fetch_add(1, std::memory_order_relaxed);
  if (rewake != nullptr) Wake(rewake);
  return n;
}

bool CallBridge::AnswerOne(uint32_t index, const uint32_t* rec, const uint8_t* bytes, size_t available,
                           std::string* error) {
  const uint32_t slot = rec[0], kind = rec[1], len = rec[2];
  if (slot >= slots_.size() || !slots_[slot]) {
    *error = "result " + std::to_string(index) + " names slot " + std::to_string(slot) + ", which holds no call";
    return false;
  }
  if (len > available) {
    *error = "result " + std::to_string(index) + " runs past the end of the data";
    return false;
  }
  if (kind != kResultBody && kind != kResultError) {
    *error = "result " + std::to_string(index) + " has unknown kind " + std::to_string(kind);
    return false;
  }
  // Answered where it sits, then the slot is emptied and given back. A
  // reply does not re-enter the bridge, so slots_ cannot change under it.
  std::optional<Call>& call = slots_[slot];
  // A call the server already gave up on (shutdown deadline) drops
  // whatever it is answered with; answering keeps one path for both.
  if (kind == kResultBody) {
    call->Reply(bytes, len);
  } else {
    // The JS side encoded the error struct; decoding it again checks it
    // before it reaches a peer.
    RpcError e;
    XdrReader reader(bytes, len);
    if (DecodeRpcError(reader, &e) && reader.remaining() == 0) {
      call->ReplyError(e);
    } else {
      call->ReplyError(InternalError("the handler's error could not be encoded"));
    }
  }
  call.reset();  // answered: its destructor is silent
  free_slots_.push_back(slot);
  return true;
}

bool CallBridge::Complete(const uint32_t* area, uint32_t count, const uint8_t* data, size_t size,
                          std::string* error) {
  size_t offset = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t* rec = area + static_cast<size_t>(i) * kOutWords;
    if (!AnswerOne(i, rec, data + offset, size - offset, error)) return false;
    offset += rec[2];
  }
  return true;
}

bool CallBridge::CompleteEach(const uint32_t* area, uint32_t count, const ResultBytes* each,
                              std::string* error) {
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t* rec = area + static_cast<size_t>(i) * kOutWords;
    if (rec[2] != each[i].size) {
      *error = "result " + std::to_string(i) + " says " + std::to_string(rec[2]) + " bytes, its Buffer holds " +
               std::to_string(each[i].size);
      return false;
    }
    if (!AnswerOne(i, rec, each[i].data, each[i].size, error)) return false;
  }
  return true;
}

void CallBridge::RefuseAll() {
  RefusePending();
  std::vector<std::optional<Call>> slots;
  slots.swap(slots_);
  free_slots_.clear();
  for (auto& call : slots) {
    if (call) call->ReplyError(ShuttingDownError());
  }
}

CallBridge::Stats CallBridge::ReadStats() const {
  Stats s;
  s.wakeups = wakeups_.load(std::memory_order_relaxed);
  s.calls = calls_.load(std::memory_order_relaxed);
  s.batches = batches_.load(std::memory_order_relaxed);
  s.lent = lent_.load(std::memory_order_relaxed);
  s.args_refused = args_refused_.load(std::memory_order_relaxed);
  s.in_flight = slots_.size() - free_slots_.size();
  std::lock_guard<RankedMutex> lock(mu_);
  s.pending = pending_.size();
  return s;
}

}  // namespace xdrd::addon
