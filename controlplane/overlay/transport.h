// How the overlay logic reaches the underlay. The process sends through the dataplane's inject
// ring; the simulator delivers into an event queue. Received datagrams come back in through
// OverlayNode::OnDatagram.
#pragma once

#include <cstdint>
#include <span>

#include "controlplane/overlay/address.h"
#include "shared/endpoint.h"

namespace ipop::cp::overlay {

class OverlayTransport {
 public:
  virtual ~OverlayTransport() = default;
  // One whole datagram (wire header included) for the node at `receiver` (zero: not known yet,
  // a LINK_REQUEST to a bootstrap entry). The process binds the datagram to that receiver so a
  // copy shown to another node is refused. false if it could not be queued.
  virtual bool Send(const Endpoint& to, const RingAddress& receiver,
                    std::span<const uint8_t> datagram) = 0;
};

}  // namespace ipop::cp::overlay
