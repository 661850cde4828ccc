// buffer_pool.h — a bounded, thread-safe pool of large byte buffers, so that
// the buffers of large frames are reused instead of being malloc'ed and
// freed once per message.
//
// Why: a frame buffer of 64 KiB or more freed at the top of a glibc arena
// lets glibc trim the arena (its default trim threshold is 128 KiB): the
// pages go back to the kernel, and the next frame faults them in again —
// with several threads each unmap also costs a TLB shoot-down. Raising the
// trim threshold process-wide is no fix (it freezes glibc's dynamic mmap
// threshold, so every 1 MiB frame is then mmap'ed and munmap'ed). Keeping
// the few buffers a busy connection cycles through avoids both.
//
// Bounds (the defaults of Limits), and why:
//   - only buffers whose capacity is at least 16 KiB are kept: smaller ones
//     come from glibc's bins and per-thread caches cheaply and are not what
//     makes an arena trim;
//   - none above 4 MiB: a rare huge frame (up to 32 MiB) must not pin its
//     memory after it is gone;
//   - at most 8 MiB and 64 buffers retained in all: enough for the frames of
//     a few dozen calls in flight at 64 KiB, or eight at 1 MiB, and little
//     for an idle daemon to hold on to.
//   A buffer given back when the pool is full pushes out the oldest one
//   retained (and is kept if it then fits), so the pool follows a change in
//   the sizes in use instead of keeping stale ones for ever.
//   Take() only hands out a pooled buffer whose capacity is at most twice
//   what the caller allows (by default twice what it asks for): callers
//   count capacities in their memory accounting, and the frame splitter's
//   guarantee that a frame's buffer is at most about twice the bytes
//   received for it must hold for reused buffers too.
//
// Threads: any. The loop thread takes buffers for incoming frames (frame
// splitter) and gives back written replies (client send queue); workers,
// the JS thread and any thread that answers a call take reply buffers
// (Call::Reply) and give back the frames of finished calls (Message's
// destructor). Lock: mu_, a leaf lock (lock.h) — nothing else is taken while
// it is held, no buffer is allocated or freed under it, and requests below
// the minimum size never take it (so a moved-from, empty vector may be
// given back under any lock, even another leaf lock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/lock.h"

namespace xdrd {

class BufferPool {
 public:
  using Bytes = std::vector<uint8_t>;

  struct Limits {
    size_t min_capacity = 16 * 1024;             // smaller buffers are not pooled
    size_t max_capacity = 4 * 1024 * 1024;       // larger ones are not kept
    size_t max_retained_bytes = 8 * 1024 * 1024; // sum of retained capacities
    size_t max_retained_buffers = 64;
  };

  // Counters since construction, read together under the lock (for tests).
  struct Stats {
    uint64_t hits = 0;      // Take() served from the pool
    uint64_t misses = 0;    // Take() of a poolable size that allocated afresh
    uint64_t kept = 0;      // Give() that retained the buffer
    uint64_t dropped = 0;   // buffers of a poolable size freed: refused or pushed out
    size_t retained_bytes = 0;    // capacities of the buffers held now
    size_t retained_buffers = 0;
  };

  BufferPool() : BufferPool(Limits{}) {}
  explicit BufferPool(const Limits& limits);
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // An empty vector with capacity >= min_capacity. A retained buffer is
  // used if one has a capacity in [min_capacity, max_capacity] (the smallest
  // such); otherwise a fresh one is reserved with exactly min_capacity.
  // max_capacity below min_capacity is taken as min_capacity.
  Bytes Take(size_t min_capacity, size_t max_capacity);
  Bytes Take(size_t min_capacity) { return Take(min_capacity, 2 * min_capacity); }

  // Takes `bytes` back (its contents are discarded). Kept when its capacity
  // is poolable and the bounds allow; freed otherwise, after the lock is
  // released. Empty (moved-from) vectors cost nothing.
  void Give(Bytes&& bytes);

  Stats stats() const;
  const Limits& limits() const { return limits_; }

 private:
  bool Poolable(size_t capacity) const {
    return capacity >= limits_.min_capacity && capacity <= limits_.max_capacity;
  }

  const Limits limits_;
  mutable RankedMutex mu_{LockRank::kLeaf, "buffer pool"};
  // [mu_] Retained buffers, oldest given back first. Reserved for
  // max_retained_buffers at construction, so Give never allocates under mu_.
  std::vector<Bytes> free_;
  Stats stats_;  // [mu_]
};

// The process-wide pool for frame buffers. Created on first use and never
// destroyed: threads of a server may still be running (and giving buffers
// back) while exit() runs static destructors, so a destroyed pool would be a
// use after free. What it retains at exit is bounded (see above) and still
// reachable, so leak checkers do not report it.
BufferPool& LargeBufferPool();

}  // namespace xdrd
