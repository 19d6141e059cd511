// Text of `ipopctl status`: one fact per line, first word the key, values in one column, so
// scripts can grep/awk it, e.g.
//   peers-up                    1
// Renderers in mgmt/ take plain data (collected by mgmt/collect.h) and only format it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "controlplane/runtime/tap_address.h"

namespace ipop::cp {

// How this node holds its address in the DHT (directory/address_claim.h).
struct ClaimStatus {
  uint32_t vip = 0;       // 0: none yet
  bool fixed = false;     // node.vip (static) rather than allocated from the pool
  bool held = false;      // claimed and confirmed
  bool released = false;  // given back at shutdown
};
// "10.250.0.5 (allocated)", "10.77.0.1 (static, claimed)", "none (claiming)", ...
std::string RenderClaim(const ClaimStatus& c);

struct NodeStatus {
  std::string node;
  std::string network;
  uint32_t vip = 0;
  uint32_t prefix_len = 0;
  std::string tap;
  std::optional<ClaimStatus> address;  // none without the overlay (a static VIP, unclaimed)
  TapAddressState tap_address = TapAddressState::kNotManaged;
  uint64_t table_seq = 0;
  int32_t dp_pid = 0;
  bool dp_alive = false;
  uint64_t dp_instance = 0;
  bool dp_heartbeat_known = false;
  uint64_t dp_heartbeat_age_ns = 0;
  uint32_t dp_workers_running = 0;
  size_t peers_up = 0;
  size_t peers_total = 0;
  uint64_t uptime_ns = 0;
  int32_t cp_pid = 0;
  uint64_t cp_attach_count = 0;
};
std::string RenderStatus(const NodeStatus& s);
// The same as one JSON object (`ipopctl --json status`, docs/operations.md).
std::string RenderStatusJson(const NodeStatus& s);

// "assigned", "waiting-for-interface", "failed", "not-managed".
const char* TapAddressStateName(TapAddressState s);

}  // namespace ipop::cp
