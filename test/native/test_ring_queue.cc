// RingQueue (base/ring_queue.h): FIFO order through wrap-around and growth,
// no storage while it has never held anything, the storage given back when
// a large queue empties and kept when a small one does, and every element
// destroyed exactly once (pop, clear, destructor, growth's moves).
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <utility>

#include "base/ring_queue.h"
#include "check.h"

using xdrd::RingQueue;

namespace {

// Counts live instances (moved-from ones included, until destroyed), so a
// leaked or doubly destroyed element shows.
struct Tracked {
  static int live;
  int value;
  explicit Tracked(int v) : value(v) { ++live; }
  Tracked(Tracked&& o) noexcept : value(o.value) {
    o.value = -1;
    ++live;
  }
  Tracked& operator=(Tracked&&) = delete;
  ~Tracked() { --live; }
};
int Tracked::live = 0;

}  // namespace

XT_TEST(new_queue_holds_no_storage) {
  RingQueue<Tracked> q;
  XT_CHECK(q.empty());
  XT_CHECK_EQ(q.size(), size_t{0});
  XT_CHECK_EQ(q.capacity(), size_t{0});
}

XT_TEST(fifo_order_through_growth) {
  RingQueue<Tracked> q;
  for (int i = 0; i < 100; ++i) q.push_back(Tracked(i));
  XT_CHECK_EQ(q.size(), size_t{100});
  XT_CHECK_EQ(q.capacity(), size_t{128});
  for (int i = 0; i < 100; ++i) XT_CHECK_EQ(q[static_cast<size_t>(i)].value, i);
  for (int i = 0; i < 100; ++i) {
    XT_REQUIRE(!q.empty());
    XT_CHECK_EQ(q.front().value, i);
    q.pop_front();
  }
  XT_CHECK(q.empty());
  XT_CHECK_EQ(Tracked::live, 0);
}

// Growth while the live elements wrap past the end of the array must keep
// their order.
XT_TEST(growth_while_wrapped_keeps_order) {
  RingQueue<Tracked> q;
  for (int i = 0; i < 4; ++i) q.push_back(Tracked(i));
  q.pop_front();
  q.pop_front();
  q.push_back(Tracked(4));
  q.push_back(Tracked(5));  // full, wrapped: slots hold 4 5 2 3
  XT_CHECK_EQ(q.capacity(), size_t{4});
  q.push_back(Tracked(6));  // grows
  XT_CHECK_EQ(q.capacity(), size_t{8});
  for (int want = 2; want <= 6; ++want) {
    XT_REQUIRE(!q.empty());
    XT_CHECK_EQ(q.front().value, want);
    q.pop_front();
  }
  XT_CHECK_EQ(Tracked::live, 0);
}

XT_TEST(matches_deque_under_random_use) {
  std::mt19937 rng(18);
  RingQueue<int> q;
  std::deque<int> ref;
  for (int step = 0; step < 20000; ++step) {
    // Bias towards pushing for the first half, popping for the second, so
    // it grows, shrinks to empty (releasing) and grows again.
    const bool push = ref.empty() || (rng() % 100) < (step < 10000 ? 60u : 40u);
    if (push) {
      q.push_back(int{step});
      ref.push_back(step);
    } else {
      XT_REQUIRE(q.front() == ref.front());
      q.pop_front();
      ref.pop_front();
    }
    XT_REQUIRE(q.size() == ref.size());
    if (!ref.empty()) XT_REQUIRE(q[ref.size() - 1] == ref.back());
  }
}

XT_TEST(emptied_large_queue_gives_its_storage_back) {
  RingQueue<int, 16> q;
  for (int i = 0; i < 17; ++i) q.push_back(int{i});
  XT_CHECK_EQ(q.capacity(), size_t{32});
  while (!q.empty()) q.pop_front();
  XT_CHECK_EQ(q.capacity(), size_t{0});
  q.push_back(1);  // and starts small again
  XT_CHECK_EQ(q.capacity(), size_t{4});
}

XT_TEST(emptied_small_queue_keeps_its_storage) {
  RingQueue<int, 16> q;
  for (int i = 0; i < 16; ++i) q.push_back(int{i});
  XT_CHECK_EQ(q.capacity(), size_t{16});
  while (!q.empty()) q.pop_front();
  XT_CHECK_EQ(q.capacity(), size_t{16});
}

XT_TEST(clear_destroys_every_element_and_frees) {
  RingQueue<Tracked> q;
  for (int i = 0; i < 3; ++i) q.push_back(Tracked(i));
  q.pop_front();
  for (int i = 3; i < 6; ++i) q.push_back(Tracked(i));  // wrapped
  XT_CHECK_EQ(Tracked::live, 5);
  q.clear();
  XT_CHECK_EQ(Tracked::live, 0);
  XT_CHECK(q.empty());
  XT_CHECK_EQ(q.capacity(), size_t{0});
}

XT_TEST(destructor_destroys_what_is_left) {
  {
    RingQueue<Tracked> q;
    for (int i = 0; i < 7; ++i) q.push_back(Tracked(i));
    q.pop_front();
  }
  XT_CHECK_EQ(Tracked::live, 0);
}

XT_TEST(holds_move_only_values) {
  RingQueue<std::unique_ptr<int>> q;
  for (int i = 0; i < 10; ++i) q.push_back(std::make_unique<int>(i));
  std::unique_ptr<int> first = std::move(q.front());
  q.pop_front();
  XT_REQUIRE(first != nullptr);
  XT_CHECK_EQ(*first, 0);
  XT_CHECK_EQ(*q.front(), 1);
}

XT_TEST(move_transfers_contents) {
  RingQueue<Tracked> a;
  for (int i = 0; i < 5; ++i) a.push_back(Tracked(i));
  RingQueue<Tracked> b(std::move(a));
  XT_CHECK(a.empty());
  XT_CHECK_EQ(a.capacity(), size_t{0});
  XT_CHECK_EQ(b.size(), size_t{5});
  RingQueue<Tracked> c;
  c.push_back(Tracked(99));
  c = std::move(b);  // c's own element is destroyed
  XT_CHECK_EQ(c.size(), size_t{5});
  XT_CHECK_EQ(c.front().value, 0);
  XT_CHECK_EQ(Tracked::live, 5);
  c.clear();
  XT_CHECK_EQ(Tracked::live, 0);
}
