#include "dataplane/handoff.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <new>

namespace ipop::dp {
namespace {

constexpr uint64_t kLine = 64;

uint64_t RoundUp(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

}  // namespace

uint32_t HandoffRings::SlotsPerRing(uint32_t n_workers) {
  const uint32_t want = n_workers > 1 ? kInboundSlots / (n_workers - 1) : kMinSlots;
  uint32_t slots = kMinSlots;
  while (slots * 2 <= want) slots *= 2;  // a power of two, as SpscRingView needs
  return slots;
}

HandoffRings::HandoffRings(uint32_t n_workers, uint32_t max_datagram)
    : n_workers_(n_workers),
      slots_(SlotsPerRing(n_workers)),
      slot_size_(uint32_t(RoundUp(sizeof(RingSlotHeader) + max_datagram, kLine))),
      ring_bytes_(sizeof(SpscRingShared) + uint64_t{slots_} * slot_size_),
      wake_(std::make_unique<Wake[]>(n_workers)) {
  const uint64_t pairs = uint64_t{n_workers} * n_workers;  // the diagonal stays unused
  const uint64_t bytes = pairs * ring_bytes_ + kLine;
  storage_ = std::make_unique<uint8_t[]>(bytes);  // zeroed: every index starts at 0
  base_ = reinterpret_cast<uint8_t*>(RoundUp(reinterpret_cast<uintptr_t>(storage_.get()), kLine));
  for (uint64_t i = 0; i < pairs; ++i) new (base_ + i * ring_bytes_) SpscRingShared{};
  for (uint32_t w = 0; w < n_workers; ++w) wake_[w].fd = eventfd(0, EFD_CLOEXEC);
}

HandoffRings::~HandoffRings() {
  for (uint32_t w = 0; w < n_workers_; ++w)
    if (wake_[w].fd >= 0) close(wake_[w].fd);
}

void HandoffRings::Notify(uint32_t to) {
  std::atomic_thread_fence(std::memory_order_seq_cst);  // the pushes before the flag load
  if (!wake_[to].sleeping.load(std::memory_order_relaxed) || wake_[to].fd < 0) return;
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = write(wake_[to].fd, &one, sizeof(one));
}

SpscRingView HandoffRings::Ring(uint32_t from, uint32_t to) {
  uint8_t* ring = base_ + (uint64_t{from} * n_workers_ + to) * ring_bytes_;
  return SpscRingView(reinterpret_cast<SpscRingShared*>(ring), ring + sizeof(SpscRingShared),
                      slots_, slot_size_);
}

}  // namespace ipop::dp
