// The dataplane's counters as the control plane reads them from the shared region: every worker
// writes its own block (shared/counters.h); the control plane reads each (relaxed loads, no
// locks: the hot path only keeps counting).
#pragma once

#include <cstdint>
#include <vector>

#include "shared/counters.h"
#include "shared/shm_region.h"

namespace ipop::cp {

struct DataplaneTotals {
  uint64_t drops[kNumDropReasons] = {};
  uint64_t stats[kNumStats] = {};
};
// One entry per worker the region is laid out for, by worker index.
std::vector<DataplaneTotals> ReadWorkerCounters(shm::ShmRegion& region);

struct PeerTraffic {
  uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
};

// Per-peer traffic by table slot. A slot's counters keep running when another peer takes the
// slot, so the meter remembers each slot's value when its peer got it: a peer never shows the
// bytes of the one before.
class PeerTrafficMeter {
 public:
  explicit PeerTrafficMeter(shm::ShmRegion& region) : region_(region), baselines_(shm::kMaxPeers) {}
  // Summed over the workers, as the dataplane counts it (never goes back while it runs); zero
  // for a slot out of range.
  PeerTraffic Total(uint32_t slot) const;
  // Since `vip` got `slot` (the whole Total if the meter does not know `vip` there).
  PeerTraffic Since(uint32_t slot, uint32_t vip) const;
  // `vip` holds `slot` in the table just published: a new holder counts from now.
  void Assigned(uint32_t slot, uint32_t vip);
  // `vip` held `slot` in the table this control plane inherited: the counters are its own.
  void Inherited(uint32_t slot, uint32_t vip);

 private:
  struct Baseline {
    uint32_t vip = 0;
    PeerTraffic at_assignment;
  };
  shm::ShmRegion& region_;
  std::vector<Baseline> baselines_;  // by slot
};

}  // namespace ipop::cp
