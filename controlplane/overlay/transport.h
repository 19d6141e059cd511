// How the overlay logic reaches the underlay. The process sends through the dataplane's inject
// ring; the simulator delivers into an event queue. Received datagrams come back in through
// OverlayNode::OnDatagram.
#pragma once

#include <cstdint>
#include <span>

#include "shared/config.h"

namespace ipop::cp::overlay {

class OverlayTransport {
 public:
  virtual ~OverlayTransport() = default;
  // One whole datagram (wire header included). false if it could not be queued.
  virtual bool Send(const Endpoint& to, std::span<const uint8_t> datagram) = 0;
};

}  // namespace ipop::cp::overlay
