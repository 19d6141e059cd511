// Fuzzes multicast member records end to end in one node: MulticastGroups over the real
// DhtGroupDirectory over a real DhtService (one node, no links: it is every key's replica), with
// arbitrary member records written into the DHT (any owner, any value length, TTL, exclusive
// flag, shard keys and keys of other groups), host joins and leaves, frames to groups, address and
// peer changes, traffic and time. Invariants:
//   - a group entry in the table is one the host sent to; its members are valid peers of the spec,
//     distinct, in ascending VIP order, at most kMaxGroupMembers, never this node, and each is a
//     VIP some record of that group held as a 4-byte value (other lengths are not members; this
//     node's own earlier VIP counts, its record may outlive a change of address for a while);
//     entries have distinct groups and distinct counters below kMaxGroups;
//   - a member is learned only if it came from such a record, is not 0, not this node and not
//     already a peer;
//   - the records this node writes are its own VIP (4 bytes, big endian) under the right shard
//     key of a group the host joined (or the broadcast group), owned by this node;
//   - the broadcast group is always joined, the joined set stays within kMaxJoinedGroups + 1.
//
// Input: records [op][len: 2, little endian][bytes]:
//   op % 6 == 0: member records into the DHT: bytes[0] % 5 = group, bytes[1] % 3 = shard (2: a
//                name no shard uses), then records [owner % 4][flags][ttl][len % 9][value]
//   op % 6 == 1: a frame from the TAP: bytes[0] % 4 = IGMPv2 join / leave / UDP data to group
//                bytes[1] % 5, or 3 = the rest as a raw frame
//   op % 6 == 2: advance the clock by (bytes[0..1], little endian) x 100 ms, then Tick
//   op % 6 == 3: publish a table spec (check it)
//   op % 6 == 4: this node's VIP becomes 10.77.0.(1 + bytes[0] % 8); bytes[1] = which of
//                10.77.0.1..8 are valid peers (bit mask)
//   op % 6 == 5: frames sent to table counter bytes[0] % 4 grow by bytes[1]
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "controlplane/dht/dht_service.h"
#include "controlplane/overlay/overlay_node.h"
#include "controlplane/runtime/log.h"
#include "controlplane/services/multicast_groups.h"
#include "tests/fuzz/fuzz_dp_reference.h"
#include "tests/unit/cp_fakes.h"

namespace {

using namespace ipop;
using namespace ipop::cp;
using fuzz::Require;
using testing::Ep4;
using testing::Ip;

class NullTransport final : public overlay::OverlayTransport {
 public:
  bool Send(const Endpoint&, const overlay::RingAddress&, std::span<const uint8_t>) override {
    return true;
  }
};

const char kNetwork[] = "fuzznet";
const uint32_t kGroups[5] = {Ip(239, 1, 1, 1), Ip(239, 2, 2, 2), Ip(224, 0, 0, 251),
                             igmp::kBroadcastGroup, Ip(239, 9, 9, 9)};
constexpr uint32_t kService = Ip(10, 77, 0, 254);
constexpr uint8_t kHostMac[6] = {0x02, 0x99, 0, 0, 0, 1};

DhtKey KeyOf(const overlay::RingAddress& a) {
  DhtKey k;
  a.ToBytes(k);
  return k;
}

DhtKey ShardKey(uint32_t group, uint32_t shard) {
  // Shard 2 is a name the directory never uses: its records must never count.
  return shard < kMemberShards ? MulticastKey(kNetwork, group, shard)
                               : HashDhtKey("mcast:" + std::string(kNetwork) + ":x");
}

void Put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
void Put32(uint8_t* p, uint32_t v) {
  Put16(p, uint16_t(v >> 16));
  Put16(p + 2, uint16_t(v));
}

// A frame from the host: IGMPv2 report / leave (with router alert, RFC 2236) or UDP to `group`.
std::vector<uint8_t> HostFrame(int kind, uint32_t group, uint32_t host_ip) {
  const bool igmp = kind < 2;
  const size_t ihl = igmp ? 24 : 20, body = 8;
  std::vector<uint8_t> f(14 + ihl + body);
  const uint32_t dst = kind == 1 ? igmp::kAllRouters : group;
  uint8_t mac[6];
  igmp::GroupMac(dst, mac);
  std::memcpy(f.data(), mac, 6);
  std::memcpy(f.data() + 6, kHostMac, 6);
  Put16(f.data() + 12, 0x0800);
  uint8_t* ip = f.data() + 14;
  ip[0] = uint8_t(0x40 | ihl / 4);
  Put16(ip + 2, uint16_t(ihl + body));
  ip[8] = 1;
  ip[9] = igmp ? 2 : 17;
  Put32(ip + 12, host_ip);
  Put32(ip + 16, dst);
  if (igmp) {
    ip[20] = 0x94;
    ip[21] = 4;
  }
  Put16(ip + 10, uint16_t(~fuzz::OnesSum(ip, ihl)));
  uint8_t* m = ip + ihl;
  if (igmp) {
    m[0] = kind == 0 ? igmp::kTypeV2Report : igmp::kTypeV2Leave;
    Put32(m + 4, group);
    Put16(m + 2, uint16_t(~fuzz::OnesSum(m, 8)));
  } else {
    Put16(m, 40000);
    Put16(m + 2, 5000);
    Put16(m + 4, 8);
  }
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = ipop::cp::SetLogLevel("error");  // info lines per input slow it down
  (void)quiet;
  testing::FakeClock clock;
  testing::FakeRandom random(5);
  testing::FakePort port;
  NullTransport transport;
  const overlay::RingAddress self = overlay::RingAddress::FromFraction(0.25);
  overlay::OverlayNode node(self, Ep4(Ip(10, 0, 0, 1), 5800), {}, clock, random, transport);
  DhtServiceOptions dopt;
  dopt.replicas = 1;
  DhtService dht(node, clock, random, dopt);
  node.SetDeliverHandler([&](const overlay::Routed& r) { dht.OnRouted(r); });
  node.Start();
  MulticastOptions mopt;
  mopt.network = kNetwork;
  MulticastGroups groups(mopt, clock, port, std::make_unique<DhtGroupDirectory>(dht, kNetwork));

  std::map<uint32_t, std::set<uint32_t>> written;  // group -> 4-byte values ever stored for it
  std::set<uint32_t> sent_to, host_joined = {igmp::kBroadcastGroup}, vips_held;
  std::map<uint32_t, uint64_t> traffic;
  std::vector<uint32_t> learned;
  groups.SetLearnHandler([&](uint32_t vip) { learned.push_back(vip); });
  groups.SetTrafficSource([&](uint32_t counter) { return traffic[counter]; });

  uint32_t local_vip = Ip(10, 77, 0, 1);
  uint8_t peer_mask = 0x0e;       // 10.77.0.2..4
  std::set<uint32_t> peers_seen;  // VIPs of valid peers in the last spec
  auto spec_now = [&] {
    shm::TableSpec spec;
    spec.local_vip = local_vip;
    spec.local_prefix_len = 24;
    spec.service_ip = kService;
    for (uint32_t i = 0; i < 8; ++i) {
      shm::PeerEntry p{};
      p.vip = Ip(10, 77, 0, 1 + i);
      p.flags = (peer_mask >> i) & 1 ? uint32_t(shm::kPeerValid) : 0u;
      if (p.vip == local_vip) p.flags = 0;
      spec.peers.push_back(p);
    }
    return spec;
  };
  auto publish = [&] {
    shm::TableSpec spec = spec_now();
    groups.FillTable(&spec);
    vips_held.insert(local_vip);
    peers_seen.clear();
    for (const shm::PeerEntry& p : spec.peers)
      if (p.flags & shm::kPeerValid) peers_seen.insert(p.vip);
    Require(spec.groups.size() <= shm::kMaxGroups);
    std::set<uint32_t> seen_groups, seen_counters;
    for (const shm::GroupEntry& e : spec.groups) {
      Require(seen_groups.insert(e.group).second && seen_counters.insert(e.counter).second);
      Require(e.counter < shm::kMaxGroups && sent_to.count(e.group));
      Require(e.n_members <= shm::kMaxGroupMembers);
      uint32_t prev = 0;
      for (uint32_t m = 0; m < e.n_members; ++m) {
        Require(e.members[m] < spec.peers.size());
        const shm::PeerEntry& p = spec.peers[e.members[m]];
        Require((p.flags & shm::kPeerValid) && p.vip != local_vip && p.vip > prev);
        Require(written[e.group].count(p.vip) || vips_held.count(p.vip));
        prev = p.vip;
      }
    }
  };
  publish();

  for (size_t pos = 0; pos + 3 <= size;) {
    const uint8_t op = data[pos];
    const size_t len = std::min<size_t>(data[pos + 1] | size_t{data[pos + 2]} << 8, size - pos - 3);
    const uint8_t* b = data + pos + 3;
    pos += 3 + len;
    switch (op % 6) {
      case 0: {
        if (len < 2) break;
        const uint32_t group = kGroups[b[0] % 5], shard = b[1] % 3;
        DhtMessage m;
        m.type = DhtMsgType::kReplicate;
        m.flags = kDhtFlagRepair;
        m.key = ShardKey(group, shard);
        for (size_t at = 2; at + 4 <= len && m.record_count < 8;) {
          const size_t vlen = std::min<size_t>(b[at + 3] % 9, len - at - 4);
          DhtRecordView& v = m.records[m.record_count++];
          v.owner = KeyOf(overlay::RingAddress::FromFraction(0.1 * (1 + b[at] % 4)));
          v.exclusive = b[at + 1] & 1;
          v.ttl_ms = 1000u * (1 + b[at + 2]);
          v.version = b[at + 1];
          v.value = {b + at + 4, vlen};
          if (vlen == 4 && shard < kMemberShards) written[group].insert(fuzz::Be32(b + at + 4));
          at += 4 + vlen;
        }
        std::vector<uint8_t> payload(1 + DhtMessageSize(m), 3);  // envelope: direct
        Require(EncodeDhtMessage(m, std::span(payload).subspan(1)) == payload.size() - 1);
        overlay::Routed r;
        r.mode = overlay::DeliveryMode::kExact;
        r.source = overlay::RingAddress::FromFraction(0.6);
        r.key = self;
        r.payload_type = kPayloadDht;
        r.payload = payload;
        Require(dht.OnRouted(r));
        break;
      }
      case 1: {
        if (len < 2) break;
        const int kind = b[0] % 4;
        const uint32_t group = kGroups[b[1] % 5];
        std::vector<uint8_t> f;
        if (kind == 3) {
          f.assign(b + 2, b + len);
        } else {
          f = HostFrame(kind, group, local_vip);
          if (kind == 0 && igmp::IsMulticast(group)) host_joined.insert(group);
          if (kind == 2) sent_to.insert(group);
        }
        // A raw frame may be a report or data too: note what it names, as the node would.
        if (kind == 3 && f.size() >= 34 && f[12] == 8 && f[13] == 0) {
          const uint32_t dst = fuzz::Be32(f.data() + 30);
          sent_to.insert(igmp::GroupOfDestination(dst, Ip(10, 77, 0, 255)));
          igmp::Message msg;
          if (igmp::Parse(f, &msg) == igmp::ParseError::kNone)
            for (const igmp::GroupChange& c : msg.changes)
              host_joined.insert(igmp::GroupOfDestination(c.group, 0));
        }
        groups.OnTapFrame(f);
        break;
      }
      case 2: {
        const uint64_t ms = len >= 2 ? 100ull * (b[0] | b[1] << 8) : 100;
        clock.AdvanceMs(ms);
        node.Tick();
        groups.Tick();  // starts lookups and writes; the DHT answers them at its tick
        dht.Tick();
        break;
      }
      case 3:
        publish();
        break;
      case 4:
        if (len < 2) break;
        local_vip = Ip(10, 77, 0, 1 + b[0] % 8);
        peer_mask = b[1];
        publish();
        break;
      case 5:
        if (len >= 2) traffic[b[0] % 4] += b[1];
        break;
    }
    // Learned members: from records of a group we send to, never 0, us, or a known peer.
    for (uint32_t v : learned) {
      bool from_record = false;
      for (uint32_t g : sent_to) from_record |= written[g].count(v) > 0 || vips_held.count(v) > 0;
      Require(from_record && v != 0 && v != local_vip && !peers_seen.count(v));
    }
    learned.clear();
    const std::vector<uint32_t> joined = groups.joined();
    Require(joined.size() <= kMaxJoinedGroups + 1);
    Require(std::count(joined.begin(), joined.end(), igmp::kBroadcastGroup) == 1);
  }

  // The records this node published: its own VIP under the right shard of a joined group.
  const DhtOwner me = KeyOf(self);
  std::map<DhtKey, std::pair<uint32_t, uint32_t>> key_of;  // key -> (group, shard)
  for (uint32_t g : host_joined)
    for (uint32_t s = 0; s < kMemberShards; ++s) key_of[MulticastKey(kNetwork, g, s)] = {g, s};
  DhtRangeReader reader(dht.store(), DhtKey{}, DhtKey{});
  std::vector<DhtRecord> recs;
  while (reader.Next(64, &recs)) {
  }
  for (const DhtRecord& r : recs) {
    if (r.owner != me) continue;
    const auto it = key_of.find(r.key);
    Require(it != key_of.end() && r.value.size() == 4);
    const uint32_t vip = fuzz::Be32(r.value.data());
    Require(vips_held.count(vip) && vip % kMemberShards == it->second.second);
  }
  return 0;
}
