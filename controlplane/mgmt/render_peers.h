// Text of `ipopctl peers` and `ipopctl routes`. One line per peer or route, first word the kind,
// so scripts can grep/awk them, e.g.
//   peer 10.77.0.2       endpoint 10.99.0.2:5800        up   last-hello-ms 312 tx-ready yes
//        tx-key 3f0c9a1e5b7d2468 key-age-s 41 rx-packets ... (one line)
//   route 10.77.0.3/32 relayed to node 5c1f... learned up
#pragma once

#include <string>
#include <vector>

#include "controlplane/overlay/address.h"
#include "controlplane/runtime/dataplane_counters.h"
#include "controlplane/sessions/peer_sessions.h"
#include "shared/config.h"

namespace ipop::cp {

// The data path to a peer as `ipopctl peers` shows it (docs/nat.md).
struct PeerPath {
  bool relayed = false;
  overlay::RingAddress via;  // relayed: the link the data leaves through (zero: unknown)
  std::string why;           // "punching (attempt 1)", "punch failed: both symmetric, ..."
  std::string peer_nat;      // the peer's NAT class as it told us when punching ("" unknown)
};
struct PeerRow {
  PeerSessions::PeerStatus status;
  PeerTraffic traffic;  // since the peer got its table slot
  PeerPath path;
};
std::string PathText(const PeerPath& path);
// Learned peers get a second line: "  path direct (punched in 812 ms)" or
// "  path relayed via 3f2a... (punch failed: both symmetric, retry in 20 s)".
std::string RenderPeers(const std::vector<PeerRow>& peers);
// {"peers":[{...}]} with the same facts (`ipopctl --json peers`).
std::string RenderPeersJson(const std::vector<PeerRow>& peers);

struct PrefixRouteRow {
  PeerSessions::PrefixRoute route;  // announced by another member (router mode)
  bool kernel_route = false;        // also in the kernel's table (runtime/kernel_routes.h)
};
struct RoutesReport {
  std::vector<PeerSessions::PeerStatus> peers;  // a /32 each
  std::vector<PrefixRouteRow> prefix_routes;
  std::vector<PrefixConfig> announced;  // this node's subnets (router mode)
};
std::string RenderRoutes(const RoutesReport& r);
// {"routes":[...],"prefix_routes":[...],"announced":[...]} (`ipopctl --json routes`).
std::string RenderRoutesJson(const RoutesReport& r);

}  // namespace ipop::cp
