// Text replies of the management commands `status`, `peers` and `counters`. One fact per line,
// first word the key, columns aligned, so scripts can grep/awk them, e.g.
//   peers-up                    1
//   peer 10.77.0.2       endpoint 10.99.0.2:5800        up   last-hello-ms 312 tx-ready yes
//        tx-key 3f0c9a1e5b7d2468 key-age-s 41 rx-packets ... (one line)
//   drop  no_route                       12
// Pure formatting of numbers the ControlPlane gathers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "controlplane/runtime/cp_counters.h"
#include "controlplane/runtime/dataplane_counters.h"
#include "controlplane/sessions/peer_sessions.h"
#include "shared/counters.h"

namespace ipop::cp {

struct NodeStatus {
  std::string node;
  std::string network;
  uint32_t vip = 0;
  uint32_t prefix_len = 0;
  std::string tap;
  std::string address;      // how the VIP is held, e.g. "10.250.0.5 (allocated)"; empty: static
  std::string tap_address;  // "assigned", "waiting-for-interface", "failed", "not-managed"
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
std::string FormatStatus(const NodeStatus& s);

// `traffic[i]` belongs to `peers[i]`.
std::string FormatPeers(const std::vector<PeerSessions::PeerStatus>& peers,
                        const std::vector<PeerTraffic>& traffic);

// "drop <name> <n>", "stat <name> <n>", "cp <name> <n>": non-zero counters only, or with `all`
// every counter (tests tell a zero from a name that does not exist).
std::string FormatCounters(const uint64_t (&drops)[kNumDropReasons],
                           const uint64_t (&stats)[kNumStats], const CpCounters& cp,
                           bool all = false);

}  // namespace ipop::cp
