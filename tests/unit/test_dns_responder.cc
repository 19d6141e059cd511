// DnsResponder: C-names, PTR, registered names (sync and async), every rcode, timeouts,
// bounded pending lookups; every reply decoded with the codec and its frame addresses checked.
#include "controlplane/services/dns_responder.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "controlplane/services/udp_frame.h"
#include "tests/unit/cp_fakes.h"
#include "tests/unit/test_dns_captures.h"

namespace ipop::cp {
namespace {

using testing::Ip;

const uint8_t kGatewayMac[6] = {0x02, 0x49, 0x50, 0x00, 0x00, 0x01};
const uint8_t kHostMac[6] = {0xd2, 0x38, 0x38, 0x0d, 0x8a, 0xb9};  // as in the captures
const uint32_t kResponder = Ip(10, 250, 0, 1);
const uint32_t kHost = Ip(10, 250, 0, 2);
constexpr uint16_t kHostPort = 40000;

class FakeNames final : public NameSource {
 public:
  void Lookup(const std::string& name, std::function<void(std::optional<uint32_t>)> done) override {
    asked.push_back(name);
    if (sync) {
      auto it = table.find(name);
      done(it == table.end() ? std::nullopt : std::optional<uint32_t>(it->second));
    } else {
      waiting.push_back(std::move(done));
    }
  }
  bool sync = true;
  std::map<std::string, uint32_t> table;
  std::vector<std::string> asked;
  std::vector<std::function<void(std::optional<uint32_t>)>> waiting;
};

DnsOptions Options() {
  DnsOptions o;
  o.responder_ip = kResponder;
  std::memcpy(o.gateway_mac, kGatewayMac, 6);
  o.suffix = "ipop";
  o.network = "alpha";
  o.range_base = Ip(10, 250, 0, 0);
  o.range_prefix_len = 16;
  o.ttl_s = 90;
  o.max_pending = 3;
  o.lookup_timeout_ns = 1'000'000'000;
  return o;
}

// A query as dig would send it (RD set), optionally with an empty OPT record.
std::vector<uint8_t> QueryMsg(const char* name, uint16_t type, uint16_t id = 0x4242,
                              bool edns = false, uint16_t flags = 0x0100, uint16_t qdcount = 1) {
  std::vector<uint8_t> m = {uint8_t(id >> 8),
                            uint8_t(id),
                            uint8_t(flags >> 8),
                            uint8_t(flags),
                            0,
                            uint8_t(qdcount),
                            0,
                            0,
                            0,
                            0,
                            0,
                            uint8_t(edns ? 1 : 0)};
  dns::Name n;
  EXPECT_TRUE(dns::NameFromText(name, &n));
  m.insert(m.end(), n.wire, n.wire + n.size);
  m.insert(m.end(), {uint8_t(type >> 8), uint8_t(type), 0, 1});
  if (edns) m.insert(m.end(), {0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0});
  return m;
}

std::vector<uint8_t> Frame(std::span<const uint8_t> payload, uint32_t dst_ip = kResponder,
                           uint16_t dst_port = 53, uint16_t src_port = kHostPort) {
  std::vector<uint8_t> f(1600);
  f.resize(
      udp::BuildFrame({kHostMac, kHost, src_port}, {kGatewayMac, dst_ip, dst_port}, payload, f));
  return f;
}

class DnsResponderTest : public ::testing::Test {
 protected:
  DnsResponderTest() : responder(port, clock, &names, Options()) {}

  // Sends one query; expects exactly one reply frame, checks its addressing, decodes it.
  dns::Response Ask(std::span<const uint8_t> msg) {
    const size_t before = port.frames.size();
    EXPECT_TRUE(responder.OnTapFrame(Frame(msg)));
    EXPECT_EQ(port.frames.size(), before + 1);
    return LastReply();
  }
  dns::Response AskName(const char* name, uint16_t type, bool edns = false) {
    return Ask(QueryMsg(name, type, 0x4242, edns));
  }
  dns::Response LastReply() {
    dns::Response r;
    if (port.frames.empty()) return r;
    udp::FrameView v;
    EXPECT_EQ(udp::ParseFrame(port.frames.back(), &v), udp::FrameError::kNone);
    EXPECT_EQ(0, std::memcmp(v.src_mac, kGatewayMac, 6));
    EXPECT_EQ(0, std::memcmp(v.dst_mac, kHostMac, 6));
    EXPECT_EQ(v.src_ip, kResponder);
    EXPECT_EQ(v.dst_ip, kHost);
    EXPECT_EQ(v.src_port, 53);
    EXPECT_LE(v.payload.size(), dns::kMaxUdpPayload);
    EXPECT_EQ(dns::ParseResponse(v.payload, &r), dns::ParseError::kNone);
    EXPECT_FALSE(r.recursion_available);
    return r;
  }

  testing::FakePort port;
  testing::FakeClock clock;
  FakeNames names;
  DnsResponder responder;
};

TEST_F(DnsResponderTest, OptionsAreValidated) {
  EXPECT_EQ(ValidateDnsOptions(Options()), "");
  DnsOptions o = Options();
  o.range_prefix_len = 7;
  EXPECT_NE(ValidateDnsOptions(o), "");
  o = Options();
  o.suffix = "bad..suffix";
  EXPECT_NE(ValidateDnsOptions(o), "");
  o = Options();
  o.network = "a.b";
  EXPECT_NE(ValidateDnsOptions(o), "");
  o = Options();
  o.responder_ip = 0;
  EXPECT_NE(ValidateDnsOptions(o), "");
}

TEST_F(DnsResponderTest, CapturedCNameQueryGetsTheIssueExampleAddress) {
  // The captured frame carries a partial checksum (see test_dns_captures.h); rebuild the frame
  // around its real DNS payload.
  const auto payload = std::span<const uint8_t>(dns::testing::kCapturedA)
                           .subspan(dns::testing::kCapturedPayloadOffset);
  const dns::Response r = Ask(payload);
  EXPECT_EQ(r.id, 0x736e);
  EXPECT_EQ(r.rcode, dns::Rcode::kNoError);
  EXPECT_TRUE(r.authoritative);
  EXPECT_TRUE(r.recursion_desired);  // copied from the query
  EXPECT_TRUE(r.has_edns);           // the query had an OPT (with a cookie we ignore)
  EXPECT_EQ(dns::NameToText(r.question.name), "C250001001.ipop");
  EXPECT_EQ(r.question.type, dns::kTypeA);
  ASSERT_EQ(r.answer_count, 1);
  EXPECT_EQ(r.answers[0].type, dns::kTypeA);
  EXPECT_EQ(r.answers[0].ipv4, Ip(10, 250, 1, 1));
  EXPECT_EQ(r.answers[0].ttl, 90u);
  EXPECT_EQ(responder.counters().answered, 1u);
}

TEST_F(DnsResponderTest, CNamesAreCaseInsensitiveAndKeepTheQuestionCase) {
  const dns::Response r = AskName("c250003017.IpOp", dns::kTypeA);
  EXPECT_EQ(dns::NameToText(r.question.name), "c250003017.IpOp");
  ASSERT_EQ(r.answer_count, 1);
  EXPECT_EQ(r.answers[0].ipv4, Ip(10, 250, 3, 17));
  EXPECT_FALSE(r.has_edns);
  EXPECT_EQ(AskName("C250255255.IPOP", dns::kTypeAny).answers[0].ipv4, Ip(10, 250, 255, 255));
}

TEST_F(DnsResponderTest, CapturedAaaaForACNameIsNoData) {
  const dns::Response r = Ask(std::span<const uint8_t>(dns::testing::kCapturedAaaaMixedCase)
                                  .subspan(dns::testing::kCapturedPayloadOffset));
  EXPECT_EQ(r.rcode, dns::Rcode::kNoError);
  EXPECT_TRUE(r.authoritative);
  EXPECT_EQ(r.answer_count, 0);
  EXPECT_EQ(responder.counters().nodata, 1u);
}

TEST_F(DnsResponderTest, CNamesOutsideTheRangeOrMalformedAreNxDomain) {
  for (const char* name :
       {"C251000001.ipop", "C256000001.ipop", "C25000100.ipop", "C2500010011.ipop",
        "X250001001.ipop", "C25000100a.ipop", "nothing.ipop", "a.b.c.ipop"}) {
    const dns::Response r = AskName(name, dns::kTypeA);
    EXPECT_EQ(r.rcode, dns::Rcode::kNxDomain) << name;
    EXPECT_TRUE(r.authoritative) << name;
    EXPECT_EQ(r.answer_count, 0) << name;
  }
  EXPECT_EQ(responder.counters().nxdomain, 8u);
  EXPECT_TRUE(names.asked.empty());
}

TEST_F(DnsResponderTest, CapturedPtrQueryGetsTheCName) {
  const dns::Response r = Ask(std::span<const uint8_t>(dns::testing::kCapturedPtr)
                                  .subspan(dns::testing::kCapturedPayloadOffset));
  EXPECT_EQ(r.rcode, dns::Rcode::kNoError);
  ASSERT_EQ(r.answer_count, 1);
  EXPECT_EQ(r.answers[0].type, dns::kTypePtr);
  EXPECT_EQ(dns::NameToText(r.answers[0].ptr), "C250001001.ipop");
  EXPECT_EQ(dns::NameToText(r.answers[0].owner), "1.1.250.10.in-addr.arpa");
  // Other in-range reverse names, and the NODATA / REFUSED edges.
  EXPECT_EQ(dns::NameToText(AskName("7.0.250.10.IN-ADDR.ARPA", dns::kTypePtr).answers[0].ptr),
            "C250000007.ipop");
  EXPECT_EQ(AskName("7.0.250.10.in-addr.arpa", dns::kTypeA).rcode, dns::Rcode::kNoError);
  EXPECT_EQ(LastReply().answer_count, 0);
  EXPECT_EQ(AskName("1.1.251.10.in-addr.arpa", dns::kTypePtr).rcode, dns::Rcode::kRefused);
  EXPECT_EQ(AskName("01.1.250.10.in-addr.arpa", dns::kTypePtr).rcode, dns::Rcode::kRefused);
  EXPECT_EQ(AskName("250.10.in-addr.arpa", dns::kTypePtr).rcode, dns::Rcode::kRefused);
}

TEST_F(DnsResponderTest, RegisteredNamesSync) {
  names.table["web1.alpha.ipop"] = Ip(10, 250, 9, 9);
  dns::Response r = AskName("WEB1.Alpha.IPOP", dns::kTypeA);
  ASSERT_EQ(names.asked.size(), 1u);
  EXPECT_EQ(names.asked[0], "web1.alpha.ipop");  // looked up in lower case
  EXPECT_EQ(r.rcode, dns::Rcode::kNoError);
  ASSERT_EQ(r.answer_count, 1);
  EXPECT_EQ(r.answers[0].ipv4, Ip(10, 250, 9, 9));
  EXPECT_EQ(dns::NameToText(r.question.name), "WEB1.Alpha.IPOP");
  // Other types of an existing name: NODATA; unknown host: NXDOMAIN.
  EXPECT_EQ(AskName("web1.alpha.ipop", dns::kTypeAaaa).answer_count, 0);
  EXPECT_EQ(LastReply().rcode, dns::Rcode::kNoError);
  EXPECT_EQ(AskName("web2.alpha.ipop", dns::kTypeA).rcode, dns::Rcode::kNxDomain);
  EXPECT_EQ(AskName("web2.alpha.ipop", dns::kTypeAaaa).rcode, dns::Rcode::kNxDomain);
  EXPECT_EQ(responder.pending(), 0u);
  EXPECT_EQ(responder.counters().lookups, 4u);
}

TEST_F(DnsResponderTest, CapturedPlainQueryForARegisteredName) {
  names.table["web1.alpha.ipop"] = Ip(10, 250, 4, 4);
  const dns::Response r = Ask(std::span<const uint8_t>(dns::testing::kCapturedNoEdns)
                                  .subspan(dns::testing::kCapturedPayloadOffset));
  EXPECT_EQ(r.id, 0xa3f2);
  ASSERT_EQ(r.answer_count, 1);
  EXPECT_EQ(r.answers[0].ipv4, Ip(10, 250, 4, 4));
  EXPECT_FALSE(r.has_edns);
}

TEST_F(DnsResponderTest, OtherNetworksAndTheNetworkNode) {
  EXPECT_EQ(AskName("web1.beta.ipop", dns::kTypeA).rcode, dns::Rcode::kNxDomain);
  EXPECT_EQ(AskName("we b1.alpha.ipop", dns::kTypeA).rcode, dns::Rcode::kNxDomain);
  EXPECT_TRUE(names.asked.empty());  // never asked for another network's names
  dns::Response r = AskName("alpha.ipop", dns::kTypeA);
  EXPECT_EQ(r.rcode, dns::Rcode::kNoError);
  EXPECT_EQ(r.answer_count, 0);
  r = AskName("ipop", dns::kTypeA);  // the apex
  EXPECT_EQ(r.rcode, dns::Rcode::kNoError);
  EXPECT_TRUE(r.authoritative);
}

TEST_F(DnsResponderTest, RegisteredNamesAsync) {
  names.sync = false;
  names.table.clear();
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("db.alpha.ipop", dns::kTypeA, 7, true))));
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("gone.alpha.ipop", dns::kTypeA, 8))));
  EXPECT_TRUE(port.frames.empty());
  EXPECT_EQ(responder.pending(), 2u);
  // A retransmission of a query in flight is not looked up twice.
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("db.alpha.ipop", dns::kTypeA, 7, true))));
  EXPECT_EQ(names.waiting.size(), 2u);
  EXPECT_EQ(responder.counters().dropped_duplicate, 1u);

  names.waiting[1](std::nullopt);  // out of order
  ASSERT_EQ(port.frames.size(), 1u);
  dns::Response r = LastReply();
  EXPECT_EQ(r.id, 8);
  EXPECT_EQ(r.rcode, dns::Rcode::kNxDomain);

  names.waiting[0](Ip(10, 250, 7, 7));
  ASSERT_EQ(port.frames.size(), 2u);
  r = LastReply();
  EXPECT_EQ(r.id, 7);
  ASSERT_EQ(r.answer_count, 1);
  EXPECT_EQ(r.answers[0].ipv4, Ip(10, 250, 7, 7));
  EXPECT_TRUE(r.has_edns);
  EXPECT_EQ(responder.pending(), 0u);

  names.waiting[0](Ip(10, 250, 7, 8));  // a second call is ignored
  EXPECT_EQ(port.frames.size(), 2u);
  EXPECT_EQ(responder.counters().lookups_late, 1u);
}

TEST_F(DnsResponderTest, TimeoutAnswersServFailAndLateResultsAreDropped) {
  names.sync = false;
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("slow.alpha.ipop", dns::kTypeA, 9))));
  clock.AdvanceMs(999);
  responder.Poll();
  EXPECT_TRUE(port.frames.empty());
  clock.AdvanceMs(1);
  responder.Poll();
  ASSERT_EQ(port.frames.size(), 1u);
  const dns::Response r = LastReply();
  EXPECT_EQ(r.id, 9);
  EXPECT_EQ(r.rcode, dns::Rcode::kServFail);
  EXPECT_FALSE(r.authoritative);
  EXPECT_EQ(dns::NameToText(r.question.name), "slow.alpha.ipop");
  EXPECT_EQ(responder.counters().lookup_timeouts, 1u);
  names.waiting[0](Ip(10, 250, 1, 2));
  EXPECT_EQ(port.frames.size(), 1u);
  EXPECT_EQ(responder.counters().lookups_late, 1u);
}

TEST_F(DnsResponderTest, PendingLookupsAreBounded) {
  names.sync = false;
  for (uint16_t id = 1; id <= 3; ++id)
    EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("h.alpha.ipop", dns::kTypeA, id))));
  EXPECT_TRUE(port.frames.empty());
  const dns::Response r = Ask(QueryMsg("h.alpha.ipop", dns::kTypeA, 4));
  EXPECT_EQ(r.rcode, dns::Rcode::kServFail);
  EXPECT_EQ(responder.counters().pending_full, 1u);
  EXPECT_EQ(names.waiting.size(), 3u);
  // C-names need no lookup and are still answered.
  EXPECT_EQ(AskName("C250000001.ipop", dns::kTypeA).answer_count, 1);
}

TEST_F(DnsResponderTest, LookupOutlivingTheResponderIsHarmless) {
  names.sync = false;
  {
    DnsResponder other(port, clock, &names, Options());
    EXPECT_TRUE(other.OnTapFrame(Frame(QueryMsg("h.alpha.ipop", dns::kTypeA, 1))));
  }
  ASSERT_EQ(names.waiting.size(), 1u);
  names.waiting[0](Ip(10, 250, 0, 9));
  EXPECT_TRUE(port.frames.empty());
}

TEST_F(DnsResponderTest, NamesOutsideTheZoneAreRefused) {
  for (const char* name : {"example.com", "ipop.example", "", "xipop", "1.1.1.1.in-addr.arpa"}) {
    const dns::Response r = AskName(name, dns::kTypeA);
    EXPECT_EQ(r.rcode, dns::Rcode::kRefused) << name;
    EXPECT_FALSE(r.authoritative) << name;
    EXPECT_EQ(r.answer_count, 0) << name;
  }
  // A class other than IN (CHAOS "version.bind") is refused too.
  std::vector<uint8_t> chaos = QueryMsg("C250000001.ipop", dns::kTypeA);
  chaos.back() = 3;
  EXPECT_EQ(Ask(chaos).rcode, dns::Rcode::kRefused);
  EXPECT_EQ(responder.counters().refused, 6u);
}

TEST_F(DnsResponderTest, MalformedQueriesGetFormErrWithoutQuestion) {
  dns::Response r = Ask(QueryMsg("C250000001.ipop", dns::kTypeA, 0x1111, false, 0x0100, 2));
  EXPECT_EQ(r.id, 0x1111);
  EXPECT_EQ(r.rcode, dns::Rcode::kFormErr);
  EXPECT_EQ(r.question_count, 0);
  EXPECT_TRUE(r.recursion_desired);
  std::vector<uint8_t> cut = QueryMsg("C250000001.ipop", dns::kTypeA, 0x2222);
  cut.resize(cut.size() - 3);
  r = Ask(cut);
  EXPECT_EQ(r.id, 0x2222);
  EXPECT_EQ(r.rcode, dns::Rcode::kFormErr);
  EXPECT_EQ(responder.counters().formerr, 2u);
  EXPECT_EQ(responder.counters().parse_errors[size_t(dns::ParseError::kQuestionCount)], 1u);
  EXPECT_EQ(responder.counters().parse_errors[size_t(dns::ParseError::kQuestionTruncated)], 1u);
  // Opcode NOTIFY: NOTIMP.
  r = Ask(QueryMsg("ipop", dns::kTypeA, 0x3333, false, 4 << 11));
  EXPECT_EQ(r.rcode, dns::Rcode::kNotImp);
  EXPECT_EQ(r.opcode, 4);
}

TEST_F(DnsResponderTest, ResponsesAndRuntsAreDroppedSilently) {
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("ipop", dns::kTypeA, 1, false, 0x8100))));
  const uint8_t runt[5] = {1, 2, 3, 4, 5};
  EXPECT_TRUE(responder.OnTapFrame(Frame(runt)));
  EXPECT_TRUE(port.frames.empty());
  EXPECT_EQ(responder.counters().dropped_response, 1u);
  EXPECT_EQ(responder.counters().dropped_too_short, 1u);
  EXPECT_EQ(responder.counters().queries, 2u);
}

TEST_F(DnsResponderTest, FramesNotForUsAreLeftToOthers) {
  const auto q = QueryMsg("C250000001.ipop", dns::kTypeA);
  EXPECT_FALSE(responder.OnTapFrame(Frame(q, Ip(10, 250, 0, 3))));
  EXPECT_FALSE(responder.OnTapFrame(Frame(q, kResponder, 5353)));
  EXPECT_FALSE(responder.OnTapFrame(dns::testing::kCapturedA));  // partial checksum
  const uint8_t arp[42] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06};
  EXPECT_FALSE(responder.OnTapFrame(arp));
  EXPECT_TRUE(port.frames.empty());
  EXPECT_EQ(responder.counters().not_addressed, 4u);
  EXPECT_EQ(responder.counters().queries, 0u);
}

TEST_F(DnsResponderTest, PortRefusalIsCounted) {
  port.fail = true;
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("C250000001.ipop", dns::kTypeA))));
  EXPECT_EQ(responder.counters().reply_failed, 1u);
  EXPECT_EQ(responder.counters().replies_sent, 0u);
}

TEST_F(DnsResponderTest, ApexAnswersSoaAndNsNamingTheResponder) {
  dns::Response r = AskName("ipop", dns::kTypeSoa);
  EXPECT_EQ(r.rcode, dns::Rcode::kNoError);
  EXPECT_TRUE(r.authoritative);
  ASSERT_EQ(r.answer_count, 1);
  const dns::ParsedRecord& soa = r.answers[0];
  EXPECT_EQ(soa.type, dns::kTypeSoa);
  EXPECT_EQ(dns::NameToText(soa.owner), "ipop");
  EXPECT_EQ(dns::NameToText(soa.ptr), "C250000001.ipop");  // the responder's own C-name
  EXPECT_EQ(dns::NameToText(soa.soa_rname), "hostmaster.ipop");
  EXPECT_EQ(soa.soa_minimum, 5u);
  EXPECT_EQ(soa.ttl, 5u);
  EXPECT_EQ(r.authority_count, 0);

  r = AskName("IPOP", dns::kTypeNs, true);
  ASSERT_EQ(r.answer_count, 1);
  EXPECT_EQ(r.answers[0].type, dns::kTypeNs);
  EXPECT_EQ(dns::NameToText(r.answers[0].owner), "IPOP");  // points at the question
  EXPECT_EQ(dns::NameToText(r.answers[0].ptr), "C250000001.ipop");
  EXPECT_EQ(r.answers[0].ttl, 90u);
  EXPECT_TRUE(r.has_edns);
  // ... and the NS target resolves to the responder.
  EXPECT_EQ(AskName("C250000001.ipop", dns::kTypeA).answers[0].ipv4, kResponder);

  r = AskName("ipop", dns::kTypeAny);
  ASSERT_EQ(r.answer_count, 2);
  EXPECT_EQ(r.answers[0].type, dns::kTypeSoa);
  EXPECT_EQ(r.answers[1].type, dns::kTypeNs);
}

TEST_F(DnsResponderTest, NegativeAnswersInTheZoneCarryTheSoa) {
  struct Case {
    const char* name;
    uint16_t type;
    dns::Rcode rcode;
  };
  for (const Case& c : {Case{"nothing.ipop", dns::kTypeA, dns::Rcode::kNxDomain},
                        Case{"a.b.c.ipop", dns::kTypeA, dns::Rcode::kNxDomain},
                        Case{"C250000002.IPOP", dns::kTypeAaaa, dns::Rcode::kNoError},
                        Case{"alpha.ipop", dns::kTypeA, dns::Rcode::kNoError},
                        Case{"ipop", dns::kTypeA, dns::Rcode::kNoError},
                        Case{"C250000002.ipop", dns::kTypeSoa, dns::Rcode::kNoError}}) {
    const dns::Response r = AskName(c.name, c.type, true);
    EXPECT_EQ(r.rcode, c.rcode) << c.name;
    EXPECT_EQ(r.answer_count, 0) << c.name;
    ASSERT_EQ(r.authority_count, 1) << c.name;
    EXPECT_EQ(r.authority[0].type, dns::kTypeSoa) << c.name;
    EXPECT_TRUE(dns::LabelEquals(dns::NameToText(r.authority[0].owner), "ipop")) << c.name;
    EXPECT_EQ(r.authority[0].ttl, 5u) << c.name;
    EXPECT_EQ(r.authority[0].soa_minimum, 5u) << c.name;
    EXPECT_TRUE(r.has_edns) << c.name;
  }
  // A registered name that is not there (asynchronously) too.
  names.sync = false;
  EXPECT_TRUE(responder.OnTapFrame(Frame(QueryMsg("ghost.alpha.ipop", dns::kTypeA))));
  ASSERT_EQ(names.waiting.size(), 1u);
  names.waiting[0](std::nullopt);
  dns::Response r = LastReply();
  EXPECT_EQ(r.rcode, dns::Rcode::kNxDomain);
  EXPECT_EQ(r.authority_count, 1);
  // Outside the zone: no SOA of ours.
  r = AskName("example.com", dns::kTypeA);
  EXPECT_EQ(r.rcode, dns::Rcode::kRefused);
  EXPECT_EQ(r.authority_count, 0);
  r = AskName("7.0.250.10.in-addr.arpa", dns::kTypePtr);
  EXPECT_EQ(r.authority_count, 0);
}

TEST(DnsResponderSuffix, MultiLabelZoneSoaOwnerIsTheZone) {
  testing::FakePort port;
  testing::FakeClock clock;
  DnsOptions o = Options();
  o.suffix = "vpn.Example";
  DnsResponder responder(port, clock, nullptr, o);
  ASSERT_TRUE(responder.OnTapFrame(Frame(QueryMsg("x.VPN.example", dns::kTypeA))));
  ASSERT_EQ(port.frames.size(), 1u);
  udp::FrameView v;
  ASSERT_EQ(udp::ParseFrame(port.frames[0], &v), udp::FrameError::kNone);
  dns::Response r;
  ASSERT_EQ(dns::ParseResponse(v.payload, &r), dns::ParseError::kNone);
  EXPECT_EQ(r.rcode, dns::Rcode::kNxDomain);
  ASSERT_EQ(r.authority_count, 1);
  EXPECT_EQ(dns::NameToText(r.authority[0].owner), "VPN.example");  // a pointer into the question
  EXPECT_EQ(dns::NameToText(r.authority[0].ptr), "C250000001.vpn.example");
}

}  // namespace
}  // namespace ipop::cp
