// Simulator scenarios (docs/overlay.md, "Simulator"):
//   mass-join      `bootstrap` nodes start 50 ms apart, then all others within `join_window`
//   churn          mass join, then from t = 60 s a random node crashes and a new one joins every
//                  600 s / (churn_per_10min x N); lookups run throughout
//   bootstrap-loss mass join, every bootstrap node crashes at t = 60 s; at 120 s 20 new nodes join
//                  with a list of 200 dead entries and one live member
//   partition      mass join, the nodes split into two random halves at t = 60 s for
//                  `partition_s`, then the network heals
//   dht            mass join, then the DHT workload alone
// churn and dht run a DHT workload (dht_workload.h) from `dht_start_s` until the last 15 s.
// Each ends with `lookups` random nearest-delivery lookups in the last 15 s.
#pragma once

#include <cstdint>
#include <string>

#include "tools/sim/dht_workload.h"
#include "tools/sim/simulator.h"

namespace ipop::sim {

struct ScenarioOptions {
  std::string scenario = "mass-join";
  size_t nodes = 1000;
  uint64_t seed = 1;
  double duration_s = 600;
  size_t bootstrap = 16;
  double join_window_s = 10;
  size_t lookups = 2000;
  double churn_per_10min = 0.10;
  double partition_s = 90;
  bool verbose = false;
  double dht_start_s = 30;
  DhtWorkloadOptions dht;
  SimOptions sim;
};

struct ScenarioReport {
  bool ok = false;  // scenario ran (known name, sane options)
  std::string error;
  size_t nodes_final = 0;
  double consistent_at_s = -1;  // first time the whole ring was consistent after all starts
  double last_start_s = 0;
  bool consistent_at_end = false;
  size_t inconsistent_at_end = 0;
  LookupStats final_lookups;
  // churn
  size_t churn_events = 0;
  double consistent_fraction = 0;  // of 1-s checks during churn
  LookupStats churn_lookups;
  // bootstrap-loss / partition: seconds from the event to a consistent ring (-1: never)
  double reconsistent_after_event_s = -1;
  double sides_consistent_after_split_s = -1;
  size_t late_joiners = 0, late_joiners_in_ring = 0;
  bool dht_ran = false;
  DhtWorkloadStats dht;
  // cost
  double msgs_per_node_s = 0;         // whole run
  double msgs_per_node_s_steady = 0;  // second half of the run
  size_t state_bytes_per_node = 0;
  uint64_t events = 0;
  double wall_s = 0;
};

ScenarioReport RunScenario(const ScenarioOptions& options);
std::string FormatReport(const ScenarioOptions& options, const ScenarioReport& report);

}  // namespace ipop::sim
