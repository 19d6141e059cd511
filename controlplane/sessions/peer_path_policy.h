// How each learned peer is reached (docs/overlay.md, "Data peers"), decided once per path interval
// from plain inputs; the control plane applies the actions it returns:
//   used       traffic flowed to or from the peer since the last decision: it is in use (a learned
//              peer unused for overlay.peer-idle-s is forgotten)
//   recheck    a learned peer silent for longer than the peer timeout is looked up in the VIP
//              directory again (it may have moved), at most once per recheck interval
//   set path   a peer whose overlay node we have a link to is reached directly over that link;
//              any other learned peer is relayed through the overlay to its node
//   shortcut   a relayed peer earns a direct link (overlay shortcut) when its packets per second,
//              both directions together, reach overlay.shortcut-pps, or at once when the relayed
//              path has not carried a handshake for longer than the peer timeout
//   release    a shortcut link whose node no learned peer lives on any more loses its role
//   repair     a direct peer whose HELLOs stopped for half the peer timeout while its link stays
//              (a NAT rebinding: the mapping moved) goes relayed at once and the link is punched
//              again (docs/nat.md); it is direct again once the link is heard after that
// Configured peers only get the use mark. No I/O: time comes from a Clock, traffic as the slot's
// packet counters, so unit tests drive every decision (tests/unit/test_peer_path_policy.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "controlplane/overlay/address.h"
#include "controlplane/runtime/clock.h"
#include "shared/endpoint.h"

namespace ipop::cp {

struct PeerPathOptions {
  uint64_t interval_ns = 500'000'000;      // between two Decide calls: packets -> packets/s
  uint64_t recheck_ns = 5'000'000'000ull;  // a silent peer is looked up at most this often
  uint32_t peer_timeout_ms = 5000;         // network.peer-timeout-ms
  uint32_t shortcut_pps = 10;              // overlay.shortcut-pps
};

// One peer as the decision sees it (PeerSessions::PeerStatus, its slot's traffic, the overlay).
struct PeerPathInput {
  uint32_t vip = 0;
  uint32_t slot = 0;  // table slot
  bool learned = false;
  std::optional<overlay::RingAddress> node;  // the peer's overlay node, when known
  bool up = false;
  bool heard = false;              // any HELLO accepted
  uint64_t last_hello_age_ns = 0;  // valid when heard
  bool relayed = false;            // data goes through the overlay now
  Endpoint endpoint;               // where the peer's HELLOs come from
  // The slot's traffic so far (summed over the dataplane's workers); never goes back while the
  // peer holds the slot.
  uint64_t tx_packets = 0;
  uint64_t rx_packets = 0;
  std::optional<Endpoint> link;  // endpoint of our overlay link to `node`, if we have one
  uint64_t link_heard_ns = 0;    // when that link last carried anything from the node
};

struct PathAction {
  enum class Kind : uint8_t {
    kMarkUsed,
    kRecheck,
    kSetPath,
    kRequestShortcut,
    kReleaseShortcut,
    kRepairDirect,  // node, endpoint (the link's): punch the broken direct path again
  };
  enum class Why : uint8_t { kNone, kRelayFailing, kTraffic };  // kRequestShortcut
  Kind kind = Kind::kMarkUsed;
  uint32_t vip = 0;           // all but kReleaseShortcut
  overlay::RingAddress node;  // kRecheck (where the peer was), kRequestShortcut, kReleaseShortcut
  bool relayed = false;       // kSetPath
  Endpoint endpoint;          // kSetPath: where to send; kRequestShortcut: the peer's endpoint
  Why why = Why::kNone;
  double packets_per_s = 0;  // kRequestShortcut because of kTraffic
};

class PeerPathPolicy {
 public:
  PeerPathPolicy(const PeerPathOptions& options, const Clock& clock)
      : options_(options), clock_(clock) {}

  // Call once per options().interval_ns with every peer and the nodes our shortcut links go to.
  // Actions come in the order to apply them: per peer use mark, recheck, path, shortcut; then
  // the releases.
  std::vector<PathAction> Decide(const std::vector<PeerPathInput>& peers,
                                 const std::vector<overlay::RingAddress>& shortcut_links);
  // Thresholds changed (reload); the per-slot history is kept.
  void SetLimits(uint32_t peer_timeout_ms, uint32_t shortcut_pps) {
    options_.peer_timeout_ms = peer_timeout_ms;
    options_.shortcut_pps = shortcut_pps;
  }
  const PeerPathOptions& options() const { return options_; }

 private:
  // Per table slot; starts over when another peer takes the slot.
  struct SlotHistory {
    uint32_t vip = 0;
    uint64_t packets = 0;                // tx + rx at the last decision
    uint64_t relayed_down_since_ns = 0;  // relayed and not up since then (0: fine)
    uint64_t next_recheck_ns = 0;        // silent learned peer: next directory lookup
    uint64_t direct_broken_ns = 0;       // linked, but the direct path went silent then (0: fine)
  };

  PeerPathOptions options_;
  const Clock& clock_;
  std::vector<SlotHistory> slots_;
};

}  // namespace ipop::cp
