// Fuzzes DhtService (client operations, coordinator fan-out, replica side, quorum decisions,
// handover) on one real OverlayNode whose links are fake peers, fed routed DHT payloads, replies to
// the requests it sent, link churn and time. Invariants:
//   - every operation completes exactly once (checked after running the clock out), never from
//     inside the call that started it or a delivery, only from Tick; the pending table holds
//     exactly the started-but-unfinished operations at all times;
//   - a result is consistent: attempts within max_attempts, a refusal names its reason, a write
//     returns no values, a read returns values of its key only;
//   - a reply (or a GET, or a malformed payload) never changes the store; a write request changes
//     only records owned by the requesting node (the routed source, or for a fan-out the client
//     the coordinator names), never by the owner field of the body;
//   - the store stays within its limits;
//   - everything the service sends is a well-formed overlay datagram with a valid DHT envelope.
//
// Input: fake peers linked at start (byte 0 % 7), then records [op][len: 2, little endian][bytes]:
//   op % 6 == 0: client operation: bytes[0] % 5 = put / create (claim) / create (renew) / get /
//                remove, bytes[1] % 4 = key, the rest = value
//   op % 6 == 1: a routed DHT payload from node bytes[0] % 8 (the rest, envelope included)
//   op % 6 == 2: a reply to captured request bytes[0] from node bytes[1] % 8: status bytes[2],
//                bytes[3] & 0x80 = another key, then records [owner % 4][flags][ttl][len][value]
//   op % 6 == 3: advance the clock by (bytes[0..1], little endian) x 10 ms, then Tick
//   op % 6 == 4: fake peer bytes[0] % 6 closes its link (or links again if it had none)
//   op % 6 == 5: the same reply as op 2, but sent twice (duplicates must count once)
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <tuple>
#include <vector>

#include "controlplane/dht/dht_service.h"
#include "controlplane/overlay/messages.h"
#include "controlplane/overlay/overlay_node.h"
#include "controlplane/runtime/log.h"
#include "tests/unit/cp_fakes.h"

namespace {

using namespace ipop::cp;
using overlay::RingAddress;
using testing::Ep4;
using testing::Ip;

void Require(bool ok) {
  if (!ok) std::abort();
}

constexpr size_t kPeers = 6;
const double kPeerAt[kPeers] = {0.499, 0.4995, 0.5005, 0.501, 0.1, 0.8};
const double kKeyAt[4] = {0.5, 0.5007, 0.1002, 0.75};

RingAddress PeerAddress(size_t i) {
  return RingAddress::FromFraction(kPeerAt[i]);
}
ipop::Endpoint PeerEndpoint(size_t i) {
  return Ep4(Ip(10, 0, 0, uint8_t(10 + i)), 5800);
}
DhtKey KeyOf(const RingAddress& a) {
  DhtKey k;
  a.ToBytes(k);
  return k;
}

struct SentRequest {
  uint64_t request_id;
  DhtKey key;
};

// Captures what the node sends and checks that every DHT payload in it is well formed.
class CaptureTransport final : public overlay::OverlayTransport {
 public:
  bool Send(const ipop::Endpoint&, const RingAddress&, std::span<const uint8_t> d) override {
    overlay::MessageView m;
    Require(overlay::ParseMessage(d, &m) == overlay::MsgError::kNone);
    if (m.type != overlay::MsgType::kRouted || m.routed.payload_type != kPayloadDht) return true;
    const std::span<const uint8_t> p = m.routed.payload;
    Require(!p.empty() && p[0] >= 1 && p[0] <= 3);
    const size_t header = p[0] == 2 ? 1 + RingAddress::kBytes : 1;
    Require(p.size() > header);
    DhtMessage msg;
    Require(DecodeDhtMessage(p.subspan(header), &msg) == DhtMsgError::kNone);
    const bool request = msg.type != DhtMsgType::kReply && msg.type != DhtMsgType::kReplicate;
    // Requests travel to a coordinator or as a fan-out; replies and records go to one node.
    Require(request ? p[0] != 3 || msg.type == DhtMsgType::kRemove : p[0] == 3);
    if (request && msg.request_id != 0) {
      if (requests.size() == 64) requests.erase(requests.begin());
      requests.push_back({msg.request_id, msg.key});
    }
    return true;
  }
  std::vector<SentRequest> requests;
};

using Snapshot = std::map<std::tuple<DhtKey, DhtOwner, std::vector<uint8_t>>,
                          std::tuple<uint32_t, uint64_t, bool>>;
Snapshot Snap(const DhtStore& store) {
  Snapshot s;
  DhtRangeReader reader(store, DhtKey{}, DhtKey{});
  std::vector<DhtRecord> recs;
  while (reader.Next(64, &recs)) {
  }
  for (const DhtRecord& r : recs) s[{r.key, r.owner, r.value}] = {r.ttl_ms, r.version, r.exclusive};
  return s;
}

void CheckStoreLimits(const DhtStore& store) {
  const DhtStoreLimits& l = store.limits();
  Require(store.bytes_used() <= l.max_total_bytes);
  Require(store.value_count() <= store.key_count() * l.max_values_per_key);
  std::map<DhtKey, size_t> per_key;
  for (const auto& [id, v] : Snap(store)) {
    const auto& [key, owner, value] = id;
    Require(value.size() <= l.max_value_bytes && std::get<0>(v) <= l.max_ttl_ms);
    Require(store.usage(owner).entries <= l.max_owner_entries);
    Require(++per_key[key] <= l.max_values_per_key);
  }
}

struct Op {
  DhtKey key{};
  bool get = false;
  int done = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = ipop::cp::SetLogLevel("error");  // info lines per input slow it down
  (void)quiet;
  if (size < 1) return 0;
  testing::FakeClock clock;
  testing::FakeRandom random(3);
  CaptureTransport transport;
  overlay::OverlayOptions oo;
  const RingAddress self = RingAddress::FromFraction(0.5);
  overlay::OverlayNode node(self, Ep4(Ip(10, 0, 0, 1), 5800), oo, clock, random, transport);
  DhtServiceOptions o;
  o.store.max_value_bytes = 64;
  o.store.max_values_per_key = 4;
  o.store.max_owner_entries = 8;
  o.store.max_owner_bytes = 8 * (kDhtValueOverhead + 64);
  o.store.max_total_bytes = 24 * (kDhtValueOverhead + 64 + kDhtKeyOverhead);
  o.store.max_ttl_ms = 600'000;
  DhtService dht(node, clock, random, o);
  bool in_tick = false;
  node.SetDeliverHandler([&](const overlay::Routed& r) { dht.OnRouted(r); });
  node.Start();

  bool linked[kPeers] = {};
  auto link = [&](size_t i, bool up) {
    uint8_t buf[overlay::kMaxOverlayDatagram];
    const size_t n = up ? overlay::EncodeLinkRequest(PeerAddress(i),
                                                     {overlay::LinkKind::kNear, 100 + i, self}, buf)
                        : overlay::EncodeLinkClose(PeerAddress(i), {}, buf);
    node.OnDatagram(PeerEndpoint(i), {buf, n});
    linked[i] = node.links().Find(PeerAddress(i)) != nullptr;
  };
  for (size_t i = 0; i < data[0] % (kPeers + 1); ++i) link(i, true);

  std::vector<Op> ops;
  size_t finished = 0;
  // A fake peer, this node, or a node it has no link to.
  auto source = [&](uint8_t b) {
    if (b % 8 < kPeers) return PeerAddress(b % 8);
    return b % 8 == kPeers ? self : RingAddress::FromFraction(0.3);
  };
  // Feeds one routed DHT payload, checking what it may do to the store.
  auto deliver = [&](const RingAddress& from, std::span<const uint8_t> payload) {
    const Snapshot before = Snap(dht.store());
    overlay::Routed r;
    r.mode = overlay::DeliveryMode::kExact;
    r.source = from;
    r.key = self;
    r.payload_type = kPayloadDht;
    r.payload = payload;
    const size_t pending = dht.pending_ops();
    Require(dht.OnRouted(r));
    Require(dht.pending_ops() == pending);
    const Snapshot after = Snap(dht.store());
    DhtMessage m;
    const bool envelope_ok = !payload.empty() && payload[0] >= 1 && payload[0] <= 3 &&
                             (payload[0] != 2 || payload.size() >= 1 + RingAddress::kBytes);
    const size_t header = envelope_ok && payload[0] == 2 ? 1 + RingAddress::kBytes : 1;
    if (!envelope_ok || DecodeDhtMessage(payload.subspan(header), &m) != DhtMsgError::kNone ||
        m.type == DhtMsgType::kReply || m.type == DhtMsgType::kGet) {
      Require(after == before);
      return;
    }
    if (m.type == DhtMsgType::kReplicate) {
      if (payload[0] != 3) Require(after == before);  // records only come direct
      return;                                         // they carry their own owners
    }
    const DhtOwner origin = KeyOf(
        payload[0] == 2 ? RingAddress::FromBytes(payload.subspan<1, RingAddress::kBytes>()) : from);
    for (const auto& [id, v] : after) {
      const auto it = before.find(id);
      if (it == before.end() || it->second != v) Require(std::get<1>(id) == origin);
    }
    for (const auto& [id, v] : before)
      if (!after.count(id)) Require(std::get<1>(id) == origin);
  };

  size_t pos = 1;
  std::vector<uint8_t> buf;
  while (pos + 3 <= size) {
    const uint8_t op = data[pos];
    const size_t len = std::min<size_t>(data[pos + 1] | size_t{data[pos + 2]} << 8, size - pos - 3);
    const uint8_t* b = data + pos + 3;
    pos += 3 + len;
    switch (op % 6) {
      case 0: {
        if (len < 2 || ops.size() >= 48) break;
        const size_t id = ops.size();
        Op& rec = ops.emplace_back();
        rec.key = KeyOf(RingAddress::FromFraction(kKeyAt[b[1] % 4]));
        rec.get = b[0] % 5 == 3;
        auto done = [&ops, &finished, &in_tick, id](const DhtResult& r) {
          Require(in_tick && ++ops[id].done == 1);
          ++finished;
          Require(r.attempts >= 1 && r.attempts <= 7);
          if (r.outcome == DhtOutcome::kRejected) Require(r.reason != DhtStatus::kOk);
          if (!ops[id].get) Require(r.values.empty());
          for (const DhtRecord& v : r.values) Require(v.key == ops[id].key);
        };
        const std::span<const uint8_t> value(b + 2, len - 2);
        switch (b[0] % 5) {
          case 0:
            dht.Put(rec.key, value, 60'000, done);
            break;
          case 1:
            dht.Create(rec.key, value, 60'000, done, DhtCreateMode::kClaim);
            break;
          case 2:
            dht.Create(rec.key, value, 60'000, done, DhtCreateMode::kRenew);
            break;
          case 3:
            dht.Get(rec.key, done);
            break;
          case 4:
            dht.Remove(rec.key, value, done);
            break;
        }
        break;
      }
      case 1:
        if (len >= 1) deliver(source(b[0]), {b + 1, len - 1});
        break;
      case 2:
      case 5: {
        if (len < 4 || transport.requests.empty()) break;
        const SentRequest& req = transport.requests[b[0] % transport.requests.size()];
        DhtMessage m;
        m.type = DhtMsgType::kReply;
        m.request_id = req.request_id;
        m.key = req.key;
        if (b[3] & 0x80) m.key[0] ^= 1;
        m.status = DhtStatus(b[2] % kDhtStatusCount);
        std::vector<std::vector<uint8_t>> values;
        for (size_t at = 4; at + 4 <= len && m.record_count < 8;) {
          const size_t vlen = std::min<size_t>(b[at + 3] % 80, len - at - 4);
          DhtRecordView& v = m.records[m.record_count++];
          v.owner = KeyOf(PeerAddress(b[at] % 4));
          v.exclusive = b[at + 1] & 1;
          v.ttl_ms = 1000u * (1 + b[at + 2]);
          v.version = b[at + 1];
          v.value = {b + at + 4, vlen};
          at += 4 + vlen;
        }
        buf.assign(1 + DhtMessageSize(m), 3);
        Require(EncodeDhtMessage(m, std::span(buf).subspan(1)) == buf.size() - 1);
        deliver(source(b[1]), buf);
        if (op % 6 == 5) deliver(source(b[1]), buf);
        break;
      }
      case 3: {
        const uint64_t ms = len >= 2 ? 10ull * (b[0] | b[1] << 8) : 10;
        clock.AdvanceMs(ms);
        node.Tick();
        in_tick = true;
        dht.Tick();
        in_tick = false;
        break;
      }
      case 4:
        if (len >= 1) link(b[0] % kPeers, !linked[b[0] % kPeers]);
        break;
    }
    Require(dht.pending_ops() == ops.size() - finished);
    CheckStoreLimits(dht.store());
  }
  // Run the clock out: every operation must have finished, exactly once (the longest takes
  // max_attempts attempts of at most 8 s each).
  // Two more ticks after the last one finished: a completed operation must stay completed.
  for (int i = 0, extra = 2; i < 60 && extra > 0; ++i) {
    extra -= finished == ops.size();
    clock.AdvanceMs(2000);
    node.Tick();
    in_tick = true;
    dht.Tick();
    in_tick = false;
  }
  Require(finished == ops.size() && dht.pending_ops() == 0);
  for (const Op& op : ops) Require(op.done == 1);
  CheckStoreLimits(dht.store());
  return 0;
}
