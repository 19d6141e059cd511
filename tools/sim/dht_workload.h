// DHT workload for simulator scenarios: random live members put random keys with random TTLs,
// and other random live members read keys put earlier that have not expired. A read succeeds
// when the DHT answers (majority) and the answer holds the value, written by its writer.
// Operations whose client crashed before the answer are counted apart (abandoned).
#pragma once

#include <cstdint>
#include <vector>

#include "tools/sim/simulator.h"

namespace ipop::sim {

struct DhtWorkloadOptions {
  double puts_per_node_min = 0.5;
  double gets_per_put = 2;
  double ttl_min_s = 120;
  double ttl_max_s = 900;
  size_t value_bytes = 16;
};

struct DhtWorkloadStats {
  size_t puts_issued = 0, puts_ok = 0, puts_failed = 0;
  size_t gets_issued = 0, gets_ok = 0;  // ok: answered and holds the right value
  size_t gets_no_quorum = 0, gets_missing = 0;
  size_t abandoned = 0;  // no answer: the client crashed (or is still waiting)
  double latency_mean_ms = 0, latency_p99_ms = 0, attempts_mean = 0;
  double dht_msgs_per_node_s = 0;  // routed messages originated by DHT services
};

class DhtWorkload {
 public:
  DhtWorkload(Simulator& sim, const DhtWorkloadOptions& options);
  // Issues the operations due in the next `step_ns` (call once per scenario step).
  void Step(uint64_t step_ns);
  // `live_node_seconds`: integral of live nodes over the run (for per-node rates).
  DhtWorkloadStats Stats(double live_node_seconds) const;

 private:
  struct Written {
    cp::DhtKey key;
    cp::DhtOwner owner;
    std::vector<uint8_t> value;
    uint64_t expires_ns;
  };
  size_t RandomClient(const std::vector<size_t>& live);
  void IssuePut(size_t client);
  void IssueGet(size_t client);

  Simulator& sim_;
  DhtWorkloadOptions options_;
  double put_credit_ = 0, get_credit_ = 0;
  std::vector<Written> written_;  // successful puts, for reads
  DhtWorkloadStats stats_;
  size_t completed_ = 0;
  std::vector<double> latencies_ms_;
  double attempts_sum_ = 0;
};

}  // namespace ipop::sim
