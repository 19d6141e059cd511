#include "dataplane/punt_inject.h"

#include <cstring>

#include "shared/ether.h"
#include "shared/wire.h"

namespace ipop::dp {

void Punt(SpscRingView& ring, const Packet& p, shm::PuntKind kind, uint32_t worker,
          shm::WorkerCounters& counters, PuntBudget& budget, uint64_t now_ns) {
  // The control plane writes the head: never trust the distance to be within the capacity.
  const uint32_t used = ring.valid() ? ring.size_approx() : ring.capacity();
  const uint32_t free_slots = used < ring.capacity() ? ring.capacity() - used : 0;
  DropReason why{};
  if (!budget.Admit(kind, p, free_slots, ring.capacity(), now_ns, &why)) {
    Bump(counters.drop[uint32_t(why)]);
    return;
  }
  RingSlotHeader meta{};
  meta.kind = uint16_t(kind);
  meta.worker = worker;
  if (kind == shm::PuntKind::kUnderlayControl) {
    std::memcpy(meta.addr, p.addr, sizeof(meta.addr));
    meta.port = p.port;
  }
  if (ring.valid() && ring.TryPush(meta, {p.data, p.len})) {
    Bump(counters.stat[uint32_t(Stat::punted)]);
  } else {
    Bump(counters.drop[uint32_t(DropReason::punt_ring_full)]);
  }
}

InjectAction CheckInject(const SpscRingView::Entry& entry, uint32_t mtu) {
  const size_t len = entry.payload.size();
  switch (shm::InjectKind(entry.meta.kind)) {
    case shm::InjectKind::kUnderlayDatagram:
      if (len == 0 || len > wire::kMaxDatagram || entry.meta.port == 0)
        return InjectAction::kReject;
      return InjectAction::kSendUnderlay;
    case shm::InjectKind::kTapFrame:
      if (len < ether::kHeaderSize || len > ether::kHeaderSize + mtu) return InjectAction::kReject;
      return InjectAction::kWriteTap;
  }
  return InjectAction::kReject;
}

}  // namespace ipop::dp
