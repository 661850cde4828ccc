// refcount.h — an intrusive reference count that TSan, helgrind and DRD all
// understand, and RefPtr, the RAII owner of one reference.
//
// Threads: Ref() and Unref() from any thread, with or without locks held.
// The last Unref() deletes the object on the calling thread, so the object's
// destructor must take no lock (THREADING.md).
//
// Why the annotations: the count is an atomic, which TSan follows but
// helgrind and DRD do not. Without telling them, the memory the destructor
// touches would look raced by every thread that used the object before its
// last reference went. Each decrement is a "happens before" on the counter's
// address and the final one a "happens after", which is what the atomic's
// acquire/release ordering gives us in reality.
#pragma once

#include <atomic>
#include <utility>

#if defined(XDRD_VALGRIND_ANNOTATIONS) && __has_include(<valgrind/drd.h>) && \
    __has_include(<valgrind/helgrind.h>)
#include <valgrind/drd.h>
#define XDRD_DRD_HAPPENS_BEFORE(a) ANNOTATE_HAPPENS_BEFORE(a)
#define XDRD_DRD_HAPPENS_AFTER(a) ANNOTATE_HAPPENS_AFTER(a)
#undef ANNOTATE_HAPPENS_BEFORE
#undef ANNOTATE_HAPPENS_AFTER
#include <valgrind/helgrind.h>
#define XDRD_HAPPENS_BEFORE(a)    \
  do {                            \
    XDRD_DRD_HAPPENS_BEFORE(a);   \
    ANNOTATE_HAPPENS_BEFORE(a);   \
  } while (0)
#define XDRD_HAPPENS_AFTER(a)     \
  do {                            \
    XDRD_DRD_HAPPENS_AFTER(a);    \
    ANNOTATE_HAPPENS_AFTER(a);    \
  } while (0)
#else
#define XDRD_HAPPENS_BEFORE(a) ((void)(a))
#define XDRD_HAPPENS_AFTER(a) ((void)(a))
#endif

namespace xdrd {

// Derive from RefCounted<T>; the object starts with one reference, owned by
// whoever created it (usually adopted into a RefPtr).
template <typename T>
class RefCounted {
 public:
  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    XDRD_HAPPENS_BEFORE(&refs_);
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      XDRD_HAPPENS_AFTER(&refs_);
      delete static_cast<T*>(this);
    }
  }
 protected:
  RefCounted() = default;
  ~RefCounted() = default;

 private:
  std::atomic<int> refs_{1};
};

// Owns one reference. Moves transfer it; copies take another.
template <typename T>
class RefPtr {
 public:
  RefPtr() = default;
  // Takes over a reference the caller already owns (e.g. a new object's).
  static RefPtr Adopt(T* p) {
    RefPtr r;
    r.p_ = p;
    return r;
  }
  // Takes a new reference on p.
  static RefPtr Share(T* p) {
    if (p) p->Ref();
    return Adopt(p);
  }
  RefPtr(const RefPtr& o) : p_(o.p_) {
    if (p_) p_->Ref();
  }
  RefPtr(RefPtr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  RefPtr& operator=(RefPtr o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~RefPtr() { reset(); }

  void reset() {
    if (T* p = std::exchange(p_, nullptr)) p->Unref();
  }
  T* get() const { return p_; }
  T* operator->() const { return p_; }
  T& operator*() const { return *p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  T* p_ = nullptr;
};

// A new T, owned by the returned RefPtr (its first reference).
template <typename T, typename... Args>
RefPtr<T> MakeRef(Args&&... args) {
  return RefPtr<T>::Adopt(new T(std::forward<Args>(args)...));
}

}  // namespace xdrd
