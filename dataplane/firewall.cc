#include "dataplane/firewall.h"

#include "shared/byte_order.h"
#include "shared/firewall.h"

namespace ipop::dp {
namespace {

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpSyn = 0x02;
constexpr uint8_t kTcpRst = 0x04;
constexpr uint8_t kTcpAck = 0x10;
constexpr uint8_t kIcmpEchoReply = 0;
constexpr uint8_t kIcmpEchoRequest = 8;

uint32_t TimeoutS(uint8_t protocol, FlowState state) {
  switch (protocol) {
    case shm::kFwProtoTcp:
      return state == FlowState::kEstablished ? kFwTcpEstablishedS
             : state == FlowState::kClosing   ? kFwTcpClosingS
                                              : kFwTcpNewS;
    case shm::kFwProtoUdp:
      return state == FlowState::kNew ? kFwUdpS : kFwUdpRepliedS;
    case shm::kFwProtoIcmp:
      return kFwIcmpS;
    default:
      return kFwOtherS;
  }
}

inline uint64_t Mix(uint64_t x) {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

FlowPacket ReadFlow(const uint8_t* ip, const ether::Ipv4View& v, shm::FwDirection direction) {
  FlowPacket f;
  f.direction = direction;
  const bool inbound = direction == shm::FwDirection::kInbound;
  f.key.protocol = v.protocol;
  f.key.local = inbound ? v.dst : v.src;
  f.key.remote = inbound ? v.src : v.dst;
  const uint32_t hl = v.header_length;
  const bool first_fragment = (LoadBe16(ip + 6) & 0x1fff) == 0;
  if (!first_fragment) return f;
  if ((v.protocol == shm::kFwProtoTcp || v.protocol == shm::kFwProtoUdp) &&
      v.total_length >= hl + 4) {
    const uint16_t src_port = LoadBe16(ip + hl), dst_port = LoadBe16(ip + hl + 2);
    f.key.local_port = inbound ? dst_port : src_port;
    f.key.remote_port = inbound ? src_port : dst_port;
    f.dst_port = dst_port;
    if (v.protocol == shm::kFwProtoTcp && v.total_length >= hl + 14) f.tcp_flags = ip[hl + 13];
  } else if (v.protocol == shm::kFwProtoIcmp && v.total_length >= hl + 8 &&
             (ip[hl] == kIcmpEchoRequest || ip[hl] == kIcmpEchoReply)) {
    f.key.local_port = LoadBe16(ip + hl + 4);  // the echo identifier, the same both ways
  }
  return f;
}

ConnTable::ConnTable(uint32_t log2_sets, uint64_t seed)
    : n_sets_(uint64_t{1} << log2_sets), seed_(seed), entries_(new Entry[n_sets_ * kWays]) {}

uint64_t ConnTable::SetOf(const FlowKey& k) const {
  return Mix(W0(k) ^ seed_) ^ Mix(W1Key(k) + seed_);
}

bool ConnTable::Expired(uint64_t w1, uint64_t w2, uint32_t now_s) {
  const uint8_t protocol = uint8_t(w1 >> 24);
  const FlowState state = FlowState(uint8_t(w1 >> 16));
  return now_s - uint32_t(w2) > TimeoutS(protocol, state);
}

bool ConnTable::Touch(const FlowPacket& pkt, uint32_t now_s) {
  Entry* set = &entries_[(SetOf(pkt.key) & (n_sets_ - 1)) * kWays];
  const uint64_t w0 = W0(pkt.key), key1 = W1Key(pkt.key);
  for (uint32_t i = 0; i < kWays; ++i) {
    Entry& e = set[i];
    const uint64_t w1 = e.w1.load(std::memory_order_relaxed);
    if ((w1 & kUsed) == 0 || (w1 & kW1KeyMask) != key1 ||
        e.w0.load(std::memory_order_relaxed) != w0)
      continue;
    const uint64_t w2 = e.w2.load(std::memory_order_relaxed);
    if (Expired(w1, w2, now_s)) return false;
    FlowState state = FlowState(uint8_t(w1 >> 16));
    const uint8_t originator = uint8_t(w1 >> 8);
    if (pkt.key.protocol == shm::kFwProtoTcp) {
      // A fresh SYN on the ports of a closing connection is a new connection: the rules decide.
      if (state == FlowState::kClosing && (pkt.tcp_flags & (kTcpSyn | kTcpAck)) == kTcpSyn)
        return false;
      if (pkt.tcp_flags & (kTcpFin | kTcpRst)) state = FlowState::kClosing;
    }
    if (state == FlowState::kNew && uint8_t(pkt.direction) != originator)
      state = FlowState::kEstablished;
    e.w1.store(key1 | uint64_t(state) << 16 | uint64_t(originator) << 8 | kUsed,
               std::memory_order_relaxed);
    e.w2.store((w2 & ~uint64_t{0xffffffff}) | now_s, std::memory_order_relaxed);
    return true;
  }
  return false;
}

bool ConnTable::Insert(const FlowPacket& pkt, uint32_t now_s, const FlowInfo* info) {
  Entry* set = &entries_[(SetOf(pkt.key) & (n_sets_ - 1)) * kWays];
  const uint64_t w0 = W0(pkt.key), key1 = W1Key(pkt.key);
  // The same flow's old entry, else a free or expired one, else the least recently seen.
  Entry* victim = nullptr;
  bool victim_live = true;
  uint32_t oldest_age = 0;
  for (uint32_t i = 0; i < kWays; ++i) {
    Entry& e = set[i];
    const uint64_t w1 = e.w1.load(std::memory_order_relaxed);
    const uint64_t w2 = e.w2.load(std::memory_order_relaxed);
    if ((w1 & kUsed) != 0 && (w1 & kW1KeyMask) == key1 &&
        e.w0.load(std::memory_order_relaxed) == w0) {
      victim = &e;
      victim_live = false;
      break;
    }
    if ((w1 & kUsed) == 0 || Expired(w1, w2, now_s)) {
      if (victim_live) {
        victim = &e;
        victim_live = false;
      }
      continue;
    }
    const uint32_t age = now_s - uint32_t(w2);
    if (victim_live && (victim == nullptr || age > oldest_age)) {
      victim = &e;
      oldest_age = age;
    }
  }
  FlowState state = info != nullptr ? info->state : FlowState::kNew;
  const shm::FwDirection originator = info != nullptr ? info->originator : pkt.direction;
  if (info == nullptr && pkt.key.protocol == shm::kFwProtoTcp &&
      (pkt.tcp_flags & (kTcpFin | kTcpRst)) != 0)
    state = FlowState::kClosing;
  // Sequence lock: an odd version while the key changes, so Peek never takes a half-written key.
  const uint64_t version = victim->w2.load(std::memory_order_relaxed) >> 32;
  victim->w2.store((version + 1) << 32 | now_s, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  victim->w0.store(w0, std::memory_order_relaxed);
  victim->w1.store(key1 | uint64_t(state) << 16 | uint64_t(originator) << 8 | kUsed,
                   std::memory_order_relaxed);
  victim->w2.store((version + 2) << 32 | now_s, std::memory_order_release);
  return victim_live;
}

std::optional<ConnTable::FlowInfo> ConnTable::Peek(const FlowKey& key, uint32_t now_s) const {
  const Entry* set = &entries_[(SetOf(key) & (n_sets_ - 1)) * kWays];
  const uint64_t w0 = W0(key), key1 = W1Key(key);
  for (uint32_t i = 0; i < kWays; ++i) {
    const Entry& e = set[i];
    const uint64_t before = e.w2.load(std::memory_order_acquire);
    if ((before >> 32) & 1) continue;  // being rewritten
    const uint64_t x0 = e.w0.load(std::memory_order_relaxed);
    const uint64_t x1 = e.w1.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    const uint64_t after = e.w2.load(std::memory_order_relaxed);
    if ((before >> 32) != (after >> 32)) continue;
    if ((x1 & kUsed) == 0 || (x1 & kW1KeyMask) != key1 || x0 != w0 || Expired(x1, after, now_s))
      continue;
    return FlowInfo{FlowState(uint8_t(x1 >> 16)), shm::FwDirection(uint8_t(x1 >> 8) & 1)};
  }
  return std::nullopt;
}

uint32_t ConnTable::Live(uint32_t now_s) const {
  uint32_t n = 0;
  for (uint64_t i = 0; i < n_sets_ * kWays; ++i) {
    const uint64_t w1 = entries_[i].w1.load(std::memory_order_relaxed);
    if ((w1 & kUsed) != 0 && !Expired(w1, entries_[i].w2.load(std::memory_order_relaxed), now_s))
      ++n;
  }
  return n;
}

FlowTables::FlowTables(uint32_t n_workers, uint32_t log2_sets, const uint64_t* seeds) {
  for (uint32_t w = 0; w < n_workers; ++w)
    tables_.push_back(std::make_unique<ConnTable>(log2_sets, seeds[w]));
}

std::vector<const ConnTable*> FlowTables::Siblings(uint32_t w) const {
  std::vector<const ConnTable*> out;
  for (uint32_t i = 0; i < tables_.size(); ++i)
    if (i != w) out.push_back(tables_[i].get());
  return out;
}

bool Firewall::Pass(uint32_t peer, const uint8_t* ip, const ether::Ipv4View& v,
                    shm::FwDirection dir) {
  const FlowPacket pkt = ReadFlow(ip, v, dir);
  if (flows_.Touch(pkt, now_s_)) [[likely]]
    return true;
  for (const ConnTable* other : siblings_) {
    if (const auto info = other->Peek(pkt.key, now_s_)) {
      // Admitted by another worker (the flow's other direction arrives here): take it over.
      if (flows_.Insert(pkt, now_s_, &*info))
        Bump(counters_->stat[uint32_t(Stat::fw_flows_evicted)]);
      flows_.Touch(pkt, now_s_);
      return true;
    }
  }
  return PassNew(peer, pkt);
}

bool Firewall::PassNew(uint32_t peer, const FlowPacket& pkt) {
  const shm::FirewallTable& t = *table_;
  // Re-bounded although validated with the generation: shared memory is never trusted twice.
  const uint32_t set = t.peer_set[peer < shm::kMaxPeers ? peer : 0];
  const uint64_t mask = t.set_mask[set < shm::kMaxFwRuleSets ? set : 0];
  const fw::FlowView flow{pkt.direction, pkt.key.protocol, pkt.key.remote, pkt.dst_port};
  const uint32_t slot = fw::FirstMatch(t, mask, flow);
  if (!fw::Allows(t, slot)) {
    Bump(counters_->fw.denied[slot]);
    return false;
  }
  Bump(counters_->fw.allowed[slot]);
  if (flows_.Insert(pkt, now_s_)) Bump(counters_->stat[uint32_t(Stat::fw_flows_evicted)]);
  return true;
}

}  // namespace ipop::dp
