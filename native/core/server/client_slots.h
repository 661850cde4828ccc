// client_slots.h — a server's client limits (max_clients and, with
// require_authorization, max_unauthenticated_clients) counted as slots, so
// that the loop thread can reserve a client's place before accept4() with
// no lock held (THREADING.md, "Accepting").
//
// Threads and locks
//   Reserve() and CancelReservation(): the loop thread, in a listener's
//   callback, no lock. The releases: whoever ends what the slot was held
//   for, under the server lock (the loop thread reaping; a worker or the
//   loop thread applying an authorization). Only the loop thread takes
//   slots, so a release never makes a reservation fail; it can only make
//   one succeed that would have failed a moment earlier.
//
// Why atomics and not the server lock: a reservation must be decided before
// the accept, and the accept is what rule 4's exception keeps out of the
// server lock. A compare-and-swap never lets a count pass its bound, even
// for an instant, so no thread ever sees more slots taken than the limit.
// The counts carry no data between threads; the client list itself changes
// under the server lock as before.
#pragma once

#include <atomic>
#include <cstdint>

namespace xdrd {

class ClientSlots {
 public:
  // `max_unauthenticated` bounds only when `bound_unauthenticated`.
  ClientSlots(uint32_t max_clients, bool bound_unauthenticated, uint32_t max_unauthenticated)
      : max_clients_(max_clients),
        bound_unauthenticated_(bound_unauthenticated),
        max_unauthenticated_(max_unauthenticated) {}
  ClientSlots(const ClientSlots&) = delete;
  ClientSlots& operator=(const ClientSlots&) = delete;

  // Loop thread, no lock: takes a client slot and, when the unauthenticated
  // are bounded, an unauthenticated slot with it. False, taking nothing,
  // when either bound is reached. The reservation then becomes the client's
  // (adopted: nothing changes here) or is cancelled.
  bool Reserve() {
    if (!TakeBelow(clients_, max_clients_)) return false;
    if (bound_unauthenticated_ && !TakeBelow(unauthenticated_, max_unauthenticated_)) {
      Give(clients_);
      return false;
    }
    return true;
  }
  // Loop thread: a reservation that did not become a client (the accept
  // failed, or the connection came after the listeners stopped).
  void CancelReservation() {
    if (bound_unauthenticated_) Give(unauthenticated_);
    Give(clients_);
  }
  // Server lock: a client left (reaped), `still_unauthenticated` if it
  // never got its verdict.
  void ReleaseClient(bool still_unauthenticated) {
    if (still_unauthenticated) ReleaseUnauthenticated();
    Give(clients_);
  }
  // Server lock: a client got its verdict (it stays, but no longer counts
  // against max_unauthenticated_clients).
  void ReleaseUnauthenticated() {
    if (bound_unauthenticated_) Give(unauthenticated_);
  }

  // Any thread (tests, checks): slots taken now, reservations included.
  uint64_t clients_taken() const { return clients_.load(std::memory_order_acquire); }
  uint64_t unauthenticated_taken() const { return unauthenticated_.load(std::memory_order_acquire); }

 private:
  bool TakeBelow(std::atomic<uint64_t>& taken, uint64_t bound) {
    uint64_t now = taken.load(std::memory_order_acquire);
    do {
      if (now >= bound) return false;
    } while (!taken.compare_exchange_weak(now, now + 1, std::memory_order_acq_rel, std::memory_order_acquire));
    return true;
  }
  void Give(std::atomic<uint64_t>& taken) {
    taken.fetch_sub(1, std::memory_order_acq_rel);
  }

  const uint64_t max_clients_;
  const bool bound_unauthenticated_;
  const uint64_t max_unauthenticated_;
  std::atomic<uint64_t> clients_{0};          // clients in the list, plus reservations
  std::atomic<uint64_t> unauthenticated_{0};  // clients awaiting a verdict, plus reservations
};

}  // namespace xdrd
