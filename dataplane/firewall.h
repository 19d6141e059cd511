// The dataplane half of the firewall (docs/firewall.md): a per-worker connection table and the
// checks the inbound and outbound stages call for each packet between the virtual network and a
// peer. A packet of a flow in the table (either direction) costs one lookup in one set of the
// table; a packet opening a new flow is checked against the published rules (shared/firewall.h)
// and, when allowed, recorded. With no rules published the stages skip all of this on one branch.
//
// The table is an 8-way set-associative array allocated once: no allocation, no locks, no system
// calls per packet. A full set evicts its least recently seen flow; an expired flow is a miss.
// Sets are chosen by a keyed hash (random per worker) so a peer cannot aim its flows at one set.
// Each worker owns its table; workers > 1: a flow lives in the table of the worker that saw its
// first packet, and another worker that misses looks in the other workers' tables (ConnTable::
// Peek, a per-entry sequence lock) before treating the packet as a new flow - see docs/firewall.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "shared/counters.h"
#include "shared/ether.h"
#include "shared/shm_layout.h"

namespace ipop::dp {

enum class FlowState : uint8_t { kNew = 0, kEstablished = 1, kClosing = 2 };

// Idle timeouts in seconds.
inline constexpr uint32_t kFwTcpNewS = 30;            // SYN seen, no answer yet
inline constexpr uint32_t kFwTcpEstablishedS = 7200;  // both directions seen
inline constexpr uint32_t kFwTcpClosingS = 10;        // FIN or RST seen
inline constexpr uint32_t kFwUdpS = 30;               // one direction only
inline constexpr uint32_t kFwUdpRepliedS = 180;
inline constexpr uint32_t kFwIcmpS = 30;
inline constexpr uint32_t kFwOtherS = 60;

// A flow as seen from this node: the same key for both directions.
struct FlowKey {
  uint32_t local = 0, remote = 0;            // host order
  uint16_t local_port = 0, remote_port = 0;  // tcp/udp ports; ICMP echo: identifier, 0
  uint8_t protocol = 0;
  bool operator==(const FlowKey&) const = default;
};

// What the firewall reads from one IPv4 packet.
struct FlowPacket {
  FlowKey key;
  shm::FwDirection direction;
  uint16_t dst_port = 0;  // the port the packet goes to (tcp/udp), for the rules
  uint8_t tcp_flags = 0;  // TCP only
};

// The packet at `ip` (header checked: `v`) travelling in `direction`. Fragments other than the
// first, and truncated transport headers, have no ports (0).
FlowPacket ReadFlow(const uint8_t* ip, const ether::Ipv4View& v, shm::FwDirection direction);

class ConnTable {
 public:
  static constexpr uint32_t kWays = 8;
  // 2^log2_sets sets of kWays flows each; `seed` keys the set hash.
  ConnTable(uint32_t log2_sets, uint64_t seed);

  struct FlowInfo {
    FlowState state;
    shm::FwDirection originator;  // direction of the flow's first packet
  };

  // The flow of `pkt` if it is in the table and not expired at `now_s`: refreshes it and advances
  // its state. A TCP SYN (no ACK) for a closing flow is a miss (a new connection on old ports).
  bool Touch(const FlowPacket& pkt, uint32_t now_s);
  // Records `pkt` as the first packet of a new flow (or, with `info`, a flow another worker
  // admitted); returns true when a live flow was evicted to make room.
  bool Insert(const FlowPacket& pkt, uint32_t now_s, const FlowInfo* info = nullptr);
  // Another worker's view: the live flow with `key` in this table, if any (no refresh). Safe
  // while the owning worker writes (sequence lock per entry); may miss a flow being written.
  std::optional<FlowInfo> Peek(const FlowKey& key, uint32_t now_s) const;

  uint32_t capacity() const { return uint32_t(n_sets_ * kWays); }
  uint32_t Live(uint32_t now_s) const;  // tests and diagnostics: a full scan

 private:
  // Words of one entry; every field is an atomic so another worker may read it (Peek).
  // w0: local << 32 | remote; w1: local_port << 48 | remote_port << 32 | protocol << 24 |
  // state << 16 | originator direction << 8 | used; w2: version << 32 | last seen (s).
  struct Entry {
    std::atomic<uint64_t> w0{0}, w1{0}, w2{0};
  };
  uint64_t SetOf(const FlowKey& key) const;
  static uint64_t W0(const FlowKey& k) { return uint64_t(k.local) << 32 | k.remote; }
  static uint64_t W1Key(const FlowKey& k) {
    return uint64_t(k.local_port) << 48 | uint64_t(k.remote_port) << 32 |
           uint64_t(k.protocol) << 24;
  }
  static constexpr uint64_t kW1KeyMask = ~uint64_t{0} << 24;
  static constexpr uint64_t kUsed = 1;
  static bool Expired(uint64_t w1, uint64_t w2, uint32_t now_s);

  uint64_t n_sets_;
  uint64_t seed_;
  std::unique_ptr<Entry[]> entries_;
};

// One worker's firewall: its connection table, the table generation's rules, the counters.
// Sets per worker table (2^11 * 8 ways = 16384 flows, 384 KiB).
inline constexpr uint32_t kFwFlowSetsLog2 = 11;

// The connection tables of all workers of a process, made before the workers start and kept until
// all have stopped, so each worker may look into the others' (ConnTable::Peek).
class FlowTables {
 public:
  FlowTables(uint32_t n_workers, uint32_t log2_sets, const uint64_t* seeds);
  ConnTable& table(uint32_t w) { return *tables_[w]; }
  std::vector<const ConnTable*> Siblings(uint32_t w) const;

 private:
  std::vector<std::unique_ptr<ConnTable>> tables_;
};

class Firewall {
 public:
  Firewall(ConnTable& flows, shm::WorkerCounters* counters) : flows_(flows), counters_(counters) {}

  // At every generation switch. The rules were validated with the generation.
  void Adopt(const shm::Generation& g) { table_ = &g.firewall; }
  bool enabled() const { return table_ != nullptr && (table_->flags & shm::kFwEnabled) != 0; }
  // Other workers' tables to look in on a miss (workers > 1); never this worker's own.
  void SetSiblings(std::vector<const ConnTable*> siblings) { siblings_ = std::move(siblings); }

  // The packet at `ip` (header checked) from or to peer slot `peer` (< kMaxPeers): true when it
  // may pass; false: dropped, counted for the rule (or default) that denied it. Call once per
  // burst with the time first (SetNow).
  bool Pass(uint32_t peer, const uint8_t* ip, const ether::Ipv4View& v, shm::FwDirection dir);
  void SetNow(uint32_t now_s) { now_s_ = now_s; }

  ConnTable& flows() { return flows_; }
  const ConnTable& flows() const { return flows_; }

 private:
  bool PassNew(uint32_t peer, const FlowPacket& pkt);

  ConnTable& flows_;
  shm::WorkerCounters* counters_;
  const shm::FirewallTable* table_ = nullptr;
  std::vector<const ConnTable*> siblings_;
  uint32_t now_s_ = 0;
};

}  // namespace ipop::dp
