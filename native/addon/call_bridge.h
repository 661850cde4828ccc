// call_bridge.h — hands calls from the worker threads to the JS thread in
// batches, and takes the JS thread's answers back to the core.
//
// Threads
//   workers     Post(): queue a call; wake the JS thread only when the queue
//               goes from empty to non-empty. Never waits for JS. Inside a
//               worker's run the calls wait in the worker's own buffer and
//               are queued together when the run ends (RunEnd, dispatch.h):
//               one lock and at most one wake-up per run, not per call.
//   loop thread PostNotices(), PostLog(): client arrivals and departures and
//               log records, queued and woken for the same way.
//   JS thread   TakeBatch(), Complete(), RefuseAll(), Attach(), stats.
//   any thread  RefusePending() (a worker, when the JS side has gone).
//   closer      Detach() (server_wrap.cc), once the workers are joined.
//
// Locks
//   mu_ is a leaf lock guarding the pending queue, the wake flag and the
//   thread-safe function handle. Nothing is taken under it, and no Call is
//   answered or destroyed under it (answering takes the command queue's
//   lock, and destroying an unanswered Call answers it).
//   The in-flight table belongs to the JS thread alone and needs no lock.
//
// Flat data (PERF-NOTES: N-API calls per field cost 10-50x what JS pays to
// read a typed array)
//   The batch area is a Uint32Array owned by JS: word 0 holds the number of
//   calls n, then n records of kInWords words:
//     0 slot       where the call waits in the in-flight table
//     1 handler    index into the JS handler table (chosen at registration)
//     2 procedure  the header's procedure (an int32, as its bits)
//     3 serial
//     4 client id, low 32 bits
//     5 client id, high 32 bits
//     6 body length; bodies sit back to back in one Buffer per batch.
//       With bit 31 (kExternalBody) set, the body is not there: it is the
//       batch's next lent body (LentBody), a Buffer over the received frame
//       itself, so a large body crosses to JS without a copy.
//     7 queue wait: microseconds from the loop framing the call to this
//       hand-over (saturates at 2^32 - 1)
//     8 decoded values: how many doubles of the batch's values area are
//       this call's arguments, decoded on the worker by the procedure's
//       plan (0 for raw handlers). They follow the previous call's, in
//       one Float64Array per batch; strings and opaque data in them are
//       offsets into the call's body (core/wire/decode_plan.h).
//   Notices (connects, disconnects, logs) are rare next to calls; they
//   cross as one JSON array per drain (TakeNotices), which JS parses in one
//   go rather than paying an N-API call per field.
//   The result area holds kOutWords words per answer:
//     0 slot
//     1 kind       kResultBody: reply OK with these bytes as the body;
//                  kResultError: these bytes are an encoded remote_error
//     2 length of the bytes, which sit back to back in one Buffer, or are
//       the answer's own Buffer when JS passes one per answer (large
//       answers: concatenating them would copy them once more)
//     3 reserved (0)
#pragma once

#include <node_api.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/server/call.h"
#include "core/base/lock.h"
#include "core/base/refcount.h"
#include "core/server/api_types.h"
#include "core/server/server.h"
#include "core/wire/decode_plan.h"

namespace xdrd::addon {

class CallBridge : public RefCounted<CallBridge> {
 public:
  // At most this many calls per JS call; the rest wait for the next wake-up,
  // so a backlog never turns into one huge synchronous burst (PERF-NOTES).
  static constexpr uint32_t kMaxBatch = 256;
  static constexpr uint32_t kInWords = 9;
  static constexpr uint32_t kOutWords = 4;
  static constexpr uint32_t kInAreaWords = 1 + kMaxBatch * kInWords;
  static constexpr uint32_t kOutAreaWords = kMaxBatch * kOutWords;
  static constexpr uint32_t kResultBody = 0;
  static constexpr uint32_t kResultError = 1;
  // Bodies of at least this many bytes are lent to JS (LentBody), not
  // copied: below it a copy into the batch Buffer is cheaper than a Buffer
  // of its own (about 2 us with its finalizer, PERF-NOTES).
  static constexpr size_t kLendBodyBytes = 32 * 1024;
  static constexpr uint32_t kExternalBody = 0x80000000u;
  // Decoded-argument arrays (a worker's scratch, the batch's) keep at most
  // this many doubles (512 KiB) of capacity between uses, so one huge call
  // does not pin its memory.
  static constexpr size_t kKeepValues = 64 * 1024;

  // A received frame whose body JS borrows: the Buffer JS sees covers
  // frame[offset, offset + size) and owns the frame until it is collected.
  struct LentBody {
    std::vector<uint8_t> frame;
    size_t offset = 0;
    size_t size = 0;
  };
  // One answer's bytes, when each has its own Buffer.
  struct ResultBytes {
    const uint8_t* data = nullptr;
    size_t size = 0;
  };

  // A typed procedure's argument plan: the worker decodes each call with it
  // before queuing the call for JS, and answers a call that does not decode
  // itself (counted in `refused`, which the JS thread reads for stats()).
  struct ArgsPlan {
    explicit ArgsPlan(DecodePlan p) : plan(std::move(p)) {}
    const DecodePlan plan;
    std::atomic<uint64_t> refused{0};
  };

  // What the thread-safe function carries: a wake-up has no payload.
  static void* DrainTag();

  // The bridge's counters, listed once: X(field, jsKey, doc). The stats()
  // object and its key list (addon.cc) are made from this list.
#define XDRD_BRIDGE_COUNTERS(X)                                                        \
  X(wakeups, jsWakeups, "times a worker woke the JS thread")                           \
  X(calls, jsCalls, "calls handed to JS handlers")                                     \
  X(batches, jsBatches, "JS calls that carried them")                                  \
  X(lent, jsBodiesLent, "bodies lent to JS instead of copied (kLendBodyBytes or more)") \
  X(pending, jsPending, "calls queued for JS, not yet handed over")                    \
  X(in_flight, jsInFlight, "calls JS holds and has not answered")                      \
  X(args_refused, argsRefused, "typed calls whose arguments did not decode, answered by the worker")
  struct Stats {
#define XDRD_BRIDGE_FIELD(field, js, doc) uint64_t field = 0;
    XDRD_BRIDGE_COUNTERS(XDRD_BRIDGE_FIELD)
#undef XDRD_BRIDGE_FIELD
  };

  CallBridge() = default;
  ~CallBridge();
  CallBridge(const CallBridge&) = delete;
  CallBridge& operator=(const CallBridge&) = delete;

  // JS thread, before the workers start: posts go to `tsfn` from now on.
  void Attach(napi_threadsafe_function tsfn);
  // Once no worker can post any more: later posts are refused.
  void Detach();

  // Worker thread. With `args`, the call's body is decoded here first; a
  // body that does not decode is answered here, with the error reply the
  // TypeScript codec's message makes, and never reaches JS.
  void Post(uint32_t handler, Call call, ArgsPlan* args = nullptr);

  // Loop thread, no xdrd lock held.
  void PostNotices(const std::vector<ClientNotice>& notices);
  void PostLog(const LogRecord& record);

  // A client's arrival (connected) or departure, as JS learns of it.
  struct Membership {
    uint64_t client_id = 0;
    bool connected = false;
  };

  // JS thread. Everything noticed since the last call, as a JSON array of
  // objects {kind:"connect"|"disconnect"|"log", ...}; empty when none. The
  // arrivals and departures among them, in order, go to *membership
  // (which must be empty).
  std::string TakeNotices(std::vector<Membership>* membership);

  // JS thread. Moves up to kMaxBatch queued calls into the in-flight table
  // and describes them in `area` (kInAreaWords words). `alloc(n)` must
  // return n writable bytes for the copied bodies (a JS Buffer); it is
  // called once, and only when at least one call was taken. Bodies of
  // kLendBodyBytes or more are moved into *lent instead, in call order.
  // `alloc_values(n)` must return room for n doubles (a Float64Array) for
  // the calls' decoded arguments; it is called once, only when there are
  // some. Returns the count.
  uint32_t TakeBatch(uint32_t* area, const std::function<uint8_t*(size_t)>& alloc,
                     const std::function<double*(size_t)>& alloc_values, std::vector<LentBody>* lent);

  // JS thread. Answers `count` calls described in `area` (kOutWords each)
  // with bytes from `data`, back to back. On malformed input (a JS bug)
  // answers nothing further, sets *error and returns false.
  bool Complete(const uint32_t* area, uint32_t count, const uint8_t* data, size_t size,
                std::string* error);
  // The same with one Buffer per answer: each[i] holds answer i's bytes.
  bool CompleteEach(const uint32_t* area, uint32_t count, const ResultBytes* each, std::string* error);

  // Any thread. Answers the queued calls (not yet handed to JS) with the
  // shutdown error.
  void RefusePending();

  // JS thread. Answers every queued and in-flight call with the shutdown
  // error (their replies are dropped if their clients or server are gone).
  void RefuseAll();

  // JS thread.
  Stats ReadStats() const;

 private:
  struct Pending {
    uint32_t handler;
    Call call;
    // The decoded arguments (typed handlers): values_count doubles from
    // values_at in pending_values_ (taken_values_ once taken). One shared
    // array, not a vector per call: a vector made on a worker and freed
    // on the JS thread cost a malloc and a cross-thread free per call.
    size_t values_at;
    size_t values_count;
  };

  // A worker's calls of its current run, not yet queued (Post, FlushRun).
  struct RunBuffer {
    CallBridge* owner = nullptr;  // the bridge they are for, while any are
    std::vector<Pending> calls;
    std::vector<double> values;  // their decoded arguments, values_at counting from 0 here
  };
  static RunBuffer& ThisWorkersRun();
  // RunEnd work (core/server/dispatch.h), on the worker: queues the run's
  // calls in one locked step, and wakes JS once.
  static void FlushRun(void* bridge);
  // Queues `calls` (values_at counting in `values`) under mu_ and wakes JS
  // if no wake-up is on its way. Without a JS side they are answered with
  // the shutdown error. Either way `calls` and `values` are left empty.
  void Enqueue(std::vector<Pending>& calls, std::vector<double>& values);

  void Wake(napi_threadsafe_function tsfn);
  // Checks one result record and answers its call; false (with *error) if
  // the record is malformed.
  bool AnswerOne(uint32_t index, const uint32_t* rec, const uint8_t* bytes, size_t available,
                 std::string* error);
  // Queues one JSON object; wakes JS if no wake-up is on its way.
  void PostNotice(std::string json, std::optional<Membership> membership);

  mutable RankedMutex mu_{LockRank::kLeaf, "call bridge"};
  // A vector, not a deque: TakeBatch swaps it with taken_ whole, so the
  // calls are not moved one by one under mu_ (workers wait on it).
  std::vector<Pending> pending_;               // [mu_]
  std::vector<double> pending_values_;         // [mu_] the pending calls' decoded arguments, in call order
  std::string notices_;                        // [mu_] JSON objects, comma-separated
  std::vector<Membership> membership_;         // [mu_] the connects and disconnects among them
  bool wake_pending_ = false;                  // [mu_] a drain is on its way to JS
  napi_threadsafe_function tsfn_ = nullptr;    // [mu_] null: posts are refused

  // JS thread only.
  // The batch being taken; empty (keeping its capacity) between TakeBatch
  // calls, so the swap with pending_ gives the workers a vector that has
  // room already.
  std::vector<Pending> taken_;
  std::vector<double> taken_values_;  // their arguments (swapped with pending_values_ likewise)
  // Held by value: no heap allocation per call (Call moves without throwing).
  std::vector<std::optional<Call>> slots_;
  std::vector<uint32_t> free_slots_;  // slots_ entries that hold no call

  std::atomic<uint64_t> wakeups_{0};
  std::atomic<uint64_t> calls_{0};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> lent_{0};
  std::atomic<uint64_t> args_refused_{0};
};

}  // namespace xdrd::addon
