// Several dataplane workers: transmit nonces shared through TxNonceSpace (never two seals with
// one nonce, and a receiver's single replay window accepts the interleaving), the session-owner
// function and the kernel steering program that must agree with it, and the handoff rings.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/crypto_state.h"
#include "dataplane/handoff.h"
#include "dataplane/inbound.h"
#include "dataplane/outbound.h"
#include "dataplane/replay_window.h"
#include "dataplane/reuseport_steering.h"
#include "dataplane/session_owner.h"
#include "dataplane/tx_nonce.h"
#include "dataplane/udp_socket.h"
#include "shared/wire.h"
#include "tests/unit/dp_test_nodes.h"
#include "tests/unit/kernel_version.h"

namespace ipop::dp {
namespace {

using namespace ::ipop::dp::test_nodes;

TEST(TxNonceSpace, ConcurrentWorkersNeverShareANonce) {
  TxNonceSpace space;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50000;
  std::vector<std::vector<uint64_t>> used(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&space, &used, t] {
      NonceRange range;
      for (int i = 0; i < kPerThread; ++i) {
        uint64_t n = 0;
        ASSERT_TRUE(space.Next(3, range, &n));
        used[t].push_back(n);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<uint64_t> all;
  for (const auto& u : used) {
    EXPECT_TRUE(std::is_sorted(u.begin(), u.end()));  // each worker's own nonces only grow
    all.insert(all.end(), u.begin(), u.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a nonce was used twice";
  EXPECT_GE(space.issued(3), uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(space.issued(4), 0u);  // other peers untouched
}

TEST(TxNonceSpace, BlockIsKeptUntilAnotherWorkerMovedFarAhead) {
  TxNonceSpace space;
  NonceRange a, b;
  uint64_t n = 0;
  ASSERT_TRUE(space.Next(0, a, &n));
  EXPECT_EQ(n, 0u);
  ASSERT_TRUE(space.Next(0, b, &n));
  EXPECT_EQ(n, TxNonceSpace::kBlock);  // b got the next block
  ASSERT_TRUE(space.Next(0, a, &n));
  EXPECT_EQ(n, 1u);  // a continues its own block
  // b runs far ahead: a's remaining block would be too old for the receiver's window.
  for (uint64_t i = 0; i < TxNonceSpace::kStale + TxNonceSpace::kBlock; ++i)
    ASSERT_TRUE(space.Next(0, b, &n));
  const uint64_t issued = space.issued(0);
  ASSERT_TRUE(space.Next(0, a, &n));
  EXPECT_EQ(n, issued);  // a fresh block, not 2
}

// Sender workers take nonces in bursts of random size, in random order, some pausing for long;
// the datagrams cross an underlay that reorders within `reorder` positions. One receiver window
// must accept every datagram once and reject every replay.
void RunInterleaving(uint32_t n_workers, uint32_t reorder, uint32_t seed) {
  std::mt19937 rng(seed);
  TxNonceSpace space;
  std::vector<NonceRange> ranges(n_workers);
  std::vector<uint64_t> wire_order;
  for (int burst = 0; burst < 3000; ++burst) {
    const uint32_t w = rng() % n_workers;
    // Worker 0 sends rarely: its block goes stale while the others send thousands.
    if (w == 0 && n_workers > 1 && rng() % 20 != 0) continue;
    const uint32_t size = 1 + rng() % 64;
    for (uint32_t i = 0; i < size; ++i) {
      uint64_t n = 0;
      ASSERT_TRUE(space.Next(0, ranges[w], &n));
      wire_order.push_back(n);
    }
  }
  for (size_t i = 0; i + reorder < wire_order.size(); i += reorder)
    std::shuffle(wire_order.begin() + i, wire_order.begin() + i + reorder, rng);
  ReplayWindow window;
  for (uint64_t n : wire_order) {
    ASSERT_TRUE(window.Check(n)) << "workers " << n_workers << " nonce " << n << " highest "
                                 << window.highest();
    ASSERT_TRUE(window.Update(n));
  }
  for (size_t i = 0; i < wire_order.size(); i += 97) EXPECT_FALSE(window.Check(wire_order[i]));
}

TEST(TxNonceSpace, OneReceiverWindowAcceptsAnyWorkerCount) {
  for (uint32_t n : {1u, 2u, 3u, 4u, 16u}) {
    SCOPED_TRACE("workers " + std::to_string(n));
    RunInterleaving(n, 1, n);    // in order on the wire
    RunInterleaving(n, 512, n);  // reordered within 512 datagrams
  }
}

// Through the real stages: two sender workers (two CryptoStates, one nonce space) seal for the
// same peer; the receiver's one session opens everything once, also across a new tx key.
class TwoSenderWorkersTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kVipA = Ip(10, 0, 0, 1);
  static constexpr uint32_t kVipB = Ip(10, 0, 0, 2);
  static constexpr uint32_t kIndexAtB = 7;
  static constexpr uint64_t kInstanceA = 0xa11ce;
  static constexpr uint8_t kGwMac[6] = {0x02, 0, 0, 0, 0xff, 0x0a};
  static constexpr uint8_t kTapMac[6] = {0x02, 0, 0, 0, 0, 0x0a};

  shm::TableSpec SpecA(uint64_t key_id, const Key& key) {
    shm::TableSpec s;
    s.local_vip = kVipA;
    std::memcpy(s.gateway_mac, kGwMac, sizeof(kGwMac));
    s.peers = {Peer(kVipB, kReady, kIndexAtB, key_id, key, kInstanceA)};
    s.routes = {{kVipB, 32, 0}};
    return s;
  }
  shm::TableSpec SpecB(uint64_t key_id, const Key& key) {
    shm::TableSpec s;
    s.local_vip = kVipB;
    s.peers = {Peer(kVipA, shm::kPeerValid, 0, 0, key, 0)};
    s.sessions = {Session(kIndexAtB, 0, key_id, key)};
    s.routes = {{kVipA, 32, 0}};
    return s;
  }
  void PublishBoth(uint64_t key_id, const Key& key) {
    a_.Publish(SpecA(key_id, key));
    b_.Publish(SpecB(key_id, key));
    for (auto& w : workers_) w->Rescan(*a_.gen, *a_.counters);
  }
  // Worker w seals `n` frames; returns the datagrams.
  std::vector<Bytes> Seal(uint32_t w, uint32_t n) {
    PacketBuffers bufs;
    for (uint32_t i = 0; i < n; ++i) {
      Bytes frame(ether::kHeaderSize);
      ether::WriteEthernetHeader(frame.data(), kGwMac, kTapMac, ether::kTypeIpv4);
      const Bytes ip = Ipv4Packet(kVipA, kVipB, 40, uint8_t(i));
      frame.insert(frame.end(), ip.begin(), ip.end());
      bufs.Add(frame);
    }
    std::vector<Packet*> span = bufs.All();
    const OutboundContext ctx{a_.gen, 1400, kInstanceA, workers_[w].get(), a_.counters.get()};
    const size_t sealed = RunOutbound(span, ctx);
    EXPECT_EQ(sealed, n);
    std::vector<Bytes> out;
    for (size_t i = 0; i < sealed; ++i)
      out.emplace_back(span[i]->data, span[i]->data + span[i]->len);
    return out;
  }
  size_t Open(const std::vector<Bytes>& datagrams) {
    PacketBuffers bufs;
    for (const Bytes& d : datagrams) bufs.Add(d, kIpOffset - 16);
    std::vector<Packet*> span = bufs.All();
    InboundContext ctx{b_.gen, {}, &b_.crypto, b_.counters.get()};
    return RunInbound(span, ctx);
  }

  Node a_{"mc-A"};
  Node b_{"mc-B"};
  TxNonceSpace nonces_;
  std::vector<std::unique_ptr<CryptoState>> workers_ = [this] {
    std::vector<std::unique_ptr<CryptoState>> v;
    v.push_back(std::make_unique<CryptoState>(&nonces_));
    v.push_back(std::make_unique<CryptoState>(&nonces_));
    return v;
  }();
};

TEST_F(TwoSenderWorkersTest, InterleavedBurstsOpenOnceAndCountersNeverGoBack) {
  PublishBoth(100, MakeKey(0x10));
  std::mt19937 rng(7);
  std::vector<Bytes> all;
  std::set<uint64_t> counters;
  for (int burst = 0; burst < 40; ++burst) {
    std::vector<Bytes> d = Seal(rng() % 2, 1 + rng() % 32);
    std::shuffle(d.begin(), d.end(), rng);  // reordered on the underlay
    for (const Bytes& x : d) EXPECT_TRUE(counters.insert(wire::LoadBe64(x.data() + 8)).second);
    EXPECT_EQ(Open(d), d.size());
    all.insert(all.end(), d.begin(), d.end());
  }
  EXPECT_EQ(b_.drop(DropReason::replay), 0u);
  EXPECT_EQ(Open({all[3], all[all.size() / 2], all.back()}), 0u);  // replays
  EXPECT_EQ(b_.drop(DropReason::replay), 3u);

  // A new A->B key: the counter goes on from where the workers were (never back to values
  // already used), and the receiver's fresh window accepts it.
  const uint64_t before = *counters.rbegin();
  PublishBoth(101, MakeKey(0x33));
  for (uint32_t w : {0u, 1u}) {
    const std::vector<Bytes> d = Seal(w, 3);
    for (const Bytes& x : d) {
      EXPECT_TRUE(counters.insert(wire::LoadBe64(x.data() + 8)).second);
      EXPECT_LE(nonces_.issued(0) - wire::LoadBe64(x.data() + 8), TxNonceSpace::kStale);
    }
    EXPECT_EQ(Open(d), d.size());
  }
  EXPECT_GT(*counters.rbegin(), before);
  EXPECT_EQ(b_.drop(DropReason::auth_failed), 0u);
}

TEST(SessionOwner, DataByReceiverIndexRelayByInnerIndexOthersAnywhere) {
  uint8_t data[wire::kHeaderSize + wire::kTagSize] = {};
  wire::WriteHeader(data, wire::PacketType::kData, 7, 99);
  EXPECT_EQ(OwnerWorker(data, 1), kAnyWorker);  // one worker: nothing to steer
  EXPECT_EQ(OwnerWorker(data, 2), 1u);
  EXPECT_EQ(OwnerWorker(data, 3), 1u);
  EXPECT_EQ(OwnerWorker(data, 4), 3u);

  uint8_t relay[wire::kRelayHeaderSize + sizeof(data)] = {};
  const uint8_t ring[wire::kRingAddressSize] = {1, 2, 3};
  wire::WriteRelayHeader(relay, ring);
  wire::WriteHeader(relay + wire::kRelayHeaderSize, wire::PacketType::kData, 10, 1);
  EXPECT_EQ(OwnerWorker(relay, 4), 2u);
  EXPECT_EQ(OwnerWorker({relay, wire::kRelayHeaderSize + 4}, 4), kAnyWorker);  // too short

  uint8_t control[wire::kHeaderSize] = {};
  wire::WriteHeader(control, wire::PacketType::kControl, 7, 0);
  EXPECT_EQ(OwnerWorker(control, 2), kAnyWorker);
  wire::WriteHeader(control, wire::PacketType::kHandshake, 7, 0);
  EXPECT_EQ(OwnerWorker(control, 2), kAnyWorker);
  EXPECT_EQ(OwnerWorker({data, 8}, 2), kAnyWorker);
}

// The kernel runs the steering program on real datagrams: each must reach the socket of
// OwnerWorker(), whatever the sender's 4-tuple.
TEST(ReuseportSteering, KernelDeliversEachSessionToItsOwner) {
  for (const auto& [n_workers, missteer] :
       std::vector<std::pair<uint32_t, uint32_t>>{{2, 0}, {3, 0}, {3, 1}}) {
    SCOPED_TRACE("workers " + std::to_string(n_workers) + " missteer " + std::to_string(missteer));
    std::string error;
    Endpoint listen = *ParseEndpoint("127.0.0.1:0");
    std::vector<std::unique_ptr<UdpSocket>> socks;
    for (uint32_t w = 0; w < n_workers; ++w) {
      socks.push_back(UdpSocket::Bind(listen, &error, /*reuseport=*/true));
      ASSERT_TRUE(socks.back()) << error;
      if (listen.port == 0) listen.port = socks.back()->local_port();
    }
    ASSERT_NE(listen.port, 0);
    // SO_ATTACH_REUSEPORT_CBPF exists since Linux 4.5; from there on the program must load.
    if (!ipop::testing::KernelAtLeast(4, 5)) GTEST_SKIP() << "no SO_ATTACH_REUSEPORT_CBPF (< 4.5)";
    ASSERT_TRUE(AttachReuseportSteering(socks[0]->fd(), n_workers, &error, missteer)) << error;

    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(listen.port);
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::vector<uint32_t> expected(n_workers, 0);
    std::vector<int> senders;
    for (int s = 0; s < 3; ++s) senders.push_back(socket(AF_INET, SOCK_DGRAM, 0));
    for (uint32_t index = 1; index <= 40; ++index) {
      uint8_t d[wire::kHeaderSize + wire::kTagSize] = {};
      uint8_t r[wire::kRelayHeaderSize + sizeof(d)] = {};
      const bool relayed = index % 5 == 0;
      wire::WriteHeader(relayed ? r + wire::kRelayHeaderSize : d, wire::PacketType::kData, index,
                        index);
      if (relayed) wire::WriteRelayHeader(r, r + 4);
      const std::span<const uint8_t> dg =
          relayed ? std::span<const uint8_t>(r) : std::span<const uint8_t>(d);
      ++expected[(OwnerWorker(dg, n_workers) + missteer) % n_workers];
      ASSERT_EQ(sendto(senders[index % senders.size()], dg.data(), dg.size(), 0,
                       reinterpret_cast<sockaddr*>(&dst), sizeof(dst)),
                ssize_t(dg.size()));
    }
    for (int s : senders) close(s);
    std::vector<uint32_t> got(n_workers, 0);
    for (uint32_t w = 0; w < n_workers; ++w) {
      for (;;) {
        pollfd pfd{socks[w]->fd(), POLLIN, 0};
        if (poll(&pfd, 1, 200) <= 0) break;
        uint8_t buf[128];
        const ssize_t len = recv(socks[w]->fd(), buf, sizeof(buf), 0);
        ASSERT_GT(len, 0);
        EXPECT_EQ((OwnerWorker({buf, size_t(len)}, n_workers) + missteer) % n_workers, w);
        ++got[w];
      }
    }
    EXPECT_EQ(got, expected);
  }
}

TEST(HandoffRings, EachOrderedPairIsItsOwnRing) {
  HandoffRings rings(3, 1500);
  SpscRingView producer = rings.Ring(0, 2);
  SpscRingView consumer = rings.Ring(0, 2);
  SpscRingView other = rings.Ring(1, 2);
  EXPECT_GE(producer.max_payload(), 1500u);
  std::vector<uint8_t> datagram(1500);
  for (size_t i = 0; i < datagram.size(); ++i) datagram[i] = uint8_t(i * 13);
  RingSlotHeader meta{};
  meta.port = 4242;
  meta.addr[15] = 9;
  meta.worker = 0;
  ASSERT_TRUE(producer.TryPush(meta, datagram));
  SpscRingView::Entry e;
  EXPECT_FALSE(other.Peek(e));
  ASSERT_TRUE(consumer.Peek(e));
  EXPECT_EQ(e.meta.port, 4242);
  EXPECT_EQ(e.meta.addr[15], 9);
  EXPECT_TRUE(std::equal(e.payload.begin(), e.payload.end(), datagram.begin(), datagram.end()));
  consumer.Pop();
  EXPECT_FALSE(consumer.Peek(e));
  // Full after kSlots entries; too big never fits.
  for (uint32_t i = 0; i < rings.slots(); ++i) ASSERT_TRUE(producer.TryPush(meta, datagram));
  EXPECT_FALSE(producer.TryPush(meta, datagram));
  std::vector<uint8_t> huge(producer.max_payload() + 1);
  EXPECT_FALSE(other.TryPush(meta, huge));
}

}  // namespace
}  // namespace ipop::dp
