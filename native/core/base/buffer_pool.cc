// buffer_pool.cc — see buffer_pool.h for the bounds and the threads.
#include "base/buffer_pool.h"

#include <mutex>
#include <utility>

namespace xdrd {

BufferPool::BufferPool(const Limits& limits) : limits_(limits) {
  free_.reserve(limits_.max_retained_buffers);
}

BufferPool::Bytes BufferPool::Take(size_t min_capacity, size_t max_capacity) {
  if (max_capacity < min_capacity) max_capacity = min_capacity;
  if (Poolable(min_capacity)) {
    std::lock_guard<RankedMutex> lock(mu_);
    size_t best = free_.size();
    for (size_t i = 0; i < free_.size(); ++i) {
      const size_t cap = free_[i].capacity();
      if (cap < min_capacity || cap > max_capacity) continue;
      if (best == free_.size() || cap < free_[best].capacity()) best = i;
    }
    if (best != free_.size()) {
      Bytes found = std::move(free_[best]);
      // erase, not swap-with-last: free_ stays in the order buffers came
      // back, which is what Give pushes out by.
      free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(best));
      stats_.retained_bytes -= found.capacity();
      stats_.retained_buffers = free_.size();
      ++stats_.hits;
      return found;
    }
    ++stats_.misses;
  }
  // Allocated outside the lock.
  Bytes fresh;
  fresh.reserve(min_capacity);
  return fresh;
}

void BufferPool::Give(Bytes&& bytes) {
  // Both are declared before the lock so that whatever they still own when
  // this returns is freed after the lock is released.
  Bytes incoming = std::move(bytes);
  Bytes pushed_out;
  const size_t cap = incoming.capacity();
  if (cap == 0) return;  // moved from: nothing to keep, no lock taken
  if (!Poolable(cap)) return;  // freed normally (and not counted: never ours)
  incoming.clear();
  std::lock_guard<RankedMutex> lock(mu_);
  auto fits = [&](size_t count, size_t bytes_held) {
    return count < limits_.max_retained_buffers && bytes_held + cap <= limits_.max_retained_bytes;
  };
  if (!fits(free_.size(), stats_.retained_bytes) && !free_.empty() &&
      fits(free_.size() - 1, stats_.retained_bytes - free_.front().capacity())) {
    // Full, but there is room once the oldest buffer goes: prefer the size
    // in use now over one that came back longest ago.
    pushed_out = std::move(free_.front());
    free_.erase(free_.begin());
    stats_.retained_bytes -= pushed_out.capacity();
    ++stats_.dropped;
  }
  if (fits(free_.size(), stats_.retained_bytes)) {
    stats_.retained_bytes += cap;
    free_.push_back(std::move(incoming));  // within the reserved capacity
    ++stats_.kept;
  } else {
    ++stats_.dropped;
  }
  stats_.retained_buffers = free_.size();
}

BufferPool::Stats BufferPool::stats() const {
  std::lock_guard<RankedMutex> lock(mu_);
  return stats_;
}

BufferPool& LargeBufferPool() {
  // Deliberately never destroyed (see the header): a leaked owner is the
  // point here, so no smart pointer.
  static BufferPool* const pool = new BufferPool();
  return *pool;
}

}  // namespace xdrd
