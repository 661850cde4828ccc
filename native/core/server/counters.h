// counters.h — the server's counters (the list is counters.def) as a
// snapshot struct and as the atomics the threads update.
//
// Threads: CounterSet is updated from any thread with relaxed atomics and
// read by Snapshot() from any thread with no lock. A snapshot is each
// counter's value at some moment during the call, not one instant for all
// (THREADING.md, "Counters").
#pragma once

#include <atomic>
#include <cstdint>

namespace xdrd {

struct ServerCounters {
#define XDRD_COUNTER(field, js, doc) uint64_t field = 0;
#include "server/counters.def"
};

class CounterSet {
 public:
  // One counter, by field name: counters.Add(&CounterSet::bytes_read, n).
  using Cell = std::atomic<uint64_t>;
#define XDRD_COUNTER(field, js, doc) Cell field{0};
#include "server/counters.def"

  static void Add(Cell& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
  static void Sub(Cell& c, uint64_t n = 1) { c.fetch_sub(n, std::memory_order_relaxed); }
  // A signed change of a gauge (wraps as two's complement, read back signed).
  static void Change(Cell& c, int64_t delta) {
    c.fetch_add(static_cast<uint64_t>(delta), std::memory_order_relaxed);
  }
  static int64_t Signed(const Cell& c) { return static_cast<int64_t>(c.load(std::memory_order_relaxed)); }
  // Raises a high-water mark to at least `value`.
  static void RaisePeak(Cell& c, uint64_t value) {
    uint64_t peak = c.load(std::memory_order_relaxed);
    while (value > peak && !c.compare_exchange_weak(peak, value, std::memory_order_relaxed)) {
    }
  }

  ServerCounters Snapshot() const {
    ServerCounters s;
#define XDRD_COUNTER(field, js, doc) s.field = field.load(std::memory_order_relaxed);
#include "server/counters.def"
    return s;
  }
};

}  // namespace xdrd
