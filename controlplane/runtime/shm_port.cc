#include "controlplane/runtime/shm_port.h"

#include <cstring>

#include "shared/worker_wake.h"

namespace ipop::cp {

bool InjectRingPort::Push(shm::InjectKind kind, const Endpoint* to,
                          std::span<const uint8_t> payload) {
  RingSlotHeader meta{};
  meta.kind = uint16_t(kind);
  if (to != nullptr) {
    meta.port = to->port;
    std::memcpy(meta.addr, to->addr, sizeof(meta.addr));
  }
  meta.worker = worker_;
  if (!ring_.valid() || !ring_.TryPush(meta, payload)) return false;
  if (state_ != nullptr) shm::WakeWorker(*state_);
  return true;
}

bool InjectRingPort::SendUnderlay(const Endpoint& to, std::span<const uint8_t> datagram) {
  return Push(shm::InjectKind::kUnderlayDatagram, &to, datagram);
}

bool InjectRingPort::WriteTapFrame(std::span<const uint8_t> frame) {
  return Push(shm::InjectKind::kTapFrame, nullptr, frame);
}

}  // namespace ipop::cp
