// live_counts.cc — see live_counts.h.
#include "base/live_counts.h"

#include <pthread.h>

namespace xdrd {
namespace live_detail {

namespace {

// One thread's counters, on a cache line of their own, linked into the list
// ReadLiveCounts() walks.
struct alignas(64) Shard {
  std::atomic<int64_t> counts[kKinds] = {};
  Shard* prev = nullptr;
  Shard* next = nullptr;
};

// The list of live shards and what exited threads left. Constant-initialized
// and trivially destructible (a pthread mutex by its static initializer, not
// a RankedMutex): threads count until the very end of the process, after
// static destructors may have run. `mu` is a leaf: nothing is taken under
// it, and it is taken under any xdrd lock (a thread's first token).
struct Registry {
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  Shard* head = nullptr;                  // [mu]
  std::atomic<int64_t> retired[kKinds] = {};  // [atomic] exited threads' sums, and late tokens
};
Registry g_registry;

// Owns this thread's shard: links it at the thread's first token and folds
// it into `retired` when the thread exits.
struct ShardOwner {
  Shard shard;
  ShardOwner() noexcept {
    pthread_mutex_lock(&g_registry.mu);
    shard.next = g_registry.head;
    if (shard.next != nullptr) shard.next->prev = &shard;
    g_registry.head = &shard;
    pthread_mutex_unlock(&g_registry.mu);
  }
  ~ShardOwner();
};

thread_local Shard* t_shard = nullptr;
thread_local bool t_shard_gone = false;

ShardOwner::~ShardOwner() {
  pthread_mutex_lock(&g_registry.mu);
  for (int k = 0; k < kKinds; ++k)
    g_registry.retired[k].fetch_add(shard.counts[k].load(std::memory_order_relaxed), std::memory_order_relaxed);
  if (shard.prev != nullptr) shard.prev->next = shard.next;
  else g_registry.head = shard.next;
  if (shard.next != nullptr) shard.next->prev = shard.prev;
  pthread_mutex_unlock(&g_registry.mu);
  // Tokens this thread still touches in its exit (other thread_local
  // objects destroyed after this one) count in the shared sums.
  t_shard = nullptr;
  t_shard_gone = true;
}

}  // namespace

std::atomic<int64_t>* ThisThreadCounts() noexcept {
  if (Shard* s = t_shard) return s->counts;
  if (t_shard_gone) return g_registry.retired;
  thread_local ShardOwner owner;
  t_shard = &owner.shard;
  return owner.shard.counts;
}

}  // namespace live_detail

LiveCounts ReadLiveCounts() {
  using namespace live_detail;
  int64_t sum[kKinds];
  pthread_mutex_lock(&g_registry.mu);
  for (int k = 0; k < kKinds; ++k) sum[k] = g_registry.retired[k].load(std::memory_order_relaxed);
  for (const Shard* s = g_registry.head; s != nullptr; s = s->next)
    for (int k = 0; k < kKinds; ++k) sum[k] += s->counts[k].load(std::memory_order_relaxed);
  pthread_mutex_unlock(&g_registry.mu);
  return {sum[kClient], sum[kJob], sum[kMessage], sum[kThread]};
}

}  // namespace xdrd
