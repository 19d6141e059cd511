// Overlay links in certificate mode (docs/pki.md, "Overlay links"): a certified handshake gives
// both sides the same link key; handshakes are refused for a chain of another CA, an expired or
// revoked certificate, a sender address not derived from the certified key, a bad signature and
// an accept replayed into another handshake; overlay-secret tags and unlinked senders are
// refused; a routed message whose first hop names another source is refused; links close when a
// certificate expires (periodic re-check) and by subject key id.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "controlplane/directory/link_auth.h"
#include "controlplane/directory/overlay_host.h"
#include "controlplane/identity/revocation.h"
#include "controlplane/overlay/messages.h"
#include "cp_fakes.h"
#include "shared/byte_order.h"
#include "tests/unit/identity_fixtures.h"

namespace ipop::cp {
namespace {

using identity::Certificate;
using identity::NodeIdentity;
using identity::PrivateKey;
using namespace identity::testing;
using ::ipop::cp::testing::Ep4;
using ::ipop::cp::testing::FakeClock;
using ::ipop::cp::testing::FakePort;
using ::ipop::cp::testing::FakeRandom;
using overlay::RingAddress;

constexpr uint64_t kNowS = kT0 + 100;

struct Ca {
  std::unique_ptr<PrivateKey> key;
  Certificate root;
  explicit Ca(uint8_t seed) : key(Key(seed)), root(Root(*key)) {}
};

std::unique_ptr<NodeIdentity> MakeIdentity(const Ca& trusted, const Ca& issuer, uint8_t seed,
                                           uint64_t not_after,
                                           const std::vector<Certificate>& revoke) {
  NodeIdentity::Parts parts;
  parts.key = Key(seed);
  identity::CertificateFields f = NodeFields(*parts.key, "n" + std::to_string(seed));
  f.serial = SerialOf(seed);
  f.not_after = not_after;
  parts.cert = Issue(f, *issuer.key);
  parts.network_roots = {issuer.root};
  parts.overlay_roots = {trusted.root};
  parts.network = "lab";
  for (const Certificate& c : revoke) {
    const identity::SignedRevocation r = RevokeCertificate(c, trusted.root, *trusted.key, kNowS);
    EXPECT_TRUE(r.revocation.has_value());
    parts.revocations.push_back(*r.revocation);
  }
  NodeIdentity::Loaded l = NodeIdentity::Create(std::move(parts), kNowS);
  EXPECT_EQ(l.error, "");
  return std::move(l.identity);
}

Certificate CertOf(const Ca& issuer, uint8_t seed) {
  std::unique_ptr<PrivateKey> k = Key(seed);
  identity::CertificateFields f = NodeFields(*k, "n" + std::to_string(seed));
  f.serial = SerialOf(seed);
  return Issue(f, *issuer.key);
}

struct Host {
  Endpoint ep;
  FakePort port;
  FakeRandom random;
  PskHelloAuthenticator psk{std::array<uint8_t, 32>{}, "lab\noverlay"};
  std::unique_ptr<NodeIdentity> id;
  std::unique_ptr<OverlayHost> host;
  explicit Host(uint64_t seed) : random(seed) {}
  const LinkAuthCounters& lc() const { return host->link_auth_counters(); }
  uint64_t refused(LinkRefusal r) const { return lc().refused[size_t(r)]; }
};

class CertNet {
 public:
  CertNet() { clock.wall_ns = kNowS * 1'000'000'000ull; }
  Host& Add(uint32_t index, std::vector<uint32_t> bootstrap, std::unique_ptr<NodeIdentity> id,
            bool sybil = false) {
    auto h = std::make_unique<Host>(index * 77 + 1);
    h->ep = Ep4(0xac1f0000 + index, 5800);
    h->id = std::move(id);
    OverlayHostOptions o;
    o.address = RingAddress::FromBytes(h->id->ring_address());
    if (sybil) {
      const std::string chosen = "chosen place";
      o.address = RingAddress::FromIdentity(
          {reinterpret_cast<const uint8_t*>(chosen.data()), chosen.size()});
    }
    o.listen = h->ep;
    o.network = "lab";
    for (uint32_t b : bootstrap) o.overlay.bootstrap.push_back(Ep4(0xac1f0000 + b, 5800));
    h->host = std::make_unique<OverlayHost>(o, clock, h->random, h->port, h->psk);
    h->host->SetIdentity(h->id.get());
    h->host->Start();
    hosts.push_back(std::move(h));
    return *hosts.back();
  }
  Host* ByEndpoint(const Endpoint& ep) {
    for (auto& h : hosts)
      if (h->ep == ep) return h.get();
    return nullptr;
  }
  void Run(uint64_t ms, uint64_t step_ms = 20) {
    for (uint64_t t = 0; t < ms; t += step_ms) {
      for (int round = 0; round < 8; ++round) {
        bool any = false;
        for (auto& h : hosts) {
          std::vector<FakePort::Datagram> out;
          out.swap(h->port.sent);
          for (const auto& d : out) {
            any = true;
            if (capture) capture(*h, d.bytes);
            if (Host* to = ByEndpoint(d.to)) to->host->OnControlDatagram(h->ep, d.bytes);
          }
        }
        if (!any) break;
      }
      for (auto& h : hosts) h->host->Tick();
      clock.AdvanceMs(step_ms);
    }
  }
  bool Linked(Host& a, Host& b) { return a.host->HasLink(b.host->node().address()); }

  FakeClock clock;
  std::vector<std::unique_ptr<Host>> hosts;
  std::function<void(Host& from, const std::vector<uint8_t>& bytes)> capture;
};

class CertLinks : public ::testing::Test {
 protected:
  std::unique_ptr<NodeIdentity> Id(uint8_t seed, uint64_t not_after = kT0 + kLife,
                                   const std::vector<Certificate>& revoke = {}) {
    return MakeIdentity(ca, ca, seed, not_after, revoke);
  }
  Ca ca{1};
  Ca other_ca{2};
};

TEST_F(CertLinks, CertifiedHandshakeGivesBothSidesTheSameLinkKey) {
  CertNet net;
  Host& a = net.Add(1, {}, Id(10));
  Host& b = net.Add(2, {1}, Id(11));
  net.Run(3'000);
  ASSERT_TRUE(net.Linked(a, b));
  ASSERT_TRUE(net.Linked(b, a));
  const RingAddress aa = a.host->node().address(), ba = b.host->node().address();
  const std::array<uint8_t, 32> ka = a.host->link_guard()->NewestKeyForTest(ba);
  const std::array<uint8_t, 32> kb = b.host->link_guard()->NewestKeyForTest(aa);
  EXPECT_NE(ka, (std::array<uint8_t, 32>{}));
  EXPECT_EQ(ka, kb);
  for (Host* h : {&a, &b}) {
    EXPECT_GE(h->lc().links_keyed, 1u);
    for (size_t r = 0; r < size_t(LinkRefusal::kCount); ++r)
      EXPECT_EQ(h->lc().refused[r], 0u) << LinkRefusalName(r);
    EXPECT_EQ(h->host->counters().bad_tag, 0u);
  }
  // The ring address is the certified key's.
  EXPECT_EQ(aa, RingAddress::FromBytes(identity::RingAddressFromKey(a.id->public_key())));
}

TEST_F(CertLinks, ThreeCertifiedNodesLinkAndRouteHellos) {
  CertNet net;
  Host& a = net.Add(1, {}, Id(10));
  net.Add(2, {1}, Id(11));
  Host& c = net.Add(3, {1}, Id(12));
  net.Run(10'000);
  int got = 0;
  c.host->SetHelloHandler([&](const RingAddress& src, const Endpoint&, std::span<const uint8_t>) {
    EXPECT_EQ(src, a.host->node().address());
    ++got;
  });
  const uint8_t hello[4] = {1, 2, 3, 4};
  ASSERT_TRUE(a.host->SendHello(c.host->node().address(), hello));
  net.Run(500);
  EXPECT_EQ(got, 1);
  for (auto& h : net.hosts) {
    EXPECT_EQ(h->host->node().links().size(), 2u);
    EXPECT_EQ(h->host->counters().bad_tag, 0u);
    for (size_t r = 0; r < size_t(LinkRefusal::kCount); ++r)
      EXPECT_EQ(h->lc().refused[r], 0u) << LinkRefusalName(r);
  }
}

// A node that should get no link with `a`, and the reason `a` counts for its requests.
void ExpectRefused(CertNet& net, Host& a, Host& x, LinkRefusal reason) {
  net.Run(5'000);
  EXPECT_FALSE(net.Linked(a, x));
  EXPECT_FALSE(x.host->node().joined());
  EXPECT_GE(a.refused(reason), 1u) << LinkRefusalName(size_t(reason));
  EXPECT_EQ(a.host->counters().accepted, 0u);
}

TEST_F(CertLinks, ChainOfAnotherCaIsRefused) {
  CertNet net;
  Host& a = net.Add(1, {}, Id(10));
  Host& x = net.Add(2, {1}, MakeIdentity(other_ca, other_ca, 11, kT0 + kLife, {}));
  ExpectRefused(net, a, x, LinkRefusal::kUntrustedCa);
}

TEST_F(CertLinks, ExpiredCertificateIsRefused) {
  CertNet net;
  Host& a = net.Add(1, {}, Id(10));
  // Valid when it was made (kNowS), expired by the time it knocks.
  Host& x = net.Add(2, {1}, Id(11, kNowS + 10));
  net.clock.wall_ns += 20'000'000'000ull;
  ExpectRefused(net, a, x, LinkRefusal::kExpired);
}

TEST_F(CertLinks, RevokedCertificateIsRefused) {
  CertNet net;
  Host& a = net.Add(1, {}, Id(10, kT0 + kLife, {CertOf(ca, 11)}));
  Host& x = net.Add(2, {1}, Id(11));
  ExpectRefused(net, a, x, LinkRefusal::kRevoked);
}

TEST_F(CertLinks, SenderAddressNotDerivedFromItsKeyIsRefused) {
  CertNet net;
  Host& a = net.Add(1, {}, Id(10));
  Host& x = net.Add(2, {1}, Id(11), /*sybil=*/true);
  ExpectRefused(net, a, x, LinkRefusal::kAddressNotFromKey);
}

TEST_F(CertLinks, ChangedHandshakeByteFailsTheSignature) {
  CertNet net;
  Host& a = net.Add(1, {}, Id(10));
  Host& x = net.Add(2, {1}, Id(11));
  net.capture = [&](Host& from, const std::vector<uint8_t>& bytes) {
    if (&from != &x) return;
    auto& sent = const_cast<std::vector<uint8_t>&>(bytes);
    sent[wire::kHeaderSize + 31] ^= 0x01;  // a token byte of LINK_REQUEST or anything later
  };
  ExpectRefused(net, a, x, LinkRefusal::kBadSignature);
}

// The handshake driven by hand through two LinkGuards: message | stamp, then Seal.
class Guards : public CertLinks {
 protected:
  Guards()
      : ida(Id(10)),
        idb(Id(11)),
        addr_a(RingAddress::FromBytes(ida->ring_address())),
        addr_b(RingAddress::FromBytes(idb->ring_address())),
        ga(*ida, addr_a, ra, ca_counters),
        gb(*idb, addr_b, rb, cb_counters) {}
  std::vector<uint8_t> Seal(LinkGuard& g, std::span<const uint8_t> msg, const RingAddress& to) {
    std::vector<uint8_t> buf(kMaxLinkHandshake + 64);
    std::copy(msg.begin(), msg.end(), buf.begin());
    StoreBe64(buf.data() + msg.size(), ++ts);
    to.ToBytes(std::span<uint8_t, RingAddress::kBytes>(buf.data() + msg.size() + 8, 20));
    const size_t n = g.Seal(buf.data(), msg.size() + kLinkStampSize, buf.size(), to, 0);
    buf.resize(n);
    return buf;
  }
  std::vector<uint8_t> Request(uint64_t token) {
    uint8_t m[256];
    const size_t n =
        overlay::EncodeLinkRequest(addr_a, {overlay::LinkKind::kNear, token, addr_b}, m);
    return Seal(ga, {m, n}, addr_b);
  }
  std::vector<uint8_t> Accept(uint64_t token) {
    uint8_t m[256];
    const size_t n = overlay::EncodeLinkAccept(
        addr_b, {overlay::LinkKind::kNear, overlay::AcceptStatus::kAccepted, token, Ep4(1, 1)}, m);
    return Seal(gb, {m, n}, addr_a);
  }
  std::unique_ptr<NodeIdentity> ida, idb;
  RingAddress addr_a, addr_b;
  FakeRandom ra{1}, rb{2};
  LinkAuthCounters ca_counters, cb_counters;
  LinkGuard ga, gb;
  uint64_t ts = 1;
};

TEST_F(Guards, AcceptReplayedIntoAnotherHandshakeIsRefused) {
  const std::vector<uint8_t> req1 = Request(42);
  ASSERT_FALSE(req1.empty());
  ASSERT_GT(gb.Open(req1, 0, kNowS), 0u);
  const std::vector<uint8_t> acc1 = Accept(42);
  ASSERT_FALSE(acc1.empty());
  ASSERT_GT(ga.Open(acc1, 0, kNowS), 0u);
  EXPECT_EQ(ga.NewestKeyForTest(addr_b), gb.NewestKeyForTest(addr_a));

  // A second handshake with the same token: the old accept echoes the old ephemeral key.
  const std::vector<uint8_t> req2 = Request(42);
  ASSERT_GT(gb.Open(req2, 0, kNowS), 0u);
  EXPECT_EQ(ga.Open(acc1, 0, kNowS), 0u);
  EXPECT_EQ(ca_counters.refused[size_t(LinkRefusal::kUnboundAccept)], 1u);
  // The genuine answer to the second request is taken, and gives a new shared key.
  const std::array<uint8_t, 32> old_key = ga.NewestKeyForTest(addr_b);
  const std::vector<uint8_t> acc2 = Accept(42);
  ASSERT_GT(ga.Open(acc2, 0, kNowS), 0u);
  EXPECT_EQ(ga.NewestKeyForTest(addr_b), gb.NewestKeyForTest(addr_a));
  EXPECT_NE(ga.NewestKeyForTest(addr_b), old_key);
  // Nobody answers a request whose handshake it did not verify.
  EXPECT_TRUE(Accept(43).empty());
  EXPECT_EQ(cb_counters.unkeyed_sends, 1u);
}

TEST_F(Guards, KeyedDatagramsNeedTheLinkKeyAndCloseOnlyBySignature) {
  uint8_t m[256];
  const size_t n = overlay::EncodeKeepalive(addr_a, {false, 7}, m);
  // Before any handshake: nothing but a handshake or signed close is sent or taken.
  EXPECT_TRUE(Seal(ga, {m, n}, addr_b).empty());
  ASSERT_GT(gb.Open(Request(5), 0, kNowS), 0u);
  ASSERT_GT(ga.Open(Accept(5), 0, kNowS), 0u);
  std::vector<uint8_t> ka = Seal(ga, {m, n}, addr_b);
  ASSERT_EQ(ka.size(), n + kLinkStampSize + kLinkTagSize);
  EXPECT_EQ(gb.Open(ka, 0, kNowS), n + kLinkStampSize);
  ka[n] ^= 1;  // the stamp is covered by the tag
  EXPECT_EQ(gb.Open(ka, 0, kNowS), 0u);
  EXPECT_EQ(cb_counters.refused[size_t(LinkRefusal::kBadLinkTag)], 1u);

  // A signed LINK_CLOSE from a node that lost its link: verified with the certified key.
  const size_t c = overlay::EncodeLinkClose(addr_a, {overlay::CloseReason::kUnknownLink}, m);
  ga.Forget(addr_b);
  EXPECT_EQ(ca_counters.keys_wiped, 1u);
  std::vector<uint8_t> close = Seal(ga, {m, c}, addr_b);
  ASSERT_EQ(close.size(), c + kLinkStampSize + identity::kSignatureSize);
  EXPECT_EQ(gb.Open(close, 0, kNowS), c + kLinkStampSize);
  close[c + 2] ^= 1;
  EXPECT_EQ(gb.Open(close, 0, kNowS), 0u);
  EXPECT_EQ(cb_counters.refused[size_t(LinkRefusal::kBadSignature)], 1u);
  // Keys are found by subject key id and wiped on Forget.
  ASSERT_EQ(gb.PeersWithKey(ida->key_id()).size(), 1u);
  gb.Forget(addr_a);
  EXPECT_FALSE(gb.HasKey(addr_a));
  EXPECT_EQ(gb.Open(Seal(ga, {m, c}, addr_b), 0, kNowS), 0u);
  EXPECT_EQ(cb_counters.refused[size_t(LinkRefusal::kNoLink)], 1u);
}

TEST_F(CertLinks, OverlaySecretTagsAreRefused) {
  CertNet net;
  Host& a = net.Add(1, {}, Id(10));
  Host& b = net.Add(2, {1}, Id(11));
  net.Run(3'000);
  ASSERT_TRUE(net.Linked(a, b));
  // What a PSK node holding the overlay secret would send: a KEEPALIVE with the secret's tag.
  uint8_t buf[512];
  size_t n = overlay::EncodeKeepalive(b.host->node().address(), {false, 9}, buf);
  StoreBe64(buf + n, net.clock.wall_ns + 1'000'000);
  a.host->node().address().ToBytes(std::span<uint8_t, RingAddress::kBytes>(buf + n + 8, 20));
  n += kLinkStampSize;
  ASSERT_TRUE(b.psk.Sign({buf, n}, {buf + n, 16}));
  const uint64_t before = a.refused(LinkRefusal::kBadLinkTag);
  const uint64_t accepted = a.host->counters().accepted;
  a.host->OnControlDatagram(b.ep, {buf, n + 16});
  EXPECT_EQ(a.refused(LinkRefusal::kBadLinkTag), before + 1);
  EXPECT_EQ(a.host->counters().accepted, accepted);
}

TEST_F(CertLinks, RoutedMessageNamingAnotherSourceAtItsFirstHopIsRefused) {
  CertNet net;
  Host& a = net.Add(1, {}, Id(10));
  Host& b = net.Add(2, {1}, Id(11));
  Host& c = net.Add(3, {1}, Id(12));
  net.Run(10'000);
  ASSERT_TRUE(net.Linked(b, c));
  int got = 0;
  c.host->SetHelloHandler(
      [&](const RingAddress&, const Endpoint&, std::span<const uint8_t>) { ++got; });
  auto send = [&](const RingAddress& source) {
    overlay::Routed r;
    r.mode = overlay::DeliveryMode::kExact;
    r.hops = 1;
    r.hop_limit = 48;
    r.loop_id = ++net.clock.now_ns;
    r.source = source;
    r.source_endpoint = b.ep;
    r.key = c.host->node().address();
    r.payload_type = kPayloadHello;
    const uint8_t hello[4] = {1, 2, 3, 4};
    r.payload = hello;
    uint8_t buf[2048];
    size_t n = overlay::EncodeRouted(b.host->node().address(), r, buf);
    StoreBe64(buf + n, net.clock.wall_ns + net.clock.now_ns);
    c.host->node().address().ToBytes(std::span<uint8_t, RingAddress::kBytes>(buf + n + 8, 20));
    n = b.host->link_guard()->Seal(buf, n + kLinkStampSize, sizeof(buf), c.host->node().address(),
                                   0);
    ASSERT_GT(n, 0u);
    c.host->OnControlDatagram(b.ep, {buf, n});
  };
  send(a.host->node().address());  // b claims a originated it
  EXPECT_EQ(got, 0);
  EXPECT_EQ(c.lc().forged_origin, 1u);
  send(b.host->node().address());  // its own: delivered
  EXPECT_EQ(got, 1);
  EXPECT_EQ(c.lc().forged_origin, 1u);
}

TEST_F(CertLinks, LinksCloseWhenACertificateExpiresAndByKeyId) {
  CertNet net;
  Host& a = net.Add(1, {}, Id(10));
  Host& b = net.Add(2, {1}, Id(11));
  Host& x = net.Add(3, {1}, Id(12, kNowS + 60));
  net.Run(10'000);
  ASSERT_TRUE(net.Linked(a, x));
  ASSERT_TRUE(net.Linked(b, x));
  net.Run(60'000);  // x's certificate ends at +60 s; the re-check runs every 10 s
  EXPECT_FALSE(net.Linked(a, x));
  EXPECT_FALSE(net.Linked(b, x));
  EXPECT_GE(a.lc().links_cert_closed + b.lc().links_cert_closed, 1u);
  EXPECT_FALSE(a.host->link_guard()->HasKey(x.host->node().address()));
  EXPECT_TRUE(net.Linked(a, b));

  // Revocation's entry point: every link of a key id goes at once, keys wiped.
  EXPECT_EQ(a.host->CloseLinksOf(b.id->key_id()), 1u);
  EXPECT_FALSE(net.Linked(a, b));
  EXPECT_FALSE(a.host->link_guard()->HasKey(b.host->node().address()));
  EXPECT_EQ(a.host->CloseLinksOf(b.id->key_id()), 0u);
}

}  // namespace
}  // namespace ipop::cp
