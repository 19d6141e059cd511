// The links of one overlay node, by role (Brunet's connection types):
//   leaf      made through a bootstrap entry to get in; closed once the node has ring neighbours
//   near      the `near_per_side` closest nodes on each side: they keep the ring connected
//   far out   a far link this node drew from the harmonic (Symphony) distribution
//   far in    a far link another node drew and we accepted
//   shortcut  a direct link made because traffic flows between the two nodes
// A link can hold several roles; a link with no role left is surplus and is closed after a grace
// period. Liveness: a link not heard from for `probe_idle` is probed every `probe_interval` and
// declared dead after `dead_after_missed` unanswered probes.
// Links are kept sorted by address so ring neighbours are found by position.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "controlplane/overlay/address.h"
#include "shared/endpoint.h"

namespace ipop::cp::overlay {

inline constexpr uint8_t kRoleLeaf = 0x01;
inline constexpr uint8_t kRoleNear = 0x02;
inline constexpr uint8_t kRoleFarOut = 0x04;
inline constexpr uint8_t kRoleFarIn = 0x08;
inline constexpr uint8_t kRoleShortcut = 0x10;

struct Link {
  RingAddress address;
  Endpoint endpoint;
  uint8_t roles = 0;
  uint8_t missed_probes = 0;
  uint64_t created_ns = 0;
  uint64_t last_heard_ns = 0;
  uint64_t last_probe_ns = 0;
  uint64_t surplus_since_ns = 0;  // 0 while the link has a role
  uint64_t probe_token = 0;
  Endpoint told;  // the endpoint we last reported to the peer in an OBSERVED (its mapping)

  // Leaf-only links are the way in, not part of the ring: routing ignores them.
  bool structured() const { return roles != kRoleLeaf; }
};

struct LinkTimers {
  uint64_t probe_idle_ns = 15'000'000'000ull;
  uint64_t probe_interval_ns = 5'000'000'000ull;
  uint32_t dead_after_missed = 3;
  uint64_t surplus_grace_ns = 10'000'000'000ull;
};

class LinkTable {
 public:
  LinkTable(const RingAddress& self, size_t near_per_side, const LinkTimers& timers)
      : self_(self), near_per_side_(near_per_side), timers_(timers) {}

  const RingAddress& self() const { return self_; }
  size_t near_per_side() const { return near_per_side_; }
  const std::vector<Link>& links() const { return links_; }
  size_t size() const { return links_.size(); }
  size_t CountWithRole(uint8_t role) const;

  Link* Find(const RingAddress& a);
  const Link* Find(const RingAddress& a) const;
  // Adds `roles` to the link to `a` (created if absent, endpoint updated if present).
  Link& Upsert(const RingAddress& a, const Endpoint& ep, uint8_t roles, uint64_t now_ns);
  bool Remove(const RingAddress& a);
  void Heard(Link& l, uint64_t now_ns);

  // Gives the near role to the closest `near_per_side` links on each side and takes it from the
  // others. Returns true if the set of near links changed.
  bool RecomputeNear(uint64_t now_ns);
  // Closest links going clockwise (successors) / counter-clockwise (predecessors), nearest first.
  std::vector<const Link*> Successors(size_t n) const;
  std::vector<const Link*> Predecessors(size_t n) const;
  // True if a node at `a` would be among our near neighbours on either side.
  bool WouldBeNear(const RingAddress& a) const;
  // Network size from the spacing of our near neighbours (Symphony's estimate); 1 when alone.
  double EstimateSize() const;

  struct LivenessActions {
    std::vector<RingAddress> probe;  // send a keepalive now (probe_token/last_probe updated)
    std::vector<RingAddress> dead;   // missed too many probes: the caller removes them
  };
  void CheckLiveness(uint64_t now_ns, LivenessActions* out);
  // Links whose roles have been empty for the grace period.
  std::vector<RingAddress> Surplus(uint64_t now_ns) const;
  // The oldest far-out links beyond `target`: they lose the far-out role.
  std::vector<RingAddress> FarOutBeyond(size_t target) const;
  void ClearRole(const RingAddress& a, uint8_t role, uint64_t now_ns);

  // Bytes of state held (for the simulator's memory-per-node figure).
  size_t StateBytes() const { return sizeof(*this) + links_.capacity() * sizeof(Link); }

 private:
  size_t PositionOf(const RingAddress& a) const;  // lower bound in links_
  void UpdateSurplus(Link& l, uint64_t now_ns);

  RingAddress self_;
  size_t near_per_side_;
  LinkTimers timers_;
  std::vector<Link> links_;  // sorted by address
};

}  // namespace ipop::cp::overlay
