// NAT traversal (docs/nat.md): NAT classification from the links' reports, candidate
// selection, the PUNCH codec, the hole-punching state machine on a fake clock and environment,
// OBSERVED on a real OverlayNode, the directory record's candidate extension and the path
// policy's repair of a direct path that went silent.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "controlplane/directory/overlay_host.h"
#include "controlplane/mgmt/render_peers.h"
#include "controlplane/overlay/hole_punch.h"
#include "controlplane/overlay/nat_observer.h"
#include "controlplane/overlay/overlay_node.h"
#include "controlplane/sessions/peer_path_policy.h"
#include "tests/unit/cp_fakes.h"

namespace ipop::cp::overlay {
namespace {

using testing::Ep4;
using testing::FakeClock;
using testing::FakeRandom;
using testing::Ip;

RingAddress Addr(uint8_t id) {
  return RingAddress::FromFraction(double(id) / 256.0);
}
const Endpoint kLocal = Ep4(Ip(10, 1, 0, 2), 5800);
const Endpoint kPub1 = Ep4(Ip(172, 31, 200, 2), 5800);
const Endpoint kPub2 = Ep4(Ip(172, 31, 200, 3), 5800);
const Endpoint kMapped = Ep4(Ip(172, 31, 200, 4), 5800);

// ---- classification

TEST(NatObserver, NoReportsIsUnknown) {
  NatObserver n;
  n.SetLocal(kLocal);
  EXPECT_EQ(NatClass::kUnknown, n.Classify(0));
  EXPECT_FALSE(n.Reflexive(0));
  ASSERT_EQ(1u, n.Candidates(0).size());
  EXPECT_EQ(CandidateKind::kLocal, n.Candidates(0)[0].kind);
}

TEST(NatObserver, ReportsOfOurOwnEndpointMeanNoNat) {
  NatObserver n;
  n.SetLocal(kLocal);
  n.Report(Addr(1), kPub1, kLocal, 1);
  n.Report(Addr(2), kPub2, kLocal, 2);
  EXPECT_EQ(NatClass::kNone, n.Classify(3));
  EXPECT_EQ(1u, n.Candidates(3).size());  // the reflexive endpoint is the local one
}

TEST(NatObserver, OneReporterCannotTellTheMapping) {
  NatObserver n;
  n.SetLocal(kLocal);
  n.Report(Addr(1), kPub1, kMapped, 1);
  EXPECT_EQ(NatClass::kUnknown, n.Classify(2));
  ASSERT_TRUE(n.Reflexive(2));
  EXPECT_EQ(kMapped, *n.Reflexive(2));
  const std::vector<Candidate> c = n.Candidates(2);
  ASSERT_EQ(2u, c.size());
  EXPECT_EQ((Candidate{CandidateKind::kLocal, kLocal}), c[0]);
  EXPECT_EQ((Candidate{CandidateKind::kReflexive, kMapped}), c[1]);
}

TEST(NatObserver, TwoAddressesAgreeingMeanEndpointIndependentMapping) {
  NatObserver n;
  n.SetLocal(kLocal);
  n.Report(Addr(1), kPub1, kMapped, 1);
  n.Report(Addr(2), kPub2, kMapped, 2);
  EXPECT_EQ(NatClass::kEndpointIndependent, n.Classify(3));
}

TEST(NatObserver, TwoPortsOfOneAddressDoNotClassify) {
  // Two nodes behind one public address (another NAT) are not two vantage points.
  NatObserver n;
  n.SetLocal(kLocal);
  n.Report(Addr(1), kPub1, kMapped, 1);
  Endpoint other_port = kPub1;
  other_port.port = 5801;
  Endpoint other_mapping = kMapped;
  other_mapping.port = 40001;
  n.Report(Addr(2), other_port, other_mapping, 2);
  EXPECT_EQ(NatClass::kUnknown, n.Classify(3));
}

TEST(NatObserver, DifferentMappingsPerDestinationMeanSymmetric) {
  NatObserver n;
  n.SetLocal(kLocal);
  n.Report(Addr(1), kPub1, kMapped, 1);
  Endpoint other = kMapped;
  other.port = 31337;
  n.Report(Addr(2), kPub2, other, 2);
  EXPECT_EQ(NatClass::kAddressPortDependent, n.Classify(3));
  EXPECT_EQ(other, *n.Reflexive(3));  // the newest report
}

TEST(NatObserver, ARebindingDropsTheOldMappingsReports) {
  NatObserver n;
  n.SetLocal(kLocal);
  EXPECT_FALSE(n.Report(Addr(1), kPub1, kMapped, 1));
  EXPECT_FALSE(n.Report(Addr(2), kPub2, kMapped, 2));
  Endpoint moved = kMapped;
  moved.port = 40000;
  // Node 1 sees us elsewhere now: not symmetric, our mapping moved.
  EXPECT_TRUE(n.Report(Addr(1), kPub1, moved, 3));
  EXPECT_EQ(1u, n.rebindings());
  EXPECT_EQ(NatClass::kUnknown, n.Classify(4));
  EXPECT_EQ(moved, *n.Reflexive(4));
  EXPECT_FALSE(n.Report(Addr(2), kPub2, moved, 5));
  EXPECT_EQ(NatClass::kEndpointIndependent, n.Classify(6));
}

TEST(NatObserver, AReporterThatMovedItselfIsNoRebinding) {
  NatObserver n;
  n.SetLocal(kLocal);
  n.Report(Addr(1), kPub1, kMapped, 1);
  Endpoint moved = kMapped;
  moved.port = 40000;
  EXPECT_FALSE(n.Report(Addr(1), kPub2, moved, 2));
  EXPECT_EQ(0u, n.rebindings());
}

TEST(NatObserver, BothSymmetricOnlyWhenBothMapPerDestination) {
  EXPECT_TRUE(BothSymmetric(NatClass::kAddressPortDependent, NatClass::kAddressPortDependent));
  EXPECT_FALSE(BothSymmetric(NatClass::kAddressPortDependent, NatClass::kEndpointIndependent));
  EXPECT_FALSE(BothSymmetric(NatClass::kUnknown, NatClass::kAddressPortDependent));
  EXPECT_FALSE(BothSymmetric(NatClass::kNone, NatClass::kNone));
}

// ---- PUNCH codec

TEST(PunchCodec, RoundTripAndRejects) {
  PunchMessage m{true, NatClass::kAddressPortDependent, 0x1122334455667788ull, {kLocal, kMapped}};
  const std::vector<uint8_t> v = EncodePunch(m);
  EXPECT_EQ(kPunchFixedSize + 2 * kEndpointSize, v.size());
  const auto d = DecodePunch(v);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->answer);
  EXPECT_EQ(m.nat, d->nat);
  EXPECT_EQ(m.token, d->token);
  EXPECT_EQ(m.candidates, d->candidates);
  auto bad = v;
  bad[0] = 3;
  EXPECT_FALSE(DecodePunch(bad));
  bad = v;
  bad[1] = 4;
  EXPECT_FALSE(DecodePunch(bad));
  bad = v;
  bad[2] = 0;
  EXPECT_FALSE(DecodePunch(bad));
  bad = v;
  bad[3] = 1;
  EXPECT_FALSE(DecodePunch(bad));
  bad = v;
  bad.pop_back();
  EXPECT_FALSE(DecodePunch(bad));
  bad = v;
  bad[kPunchFixedSize + 16] = bad[kPunchFixedSize + 17] = 0;  // port 0
  EXPECT_FALSE(DecodePunch(bad));
}

// ---- the state machine

class FakeEnv final : public HolePunch::Env {
 public:
  bool SendPunch(const RingAddress& to, std::span<const uint8_t> payload) override {
    if (!route) return false;
    sent.push_back({to, DecodePunch(payload).value()});
    return true;
  }
  void Probe(const RingAddress& to, std::span<const Endpoint> c) override {
    probes.push_back({to, {c.begin(), c.end()}});
  }
  bool Linked(const RingAddress& a) const override {
    return std::find(linked.begin(), linked.end(), a) != linked.end();
  }
  uint64_t HeardNs(const RingAddress& a) const override { return Linked(a) ? heard_ns : 0; }
  uint64_t LinkedSinceNs(const RingAddress& a) const override {
    return Linked(a) ? linked_since_ns : 0;
  }
  void LinkBroken(const RingAddress& a) override {
    broken.push_back(a);
    std::erase(linked, a);
  }
  std::vector<Endpoint> OurCandidates() const override { return ours; }
  NatClass OurClass() const override { return our_class; }

  struct Sent {
    RingAddress to;
    PunchMessage m;
  };
  struct Probed {
    RingAddress to;
    std::vector<Endpoint> to_endpoints;
  };
  bool route = true;
  std::vector<Sent> sent;
  std::vector<Probed> probes;
  std::vector<RingAddress> linked;
  uint64_t heard_ns = 0;
  uint64_t linked_since_ns = 0;
  std::vector<RingAddress> broken;
  std::vector<Endpoint> ours{kLocal, kMapped};
  NatClass our_class = NatClass::kEndpointIndependent;
};

class HolePunchTest : public ::testing::Test {
 protected:
  HolePunchTest() : random_(7), punch_(PunchOptions{}, clock_, random_, env_) {}
  void Run(uint64_t ms) {
    for (uint64_t t = 0; t < ms; t += 50) {
      clock_.AdvanceMs(50);
      punch_.Tick();
    }
  }
  FakeClock clock_;
  FakeRandom random_;
  FakeEnv env_;
  HolePunch punch_;
  const RingAddress peer_ = Addr(9);
  const Endpoint hint_ = Ep4(Ip(172, 31, 200, 9), 5800);
};

TEST_F(HolePunchTest, WantSendsAnOfferAndProbesTheHintAtOnce) {
  punch_.Want(peer_, hint_);
  ASSERT_EQ(1u, env_.sent.size());
  EXPECT_EQ(peer_, env_.sent[0].to);
  EXPECT_FALSE(env_.sent[0].m.answer);
  EXPECT_EQ(env_.ours, env_.sent[0].m.candidates);
  EXPECT_EQ(NatClass::kEndpointIndependent, env_.sent[0].m.nat);
  ASSERT_EQ(1u, env_.probes.size());
  EXPECT_EQ(std::vector<Endpoint>{hint_}, env_.probes[0].to_endpoints);
  EXPECT_EQ(PunchState::kPunching, punch_.StatusOf(peer_)->state);
  // Wanting again while it runs starts nothing new.
  punch_.Want(peer_, hint_);
  EXPECT_EQ(1u, env_.sent.size());
  EXPECT_EQ(1u, punch_.counters().runs);
}

TEST_F(HolePunchTest, AnAnswerAddsItsCandidatesAndProbesContinueEveryInterval) {
  punch_.Want(peer_, hint_);
  const Endpoint theirs = Ep4(Ip(10, 9, 0, 2), 5800);
  punch_.OnMessage(
      peer_,
      EncodePunch({true, NatClass::kEndpointIndependent, env_.sent[0].m.token, {theirs, hint_}}));
  ASSERT_EQ(2u, env_.probes.size());
  EXPECT_EQ((std::vector<Endpoint>{hint_, theirs}), env_.probes[1].to_endpoints);
  Run(1000);  // 5 more probe rounds at 200 ms
  EXPECT_EQ(7u, env_.probes.size());
}

TEST_F(HolePunchTest, TheFirstAnswerThatLinksEndsTheRunDirect) {
  punch_.Want(peer_, hint_);
  Run(600);
  env_.linked.push_back(peer_);
  const size_t probes = env_.probes.size();
  Run(100);
  EXPECT_EQ(PunchState::kDirect, punch_.StatusOf(peer_)->state);
  EXPECT_EQ(1u, punch_.counters().succeeded);
  EXPECT_GE(punch_.StatusOf(peer_)->last_direct_after_ns, 600'000'000ull);
  Run(1000);
  EXPECT_EQ(probes, env_.probes.size());  // no probing once direct
}

TEST_F(HolePunchTest, NoAnswerFailsAfterTheWindowAndRetriesWithBackoff) {
  punch_.Want(peer_, hint_);
  Run(4900);
  EXPECT_EQ(PunchState::kPunching, punch_.StatusOf(peer_)->state);
  Run(200);
  auto s = punch_.StatusOf(peer_);
  EXPECT_EQ(PunchState::kFailed, s->state);
  EXPECT_EQ(PunchWhy::kNoAnswer, s->why);
  EXPECT_EQ(1u, punch_.counters().failed);
  const size_t probes = env_.probes.size();
  Run(1000);
  EXPECT_EQ(probes, env_.probes.size());  // no probing while failed
  // Within the back-off (10 s) wanting does not start a run.
  punch_.Want(peer_, hint_);
  EXPECT_EQ(1u, punch_.counters().runs);
  Run(9000);
  punch_.Want(peer_, hint_);
  EXPECT_EQ(2u, punch_.counters().runs);
  EXPECT_EQ(2u, punch_.StatusOf(peer_)->attempts);
  Run(5200);  // second failure: the back-off doubles to 20 s
  s = punch_.StatusOf(peer_);
  EXPECT_EQ(PunchState::kFailed, s->state);
  EXPECT_GT(s->retry_in_ns, 19'000'000'000ull);
  EXPECT_LE(s->retry_in_ns, 20'000'000'000ull);
  Run(15000);
  punch_.Want(peer_, hint_);
  EXPECT_EQ(2u, punch_.counters().runs);
  Run(5000);
  punch_.Want(peer_, hint_);
  EXPECT_EQ(3u, punch_.counters().runs);
}

TEST_F(HolePunchTest, BothSymmetricIsTheReasonWhenBothSaySo) {
  env_.our_class = NatClass::kAddressPortDependent;
  punch_.Want(peer_, hint_);
  punch_.OnMessage(
      peer_, EncodePunch({true, NatClass::kAddressPortDependent, env_.sent[0].m.token, {hint_}}));
  Run(5100);
  EXPECT_EQ(PunchWhy::kBothSymmetric, punch_.StatusOf(peer_)->why);
  EXPECT_EQ(NatClass::kAddressPortDependent, punch_.StatusOf(peer_)->peer_nat);
  EXPECT_EQ(1u, punch_.counters().failed_both_symmetric);
}

TEST_F(HolePunchTest, OneSymmetricSideFailsWithNoAnswer) {
  env_.our_class = NatClass::kAddressPortDependent;
  punch_.Want(peer_, hint_);
  punch_.OnMessage(
      peer_, EncodePunch({true, NatClass::kEndpointIndependent, env_.sent[0].m.token, {hint_}}));
  Run(5100);
  EXPECT_EQ(PunchWhy::kNoAnswer, punch_.StatusOf(peer_)->why);
}

TEST_F(HolePunchTest, AnOfferIsAnsweredAndTheResponderProbesTheOfferedCandidates) {
  const Endpoint theirs = Ep4(Ip(172, 31, 200, 9), 40001);
  punch_.OnMessage(peer_, EncodePunch({false, NatClass::kUnknown, 42, {theirs}}));
  ASSERT_EQ(1u, env_.sent.size());
  EXPECT_TRUE(env_.sent[0].m.answer);
  EXPECT_EQ(42u, env_.sent[0].m.token);
  EXPECT_EQ(env_.ours, env_.sent[0].m.candidates);
  ASSERT_EQ(1u, env_.probes.size());
  EXPECT_EQ(std::vector<Endpoint>{theirs}, env_.probes[0].to_endpoints);
  Run(1000);
  EXPECT_EQ(6u, env_.probes.size());
  EXPECT_EQ(0u, punch_.counters().runs);  // answering is not a run of ours
  // A second offer during the window does not stretch it.
  punch_.OnMessage(peer_, EncodePunch({false, NatClass::kUnknown, 43, {theirs}}));
  Run(4100);
  EXPECT_EQ(PunchState::kFailed, punch_.StatusOf(peer_)->state);
}

TEST_F(HolePunchTest, ABadPayloadIsCountedAndIgnored) {
  const uint8_t junk[5] = {1, 2, 3, 4, 5};
  punch_.OnMessage(peer_, junk);
  EXPECT_EQ(1u, punch_.counters().bad_messages);
  EXPECT_TRUE(env_.sent.empty());
  EXPECT_TRUE(env_.probes.empty());
}

TEST_F(HolePunchTest, ARepairOfALinkedPeerNeedsTheLinkHeardAgain) {
  env_.linked.push_back(peer_);
  env_.heard_ns = clock_.NowNs();
  punch_.Want(peer_, hint_);
  EXPECT_EQ(PunchState::kDirect, punch_.StatusOf(peer_)->state);
  EXPECT_TRUE(env_.sent.empty());
  Run(1000);
  punch_.Restart(peer_, hint_);
  EXPECT_EQ(1u, punch_.counters().restarts);
  EXPECT_EQ(1u, env_.sent.size());  // an offer although linked
  Run(1000);
  EXPECT_EQ(PunchState::kPunching, punch_.StatusOf(peer_)->state);  // link exists, not heard
  env_.heard_ns = clock_.NowNs();
  Run(100);
  EXPECT_EQ(PunchState::kDirect, punch_.StatusOf(peer_)->state);
}

TEST_F(HolePunchTest, AnOfferOverAnOldLinkMeansThePeerLostItsSide) {
  env_.linked.push_back(peer_);
  env_.linked_since_ns = clock_.NowNs();
  Run(6000);
  punch_.OnMessage(peer_, EncodePunch({false, NatClass::kEndpointIndependent, 7, {hint_}}));
  ASSERT_EQ(1u, env_.broken.size());  // our side of the link goes too
  EXPECT_EQ(PunchState::kPunching, punch_.StatusOf(peer_)->state);
  EXPECT_EQ(1u, env_.probes.size());
}

TEST_F(HolePunchTest, AnOfferOverALinkThisPunchMadeKeepsIt) {
  env_.linked.push_back(peer_);
  env_.linked_since_ns = clock_.NowNs();
  Run(1000);  // the peer's probe linked us before its routed offer arrived
  punch_.OnMessage(peer_, EncodePunch({false, NatClass::kEndpointIndependent, 7, {hint_}}));
  EXPECT_TRUE(env_.broken.empty());
}

TEST_F(HolePunchTest, NewCandidatesDuringARunAreOfferedAgain) {
  punch_.Want(peer_, hint_);
  Run(400);
  EXPECT_EQ(1u, env_.sent.size());
  Endpoint moved = kMapped;
  moved.port = 40000;
  env_.ours = {kLocal, moved};  // a link just reported our new mapping
  Run(100);
  ASSERT_EQ(2u, env_.sent.size());
  EXPECT_EQ(env_.ours, env_.sent[1].m.candidates);
  Run(500);
  EXPECT_EQ(2u, env_.sent.size());
}

TEST_F(HolePunchTest, WithoutARouteTheReasonSaysSo) {
  env_.route = false;
  punch_.Want(peer_, hint_);
  Run(5100);
  EXPECT_EQ(PunchWhy::kNoRoute, punch_.StatusOf(peer_)->why);
}

// ---- OBSERVED on a real node

class Capture final : public OverlayTransport {
 public:
  bool Send(const Endpoint& to, const RingAddress&, std::span<const uint8_t> d) override {
    out.push_back({to, {d.begin(), d.end()}});
    return true;
  }
  std::vector<MsgType> TypesTo(const Endpoint& to) const {
    std::vector<MsgType> t;
    for (const auto& [ep, bytes] : out) {
      MessageView m;
      if (ep == to && ParseMessage(bytes, &m) == MsgError::kNone) t.push_back(m.type);
    }
    return t;
  }
  std::vector<std::pair<Endpoint, std::vector<uint8_t>>> out;
};

TEST(Observed, ANewLinkIsToldWhereItsDatagramsComeFromAndReportsCount) {
  FakeClock clock;
  FakeRandom random(3);
  Capture transport;
  OverlayNode node(Addr(10), kLocal, OverlayOptions{}, clock, random, transport);
  node.SetLocalEndpoint(kLocal);
  node.Start();
  const Endpoint peer_ep = Ep4(Ip(172, 31, 200, 20), 40123);
  uint8_t buf[kMaxOverlayDatagram];
  size_t n = EncodeLinkRequest(Addr(20), {LinkKind::kNear, 5, Addr(10)}, buf);
  node.OnDatagram(peer_ep, {buf, n});
  ASSERT_NE(nullptr, node.links().Find(Addr(20)));
  // The requester learns its endpoint from the LINK_ACCEPT; nothing larger goes to an endpoint
  // that has not answered yet, so no OBSERVED.
  auto types = transport.TypesTo(peer_ep);
  EXPECT_EQ(0, std::count(types.begin(), types.end(), MsgType::kObserved));
  for (const auto& [ep, bytes] : transport.out) {
    MessageView m;
    if (ParseMessage(bytes, &m) == MsgError::kNone && m.type == MsgType::kLinkAccept) {
      EXPECT_EQ(peer_ep, m.link_accept.observed);
    }
  }
  n = EncodeKeepalive(Addr(20), {false, 9}, buf);
  node.OnDatagram(peer_ep, {buf, n});
  types = transport.TypesTo(peer_ep);
  EXPECT_EQ(0, std::count(types.begin(), types.end(), MsgType::kObserved));
  // The peer moved (its NAT rebound): told again at the new endpoint.
  const Endpoint moved = Ep4(Ip(172, 31, 200, 20), 40999);
  node.OnDatagram(moved, {buf, n});
  types = transport.TypesTo(moved);
  EXPECT_EQ(1, std::count(types.begin(), types.end(), MsgType::kObserved));

  // Its report about us counts only bound, from the link.
  n = EncodeObserved(Addr(20), {kMapped}, buf);
  node.OnDatagram(moved, {buf, n}, /*bound=*/false);
  EXPECT_EQ(0u, node.nat().reports());
  n = EncodeObserved(Addr(21), {kMapped}, buf);  // not linked
  node.OnDatagram(moved, {buf, n});
  EXPECT_EQ(0u, node.nat().reports());
  n = EncodeObserved(Addr(20), {kMapped}, buf);
  node.OnDatagram(moved, {buf, n});
  EXPECT_EQ(1u, node.nat().reports());
  EXPECT_EQ(kMapped, *node.nat().Reflexive(clock.NowNs()));
  EXPECT_EQ(1u, node.counters().observations);
}

TEST(Observed, TheRequesterTellsTheAcceptorWhereItsAcceptCameFrom) {
  FakeClock clock;
  FakeRandom random(6);
  Capture transport;
  OverlayNode node(Addr(10), kLocal, OverlayOptions{}, clock, random, transport);
  node.Start();
  const Endpoint acceptor = Ep4(Ip(172, 31, 200, 30), 40555);
  node.RequestShortcut(Addr(30), acceptor);
  MessageView req;
  ASSERT_EQ(MsgError::kNone, ParseMessage(transport.out.back().second, &req));
  uint8_t buf[kMaxOverlayDatagram];
  const size_t n = EncodeLinkAccept(
      Addr(30), {LinkKind::kShortcut, AcceptStatus::kAccepted, req.link_request.token, kMapped},
      buf);
  node.OnDatagram(acceptor, {buf, n});
  ASSERT_NE(nullptr, node.links().Find(Addr(30)));
  EXPECT_EQ(kMapped, *node.nat().Reflexive(clock.NowNs()));  // the accept's report about us
  bool told = false;
  for (const auto& [ep, bytes] : transport.out) {
    MessageView m;
    if (ep == acceptor && ParseMessage(bytes, &m) == MsgError::kNone &&
        m.type == MsgType::kObserved) {
      EXPECT_EQ(acceptor, m.observed.endpoint);
      told = true;
    }
  }
  EXPECT_TRUE(told);
}

TEST(Observed, AMovedMappingIsFollowedAndEveryLinkProbed) {
  FakeClock clock;
  FakeRandom random(4);
  Capture transport;
  OverlayNode node(Addr(10), kLocal, OverlayOptions{}, clock, random, transport);
  node.SetLocalEndpoint(kLocal);
  node.Start();
  uint8_t buf[kMaxOverlayDatagram];
  for (uint8_t id : {20, 30}) {
    const Endpoint ep = Ep4(Ip(172, 31, 200, id), 5800);
    size_t n = EncodeLinkRequest(Addr(id), {LinkKind::kNear, id, Addr(10)}, buf);
    node.OnDatagram(ep, {buf, n});
    n = EncodeObserved(Addr(id), {kMapped}, buf);
    node.OnDatagram(ep, {buf, n});
  }
  EXPECT_EQ(NatClass::kEndpointIndependent, node.nat().Classify(clock.NowNs()));
  transport.out.clear();
  Endpoint moved = kMapped;
  moved.port = 40000;
  size_t n = EncodeObserved(Addr(20), {moved}, buf);
  node.OnDatagram(Ep4(Ip(172, 31, 200, 20), 5800), {buf, n});
  EXPECT_EQ(1u, node.counters().mapping_moved);
  EXPECT_EQ(moved, node.endpoint());
  auto types = transport.TypesTo(Ep4(Ip(172, 31, 200, 30), 5800));
  EXPECT_EQ(1, std::count(types.begin(), types.end(), MsgType::kKeepalive));
}

TEST(Observed, PunchProbesAreLinkRequestsToEveryCandidateUnderOnePendingToken) {
  FakeClock clock;
  FakeRandom random(5);
  Capture transport;
  OverlayNode node(Addr(10), kLocal, OverlayOptions{}, clock, random, transport);
  node.Start();
  const Endpoint a = Ep4(Ip(10, 9, 0, 2), 5800), b = Ep4(Ip(172, 31, 200, 9), 5800);
  const Endpoint both[] = {a, b};
  node.PunchProbe(Addr(9), both);
  node.PunchProbe(Addr(9), both);
  std::vector<uint64_t> tokens;
  for (const auto& [ep, bytes] : transport.out) {
    MessageView m;
    ASSERT_EQ(MsgError::kNone, ParseMessage(bytes, &m));
    ASSERT_EQ(MsgType::kLinkRequest, m.type);
    EXPECT_EQ(LinkKind::kShortcut, m.link_request.kind);
    EXPECT_EQ(Addr(9), m.link_request.receiver);
    tokens.push_back(m.link_request.token);
  }
  ASSERT_EQ(4u, tokens.size());
  EXPECT_TRUE(
      std::all_of(tokens.begin(), tokens.end(), [&](uint64_t t) { return t == tokens[0]; }));
  EXPECT_EQ(4u, node.counters().punch_probes);
  // The answer from the second candidate makes the link there.
  uint8_t buf[kMaxOverlayDatagram];
  const size_t n = EncodeLinkAccept(
      Addr(9), {LinkKind::kShortcut, AcceptStatus::kAccepted, tokens[0], kMapped}, buf);
  node.OnDatagram(b, {buf, n});
  ASSERT_NE(nullptr, node.links().Find(Addr(9)));
  EXPECT_EQ(b, node.links().Find(Addr(9))->endpoint);
  EXPECT_NE(0, node.links().Find(Addr(9))->roles & kRoleShortcut);
}

}  // namespace
}  // namespace ipop::cp::overlay

// ---- the directory record's candidates

namespace ipop::cp {
namespace {

using overlay::Candidate;
using overlay::CandidateKind;
using overlay::NatClass;
using testing::Ep4;
using testing::Ip;

TEST(VipLocationRecord, TheOldFormStillDecodes) {
  VipLocation w{overlay::RingAddress::FromFraction(0.25), Ep4(Ip(172, 31, 200, 4), 5800)};
  const std::vector<uint8_t> v = EncodeVipLocation(w);
  EXPECT_EQ(38u, v.size());  // nothing to add: the 38-byte form older nodes read
  const auto d = DecodeVipLocation(v);
  ASSERT_TRUE(d);
  EXPECT_EQ(w.node, d->node);
  EXPECT_TRUE(d->candidates.empty());
}

TEST(VipLocationRecord, CandidatesRoundTripAndLaterVersionsAreTolerated) {
  VipLocation w{overlay::RingAddress::FromFraction(0.25),
                Ep4(Ip(172, 31, 200, 4), 5800),
                NatClass::kEndpointIndependent,
                {{CandidateKind::kLocal, Ep4(Ip(10, 4, 0, 2), 5800)},
                 {CandidateKind::kReflexive, Ep4(Ip(172, 31, 200, 4), 5800)}}};
  std::vector<uint8_t> v = EncodeVipLocation(w);
  EXPECT_EQ(38u + 3 + 2 * 19, v.size());
  auto d = DecodeVipLocation(v);
  ASSERT_TRUE(d);
  EXPECT_EQ(w.nat, d->nat);
  EXPECT_EQ(w.candidates, d->candidates);
  // An unknown candidate kind is skipped, not fatal.
  auto later = v;
  later[38 + 3] = 9;
  d = DecodeVipLocation(later);
  ASSERT_TRUE(d);
  ASSERT_EQ(1u, d->candidates.size());
  EXPECT_EQ(CandidateKind::kReflexive, d->candidates[0].kind);
  // An unknown extension version: the base fields only.
  later = v;
  later[38] = 2;
  later.push_back(0xee);
  d = DecodeVipLocation(later);
  ASSERT_TRUE(d);
  EXPECT_EQ(w.endpoint, d->endpoint);
  EXPECT_TRUE(d->candidates.empty());
  // A count that disagrees with the length, or a truncated extension: refused.
  auto bad = v;
  bad[38 + 2] = 3;
  EXPECT_FALSE(DecodeVipLocation(bad));
  bad = v;
  bad.resize(40);
  EXPECT_FALSE(DecodeVipLocation(bad));
}

// ---- overlay.keepalive-s holds NAT mappings: idle links are probed that often

TEST(KeepaliveConfig, IdleLinksAreProbedAtTheConfiguredInterval) {
  NodeConfig cfg;
  EXPECT_EQ(15u, cfg.keepalive_s);  // under the common 30 s UDP mapping timeout
  EXPECT_EQ(15'000'000'000ull, OverlayHostOptions::FromConfig(cfg).overlay.timers.probe_idle_ns);
  cfg.keepalive_s = 20;
  EXPECT_EQ(20'000'000'000ull, OverlayHostOptions::FromConfig(cfg).overlay.timers.probe_idle_ns);
}

// ---- ipopctl peers says how a peer is reached and why

TEST(PeersPath, ALearnedPeerGetsAPathLineWithTheRelayAndTheReason) {
  PeerRow relayed;
  relayed.status.vip = 0x0a4d0007;
  relayed.status.learned = true;
  relayed.status.relayed = true;
  NodeAddress via;
  via.fill(0xab);
  relayed.path = {true, overlay::RingAddress::FromBytes(via),
                  "punch failed: both symmetric, retry in 10 s", "address/port-dependent"};
  PeerRow direct;
  direct.status.vip = 0x0a4d0004;
  direct.status.learned = true;
  direct.path = {false, {}, "punched in 21 ms", ""};
  PeerRow configured;
  configured.status.vip = 0x0a4d0002;
  const std::string out = RenderPeers({relayed, direct, configured});
  EXPECT_NE(std::string::npos, out.find("peer 10.77.0.7 ")) << out;
  EXPECT_NE(
      std::string::npos,
      out.find("\n  path relayed via abababababababab (punch failed: both symmetric, retry in "
               "10 s)\n"))
      << out;
  EXPECT_NE(std::string::npos, out.find("\n  path direct (punched in 21 ms)\n")) << out;
  // A configured peer has no overlay path to explain: three peer lines, two path lines.
  size_t paths = 0;
  for (size_t at = out.find("  path "); at != std::string::npos; at = out.find("  path ", at + 1))
    ++paths;
  EXPECT_EQ(2u, paths);
}

// ---- the path policy repairs a direct path that went silent

TEST(PeerPathRepair, ASilentDirectPathIsRelayedAndPunchedUntilTheLinkIsHeardAgain) {
  testing::FakeClock clock;
  PeerPathPolicy policy({.interval_ns = 500'000'000, .peer_timeout_ms = 3000}, clock);
  PeerPathInput p;
  p.vip = 7;
  p.learned = true;
  p.node = overlay::RingAddress::FromFraction(0.5);
  p.up = true;
  p.heard = true;
  p.link = Ep4(Ip(172, 31, 200, 9), 5800);
  p.link_heard_ns = clock.NowNs();
  auto path_of = [](const std::vector<PathAction>& acts, bool* relayed, bool* repair) {
    *repair = false;
    for (const PathAction& a : acts) {
      if (a.kind == PathAction::Kind::kSetPath) *relayed = a.relayed;
      if (a.kind == PathAction::Kind::kRepairDirect) *repair = true;
    }
  };
  bool relayed = true, repair = false;
  clock.AdvanceMs(500);
  path_of(policy.Decide({p}, {}), &relayed, &repair);
  EXPECT_FALSE(relayed);
  EXPECT_FALSE(repair);
  // HELLOs stop for more than half the peer timeout.
  p.last_hello_age_ns = 1'600'000'000ull;
  clock.AdvanceMs(500);
  path_of(policy.Decide({p}, {}), &relayed, &repair);
  EXPECT_TRUE(relayed);
  EXPECT_TRUE(repair);
  p.relayed = true;
  clock.AdvanceMs(500);
  path_of(policy.Decide({p}, {}), &relayed, &repair);
  EXPECT_TRUE(relayed);
  EXPECT_FALSE(repair);  // once per break
  // Relayed HELLOs make the peer fresh again, but the link was not heard: still relayed.
  p.last_hello_age_ns = 100'000'000ull;
  clock.AdvanceMs(500);
  path_of(policy.Decide({p}, {}), &relayed, &repair);
  EXPECT_TRUE(relayed);
  // The punch got through: the link carried something after the break.
  p.link_heard_ns = clock.NowNs();
  clock.AdvanceMs(500);
  path_of(policy.Decide({p}, {}), &relayed, &repair);
  EXPECT_FALSE(relayed);
}

}  // namespace
}  // namespace ipop::cp
