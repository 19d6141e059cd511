// The shared-memory contract between the control plane (writer of tables) and the dataplane
// (reader of tables, writer of counters). docs/shared-memory.md describes it in prose.
//
// Region (one shm_open object per node, "/ipop-<node name>"):
//   RegionHeader                                       offset 0
//   Generation slot 0 .. kNumGenerations-1             immutable once published
//   per worker: punt ring + slots, inject ring + slots
//   per worker: WorkerCounters
// Every offset is a pure function of (layout version, n_workers) computed by ComputeLayout();
// a process attaching recomputes it and refuses a header that disagrees. Nothing in the region is
// a pointer. Table generations are switched by a release-store of RegionHeader::active, which
// packs (publication sequence << 8 | slot) so one atomic load gives a consistent pair.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "shared/counters.h"
#include "shared/spsc_ring.h"

namespace ipop::shm {

inline constexpr uint64_t kMagic = 0x3150'4f50'4950'4f49ULL;  // "IOPIPOP1" little endian
inline constexpr uint32_t kLayoutVersion = 6;
inline constexpr uint32_t kMaxWorkers = 16;
inline constexpr uint32_t kNumGenerations = 4;
inline constexpr uint32_t kMaxPeers = 1024;
inline constexpr uint32_t kMaxSessions = 4096;    // receiver index space; index 0 is never valid
inline constexpr uint32_t kRouteBuckets = 4096;   // /32 open-addressing table, power of two
inline constexpr uint32_t kMaxPrefixes = 256;     // non-/32 routes, longest prefix first
inline constexpr uint32_t kMaxLinks = 256;        // overlay links (relay next hops)
inline constexpr uint32_t kMaxGroups = 64;        // multicast groups this node sends to
inline constexpr uint32_t kMaxGroupMembers = 30;  // peers one group frame is copied to
inline constexpr uint32_t kRingSlots = 512;       // per ring, power of two
inline constexpr uint32_t kRingSlotSize = 2048;   // includes RingSlotHeader
inline constexpr uint32_t kMaxFwRules = 64;       // firewall rules, inbound and outbound together
inline constexpr uint32_t kMaxFwPorts = 8;        // port ranges of one firewall rule
inline constexpr uint32_t kMaxFwRuleSets = 64;    // distinct per-peer subsets of the rules
inline constexpr uint32_t kNoPeer = 0xffffffffu;
inline constexpr uint32_t kNoLink = 0xffffffffu;
inline constexpr uint32_t kNoGroup = 0xffffffffu;
inline constexpr size_t kRingBytes = 20;            // overlay ring address, big endian (wire.h)
inline constexpr uint64_t kOffline = ~uint64_t{0};  // WorkerState::quiescent_seq when idle/absent

enum class Cipher : uint8_t { kAes256Gcm = 1, kChaCha20Poly1305 = 2 };

// What the dataplane punts to the control plane (RingSlotHeader::kind).
enum class PuntKind : uint16_t {
  kUnderlayControl = 1,  // CONTROL/HANDSHAKE datagram from addr:port (whole datagram incl. header)
  kTapFrame = 2,         // Ethernet frame read from the TAP the dataplane does not forward (ARP…)
};
// What the control plane injects (RingSlotHeader::kind).
enum class InjectKind : uint16_t {
  kUnderlayDatagram = 1,  // send payload as one UDP datagram to addr:port
  kTapFrame = 2,          // write payload as one Ethernet frame to the TAP
};

// ---- Table generation (immutable after publication) ----

enum PeerFlags : uint32_t {
  kPeerValid = 1u << 0,
  kPeerTxReady = 1u << 1,  // tx key, remote index and endpoint are usable
  // No direct path: DATA goes out wrapped in a RELAY header for relay_dst, to the overlay link
  // the dataplane picks greedily (NextHopLink); underlay_addr/port are ignored.
  kPeerRelayed = 1u << 2,
};

struct PeerEntry {
  uint32_t flags;
  uint32_t vip;               // virtual IPv4, host byte order
  uint8_t underlay_addr[16];  // IPv6 or IPv4-mapped
  uint16_t underlay_port;     // host byte order
  uint8_t cipher;             // Cipher
  uint8_t reserved0;
  uint32_t tx_remote_index;  // receiver index the peer assigned to packets from us
  uint64_t tx_key_id;        // changes whenever tx key material changes (dataplane re-inits ctx)
  uint64_t dp_instance;  // tx only when equal to the running dataplane's instance (no nonce reuse)
  uint8_t tx_key[32];
  uint8_t tx_salt[4];
  uint8_t relay_dst[kRingBytes];  // the peer node's ring address; used with kPeerRelayed only
  uint8_t reserved1[8];
};
static_assert(sizeof(PeerEntry) == 112);

enum SessionFlags : uint32_t { kSessionValid = 1u << 0 };

struct SessionEntry {  // receive side, indexed by our receiver index
  uint32_t flags;
  uint32_t peer;  // index into peers[]
  uint64_t key_id;
  uint8_t rx_key[32];
  uint8_t rx_salt[4];
  uint8_t cipher;
  uint8_t reserved[3];
};
static_assert(sizeof(SessionEntry) == 56);

struct RouteBucket {  // /32 routes; empty when peer == kNoPeer
  uint32_t vip;
  uint32_t peer;
};

struct PrefixRoute {
  uint32_t prefix;  // host byte order, already masked
  uint8_t length;   // 0..31 (/32 goes to the hash)
  uint8_t reserved[3];
  uint32_t peer;
};

enum LinkFlags : uint16_t { kLinkValid = 1u << 0 };

// An overlay link of this node: a neighbour on the ring the dataplane may hand RELAY datagrams to.
struct LinkEntry {
  uint8_t ring[kRingBytes];   // the neighbour's ring address, big endian
  uint8_t underlay_addr[16];  // IPv6 or IPv4-mapped
  uint16_t underlay_port;     // host byte order
  uint16_t flags;             // LinkFlags
};
static_assert(sizeof(LinkEntry) == 40);

// A multicast group (or the network's broadcast group, 255.255.255.255) this node sends to, and
// the peers that joined it (docs/multicast.md). A frame for the group is sealed once per member.
struct GroupEntry {
  uint32_t group;                      // host order
  uint16_t n_members;                  // members[0, n_members) are indexes into peers[]
  uint16_t counter;                    // index into WorkerCounters::group, < kMaxGroups
  uint32_t members[kMaxGroupMembers];  // never this node itself
};
static_assert(sizeof(GroupEntry) == 128);

// The firewall (docs/firewall.md): the node's rules in configuration order, each peer slot's rule
// set (which rules apply to that peer: `any` and `cidr:` rules always, `name:`/`group:` rules when
// the peer's certificate matches), and the default policy per direction. Written by the control
// plane; the dataplane checks it with the rest of the generation (ValidateGeneration) before it
// uses it, so an entry it reads is always within these limits.
enum FwTableFlags : uint32_t {
  kFwEnabled = 1u << 0,      // off: no rules at all, every packet passes without a lookup
  kFwDenyInbound = 1u << 1,  // inbound rules were given: unmatched new inbound flows are dropped
  kFwDenyOutbound = 1u << 2,
};
enum class FwDirection : uint8_t { kInbound = 0, kOutbound = 1 };
enum class FwAction : uint8_t { kDeny = 0, kAllow = 1 };
inline constexpr uint8_t kFwProtoAny = 0;  // FwRule::protocol; else the IPv4 protocol number
inline constexpr uint8_t kFwProtoIcmp = 1;
inline constexpr uint8_t kFwProtoTcp = 6;
inline constexpr uint8_t kFwProtoUdp = 17;

struct FwRule {
  uint8_t direction;  // FwDirection
  uint8_t action;     // FwAction
  uint8_t protocol;   // kFwProto*
  uint8_t n_ports;    // port ranges [0, n_ports) of the flow's destination port; 0: any port
  uint32_t prefix;    // remote address (host order, masked); prefix_len 0: any address
  uint8_t prefix_len;
  uint8_t reserved[3];
  uint16_t port_lo[kMaxFwPorts];  // tcp/udp only; lo <= hi
  uint16_t port_hi[kMaxFwPorts];
};
static_assert(sizeof(FwRule) == 44);

struct FirewallTable {
  uint32_t flags;    // FwTableFlags
  uint32_t n_rules;  // rules[0, n_rules), first match wins
  uint32_t n_sets;   // set_mask[0, n_sets); at least 1 when enabled
  uint32_t reserved;
  FwRule rules[kMaxFwRules];
  uint64_t set_mask[kMaxFwRuleSets];  // bit i: rule i applies to the set's peers
  uint8_t peer_set[kMaxPeers];        // rule set of each peer slot
};

struct GenerationHeader {
  uint64_t seq;      // publication sequence this slot was written for
  uint32_t n_peers;  // peers[0, n_peers) may be valid
  uint32_t n_prefixes;
  uint32_t local_vip;  // this node's virtual IPv4 (host order)
  uint32_t local_prefix_len;
  uint32_t mtu;                   // inner MTU of the TAP
  uint8_t gateway_mac[6];         // MAC the ARP proxy answers with; source of frames written to TAP
  uint16_t n_groups;              // groups[0, n_groups) are valid
  uint32_t n_links;               // links[0, n_links) may be valid
  uint8_t self_ring[kRingBytes];  // this node's ring address: RELAY datagrams for it are opened
  // The node's own service address on the TAP (DHCP server, DNS, gateway), host order; 0: none.
  // The dataplane punts DNS queries to it and DHCP requests to the control plane.
  uint32_t service_ip;
  // The dataplane instance the control plane saw when it published this generation. A control
  // plane that starts later inherits receive sessions only if that dataplane still runs: a new
  // one's replay windows are empty, so old sessions would accept recorded packets again.
  uint64_t dp_instance;
};
static_assert(sizeof(GenerationHeader) == 72);

struct Generation {
  GenerationHeader hdr;
  PeerEntry peers[kMaxPeers];
  SessionEntry sessions[kMaxSessions];
  RouteBucket routes[kRouteBuckets];
  PrefixRoute prefixes[kMaxPrefixes];
  LinkEntry links[kMaxLinks];
  GroupEntry groups[kMaxGroups];
  FirewallTable firewall;
};

// ---- Per-worker state written by the dataplane ----

struct alignas(64) WorkerState {
  // QSBR: the publication sequence this worker last started a burst with, or kOffline while it
  // holds no generation (idle or not running). A slot retired by publication S may be reused once
  // every worker reports >= S or kOffline.
  std::atomic<uint64_t> quiescent_seq;
  std::atomic<uint64_t> heartbeat_ns;  // CLOCK_MONOTONIC of the last loop iteration
  // Wake-up by the control plane after it pushed to this worker's inject ring (worker_wake.h):
  // the worker sets `sleeping` before it blocks; a producer that sees it bumps `wake_word` and
  // wakes the futex the worker waits on through io_uring.
  std::atomic<uint32_t> sleeping;
  std::atomic<uint32_t> wake_word;
};
static_assert(std::atomic<uint32_t>::is_always_lock_free && sizeof(std::atomic<uint32_t>) == 4,
              "wake_word is used as a futex word");

// Per group table entry (GroupEntry::counter): the control plane drops a group nobody sends to.
struct GroupCounters {
  std::atomic<uint64_t> tx_frames;  // frames from the TAP for the group
  std::atomic<uint64_t> tx_copies;  // datagrams made of them (one per member)
};

// Per firewall rule (index into FirewallTable::rules), then the inbound and the outbound default.
inline constexpr uint32_t kFwDefaultInbound = kMaxFwRules;
inline constexpr uint32_t kFwDefaultOutbound = kMaxFwRules + 1;
inline constexpr uint32_t kFwCounterSlots = kMaxFwRules + 2;
struct FwCounters {
  std::atomic<uint64_t> allowed[kFwCounterSlots];  // new flows the rule let through
  std::atomic<uint64_t> denied[kFwCounterSlots];   // packets the rule dropped
};

struct WorkerCounters {
  std::atomic<uint64_t> drop[kNumDropReasons];
  std::atomic<uint64_t> stat[kNumStats];
  PeerCounters peer[kMaxPeers];
  GroupCounters group[kMaxGroups];
  FwCounters fw;
};

// ---- Region header ----

struct RegionHeader {
  uint64_t magic;
  uint32_t layout_version;
  uint32_t n_workers;
  uint64_t region_size;
  uint64_t generation_offset;  // slot i at generation_offset + i * generation_stride
  uint64_t generation_stride;
  uint64_t rings_offset;  // per worker: punt ring, inject ring (see RegionLayout)
  uint64_t ring_stride;   // bytes per ring incl. shared indices and slots
  uint64_t counters_offset;
  uint64_t counters_stride;

  alignas(64) std::atomic<uint64_t> active;  // (seq << 8) | slot; 0 = nothing published yet

  alignas(64) std::atomic<int32_t> cp_pid;
  std::atomic<uint64_t> cp_heartbeat_ns;
  std::atomic<uint64_t> cp_attach_count;  // bumped at every control-plane attach

  alignas(64) std::atomic<int32_t> dp_pid;
  std::atomic<uint64_t> dp_instance;  // random, set at every dataplane start; 0 = none
  std::atomic<uint64_t> dp_heartbeat_ns;
  std::atomic<uint32_t> dp_workers_running;

  WorkerState workers[kMaxWorkers];
};

inline constexpr uint64_t PackActive(uint64_t seq, uint32_t slot) {
  return (seq << 8) | slot;
}
inline constexpr uint64_t ActiveSeq(uint64_t a) {
  return a >> 8;
}
inline constexpr uint32_t ActiveSlot(uint64_t a) {
  return uint32_t(a & 0xff);
}

// Offsets derived from n_workers alone; the only source of truth for both processes.
struct RegionLayout {
  uint32_t n_workers;
  uint64_t generation_offset, generation_stride;
  uint64_t rings_offset, ring_stride;
  uint64_t counters_offset, counters_stride;
  uint64_t region_size;
};

constexpr uint64_t AlignUp(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

constexpr RegionLayout ComputeLayout(uint32_t n_workers) {
  RegionLayout l{};
  l.n_workers = n_workers;
  l.generation_offset = AlignUp(sizeof(RegionHeader), 4096);
  l.generation_stride = AlignUp(sizeof(Generation), 4096);
  l.rings_offset = l.generation_offset + kNumGenerations * l.generation_stride;
  l.ring_stride = AlignUp(sizeof(SpscRingShared) + uint64_t{kRingSlots} * kRingSlotSize, 4096);
  l.counters_offset = l.rings_offset + 2ull * n_workers * l.ring_stride;
  l.counters_stride = AlignUp(sizeof(WorkerCounters), 4096);
  l.region_size = l.counters_offset + uint64_t{n_workers} * l.counters_stride;
  return l;
}

// Ring r of worker w: r = 0 punt (dataplane -> control plane), r = 1 inject.
inline constexpr uint32_t kPuntRing = 0;
inline constexpr uint32_t kInjectRing = 1;
constexpr uint64_t RingOffset(const RegionLayout& l, uint32_t worker, uint32_t ring) {
  return l.rings_offset + (uint64_t{worker} * 2 + ring) * l.ring_stride;
}

}  // namespace ipop::shm
