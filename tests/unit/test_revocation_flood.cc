// Revocations spreading over overlay links (controlplane/directory/revocation_flood.h): a new
// revocation reaches every node of a small meshed network, each node forwards it once to every
// link but the one it came from and stops on a known one; an invalid one is counted and never
// forwarded; a revocation by an issuing CA is accepted only with that CA's certificate, which
// must chain to the network's roots; a link over its budget is cut off before verification;
// the subject hooks run once per new revocation; the state file round-trips (issuing CA
// certificate included) and forgets expired entries; new links exchange digests and end up with
// the union of both lists.
#include "controlplane/directory/revocation_flood.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <fstream>
#include <map>
#include <set>

#include "controlplane/identity/pem.h"
#include "controlplane/overlay/messages.h"
#include "tests/unit/cp_fakes.h"
#include "tests/unit/identity_fixtures.h"

namespace ipop::cp {
namespace {

using identity::Certificate;
using identity::CertificateFields;
using identity::NodeIdentity;
using identity::Revocation;
using identity::Usage;
using overlay::RingAddress;
using namespace identity::testing;

constexpr uint64_t kNowS = kT0 + 100;

RingAddress Addr(uint8_t b) {
  std::array<uint8_t, RingAddress::kBytes> bytes{};
  bytes.fill(b);
  return RingAddress::FromBytes(bytes);
}

struct Msg {
  RingAddress from, to;
  std::vector<uint8_t> bytes;
};

class Net {
 public:
  explicit Net(size_t n, std::string state_dir = "") {
    clock.wall_ns = kNowS * 1'000'000'000ull;
    for (size_t i = 0; i < n; ++i) {
      NodeIdentity::Parts parts;
      parts.key = Key(uint8_t(10 + i));
      CertificateFields f = NodeFields(*parts.key, "n" + std::to_string(i));
      f.serial = SerialOf(uint8_t(10 + i));
      parts.cert = Issue(f, *root_key);
      parts.network_roots = {root};
      parts.overlay_roots = {root};
      parts.network = "lab";
      NodeIdentity::Loaded l = NodeIdentity::Create(std::move(parts), kNowS);
      EXPECT_EQ(l.error, "");
      ids.push_back(std::move(l.identity));
    }
    for (size_t i = 0; i < n; ++i) {
      RevocationFloodOptions o;
      if (!state_dir.empty()) o.state_file = state_dir + "/n" + std::to_string(i) + "/rev.state";
      const RingAddress self = Addr(uint8_t(i + 1));
      floods.push_back(std::make_unique<RevocationFlood>(
          o, *ids[i], self, clock,
          [this, self](const RingAddress& to, std::span<const uint8_t> m) {
            queue.push_back({self, to, {m.begin(), m.end()}});
            ++sent[self];
            return true;
          },
          [this, self] {
            std::vector<RingAddress> out(links[self].begin(), links[self].end());
            return out;
          }));
      floods.back()->AddSubjectRevokedHook([this, i](const identity::KeyId& k) {
        hooked[i].push_back(k);
        return size_t{1};
      });
    }
  }
  void Link(size_t a, size_t b) {
    links[Addr(uint8_t(a + 1))].insert(Addr(uint8_t(b + 1)));
    links[Addr(uint8_t(b + 1))].insert(Addr(uint8_t(a + 1)));
  }
  RevocationFlood& F(size_t i) { return *floods[i]; }
  // Delivers until quiet; returns how many messages went over the wire.
  size_t Pump() {
    size_t n = 0;
    while (!queue.empty()) {
      Msg m = std::move(queue.front());
      queue.pop_front();
      ++n;
      F(size_t(m.to.word(0) & 0xff) - 1).OnMessage(m.from, m.bytes);
    }
    return n;
  }

  std::unique_ptr<identity::PrivateKey> root_key = Key(1);
  std::unique_ptr<identity::PrivateKey> site_key = Key(2);
  std::unique_ptr<identity::PrivateKey> victim_key = Key(3);
  Certificate root = Root(*root_key);
  Certificate site = Issue(CaFields(Usage::kIssuingCa, *site_key, "site"), *root_key);
  ipop::cp::testing::FakeClock clock;
  std::vector<std::unique_ptr<NodeIdentity>> ids;
  std::vector<std::unique_ptr<RevocationFlood>> floods;
  std::map<RingAddress, std::set<RingAddress>> links;
  std::deque<Msg> queue;
  std::map<RingAddress, size_t> sent;
  std::map<size_t, std::vector<identity::KeyId>> hooked;
};

Revocation Revoke(const Certificate& c, const Certificate& signer, const identity::PrivateKey& k) {
  identity::SignedRevocation s = identity::RevokeCertificate(c, signer, k, kNowS);
  EXPECT_TRUE(s.revocation.has_value());
  return *s.revocation;
}

// The network of most tests: 0-1, 1-2, 2-3, 3-0 and the chord 0-2.
void Mesh(Net& net) {
  net.Link(0, 1);
  net.Link(1, 2);
  net.Link(2, 3);
  net.Link(3, 0);
  net.Link(0, 2);
}

TEST(RevocationFloodTest, ReachesEveryNodeForwardedOnceStopsOnKnown) {
  Net net(4);
  Mesh(net);
  const Certificate victim = Issue(NodeFields(*net.victim_key, "victim"), *net.root_key);
  const Revocation r = Revoke(victim, net.root, *net.root_key);
  EXPECT_EQ(net.F(0).Learn(r, nullptr, RevocationFlood::Source::kMgmt).outcome,
            NodeIdentity::Learned::kAdded);
  const size_t wire = net.Pump();
  size_t known = 0;
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(net.ids[i]->revocations().IsRevoked(victim)) << i;
    ASSERT_EQ(net.hooked[i].size(), 1u) << "hooks run once per new revocation, node " << i;
    EXPECT_EQ(net.hooked[i][0], victim.key_id());
    known += net.F(i).counters().known;
  }
  // The origin sends to its 3 links; every other node forwards to all links but the sender.
  EXPECT_EQ(net.F(0).counters().forwarded, 3u);
  EXPECT_EQ(net.F(1).counters().forwarded, 1u);
  EXPECT_EQ(net.F(2).counters().forwarded, 2u);
  EXPECT_EQ(net.F(3).counters().forwarded, 1u);
  EXPECT_EQ(net.F(0).counters().learned_mgmt, 1u);
  EXPECT_EQ(net.F(2).counters().learned_link, 1u);
  EXPECT_EQ(wire, 7u);
  EXPECT_EQ(known, wire - 3) << "every copy beyond the first one per node ends there";
  // Learning it again (another ipopctl revoke) floods nothing.
  EXPECT_EQ(net.F(1).Learn(r, nullptr, RevocationFlood::Source::kMgmt).outcome,
            NodeIdentity::Learned::kKnown);
  EXPECT_EQ(net.Pump(), 0u);
}

TEST(RevocationFloodTest, InvalidRevocationIsCountedAndNotForwarded) {
  Net net(4);
  Mesh(net);
  const Certificate victim = Issue(NodeFields(*net.victim_key, "victim"), *net.root_key);
  Revocation r = Revoke(victim, net.root, *net.root_key);
  // A member forges one: the signature does not verify under the root.
  r.signature[5] ^= 1;
  std::vector<uint8_t> msg(wire::kHeaderSize + overlay::kCommonSize, 0);
  msg[0] = uint8_t(wire::PacketType::kControl);
  msg[wire::kHeaderSize] = kMsgRevoke;
  msg[wire::kHeaderSize + 1] = overlay::kOverlayVersion;
  const std::vector<uint8_t> rev = identity::EncodeRevocation(r);
  msg.push_back(uint8_t(rev.size() >> 8));
  msg.push_back(uint8_t(rev.size()));
  msg.insert(msg.end(), rev.begin(), rev.end());
  msg.push_back(0);
  msg.push_back(0);
  EXPECT_TRUE(net.F(0).OnMessage(Addr(2), msg));
  EXPECT_EQ(net.F(0).counters().invalid, 1u);
  EXPECT_EQ(net.queue.size(), 0u) << "an invalid revocation is never forwarded";
  EXPECT_FALSE(net.ids[0]->revocations().IsRevoked(victim));
  EXPECT_TRUE(net.hooked[0].empty());
  // Cut short or with bytes beyond its fields: malformed.
  msg.push_back(0);
  EXPECT_TRUE(net.F(0).OnMessage(Addr(2), msg));
  EXPECT_EQ(net.F(0).counters().malformed, 1u);
}

TEST(RevocationFloodTest, IssuingCaRevocationTravelsWithItsCertificate) {
  Net net(4);
  Mesh(net);
  const Certificate victim = Issue(NodeFields(*net.victim_key, "victim"), *net.site_key);
  const Revocation r = Revoke(victim, net.site, *net.site_key);
  // Nobody here was issued by site: without its certificate the signer is unknown.
  const NodeIdentity::LearnResult alone =
      net.F(0).Learn(r, nullptr, RevocationFlood::Source::kMgmt);
  EXPECT_EQ(alone.outcome, NodeIdentity::Learned::kInvalid);
  EXPECT_NE(alone.error.find("neither a trusted root"), std::string::npos) << alone.error;
  EXPECT_EQ(net.queue.size(), 0u);
  // The same key certified by another root is no issuing CA of this network.
  std::unique_ptr<identity::PrivateKey> other_root_key = Key(9);
  const Certificate forged_site =
      Issue(CaFields(Usage::kIssuingCa, *net.site_key, "site"), *other_root_key);
  EXPECT_EQ(net.F(0).Learn(r, &forged_site, RevocationFlood::Source::kMgmt).outcome,
            NodeIdentity::Learned::kInvalid);
  EXPECT_EQ(net.queue.size(), 0u);
  // With the real one it verifies, and every node gets the certificate along.
  EXPECT_EQ(net.F(0).Learn(r, &net.site, RevocationFlood::Source::kMgmt).outcome,
            NodeIdentity::Learned::kAdded);
  net.Pump();
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(net.ids[i]->revocations().IsRevoked(victim)) << i;
    EXPECT_EQ(net.F(i).counters().invalid, i == 0 ? 2u : 0u) << i;
  }
}

TEST(RevocationFloodTest, LinkOverItsBudgetIsDroppedBeforeVerification) {
  Net net(2);
  net.Link(0, 1);
  const Certificate victim = Issue(NodeFields(*net.victim_key, "victim"), *net.root_key);
  const Revocation r = Revoke(victim, net.root, *net.root_key);
  ASSERT_EQ(net.F(0).Learn(r, nullptr, RevocationFlood::Source::kMgmt).outcome,
            NodeIdentity::Learned::kAdded);
  ASSERT_EQ(net.queue.size(), 1u);
  const Msg m = net.queue.front();
  net.Pump();
  const RevocationFloodOptions defaults;
  for (uint32_t i = 0; i < defaults.per_link_burst + 50; ++i) net.F(1).OnMessage(m.from, m.bytes);
  EXPECT_EQ(net.F(1).counters().rate_limited, 51u);
  EXPECT_EQ(net.F(1).counters().known, defaults.per_link_burst - 1);
  // Another link has its own budget.
  net.F(1).OnMessage(Addr(7), m.bytes);
  EXPECT_EQ(net.F(1).counters().rate_limited, 51u);
}

class StateDir {
 public:
  StateDir() {
    char tmpl[] = "/tmp/ipop-revocation-flood-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~StateDir() { std::system(("rm -rf " + path).c_str()); }
  std::string path;
};

TEST(RevocationFloodTest, StateFileRoundTripsAndForgetsExpiredEntries) {
  StateDir dir;
  const CertificateFields short_fields = [] {
    std::unique_ptr<identity::PrivateKey> k = Key(4);
    CertificateFields f = NodeFields(*k, "short");
    f.serial = SerialOf(44);
    f.not_after = kNowS + 60;
    return f;
  }();
  Certificate victim, short_lived;
  {
    Net net(1, dir.path);
    victim = Issue(NodeFields(*net.victim_key, "victim"), *net.site_key);
    short_lived = Issue(short_fields, *net.root_key);
    ASSERT_EQ(net.F(0)
                  .Learn(Revoke(victim, net.site, *net.site_key), &net.site,
                         RevocationFlood::Source::kMgmt)
                  .outcome,
              NodeIdentity::Learned::kAdded);
    ASSERT_EQ(net.F(0)
                  .Learn(Revoke(short_lived, net.root, *net.root_key), nullptr,
                         RevocationFlood::Source::kMgmt)
                  .outcome,
              NodeIdentity::Learned::kAdded);
    EXPECT_EQ(net.F(0).counters().persisted, 2u);
  }
  {
    // A restart: a fresh identity knows nothing until it reads the state (the issuing CA
    // certificate comes from the file too).
    Net net(1, dir.path);
    EXPECT_FALSE(net.ids[0]->revocations().IsRevoked(victim));
    EXPECT_EQ(net.F(0).LoadState(), "");
    EXPECT_TRUE(net.ids[0]->revocations().IsRevoked(victim));
    EXPECT_TRUE(net.ids[0]->revocations().IsRevoked(short_lived));
    EXPECT_EQ(net.F(0).counters().learned_state, 2u);
    EXPECT_EQ(net.hooked[0].size(), 2u);
    // Past the short certificate's not-after the periodic check forgets it, and the file too.
    net.clock.AdvanceMs(61'000);
    net.F(0).Tick();
    EXPECT_EQ(net.F(0).counters().expired, 1u);
    EXPECT_FALSE(net.ids[0]->revocations().IsRevoked(short_lived));
    EXPECT_TRUE(net.ids[0]->revocations().IsRevoked(victim));
  }
  {
    Net net(1, dir.path);
    net.clock.AdvanceMs(61'000);
    EXPECT_EQ(net.F(0).LoadState(), "");
    EXPECT_EQ(net.ids[0]->revocations().size(), 1u);
    EXPECT_TRUE(net.ids[0]->revocations().IsRevoked(victim));
  }
  {
    // A tampered file: the entry fails verification and is not trusted.
    std::fstream f(dir.path + "/n0/rev.state", std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const std::streamoff size = f.tellg();
    f.seekp(size - 3);
    f.put('\x55');
    f.close();
    Net net(1, dir.path);
    net.clock.AdvanceMs(61'000);
    EXPECT_EQ(net.F(0).LoadState(), "");
    EXPECT_EQ(net.ids[0]->revocations().size(), 0u);
    EXPECT_EQ(net.F(0).counters().invalid, 1u);
  }
}

TEST(RevocationFloodTest, PeriodicCheckRunsEveryTenSeconds) {
  Net net(1);
  std::vector<uint64_t> calls;
  net.F(0).SetPeriodicCheck([&](uint64_t now_s) {
    calls.push_back(now_s);
    return size_t{0};
  });
  net.F(0).Tick();
  net.clock.AdvanceMs(9'000);
  net.F(0).Tick();
  EXPECT_EQ(calls.size(), 1u);
  net.clock.AdvanceMs(1'000);
  net.F(0).Tick();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1], kNowS + 10);
}

TEST(RevocationFloodTest, NewLinksExchangeDigestsAndEndWithTheUnion) {
  Net net(2);
  const Certificate v1 = Issue(NodeFields(*net.victim_key, "v1"), *net.root_key);
  std::unique_ptr<identity::PrivateKey> k2 = Key(4);
  const Certificate v2 = Issue(NodeFields(*k2, "v2"), *net.site_key);
  // Each learned one while they were apart.
  net.F(0).Learn(Revoke(v1, net.root, *net.root_key), nullptr, RevocationFlood::Source::kMgmt);
  net.F(1).Learn(Revoke(v2, net.site, *net.site_key), &net.site, RevocationFlood::Source::kMgmt);
  EXPECT_NE(net.F(0).Digest(), net.F(1).Digest());
  net.Link(0, 1);
  net.F(0).Tick();
  net.F(1).Tick();
  net.Pump();
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(net.ids[i]->revocations().IsRevoked(v1)) << i;
    EXPECT_TRUE(net.ids[i]->revocations().IsRevoked(v2)) << i;
    EXPECT_GE(net.F(i).counters().pushed, 1u);
  }
  EXPECT_EQ(net.F(0).Digest(), net.F(1).Digest());
  // Equal digests on the next new link cost nothing but the digests.
  net.links.clear();
  net.F(0).Tick();
  net.F(1).Tick();
  net.Link(0, 1);
  const uint64_t pushed = net.F(0).counters().pushed + net.F(1).counters().pushed;
  net.F(0).Tick();
  net.F(1).Tick();
  EXPECT_EQ(net.Pump(), 2u);
  EXPECT_EQ(net.F(0).counters().pushed + net.F(1).counters().pushed, pushed);
}

}  // namespace
}  // namespace ipop::cp
