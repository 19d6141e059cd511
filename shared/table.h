// Forwarding-table generations: the control plane builds and publishes them (TableWriter); each
// dataplane worker adopts the newest one once per burst and reports quiescence (TableReader).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "shared/shm_region.h"

namespace ipop::shm {

struct RouteSpec {
  uint32_t prefix;  // host order
  uint8_t length;   // 0..32
  uint32_t peer;    // index into TableSpec::peers
};

struct SessionSpec {
  uint32_t receiver_index;  // 1..kMaxSessions-1
  SessionEntry entry;
};

// A plain description of one generation; the writer checks every limit before touching the slot.
struct TableSpec {
  uint32_t local_vip = 0;
  uint32_t local_prefix_len = 24;
  uint32_t mtu = 1400;
  uint8_t gateway_mac[6] = {};
  std::vector<PeerEntry> peers;  // peer id = position
  std::vector<SessionSpec> sessions;
  std::vector<RouteSpec> routes;
  std::array<uint8_t, kRingBytes> self_ring{};  // this node's overlay ring address
  uint32_t service_ip = 0;                      // DHCP/DNS/gateway address on the TAP; 0: none
  uint64_t dp_instance = 0;                     // GenerationHeader::dp_instance
  std::vector<LinkEntry> links;                 // overlay links, at most kMaxLinks
  // Multicast groups this node sends to (at most kMaxGroups, distinct groups, members index
  // `peers`, counters distinct and < kMaxGroups).
  std::vector<GroupEntry> groups;
  FirewallTable firewall{};  // fw::ValidateTable must accept it; all zero: no firewall
};

class TableWriter {
 public:
  explicit TableWriter(ShmRegion& region);
  // Writes `spec` into a reclaimable slot and publishes it with a release-store of `active`.
  // Waits up to timeout_ms for dataplane workers to leave the slot (QSBR); a worker of a dead
  // dataplane process counts as offline. false + *error if the spec breaks a limit or no slot
  // frees in time; the active generation is then unchanged.
  bool Publish(const TableSpec& spec, std::string* error, int timeout_ms = 2000);
  // Zeroes the key material of every generation slot no worker can read any more (retired and
  // passed by every worker), so retired session keys do not linger in shared memory. Cheap when
  // there is nothing to do; call after publishing and periodically. Returns slots scrubbed.
  uint32_t ScrubRetired();
  // The currently published generation, or nullptr (used on control-plane re-attach).
  const Generation* Active() const;
  uint64_t seq() const;

 private:
  ShmRegion& region_;
  bool Reclaimable(uint32_t slot) const;       // no worker can still read this (non-active) slot
  uint64_t retire_seq_[kNumGenerations] = {};  // publication that retired each slot
  bool scrubbed_[kNumGenerations] = {};        // key material zeroed since it was retired
};

class TableReader {
 public:
  TableReader(ShmRegion& region, uint32_t worker);
  // Once per burst: adopts the newest published generation if it validates (else keeps the last
  // and counts table_invalid). Returns the generation to use, nullptr if none yet. The first call,
  // and the first after GoOffline(), goes online first.
  const Generation* BeginBurst();
  // True when the last BeginBurst switched generations (the worker then rescans key ids).
  bool switched() const { return switched_; }
  // Around blocking waits: an offline worker holds no generation.
  void GoOffline();
  void GoOnline();
  uint64_t seq() const { return seq_; }
  uint64_t invalid_seen() const { return invalid_; }

 private:
  void Adopt(uint64_t active);

  ShmRegion& region_;
  uint32_t worker_;
  const Generation* cur_ = nullptr;
  uint64_t seq_ = 0;
  uint64_t last_active_ = 0;  // last value of `active` examined (adopted or rejected)
  uint64_t held_active_ = 0;  // the `active` value cur_ was adopted from
  bool online_ = false;       // the first BeginBurst goes online (QSBR handshake)
  bool switched_ = false;
  bool adopted_since_burst_ = false;
  uint64_t invalid_ = 0;
};

// Checks a generation's header (counts within limits, seq == expected). Entries are checked at use.
bool ValidateGeneration(const Generation& g, uint64_t expected_seq);

// Longest-prefix match of a virtual IPv4 (host order): /32 hash first, then prefixes longest
// first. Returns a peer index < g.hdr.n_peers whose entry has kPeerValid, or kNoPeer.
uint32_t LookupPeer(const Generation& g, uint32_t vip);

// The relay next hop toward ring address `dst`: the valid link strictly closer to dst than
// self_ring (ring::CloserTo: shorter way round, ties to the smaller address), the closest such
// (an exact match wins), or kNoLink if no link is closer than this node. Every hop of a greedy
// route strictly decreases (distance, address), so relays following it never loop. A linear scan
// of links[0, min(n_links, kMaxLinks)); no allocation.
uint32_t NextHopLink(const Generation& g, const uint8_t dst[kRingBytes]);

// The entry of multicast group `group` (host order; 255.255.255.255 for broadcast): an index
// < min(n_groups, kMaxGroups), or kNoGroup. A linear scan: a node sends to a handful of groups,
// and only multicast frames pay for it. Members are re-checked by the caller.
uint32_t LookupGroup(const Generation& g, uint32_t group);

// Hash used for the /32 bucket table (both writer and reader).
inline uint32_t RouteHash(uint32_t vip) {
  return (vip * 0x9E3779B1u) >> 20;
}  // 12 bits
static_assert(kRouteBuckets == 4096, "RouteHash yields 12 bits");

}  // namespace ipop::shm
