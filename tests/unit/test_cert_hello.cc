// HELLOs in certificate mode, two and three in-memory control planes through fake ports: certified
// nodes handshake with keys that match and see each other's certificate; once a peer holds our
// chain it is left out and the HELLOs still verify; a node certified for .3 cannot speak as .2
// (refused, counted, .2's endpoint stays); a chain of another CA, an expired and a revoked one are
// refused with their reason; dropping a subject ends its sessions. Data keys are bound to both
// certificates' key ids.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "controlplane/identity/node_identity.h"
#include "controlplane/sessions/cert_hello_authenticator.h"
#include "controlplane/sessions/control_protocol.h"
#include "controlplane/sessions/network_id.h"
#include "controlplane/sessions/peer_sessions.h"
#include "tests/unit/cp_fakes.h"
#include "tests/unit/identity_fixtures.h"

namespace ipop::cp {
namespace {

using identity::Certificate;
using identity::NodeIdentity;
using identity::PrivateKey;
using identity::testing::Issue;
using identity::testing::Key;
using identity::testing::kLife;
using identity::testing::kT0;
using identity::testing::NodeFields;
using identity::testing::P;
using identity::testing::Root;
using identity::testing::SerialOf;
using testing::Ep4;
using testing::FakeClock;
using testing::FakePort;
using testing::FakeRandom;
using testing::Ip;

constexpr uint32_t kVipA = Ip(10, 77, 0, 1);
constexpr uint32_t kVipB = Ip(10, 77, 0, 2);
constexpr uint32_t kVipC = Ip(10, 77, 0, 3);
const Endpoint kEpA = Ep4(Ip(192, 0, 2, 1), 5800);
const Endpoint kEpB = Ep4(Ip(192, 0, 2, 2), 5800);
const Endpoint kEpM = Ep4(Ip(192, 0, 2, 66), 5800);

// A node certificate for `vip` only, by `ca_key`, valid [kT0, not_after).
std::unique_ptr<NodeIdentity> MakeIdentity(uint8_t seed, const std::string& name, uint32_t vip,
                                           const PrivateKey& ca_key, const Certificate& ca,
                                           uint64_t not_after = kT0 + kLife) {
  NodeIdentity::Parts parts;
  parts.key = Key(seed);
  identity::CertificateFields f = NodeFields(*parts.key, name);
  f.serial = SerialOf(seed);
  f.vips = {identity::Prefix{vip, 32}};
  f.not_after = not_after;
  parts.cert = Issue(f, ca_key);
  parts.network_roots = {ca};
  parts.overlay_roots = {ca};
  parts.network = "lab";
  NodeIdentity::Loaded l = NodeIdentity::Create(std::move(parts), kT0);
  EXPECT_EQ(l.error, "");
  return std::move(l.identity);
}

struct CertNode {
  CertNode(FakeClock& clock, uint32_t vip_in, Endpoint ep, std::vector<PeerConfig> peers,
           uint64_t seed, std::unique_ptr<NodeIdentity> id_in)
      : vip(vip_in),
        endpoint(ep),
        random(seed),
        id(std::move(id_in)),
        auth(*id, clock),
        keys("lab") {
    PeerSessionsOptions o;
    o.local_vip = vip;
    o.network = "lab";
    o.hello_interval_ms = 1000;
    o.peer_timeout_ms = 5000;
    o.peers = std::move(peers);
    o.running_dp_instance = seed;
    s = std::make_unique<PeerSessions>(o, clock, random, auth, keys, port, counters);
    s->ObserveDataplaneInstance(seed);
  }
  uint64_t Count(CpCounter c) const { return counters.Get(c); }
  PeerSessions::PeerStatus StatusOf(uint32_t peer_vip) const {
    for (const auto& st : s->Status())
      if (st.vip == peer_vip) return st;
    return {};
  }

  uint32_t vip;
  Endpoint endpoint;
  FakeRandom random;
  FakePort port;
  CpCounters counters;
  std::unique_ptr<NodeIdentity> id;
  CertHelloAuthenticator auth;
  CertKeySource keys;
  std::unique_ptr<PeerSessions> s;
};

const shm::PeerEntry* EntryFor(const shm::TableSpec& spec, uint32_t vip) {
  for (const shm::PeerEntry& e : spec.peers)
    if ((e.flags & shm::kPeerValid) && e.vip == vip) return &e;
  return nullptr;
}

// from's published transmit key for `to` is a receive session of `to` with the same key.
bool TxOpensAtPeer(const CertNode& from, const CertNode& to) {
  const shm::TableSpec fs = from.s->BuildSpec();
  const shm::TableSpec ts = to.s->BuildSpec();
  const shm::PeerEntry* e = EntryFor(fs, to.vip);
  if (e == nullptr || !(e->flags & shm::kPeerTxReady)) return false;
  for (const shm::SessionSpec& s : ts.sessions)
    if (s.receiver_index == e->tx_remote_index)
      return std::memcmp(s.entry.rx_key, e->tx_key, 32) == 0 &&
             std::memcmp(s.entry.rx_salt, e->tx_salt, 4) == 0;
  return false;
}

// Delivers `from`'s queued datagrams to the node at the destination endpoint; returns how many.
// `sizes` collects the sizes of what was delivered.
size_t Deliver(CertNode& from, const std::vector<CertNode*>& nodes,
               std::vector<size_t>* sizes = nullptr) {
  std::vector<FakePort::Datagram> out;
  out.swap(from.port.sent);
  size_t n = 0;
  for (const auto& d : out)
    for (CertNode* to : nodes)
      if (to != &from && d.to == to->endpoint) {
        if (sizes != nullptr) sizes->push_back(d.bytes.size());
        to->s->OnControlDatagram(from.endpoint, d.bytes);
        ++n;
      }
  return n;
}

void Settle(const std::vector<CertNode*>& nodes, std::vector<size_t>* sizes = nullptr) {
  for (int round = 0; round < 20; ++round) {
    size_t n = 0;
    for (CertNode* x : nodes) n += Deliver(*x, nodes, sizes);
    if (n == 0) return;
  }
  ADD_FAILURE() << "HELLO exchange did not settle";
}

void RunFor(FakeClock& clock, const std::vector<CertNode*>& nodes, uint64_t ms,
            std::vector<size_t>* sizes = nullptr) {
  for (uint64_t t = 0; t < ms; t += 100) {
    clock.AdvanceMs(100);
    for (CertNode* x : nodes) x->s->Tick();
    Settle(nodes, sizes);
  }
}

class CertHelloTest : public ::testing::Test {
 protected:
  CertHelloTest() { clock.wall_ns = (kT0 + 100) * 1'000'000'000ull; }
  std::unique_ptr<CertNode> MakeA() {
    return std::make_unique<CertNode>(clock, kVipA, kEpA, std::vector<PeerConfig>{{kVipB, kEpB}}, 1,
                                      MakeIdentity(11, "a", kVipA, *root_key, root));
  }
  std::unique_ptr<CertNode> MakeB(uint64_t not_after = kT0 + kLife) {
    return std::make_unique<CertNode>(clock, kVipB, kEpB, std::vector<PeerConfig>{{kVipA, kEpA}}, 2,
                                      MakeIdentity(12, "b", kVipB, *root_key, root, not_after));
  }
  FakeClock clock;
  std::unique_ptr<PrivateKey> root_key = Key(1);
  Certificate root = Root(*root_key);
};

TEST_F(CertHelloTest, CertifiedNodesHandshakeAndKnowEachOthersCertificate) {
  auto a = MakeA();
  auto b = MakeB();
  a->s->Tick();
  Settle({a.get(), b.get()});
  EXPECT_TRUE(TxOpensAtPeer(*a, *b));
  EXPECT_TRUE(TxOpensAtPeer(*b, *a));
  ASSERT_NE(a->s->PeerCertificate(kVipB), nullptr);
  EXPECT_EQ(a->s->PeerCertificate(kVipB)->fields.name, "b");
  EXPECT_EQ(b->StatusOf(kVipA).cert_name, "a");
  EXPECT_EQ(a->s->PeerCertificate(kVipC), nullptr);
  EXPECT_GE(a->Count(CpCounter::hello_accepted), 1u);
  EXPECT_EQ(a->Count(CpCounter::hello_bad_mac), 0u);
}

TEST_F(CertHelloTest, TheChainIsLeftOutOnceThePeerHoldsItAndSentAgainLater) {
  auto a = MakeA();
  auto b = MakeB();
  a->s->Tick();
  Settle({a.get(), b.get()});
  const uint64_t accepted = a->Count(CpCounter::hello_accepted);
  std::vector<size_t> sizes;
  RunFor(clock, {a.get(), b.get()}, 5000, &sizes);
  ASSERT_FALSE(sizes.empty());
  // Header 16, body 96, chain length 2, signature 64: no chain.
  const size_t bare = kHelloSignedSize + 2 + identity::kSignatureSize;
  EXPECT_EQ(*std::max_element(sizes.begin(), sizes.end()), bare);
  EXPECT_GT(a->Count(CpCounter::hello_accepted), accepted + 3);
  EXPECT_EQ(a->Count(CpCounter::hello_chain_missing) + b->Count(CpCounter::hello_chain_missing),
            0u);
  EXPECT_TRUE(TxOpensAtPeer(*a, *b));
  // Every 30 s the chain rides along again.
  sizes.clear();
  RunFor(clock, {a.get(), b.get()}, 31000, &sizes);
  EXPECT_GT(*std::max_element(sizes.begin(), sizes.end()), bare + 100);
  // A restarted peer (echo zero) gets the chain at once and the pair recovers.
  b = MakeB();
  b->s->Tick();
  Settle({a.get(), b.get()});
  RunFor(clock, {a.get(), b.get()}, 2000);
  EXPECT_TRUE(TxOpensAtPeer(*a, *b));
  EXPECT_TRUE(TxOpensAtPeer(*b, *a));
}

TEST_F(CertHelloTest, ANodeCertifiedForDot3CannotSpeakAsDot2) {
  auto a = MakeA();
  auto b = MakeB();
  a->s->Tick();
  Settle({a.get(), b.get()});
  ASSERT_TRUE(TxOpensAtPeer(*a, *b));
  // M holds a valid certificate of the network, for .3, but claims .2 from its own endpoint.
  CertNode m(clock, kVipB, kEpM, {{kVipA, kEpA}}, 3, MakeIdentity(13, "m", kVipC, *root_key, root));
  RunFor(clock, {a.get(), b.get(), &m}, 3000);
  EXPECT_GE(a->Count(CpCounter::hello_vip_not_allowed), 3u);
  EXPECT_EQ(a->StatusOf(kVipB).endpoint, kEpB);  // .2's endpoint did not move
  EXPECT_EQ(a->s->PeerCertificate(kVipB)->fields.name, "b");
  EXPECT_EQ(a->Count(CpCounter::endpoint_changes), 0u);
  EXPECT_TRUE(TxOpensAtPeer(*a, *b));
  EXPECT_TRUE(TxOpensAtPeer(*b, *a));
}

TEST_F(CertHelloTest, AChainOfAnotherCaIsRefused) {
  auto a = MakeA();
  std::unique_ptr<PrivateKey> other_key = Key(2);
  const Certificate other = Root(*other_key);
  CertNode x(clock, kVipB, kEpB, {{kVipA, kEpA}}, 4,
             MakeIdentity(14, "x", kVipB, *other_key, other));
  RunFor(clock, {a.get(), &x}, 3000);
  EXPECT_GE(a->Count(CpCounter::hello_cert_unknown_issuer), 3u);
  EXPECT_EQ(a->Count(CpCounter::hello_accepted), 0u);
  EXPECT_FALSE(a->StatusOf(kVipB).up);
}

TEST_F(CertHelloTest, AnExpiredCertificateIsRefusedEvenWhenItsChainIsLeftOut) {
  auto a = MakeA();
  auto b = MakeB(kT0 + 120);  // B's certificate expires 20 s from now
  a->s->Tick();
  Settle({a.get(), b.get()});
  ASSERT_TRUE(TxOpensAtPeer(*a, *b));
  RunFor(clock, {a.get(), b.get()}, 27000);
  EXPECT_GT(a->Count(CpCounter::hello_cert_expired), 0u);
  EXPECT_FALSE(a->StatusOf(kVipB).up);
}

TEST_F(CertHelloTest, ARevokedPeerIsRefusedAndDroppingItsSubjectEndsItsSessions) {
  auto a = MakeA();
  auto b = MakeB();
  a->s->Tick();
  Settle({a.get(), b.get()});
  ASSERT_TRUE(TxOpensAtPeer(*a, *b));
  const Certificate b_cert = b->id->cert();
  const identity::SignedRevocation r =
      identity::RevokeCertificate(b_cert, root, *root_key, kT0 + 100);
  ASSERT_TRUE(r.revocation);
  ASSERT_EQ(a->id->AddRevocation(*r.revocation, kT0 + 100), "");
  EXPECT_EQ(a->s->DropSubject(b_cert.key_id()), 1u);
  EXPECT_EQ(a->s->PeerCertificate(kVipB), nullptr);
  EXPECT_EQ(EntryFor(a->s->BuildSpec(), kVipB)->flags & shm::kPeerTxReady, 0u);
  RunFor(clock, {a.get(), b.get()}, 3000);
  EXPECT_GT(a->Count(CpCounter::hello_cert_revoked), 0u);
  EXPECT_FALSE(TxOpensAtPeer(*a, *b));
  EXPECT_EQ(a->s->PeerCertificate(kVipB), nullptr);
}

TEST_F(CertHelloTest, ACertificateModeHelloIsNoPskHelloAndAForgedSignatureIsRefused) {
  auto a = MakeA();
  auto b = MakeB();
  a->s->Tick();
  ASSERT_FALSE(a->port.sent.empty());
  std::vector<uint8_t> hello = a->port.sent.front().bytes;
  std::array<uint8_t, 32> secret{};
  secret.fill(7);
  const PskHelloAuthenticator psk(secret, "lab");
  Hello h;
  EXPECT_NE(DecodeHello(hello, NetworkHash("lab"), psk, &h), HelloError::kNone);
  EXPECT_NE(DecodeHello(hello, NetworkHash("lab"), b->auth, &h), HelloError::kNone);
  // One flipped bit in the signed part: the signature no longer verifies.
  hello[wire::kHeaderSize + 80] ^= 1;
  b->s->OnControlDatagram(kEpA, hello);
  EXPECT_EQ(b->Count(CpCounter::hello_bad_mac), 1u);
  EXPECT_EQ(b->Count(CpCounter::hello_accepted), 0u);
}

TEST(CertKeySource, KeysAreBoundToBothCertificatesKeyIds) {
  FakeRandom r1(1), r2(2);
  X25519KeyPair x, y;
  ASSERT_TRUE(x.Generate(r1));
  ASSERT_TRUE(y.Generate(r2));
  const CertKeySource keys("lab");
  SessionKeyInput in;
  in.local = &x;
  in.peer_public = y.public_key();
  in.local_vip = kVipA;
  in.peer_vip = kVipB;
  in.local_key_id.fill(1);
  in.peer_key_id.fill(2);
  SessionKeys base;
  ASSERT_TRUE(keys.Derive(in, &base));
  // The other side, with the roles swapped, derives the mirror keys.
  SessionKeyInput other = in;
  other.local = &y;
  other.peer_public = x.public_key();
  std::swap(other.local_vip, other.peer_vip);
  std::swap(other.local_key_id, other.peer_key_id);
  SessionKeys mirror;
  ASSERT_TRUE(keys.Derive(other, &mirror));
  EXPECT_EQ(std::memcmp(base.tx.key, mirror.rx.key, 32), 0);
  EXPECT_EQ(std::memcmp(base.rx.key, mirror.tx.key, 32), 0);
  // Another key id on either side: other keys in both directions.
  for (CertKeyId SessionKeyInput::*field :
       {&SessionKeyInput::local_key_id, &SessionKeyInput::peer_key_id}) {
    SessionKeyInput changed = in;
    (changed.*field)[0] ^= 0x80;
    SessionKeys k;
    ASSERT_TRUE(keys.Derive(changed, &k));
    EXPECT_NE(std::memcmp(k.tx.key, base.tx.key, 32), 0);
    EXPECT_NE(std::memcmp(k.rx.key, base.rx.key, 32), 0);
  }
  // Another network: other keys.
  SessionKeys net;
  ASSERT_TRUE(CertKeySource("prod").Derive(in, &net));
  EXPECT_NE(std::memcmp(net.tx.key, base.tx.key, 32), 0);
  // No session without both certificates.
  SessionKeyInput missing = in;
  missing.peer_key_id = {};
  EXPECT_FALSE(keys.Derive(missing, &net));
}

}  // namespace
}  // namespace ipop::cp
