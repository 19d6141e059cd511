#include "dataplane/punt_inject.h"

#include <cstring>

#include "shared/ether.h"
#include "shared/wire.h"

namespace ipop::dp {

void Punt(SpscRingView& ring, const Packet& p, shm::PuntKind kind, uint32_t worker,
          shm::WorkerCounters& counters) {
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
