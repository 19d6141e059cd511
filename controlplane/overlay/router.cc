#include "controlplane/overlay/router.h"

namespace ipop::cp::overlay {
namespace {

using Action = RouteDecision::Action;

// Candidate links: structured ones, or leaf links when the node has nothing else (joining).
template <typename Fn>
void ForEachCandidate(const LinkTable& links, bool exclude_source, const RingAddress& source,
                      Fn&& fn) {
  bool any_structured = false;
  for (const Link& l : links.links()) any_structured |= l.structured();
  for (const Link& l : links.links()) {
    if (any_structured && !l.structured()) continue;
    if (exclude_source && l.address == source) continue;
    fn(l);
  }
}

}  // namespace

RouteDecision DecideRoute(const LinkTable& links, const RingAddress& key, DeliveryMode mode,
                          uint8_t flags, const RingAddress& source, uint8_t hops,
                          uint8_t hop_limit) {
  RouteDecision d;
  const RingAddress& self = links.self();
  const bool exclude_source = flags & kRoutedExcludeSource;
  if (flags & kRoutedLastHop) {
    d.action = Action::kDeliver;
    return d;
  }
  const Link* best = nullptr;
  ForEachCandidate(links, exclude_source, source, [&](const Link& l) {
    if (!best || CloserTo(key, l.address, best->address)) best = &l;
  });
  const bool self_eligible = !(exclude_source && self == source);
  const bool self_closest = self_eligible && (!best || CloserTo(key, self, best->address));
  if (!self_closest) {
    if (!best) {
      d.action = Action::kDropNoRoute;
    } else if (hops >= hop_limit) {
      d.action = Action::kDropHopLimit;
    } else {
      d.action = Action::kForward;
      d.next = best->address;
    }
    return d;
  }
  switch (mode) {
    case DeliveryMode::kExact:
      d.action = self == key ? Action::kDeliver : Action::kDropNoSuchNode;
      return d;
    case DeliveryMode::kNearest:
      d.action = Action::kDeliver;
      return d;
    case DeliveryMode::kBothNeighbours:
      break;
  }
  // We are one of the two nodes bracketing the key; the other is our nearest link on the key's
  // side (clockwise if the key lies clockwise of us within half the ring).
  const bool key_clockwise = ClockwiseDistance(self, key) <= ClockwiseDistance(key, self);
  const Link* other = nullptr;
  RingAddress other_dist;
  ForEachCandidate(links, exclude_source, source, [&](const Link& l) {
    const RingAddress dist =
        key_clockwise ? ClockwiseDistance(self, l.address) : ClockwiseDistance(l.address, self);
    if (!other || dist < other_dist) {
      other = &l;
      other_dist = dist;
    }
  });
  d.action = other ? Action::kDeliverAndCopy : Action::kDeliver;
  if (other) d.next = other->address;
  return d;
}

}  // namespace ipop::cp::overlay
