// Greedy routing over the link table: each hop hands the message to the link closest to the key
// (distance measured both ways round the ring), or keeps it when no link is closer than itself.
// On a consistent ring (every node linked to its true ring neighbours) this ends at the node
// closest to the key, because a node that is not the closest always has a neighbour closer to the
// key on the key's side. Far links only shorten the way.
//   exact            deliver only at the node whose address equals the key; else drop
//   nearest          deliver at the closest node
//   both-neighbours  deliver at the closest node and at the node on the key's other side, so the
//                    two nodes bracketing the key both get it (joins, replicas)
// With kRoutedExcludeSource the source can never be the result (a joining node looks for the
// neighbours of its own address). Leaf-only links are used only by a node with no other links.
#pragma once

#include <cstdint>

#include "controlplane/overlay/address.h"
#include "controlplane/overlay/link_table.h"
#include "controlplane/overlay/messages.h"

namespace ipop::cp::overlay {

struct RouteDecision {
  enum class Action : uint8_t {
    kDeliver,         // deliver here only
    kForward,         // send to `next`
    kDeliverAndCopy,  // deliver here and send a last-hop copy to `next` (both-neighbours)
    kDropNoRoute,     // no link to send to and this node may not take it
    kDropNoSuchNode,  // exact delivery: the closest node is not the key
    kDropHopLimit,
  };
  Action action = Action::kDropNoRoute;
  RingAddress next;
};

// `hops`/`hop_limit` as carried in the message (hops counts links already crossed).
RouteDecision DecideRoute(const LinkTable& links, const RingAddress& key, DeliveryMode mode,
                          uint8_t flags, const RingAddress& source, uint8_t hops,
                          uint8_t hop_limit);

}  // namespace ipop::cp::overlay
