// The process's Port: messages go into an inject ring that a dataplane worker drains and sends
// (underlay datagrams) or writes to the TAP (frames). One ring, one producer: this process.
#pragma once

#include <cstdint>
#include <span>

#include "controlplane/port.h"
#include "shared/shm_layout.h"
#include "shared/spsc_ring.h"

namespace ipop::cp {

class InjectRingPort final : public Port {
 public:
  InjectRingPort(SpscRingView ring, uint32_t worker) : ring_(ring), worker_(worker) {}
  bool SendUnderlay(const Endpoint& to, std::span<const uint8_t> datagram) override;
  bool WriteTapFrame(std::span<const uint8_t> frame) override;

 private:
  bool Push(shm::InjectKind kind, const Endpoint* to, std::span<const uint8_t> payload);
  SpscRingView ring_;
  uint32_t worker_;
};

}  // namespace ipop::cp
