// Text of `ipopctl ring`, `ipopctl links` and the `ipopctl dht` replies: this node's place in the
// overlay, its links, and the outcome of an operator's DHT operation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "controlplane/dht/dht_service.h"
#include "controlplane/mgmt/render_status.h"
#include "controlplane/overlay/address.h"
#include "shared/endpoint.h"

namespace ipop::cp {

struct LinkRow {
  overlay::RingAddress address;
  Endpoint endpoint;
  uint8_t roles = 0;  // overlay::kRole* bits (overlay/link_table.h)
  uint64_t age_ns = 0;
  uint64_t heard_ago_ns = 0;
};
// "link <address> <endpoint> <roles> age 12.5s heard 0.3s ago", or "no links".
std::string RenderLinks(const std::vector<LinkRow>& links);
std::string RenderLinksJson(const std::vector<LinkRow>& links);

struct RingReport {
  overlay::RingAddress address;
  Endpoint endpoint;
  bool joined = false;
  std::vector<LinkRow> links;                     // every link (roles counted)
  std::vector<LinkRow> successors, predecessors;  // near neighbours, nearest first
  double estimated_size = 1;
  size_t far_target = 0;
  size_t dht_keys = 0;
  size_t dht_pending_ops = 0;
  bool directory_published = false;  // our VIP directory record is held
  std::optional<ClaimStatus> claim;  // none: no address in the DHT
  std::string nat = "unknown";       // NAT class from the links' reports (docs/nat.md)
  std::string candidates;            // "local 10.1.0.2:5800, reflexive 172.31.200.2:5800"
};
std::string RenderRing(const RingReport& r);
std::string RenderRingJson(const RingReport& r);

// "ok after 2 attempts, 35 ms" or "error: no quorum after ... (reason)"; a get's values follow,
// one per line.
std::string RenderDhtReply(const DhtResult& r, bool is_get);
// {"outcome":"ok",...,"values":[...]}; a failed operation is {"error":...} like every error.
std::string RenderDhtReplyJson(const DhtResult& r, bool is_get);

}  // namespace ipop::cp
