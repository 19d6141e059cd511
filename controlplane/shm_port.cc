#include "controlplane/shm_port.h"

#include <cstring>

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
  return ring_.valid() && ring_.TryPush(meta, payload);
}

bool InjectRingPort::SendUnderlay(const Endpoint& to, std::span<const uint8_t> datagram) {
  return Push(shm::InjectKind::kUnderlayDatagram, &to, datagram);
}

bool InjectRingPort::WriteTapFrame(std::span<const uint8_t> frame) {
  return Push(shm::InjectKind::kTapFrame, nullptr, frame);
}

}  // namespace ipop::cp
