// Sample reports shared by the management renderer tests (text: test_mgmt_render.cc, JSON:
// test_mgmt_json.cc), so both render the same facts.
#pragma once

#include "controlplane/mgmt/render_status.h"
#include "tests/unit/cp_fakes.h"

namespace ipop::cp {

inline NodeStatus SampleStatus() {
  NodeStatus s;
  s.node = "alpha";
  s.network = "lab";
  s.vip = testing::Ip(10, 77, 0, 1);
  s.prefix_len = 24;
  s.tap = "ipop0";
  s.address = ClaimStatus{testing::Ip(10, 77, 0, 1), true, true, false};
  s.tap_address = TapAddressState::kAssigned;
  s.table_seq = 7;
  s.dp_pid = 1234;
  s.dp_alive = true;
  s.dp_instance = 0xabc;
  s.dp_heartbeat_known = true;
  s.dp_heartbeat_age_ns = 12'500'000;
  s.dp_workers_running = 2;
  s.peers_up = 1;
  s.peers_total = 3;
  s.uptime_ns = 61'900'000'000ull;
  s.cp_pid = 99;
  s.cp_attach_count = 4;
  return s;
}

}  // namespace ipop::cp
