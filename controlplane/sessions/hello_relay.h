// How PeerSessions reaches a peer that has no direct path: its HELLOs travel as routed overlay
// messages to the peer's overlay node (OverlayHost implements this in the process).
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace ipop::cp {

// An overlay node address (160 bits, big endian) as the table and the HELLO relay carry it.
using NodeAddress = std::array<uint8_t, 20>;

class HelloRelay {
 public:
  virtual ~HelloRelay() = default;
  // false if there is no route to the node.
  virtual bool SendHello(const NodeAddress& to, std::span<const uint8_t> hello) = 0;
};

}  // namespace ipop::cp
