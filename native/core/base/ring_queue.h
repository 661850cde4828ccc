// ring_queue.h — a FIFO in one circular array that allocates nothing while
// it has never held anything.
//
// Why not std::deque: libstdc++'s deque allocates a 512-byte block and its
// map (about 600 bytes) at construction, even if it never holds an element.
// A connection has two queues (frames read, frames to send), and an idle
// client, which is most of them on a daemon with thousands, never uses
// either (issue 18: an idle client must cost at most 2 KiB).
//
// Storage
//   Nothing until the first push_back; then room for 4, doubling when full
//   (elements are moved, in order, into the new array). When pop_front
//   empties a queue that has grown past kKeepSlots, the array is freed, so a
//   client that once had a burst does not hold it while idle; one at most
//   kKeepSlots large is kept, so a steady pipelined client does not
//   allocate and free per burst. clear() always frees it.
//
// Threads: none of its own; the owner's lock guards it.
//
// T must be nothrow-move-constructible: growth moves every element, and a
// throw halfway would lose some.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace xdrd {

template <typename T, size_t kKeepSlots = 16>
class RingQueue {
  static_assert(std::is_nothrow_move_constructible_v<T>, "growth moves the elements");

 public:
  RingQueue() = default;
  ~RingQueue() { clear(); }
  RingQueue(const RingQueue&) = delete;
  RingQueue& operator=(const RingQueue&) = delete;
  RingQueue(RingQueue&& other) noexcept
      : slots_(std::exchange(other.slots_, nullptr)),
        capacity_(std::exchange(other.capacity_, 0)),
        head_(std::exchange(other.head_, 0)),
        size_(std::exchange(other.size_, 0)) {}
  RingQueue& operator=(RingQueue&& other) noexcept {
    if (this != &other) {
      clear();
      slots_ = std::exchange(other.slots_, nullptr);
      capacity_ = std::exchange(other.capacity_, 0);
      head_ = std::exchange(other.head_, 0);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  // Slots allocated (0 while nothing is held and nothing was kept).
  size_t capacity() const { return capacity_; }

  // The i-th element from the front (0: the oldest); i < size().
  T& operator[](size_t i) { return slots_[Slot(i)]; }
  const T& operator[](size_t i) const { return slots_[Slot(i)]; }
  T& front() { return slots_[head_]; }
  const T& front() const { return slots_[head_]; }

  void push_back(T&& value) {
    if (size_ == capacity_) Grow();
    ::new (static_cast<void*>(slots_ + Slot(size_))) T(std::move(value));
    ++size_;
  }

  // Destroys the oldest element; the queue must not be empty.
  void pop_front() {
    std::destroy_at(slots_ + head_);
    head_ = (head_ + 1) & (capacity_ - 1);
    if (--size_ == 0) {
      head_ = 0;
      if (capacity_ > kKeepSlots) Release();
    }
  }

  // Destroys every element, oldest first, and frees the array.
  void clear() {
    while (size_ > 0) {
      std::destroy_at(slots_ + head_);
      head_ = (head_ + 1) & (capacity_ - 1);
      --size_;
    }
    head_ = 0;
    Release();
  }

 private:
  static constexpr uint32_t kFirstSlots = 4;  // a power of two, as every capacity

  size_t Slot(size_t i) const { return (head_ + i) & (size_t{capacity_} - 1); }

  void Grow() {
    const uint32_t bigger = capacity_ == 0 ? uint32_t{kFirstSlots} : 2 * capacity_;
    T* fresh = std::allocator<T>().allocate(bigger);
    for (uint32_t i = 0; i < size_; ++i) {
      T& from = slots_[Slot(i)];
      ::new (static_cast<void*>(fresh + i)) T(std::move(from));
      std::destroy_at(&from);
    }
    if (slots_ != nullptr) std::allocator<T>().deallocate(slots_, capacity_);
    slots_ = fresh;
    capacity_ = bigger;
    head_ = 0;
  }

  void Release() {
    if (slots_ == nullptr) return;
    std::allocator<T>().deallocate(slots_, capacity_);
    slots_ = nullptr;
    capacity_ = 0;
  }

  // 32-bit counts keep the queue at 24 bytes (a connection holds two);
  // no queue of a connection comes near 2^32 elements.
  T* slots_ = nullptr;
  uint32_t capacity_ = 0;  // 0 or a power of two
  uint32_t head_ = 0;      // slot of the oldest element
  uint32_t size_ = 0;
};

}  // namespace xdrd
