// ARP proxy on the TAP: the host asks "who has 10.77.0.2?" and we answer with the gateway MAC
// for every virtual IP the table routes to a peer, so the kernel hands those packets to the TAP
// where the dataplane takes them. Unknown addresses get no answer (the host then reports them
// unreachable), exactly like a LAN without that host; the miss handler hears about those inside
// the node's own subnet, so the overlay can look them up and the host's next ARP retry succeeds.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <utility>
#include <vector>

#include "controlplane/runtime/cp_counters.h"
#include "controlplane/runtime/port.h"
#include "shared/table.h"

namespace ipop::cp {

class ArpResponder {
 public:
  ArpResponder(Port& port, CpCounters& counters) : port_(port), counters_(counters) {}
  // Answerable addresses and the MAC to answer with come from the table being published.
  void SetTable(const shm::TableSpec& spec);
  // A frame the dataplane punted from the TAP.
  void OnTapFrame(std::span<const uint8_t> frame);
  bool Answers(uint32_t ip) const;
  void SetMissHandler(std::function<void(uint32_t ip)> fn) { miss_ = std::move(fn); }

 private:
  Port& port_;
  CpCounters& counters_;
  std::function<void(uint32_t ip)> miss_;
  uint32_t local_vip_ = 0;
  uint32_t local_prefix_len_ = 32;
  uint32_t service_ip_ = 0;
  uint8_t mac_[6] = {};
  std::vector<uint32_t> hosts_;                         // sorted /32 peer VIPs
  std::vector<std::pair<uint32_t, uint8_t>> prefixes_;  // (masked prefix, length < 32)
};

}  // namespace ipop::cp
