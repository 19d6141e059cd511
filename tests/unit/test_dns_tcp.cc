// DnsTcpServer, the DNS-over-TCP responder on raw frames, driven as the host's TCP stack would
// drive it: handshake, one and two queries, messages split across segments, out-of-order and
// overlapping data, retransmission, FIN and RST both ways, idle close, a full table, bounds, and
// malformed segments. Every segment the server writes is checked by tcp_test_peer.h (its own
// checksum code). Then the server in front of the real DnsResponder: zone names over TCP, and a
// long answer that UDP truncates and TCP carries whole.
#include "controlplane/services/dns_tcp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "controlplane/services/dns_responder.h"
#include "controlplane/services/udp_frame.h"
#include "tests/unit/cp_fakes.h"
#include "tests/unit/tcp_test_peer.h"

namespace ipop::cp {
namespace {

using testing::Ip;
using testing::kTcpAck;
using testing::kTcpFin;
using testing::kTcpPsh;
using testing::kTcpRst;
using testing::kTcpSyn;
using testing::ServerSegment;

using Bytes = std::vector<uint8_t>;

const uint8_t kGatewayMac[6] = {0x02, 0x49, 0x50, 0x00, 0x00, 0x01};
const uint8_t kHostMac[6] = {0xd2, 0x38, 0x38, 0x0d, 0x8a, 0xb9};
const uint32_t kResponder = Ip(10, 250, 0, 254);
const uint32_t kHost = Ip(10, 250, 0, 2);
constexpr uint32_t kMtu = 1400;

// A message with its 2-byte length in front (RFC 1035 4.2.2).
Bytes Framed(const Bytes& message) {
  Bytes m(2 + message.size());
  testing::PutBe16(m.data(), uint32_t(message.size()));
  std::copy(message.begin(), message.end(), m.begin() + 2);
  return m;
}

// A "query": 12 bytes of header and a tag, so answers can be matched to their query.
Bytes Query(uint8_t tag, size_t size = 20) {
  Bytes q(size, tag);
  q[0] = 0;
  q[1] = tag;
  q[2] = 0x01;  // RD, QR clear
  return q;
}

// The handler's answer to a query: the query with QR set, grown to `size` bytes.
Bytes AnswerOf(std::span<const uint8_t> query, size_t size) {
  Bytes a(query.begin(), query.end());
  a[2] |= 0x80;
  if (a.size() < size) {
    const size_t old = a.size();
    a.resize(size);
    for (size_t i = old; i < size; ++i) a[i] = uint8_t(i * 13);
  }
  return a;
}

class FakeHandler final : public DnsQueryHandler {
 public:
  struct Seen {
    DnsClient client;
    Bytes message;
  };
  bool OnQuery(const DnsClient& client, std::span<const uint8_t> message) override {
    seen.push_back({client, {message.begin(), message.end()}});
    if (drop) return false;
    if (answer_now && server != nullptr)
      server->SendMessage(client.connection, AnswerOf(message, answer_size));
    return true;
  }
  DnsTcpServer* server = nullptr;
  bool answer_now = true;
  bool drop = false;
  size_t answer_size = 0;  // 0: as long as the query
  std::vector<Seen> seen;
};

// The host's end of one connection: its next sequence number and what it has received.
struct Host {
  uint16_t port = 40000;
  uint32_t seq = 1000;  // next sequence number to send
  uint32_t ack = 0;     // next expected from the server
  uint16_t window = 65535;
};

class DnsTcpTest : public ::testing::Test {
 protected:
  DnsTcpTest() : random(11) { Make(Options()); }
  static DnsTcpOptions Options() {
    DnsTcpOptions o;
    o.responder_ip = kResponder;
    std::memcpy(o.gateway_mac, kGatewayMac, 6);
    o.mtu = kMtu;
    o.max_connections = 4;
    o.idle_timeout_ns = 10'000'000'000;
    o.rto_ns = 1'000'000'000;
    o.max_retransmits = 3;
    return o;
  }
  void Make(const DnsTcpOptions& o) {
    ASSERT_EQ(ValidateDnsTcpOptions(o), "");
    server = std::make_unique<DnsTcpServer>(port, clock, random, handler, o);
    handler.server = server.get();
  }

  Bytes Segment(const Host& h, uint8_t flags, Bytes payload = {}, uint16_t mss = 0) {
    testing::HostSegment s{kHostMac, kGatewayMac, kHost, kResponder, h.port, 53};
    s.seq = h.seq;
    s.ack = h.ack;
    s.flags = flags;
    s.window = h.window;
    s.mss = mss;
    s.payload = std::move(payload);
    return testing::BuildHostSegment(s);
  }
  // What the server wrote since the last call, each segment checked and addressed to `to`.
  std::vector<ServerSegment> Sent(uint16_t to = 40000) {
    std::vector<ServerSegment> out;
    for (const Bytes& f : port.frames) {
      ServerSegment s = testing::CheckServerSegment(f);
      EXPECT_EQ(s.error, "");
      EXPECT_EQ(0, std::memcmp(s.src_mac, kGatewayMac, 6));
      EXPECT_EQ(0, std::memcmp(s.dst_mac, kHostMac, 6));
      EXPECT_EQ(s.src_ip, kResponder);
      EXPECT_EQ(s.dst_ip, kHost);
      EXPECT_EQ(s.src_port, 53);
      EXPECT_EQ(s.dst_port, to);
      EXPECT_LE(f.size(), 14 + kMtu);
      out.push_back(std::move(s));
    }
    port.frames.clear();
    return out;
  }
  // SYN, SYN/ACK, ACK: an established connection.
  Host Connect(uint16_t host_port = 40000, uint16_t mss = 1460) {
    Host h;
    h.port = host_port;
    h.seq = 1000u * host_port;
    EXPECT_TRUE(server->OnTapFrame(Segment(h, kTcpSyn, {}, mss)));
    const std::vector<ServerSegment> syn_ack = Sent(host_port);
    EXPECT_EQ(syn_ack.size(), 1u);
    if (syn_ack.size() != 1) return h;
    EXPECT_EQ(syn_ack[0].flags, kTcpSyn | kTcpAck);
    EXPECT_EQ(syn_ack[0].ack, h.seq + 1);
    h.seq += 1;
    h.ack = syn_ack[0].seq + 1;
    EXPECT_TRUE(server->OnTapFrame(Segment(h, kTcpAck)));
    EXPECT_TRUE(Sent(host_port).empty());  // nothing to say yet
    return h;
  }
  // Sends `payload` (data with ACK) and advances the host's sequence number.
  void SendData(Host& h, const Bytes& payload, uint8_t extra = 0) {
    EXPECT_TRUE(server->OnTapFrame(Segment(h, kTcpAck | kTcpPsh | extra, payload)));
    h.seq += uint32_t(payload.size()) + ((extra & kTcpFin) ? 1 : 0);
  }
  // The host takes in-order data from the server's segments and ACKs it; returns the bytes.
  Bytes Receive(Host& h, const std::vector<ServerSegment>& segs, bool ack = true) {
    Bytes got;
    for (const ServerSegment& s : segs) {
      if (s.seq != h.ack) continue;
      got.insert(got.end(), s.payload.begin(), s.payload.end());
      h.ack += uint32_t(s.payload.size()) + ((s.flags & kTcpFin) ? 1 : 0);
    }
    if (ack) {
      EXPECT_TRUE(server->OnTapFrame(Segment(h, kTcpAck)));
    }
    return got;
  }

  testing::FakePort port;
  testing::FakeClock clock;
  testing::FakeRandom random;
  FakeHandler handler;
  std::unique_ptr<DnsTcpServer> server;
};

TEST_F(DnsTcpTest, OptionsAreValidated) {
  EXPECT_EQ(ValidateDnsTcpOptions(Options()), "");
  DnsTcpOptions o = Options();
  o.responder_ip = 0;
  EXPECT_NE(ValidateDnsTcpOptions(o), "");
  o = Options();
  o.max_connections = 0;
  EXPECT_NE(ValidateDnsTcpOptions(o), "");
  o = Options();
  o.max_send_buffer = 1000;  // no room for a 64 KiB answer
  EXPECT_NE(ValidateDnsTcpOptions(o), "");
  o = Options();
  o.mtu = 100;
  EXPECT_NE(ValidateDnsTcpOptions(o), "");
}

TEST_F(DnsTcpTest, HandshakeAnswersSynWithRandomIsnAndOurMss) {
  Host h;
  EXPECT_TRUE(server->OnTapFrame(Segment(h, kTcpSyn, {}, 1460)));
  std::vector<ServerSegment> s = Sent();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].flags, kTcpSyn | kTcpAck);
  EXPECT_EQ(s[0].ack, h.seq + 1);
  EXPECT_EQ(s[0].mss, kMtu - 40);
  EXPECT_EQ(s[0].window, DnsTcpServer::kWindow);
  EXPECT_TRUE(s[0].payload.empty());
  const uint32_t isn1 = s[0].seq;
  EXPECT_EQ(server->connections(), 1u);
  EXPECT_EQ(server->counters().opened, 1u);

  // Another port, another ISN (random, RFC 6528's concern: not guessable from the last one).
  Host h2;
  h2.port = 40001;
  EXPECT_TRUE(server->OnTapFrame(Segment(h2, kTcpSyn, {}, 1460)));
  s = Sent(40001);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_NE(s[0].seq, isn1);
  EXPECT_NE(s[0].seq, isn1 + 1);

  // The SYN again (our SYN/ACK lost): the same SYN/ACK again.
  EXPECT_TRUE(server->OnTapFrame(Segment(h, kTcpSyn, {}, 1460)));
  s = Sent();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].seq, isn1);
  EXPECT_EQ(s[0].flags, kTcpSyn | kTcpAck);

  // The final ACK must acknowledge our SYN exactly; a wrong one gets a RST, the right one works.
  h.seq += 1;
  h.ack = isn1 + 7;
  EXPECT_TRUE(server->OnTapFrame(Segment(h, kTcpAck)));
  s = Sent();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].flags, kTcpRst);
  EXPECT_EQ(s[0].seq, isn1 + 7);
  EXPECT_EQ(server->counters().bad_ack, 1u);
  h.ack = isn1 + 1;
  EXPECT_TRUE(server->OnTapFrame(Segment(h, kTcpAck)));
  EXPECT_TRUE(Sent().empty());
  SendData(h, Framed(Query(1)));
  EXPECT_EQ(handler.seen.size(), 1u);  // established
}

TEST_F(DnsTcpTest, OneQueryOneAnswerThenBothSidesClose) {
  Host h = Connect();
  const Bytes q = Query(7);
  SendData(h, Framed(q));
  ASSERT_EQ(handler.seen.size(), 1u);
  EXPECT_EQ(handler.seen[0].message, q);
  EXPECT_EQ(handler.seen[0].client.transport, DnsTransport::kTcp);
  EXPECT_EQ(handler.seen[0].client.ip, kHost);
  EXPECT_EQ(handler.seen[0].client.port, 40000);
  EXPECT_EQ(0, std::memcmp(handler.seen[0].client.mac, kHostMac, 6));
  // The answer rides on the ACK of the query: one segment, PSH, whole message with its length.
  std::vector<ServerSegment> s = Sent();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].flags, kTcpAck | kTcpPsh);
  EXPECT_EQ(s[0].ack, h.seq);
  EXPECT_EQ(s[0].seq, h.ack);
  EXPECT_EQ(s[0].payload, Framed(AnswerOf(q, 0)));
  Receive(h, s);
  EXPECT_TRUE(Sent().empty());  // a pure ACK gets no answer

  // The host closes: our FIN acknowledges its FIN; its ACK of ours frees the connection.
  EXPECT_TRUE(server->OnTapFrame(Segment(h, kTcpAck | kTcpFin)));
  h.seq += 1;
  s = Sent();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].flags, kTcpFin | kTcpAck);
  EXPECT_EQ(s[0].ack, h.seq);
  EXPECT_EQ(server->connections(), 1u);
  Receive(h, s);
  EXPECT_EQ(server->connections(), 0u);
  EXPECT_EQ(server->counters().closed, 1u);
  EXPECT_EQ(server->counters().queries, 1u);
  EXPECT_EQ(server->counters().answers, 1u);
  // A segment after that finds no connection: RST.
  EXPECT_TRUE(server->OnTapFrame(Segment(h, kTcpAck)));
  s = Sent();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].flags, kTcpRst);
}

TEST_F(DnsTcpTest, TwoQueriesInOneSegmentAndAThirdLaterOnTheSameConnection) {
  Host h = Connect();
  Bytes both = Framed(Query(1));
  const Bytes second = Framed(Query(2, 30));
  both.insert(both.end(), second.begin(), second.end());
  SendData(h, both);
  ASSERT_EQ(handler.seen.size(), 2u);
  EXPECT_EQ(handler.seen[0].message, Query(1));
  EXPECT_EQ(handler.seen[1].message, Query(2, 30));
  Bytes got = Receive(h, Sent());
  Bytes want = Framed(AnswerOf(Query(1), 0));
  const Bytes a2 = Framed(AnswerOf(Query(2, 30), 0));
  want.insert(want.end(), a2.begin(), a2.end());
  EXPECT_EQ(got, want);
  SendData(h, Framed(Query(3)));
  ASSERT_EQ(handler.seen.size(), 3u);
  EXPECT_EQ(Receive(h, Sent()), Framed(AnswerOf(Query(3), 0)));
  EXPECT_EQ(server->connections(), 1u);
}

TEST_F(DnsTcpTest, AMessageSplitAcrossSegmentsIsDeliveredOnceWhole) {
  Host h = Connect();
  const Bytes m = Framed(Query(9, 100));
  SendData(h, {m[0]});  // half the length prefix
  SendData(h, Bytes(m.begin() + 1, m.begin() + 40));
  EXPECT_TRUE(handler.seen.empty());
  std::vector<ServerSegment> acks = Sent();
  ASSERT_EQ(acks.size(), 2u);  // each piece acknowledged
  EXPECT_EQ(acks[1].ack, h.seq);
  EXPECT_TRUE(acks[1].payload.empty());
  SendData(h, Bytes(m.begin() + 40, m.end()));
  ASSERT_EQ(handler.seen.size(), 1u);
  EXPECT_EQ(handler.seen[0].message, Query(9, 100));
  EXPECT_EQ(Receive(h, Sent()), Framed(AnswerOf(Query(9, 100), 0)));
}

TEST_F(DnsTcpTest, OutOfOrderAndOverlappingDataAreAnsweredWithAnAckOfWhatWeHave) {
  Host h = Connect();
  const Bytes m = Framed(Query(5, 40));
  Host ahead = h;
  ahead.seq += 10;  // a gap before it
  EXPECT_TRUE(
      server->OnTapFrame(Segment(ahead, kTcpAck | kTcpPsh, Bytes(m.begin() + 10, m.end()))));
  std::vector<ServerSegment> s = Sent();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].ack, h.seq);  // still waiting for the first byte
  EXPECT_TRUE(s[0].payload.empty());
  EXPECT_TRUE(handler.seen.empty());
  EXPECT_EQ(server->counters().out_of_order, 1u);

  SendData(h, Bytes(m.begin(), m.begin() + 10));
  EXPECT_TRUE(handler.seen.empty());  // the later part was not kept
  Sent();
  // Overlapping: starts before what we have. Only acknowledged, not taken twice.
  Host overlap = h;
  overlap.seq -= 4;
  EXPECT_TRUE(
      server->OnTapFrame(Segment(overlap, kTcpAck | kTcpPsh, Bytes(m.begin() + 6, m.end()))));
  s = Sent();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].ack, h.seq);
  EXPECT_TRUE(handler.seen.empty());
  EXPECT_EQ(server->counters().out_of_order, 2u);
  SendData(h, Bytes(m.begin() + 10, m.end()));  // the host sends from our ACK on
  ASSERT_EQ(handler.seen.size(), 1u);
  EXPECT_EQ(handler.seen[0].message, Query(5, 40));
}

TEST_F(DnsTcpTest, UnacknowledgedAnswersAreSentAgainThenTheConnectionIsReset) {
  Host h = Connect();
  SendData(h, Framed(Query(4)));
  const std::vector<ServerSegment> first = Sent();
  ASSERT_EQ(first.size(), 1u);
  clock.AdvanceMs(999);
  server->Poll();
  EXPECT_TRUE(Sent().empty());
  // RTO 1 s, then 2 s, 4 s (RFC 6298 5.5): the same bytes from the same sequence number.
  uint64_t wait_ms = 1;
  for (int i = 0; i < 3; ++i) {
    clock.AdvanceMs(wait_ms);
    server->Poll();
    const std::vector<ServerSegment> again = Sent();
    ASSERT_EQ(again.size(), 1u) << i;
    EXPECT_EQ(again[0].seq, first[0].seq);
    EXPECT_EQ(again[0].payload, first[0].payload);
    wait_ms = 1000u << (i + 1);
    clock.AdvanceMs(wait_ms - 1);
    server->Poll();
    EXPECT_TRUE(Sent().empty());
  }
  EXPECT_EQ(server->counters().retransmits, 3u);
  clock.AdvanceMs(1);
  server->Poll();  // max_retransmits (3) used up
  const std::vector<ServerSegment> rst = Sent();
  ASSERT_EQ(rst.size(), 1u);
  EXPECT_EQ(rst[0].flags, kTcpRst | kTcpAck);
  EXPECT_EQ(rst[0].seq, first[0].seq + first[0].payload.size());
  EXPECT_EQ(server->connections(), 0u);
  EXPECT_EQ(server->counters().timed_out, 1u);
}

TEST_F(DnsTcpTest, AnAckStopsTheTimerAndASynAckIsRetransmittedToo) {
  Host h = Connect();
  SendData(h, Framed(Query(4)));
  Receive(h, Sent());
  clock.AdvanceMs(5000);
  server->Poll();
  EXPECT_TRUE(Sent().empty());
  EXPECT_EQ(server->counters().retransmits, 0u);

  Host h2;
  h2.port = 40002;
  EXPECT_TRUE(server->OnTapFrame(Segment(h2, kTcpSyn, {}, 1460)));
  const std::vector<ServerSegment> syn_ack = Sent(40002);
  ASSERT_EQ(syn_ack.size(), 1u);
  clock.AdvanceMs(1000);
  server->Poll();
  const std::vector<ServerSegment> again = Sent(40002);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].flags, kTcpSyn | kTcpAck);
  EXPECT_EQ(again[0].seq, syn_ack[0].seq);
  EXPECT_EQ(again[0].mss, kMtu - 40);
}

TEST_F(DnsTcpTest, LongAnswersGoInSegmentsOfThePeersMssWithinItsWindow) {
  handler.answer_size = 3000;
  Host h = Connect(40000, 536);  // the host's MSS is below ours
  h.window = 1500;
  SendData(h, Framed(Query(3)));
  std::vector<ServerSegment> s = Sent();
  // The window allows 1500 bytes: 536 + 536 + 428; none larger than the MSS.
  ASSERT_EQ(s.size(), 3u);
  size_t in_flight = 0;
  for (const ServerSegment& seg : s) {
    EXPECT_LE(seg.payload.size(), 536u);
    in_flight += seg.payload.size();
  }
  EXPECT_EQ(in_flight, 1500u);
  EXPECT_EQ(s[2].flags, kTcpAck);  // no PSH: more follows
  Bytes got = Receive(h, s);       // the ACK opens the window again
  for (int i = 0; i < 4 && got.size() < 3002; ++i) {
    s = Sent();
    for (const ServerSegment& seg : s) EXPECT_LE(seg.payload.size(), 536u);
    const Bytes more = Receive(h, s);
    got.insert(got.end(), more.begin(), more.end());
  }
  EXPECT_EQ(got, Framed(AnswerOf(Query(3), 3000)));
  EXPECT_EQ(server->counters().answers, 1u);

  // With a large MSS, ours (MTU - 40); without an MSS option, 536 (RFC 9293 3.7.1).
  handler.answer_size = 4000;
  Host big = Connect(40001, 9000);
  SendData(big, Framed(Query(4)));
  s = Sent(40001);
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s[0].payload.size(), kMtu - 40);
  Host none = Connect(40002, 0);
  SendData(none, Framed(Query(5)));
  s = Sent(40002);
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s[0].payload.size(), 536u);
}

TEST_F(DnsTcpTest, AClosedWindowIsProbedWithOneByte) {
  Host h = Connect();
  h.window = 0;
  EXPECT_TRUE(server->OnTapFrame(Segment(h, kTcpAck)));  // the host's window closes
  SendData(h, Framed(Query(8)));
  std::vector<ServerSegment> s = Sent();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_TRUE(s[0].payload.empty());  // only the ACK of the query
  clock.AdvanceMs(1000);
  server->Poll();
  s = Sent();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].payload.size(), 1u);
  h.window = 65535;  // opens: the ACK of the probe brings the rest
  const Bytes first = Receive(h, s);
  Bytes rest = Receive(h, Sent());
  rest.insert(rest.begin(), first.begin(), first.end());
  EXPECT_EQ(rest, Framed(AnswerOf(Query(8), 0)));
}

TEST_F(DnsTcpTest, OurFinWaitsForTheAnswersOfAHalfClosedPeer) {
  handler.answer_now = false;
  Host h = Connect();
  SendData(h, Framed(Query(1)), kTcpFin);  // the query and the host's FIN together
  std::vector<ServerSegment> s = Sent();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].flags, kTcpAck);  // FIN acknowledged, ours not yet: an answer is due
  EXPECT_EQ(s[0].ack, h.seq);
  ASSERT_EQ(handler.seen.size(), 1u);
  EXPECT_TRUE(
      server->SendMessage(handler.seen[0].client.connection, AnswerOf(handler.seen[0].message, 0)));
  s = Sent();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].payload, Framed(AnswerOf(Query(1), 0)));
  EXPECT_EQ(s[1].flags, kTcpFin | kTcpAck);
  Receive(h, s);
  EXPECT_EQ(server->connections(), 0u);
  EXPECT_EQ(server->counters().closed, 1u);
  // An answer after that has nowhere to go.
  EXPECT_FALSE(server->SendMessage(handler.seen[0].client.connection, Query(1)));
  EXPECT_EQ(server->counters().answers_dropped, 1u);
}

TEST_F(DnsTcpTest, PipelinedAnswersGoOutAsTheyFinish) {
  handler.answer_now = false;
  Host h = Connect();
  Bytes both = Framed(Query(1));
  const Bytes q2 = Framed(Query(2));
  both.insert(both.end(), q2.begin(), q2.end());
  SendData(h, both);
  Sent();
  ASSERT_EQ(handler.seen.size(), 2u);
  server->SendMessage(handler.seen[1].client.connection, AnswerOf(handler.seen[1].message, 0));
  EXPECT_EQ(Receive(h, Sent()), Framed(AnswerOf(Query(2), 0)));
  server->SendMessage(handler.seen[0].client.connection, AnswerOf(handler.seen[0].message, 0));
  EXPECT_EQ(Receive(h, Sent()), Framed(AnswerOf(Query(1), 0)));
}

TEST_F(DnsTcpTest, ARstInTheWindowEndsTheConnectionOthersAreIgnored) {
  Host h = Connect();
  Host off = h;
  off.seq += 100000;
  EXPECT_TRUE(server->OnTapFrame(Segment(off, kTcpRst)));
  EXPECT_EQ(server->connections(), 1u);
  EXPECT_EQ(server->counters().ignored_rst, 1u);
  EXPECT_TRUE(server->OnTapFrame(Segment(h, kTcpRst)));
  EXPECT_EQ(server->connections(), 0u);
  EXPECT_EQ(server->counters().reset_by_peer, 1u);
  EXPECT_TRUE(Sent().empty());  // a RST is never answered
}

TEST_F(DnsTcpTest, SegmentsForNoConnectionGetARst) {
  Host h;
  h.seq = 5000;
  h.ack = 777;
  EXPECT_TRUE(server->OnTapFrame(Segment(h, kTcpAck | kTcpPsh, Framed(Query(1)))));
  std::vector<ServerSegment> s = Sent();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].flags, kTcpRst);  // from its ACK field (RFC 9293 3.10.7.1)
  EXPECT_EQ(s[0].seq, 777u);
  EXPECT_EQ(server->OnTapFrame(Segment(h, kTcpFin, Bytes(3, 0))), true);
  s = Sent();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].flags, kTcpRst | kTcpAck);  // no ACK: it acknowledges the segment
  EXPECT_EQ(s[0].seq, 0u);
  EXPECT_EQ(s[0].ack, 5000u + 3 + 1);
  EXPECT_TRUE(server->OnTapFrame(Segment(h, kTcpRst)));
  EXPECT_TRUE(Sent().empty());
  EXPECT_EQ(server->counters().no_connection, 3u);
  EXPECT_EQ(server->counters().resets_sent, 2u);
  EXPECT_TRUE(handler.seen.empty());
  EXPECT_EQ(server->connections(), 0u);
}

TEST_F(DnsTcpTest, AFullTableResetsTheLeastRecentlyActiveConnection) {
  std::vector<Host> hosts;
  for (uint16_t p = 40000; p < 40004; ++p) {
    hosts.push_back(Connect(p));
    clock.AdvanceMs(10);
  }
  SendData(hosts[0], Framed(Query(1)));  // 40000 is busy again; 40001 is now the oldest
  Sent();
  EXPECT_EQ(server->connections(), 4u);
  Host fresh;
  fresh.port = 40100;
  EXPECT_TRUE(server->OnTapFrame(Segment(fresh, kTcpSyn, {}, 1460)));
  ASSERT_EQ(port.frames.size(), 2u);
  const ServerSegment rst = testing::CheckServerSegment(port.frames[0]);
  const ServerSegment syn_ack = testing::CheckServerSegment(port.frames[1]);
  port.frames.clear();
  EXPECT_EQ(rst.error, "");
  EXPECT_EQ(rst.dst_port, 40001);
  EXPECT_EQ(rst.flags, kTcpRst | kTcpAck);
  EXPECT_EQ(rst.seq, hosts[1].ack);  // in the evicted peer's window
  EXPECT_EQ(syn_ack.dst_port, 40100);
  EXPECT_EQ(syn_ack.flags, kTcpSyn | kTcpAck);
  EXPECT_EQ(server->connections(), 4u);
  EXPECT_EQ(server->counters().evicted, 1u);
  // The evicted one is gone, the others live.
  SendData(hosts[1], Framed(Query(2)));
  EXPECT_EQ(Sent(40001)[0].flags, kTcpRst);
  SendData(hosts[2], Framed(Query(3)));
  EXPECT_EQ(Receive(hosts[2], Sent(40002)), Framed(AnswerOf(Query(3), 0)));
}

TEST_F(DnsTcpTest, IdleConnectionsAreClosedByUs) {
  Host h = Connect();
  SendData(h, Framed(Query(1)));
  Receive(h, Sent());
  clock.AdvanceMs(9999);
  server->Poll();
  EXPECT_TRUE(Sent().empty());
  clock.AdvanceMs(1);
  server->Poll();
  std::vector<ServerSegment> s = Sent();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].flags, kTcpFin | kTcpAck);
  EXPECT_EQ(server->counters().idle_closed, 1u);
  Receive(h, s);  // FIN acknowledged
  EXPECT_EQ(server->connections(), 1u);
  EXPECT_TRUE(server->OnTapFrame(Segment(h, kTcpAck | kTcpFin)));  // the host's FIN
  s = Sent();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].flags, kTcpAck);
  EXPECT_EQ(s[0].ack, h.seq + 1);
  EXPECT_EQ(server->connections(), 0u);

  // A host that never sends its FIN: freed after another idle period.
  Host h2 = Connect(40001);
  clock.AdvanceMs(10000);
  server->Poll();
  Receive(h2, Sent(40001));
  clock.AdvanceMs(10000);
  server->Poll();
  EXPECT_EQ(server->connections(), 0u);
  EXPECT_EQ(server->counters().closed, 2u);
}

TEST_F(DnsTcpTest, BoundsQueriesInFlightQuerySizeAndAnswerBuffer) {
  DnsTcpOptions o = Options();
  o.max_queries_in_flight = 2;
  o.max_query_size = 100;
  o.max_send_buffer = 0xffff + 2 + 100;
  Make(o);
  handler.answer_now = false;
  Host h = Connect();
  Bytes three;
  for (uint8_t tag = 1; tag <= 3; ++tag) {
    const Bytes m = Framed(Query(tag));
    three.insert(three.end(), m.begin(), m.end());
  }
  EXPECT_TRUE(server->OnTapFrame(Segment(h, kTcpAck | kTcpPsh, three)));
  EXPECT_EQ(handler.seen.size(), 2u);  // the third waits
  std::vector<ServerSegment> s = Sent();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].ack, h.seq + 2 * 22);  // only the two messages taken
  EXPECT_EQ(server->counters().backlogged, 1u);
  h.seq += 2 * 22;
  server->SendMessage(handler.seen[0].client.connection, AnswerOf(handler.seen[0].message, 0));
  Receive(h, Sent());
  SendData(h, Framed(Query(3)));  // the host sends it again: now there is room
  EXPECT_EQ(handler.seen.size(), 3u);
  Sent();

  // A 64 KiB answer fits the buffer; the next one no longer does and is dropped (its query
  // times out at the client).
  EXPECT_TRUE(server->SendMessage(handler.seen[1].client.connection, Bytes(0xffff, 1)));
  EXPECT_FALSE(server->SendMessage(handler.seen[2].client.connection, Bytes(200, 2)));
  EXPECT_EQ(server->counters().answers_dropped, 1u);
  Sent();

  // A length prefix above max_query_size resets the connection.
  Host h2 = Connect(40001);
  SendData(h2, {0, 101});
  s = Sent(40001);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].flags, kTcpRst | kTcpAck);
  EXPECT_EQ(server->counters().query_too_large, 1u);
  EXPECT_EQ(server->connections(), 1u);
}

TEST_F(DnsTcpTest, QueriesTheHandlerDropsDoNotHoldOurFin) {
  handler.drop = true;
  Host h = Connect();
  SendData(h, Framed(Query(1)), kTcpFin);
  const std::vector<ServerSegment> s = Sent();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].flags, kTcpFin | kTcpAck);
  // An empty message is skipped, counted.
  Host h2 = Connect(40001);
  SendData(h2, {0, 0});
  EXPECT_EQ(server->counters().empty_messages, 1u);
  EXPECT_EQ(handler.seen.size(), 1u);
}

TEST_F(DnsTcpTest, MalformedSegmentsAreCountedAndDropped) {
  Host h = Connect();
  auto with = [&](auto&& change) {
    Bytes f = Segment(h, kTcpAck | kTcpPsh, Framed(Query(1)));
    change(f);
    return f;
  };
  auto fix_ip_checksum = [](Bytes& f) {
    f[24] = f[25] = 0;
    testing::PutBe16(&f[24], ~testing::WordSum(&f[14], 20) & 0xffff);
  };
  const Bytes bad_checksum = with([](Bytes& f) { f[14 + 20 + 16] ^= 0x40; });
  const Bytes bad_offset = with([](Bytes& f) { f[14 + 20 + 12] = 0x30; });  // 12 bytes
  const Bytes offset_past_end = with([](Bytes& f) { f[14 + 20 + 12] = 0xf0; });
  const Bytes cut = with([&](Bytes& f) {
    f.resize(14 + 20 + 10);
    testing::PutBe16(&f[16], 30);
    fix_ip_checksum(f);
  });
  const Bytes fragment = with([&](Bytes& f) {
    testing::PutBe16(&f[20], 0x2000);  // MF
    fix_ip_checksum(f);
  });
  Bytes bad_option = Segment(h, kTcpSyn, {}, 1460);
  bad_option[14 + 20 + 21] = 9;  // MSS option length past the header
  Bytes syn_fin = Segment(h, kTcpSyn | kTcpFin);
  for (const Bytes& f : {bad_checksum, bad_offset, offset_past_end, cut, fragment, bad_option})
    EXPECT_TRUE(server->OnTapFrame(f));
  EXPECT_TRUE(server->OnTapFrame(syn_fin));
  EXPECT_EQ(server->counters().bad_checksum, 1u);
  EXPECT_EQ(server->counters().malformed, 5u);
  EXPECT_EQ(server->counters().bad_flags, 1u);
  Bytes no_ack = Segment(h, kTcpPsh, Framed(Query(1)));
  EXPECT_TRUE(server->OnTapFrame(no_ack));
  EXPECT_EQ(server->counters().bad_flags, 2u);
  EXPECT_TRUE(Sent().empty());
  EXPECT_TRUE(handler.seen.empty());
  EXPECT_EQ(server->connections(), 1u);

  // Not ours: other ports, addresses, protocols, too short for anything.
  testing::HostSegment other{kHostMac, kGatewayMac, kHost, kResponder, 40000, 54};
  other.flags = kTcpSyn;
  EXPECT_FALSE(server->OnTapFrame(testing::BuildHostSegment(other)));
  other.dst_port = 53;
  other.dst_ip = Ip(10, 250, 0, 9);
  EXPECT_FALSE(server->OnTapFrame(testing::BuildHostSegment(other)));
  uint8_t udp[128];
  const uint8_t q[12] = {};
  const size_t n = udp::BuildFrame({kHostMac, kHost, 40000}, {kGatewayMac, kResponder, 53}, q, udp);
  EXPECT_FALSE(server->OnTapFrame({udp, n}));
  EXPECT_FALSE(server->OnTapFrame(Bytes(10, 0)));
  EXPECT_EQ(server->counters().segments, 2u + 8u);  // the handshake's and these
  // And the connection still works.
  SendData(h, Framed(Query(2)));
  EXPECT_EQ(Receive(h, Sent()), Framed(AnswerOf(Query(2), 0)));
}

// ---- in front of the real responder ----

DnsOptions ResponderOptions(const char* suffix = "ipop") {
  DnsOptions o;
  o.responder_ip = kResponder;
  std::memcpy(o.gateway_mac, kGatewayMac, 6);
  o.suffix = suffix;
  o.network = "alpha";
  o.range_base = Ip(10, 250, 0, 0);
  o.range_prefix_len = 16;
  return o;
}

Bytes DnsQuery(const std::string& name, uint16_t type, uint16_t id, bool edns = false,
               uint16_t edns_size = 1232) {
  Bytes m = {uint8_t(id >> 8), uint8_t(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, uint8_t(edns)};
  dns::Name n;
  EXPECT_TRUE(dns::NameFromText(name, &n));
  m.insert(m.end(), n.wire, n.wire + n.size);
  m.insert(m.end(), {uint8_t(type >> 8), uint8_t(type), 0, 1});
  if (edns)
    m.insert(m.end(), {0, 0, 41, uint8_t(edns_size >> 8), uint8_t(edns_size), 0, 0, 0, 0, 0, 0});
  return m;
}

class DnsTcpResponderTest : public DnsTcpTest {
 protected:
  void Use(const char* suffix) {
    responder = std::make_unique<DnsResponder>(port, clock, nullptr, ResponderOptions(suffix));
    server = std::make_unique<DnsTcpServer>(port, clock, random, *responder, Options());
    responder->SetStreams(server.get());
  }
  // One query over TCP on a fresh connection; the whole answer.
  Bytes AskTcp(const Bytes& query, uint16_t host_port) {
    Host h = Connect(host_port);
    SendData(h, Framed(query));
    Bytes got = Receive(h, Sent(host_port));
    EXPECT_GE(got.size(), 2u);
    if (got.size() < 2) return {};
    EXPECT_EQ(got.size(), 2u + testing::Be16At(got.data()));
    return Bytes(got.begin() + 2, got.end());
  }
  Bytes AskUdp(const Bytes& query) {
    uint8_t f[1600];
    const size_t n =
        udp::BuildFrame({kHostMac, kHost, 40000}, {kGatewayMac, kResponder, 53}, query, f);
    EXPECT_TRUE(responder->OnTapFrame({f, n}));
    EXPECT_EQ(port.frames.size(), 1u);
    if (port.frames.empty()) return {};
    udp::FrameView v;
    EXPECT_EQ(udp::ParseFrame(port.frames[0], &v), udp::FrameError::kNone);
    Bytes out(v.payload.begin(), v.payload.end());
    port.frames.clear();
    return out;
  }
  std::unique_ptr<DnsResponder> responder;
};

TEST_F(DnsTcpResponderTest, ZoneNamesResolveOverTcp) {
  Use("ipop");
  const Bytes a = AskTcp(DnsQuery("C250000007.ipop", dns::kTypeA, 0x1234), 40000);
  dns::Response r;
  ASSERT_EQ(dns::ParseResponse(a, &r), dns::ParseError::kNone);
  EXPECT_EQ(r.id, 0x1234);
  EXPECT_EQ(r.rcode, dns::Rcode::kNoError);
  ASSERT_EQ(r.answer_count, 1);
  EXPECT_EQ(r.answers[0].ipv4, Ip(10, 250, 0, 7));
  EXPECT_EQ(responder->counters().queries, 1u);
  EXPECT_EQ(responder->counters().replies_sent, 1u);
}

// A 200-byte zone name: its negative answers carry an SOA of two long names, over 512 bytes. A
// UDP client without EDNS gets them cut with TC; over TCP the whole answer comes.
TEST_F(DnsTcpResponderTest, ALongAnswerIsTruncatedOverUdpAndWholeOverTcp) {
  const std::string suffix = std::string(60, 'a') + "." + std::string(60, 'b') + "." +
                             std::string(60, 'c') + "." + std::string(20, 'd');
  Use(suffix.c_str());
  const Bytes q = DnsQuery("nothing." + suffix, dns::kTypeA, 77);
  const Bytes over_udp = AskUdp(q);
  dns::Response r;
  ASSERT_EQ(dns::ParseResponse(over_udp, &r), dns::ParseError::kNone);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.id, 77);
  EXPECT_EQ(r.rcode, dns::Rcode::kNxDomain);
  EXPECT_EQ(r.authority_count, 0);
  EXPECT_EQ(dns::NameToText(r.question.name), "nothing." + suffix);
  EXPECT_LE(over_udp.size(), 512u);
  EXPECT_EQ(responder->counters().truncated, 1u);

  // EDNS with 1232 bytes: it fits, whole.
  const Bytes with_edns = AskUdp(DnsQuery("nothing." + suffix, dns::kTypeA, 78, true));
  ASSERT_EQ(dns::ParseResponse(with_edns, &r), dns::ParseError::kNone);
  EXPECT_FALSE(r.truncated);
  EXPECT_EQ(r.authority_count, 1);
  EXPECT_GT(with_edns.size(), 512u);
  // EDNS advertising less than 512 counts as 512 (RFC 6891 6.2.5): cut, and the OPT stays.
  const Bytes small = AskUdp(DnsQuery("nothing." + suffix, dns::kTypeA, 79, true, 300));
  ASSERT_EQ(dns::ParseResponse(small, &r), dns::ParseError::kNone);
  EXPECT_TRUE(r.truncated);
  EXPECT_TRUE(r.has_edns);

  const Bytes over_tcp = AskTcp(q, 40001);
  ASSERT_EQ(dns::ParseResponse(over_tcp, &r), dns::ParseError::kNone);
  EXPECT_FALSE(r.truncated);
  EXPECT_EQ(r.id, 77);
  EXPECT_EQ(r.rcode, dns::Rcode::kNxDomain);
  ASSERT_EQ(r.authority_count, 1);
  EXPECT_EQ(r.authority[0].type, dns::kTypeSoa);
  EXPECT_GT(over_tcp.size(), 512u);
  EXPECT_EQ(responder->counters().truncated, 2u);
}

}  // namespace
}  // namespace ipop::cp
