// Forwarding-table generations: the writer's spec checks, longest-prefix match against a naive
// reference, and QSBR reclamation under a concurrently reading worker.
#include "shared/table.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <thread>

#include "controlplane/overlay/address.h"

namespace ipop::shm {
namespace {

int32_t DeadPid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  waitpid(pid, &status, 0);
  return pid;
}

PeerEntry Peer(uint32_t vip, bool valid = true) {
  PeerEntry p{};
  p.flags = valid ? uint32_t{kPeerValid} : 0u;
  p.vip = vip;
  return p;
}

constexpr uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return a << 24 | b << 16 | c << 8 | d;
}

class TableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    name_ = "/ipop-test-" + std::to_string(getpid()) + "-table-" + std::to_string(n++);
    std::string err;
    region_ = ShmRegion::CreateOrAttach(name_, 2, &err);
    ASSERT_NE(region_, nullptr) << err;
    // Workers of a live dataplane are what the writer must wait for.
    region_->header().dp_pid.store(getpid());
  }
  void TearDown() override { ShmRegion::Unlink(name_); }

  // Three peers with /32 routes and a /16 covering the rest of 10.1.x.x.
  static TableSpec BasicSpec() {
    TableSpec s;
    s.local_vip = Ip(10, 1, 0, 1);
    s.local_prefix_len = 16;
    s.mtu = 1420;
    s.gateway_mac[0] = 0x02;
    s.gateway_mac[5] = 0x7f;
    s.peers = {Peer(Ip(10, 1, 0, 2)), Peer(Ip(10, 1, 0, 3)), Peer(Ip(10, 1, 0, 4))};
    s.routes = {{Ip(10, 1, 0, 2), 32, 0}, {Ip(10, 1, 0, 3), 32, 1}, {Ip(10, 1, 77, 5), 16, 2}};
    SessionSpec ss{};
    ss.receiver_index = 7;
    ss.entry.flags = kSessionValid;
    ss.entry.peer = 1;
    ss.entry.key_id = 42;
    s.sessions.push_back(ss);
    return s;
  }

  bool Publish(const TableSpec& s, int timeout_ms = 2000) {
    std::string err;
    const bool ok = W().Publish(s, &err, timeout_ms);
    last_error_ = err;
    return ok;
  }

  std::string name_;
  std::unique_ptr<ShmRegion> region_;
  std::unique_ptr<TableWriter> writer_ = nullptr;
  std::string last_error_;

  TableWriter& W() {
    if (!writer_) writer_ = std::make_unique<TableWriter>(*region_);
    return *writer_;
  }
};

TEST_F(TableTest, PublishLookupRoundTrip) {
  W();
  TableReader reader(*region_, 0);
  EXPECT_EQ(reader.BeginBurst(), nullptr);
  EXPECT_EQ(writer_->Active(), nullptr);

  ASSERT_TRUE(Publish(BasicSpec())) << last_error_;
  EXPECT_EQ(writer_->seq(), 1u);
  const Generation* g = reader.BeginBurst();
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g, writer_->Active());
  EXPECT_TRUE(reader.switched());
  EXPECT_EQ(reader.seq(), 1u);
  EXPECT_EQ(region_->header().workers[0].quiescent_seq.load(), 1u);
  EXPECT_EQ(region_->header().workers[1].quiescent_seq.load(), kOffline);

  EXPECT_EQ(g->hdr.seq, 1u);
  EXPECT_EQ(g->hdr.n_peers, 3u);
  EXPECT_EQ(g->hdr.n_prefixes, 1u);
  EXPECT_EQ(g->hdr.local_vip, Ip(10, 1, 0, 1));
  EXPECT_EQ(g->hdr.local_prefix_len, 16u);
  EXPECT_EQ(g->hdr.mtu, 1420u);
  EXPECT_EQ(g->hdr.gateway_mac[5], 0x7f);
  EXPECT_EQ(g->prefixes[0].prefix, Ip(10, 1, 0, 0)) << "prefix not masked";
  EXPECT_EQ(g->sessions[7].key_id, 42u);
  EXPECT_EQ(g->sessions[7].peer, 1u);
  EXPECT_EQ(g->sessions[6].flags, 0u);
  EXPECT_EQ(g->peers[3].flags, 0u);

  EXPECT_EQ(LookupPeer(*g, Ip(10, 1, 0, 2)), 0u);
  EXPECT_EQ(LookupPeer(*g, Ip(10, 1, 0, 3)), 1u);
  EXPECT_EQ(LookupPeer(*g, Ip(10, 1, 200, 9)), 2u);
  EXPECT_EQ(LookupPeer(*g, Ip(10, 1, 0, 4)), 2u) << "peer 2 has no /32 but the /16 covers it";
  EXPECT_EQ(LookupPeer(*g, Ip(10, 2, 0, 2)), kNoPeer);

  EXPECT_EQ(reader.BeginBurst(), g);
  EXPECT_FALSE(reader.switched());

  // A second publication lands in another slot and the reader moves to it.
  TableSpec s2 = BasicSpec();
  s2.routes.pop_back();
  ASSERT_TRUE(Publish(s2)) << last_error_;
  const Generation* g2 = reader.BeginBurst();
  ASSERT_NE(g2, nullptr);
  EXPECT_NE(g2, g);
  EXPECT_TRUE(reader.switched());
  EXPECT_EQ(reader.seq(), 2u);
  EXPECT_EQ(LookupPeer(*g2, Ip(10, 1, 200, 9)), kNoPeer);
}

TEST_F(TableTest, LookupOnlyReturnsValidPeersInRange) {
  TableSpec s = BasicSpec();
  s.peers[1].flags = 0;
  ASSERT_TRUE(W().Publish(s, &last_error_)) << last_error_;
  const Generation* g = writer_->Active();
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(LookupPeer(*g, Ip(10, 1, 0, 3)), kNoPeer) << "route to a peer without kPeerValid";

  // Hand-made garbage: a bucket and a prefix naming peers past n_peers, prefix lengths > 32.
  auto bad = std::make_unique<Generation>();
  std::fill(std::begin(bad->routes), std::end(bad->routes), RouteBucket{0, kNoPeer});
  bad->hdr.n_peers = 2;
  bad->peers[0] = Peer(1);
  bad->peers[5] = Peer(2);
  bad->routes[RouteHash(Ip(1, 2, 3, 4))] = RouteBucket{Ip(1, 2, 3, 4), 5};
  bad->hdr.n_prefixes = 3;
  bad->prefixes[0] = PrefixRoute{Ip(9, 0, 0, 0), 40, {}, 0};
  bad->prefixes[1] = PrefixRoute{Ip(9, 0, 0, 0), 8, {}, kMaxPeers + 3};
  bad->prefixes[2] = PrefixRoute{0, 0, {}, 0};
  EXPECT_EQ(LookupPeer(*bad, Ip(1, 2, 3, 4)), kNoPeer);
  EXPECT_EQ(LookupPeer(*bad, Ip(9, 1, 1, 1)), kNoPeer);
  EXPECT_EQ(LookupPeer(*bad, Ip(8, 1, 1, 1)), 0u) << "default route /0";

  // Every bucket full and no match: the probe must stop after one lap.
  std::fill(std::begin(bad->routes), std::end(bad->routes), RouteBucket{7, 0});
  bad->hdr.n_prefixes = 0xffffffff;
  EXPECT_EQ(LookupPeer(*bad, Ip(8, 1, 1, 1)), 0u);
  bad->hdr.n_peers = 0xffffffff;
  bad->peers[0].flags = 0;
  EXPECT_EQ(LookupPeer(*bad, Ip(7, 7, 7, 7)), kNoPeer);
}

// Longest-prefix match by brute force over the spec; ties cannot happen (routes are unique).
uint32_t ReferenceLookup(const TableSpec& s, uint32_t vip) {
  int best_len = -1;
  uint32_t best = kNoPeer;
  for (const RouteSpec& r : s.routes) {
    const uint32_t mask = r.length == 0 ? 0 : ~0u << (32 - r.length);
    if ((vip & mask) == (r.prefix & mask) && int(r.length) > best_len) {
      best_len = r.length;
      best = r.peer;
    }
  }
  if (best == kNoPeer || !(s.peers[best].flags & kPeerValid)) return kNoPeer;
  return best;
}

TEST_F(TableTest, LongestPrefixMatchAgreesWithReference) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  TableReader reader(*region_, 0);
  for (int round = 0; round < 20; ++round) {
    TableSpec s;
    const uint32_t n_peers = 1 + rng() % 200;
    for (uint32_t i = 0; i < n_peers; ++i) s.peers.push_back(Peer(rng(), rng() % 8 != 0));
    std::set<std::pair<uint32_t, uint32_t>> seen;  // (masked prefix, length)
    // Routes concentrated in 10.0.0.0/8 so prefixes nest and compete.
    const uint32_t n_host = rng() % 1500, n_prefix = rng() % (kMaxPrefixes + 1);
    uint32_t added_prefix = 0;
    while (s.routes.size() < n_host + n_prefix) {
      const bool host =
          added_prefix == n_prefix || (s.routes.size() - added_prefix < n_host && rng() % 2 == 0);
      const uint8_t len = host ? 32 : uint8_t(8 + rng() % 24);
      const uint32_t addr = Ip(10, 0, 0, 0) | (rng() & (rng() % 2 ? 0xffff : 0xffffff));
      const uint32_t mask = ~0u << (32 - len);
      if (!seen.insert({addr & mask, len}).second) continue;
      s.routes.push_back({addr, len, uint32_t(rng() % n_peers)});
      if (!host) ++added_prefix;
    }
    ASSERT_TRUE(W().Publish(s, &last_error_)) << last_error_;
    const Generation* g = reader.BeginBurst();
    ASSERT_NE(g, nullptr);
    ASSERT_EQ(g->hdr.n_prefixes, n_prefix);
    for (int i = 0; i < 20000; ++i) {
      uint32_t vip;
      if (i % 2 == 0 && !s.routes.empty()) {
        const RouteSpec& r = s.routes[rng() % s.routes.size()];
        const uint32_t mask = ~0u << (32 - r.length);  // lengths are 8..32 here
        vip = (r.prefix & mask) | (rng() & ~mask);
      } else {
        vip = Ip(10, 0, 0, 0) | (rng() & 0xffffff);
      }
      ASSERT_EQ(LookupPeer(*g, vip), ReferenceLookup(s, vip))
          << "vip " << vip << " round " << round;
    }
  }
}

TEST_F(TableTest, HashAcceptsHalfLoadAndRejectsMore) {
  TableSpec s;
  s.peers = {Peer(1)};
  for (uint32_t i = 0; i < kRouteBuckets / 2; ++i) s.routes.push_back({Ip(10, 0, 0, 0) + i, 32, 0});
  ASSERT_TRUE(W().Publish(s, &last_error_)) << last_error_;
  const Generation* g = writer_->Active();
  for (uint32_t i = 0; i < kRouteBuckets / 2; ++i)
    ASSERT_EQ(LookupPeer(*g, Ip(10, 0, 0, 0) + i), 0u);
  EXPECT_EQ(LookupPeer(*g, Ip(11, 0, 0, 0)), kNoPeer);
  s.routes.push_back({Ip(11, 0, 0, 0), 32, 0});
  EXPECT_FALSE(W().Publish(s, &last_error_));
  EXPECT_NE(last_error_.find("/32"), std::string::npos) << last_error_;
}

TEST_F(TableTest, SpecLimitsAreRejectedWithoutTouchingTheTable) {
  ASSERT_TRUE(Publish(BasicSpec())) << last_error_;
  const uint64_t active = region_->header().active.load();
  struct Case {
    const char* what;  // must appear in the error
    std::function<void(TableSpec&)> mutate;
  };
  const Case cases[] = {
      {"peers", [](TableSpec& s) { s.peers.resize(kMaxPeers + 1, Peer(1)); }},
      {"receiver_index", [](TableSpec& s) { s.sessions[0].receiver_index = 0; }},
      {"receiver_index", [](TableSpec& s) { s.sessions[0].receiver_index = kMaxSessions; }},
      {"duplicate session", [](TableSpec& s) { s.sessions.push_back(s.sessions[0]); }},
      {"names peer", [](TableSpec& s) { s.sessions[0].entry.peer = 3; }},
      {"route peer",
       [](TableSpec& s) {
         s.routes.push_back({Ip(10, 9, 9, 9), 32, 3});
       }},
      {"prefix length",
       [](TableSpec& s) {
         s.routes.push_back({Ip(10, 9, 9, 9), 33, 0});
       }},
      {"duplicate /32",
       [](TableSpec& s) {
         s.routes.push_back({Ip(10, 1, 0, 2), 32, 1});
       }},
      {"duplicate route",
       [](TableSpec& s) {
         s.routes.push_back({Ip(10, 1, 3, 3), 16, 1});
       }},
      {"non-/32",
       [](TableSpec& s) {
         for (uint32_t i = 0; i < kMaxPrefixes; ++i) s.routes.push_back({i << 8, 24, 0});
       }},
      {"mtu", [](TableSpec& s) { s.mtu = 575; }},
      {"mtu", [](TableSpec& s) { s.mtu = 9001; }},
      {"local_prefix_len", [](TableSpec& s) { s.local_prefix_len = 33; }},
      {"kMaxLinks", [](TableSpec& s) { s.links.resize(kMaxLinks + 1); }},
  };
  for (const Case& c : cases) {
    TableSpec s = BasicSpec();
    c.mutate(s);
    EXPECT_FALSE(Publish(s)) << c.what;
    EXPECT_NE(last_error_.find(c.what), std::string::npos) << c.what << ": '" << last_error_ << "'";
    EXPECT_EQ(region_->header().active.load(), active) << c.what;
  }
  // The limits themselves are accepted.
  TableSpec s = BasicSpec();
  s.peers.resize(kMaxPeers, Peer(5));
  s.sessions[0].receiver_index = kMaxSessions - 1;
  s.routes.clear();
  for (uint32_t i = 0; i < kMaxPrefixes; ++i) s.routes.push_back({i << 8, 24, i});
  s.mtu = 9000;
  s.links.resize(kMaxLinks);
  EXPECT_TRUE(Publish(s)) << last_error_;
}

TEST(ValidateGeneration, ChecksEveryHeaderField) {
  auto g = std::make_unique<Generation>();
  auto reset = [&] {
    g->hdr = GenerationHeader{};
    g->hdr.seq = 9;
    g->hdr.n_peers = kMaxPeers;
    g->hdr.n_prefixes = kMaxPrefixes;
    g->hdr.local_prefix_len = 32;
    g->hdr.mtu = 576;
    g->hdr.n_links = kMaxLinks;
  };
  reset();
  EXPECT_TRUE(ValidateGeneration(*g, 9));
  EXPECT_FALSE(ValidateGeneration(*g, 8));
  const std::function<void()> breakers[] = {
      [&] { g->hdr.n_peers = kMaxPeers + 1; },
      [&] { g->hdr.n_prefixes = kMaxPrefixes + 1; },
      [&] { g->hdr.n_links = kMaxLinks + 1; },
      [&] { g->hdr.local_prefix_len = 33; },
      [&] { g->hdr.mtu = 575; },
      [&] { g->hdr.mtu = 9001; },
      [&] { g->hdr.seq = 0; },
  };
  for (size_t i = 0; i < std::size(breakers); ++i) {
    reset();
    breakers[i]();
    EXPECT_FALSE(ValidateGeneration(*g, 9)) << "breaker " << i;
  }
}

TEST_F(TableTest, ReaderKeepsLastGenerationWhenPublishedOneIsInvalid) {
  TableReader reader(*region_, 0);
  ASSERT_TRUE(Publish(BasicSpec())) << last_error_;
  const Generation* g1 = reader.BeginBurst();
  ASSERT_NE(g1, nullptr);
  RegionHeader& h = region_->header();
  // A corrupt control plane: points at a slot whose header disagrees, then at a slot past the end.
  region_->generation(2)->hdr.seq = 99;
  h.active.store(PackActive(2, 2));
  EXPECT_EQ(reader.BeginBurst(), g1);
  EXPECT_FALSE(reader.switched());
  EXPECT_EQ(reader.invalid_seen(), 1u);
  EXPECT_EQ(reader.BeginBurst(), g1);
  EXPECT_EQ(reader.invalid_seen(), 1u) << "an unchanged active value is judged once";
  h.active.store(PackActive(3, kNumGenerations));
  EXPECT_EQ(reader.BeginBurst(), g1);
  EXPECT_EQ(reader.invalid_seen(), 2u);
  EXPECT_EQ(h.workers[0].quiescent_seq.load(), 1u) << "still protects the slot it uses";
}

TEST_F(TableTest, StuckWorkerBlocksReuseUntilItGoesOffline) {
  TableReader reader(*region_, 0);
  ASSERT_TRUE(Publish(BasicSpec())) << last_error_;
  const Generation* held = reader.BeginBurst();
  ASSERT_NE(held, nullptr);
  // Three more publications fill the other slots; the fourth would need the held slot.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Publish(BasicSpec(), 50)) << i << ": " << last_error_;
  const uint64_t active = region_->header().active.load();
  TableSpec marked = BasicSpec();
  marked.mtu = 1000;
  EXPECT_FALSE(Publish(marked, 30));
  EXPECT_NE(last_error_.find("worker 0"), std::string::npos) << last_error_;
  EXPECT_EQ(region_->header().active.load(), active) << "failed publish changed active";
  EXPECT_EQ(held->hdr.seq, 1u) << "held slot overwritten";
  EXPECT_EQ(held->hdr.mtu, 1420u);

  reader.GoOffline();
  ASSERT_TRUE(Publish(marked, 30)) << last_error_;
  EXPECT_EQ(writer_->seq(), 5u);
  EXPECT_EQ(writer_->Active(), held) << "the only reclaimable slot was the one released";
  // Back online the reader must take the current generation, not its stale pointer's contents.
  const Generation* now = reader.BeginBurst();
  ASSERT_NE(now, nullptr);
  EXPECT_TRUE(reader.switched());
  EXPECT_EQ(reader.seq(), 5u);
  EXPECT_EQ(now->hdr.mtu, 1000u);
}

// Retired session keys leave shared memory once no worker can read their generation any more.
TEST_F(TableTest, RetiredKeysAreScrubbedOnceNoWorkerCanReadThem) {
  TableReader reader(*region_, 0);
  TableSpec first = BasicSpec();
  std::memset(first.peers[0].tx_key, 0xab, sizeof(first.peers[0].tx_key));
  std::memset(first.sessions[0].entry.rx_key, 0xcd, sizeof(first.sessions[0].entry.rx_key));
  ASSERT_TRUE(Publish(first)) << last_error_;
  const Generation* old = reader.BeginBurst();
  ASSERT_NE(old, nullptr);
  ASSERT_TRUE(Publish(BasicSpec())) << last_error_;  // the keys are gone from the spec
  // The worker still holds the first generation: nothing may be touched under it.
  EXPECT_EQ(W().ScrubRetired(), 0u);
  EXPECT_EQ(old->peers[0].tx_key[0], 0xab);
  EXPECT_EQ(old->sessions[7].rx_key[0], 0xcd);
  ASSERT_NE(reader.BeginBurst(), old);  // the worker moved on
  EXPECT_EQ(W().ScrubRetired(), 1u);
  const uint8_t zeros[32] = {};
  EXPECT_EQ(std::memcmp(old->peers[0].tx_key, zeros, 32), 0);
  EXPECT_EQ(std::memcmp(old->sessions[7].rx_key, zeros, 32), 0);
  EXPECT_EQ(W().ScrubRetired(), 0u);  // once per retirement
  // The active generation keeps its keys.
  EXPECT_EQ(W().Active()->sessions[7].flags, uint32_t{kSessionValid});
}

TEST_F(TableTest, OnlineAgainWithoutChangeKeepsGeneration) {
  TableReader reader(*region_, 0);
  ASSERT_TRUE(Publish(BasicSpec())) << last_error_;
  const Generation* g = reader.BeginBurst();
  reader.GoOffline();
  EXPECT_EQ(region_->header().workers[0].quiescent_seq.load(), kOffline);
  EXPECT_EQ(reader.BeginBurst(), g);
  EXPECT_FALSE(reader.switched());
  EXPECT_EQ(region_->header().workers[0].quiescent_seq.load(), 1u);
}

TEST_F(TableTest, SwitchAdoptedWhileComingOnlineIsReportedByTheNextBurst) {
  TableReader reader(*region_, 0);
  ASSERT_TRUE(Publish(BasicSpec())) << last_error_;
  reader.BeginBurst();
  EXPECT_TRUE(reader.switched());
  reader.GoOffline();
  ASSERT_TRUE(Publish(BasicSpec())) << last_error_;
  reader.GoOnline();  // what the worker does after an idle wait: adopts publication 2 here
  EXPECT_EQ(reader.seq(), 2u);
  reader.BeginBurst();
  EXPECT_TRUE(reader.switched()) << "the worker must rescan key ids for publication 2";
  reader.BeginBurst();
  EXPECT_FALSE(reader.switched());
}

TEST_F(TableTest, WorkersOfDeadDataplaneCountAsOffline) {
  TableReader reader(*region_, 0);
  ASSERT_TRUE(Publish(BasicSpec())) << last_error_;
  ASSERT_NE(reader.BeginBurst(), nullptr);  // then the "dataplane" dies without going offline
  for (const int32_t pid : {DeadPid(), 0}) {
    region_->header().dp_pid.store(pid);
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(Publish(BasicSpec(), 20)) << pid << ": " << last_error_;
  }
  region_->header().dp_pid.store(getpid());
  EXPECT_FALSE(Publish(BasicSpec(), 20)) << "a live dataplane's stale worker must block again";
}

TEST_F(TableTest, RestartedWriterContinuesSequenceConservatively) {
  TableReader reader(*region_, 0);
  ASSERT_TRUE(Publish(BasicSpec())) << last_error_;
  const Generation* held = reader.BeginBurst();  // worker 0 holds seq 1
  ASSERT_TRUE(Publish(BasicSpec())) << last_error_;
  ASSERT_TRUE(Publish(BasicSpec())) << last_error_;
  EXPECT_EQ(W().seq(), 3u);

  writer_.reset();  // the control plane restarts and forgets its retire sequences
  TableWriter restarted(*region_);
  EXPECT_EQ(restarted.seq(), 3u);
  ASSERT_NE(restarted.Active(), nullptr);
  EXPECT_EQ(restarted.Active()->hdr.seq, 3u);
  std::string err;
  // Even the never-used slot counts as retired by seq 3, so nothing frees while worker 0 is at 1.
  EXPECT_FALSE(restarted.Publish(BasicSpec(), &err, 30));
  EXPECT_EQ(held->hdr.seq, 1u);
  EXPECT_EQ(restarted.seq(), 3u);

  ASSERT_NE(reader.BeginBurst(), nullptr);
  EXPECT_EQ(reader.seq(), 3u);
  ASSERT_TRUE(restarted.Publish(BasicSpec(), &err, 30)) << err;
  EXPECT_EQ(restarted.seq(), 4u);
  EXPECT_EQ(reader.BeginBurst()->hdr.seq, 4u);
}

// Generation `seq` encodes its sequence in every entry, so a reader that ever sees two sequences
// inside the generation it holds has caught a torn publication or a slot reused too early.
constexpr uint32_t kPeersPerGen = 16;
uint32_t VipFor(uint64_t seq, uint32_t i) {
  return Ip(10, 0, 0, 0) | uint32_t((seq * kPeersPerGen + i) & 0xffffff);
}

TableSpec SpecForSeq(uint64_t seq) {
  TableSpec s;
  s.local_vip = uint32_t(seq);
  s.mtu = 576 + uint32_t(seq % 8000);
  for (uint32_t i = 0; i < kPeersPerGen; ++i) {
    PeerEntry p = Peer(VipFor(seq, i));
    p.tx_key_id = seq;
    p.tx_remote_index = uint32_t(seq);
    std::memset(p.tx_key, int(seq & 0xff), sizeof(p.tx_key));
    s.peers.push_back(p);
    s.routes.push_back({VipFor(seq, i), 32, i});
    SessionSpec ss{};
    ss.receiver_index = i + 1;
    ss.entry.flags = kSessionValid;
    ss.entry.peer = i;
    ss.entry.key_id = seq;
    s.sessions.push_back(ss);
  }
  s.routes.push_back({uint32_t(seq) << 8, 24, uint32_t(seq % kPeersPerGen)});
  return s;
}

// Returns "" when every entry of g belongs to publication `seq`.
std::string CheckGeneration(const Generation& g, uint64_t seq) {
  if (g.hdr.seq != seq) return "hdr.seq";
  if (g.hdr.local_vip != uint32_t(seq) || g.hdr.mtu != 576 + seq % 8000) return "hdr fields";
  if (g.hdr.n_peers != kPeersPerGen || g.hdr.n_prefixes != 1) return "counts";
  for (uint32_t i = 0; i < kPeersPerGen; ++i) {
    const PeerEntry& p = g.peers[i];
    if (p.vip != VipFor(seq, i) || p.tx_key_id != seq || p.tx_remote_index != uint32_t(seq) ||
        p.tx_key[31] != uint8_t(seq) || p.tx_key[0] != uint8_t(seq))
      return "peer " + std::to_string(i);
    if (g.sessions[i + 1].key_id != seq || g.sessions[i + 1].peer != i) return "session";
    if (LookupPeer(g, VipFor(seq, i)) != i) return "lookup /32";
  }
  if (LookupPeer(g, uint32_t(seq) << 8 | 0x55) != seq % kPeersPerGen) return "lookup /24";
  return g.hdr.seq == seq ? "" : "hdr.seq changed while reading";
}

TEST_F(TableTest, ConcurrentReadersNeverSeeTornOrReusedGenerations) {
  constexpr uint64_t kPublications = 3000;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bursts{0}, switches{0};
  std::atomic<int> failures{0};
  std::string first_failure[2];

  std::atomic<uint64_t> held[2] = {0, 0}, invalid{0};
  auto reader_loop = [&](uint32_t worker) {
    TableReader reader(*region_, worker);
    uint64_t last_seq = 0;
    for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      const Generation* g = reader.BeginBurst();
      if (g != nullptr) {
        std::string why = reader.seq() < last_seq ? "seq went backwards" : "";
        held[worker].store(reader.seq());
        // A burst lasts a while and may be preempted; the slot must stay intact for all of it.
        // Worker 1 has long bursts, so the writer (paced on worker 0) runs ahead of it.
        if (why.empty()) why = CheckGeneration(*g, reader.seq());
        if (worker == 1) std::this_thread::sleep_for(std::chrono::microseconds(20));
        if (why.empty()) why = CheckGeneration(*g, reader.seq());
        if (!why.empty() && failures.fetch_add(1) < 1)
          first_failure[worker] = "seq " + std::to_string(reader.seq()) + ": " + why;
        last_seq = reader.seq();
        if (reader.switched()) switches.fetch_add(1, std::memory_order_relaxed);
      }
      bursts.fetch_add(1, std::memory_order_relaxed);
      if (i % 256 == 255) {
        // Idle periods exercise the offline/online handshake.
        reader.GoOffline();
        std::this_thread::yield();
        reader.GoOnline();
      }
    }
    invalid += reader.invalid_seen();
    reader.GoOffline();
  };
  std::thread r0(reader_loop, 0), r1(reader_loop, 1);

  std::string err;
  uint64_t published = 0;
  for (uint64_t seq = 1; seq <= kPublications; ++seq) {
    // Pace on the faster reader only, so the slower one often still holds an older slot.
    while (std::max(held[0].load(), held[1].load()) + 1 < seq) std::this_thread::yield();
    if (!W().Publish(SpecForSeq(seq), &err, 10000)) break;
    ++published;
  }
  stop = true;
  r0.join();
  r1.join();
  EXPECT_EQ(published, kPublications) << err;
  EXPECT_EQ(failures.load(), 0) << first_failure[0] << first_failure[1];
  EXPECT_EQ(invalid.load(), 0u) << "readers saw a published slot that was not intact";
  EXPECT_GT(bursts.load(), kPublications);
  // The readers must actually have followed the writer, not just slept through it.
  EXPECT_GT(switches.load(), kPublications / 10);
  std::printf("%llu bursts, %llu generation switches\n", (unsigned long long)bursts.load(),
              (unsigned long long)switches.load());
  EXPECT_EQ(writer_->seq(), kPublications);
  EXPECT_EQ(CheckGeneration(*writer_->Active(), kPublications), "");
}

// ---- Overlay links and the relay next hop ----

using Ring = std::array<uint8_t, kRingBytes>;

Ring RingAt(uint8_t top, uint8_t last = 0) {
  Ring r{};
  r[0] = top;
  r[19] = last;
  return r;
}

LinkEntry Link(const Ring& ring, uint16_t flags = kLinkValid, uint8_t octet = 1) {
  LinkEntry l{};
  std::memcpy(l.ring, ring.data(), kRingBytes);
  l.underlay_addr[15] = octet;
  l.underlay_port = uint16_t(6000 + octet);
  l.flags = flags;
  return l;
}

TEST_F(TableTest, LinksAndSelfRingArePublishedAndStaleOnesCleared) {
  TableSpec s = BasicSpec();
  s.self_ring = RingAt(0x42, 7);
  s.links = {Link(RingAt(0x10), kLinkValid, 1), Link(RingAt(0x20), 0, 2),
             Link(RingAt(0x30), kLinkValid, 3)};
  ASSERT_TRUE(Publish(s)) << last_error_;
  const Generation* g = W().Active();
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->hdr.n_links, 3u);
  EXPECT_EQ(0, std::memcmp(g->hdr.self_ring, s.self_ring.data(), kRingBytes));
  EXPECT_EQ(0, std::memcmp(&g->links[2], &s.links[2], sizeof(LinkEntry)));
  EXPECT_EQ(g->links[2].underlay_port, 6003);
  // Every slot gets reused eventually: the next publications must not inherit old links.
  s.links.resize(1);
  for (uint32_t i = 0; i < kNumGenerations; ++i) ASSERT_TRUE(Publish(s)) << last_error_;
  g = W().Active();
  EXPECT_EQ(g->hdr.n_links, 1u);
  for (uint32_t i = 1; i < kMaxLinks; ++i) ASSERT_EQ(g->links[i].flags, 0u) << i;
}

class NextHopTest : public ::testing::Test {
 protected:
  void SetUp() override { g_ = std::make_unique<Generation>(); }
  void Set(const Ring& self, const std::vector<LinkEntry>& links) {
    std::memcpy(g_->hdr.self_ring, self.data(), kRingBytes);
    std::fill(std::begin(g_->links), std::end(g_->links), LinkEntry{});
    std::copy(links.begin(), links.end(), g_->links);
    g_->hdr.n_links = uint32_t(links.size());
  }
  uint32_t Next(const Ring& dst) { return NextHopLink(*g_, dst.data()); }
  std::unique_ptr<Generation> g_;
};

TEST_F(NextHopTest, ExactMatchWins) {
  Set(RingAt(0x10), {Link(RingAt(0x70)), Link(RingAt(0x80)), Link(RingAt(0x81))});
  EXPECT_EQ(Next(RingAt(0x80)), 1u);
  EXPECT_EQ(Next(RingAt(0x70)), 0u);
}

TEST_F(NextHopTest, ClosestOfTheCloserLinksEitherWayRound) {
  Set(RingAt(0x10), {Link(RingAt(0x40)), Link(RingAt(0x90)), Link(RingAt(0xf8))});
  EXPECT_EQ(Next(RingAt(0x50)), 0u);
  EXPECT_EQ(Next(RingAt(0x88)), 1u);
  EXPECT_EQ(Next(RingAt(0xf0)), 2u);     // 0xf8 is 0x08 away; 0x10 (self) 0x20 across the wrap
  EXPECT_EQ(Next(RingAt(0x00, 1)), 2u);  // across the wrap: 0xf8.. is 0x08.. away, self 0x0f..
}

TEST_F(NextHopTest, NoLinkCloserThanSelf) {
  Set(RingAt(0x50), {Link(RingAt(0x10)), Link(RingAt(0x90))});
  EXPECT_EQ(Next(RingAt(0x50)), kNoLink);  // for this node itself
  EXPECT_EQ(Next(RingAt(0x50, 1)), kNoLink);
  EXPECT_EQ(Next(RingAt(0x4f)), kNoLink);
  Set(RingAt(0x50), {});
  EXPECT_EQ(Next(RingAt(0x90)), kNoLink);
}

TEST_F(NextHopTest, InvalidLinksAreSkipped) {
  Set(RingAt(0x10), {Link(RingAt(0x80), 0), Link(RingAt(0x70)), Link(RingAt(0x80), 2)});
  EXPECT_EQ(Next(RingAt(0x80)), 1u);
  Set(RingAt(0x10), {Link(RingAt(0x80), 0)});
  EXPECT_EQ(Next(RingAt(0x80)), kNoLink);
}

TEST_F(NextHopTest, TiesGoToTheSmallerAddress) {
  // 0x70 and 0x90 are both 0x10 from 0x80, in either order of the table.
  Set(RingAt(0x10), {Link(RingAt(0x90)), Link(RingAt(0x70))});
  EXPECT_EQ(Next(RingAt(0x80)), 1u);
  Set(RingAt(0x10), {Link(RingAt(0x70)), Link(RingAt(0x90))});
  EXPECT_EQ(Next(RingAt(0x80)), 0u);
  // A link as far as this node wins only with the smaller address.
  Set(RingAt(0x90), {Link(RingAt(0x70))});
  EXPECT_EQ(Next(RingAt(0x80)), 0u);
  Set(RingAt(0x70), {Link(RingAt(0x90))});
  EXPECT_EQ(Next(RingAt(0x80)), kNoLink);
}

TEST_F(NextHopTest, GarbageCountIsBounded) {
  Set(RingAt(0x10), {});
  for (uint32_t i = 0; i < kMaxLinks; ++i) g_->links[i] = Link(RingAt(0x11, uint8_t(i)));
  g_->links[kMaxLinks - 1] = Link(RingAt(0x80));
  g_->hdr.n_links = 0xffffffffu;
  EXPECT_EQ(Next(RingAt(0x80)), kMaxLinks - 1);
}

TEST_F(NextHopTest, AgreesWithGreedyRoutingOfTheOverlay) {
  using cp::overlay::CloserTo;
  using cp::overlay::RingAddress;
  auto to_overlay = [](const uint8_t* b) {
    return RingAddress::FromBytes(std::span<const uint8_t, RingAddress::kBytes>(b, kRingBytes));
  };
  std::mt19937_64 rng(7);
  auto random_ring = [&] {
    Ring r{};
    for (auto& x : r) x = uint8_t(rng());
    if (rng() % 4 == 0) std::fill(r.begin() + 1, r.end(), 0);  // crowded: more ties
    return r;
  };
  for (int round = 0; round < 2000; ++round) {
    std::vector<LinkEntry> links(rng() % 12);
    for (LinkEntry& l : links) l = Link(random_ring(), rng() % 5 == 0 ? 0 : kLinkValid);
    const Ring self = random_ring();
    Set(self, links);
    const Ring dst = rng() % 6 == 0 && !links.empty() ? Ring{} : random_ring();
    // Reference: the overlay's CloserTo over this node and every valid link.
    const RingAddress key = to_overlay(dst.data());
    RingAddress best = to_overlay(self.data());
    uint32_t expected = kNoLink;
    for (uint32_t i = 0; i < links.size(); ++i) {
      if (!(links[i].flags & kLinkValid)) continue;
      if (CloserTo(key, to_overlay(links[i].ring), best)) {
        best = to_overlay(links[i].ring);
        expected = i;
      }
    }
    const uint32_t got = Next(dst);
    // Two links may share an address; either index is then the same hop.
    if (got != expected && got != kNoLink && expected != kNoLink) {
      EXPECT_EQ(0, std::memcmp(links[got].ring, links[expected].ring, kRingBytes)) << round;
    } else {
      EXPECT_EQ(got, expected) << round;
    }
  }
}

}  // namespace
}  // namespace ipop::shm
