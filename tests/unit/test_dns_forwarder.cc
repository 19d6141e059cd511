// DnsForwarder behind the responder: IDs rewritten and restored, replies validated (source, ID,
// question), retries to the next upstream, expiry SERVFAIL, bounded table, oversize replies cut
// to TC, a TC reply fetched again over TCP (whole to TCP clients, cut to a UDP client's size),
// resolv.conf parsing; all with a fake transport and fake TAP port. Then DnsUpstreamTcp, the
// kernel TCP sockets of those retries, against a server on loopback.
#include "controlplane/services/dns_forwarder.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "controlplane/services/dns_upstream_tcp.h"
#include "controlplane/services/udp_frame.h"
#include "shared/byte_order.h"
#include "tests/unit/cp_fakes.h"

namespace ipop::cp {
namespace {

using testing::Ep4;
using testing::Ip;

const uint8_t kGatewayMac[6] = {0x02, 0x49, 0x50, 0x00, 0x00, 0x01};
const uint8_t kHostMac[6] = {0xd2, 0x38, 0x38, 0x0d, 0x8a, 0xb9};
const uint32_t kResponder = Ip(10, 250, 0, 254);
const uint32_t kHost = Ip(10, 250, 0, 2);
constexpr uint16_t kHostPort = 40000;
const Endpoint kUp1 = Ep4(Ip(127, 0, 0, 1), 5353);
const Endpoint kUp2 = Ep4(Ip(192, 0, 2, 53), 53);

class FakeTransport final : public DnsUpstreamTransport {
 public:
  bool Send(const Endpoint& to, std::span<const uint8_t> message) override {
    if (fail) return false;
    sent.push_back({to, {message.begin(), message.end()}});
    return true;
  }
  bool StartStream(uint16_t id, const Endpoint& to, std::span<const uint8_t> message) override {
    if (streams_fail) return false;
    streams.push_back({id, to, {message.begin(), message.end()}});
    return true;
  }
  void CancelStream(uint16_t id) override { cancelled.push_back(id); }
  void PollStreams(const StreamDone& done) override {
    std::vector<std::pair<uint16_t, std::vector<uint8_t>>> now;
    now.swap(finished);
    for (const auto& [id, reply] : now) done(id, reply);
  }
  struct Sent {
    Endpoint to;
    std::vector<uint8_t> bytes;
  };
  struct Stream {
    uint16_t id;
    Endpoint to;
    std::vector<uint8_t> bytes;
  };
  bool fail = false;
  bool streams_fail = false;
  std::vector<Sent> sent;
  std::vector<Stream> streams;
  std::vector<uint16_t> cancelled;
  std::vector<std::pair<uint16_t, std::vector<uint8_t>>> finished;  // handed out by PollStreams
};

// The answers the forwarder writes to TCP clients (DnsTcpServer's place).
class FakeStreams final : public DnsStreamSink {
 public:
  bool SendMessage(uint64_t connection, std::span<const uint8_t> message) override {
    messages.push_back({connection, {message.begin(), message.end()}});
    return true;
  }
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> messages;
};

std::vector<uint8_t> QueryMsg(const char* name, uint16_t id, bool edns = true) {
  std::vector<uint8_t> m = {uint8_t(id >> 8),     uint8_t(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0,
                            uint8_t(edns ? 1 : 0)};
  dns::Name n;
  EXPECT_TRUE(dns::NameFromText(name, &n));
  m.insert(m.end(), n.wire, n.wire + n.size);
  m.insert(m.end(), {0, 1, 0, 1});
  if (edns) m.insert(m.end(), {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0});
  return m;
}

// An upstream's answer to `query` (its ID and question echoed): one A record.
std::vector<uint8_t> AnswerTo(std::span<const uint8_t> query, uint32_t ipv4, size_t pad = 0) {
  dns::Query q;
  EXPECT_EQ(dns::ParseQuery(query, &q), dns::ParseError::kNone);
  std::vector<uint8_t> m(query.begin(), query.begin() + ptrdiff_t(12 + q.question.name.size + 4));
  StoreBe16(&m[2], 0x8180);  // QR RD RA
  StoreBe16(&m[6], 1);
  StoreBe16(&m[8], 0);
  StoreBe16(&m[10], 0);
  m.insert(m.end(), {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4});
  m.insert(m.end(), {uint8_t(ipv4 >> 24), uint8_t(ipv4 >> 16), uint8_t(ipv4 >> 8), uint8_t(ipv4)});
  if (pad) {  // a TXT-ish additional record to make it big
    StoreBe16(&m[10], 1);
    m.insert(m.end(), {0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 30, uint8_t(pad >> 8), uint8_t(pad)});
    m.insert(m.end(), pad, 'x');
  }
  return m;
}

std::vector<uint8_t> Frame(std::span<const uint8_t> payload, uint16_t src_port = kHostPort) {
  std::vector<uint8_t> f(1600);
  f.resize(udp::BuildFrame({kHostMac, kHost, src_port}, {kGatewayMac, kResponder, 53}, payload, f));
  return f;
}

class DnsForwarderTest : public ::testing::Test {
 protected:
  DnsForwarderTest()
      : random(7),
        forwarder(port, clock, random, transport, Options()),
        responder(port, clock, nullptr, ResponderOptions()) {
    responder.SetForwarder(&forwarder);
    forwarder.SetUpstreams({kUp1, kUp2});
  }
  static DnsForwarderOptions Options() {
    DnsForwarderOptions o;
    o.responder_ip = kResponder;
    std::memcpy(o.gateway_mac, kGatewayMac, 6);
    o.max_pending = 3;
    return o;
  }
  static DnsOptions ResponderOptions() {
    DnsOptions o;
    o.responder_ip = kResponder;
    std::memcpy(o.gateway_mac, kGatewayMac, 6);
    o.network = "alpha";
    o.range_base = Ip(10, 250, 0, 0);
    o.range_prefix_len = 16;
    return o;
  }
  // The client's last reply on the TAP, addressing checked.
  std::vector<uint8_t> LastReply(uint16_t dst_port = kHostPort) {
    EXPECT_FALSE(port.frames.empty());
    if (port.frames.empty()) return {};
    udp::FrameView v;
    EXPECT_EQ(udp::ParseFrame(port.frames.back(), &v), udp::FrameError::kNone);
    EXPECT_EQ(0, std::memcmp(v.src_mac, kGatewayMac, 6));
    EXPECT_EQ(0, std::memcmp(v.dst_mac, kHostMac, 6));
    EXPECT_EQ(v.src_ip, kResponder);
    EXPECT_EQ(v.src_port, 53);
    EXPECT_EQ(v.dst_ip, kHost);
    EXPECT_EQ(v.dst_port, dst_port);
    return {v.payload.begin(), v.payload.end()};
  }

  testing::FakePort port;
  testing::FakeClock clock;
  testing::FakeRandom random;
  FakeTransport transport;
  DnsForwarder forwarder;
  DnsResponder responder;
};

TEST_F(DnsForwarderTest, OptionsAreValidated) {
  EXPECT_EQ(ValidateDnsForwarderOptions(Options()), "");
  DnsForwarderOptions o = Options();
  o.responder_ip = 0;
  EXPECT_NE(ValidateDnsForwarderOptions(o), "");
  o = Options();
  o.max_reply_size = 4096;
  EXPECT_NE(ValidateDnsForwarderOptions(o), "");
  o = Options();
  o.expiry_ns = o.attempt_timeout_ns - 1;
  EXPECT_NE(ValidateDnsForwarderOptions(o), "");
}

TEST_F(DnsForwarderTest, ForwardsWithANewIdAndRestoresTheClientsId) {
  const std::vector<uint8_t> q = QueryMsg("www.Example.com", 0x1234);
  EXPECT_TRUE(responder.OnTapFrame(Frame(q)));
  EXPECT_TRUE(port.frames.empty());  // nothing answered yet
  ASSERT_EQ(transport.sent.size(), 1u);
  EXPECT_EQ(transport.sent[0].to, kUp1);
  const std::vector<uint8_t>& up = transport.sent[0].bytes;
  ASSERT_EQ(up.size(), q.size());
  EXPECT_TRUE(std::equal(up.begin() + 2, up.end(), q.begin() + 2));  // all but the ID unchanged
  EXPECT_EQ(forwarder.pending(), 1u);
  EXPECT_EQ(responder.counters().forwarded, 1u);
  EXPECT_EQ(responder.counters().refused, 0u);

  const std::vector<uint8_t> answer = AnswerTo(up, Ip(93, 184, 216, 34));
  forwarder.OnUpstreamReply(kUp1, answer);
  const std::vector<uint8_t> reply = LastReply();
  ASSERT_EQ(reply.size(), answer.size());
  EXPECT_EQ(LoadBe16(reply.data()), 0x1234);
  EXPECT_TRUE(std::equal(reply.begin() + 2, reply.end(), answer.begin() + 2));
  dns::Response r;
  ASSERT_EQ(dns::ParseResponse(reply, &r), dns::ParseError::kNone);
  EXPECT_EQ(r.answers[0].ipv4, Ip(93, 184, 216, 34));
  EXPECT_EQ(forwarder.pending(), 0u);
  EXPECT_EQ(forwarder.counters().answered, 1u);

  // The same answer again is late: the entry is gone.
  forwarder.OnUpstreamReply(kUp1, answer);
  EXPECT_EQ(port.frames.size(), 1u);
  EXPECT_EQ(forwarder.counters().bad_reply_unknown_id, 1u);
}

TEST_F(DnsForwarderTest, ZoneNamesAreNeverForwarded) {
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("C250000007.ipop", 1))));
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("nothing.alpha.ipop", 2))));
  EXPECT_TRUE(transport.sent.empty());
  EXPECT_EQ(port.frames.size(), 2u);
}

TEST_F(DnsForwarderTest, WithoutUpstreamsNamesOutsideTheZoneAreRefused) {
  forwarder.SetUpstreams({});
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("example.com", 9))));
  dns::Response r;
  ASSERT_EQ(dns::ParseResponse(LastReply(), &r), dns::ParseError::kNone);
  EXPECT_EQ(r.rcode, dns::Rcode::kRefused);
  EXPECT_EQ(forwarder.counters().no_upstream, 1u);
  EXPECT_TRUE(transport.sent.empty());
}

TEST_F(DnsForwarderTest, RepliesFromElsewhereOrForAnotherQuestionAreDropped) {
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("a.example", 77))));
  const std::vector<uint8_t> up = transport.sent.at(0).bytes;
  std::vector<uint8_t> answer = AnswerTo(up, Ip(1, 2, 3, 4));

  forwarder.OnUpstreamReply(kUp2, answer);                       // not sent there (yet)
  forwarder.OnUpstreamReply(Ep4(Ip(127, 0, 0, 1), 53), answer);  // right host, wrong port
  EXPECT_EQ(forwarder.counters().bad_reply_source, 2u);

  std::vector<uint8_t> other = answer;
  other[12 + 1] = 'b';  // "b.example"
  forwarder.OnUpstreamReply(kUp1, other);
  std::vector<uint8_t> case_changed = answer;
  case_changed[12 + 1] = 'A';
  forwarder.OnUpstreamReply(kUp1, case_changed);
  std::vector<uint8_t> no_question = answer;
  StoreBe16(&no_question[4], 0);
  forwarder.OnUpstreamReply(kUp1, no_question);
  forwarder.OnUpstreamReply(kUp1, std::span(answer).first(20));  // cut inside the question
  EXPECT_EQ(forwarder.counters().bad_reply_question, 4u);

  std::vector<uint8_t> query_bit = answer;
  query_bit[2] &= 0x7f;  // QR clear: a query, not a reply
  forwarder.OnUpstreamReply(kUp1, query_bit);
  forwarder.OnUpstreamReply(kUp1, std::span(answer).first(5));
  EXPECT_EQ(forwarder.counters().bad_reply_malformed, 2u);
  EXPECT_TRUE(port.frames.empty());
  EXPECT_EQ(forwarder.pending(), 1u);

  forwarder.OnUpstreamReply(kUp1, answer);  // the real one still gets through
  EXPECT_EQ(LoadBe16(LastReply().data()), 77);
}

TEST_F(DnsForwarderTest, RetriesTheNextUpstreamThenAnswersServFail) {
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("slow.example", 5))));
  ASSERT_EQ(transport.sent.size(), 1u);
  clock.AdvanceMs(999);
  forwarder.Poll();
  EXPECT_EQ(transport.sent.size(), 1u);
  clock.AdvanceMs(1);
  forwarder.Poll();
  ASSERT_EQ(transport.sent.size(), 2u);
  EXPECT_EQ(transport.sent[1].to, kUp2);
  EXPECT_EQ(transport.sent[1].bytes, transport.sent[0].bytes);  // same upstream ID
  // The first upstream's late answer is still welcome.
  const std::vector<uint8_t> answer = AnswerTo(transport.sent[0].bytes, Ip(5, 5, 5, 5));
  clock.AdvanceMs(1000);
  forwarder.Poll();
  ASSERT_EQ(transport.sent.size(), 3u);
  EXPECT_EQ(transport.sent[2].to, kUp1);  // wraps around
  EXPECT_TRUE(port.frames.empty());
  clock.AdvanceMs(1000);
  forwarder.Poll();
  dns::Response r;
  ASSERT_EQ(dns::ParseResponse(LastReply(), &r), dns::ParseError::kNone);
  EXPECT_EQ(r.id, 5);
  EXPECT_EQ(r.rcode, dns::Rcode::kServFail);
  EXPECT_EQ(dns::NameToText(r.question.name), "slow.example");
  EXPECT_TRUE(r.has_edns);
  EXPECT_EQ(forwarder.counters().timeouts, 1u);
  EXPECT_EQ(forwarder.counters().retries, 2u);
  EXPECT_EQ(forwarder.pending(), 0u);
  forwarder.OnUpstreamReply(kUp1, answer);  // after expiry: dropped
  EXPECT_EQ(port.frames.size(), 1u);
}

TEST_F(DnsForwarderTest, AnAnswerFromAnEarlierUpstreamIsAcceptedAfterARetry) {
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("x.example", 6))));
  clock.AdvanceMs(1000);
  forwarder.Poll();
  ASSERT_EQ(transport.sent.size(), 2u);
  forwarder.OnUpstreamReply(kUp1, AnswerTo(transport.sent[0].bytes, Ip(6, 6, 6, 6)));
  EXPECT_EQ(LoadBe16(LastReply().data()), 6);
}

TEST_F(DnsForwarderTest, TableIsBoundedAndDuplicatesAreDropped) {
  for (uint16_t id = 1; id <= 3; ++id)
    EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("n.example", id))));
  EXPECT_EQ(forwarder.pending(), 3u);
  // A retransmission of id 2 while it is in flight: no new upstream query, no reply.
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("n.example", 2))));
  EXPECT_EQ(transport.sent.size(), 3u);
  EXPECT_EQ(forwarder.counters().duplicates, 1u);
  EXPECT_TRUE(port.frames.empty());
  // Full: SERVFAIL at once.
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("n.example", 4))));
  dns::Response r;
  ASSERT_EQ(dns::ParseResponse(LastReply(), &r), dns::ParseError::kNone);
  EXPECT_EQ(r.id, 4);
  EXPECT_EQ(r.rcode, dns::Rcode::kServFail);
  EXPECT_EQ(forwarder.counters().pending_full, 1u);
  // Upstream IDs are distinct, so each answer finds its own client.
  for (const auto& s : transport.sent)
    forwarder.OnUpstreamReply(s.to, AnswerTo(s.bytes, Ip(9, 9, 9, 9)));
  EXPECT_EQ(forwarder.counters().answered, 3u);
  EXPECT_EQ(forwarder.pending(), 0u);
  std::vector<uint16_t> ids;
  for (size_t i = 1; i < port.frames.size(); ++i) {
    udp::FrameView v;
    ASSERT_EQ(udp::ParseFrame(port.frames[i], &v), udp::FrameError::kNone);
    ids.push_back(LoadBe16(v.payload.data()));
  }
  EXPECT_EQ(ids, (std::vector<uint16_t>{1, 2, 3}));
}

TEST_F(DnsForwarderTest, OversizeRepliesBecomeTruncatedAndTcPassesAsIsWithoutTcp) {
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("big.example", 11))));
  const std::vector<uint8_t> big = AnswerTo(transport.sent.at(0).bytes, Ip(1, 1, 1, 1), 1400);
  ASSERT_GT(big.size(), 1232u);
  forwarder.OnUpstreamReply(kUp1, big);
  dns::Response r;
  const std::vector<uint8_t> cut = LastReply();
  ASSERT_EQ(dns::ParseResponse(cut, &r), dns::ParseError::kNone);
  EXPECT_EQ(r.id, 11);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.answer_count, 0);
  EXPECT_EQ(dns::NameToText(r.question.name), "big.example");
  EXPECT_EQ(forwarder.counters().truncated, 1u);

  transport.streams_fail = true;  // no TCP exchange can start (else: the tests below)
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("tc.example", 12))));
  std::vector<uint8_t> tc = AnswerTo(transport.sent.at(1).bytes, Ip(2, 2, 2, 2));
  tc[2] |= 0x02;
  forwarder.OnUpstreamReply(kUp1, tc);
  const std::vector<uint8_t> passed = LastReply();
  ASSERT_EQ(passed.size(), tc.size());
  EXPECT_TRUE(std::equal(passed.begin() + 2, passed.end(), tc.begin() + 2));
}

TEST_F(DnsForwarderTest, SendFailureIsRetriedAndAnOversizeQueryIsServFail) {
  transport.fail = true;
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("f.example", 21))));
  EXPECT_EQ(forwarder.counters().send_failed, 1u);
  transport.fail = false;
  clock.AdvanceMs(1000);
  forwarder.Poll();
  ASSERT_EQ(transport.sent.size(), 1u);
  EXPECT_EQ(transport.sent[0].to, kUp2);

  std::vector<uint8_t> q = QueryMsg("pad.example", 22, false);
  StoreBe16(&q[10], 1);  // an OPT with a 600-byte option (RFC 7830 padding style)
  q.insert(q.end(), {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0x02, 0x5c, 0, 12, 0x02, 0x58});
  q.insert(q.end(), 600, 0);
  EXPECT_TRUE(responder.OnTapFrame(Frame(q)));
  dns::Response r;
  ASSERT_EQ(dns::ParseResponse(LastReply(), &r), dns::ParseError::kNone);
  EXPECT_EQ(r.rcode, dns::Rcode::kServFail);
  EXPECT_EQ(forwarder.counters().query_too_large, 1u);
}

TEST(ResolvConf, NameserverLinesInOrderWithoutTheServiceAddress) {
  const char* text =
      "# generated\n"
      "search lab\n"
      "nameserver 10.250.0.254\n"
      "nameserver 127.0.0.53  # resolved\n"
      "nameserver\t2001:db8::1\n"
      "nameserver fe80::1%eth0\n"
      "nameserverx 1.1.1.1\n"
      "  nameserver 192.0.2.1\r\n"
      "nameserver 127.0.0.53\n"
      "options edns0\n"
      "nameserver 192.0.2.2";
  const std::vector<Endpoint> got = ParseResolvConf(text, kResponder);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], Ep4(Ip(127, 0, 0, 53), 53));
  EXPECT_EQ(got[1].addr[0], 0x20);
  EXPECT_EQ(got[1].addr[15], 0x01);
  EXPECT_EQ(got[1].port, 53);
  EXPECT_EQ(got[2], Ep4(Ip(192, 0, 2, 1), 53));
  EXPECT_EQ(got[3], Ep4(Ip(192, 0, 2, 2), 53));
  EXPECT_EQ(ParseResolvConf(text, kResponder, 2).size(), 2u);
  EXPECT_TRUE(ParseResolvConf("", 0).empty());
}

// ---- TC from upstream: the query again over TCP (RFC 7766 5) ----

// The upstream's UDP reply when the answer does not fit: header and question, TC set.
std::vector<uint8_t> TruncatedAnswerTo(std::span<const uint8_t> query) {
  std::vector<uint8_t> m = AnswerTo(query, Ip(0, 0, 0, 0));
  m.resize(m.size() - 16);  // no answer record
  StoreBe16(&m[2], 0x8380);
  StoreBe16(&m[6], 0);
  return m;
}

TEST_F(DnsForwarderTest, ATruncatedUdpAnswerIsFetchedOverTcpAndCutToTheUdpClientsSize) {
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("big.example", 31))));  // EDNS 1232
  const std::vector<uint8_t> up = transport.sent.at(0).bytes;
  forwarder.OnUpstreamReply(kUp1, TruncatedAnswerTo(up));
  ASSERT_EQ(transport.streams.size(), 1u);
  EXPECT_EQ(transport.streams[0].to, kUp1);   // from the upstream that truncated
  EXPECT_EQ(transport.streams[0].bytes, up);  // the same query, our ID
  EXPECT_EQ(transport.streams[0].id, LoadBe16(up.data()));
  EXPECT_TRUE(port.frames.empty());
  EXPECT_EQ(forwarder.pending(), 1u);
  EXPECT_EQ(forwarder.counters().tcp_retries, 1u);
  // No UDP retries while the TCP exchange runs.
  clock.AdvanceMs(1500);
  forwarder.Poll();
  EXPECT_EQ(transport.sent.size(), 1u);

  // 800 bytes: more than the upstream's 512-byte guess, within the client's 1232.
  const std::vector<uint8_t> whole = AnswerTo(up, Ip(1, 2, 3, 4), 700);
  ASSERT_GT(whole.size(), 512u);
  transport.finished.push_back({transport.streams[0].id, whole});
  forwarder.Poll();
  const std::vector<uint8_t> reply = LastReply();
  ASSERT_EQ(reply.size(), whole.size());
  EXPECT_EQ(LoadBe16(reply.data()), 31);
  EXPECT_TRUE(std::equal(reply.begin() + 2, reply.end(), whole.begin() + 2));
  EXPECT_EQ(forwarder.counters().tcp_answered, 1u);
  EXPECT_EQ(forwarder.counters().answered, 1u);
  EXPECT_EQ(forwarder.pending(), 0u);

  // 2000 bytes: cut to header, question and OPT with TC; the client asks again over TCP.
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("bigger.example", 32))));
  const std::vector<uint8_t> up2 = transport.sent.at(1).bytes;
  forwarder.OnUpstreamReply(kUp1, TruncatedAnswerTo(up2));
  ASSERT_EQ(transport.streams.size(), 2u);
  transport.finished.push_back({transport.streams[1].id, AnswerTo(up2, Ip(1, 2, 3, 4), 1900)});
  forwarder.Poll();
  dns::Response r;
  const std::vector<uint8_t> cut = LastReply();
  ASSERT_EQ(dns::ParseResponse(cut, &r), dns::ParseError::kNone);
  EXPECT_EQ(r.id, 32);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.answer_count, 0);
  EXPECT_TRUE(r.has_edns);
  EXPECT_EQ(dns::NameToText(r.question.name), "bigger.example");
  EXPECT_EQ(forwarder.counters().truncated, 1u);
}

TEST_F(DnsForwarderTest, ATcpClientGetsTheWholeAnswer) {
  FakeStreams streams;
  forwarder.SetStreams(&streams);
  responder.SetStreams(&streams);
  DnsClient client;
  std::memcpy(client.mac, kHostMac, 6);
  client.ip = kHost;
  client.port = 40001;
  client.transport = DnsTransport::kTcp;
  client.connection = 42;
  EXPECT_TRUE(responder.OnQuery(client, QueryMsg("big.example", 33)));
  const std::vector<uint8_t> up = transport.sent.at(0).bytes;
  forwarder.OnUpstreamReply(kUp1, TruncatedAnswerTo(up));
  ASSERT_EQ(transport.streams.size(), 1u);
  const std::vector<uint8_t> whole = AnswerTo(up, Ip(1, 2, 3, 4), 3000);
  transport.finished.push_back({transport.streams[0].id, whole});
  forwarder.Poll();
  EXPECT_TRUE(port.frames.empty());  // nothing over UDP
  ASSERT_EQ(streams.messages.size(), 1u);
  EXPECT_EQ(streams.messages[0].first, 42u);
  const std::vector<uint8_t>& got = streams.messages[0].second;
  ASSERT_EQ(got.size(), whole.size());
  EXPECT_EQ(LoadBe16(got.data()), 33);
  EXPECT_TRUE(std::equal(got.begin() + 2, got.end(), whole.begin() + 2));
  EXPECT_EQ(forwarder.counters().truncated, 0u);
  // A whole UDP answer also goes to it unchanged, however long.
  EXPECT_TRUE(responder.OnQuery(client, QueryMsg("long.example", 34)));
  const std::vector<uint8_t> long_udp = AnswerTo(transport.sent.at(1).bytes, Ip(5, 6, 7, 8), 1400);
  forwarder.OnUpstreamReply(kUp1, long_udp);
  ASSERT_EQ(streams.messages.size(), 2u);
  EXPECT_EQ(streams.messages[1].second.size(), long_udp.size());
}

TEST_F(DnsForwarderTest, AFailedOrWrongTcpExchangeIsServFail) {
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("a.example", 41))));
  forwarder.OnUpstreamReply(kUp1, TruncatedAnswerTo(transport.sent.at(0).bytes));
  transport.finished.push_back({transport.streams.at(0).id, {}});  // refused, reset, ...
  forwarder.Poll();
  dns::Response r;
  ASSERT_EQ(dns::ParseResponse(LastReply(), &r), dns::ParseError::kNone);
  EXPECT_EQ(r.id, 41);
  EXPECT_EQ(r.rcode, dns::Rcode::kServFail);
  EXPECT_EQ(forwarder.counters().tcp_failed, 1u);

  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("b.example", 42))));
  const std::vector<uint8_t> up = transport.sent.at(1).bytes;
  forwarder.OnUpstreamReply(kUp1, TruncatedAnswerTo(up));
  std::vector<uint8_t> other = AnswerTo(up, Ip(1, 1, 1, 1));
  other[12 + 1] = 'c';  // another question
  transport.finished.push_back({transport.streams.at(1).id, other});
  forwarder.Poll();
  ASSERT_EQ(dns::ParseResponse(LastReply(), &r), dns::ParseError::kNone);
  EXPECT_EQ(r.id, 42);
  EXPECT_EQ(r.rcode, dns::Rcode::kServFail);
  EXPECT_EQ(forwarder.counters().tcp_failed, 2u);
  EXPECT_EQ(forwarder.counters().bad_reply_question, 1u);
  EXPECT_EQ(forwarder.pending(), 0u);
}

TEST_F(DnsForwarderTest, ASlowTcpExchangeIsCancelledAtItsTimeout) {
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("slow.example", 51))));
  clock.AdvanceMs(2500);  // late in the UDP expiry: the TCP retry gets its own time
  forwarder.Poll();
  forwarder.OnUpstreamReply(kUp2, TruncatedAnswerTo(transport.sent.at(1).bytes));
  ASSERT_EQ(transport.streams.size(), 1u);
  EXPECT_EQ(transport.streams[0].to, kUp2);
  clock.AdvanceMs(1999);
  forwarder.Poll();
  EXPECT_TRUE(port.frames.empty());
  clock.AdvanceMs(1);
  forwarder.Poll();
  EXPECT_EQ(transport.cancelled, std::vector<uint16_t>{transport.streams[0].id});
  dns::Response r;
  ASSERT_EQ(dns::ParseResponse(LastReply(), &r), dns::ParseError::kNone);
  EXPECT_EQ(r.rcode, dns::Rcode::kServFail);
  EXPECT_EQ(forwarder.counters().timeouts, 1u);
  // A result after that is for nobody.
  transport.finished.push_back({transport.streams[0].id, AnswerTo(transport.sent[1].bytes, 1)});
  forwarder.Poll();
  EXPECT_EQ(port.frames.size(), 1u);
}

TEST_F(DnsForwarderTest, WithoutTcpTheTruncatedAnswerPassesAndUdpRepliesMeanwhileAreSorted) {
  transport.streams_fail = true;
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("tc.example", 61))));
  const std::vector<uint8_t> tc = TruncatedAnswerTo(transport.sent.at(0).bytes);
  forwarder.OnUpstreamReply(kUp1, tc);
  const std::vector<uint8_t> passed = LastReply();
  ASSERT_EQ(passed.size(), tc.size());
  EXPECT_TRUE(std::equal(passed.begin() + 2, passed.end(), tc.begin() + 2));
  EXPECT_EQ(forwarder.counters().tcp_unavailable, 1u);

  // While a TCP exchange runs: another TC reply is ignored, a whole one is taken (and the
  // exchange cancelled).
  transport.streams_fail = false;
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("race.example", 62))));
  clock.AdvanceMs(1000);
  forwarder.Poll();  // a UDP retry to the second upstream
  ASSERT_EQ(transport.sent.size(), 3u);
  const std::vector<uint8_t> up = transport.sent[1].bytes;
  forwarder.OnUpstreamReply(kUp2, TruncatedAnswerTo(up));
  ASSERT_EQ(transport.streams.size(), 1u);
  forwarder.OnUpstreamReply(kUp1, TruncatedAnswerTo(up));
  EXPECT_EQ(forwarder.counters().tc_ignored, 1u);
  EXPECT_EQ(port.frames.size(), 1u);
  forwarder.OnUpstreamReply(kUp1, AnswerTo(up, Ip(7, 7, 7, 7)));
  EXPECT_EQ(transport.cancelled, std::vector<uint16_t>{transport.streams[0].id});
  EXPECT_EQ(LoadBe16(LastReply().data()), 62);
  EXPECT_EQ(forwarder.pending(), 0u);
}

}  // namespace
}  // namespace ipop::cp

// ---- DnsUpstreamTcp: the kernel sockets, against a server on loopback ----

namespace ipop::cp {
namespace {

// A TCP listener on 127.0.0.1 (an ephemeral port) that the test serves by hand.
class LoopbackServer {
 public:
  LoopbackServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(fd_, 32), 0);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~LoopbackServer() {
    for (int c : conns_) close(c);
    close(fd_);
  }
  Endpoint endpoint() const { return Ep4(Ip(127, 0, 0, 1), port_); }
  // Accepts one connection (waiting up to 2 s) and reads one length-prefixed query from it.
  int AcceptAndRead(std::vector<uint8_t>* query) {
    int c = -1;
    for (int i = 0; i < 400 && c < 0; ++i) {
      c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) usleep(5000);
    }
    EXPECT_GE(c, 0);
    if (c < 0) return -1;
    conns_.push_back(c);
    uint8_t len[2];
    EXPECT_EQ(recv(c, len, 2, MSG_WAITALL), 2);
    query->resize(size_t(len[0]) << 8 | len[1]);
    EXPECT_EQ(recv(c, query->data(), query->size(), MSG_WAITALL), ssize_t(query->size()));
    return c;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::vector<int> conns_;
};

struct Results {
  std::vector<std::pair<uint16_t, std::vector<uint8_t>>> done;
  DnsUpstreamTransport::StreamDone Callback() {
    return [this](uint16_t id, std::span<const uint8_t> reply) {
      done.push_back({id, {reply.begin(), reply.end()}});
    };
  }
};

// Polls until `n` exchanges ended (at most 2 s).
void PollUntil(DnsUpstreamTcp& tcp, Results& results, size_t n) {
  for (int i = 0; i < 400 && results.done.size() < n; ++i) {
    tcp.Poll(results.Callback());
    if (results.done.size() < n) usleep(5000);
  }
}

TEST(DnsUpstreamTcp, SendsTheQueryWithItsLengthAndReadsTheReplyInPieces) {
  LoopbackServer server;
  DnsUpstreamTcp tcp;
  const std::vector<uint8_t> query = QueryMsg("big.example", 0x4321);
  ASSERT_TRUE(tcp.Start(7, server.endpoint(), query));
  EXPECT_FALSE(tcp.Start(7, server.endpoint(), query));  // one exchange per id
  Results results;
  std::vector<uint8_t> got;
  for (int i = 0; i < 5; ++i) tcp.Poll(results.Callback());  // connect, send
  const int c = server.AcceptAndRead(&got);
  ASSERT_GE(c, 0);
  EXPECT_EQ(got, query);
  std::vector<uint8_t> reply = AnswerTo(query, Ip(1, 2, 3, 4), 3000);
  std::vector<uint8_t> framed = {uint8_t(reply.size() >> 8), uint8_t(reply.size())};
  framed.insert(framed.end(), reply.begin(), reply.end());
  framed.insert(framed.end(), {0xde, 0xad});   // after the reply: not part of it
  ASSERT_EQ(send(c, framed.data(), 1, 0), 1);  // half the length first
  tcp.Poll(results.Callback());
  EXPECT_TRUE(results.done.empty());
  ASSERT_EQ(send(c, framed.data() + 1, framed.size() - 1, 0), ssize_t(framed.size() - 1));
  PollUntil(tcp, results, 1);
  ASSERT_EQ(results.done.size(), 1u);
  EXPECT_EQ(results.done[0].first, 7);
  EXPECT_EQ(results.done[0].second, reply);
  EXPECT_EQ(tcp.active(), 0u);
}

TEST(DnsUpstreamTcp, RefusedOrCutShortExchangesFail) {
  uint16_t closed_port = 0;
  {
    LoopbackServer gone;  // a port nobody listens on once it is closed
    closed_port = gone.endpoint().port;
  }
  DnsUpstreamTcp tcp;
  const std::vector<uint8_t> query = QueryMsg("x.example", 1);
  ASSERT_TRUE(tcp.Start(1, Ep4(Ip(127, 0, 0, 1), closed_port), query));
  Results results;
  PollUntil(tcp, results, 1);
  ASSERT_EQ(results.done.size(), 1u);
  EXPECT_EQ(results.done[0].first, 1);
  EXPECT_TRUE(results.done[0].second.empty());

  LoopbackServer server;
  ASSERT_TRUE(tcp.Start(2, server.endpoint(), query));
  ASSERT_TRUE(tcp.Start(3, server.endpoint(), query));
  std::vector<uint8_t> got;
  for (int i = 0; i < 5; ++i) tcp.Poll(results.Callback());
  const int c2 = server.AcceptAndRead(&got);
  const int c3 = server.AcceptAndRead(&got);
  const uint8_t partial[] = {0, 40, 1, 2, 3};  // 40 announced, 3 sent, then closed
  ASSERT_EQ(send(c2, partial, sizeof(partial), 0), ssize_t(sizeof(partial)));
  shutdown(c2, SHUT_RDWR);
  const uint8_t tiny[] = {0, 5, 1, 2, 3, 4, 5};  // shorter than a DNS header
  ASSERT_EQ(send(c3, tiny, sizeof(tiny), 0), ssize_t(sizeof(tiny)));
  PollUntil(tcp, results, 3);
  ASSERT_EQ(results.done.size(), 3u);
  for (size_t i = 1; i < 3; ++i) EXPECT_TRUE(results.done[i].second.empty()) << i;
}

TEST(DnsUpstreamTcp, BoundedAndCancellable) {
  LoopbackServer server;
  DnsUpstreamTcp tcp;
  const std::vector<uint8_t> query = QueryMsg("x.example", 1);
  for (uint16_t id = 0; id < DnsUpstreamTcp::kMaxStreams; ++id)
    ASSERT_TRUE(tcp.Start(id, server.endpoint(), query));
  EXPECT_FALSE(tcp.Start(100, server.endpoint(), query));
  tcp.Cancel(3);
  EXPECT_EQ(tcp.active(), DnsUpstreamTcp::kMaxStreams - 1);
  EXPECT_TRUE(tcp.Start(100, server.endpoint(), query));
  Results results;
  tcp.Poll(results.Callback());
  EXPECT_TRUE(results.done.empty());  // cancelled ones never report
}

}  // namespace
}  // namespace ipop::cp

namespace ipop::cp {
namespace {

std::string ConfigWith(const std::string& forward) {
  return "[node]\nname = alpha\nvip = 10.77.0.1/24\n[network]\nname = lab\nsecret = " +
         std::string(64, 'a') + "\n" + (forward.empty() ? "" : "dns-forward = " + forward + "\n");
}

TEST(DnsForwardConfig, ModesAndUpstreamLists) {
  ConfigResult r = ParseConfigText(ConfigWith(""));
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->dns_forward, NodeConfig::DnsForward::kRefuse);
  EXPECT_TRUE(ConfiguredUpstreams(*r.config).empty());
  r = ParseConfigText(ConfigWith("resolv-conf"));
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->dns_forward, NodeConfig::DnsForward::kResolvConf);
  r = ParseConfigText(ConfigWith("192.0.2.53, 127.0.0.1:5300 [2001:db8::1]:53 2001:db8::2"));
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->dns_forward, NodeConfig::DnsForward::kServers);
  ASSERT_EQ(r.config->dns_upstreams.size(), 4u);
  EXPECT_EQ(r.config->dns_upstreams[0], Ep4(Ip(192, 0, 2, 53), 53));
  EXPECT_EQ(r.config->dns_upstreams[1], Ep4(Ip(127, 0, 0, 1), 5300));
  EXPECT_EQ(r.config->dns_upstreams[2].port, 53);
  EXPECT_EQ(r.config->dns_upstreams[3].addr[15], 2);
  // The service address (default 10.77.0.254) is never an upstream: queries would loop.
  r = ParseConfigText(ConfigWith("10.77.0.254 192.0.2.53"));
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(ConfiguredUpstreams(*r.config), std::vector<Endpoint>{Ep4(Ip(192, 0, 2, 53), 53)});
  for (const char* bad :
       {" , ", "nope", "192.0.2.1:0", "1.2.3.4:99999", "300.1.1.1",
        "1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4 5.5.5.5 6.6.6.6 7.7.7.7 8.8.8.8 9.9.9.9"}) {
    r = ParseConfigText(ConfigWith(bad));
    EXPECT_FALSE(r.config) << bad;
    EXPECT_NE(r.error.find("network.dns-forward"), std::string::npos) << bad << ": " << r.error;
  }
}

TEST(DnsForwardConfig, ResolvConfModeReadsTheFile) {
  ConfigResult r = ParseConfigText(ConfigWith("resolv-conf"));
  ASSERT_TRUE(r.config) << r.error;
  const std::string path = ::testing::TempDir() + "dnsfwd-resolv.conf";
  {
    std::ofstream f(path);
    f << "nameserver 10.77.0.254\nnameserver 192.0.2.9\n";
  }
  EXPECT_EQ(ConfiguredUpstreams(*r.config, path.c_str()),
            std::vector<Endpoint>{Ep4(Ip(192, 0, 2, 9), 53)});
  EXPECT_TRUE(ConfiguredUpstreams(*r.config, "/nonexistent/resolv.conf").empty());
}

}  // namespace
}  // namespace ipop::cp
