// Single-producer single-consumer ring of fixed-size slots that lives in shared memory.
//
// The shared part (SpscRingShared) holds only the two free-running indices; the slot array sits
// elsewhere in the region. Capacity and slot size are never read from shared memory by the view:
// both processes compute them from the validated layout, so a corrupted peer cannot make us index
// outside the slot array. Indices read from the other side are checked (head <= tail <= head+cap);
// a violation marks the ring corrupt, which the caller counts and repairs with Reset().
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace ipop {

struct alignas(64) SpscRingShared {
  std::atomic<uint32_t> head;  // next slot the consumer reads; written by the consumer only
  uint8_t pad0[60];
  std::atomic<uint32_t> tail;  // next slot the producer writes; written by the producer only
  uint8_t pad1[60];
};
static_assert(std::atomic<uint32_t>::is_always_lock_free, "ring indices must be address-free");
static_assert(sizeof(SpscRingShared) == 128);

// Metadata stored in front of each slot's payload.
struct RingSlotHeader {
  uint32_t length;   // payload bytes that follow this header
  uint16_t kind;     // what the payload is (PuntKind / InjectKind in shm_layout.h)
  uint16_t port;     // underlay UDP port, host byte order (0 when not an underlay message)
  uint8_t addr[16];  // underlay IPv6 address or IPv4-mapped IPv6 address
  uint32_t worker;   // worker that produced / should send it
  uint32_t reserved;
};
static_assert(sizeof(RingSlotHeader) == 32);

class SpscRingView {
 public:
  SpscRingView() = default;
  // capacity must be a power of two; slot_size includes the RingSlotHeader.
  SpscRingView(SpscRingShared* shared, uint8_t* slots, uint32_t capacity, uint32_t slot_size)
      : shared_(shared), slots_(slots), mask_(capacity - 1), slot_size_(slot_size) {}

  bool valid() const { return shared_ != nullptr; }
  uint32_t capacity() const { return mask_ + 1; }
  uint32_t max_payload() const { return slot_size_ - uint32_t(sizeof(RingSlotHeader)); }

  // Producer side. Returns false when full or the payload does not fit (caller counts the drop).
  bool TryPush(const RingSlotHeader& meta, std::span<const uint8_t> payload) {
    if (payload.size() > max_payload()) [[unlikely]]
      return false;
    const uint32_t tail = shared_->tail.load(std::memory_order_relaxed);
    if (tail - cached_head_ > mask_) {
      cached_head_ = shared_->head.load(std::memory_order_acquire);
      if (tail - cached_head_ > mask_) return false;
    }
    uint8_t* slot = slots_ + size_t(tail & mask_) * slot_size_;
    RingSlotHeader h = meta;
    h.length = uint32_t(payload.size());
    std::memcpy(slot, &h, sizeof(h));
    if (!payload.empty()) std::memcpy(slot + sizeof(h), payload.data(), payload.size());
    shared_->tail.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Consumer side: a view of the oldest slot, valid until Pop(). Returns false when empty or
  // when the shared indices are inconsistent (then corrupt() is true).
  struct Entry {
    RingSlotHeader meta;
    std::span<const uint8_t> payload;
  };
  bool Peek(Entry& out) {
    const uint32_t head = shared_->head.load(std::memory_order_relaxed);
    // The cache may be stale (or from before a restart of this process): reload on empty or
    // on an impossible distance before declaring corruption.
    if (cached_tail_ - head == 0 || cached_tail_ - head > capacity()) {
      cached_tail_ = shared_->tail.load(std::memory_order_acquire);
      if (head == cached_tail_) return false;
    }
    if (cached_tail_ - head > capacity()) [[unlikely]] {
      corrupt_ = true;
      return false;
    }
    const uint8_t* slot = slots_ + size_t(head & mask_) * slot_size_;
    std::memcpy(&out.meta, slot, sizeof(out.meta));
    if (out.meta.length > max_payload()) [[unlikely]] {
      corrupt_ = true;  // producer wrote a length that does not fit the slot; skip the slot
      out.meta.length = 0;
    }
    out.payload = {slot + sizeof(RingSlotHeader), out.meta.length};
    return true;
  }
  void Pop() {
    shared_->head.store(shared_->head.load(std::memory_order_relaxed) + 1,
                        std::memory_order_release);
  }

  // Consumer-side repair after corruption: drop everything currently queued.
  void Reset() {
    cached_tail_ = shared_->tail.load(std::memory_order_acquire);
    shared_->head.store(cached_tail_, std::memory_order_release);
    corrupt_ = false;
  }
  bool corrupt() const { return corrupt_; }
  uint32_t size_approx() const {
    return shared_->tail.load(std::memory_order_acquire) -
           shared_->head.load(std::memory_order_acquire);
  }

 private:
  SpscRingShared* shared_ = nullptr;
  uint8_t* slots_ = nullptr;
  uint32_t mask_ = 0;
  uint32_t slot_size_ = 0;
  uint32_t cached_head_ = 0;  // producer's cache of the consumer index
  uint32_t cached_tail_ = 0;  // consumer's cache of the producer index
  bool corrupt_ = false;
};

}  // namespace ipop
