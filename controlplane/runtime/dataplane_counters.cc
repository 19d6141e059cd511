#include "controlplane/runtime/dataplane_counters.h"

#include <algorithm>

namespace ipop::cp {

std::vector<DataplaneTotals> ReadWorkerCounters(shm::ShmRegion& region) {
  std::vector<DataplaneTotals> workers(region.layout().n_workers);
  for (uint32_t w = 0; w < workers.size(); ++w) {
    const shm::WorkerCounters& c = region.counters(w);
    DataplaneTotals& t = workers[w];
    for (uint32_t i = 0; i < kNumDropReasons; ++i)
      t.drops[i] = c.drop[i].load(std::memory_order_relaxed);
    for (uint32_t i = 0; i < kNumStats; ++i) t.stats[i] = c.stat[i].load(std::memory_order_relaxed);
  }
  return workers;
}

PeerTraffic PeerTrafficMeter::Total(uint32_t slot) const {
  PeerTraffic t;
  if (slot >= shm::kMaxPeers) return t;
  for (uint32_t w = 0; w < region_.layout().n_workers; ++w) {
    const PeerCounters& c = region_.counters(w).peer[slot];
    t.rx_packets += c.rx_packets.load(std::memory_order_relaxed);
    t.rx_bytes += c.rx_bytes.load(std::memory_order_relaxed);
    t.tx_packets += c.tx_packets.load(std::memory_order_relaxed);
    t.tx_bytes += c.tx_bytes.load(std::memory_order_relaxed);
  }
  return t;
}

PeerTraffic PeerTrafficMeter::Since(uint32_t slot, uint32_t vip) const {
  PeerTraffic t = Total(slot);
  if (slot >= baselines_.size() || baselines_[slot].vip != vip) return t;
  const PeerTraffic& b = baselines_[slot].at_assignment;
  t.rx_packets -= std::min(t.rx_packets, b.rx_packets);
  t.rx_bytes -= std::min(t.rx_bytes, b.rx_bytes);
  t.tx_packets -= std::min(t.tx_packets, b.tx_packets);
  t.tx_bytes -= std::min(t.tx_bytes, b.tx_bytes);
  return t;
}

void PeerTrafficMeter::Assigned(uint32_t slot, uint32_t vip) {
  if (slot >= baselines_.size() || baselines_[slot].vip == vip) return;
  baselines_[slot] = {vip, Total(slot)};
}

void PeerTrafficMeter::Inherited(uint32_t slot, uint32_t vip) {
  if (slot < baselines_.size()) baselines_[slot] = {vip, PeerTraffic{}};
}

}  // namespace ipop::cp
