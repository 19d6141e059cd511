// Echo probes (directory/overlay_echo.h): the ECHO payload codec and its refusals, and the
// prober/responder rules: round-trip time and path, replies only to valid requests, one reply
// per probe from the node asked, a bounded reply rate, timeouts and bounded state. Two
// OverlayEcho instances are wired by a fake overlay that delivers routed payloads with a chosen
// hop count; tests/unit/test_overlay_host.cc runs them over real (authenticated) overlay nodes.
#include "controlplane/directory/overlay_echo.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "cp_fakes.h"

namespace ipop::cp {
namespace {

using testing::FakeClock;
using testing::FakeRandom;

overlay::RingAddress Addr(uint8_t fill) {
  std::array<uint8_t, 20> a;
  a.fill(fill);
  return overlay::RingAddress::FromBytes(a);
}

std::vector<uint8_t> Encode(const EchoMessage& m) {
  std::vector<uint8_t> buf(kEchoFixedSize + kEchoMaxName + 8);
  buf.resize(EncodeEcho(m, buf));
  return buf;
}

TEST(EchoCodec, RequestAndReplyRoundTrip) {
  EchoMessage req;
  req.vip = 0x0a4d0003;
  req.id = 0x0102030405060708ull;
  req.first_hop = Addr(0x22);
  const std::vector<uint8_t> r = Encode(req);
  ASSERT_EQ(r.size(), kEchoFixedSize);
  EXPECT_EQ(r[0], 1);
  EXPECT_EQ(r[4], 0x0a);
  EXPECT_EQ(r[8], 0x01);
  EXPECT_EQ(r[15], 0x08);
  EXPECT_EQ(r[16], 0x22);
  EchoMessage got;
  ASSERT_EQ(ParseEcho(r, &got), EchoError::kNone);
  EXPECT_EQ(got.kind, EchoKind::kRequest);
  EXPECT_EQ(got.vip, req.vip);
  EXPECT_EQ(got.id, req.id);
  EXPECT_EQ(got.first_hop, req.first_hop);
  EXPECT_TRUE(got.name.empty());

  EchoMessage rep = req;
  rep.kind = EchoKind::kReply;
  rep.request_hops = 3;
  rep.name = "n3.lab";
  const std::vector<uint8_t> p = Encode(rep);
  ASSERT_EQ(p.size(), kEchoFixedSize + 6);
  ASSERT_EQ(ParseEcho(p, &got), EchoError::kNone);
  EXPECT_EQ(got.kind, EchoKind::kReply);
  EXPECT_EQ(got.request_hops, 3);
  EXPECT_EQ(got.name, "n3.lab");
}

TEST(EchoCodec, EncoderRefusesWhatTheParserWouldRefuse) {
  uint8_t buf[200];
  EchoMessage m;
  m.name = "x";  // a request carries no name
  EXPECT_EQ(EncodeEcho(m, buf), 0u);
  m.name.clear();
  m.request_hops = 1;
  EXPECT_EQ(EncodeEcho(m, buf), 0u);
  m.kind = EchoKind::kReply;
  m.name = std::string(kEchoMaxName + 1, 'a');
  EXPECT_EQ(EncodeEcho(m, buf), 0u);
  m.name = "a b";
  EXPECT_EQ(EncodeEcho(m, buf), 0u);
  m.name = "ok";
  EXPECT_EQ(EncodeEcho(m, std::span<uint8_t>(buf, kEchoFixedSize + 1)), 0u);
  EXPECT_EQ(EncodeEcho(m, buf), kEchoFixedSize + 2);
}

TEST(EchoCodec, EveryMalformedPayloadHasItsReason) {
  EchoMessage rep;
  rep.kind = EchoKind::kReply;
  rep.name = "n2";
  const std::vector<uint8_t> good = Encode(rep);
  EchoMessage out;
  auto parse = [&](std::vector<uint8_t> p) { return ParseEcho(p, &out); };
  EXPECT_EQ(parse({good.begin(), good.begin() + kEchoFixedSize - 1}), EchoError::kTooShort);
  std::vector<uint8_t> p = good;
  p[0] = 3;
  EXPECT_EQ(parse(p), EchoError::kBadKind);
  p = good;
  p[3] = 1;
  EXPECT_EQ(parse(p), EchoError::kBadReserved);
  p = good;
  p[0] = 1;  // a request with a name
  EXPECT_EQ(parse(p), EchoError::kBadReserved);
  p = Encode(EchoMessage{});
  p[1] = 1;  // a request with request hops
  EXPECT_EQ(parse(p), EchoError::kBadReserved);
  p = good;
  p[2] = kEchoMaxName + 1;
  EXPECT_EQ(parse(p), EchoError::kNameTooLong);
  p = good;
  p.push_back('x');
  EXPECT_EQ(parse(p), EchoError::kLengthMismatch);
  p = good;
  p.pop_back();
  EXPECT_EQ(parse(p), EchoError::kLengthMismatch);
  p = good;
  p.back() = ' ';
  EXPECT_EQ(parse(p), EchoError::kBadName);
  p = good;
  p.back() = 0x80;
  EXPECT_EQ(parse(p), EchoError::kBadName);
  EXPECT_EQ(parse(good), EchoError::kNone);
}

// Two or more nodes; a routed payload reaches its destination with `hops` hops (as the overlay
// counts them) after the next Pump.
class EchoNet {
 public:
  struct Node {
    overlay::RingAddress address;
    uint32_t vip = 0;
    std::string name;
    std::unique_ptr<OverlayEcho> echo;
    overlay::RingAddress next_hop;  // zero: the destination itself
  };
  struct InFlight {
    overlay::RingAddress from, to;
    std::vector<uint8_t> payload;
    overlay::DeliveryMode mode = overlay::DeliveryMode::kExact;
  };

  Node& Add(uint8_t fill, uint32_t vip, const std::string& name, OverlayEchoOptions o = {}) {
    auto n = std::make_unique<Node>();
    n->address = Addr(fill);
    n->vip = vip;
    n->name = name;
    Node* self = n.get();
    n->echo = std::make_unique<OverlayEcho>(
        o, clock, random,
        [this, self](const overlay::RingAddress& to, std::span<const uint8_t> payload) {
          if (unroutable) return false;
          wire.push_back({self->address, to, {payload.begin(), payload.end()}});
          return true;
        },
        [self](const overlay::RingAddress& to) {
          return self->next_hop.IsZero() ? to : self->next_hop;
        },
        [self] { return std::pair<uint32_t, std::string>(self->vip, self->name); });
    nodes.push_back(std::move(n));
    return *nodes.back();
  }
  Node* Find(const overlay::RingAddress& a) {
    for (auto& n : nodes)
      if (n->address == a) return n.get();
    return nullptr;
  }
  void Deliver(const InFlight& m) {
    Node* to = Find(m.to);
    if (to == nullptr || (drop && drop(m))) return;
    overlay::Routed r;
    r.mode = m.mode;
    r.hops = hops;
    r.source = m.from;
    r.key = m.to;
    r.payload_type = kPayloadEcho;
    r.payload = m.payload;
    to->echo->OnDelivered(r);
  }
  // Delivers what was on the wire after `ms` of latency (what that sends waits for the next
  // Pump), then ticks.
  void Pump(uint64_t ms = 1) {
    clock.AdvanceMs(ms);
    std::deque<InFlight> now;
    now.swap(wire);
    for (const InFlight& m : now) Deliver(m);
    for (auto& n : nodes) n->echo->Tick();
  }
  void Run(uint64_t ms, uint64_t step = 1) {
    for (uint64_t t = 0; t < ms; t += step) Pump(step);
  }

  FakeClock clock;
  FakeRandom random{42};
  std::vector<std::unique_ptr<Node>> nodes;
  std::deque<InFlight> wire;
  uint8_t hops = 1;
  bool unroutable = false;
  std::function<bool(const InFlight&)> drop;
};

TEST(OverlayEcho, ASeriesMeasuresRoundTripAndPath) {
  EchoNet net;
  EchoNet::Node& a = net.Add(0x11, 0x0a4d0001, "n1");
  EchoNet::Node& b = net.Add(0x33, 0x0a4d0003, "n3");
  std::optional<EchoSeries> got;
  ASSERT_TRUE(a.echo->StartSeries(b.address, b.vip, 3, 100'000'000ull,
                                  [&](const EchoSeries& s) { got = s; }));
  net.Run(400);
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->probes.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    const EchoResult& p = got->probes[i];
    EXPECT_EQ(p.seq, i + 1);
    EXPECT_TRUE(p.sent && p.answered);
    EXPECT_EQ(p.rtt_ns, 2'000'000u) << "one 1 ms step each way";
    EXPECT_EQ(p.hops_there, 1);
    EXPECT_EQ(p.hops_back, 1);
    EXPECT_EQ(p.first_hop_there, b.address);
    EXPECT_EQ(p.first_hop_back, a.address);
    EXPECT_EQ(p.vip, b.vip);
    EXPECT_EQ(p.name, "n3");
  }
  EXPECT_EQ(b.echo->counters().replies_sent, 3u);
  EXPECT_EQ(a.echo->counters().replies_received, 3u);
  EXPECT_EQ(a.echo->outstanding(), 0u);
  EXPECT_EQ(a.echo->series_in_progress(), 0u);
}

TEST(OverlayEcho, RelayedPathReportsHopsAndFirstHops) {
  EchoNet net;
  EchoNet::Node& a = net.Add(0x11, 0x0a4d0001, "n1");
  EchoNet::Node& b = net.Add(0x33, 0x0a4d0003, "n3");
  a.next_hop = Addr(0x22);
  b.next_hop = Addr(0x44);
  net.hops = 2;
  std::optional<EchoSeries> got;
  a.echo->StartSeries(b.address, b.vip, 1, 0, [&](const EchoSeries& s) { got = s; });
  net.Run(10);
  ASSERT_TRUE(got.has_value());
  const EchoResult& p = got->probes[0];
  ASSERT_TRUE(p.answered);
  EXPECT_EQ(p.hops_there, 2);
  EXPECT_EQ(p.hops_back, 2);
  EXPECT_EQ(p.first_hop_there, Addr(0x22));
  EXPECT_EQ(p.first_hop_back, Addr(0x44));
}

TEST(OverlayEcho, NoReplyToARequestForAnotherVipOrNotDeliveredExactly) {
  EchoNet net;
  EchoNet::Node& a = net.Add(0x11, 0x0a4d0001, "n1");
  EchoNet::Node& b = net.Add(0x33, 0x0a4d0003, "n3");
  std::optional<EchoSeries> got;
  a.echo->StartSeries(b.address, 0x0a4d0009, 1, 0, [&](const EchoSeries& s) { got = s; });
  net.Run(2'100, 10);
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->probes[0].answered);
  EXPECT_EQ(b.echo->counters().requests_wrong_vip, 1u);
  EXPECT_EQ(b.echo->counters().replies_sent, 0u);
  EXPECT_EQ(a.echo->counters().probes_timed_out, 1u);

  // A request in nearest mode could land on a node nobody asked: ignored.
  EchoMessage req;
  req.id = 5;
  const std::vector<uint8_t> bytes = Encode(req);
  net.wire.push_back({a.address, b.address, bytes, overlay::DeliveryMode::kNearest});
  net.Pump();
  EXPECT_EQ(b.echo->counters().bad_messages, 1u);
  EXPECT_EQ(b.echo->counters().replies_sent, 0u);
  // A malformed one is counted by reason.
  std::vector<uint8_t> bad = bytes;
  bad[3] = 1;
  net.wire.push_back({a.address, b.address, bad});
  net.Pump();
  EXPECT_EQ(b.echo->counters().parse_errors[size_t(EchoError::kBadReserved)], 1u);
  EXPECT_EQ(b.echo->counters().replies_sent, 0u);
}

TEST(OverlayEcho, RepliesAreMatchedToOutstandingProbesFromTheNodeAskedOnce) {
  EchoNet net;
  EchoNet::Node& a = net.Add(0x11, 0x0a4d0001, "n1");
  EchoNet::Node& b = net.Add(0x33, 0x0a4d0003, "n3");
  EchoNet::Node& c = net.Add(0x44, 0x0a4d0004, "n4");
  // Keep b's reply on the wire to replay it and to forge variants.
  std::vector<EchoNet::InFlight> replies;
  net.drop = [&](const EchoNet::InFlight& m) {
    if (m.from != b.address) return false;
    replies.push_back(m);
    return true;
  };
  std::optional<EchoSeries> got;
  a.echo->StartSeries(b.address, b.vip, 1, 0, [&](const EchoSeries& s) { got = s; });
  net.Pump();  // the request reaches b
  net.Pump();  // b's reply is kept
  ASSERT_EQ(replies.size(), 1u);
  net.drop = nullptr;

  // The same reply from another node: not the answer.
  EchoNet::InFlight forged = replies[0];
  forged.from = c.address;
  net.Deliver(forged);
  // A reply with another id: not the answer.
  EchoMessage m;
  ASSERT_EQ(ParseEcho(replies[0].payload, &m), EchoError::kNone);
  EchoMessage other = m;
  other.id ^= 1;
  net.Deliver({b.address, a.address, Encode(other)});
  // A reply claiming another VIP: not the answer either.
  EchoMessage moved = m;
  moved.vip = 0x0a4d0063;
  net.Deliver({b.address, a.address, Encode(moved)});
  EXPECT_EQ(a.echo->counters().replies_unmatched, 3u);
  EXPECT_EQ(a.echo->counters().replies_received, 0u);
  EXPECT_FALSE(got.has_value());

  net.Deliver(replies[0]);
  EXPECT_EQ(a.echo->counters().replies_received, 1u);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->probes[0].answered);
  // Replayed: counted, changes nothing.
  net.Deliver(replies[0]);
  EXPECT_EQ(a.echo->counters().replies_received, 1u);
  EXPECT_EQ(a.echo->counters().replies_unmatched, 4u);
}

TEST(OverlayEcho, RepliesAreRateLimited) {
  EchoNet net;
  OverlayEchoOptions o;
  o.reply_per_second = 10;
  o.reply_burst = 5;
  EchoNet::Node& a = net.Add(0x11, 0x0a4d0001, "n1");
  EchoNet::Node& b = net.Add(0x33, 0x0a4d0003, "n3", o);
  EchoMessage req;
  for (uint64_t id = 1; id <= 50; ++id) {
    req.id = id;
    net.wire.push_back({a.address, b.address, Encode(req)});
  }
  net.Pump();
  EXPECT_EQ(b.echo->counters().requests_received, 50u);
  EXPECT_EQ(b.echo->counters().replies_sent, 5u);
  EXPECT_EQ(b.echo->counters().requests_rate_limited, 45u);
  // The bucket refills at 10 per second.
  net.clock.AdvanceMs(1000);
  for (uint64_t id = 51; id <= 70; ++id) {
    req.id = id;
    net.wire.push_back({a.address, b.address, Encode(req)});
  }
  net.Pump();
  EXPECT_EQ(b.echo->counters().replies_sent, 10u);
}

TEST(OverlayEcho, UnansweredAndUnroutableProbesAreLostNotForgotten) {
  EchoNet net;
  EchoNet::Node& a = net.Add(0x11, 0x0a4d0001, "n1");
  std::optional<EchoSeries> got;
  // Nobody at 0x99: every probe times out after 2 s.
  a.echo->StartSeries(Addr(0x99), 0, 2, 100'000'000ull, [&](const EchoSeries& s) { got = s; });
  net.Run(2'000, 10);
  EXPECT_FALSE(got.has_value()) << "the second probe is still within its timeout";
  net.Run(200, 10);
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->probes.size(), 2u);
  EXPECT_TRUE(got->probes[0].sent);
  EXPECT_FALSE(got->probes[0].answered);
  EXPECT_EQ(a.echo->counters().probes_timed_out, 2u);

  net.unroutable = true;
  got.reset();
  a.echo->StartSeries(Addr(0x99), 0, 2, 0, [&](const EchoSeries& s) { got = s; });
  net.Pump();
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->probes[0].sent);
  EXPECT_EQ(a.echo->counters().probes_unroutable, 2u);
  EXPECT_EQ(a.echo->outstanding(), 0u);
}

TEST(OverlayEcho, OutstandingProbesAndSeriesAreBounded) {
  EchoNet net;
  OverlayEchoOptions o;
  o.max_outstanding = 4;
  o.max_series = 2;
  EchoNet::Node& a = net.Add(0x11, 0x0a4d0001, "n1", o);
  int done = 0;
  EXPECT_TRUE(a.echo->StartSeries(Addr(0x99), 0, 3, 0, [&](const EchoSeries&) { ++done; }));
  EXPECT_TRUE(a.echo->StartSeries(Addr(0x98), 0, 3, 0, [&](const EchoSeries& s) {
    ++done;
    EXPECT_FALSE(s.probes[1].sent) << "no room: lost";
    EXPECT_FALSE(s.probes[2].sent);
  }));
  EXPECT_FALSE(a.echo->StartSeries(Addr(0x97), 0, 1, 0, [&](const EchoSeries&) { ++done; }));
  EXPECT_EQ(a.echo->outstanding(), 4u);
  EXPECT_EQ(a.echo->counters().probes_refused, 2u);
  net.Run(2'100, 10);
  EXPECT_EQ(done, 2);
  EXPECT_EQ(a.echo->outstanding(), 0u);
  EXPECT_EQ(a.echo->series_in_progress(), 0u);
}

}  // namespace
}  // namespace ipop::cp
