#include "controlplane/sessions/peer_path_policy.h"

#include <algorithm>

namespace ipop::cp {

std::vector<PathAction> PeerPathPolicy::Decide(
    const std::vector<PeerPathInput>& peers,
    const std::vector<overlay::RingAddress>& shortcut_links) {
  const double seconds = double(options_.interval_ns) / 1e9;
  const uint64_t timeout_ns = uint64_t{options_.peer_timeout_ms} * 1'000'000ull;
  std::vector<PathAction> out;
  std::vector<overlay::RingAddress> in_use;
  for (const PeerPathInput& p : peers) {
    if (p.slot >= slots_.size()) slots_.resize(size_t{p.slot} + 1);
    SlotHistory& h = slots_[p.slot];
    const uint64_t packets = p.tx_packets + p.rx_packets;
    if (h.vip != p.vip) h = SlotHistory{p.vip, packets, 0, 0, 0};
    const uint64_t delta = packets >= h.packets ? packets - h.packets : 0;
    h.packets = packets;
    if (delta > 0) out.push_back({.kind = PathAction::Kind::kMarkUsed, .vip = p.vip});
    if (!p.learned || !p.node) continue;
    const overlay::RingAddress& node = *p.node;
    in_use.push_back(node);
    const uint64_t now = clock_.NowNs();
    if (!p.up && p.heard && p.last_hello_age_ns > timeout_ns && now >= h.next_recheck_ns) {
      h.next_recheck_ns = now + options_.recheck_ns;
      out.push_back({.kind = PathAction::Kind::kRecheck, .vip = p.vip, .node = node});
    }
    if (p.link) {
      // A direct path whose HELLOs stopped while the link stays (its keepalives take far longer
      // to declare it dead) has most likely lost its NAT mapping: relay meanwhile, punch again,
      // and go direct once the link is heard after the break.
      const bool stale = p.heard && p.last_hello_age_ns > timeout_ns / 2;
      if (h.direct_broken_ns == 0 && stale && !p.relayed) {
        h.direct_broken_ns = now;
        out.push_back({.kind = PathAction::Kind::kRepairDirect,
                       .vip = p.vip,
                       .node = node,
                       .endpoint = *p.link});
      } else if (h.direct_broken_ns != 0 && p.link_heard_ns > h.direct_broken_ns) {
        h.direct_broken_ns = 0;
      }
      if (h.direct_broken_ns == 0) {
        out.push_back({.kind = PathAction::Kind::kSetPath, .vip = p.vip, .endpoint = *p.link});
        continue;
      }
      out.push_back({.kind = PathAction::Kind::kSetPath,
                     .vip = p.vip,
                     .relayed = true,
                     .endpoint = p.endpoint});
      continue;
    }
    h.direct_broken_ns = 0;
    out.push_back({.kind = PathAction::Kind::kSetPath,
                   .vip = p.vip,
                   .relayed = true,
                   .endpoint = p.endpoint});
    // A relayed path that does not carry the handshake (the ring around the peer is still
    // settling, or a relay is gone) is no path: try a direct link instead of waiting.
    if (p.relayed && !p.up) {
      if (h.relayed_down_since_ns == 0) h.relayed_down_since_ns = now;
    } else {
      h.relayed_down_since_ns = 0;
    }
    const double pps = double(delta) / seconds;
    if (h.relayed_down_since_ns != 0 && now - h.relayed_down_since_ns > timeout_ns) {
      out.push_back({.kind = PathAction::Kind::kRequestShortcut,
                     .vip = p.vip,
                     .node = node,
                     .endpoint = p.endpoint,
                     .why = PathAction::Why::kRelayFailing});
      h.relayed_down_since_ns = now;
    } else if (p.relayed && pps >= double(options_.shortcut_pps)) {
      out.push_back({.kind = PathAction::Kind::kRequestShortcut,
                     .vip = p.vip,
                     .node = node,
                     .endpoint = p.endpoint,
                     .why = PathAction::Why::kTraffic,
                     .packets_per_s = pps});
    }
  }
  // Shortcuts whose peer is gone (forgotten, or moved behind another node) are released; the
  // link closes after the surplus grace period unless it has another role.
  for (const overlay::RingAddress& a : shortcut_links)
    if (std::find(in_use.begin(), in_use.end(), a) == in_use.end())
      out.push_back({.kind = PathAction::Kind::kReleaseShortcut, .node = a});
  return out;
}

}  // namespace ipop::cp
