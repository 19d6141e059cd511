// The process's Port: messages go into an inject ring that a dataplane worker drains and sends
// (underlay datagrams) or writes to the TAP (frames). One ring, one producer: this process.
// After a push it wakes the worker if that one blocks waiting for work (shared/worker_wake.h).
#pragma once

#include <cstdint>
#include <span>

#include "controlplane/runtime/port.h"
#include "shared/endpoint.h"
#include "shared/shm_layout.h"
#include "shared/spsc_ring.h"

namespace ipop::cp {

class InjectRingPort final : public Port {
 public:
  // `state`: the worker's WorkerState in the region, for the wake-up; null: never woken (the
  // worker then sees entries after its idle wait).
  InjectRingPort(SpscRingView ring, uint32_t worker, shm::WorkerState* state)
      : ring_(ring), worker_(worker), state_(state) {}
  bool SendUnderlay(const Endpoint& to, std::span<const uint8_t> datagram) override;
  bool WriteTapFrame(std::span<const uint8_t> frame) override;

 private:
  bool Push(shm::InjectKind kind, const Endpoint* to, std::span<const uint8_t> payload);
  SpscRingView ring_;
  uint32_t worker_;
  shm::WorkerState* state_;
};

}  // namespace ipop::cp
