// Rings between the workers of one dataplane process: a datagram that reached a worker other than
// its session's owner (session_owner.h) is copied into the ring from that worker to the owner.
// One SPSC ring per ordered pair of workers, so no ring has two producers or two consumers. The
// memory is the process's own (not the shared region): only workers of this process touch it.
//
// A worker that blocks in io_uring while a ring to it fills would add its idle wait to every
// handed-over datagram (and overflow the ring). So each worker has an eventfd it keeps a read
// armed on, and a `sleeping` flag: it sets the flag, checks its rings once more, then blocks; a
// producer that pushed something checks the flag and writes the eventfd. Both sides put a
// seq_cst fence between their store and their load, so one of them always sees the other.
// The eventfd is blocking on purpose: io_uring completes a read of an O_NONBLOCK file that has
// nothing with -EAGAIN at once instead of waiting, which would turn every idle wait into a spin.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "shared/spsc_ring.h"

namespace ipop::dp {

class HandoffRings {
 public:
  // Every worker can take in about kInboundSlots datagrams from the others (a few GRO trains),
  // split over the n - 1 rings to it; at least kMinSlots each.
  static constexpr uint32_t kInboundSlots = 2048;
  static constexpr uint32_t kMinSlots = 128;
  static uint32_t SlotsPerRing(uint32_t n_workers);

  // Slots hold a RingSlotHeader and a datagram of up to max_datagram bytes. Without eventfds
  // (*error set) the rings still work; consumers then notice entries after their idle wait.
  HandoffRings(uint32_t n_workers, uint32_t max_datagram);
  ~HandoffRings();
  HandoffRings(const HandoffRings&) = delete;
  HandoffRings& operator=(const HandoffRings&) = delete;

  uint32_t n_workers() const { return n_workers_; }
  // The ring `from` produces into and `to` consumes from (both < n_workers, from != to). Each
  // side keeps its own copy of the view: the producer's and consumer's caches are separate.
  SpscRingView Ring(uint32_t from, uint32_t to);
  uint32_t slots() const { return slots_; }

  // Consumer side, around a blocking wait. Sleep() returns the worker's eventfd (-1: none).
  int wake_fd(uint32_t w) const { return wake_[w].fd; }
  void Sleep(uint32_t w) {
    wake_[w].sleeping.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // before re-checking the rings
  }
  void Awake(uint32_t w) { wake_[w].sleeping.store(false, std::memory_order_relaxed); }
  // Producer side, once per burst after pushing to `to`'s ring: a syscall only if it sleeps.
  void Notify(uint32_t to);

 private:
  uint32_t n_workers_;
  uint32_t slots_;
  uint32_t slot_size_;
  uint64_t ring_bytes_;  // SpscRingShared + slots, cache-line multiple
  std::unique_ptr<uint8_t[]> storage_;
  uint8_t* base_;  // storage_ aligned to 64
  struct alignas(64) Wake {
    std::atomic<bool> sleeping{false};
    int fd = -1;
  };
  std::unique_ptr<Wake[]> wake_;
};

}  // namespace ipop::dp
