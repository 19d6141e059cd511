// The DPDK backend on real mbufs and real ethdev ports, in one process: EAL runs without
// hugepages or devices, ports are net_ring ethdevs over rte_rings (rte_eth_from_rings), so two
// nodes' underlay ports are wired back to back and a test feeds a host port like a TAP would.
//
//   - one set of vectors through both backends' views: io_uring pool-buffer views and mbuf views
//     made by dpdk::RxBurst; the stages seal the same bytes, and what either seals the other
//     opens (byte-for-byte interop)
//   - commit: what a stage did to a view (data moved, length changed) is what the port sends
//   - two nodes' DpdkPorts: ARP resolution, Ethernet/IPv4/UDP encapsulation, decapsulation
//   - a full transmit queue is counted (port_tx_full)
//   - the idle backoff between polls
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/dpdk_io.h"
#include "dataplane/dpdk_ports.h"
#include "dataplane/inbound.h"
#include "dataplane/outbound.h"
#include "shared/ether.h"
#include "shared/wire.h"
#include "tests/unit/dp_test_nodes.h"

namespace ipop::dp {
namespace {

using namespace ::ipop::dp::test_nodes;

constexpr uint32_t kVipA = Ip(10, 0, 0, 1);
constexpr uint32_t kVipB = Ip(10, 0, 0, 2);
constexpr uint32_t kMtu = 1400;
constexpr uint32_t kIndexAtB = 7;
constexpr uint32_t kIndexAtA = 5;
constexpr uint64_t kInstance = 0xd9d4;
constexpr uint8_t kTapMac[6] = {0x02, 0, 0, 0, 0, 0x0a};
constexpr uint8_t kGwMac[6] = {0x02, 0, 0, 0, 0xff, 0x0a};
constexpr uint8_t kMacA[6] = {0x02, 0xaa, 0, 0, 0, 1};
constexpr uint8_t kMacB[6] = {0x02, 0xbb, 0, 0, 0, 2};
constexpr uint32_t kUnderA = Ip(192, 0, 2, 1);
constexpr uint32_t kUnderB = Ip(192, 0, 2, 2);
const Key kKeyAB = MakeKey(0x21);
const Key kKeyBA = MakeKey(0x42);

rte_mempool* g_pool = nullptr;

// EAL once per process: no hugepages, no PCI, no devices but those the tests make.
class EalEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const std::string prefix = "--file-prefix=ipop-test-" + std::to_string(getpid());
    std::vector<std::string> args = {
        "test_dpdk_ports", "--no-huge", "-m", "256", "--no-pci",
        "--no-shconf",     prefix,      "-l", "0",   "--log-level=warning",
        "--no-telemetry"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    ASSERT_GE(rte_eal_init(int(argv.size()), argv.data()), 0) << rte_strerror(rte_errno);
    g_pool = rte_pktmbuf_pool_create("test_pool", 8191, 64, 0, MbufRoom(), 0);
    ASSERT_NE(g_pool, nullptr) << rte_strerror(rte_errno);
  }
  void TearDown() override {
    // The EAL makes its runtime directory even with --no-shconf and leaves it behind.
    const std::string dir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    rmdir(dir.c_str());
  }
  static uint16_t MbufRoom() { return 128 + 2048; }
};

// A port over two rings: what is sent on it lands in `tx`, what is put in `rx` is received.
struct RingPort {
  rte_ring* rx = nullptr;
  rte_ring* tx = nullptr;
  uint16_t id = dpdk::kNoPort;
};

RingPort MakePort(const std::string& name, unsigned ring_size = 1024, rte_ring* rx = nullptr,
                  rte_ring* tx = nullptr) {
  RingPort p;
  p.rx = rx != nullptr ? rx : rte_ring_create((name + "_rx").c_str(), ring_size, 0, 0);
  p.tx = tx != nullptr ? tx : rte_ring_create((name + "_tx").c_str(), ring_size, 0, 0);
  const int id = rte_eth_from_rings(name.c_str(), &p.rx, 1, &p.tx, 1, 0);
  EXPECT_GE(id, 0) << name << ": " << rte_strerror(rte_errno);
  p.id = uint16_t(id);
  rte_eth_conf conf{};
  EXPECT_EQ(rte_eth_dev_configure(p.id, 1, 1, &conf), 0);
  EXPECT_EQ(rte_eth_rx_queue_setup(p.id, 0, 256, 0, nullptr, g_pool), 0);
  EXPECT_EQ(rte_eth_tx_queue_setup(p.id, 0, 256, 0, nullptr), 0);
  EXPECT_EQ(rte_eth_dev_start(p.id), 0);
  return p;
}

// Puts `bytes` into a fresh mbuf at the default headroom and into `ring`, as a device would.
void Feed(rte_ring* ring, const Bytes& bytes) {
  rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
  ASSERT_NE(m, nullptr);
  std::memcpy(rte_pktmbuf_append(m, uint16_t(bytes.size())), bytes.data(), bytes.size());
  ASSERT_EQ(rte_ring_enqueue(ring, m), 0);
}

// Everything a port sent into `ring`, as bytes.
std::vector<Bytes> Drain(rte_ring* ring) {
  std::vector<Bytes> out;
  void* obj;
  while (rte_ring_dequeue(ring, &obj) == 0) {
    rte_mbuf* m = static_cast<rte_mbuf*>(obj);
    EXPECT_EQ(m->nb_segs, 1);
    const uint8_t* d = rte_pktmbuf_mtod(m, const uint8_t*);
    out.emplace_back(d, d + m->data_len);
    rte_pktmbuf_free(m);
  }
  return out;
}

Bytes Frame(const Bytes& ip) {
  Bytes f(14 + ip.size());
  ether::WriteEthernetHeader(f.data(), kGwMac, kTapMac, ether::kTypeIpv4);
  std::copy(ip.begin(), ip.end(), f.begin() + 14);
  return f;
}

shm::TableSpec SpecA() {
  shm::TableSpec s = NodeSpec(kVipA, kMtu, kGwMac);
  s.peers = {Peer(kVipB, kReady, kIndexAtB, 100, kKeyAB, kInstance)};
  s.sessions = {Session(kIndexAtA, 0, 200, kKeyBA)};
  s.routes = {{kVipB, 32, 0}};
  return s;
}
shm::TableSpec SpecB() {
  shm::TableSpec s = NodeSpec(kVipB, kMtu, kGwMac);
  s.peers = {Peer(kVipA, kReady, kIndexAtA, 200, kKeyBA, kInstance)};
  s.sessions = {Session(kIndexAtB, 0, 100, kKeyAB)};
  s.routes = {{kVipA, 32, 0}};
  return s;
}

// The test vectors: frames node A's host sends, sizes from empty to the MTU, one TCP SYN whose MSS
// is clamped, one too big (answered with ICMP in place), one ARP request (punted).
std::vector<Bytes> Vectors() {
  std::vector<Bytes> v;
  for (size_t len : {size_t{0}, size_t{1}, size_t{17}, size_t{100}, size_t{511}, size_t{1000},
                     size_t{1379}, size_t{kMtu - 20}})
    v.push_back(Frame(Ipv4Packet(kVipA, kVipB, len, uint8_t(len))));
  Bytes syn = Ipv4Packet(kVipA, kVipB, 24);
  syn[9] = 6;
  syn[20 + 12] = 0x60;  // data offset 6 words: one option
  syn[20 + 13] = 0x02;  // SYN
  syn[20 + 20] = 2;     // MSS option
  syn[20 + 21] = 4;
  syn[20 + 22] = 0x23;  // 9000
  syn[20 + 23] = 0x28;
  v.push_back(Frame(syn));
  v.push_back(Frame(Ipv4Packet(kVipA, kVipB, kMtu, 1)));  // one byte over: too big
  Bytes arp(42, 0);
  ether::WriteEthernetHeader(arp.data(), ether::kBroadcastMac, kTapMac, ether::kTypeArp);
  v.push_back(arp);
  return v;
}

struct Result {
  std::vector<Verdict> verdicts;
  std::vector<Bytes> out;  // each packet's data/len after the chain, in input order
};

// Node A's outbound chain on views of `frames`: the io_uring pool layout (PacketBuffers) or mbufs
// received through a ring port (dpdk::RxBurst).
Result SealAsUring(Node& a, const std::vector<Bytes>& frames) {
  PacketBuffers bufs;
  for (const Bytes& f : frames) bufs.Add(f);
  std::vector<Packet*> span = bufs.All();
  TokenBucket icmp(100, 10);
  RunOutbound(span, {a.gen, kMtu, kInstance, &a.crypto, a.counters.get(), &icmp});
  Result r;
  for (Packet* p : bufs.All()) {
    r.verdicts.push_back(p->verdict);
    r.out.emplace_back(p->data, p->data + p->len);
  }
  return r;
}

Result SealAsDpdk(Node& a, const RingPort& port, const std::vector<Bytes>& frames) {
  for (const Bytes& f : frames) Feed(port.rx, f);
  std::vector<Packet> views(frames.size());
  uint32_t oversize = 0;
  const uint16_t n = dpdk::RxBurst(port.id, 0, views.data(), uint16_t(views.size()), &oversize);
  EXPECT_EQ(n, frames.size());
  std::vector<Packet*> span;
  for (Packet& p : views) span.push_back(&p);
  TokenBucket icmp(100, 10);
  RunOutbound(span, {a.gen, kMtu, kInstance, &a.crypto, a.counters.get(), &icmp});
  Result r;
  std::vector<BufHandle> handles;
  for (Packet& p : views) {
    r.verdicts.push_back(p.verdict);
    r.out.emplace_back(p.data, p.data + p.len);
    handles.push_back(p.buf);
  }
  dpdk::FreeBulk(handles.data(), uint32_t(handles.size()));
  return r;
}

TEST(DpdkBackendViews, MbufViewsLookLikeTheirMbufs) {
  const RingPort port = MakePort("views");
  Feed(port.rx, Bytes(300, 0x77));
  Packet p;
  uint32_t oversize = 0;
  ASSERT_EQ(dpdk::RxBurst(port.id, 0, &p, 1, &oversize), 1);
  rte_mbuf* m = reinterpret_cast<rte_mbuf*>(p.buf);
  EXPECT_EQ(p.data, rte_pktmbuf_mtod(m, uint8_t*));
  EXPECT_EQ(p.len, 300u);
  EXPECT_EQ(p.headroom, RTE_PKTMBUF_HEADROOM);
  EXPECT_EQ(p.tailroom, m->buf_len - RTE_PKTMBUF_HEADROOM - 300u);
  // A stage moves the view (a header written in front, bytes appended): the port sends exactly
  // the view.
  p.data -= 16;
  std::memset(p.data, 0xab, 16);
  std::memset(p.data + 16 + 300, 0xcd, 16);
  p.len += 32;
  const dpdk::TxView v{p.buf, p.data, p.len, 0};
  ASSERT_EQ(dpdk::TxBurst(port.id, 0, &v, 1), 1);
  const std::vector<Bytes> sent = Drain(port.tx);
  ASSERT_EQ(sent.size(), 1u);
  Bytes want(16, 0xab);
  want.insert(want.end(), 300, 0x77);
  want.insert(want.end(), 16, 0xcd);
  EXPECT_EQ(sent[0], want);
}

TEST(DpdkBackendViews, BothBackendsSealTheSameBytesAndOpenEachOthers) {
  const RingPort port = MakePort("seal");
  const std::vector<Bytes> vectors = Vectors();
  // Two senders with the same keys and fresh nonce spaces: the same frames must make the same
  // datagrams whichever backend's buffers they sit in.
  Node uring_a("uring-a"), dpdk_a("dpdk-a"), b("b");
  uring_a.Publish(SpecA());
  dpdk_a.Publish(SpecA());
  b.Publish(SpecB());
  const Result u = SealAsUring(uring_a, vectors);
  const Result d = SealAsDpdk(dpdk_a, port, vectors);
  ASSERT_EQ(u.verdicts, d.verdicts);
  EXPECT_EQ(u.verdicts[0], Verdict::kForward);
  EXPECT_EQ(u.verdicts[vectors.size() - 2], Verdict::kReflect) << "too big: ICMP in place";
  EXPECT_EQ(u.verdicts[vectors.size() - 1], Verdict::kPunt) << "ARP";
  for (size_t i = 0; i < vectors.size(); ++i) EXPECT_EQ(u.out[i], d.out[i]) << "vector " << i;
  EXPECT_EQ(uring_a.stat(Stat::mss_clamped), 1u);
  EXPECT_EQ(dpdk_a.stat(Stat::mss_clamped), 1u);

  // Cross-open: node B opens the io_uring side's datagrams in mbufs and the DPDK side's in pool
  // buffers (each is a valid datagram of the same session: B's window takes each counter once,
  // so the DPDK copies come from a second sealing of the same frames).
  std::vector<Bytes> from_uring, from_dpdk;
  for (size_t i = 0; i < vectors.size(); ++i) {
    if (u.verdicts[i] == Verdict::kForward) from_uring.push_back(u.out[i]);
  }
  const Result d2 = SealAsDpdk(dpdk_a, port, vectors);  // counters continue: new nonces
  for (size_t i = 0; i < vectors.size(); ++i)
    if (d2.verdicts[i] == Verdict::kForward) from_dpdk.push_back(d2.out[i]);
  ASSERT_EQ(from_uring.size(), from_dpdk.size());

  InboundContext ctx{b.gen, {}, &b.crypto, b.counters.get(), kMtu};
  std::memcpy(ctx.tap_mac, kTapMac, 6);
  // io_uring-sealed -> opened in mbufs.
  for (const Bytes& dg : from_uring) Feed(port.rx, dg);
  std::vector<Packet> views(from_uring.size());
  uint32_t oversize = 0;
  ASSERT_EQ(dpdk::RxBurst(port.id, 0, views.data(), uint16_t(views.size()), &oversize),
            from_uring.size());
  std::vector<Packet*> span;
  for (Packet& p : views) span.push_back(&p);
  ASSERT_EQ(RunInbound(span, ctx), from_uring.size()) << "every io_uring datagram opens on DPDK";
  std::vector<Bytes> opened_on_dpdk;
  for (Packet& p : views) {
    opened_on_dpdk.emplace_back(p.data + 14, p.data + p.len);
    dpdk::FreeBulk(&p.buf, 1);
  }
  // DPDK-sealed -> opened in pool buffers.
  PacketBuffers bufs;
  for (const Bytes& dg : from_dpdk) bufs.Add(dg, kIpOffset - 16);
  std::vector<Packet*> span2 = bufs.All();
  ASSERT_EQ(RunInbound(span2, ctx), from_dpdk.size()) << "every DPDK datagram opens on io_uring";
  for (size_t i = 0; i < from_dpdk.size(); ++i) {
    const Bytes opened(span2[i]->data + 14, span2[i]->data + span2[i]->len);
    EXPECT_EQ(opened, opened_on_dpdk[i]) << "the same inner packet both ways, " << i;
    const Bytes sent(vectors[i].begin() + 14, vectors[i].end());
    if (i + 1 < from_dpdk.size()) {
      EXPECT_EQ(opened, sent) << "vector " << i;
    } else {  // the SYN: its MSS option clamped to MTU - 40 on the way
      ASSERT_EQ(opened.size(), sent.size());
      EXPECT_EQ(opened[20 + 22] << 8 | opened[20 + 23], int(kMtu - 40));
    }
  }
  EXPECT_EQ(b.drop(DropReason::auth_failed), 0u);
  EXPECT_EQ(b.drop(DropReason::replay), 0u);
}

// Two nodes' DpdkPorts, underlay ports back to back through two rings.
class DpdkPortsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    const std::string tag = std::to_string(n++);
    rte_ring* ab = rte_ring_create(("ab" + tag).c_str(), ring_size_, 0, 0);
    rte_ring* ba = rte_ring_create(("ba" + tag).c_str(), 1024, 0, 0);
    ua_ = MakePort("ua" + tag, 0, ba, ab);
    ub_ = MakePort("ub" + tag, 0, ab, ba);
    a_ = Make(ua_.id, kUnderA, kMacA, ca_.get());
    b_ = Make(ub_.id, kUnderB, kMacB, cb_.get());
  }
  std::unique_ptr<DpdkPorts> Make(uint16_t port, uint32_t ip, const uint8_t* mac,
                                  shm::WorkerCounters* c) {
    DpdkPortOptions o;
    o.underlay_port = port;
    o.pool = g_pool;
    o.underlay.ip = ip;
    o.underlay.prefix_len = 24;
    o.underlay.port = 5800;
    std::memcpy(o.underlay.mac, mac, 6);
    o.shared = port == ua_.id ? &shared_a_ : &shared_b_;
    auto p = std::make_unique<DpdkPorts>(o, PortsContext{0, 32, kMtu, 64, c});
    std::string error;
    EXPECT_TRUE(p->Init(&error)) << error;
    return p;
  }
  // Sends one datagram from A to B's underlay address through A's ports.
  void SendFromA(const Bytes& payload) {
    Packet p;
    ASSERT_TRUE(a_->AllocSpare(p));
    p.data += kIpOffset - 16;
    p.headroom = kIpOffset - 16;
    p.tailroom -= kIpOffset - 16 + uint32_t(payload.size());
    p.len = uint32_t(payload.size());
    std::memcpy(p.data, payload.data(), payload.size());
    const uint8_t to[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 2};
    a_->SendUnderlay(p, to, 5800);
  }
  // B's datagrams of one Receive.
  std::vector<Bytes> ReceiveAtB() {
    std::vector<Packet> host(32), under(32 + 512);
    RxBatch rx;
    rx.host = host.data();
    rx.host_cap = 32;
    rx.underlay = under.data();
    rx.underlay_cap = uint32_t(under.size());
    b_->Receive(rx);
    std::vector<Bytes> out;
    for (uint32_t i = 0; i < rx.n_underlay; ++i) {
      out.emplace_back(under[i].data, under[i].data + under[i].len);
      EXPECT_EQ(under[i].addr[15], 1) << "source: A's underlay address";
      EXPECT_EQ(under[i].port, 5800);
      b_->Release(under[i]);
    }
    b_->Flush();
    return out;
  }
  void ReceiveAtA() {
    std::vector<Packet> host(32), under(32 + 512);
    RxBatch rx;
    rx.host = host.data();
    rx.host_cap = 32;
    rx.underlay = under.data();
    rx.underlay_cap = uint32_t(under.size());
    a_->Receive(rx);
    for (uint32_t i = 0; i < rx.n_underlay; ++i) a_->Release(under[i]);
    a_->Flush();
  }
  uint64_t drop(shm::WorkerCounters& c, DropReason r) { return c.drop[uint32_t(r)].load(); }
  uint64_t stat(shm::WorkerCounters& c, Stat s) { return c.stat[uint32_t(s)].load(); }

  unsigned ring_size_ = 1024;
  RingPort ua_, ub_;
  DpdkShared shared_a_, shared_b_;
  std::unique_ptr<shm::WorkerCounters> ca_ = std::make_unique<shm::WorkerCounters>();
  std::unique_ptr<shm::WorkerCounters> cb_ = std::make_unique<shm::WorkerCounters>();
  std::unique_ptr<DpdkPorts> a_, b_;
};

TEST_F(DpdkPortsTest, TheFirstDatagramAsksForTheNeighbourThenTrafficFlows) {
  SendFromA(Bytes(64, 1));
  a_->Flush();
  EXPECT_EQ(drop(*ca_, DropReason::underlay_no_neighbour), 1u);
  EXPECT_EQ(stat(*ca_, Stat::arp_requests_sent), 1u);
  EXPECT_TRUE(ReceiveAtB().empty()) << "only the ARP request crossed";
  EXPECT_EQ(stat(*cb_, Stat::arp_replies_sent), 1u);
  ReceiveAtA();  // the reply: A learns B's MAC
  std::vector<Bytes> sent;
  for (int i = 0; i < 20; ++i) {
    Bytes d(100 + i * 50, uint8_t(i));
    sent.push_back(d);
    SendFromA(d);
  }
  a_->Flush();
  EXPECT_EQ(stat(*ca_, Stat::udp_tx_datagrams), 20u);
  const std::vector<Bytes> got = ReceiveAtB();
  EXPECT_EQ(got, sent) << "encapsulated by A, decapsulated by B, in order";
  EXPECT_EQ(drop(*cb_, DropReason::underlay_bad_frame), 0u);
  EXPECT_EQ(drop(*ca_, DropReason::port_tx_full), 0u);
}

class DpdkSmallRingTest : public DpdkPortsTest {
 protected:
  DpdkSmallRingTest() { ring_size_ = 16; }  // A's transmit side holds 15 frames
};

TEST_F(DpdkSmallRingTest, AFullTransmitQueueIsCountedNothingLeaks) {
  shared_a_.neighbours.Learn(kUnderB, kMacB);
  const unsigned free_before = rte_mempool_avail_count(g_pool);
  for (int i = 0; i < 40; ++i) SendFromA(Bytes(200, uint8_t(i)));
  a_->Flush();
  EXPECT_EQ(stat(*ca_, Stat::udp_tx_datagrams), 15u);
  EXPECT_EQ(drop(*ca_, DropReason::port_tx_full), 25u);
  EXPECT_EQ(ReceiveAtB().size(), 15u);
  a_->Flush();
  b_->Flush();
  EXPECT_GE(rte_mempool_avail_count(g_pool) + 64, free_before) << "the refused mbufs were freed";
}

// An idle worker polls soon after the last frame, then less and less often, never less often
// than max_us; a frame brings the short sleeps back.
TEST(IdleBackoff, GrowsToTheMaximumAndResetsOnWork) {
  IdleBackoff b(5000);
  std::vector<uint32_t> sleeps;
  for (int i = 0; i < 9; ++i) sleeps.push_back(b.Next());
  EXPECT_EQ((std::vector<uint32_t>{50, 100, 200, 400, 800, 1600, 3200, 5000, 5000}), sleeps);
  b.Reset();
  EXPECT_EQ(50u, b.Next());
  EXPECT_EQ(100u, b.Next());
  IdleBackoff tight(20);  // a maximum below the first step is the only sleep
  EXPECT_EQ(20u, tight.Next());
  EXPECT_EQ(20u, tight.Next());
}

}  // namespace
}  // namespace ipop::dp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new ipop::dp::EalEnvironment);
  return RUN_ALL_TESTS();
}
