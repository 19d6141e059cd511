// PeerPathPolicy: each decision of peer_path_policy.h driven with a fake clock, one interval
// (500 ms) per Decide call as the control plane runs it.
#include "controlplane/sessions/peer_path_policy.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/unit/cp_fakes.h"

namespace ipop::cp {
namespace {

using testing::Ep4;
using testing::FakeClock;
using testing::Ip;
using Kind = PathAction::Kind;

constexpr uint32_t kTimeoutMs = 5000;
constexpr uint32_t kShortcutPps = 10;  // 5 packets per 500 ms interval
constexpr uint64_t kIntervalMs = 500;

overlay::RingAddress Node(uint8_t id) {
  return overlay::RingAddress::FromFraction(double(id) / 256.0);
}

// A learned, relayed peer that is up: the usual state before a shortcut.
PeerPathInput Relayed(uint32_t vip, uint32_t slot, uint8_t node) {
  PeerPathInput p;
  p.vip = vip;
  p.slot = slot;
  p.learned = true;
  p.node = Node(node);
  p.up = true;
  p.heard = true;
  p.relayed = true;
  p.endpoint = Ep4(Ip(10, 99, 0, node), 5800);
  return p;
}

std::vector<PathAction> Only(const std::vector<PathAction>& actions, Kind kind) {
  std::vector<PathAction> out;
  for (const PathAction& a : actions)
    if (a.kind == kind) out.push_back(a);
  return out;
}

class PeerPathPolicyTest : public ::testing::Test {
 protected:
  PeerPathPolicyTest()
      : policy_({.interval_ns = kIntervalMs * 1'000'000,
                 .recheck_ns = 5'000'000'000ull,
                 .peer_timeout_ms = kTimeoutMs,
                 .shortcut_pps = kShortcutPps},
                clock_) {}

  // One path interval later.
  std::vector<PathAction> Next(const std::vector<PeerPathInput>& peers,
                               const std::vector<overlay::RingAddress>& shortcuts = {}) {
    clock_.AdvanceMs(kIntervalMs);
    return policy_.Decide(peers, shortcuts);
  }

  FakeClock clock_;
  PeerPathPolicy policy_;
};

TEST_F(PeerPathPolicyTest, ShortcutWhenBothDirectionsTogetherReachTheThreshold) {
  PeerPathInput p = Relayed(Ip(10, 77, 0, 2), 3, 2);
  Next({p});  // baseline
  // 3 sent + 2 received in 500 ms: 10 packets/s, though neither direction alone gets there.
  p.tx_packets += 3;
  p.rx_packets += 2;
  const std::vector<PathAction> a = Only(Next({p}), Kind::kRequestShortcut);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].vip, p.vip);
  EXPECT_EQ(a[0].node, Node(2));
  EXPECT_EQ(a[0].endpoint, p.endpoint);
  EXPECT_EQ(a[0].why, PathAction::Why::kTraffic);
  EXPECT_DOUBLE_EQ(a[0].packets_per_s, 10.0);
}

TEST_F(PeerPathPolicyTest, NoShortcutBelowTheThreshold) {
  PeerPathInput p = Relayed(Ip(10, 77, 0, 2), 3, 2);
  Next({p});
  for (int i = 0; i < 20; ++i) {
    p.tx_packets += 2;  // 4 packets per interval: 8 packets/s
    p.rx_packets += 2;
    const std::vector<PathAction> a = Next({p});
    EXPECT_TRUE(Only(a, Kind::kRequestShortcut).empty()) << "interval " << i;
    // The traffic still marks the peer used, and it stays relayed.
    ASSERT_EQ(Only(a, Kind::kMarkUsed).size(), 1u);
    ASSERT_EQ(Only(a, Kind::kSetPath).size(), 1u);
    EXPECT_TRUE(Only(a, Kind::kSetPath)[0].relayed);
  }
  // Idle: no use mark either.
  EXPECT_TRUE(Only(Next({p}), Kind::kMarkUsed).empty());
}

TEST_F(PeerPathPolicyTest, HandshakeFailingOverTheRelayForLongerThanPeerTimeoutTriesDirect) {
  PeerPathInput p = Relayed(Ip(10, 77, 0, 5), 1, 5);
  p.up = false;
  p.heard = false;  // never handshaked: no directory recheck, only the relay question
  Next({p});        // down since now
  // Not before the peer timeout has passed (10 intervals = 5000 ms exactly).
  for (int i = 0; i < 10; ++i)
    EXPECT_TRUE(Only(Next({p}), Kind::kRequestShortcut).empty()) << "interval " << i;
  std::vector<PathAction> a = Only(Next({p}), Kind::kRequestShortcut);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].why, PathAction::Why::kRelayFailing);
  EXPECT_EQ(a[0].node, Node(5));
  EXPECT_EQ(a[0].endpoint, p.endpoint);
  // Then again only after another peer timeout, not every interval.
  for (int i = 0; i < 10; ++i)
    EXPECT_TRUE(Only(Next({p}), Kind::kRequestShortcut).empty()) << "interval " << i;
  EXPECT_EQ(Only(Next({p}), Kind::kRequestShortcut).size(), 1u);
  // A relayed path that comes up starts the count over.
  p.up = true;
  Next({p});
  p.up = false;
  for (int i = 0; i < 10; ++i)
    EXPECT_TRUE(Only(Next({p}), Kind::kRequestShortcut).empty()) << "interval " << i;
}

TEST_F(PeerPathPolicyTest, SilentLearnedPeerIsRecheckedAtMostEveryFiveSeconds) {
  PeerPathInput p = Relayed(Ip(10, 77, 0, 7), 2, 7);
  p.up = false;
  p.last_hello_age_ns = uint64_t{kTimeoutMs} * 1'000'000;  // exactly the timeout: not yet silent
  EXPECT_TRUE(Only(Next({p}), Kind::kRecheck).empty());
  p.last_hello_age_ns += 1;
  std::vector<PathAction> a = Only(Next({p}), Kind::kRecheck);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].vip, p.vip);
  EXPECT_EQ(a[0].node, Node(7));  // where it was: the directory answer is compared with it
  int rechecks = 0;
  for (int i = 0; i < 9; ++i) rechecks += int(Only(Next({p}), Kind::kRecheck).size());
  EXPECT_EQ(rechecks, 0);                                 // 4.5 s later
  EXPECT_EQ(Only(Next({p}), Kind::kRecheck).size(), 1u);  // 5 s later
  // An up peer, a peer never heard and a configured peer are not looked up.
  PeerPathInput up = p, never = p, configured = p;
  up.up = true;
  never.heard = false;
  configured.learned = false;
  for (int i = 0; i < 12; ++i) {
    EXPECT_TRUE(Only(Next({up}), Kind::kRecheck).empty());
    EXPECT_TRUE(Only(Next({never}), Kind::kRecheck).empty());
    EXPECT_TRUE(Only(Next({configured}), Kind::kRecheck).empty());
  }
}

TEST_F(PeerPathPolicyTest, ShortcutIsReleasedWhenItsPeerIsGone) {
  const PeerPathInput p = Relayed(Ip(10, 77, 0, 2), 3, 2);
  // Shortcut links to node 2 (our peer's) and node 9 (no peer lives there any more).
  std::vector<PathAction> a = Only(Next({p}, {Node(2), Node(9)}), Kind::kReleaseShortcut);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].node, Node(9));
  // The peer was forgotten: its node's shortcut goes too.
  a = Only(Next({}, {Node(2)}), Kind::kReleaseShortcut);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].node, Node(2));
  // A configured peer does not hold a shortcut.
  PeerPathInput configured = p;
  configured.learned = false;
  EXPECT_EQ(Only(Next({configured}, {Node(2)}), Kind::kReleaseShortcut).size(), 1u);
}

TEST_F(PeerPathPolicyTest, PeerWithALinkToItsNodeIsReachedDirectlyOverTheLink) {
  PeerPathInput p = Relayed(Ip(10, 77, 0, 2), 3, 2);
  p.link = Ep4(Ip(192, 0, 2, 2), 5801);  // where the overlay link goes (NAT: another port)
  Next({p});
  p.tx_packets += 100;  // heavy traffic asks for no shortcut: there is a link already
  const std::vector<PathAction> a = Next({p});
  const std::vector<PathAction> paths = Only(a, Kind::kSetPath);
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_FALSE(paths[0].relayed);
  EXPECT_EQ(paths[0].endpoint, *p.link);
  EXPECT_TRUE(Only(a, Kind::kRequestShortcut).empty());
  // Without the link it is relayed again, to the endpoint its HELLOs come from.
  p.link.reset();
  const std::vector<PathAction> back = Only(Next({p}), Kind::kSetPath);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_TRUE(back[0].relayed);
  EXPECT_EQ(back[0].endpoint, p.endpoint);
}

TEST_F(PeerPathPolicyTest, ConfiguredPeersOnlyGetTheUseMark) {
  PeerPathInput p = Relayed(Ip(10, 77, 0, 2), 0, 2);
  p.learned = false;
  Next({p});
  p.tx_packets += 1000;
  const std::vector<PathAction> a = Next({p});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, Kind::kMarkUsed);
  EXPECT_EQ(a[0].vip, p.vip);
}

TEST_F(PeerPathPolicyTest, ASlotTakenByAnotherPeerStartsFromItsCurrentCounters) {
  PeerPathInput old = Relayed(Ip(10, 77, 0, 2), 4, 2);
  Next({old});
  // The slot now belongs to another peer; the dataplane's counters still hold the old peer's
  // packets, which are not the new peer's traffic.
  PeerPathInput next = Relayed(Ip(10, 77, 0, 3), 4, 3);
  next.tx_packets = 5000;
  const std::vector<PathAction> a = Next({next});
  EXPECT_TRUE(Only(a, Kind::kRequestShortcut).empty());
  EXPECT_TRUE(Only(a, Kind::kMarkUsed).empty());
}

TEST_F(PeerPathPolicyTest, ReloadedThresholdsApplyAtTheNextDecision) {
  PeerPathInput p = Relayed(Ip(10, 77, 0, 2), 3, 2);
  Next({p});
  policy_.SetLimits(kTimeoutMs, 100);  // 50 packets per interval
  p.tx_packets += 20;
  EXPECT_TRUE(Only(Next({p}), Kind::kRequestShortcut).empty());
  policy_.SetLimits(kTimeoutMs, 40);  // 20 per interval
  p.tx_packets += 20;
  EXPECT_EQ(Only(Next({p}), Kind::kRequestShortcut).size(), 1u);
}

}  // namespace
}  // namespace ipop::cp
