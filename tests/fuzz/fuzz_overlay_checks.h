// State-machine invariants of an OverlayNode, checked through its public API by fuzz_overlay and
// fuzz_overlay_host after every step:
//   - no link to the node itself; links sorted by address, one per address;
//   - roles are known role bits only, and a link is near exactly when it is among the
//     near_per_side closest links on either side (an independent reference over distances);
//   - a LINK_REQUEST from an unknown node finds the table full (max_links) and is refused.
// Plus what one input may change: a datagram from node X adds or moves X's link only (to the
// endpoint it came from), and nothing else at all when it does not parse; a tick adds no link.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <map>
#include <span>
#include <vector>

#include "controlplane/overlay/messages.h"
#include "controlplane/overlay/overlay_node.h"

namespace ipop::fuzz {

struct LinkState {
  Endpoint endpoint;
  uint8_t roles;
  bool operator==(const LinkState&) const = default;
};
using LinkSnapshot = std::map<cp::overlay::RingAddress, LinkState>;

inline LinkSnapshot SnapLinks(const cp::overlay::OverlayNode& node) {
  LinkSnapshot s;
  for (const cp::overlay::Link& l : node.links().links()) s[l.address] = {l.endpoint, l.roles};
  return s;
}

inline void CheckOverlayNode(const cp::overlay::OverlayNode& node, size_t near_per_side) {
  using namespace cp::overlay;
  const RingAddress& self = node.address();
  const std::vector<Link>& links = node.links().links();
  constexpr uint8_t kKnownRoles = kRoleLeaf | kRoleNear | kRoleFarOut | kRoleFarIn | kRoleShortcut;
  for (size_t i = 0; i < links.size(); ++i) {
    if (links[i].address == self) std::abort();
    if (i > 0 && !(links[i - 1].address < links[i].address)) std::abort();
    if (links[i].roles & ~kKnownRoles) std::abort();
  }
  // Near: among the near_per_side smallest clockwise or counter-clockwise distances from us.
  for (const Link& l : links) {
    size_t closer_cw = 0, closer_ccw = 0;
    for (const Link& o : links) {
      closer_cw += ClockwiseDistance(self, o.address) < ClockwiseDistance(self, l.address);
      closer_ccw += ClockwiseDistance(o.address, self) < ClockwiseDistance(l.address, self);
    }
    const bool near = closer_cw < near_per_side || closer_ccw < near_per_side;
    if (near != ((l.roles & kRoleNear) != 0)) std::abort();
  }
}

// Checks what OnDatagram(from, d) may have done, given the links before it. `max_links`: the
// table limit for requests from unknown nodes.
inline void CheckDatagramEffect(const LinkSnapshot& before, const LinkSnapshot& after,
                                const Endpoint& from, std::span<const uint8_t> d,
                                size_t max_links) {
  using namespace cp::overlay;
  MessageView m;
  if (ParseMessage(d, &m) != MsgError::kNone) {
    if (after != before) std::abort();
    return;
  }
  for (const auto& [a, s] : after) {
    const auto was = before.find(a);
    if (a == m.sender) {
      if (was != before.end() && s.endpoint != was->second.endpoint && s.endpoint != from)
        std::abort();
      if (was == before.end() && s.endpoint != from) std::abort();
      continue;
    }
    // Another node's link: neither created nor moved by this datagram (roles may change).
    if (was == before.end() || was->second.endpoint != s.endpoint) std::abort();
  }
  for (const auto& [a, s] : before)
    if (a != m.sender && !after.count(a)) std::abort();
  if (m.type == MsgType::kLinkRequest && !before.count(m.sender) && before.size() >= max_links &&
      after.count(m.sender))
    std::abort();
}

// A tick may drop links and change roles, never add one or move one.
inline void CheckTickEffect(const LinkSnapshot& before, const LinkSnapshot& after) {
  for (const auto& [a, s] : after) {
    const auto was = before.find(a);
    if (was == before.end() || was->second.endpoint != s.endpoint) std::abort();
  }
}

}  // namespace ipop::fuzz
