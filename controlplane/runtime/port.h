// Where the control-plane logic sends what it produces. The process implements it with the inject
// ring of worker 0 (shm_port.h); tests and the simulator use in-memory fakes.
#pragma once

#include <cstdint>
#include <span>

#include "shared/endpoint.h"

namespace ipop::cp {

class Port {
 public:
  virtual ~Port() = default;
  // One UDP datagram on the underlay (whole wire packet incl. header). false if it was dropped.
  virtual bool SendUnderlay(const Endpoint& to, std::span<const uint8_t> datagram) = 0;
  // One Ethernet frame written to the node's TAP. false if it was dropped.
  virtual bool WriteTapFrame(std::span<const uint8_t> frame) = 0;
};

}  // namespace ipop::cp
