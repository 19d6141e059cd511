// The DPDK underlay's own Ethernet/ARP/IPv4/UDP (dataplane/underlay_stack.h) and its ARP cache
// (neighbour_table.h): what the kernel does behind the io_uring backend's socket, checked frame
// by frame. Frames are built here byte by byte, independently of the code under test.
#include <array>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/neighbour_table.h"
#include "dataplane/underlay_stack.h"
#include "shared/checksum.h"
#include "shared/ether.h"
#include "shared/wire.h"
#include "tests/unit/dp_test_nodes.h"

namespace ipop::dp {
namespace {

using test_nodes::Bytes;
using test_nodes::Ip;
using test_nodes::PacketBuffers;

constexpr uint8_t kOurMac[6] = {0x02, 0, 0, 0, 0, 0x01};
constexpr uint8_t kPeerMac[6] = {0x02, 0, 0, 0, 0, 0x02};
constexpr uint8_t kRouterMac[6] = {0x02, 0, 0, 0, 0, 0xfe};
constexpr uint32_t kOurIp = Ip(192, 0, 2, 10);
constexpr uint32_t kPeerIp = Ip(192, 0, 2, 20);
constexpr uint32_t kRouterIp = Ip(192, 0, 2, 1);
constexpr uint32_t kFarIp = Ip(198, 51, 100, 7);
constexpr uint16_t kPort = 5800;

UnderlayAddress Self(uint32_t gateway = 0) {
  UnderlayAddress a;
  a.ip = kOurIp;
  a.prefix_len = 24;
  a.gateway = gateway;
  a.port = kPort;
  std::memcpy(a.mac, kOurMac, 6);
  return a;
}

void Put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = uint8_t(v >> 8);
  b[at + 1] = uint8_t(v);
}
void Put32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = uint8_t(v >> (24 - 8 * i));
}
uint16_t Get16(const uint8_t* p) {
  return uint16_t(p[0] << 8 | p[1]);
}

// An Ethernet/IPv4/UDP frame, checksums right, built without the code under test.
struct UdpFrame {
  uint32_t src = kPeerIp, dst = kOurIp;
  uint16_t sport = 40000, dport = kPort;
  const uint8_t* src_mac = kPeerMac;
  const uint8_t* dst_mac = kOurMac;
  uint8_t proto = 17;
  uint16_t frag = 0x4000;  // DF
  Bytes payload = Bytes(100, 0x5a);
  bool udp_csum = true;
  size_t pad_to = 0;  // Ethernet padding after the IP packet

  Bytes Build() const {
    const size_t ip_len = 20 + 8 + payload.size();
    Bytes f(14 + ip_len, 0);
    std::memcpy(&f[0], dst_mac, 6);
    std::memcpy(&f[6], src_mac, 6);
    Put16(f, 12, 0x0800);
    f[14] = 0x45;
    Put16(f, 16, uint16_t(ip_len));
    Put16(f, 20, frag);
    f[22] = 64;
    f[23] = proto;
    Put32(f, 26, src);
    Put32(f, 30, dst);
    const uint16_t ipc = uint16_t(~ChecksumFold(ChecksumAdd(0, &f[14], 20)));
    std::memcpy(&f[24], &ipc, 2);
    Put16(f, 34, sport);
    Put16(f, 36, dport);
    Put16(f, 38, uint16_t(8 + payload.size()));
    std::memcpy(&f[42], payload.data(), payload.size());
    if (udp_csum) {
      uint16_t c = uint16_t(~ChecksumFold(ChecksumAdd(
          PseudoHeaderSum(&f[14], 17, uint16_t(8 + payload.size())), &f[34], 8 + payload.size())));
      if (c == 0) c = 0xffff;
      std::memcpy(&f[40], &c, 2);
    }
    if (f.size() < pad_to) f.resize(pad_to, 0);
    return f;
  }
};

Bytes ArpFrame(uint16_t op, const uint8_t* sender_mac, uint32_t sender_ip, uint32_t target_ip,
               const uint8_t* dst_mac = ether::kBroadcastMac) {
  Bytes f(60, 0);
  std::memcpy(&f[0], dst_mac, 6);
  std::memcpy(&f[6], sender_mac, 6);
  Put16(f, 12, 0x0806);
  Put16(f, 14, 1);
  Put16(f, 16, 0x0800);
  f[18] = 6;
  f[19] = 4;
  Put16(f, 20, op);
  std::memcpy(&f[22], sender_mac, 6);
  Put32(f, 28, sender_ip);
  Put32(f, 38, target_ip);
  return f;
}

class UnderlayStackTest : public ::testing::Test {
 protected:
  // Runs the receive stage on one frame; returns the packet.
  Packet* Receive(const Bytes& frame, bool exception = false, uint8_t flags = 0,
                  const UnderlayAddress& self = Self()) {
    Packet* p = bufs_.Add(frame);
    p->flags = flags;
    Packet* span[1] = {p};
    forwarded_ = ReceiveUnderlayFrames({span, 1}, self, neighbours_, exception, *counters_);
    return p;
  }
  uint64_t drop(DropReason r) const { return counters_->drop[uint32_t(r)].load(); }
  uint64_t stat(Stat s) const { return counters_->stat[uint32_t(s)].load(); }
  uint64_t total_drops() const {
    uint64_t n = 0;
    for (uint32_t i = 0; i < kNumDropReasons; ++i) n += counters_->drop[i].load();
    return n;
  }
  // Expects `p` dropped as `reason` and that counter (alone) at `n`.
  void ExpectDropped(const Packet* p, DropReason reason, uint64_t n = 1) {
    EXPECT_EQ(p->verdict, Verdict::kDrop);
    EXPECT_EQ(p->drop, reason);
    EXPECT_EQ(drop(reason), n);
    EXPECT_EQ(total_drops(), n);
    EXPECT_EQ(forwarded_, 0u);
  }

  PacketBuffers bufs_;
  NeighbourTable neighbours_;
  std::unique_ptr<shm::WorkerCounters> counters_ = std::make_unique<shm::WorkerCounters>();
  size_t forwarded_ = 0;
};

TEST_F(UnderlayStackTest, ADatagramToOurAddressAndPortBecomesTheOverlayDatagram) {
  UdpFrame u;
  u.payload = Bytes(300);
  for (size_t i = 0; i < u.payload.size(); ++i) u.payload[i] = uint8_t(i * 13);
  Packet* p = Receive(u.Build());
  ASSERT_EQ(forwarded_, 1u);
  EXPECT_EQ(p->verdict, Verdict::kForward);
  ASSERT_EQ(p->len, 300u);
  EXPECT_EQ(0, std::memcmp(p->data, u.payload.data(), 300));
  EXPECT_EQ(p->headroom, kIpOffset - 14 + 42);
  const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 20};
  EXPECT_EQ(0, std::memcmp(p->addr, mapped, 16));
  EXPECT_EQ(p->port, 40000);
  EXPECT_EQ(total_drops(), 0u);
  uint8_t mac[6];
  ASSERT_TRUE(neighbours_.Lookup(kPeerIp, mac)) << "an on-link sender's MAC is learnt";
  EXPECT_EQ(0, std::memcmp(mac, kPeerMac, 6));
  EXPECT_FALSE(neighbours_.LearnedRouter(mac));
}

TEST_F(UnderlayStackTest, EthernetPaddingIsNotPartOfTheDatagramAndZeroChecksumIsAccepted) {
  UdpFrame u;
  u.payload = Bytes(4, 0x11);
  u.udp_csum = false;  // RFC 768: no checksum
  u.pad_to = 60;
  Packet* p = Receive(u.Build());
  ASSERT_EQ(forwarded_, 1u);
  EXPECT_EQ(p->len, 4u);
  EXPECT_EQ(p->tailroom, 2048u - (kIpOffset - 14) - 60 + (60 - 42 - 4));
}

TEST_F(UnderlayStackTest, DatagramsFromOffLinkSourcesTeachTheRoutersMac) {
  UdpFrame u;
  u.src = kFarIp;
  u.src_mac = kRouterMac;
  Receive(u.Build());
  ASSERT_EQ(forwarded_, 1u);
  uint8_t mac[6];
  ASSERT_TRUE(neighbours_.LearnedRouter(mac));
  EXPECT_EQ(0, std::memcmp(mac, kRouterMac, 6));
  EXPECT_FALSE(neighbours_.Lookup(kFarIp, mac)) << "off-link addresses are not neighbours";
}

TEST_F(UnderlayStackTest, BadChecksumsAndLengthsAreDroppedAsBadFrames) {
  UdpFrame u;
  Bytes f = u.Build();
  f[50] ^= 1;  // payload byte: the UDP checksum no longer matches
  ExpectDropped(Receive(f), DropReason::underlay_bad_frame, 1);

  f = u.Build();
  f[22] = 63;  // TTL changed, IPv4 header checksum not
  ExpectDropped(Receive(f), DropReason::underlay_bad_frame, 2);

  f = u.Build();
  Put16(f, 38, 7);  // UDP length below its header
  ExpectDropped(Receive(f), DropReason::underlay_bad_frame, 3);

  f = u.Build();
  f.resize(f.size() - 10);  // IPv4 total length beyond the frame
  ExpectDropped(Receive(f), DropReason::underlay_bad_frame, 4);

  ExpectDropped(Receive(Bytes(10, 0)), DropReason::underlay_bad_frame, 5);  // no Ethernet header
}

TEST_F(UnderlayStackTest, ThePortsChecksumVerdictIsTrusted) {
  UdpFrame u;
  Bytes f = u.Build();
  f[50] ^= 1;
  Receive(f, false, kPacketL4CsumGood);
  EXPECT_EQ(forwarded_, 1u) << "the port verified it: no second check in software";
  ExpectDropped(Receive(u.Build(), false, kPacketL4CsumBad), DropReason::underlay_bad_frame);
}

TEST_F(UnderlayStackTest, FragmentsAndOtherTrafficGoToTheKernelOrAreCounted) {
  struct Case {
    const char* what;
    UdpFrame frame;
    DropReason reason;
  };
  std::vector<Case> cases;
  UdpFrame f;
  f.frag = 0x2000;  // MF
  cases.push_back({"first fragment", f, DropReason::underlay_fragment});
  f.frag = 0x0010;  // an offset
  cases.push_back({"later fragment", f, DropReason::underlay_fragment});
  f = UdpFrame{};
  f.dport = 22;
  cases.push_back({"another UDP port", f, DropReason::underlay_not_ours});
  f = UdpFrame{};
  f.dst = Ip(192, 0, 2, 11);
  cases.push_back({"another address", f, DropReason::underlay_not_ours});
  f = UdpFrame{};
  f.proto = 6;
  cases.push_back({"TCP", f, DropReason::underlay_not_ours});
  f = UdpFrame{};
  f.dst_mac = ether::kBroadcastMac;
  f.dst = Ip(192, 0, 2, 255);
  cases.push_back({"a subnet broadcast", f, DropReason::underlay_not_ours});
  uint64_t n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const uint64_t before = drop(c.reason);
    Packet* p = Receive(c.frame.Build());
    EXPECT_EQ(p->verdict, Verdict::kDrop);
    EXPECT_EQ(drop(c.reason), before + 1);
    ++n;
    EXPECT_EQ(total_drops(), n);
    p = Receive(c.frame.Build(), /*exception=*/true);
    EXPECT_EQ(p->verdict, Verdict::kPunt) << "with an exception port the kernel gets it";
    EXPECT_EQ(total_drops(), n);
  }
  Bytes v6 = UdpFrame{}.Build();
  Put16(v6, 12, 0x86dd);
  const uint64_t before = drop(DropReason::underlay_not_ours);
  EXPECT_EQ(Receive(v6)->verdict, Verdict::kDrop);
  EXPECT_EQ(drop(DropReason::underlay_not_ours), before + 1) << "IPv6 is not the overlay's";
  EXPECT_EQ(Receive(v6, true)->verdict, Verdict::kPunt);
}

TEST_F(UnderlayStackTest, FramesToAnotherMacAreNeverOursNorTheKernels) {
  UdpFrame u;
  const uint8_t other[6] = {0x02, 9, 9, 9, 9, 9};
  u.dst_mac = other;
  ExpectDropped(Receive(u.Build(), /*exception=*/true), DropReason::underlay_not_ours);
}

TEST_F(UnderlayStackTest, AnArpRequestForOurAddressIsAnsweredInPlace) {
  Packet* p = Receive(ArpFrame(1, kPeerMac, kPeerIp, kOurIp));
  ASSERT_EQ(p->verdict, Verdict::kReflect);
  ASSERT_EQ(p->len, kArpFrameSize);
  const uint8_t* f = p->data;
  EXPECT_EQ(0, std::memcmp(f, kPeerMac, 6));
  EXPECT_EQ(0, std::memcmp(f + 6, kOurMac, 6));
  EXPECT_EQ(Get16(f + 12), 0x0806);
  EXPECT_EQ(Get16(f + 20), 2) << "a reply";
  EXPECT_EQ(0, std::memcmp(f + 22, kOurMac, 6));
  EXPECT_EQ(wire::LoadBe32(f + 28), kOurIp);
  EXPECT_EQ(0, std::memcmp(f + 32, kPeerMac, 6));
  EXPECT_EQ(wire::LoadBe32(f + 38), kPeerIp);
  EXPECT_EQ(stat(Stat::arp_replies_sent), 1u);
  EXPECT_EQ(total_drops(), 0u);
  uint8_t mac[6];
  ASSERT_TRUE(neighbours_.Lookup(kPeerIp, mac)) << "the requester is learnt (RFC 826 merge)";
  EXPECT_EQ(0, std::memcmp(mac, kPeerMac, 6));
}

TEST_F(UnderlayStackTest, ArpRepliesTeachNeighboursOnLinkOnly) {
  Packet* p = Receive(ArpFrame(2, kRouterMac, kRouterIp, kOurIp, kOurMac));
  EXPECT_EQ(p->verdict, Verdict::kDone) << "consumed: nothing to send, nothing dropped";
  EXPECT_EQ(total_drops(), 0u);
  uint8_t mac[6];
  ASSERT_TRUE(neighbours_.Lookup(kRouterIp, mac));
  EXPECT_EQ(0, std::memcmp(mac, kRouterMac, 6));
  // An off-link claim is not a neighbour of ours; a request for someone else is not ours.
  Receive(ArpFrame(2, kPeerMac, kFarIp, kOurIp, kOurMac));
  EXPECT_FALSE(neighbours_.Lookup(kFarIp, mac));
  ExpectDropped(Receive(ArpFrame(1, kPeerMac, kPeerIp, Ip(192, 0, 2, 99))),
                DropReason::underlay_not_ours);
  EXPECT_EQ(Receive(ArpFrame(1, kPeerMac, kPeerIp, Ip(192, 0, 2, 99)), true)->verdict,
            Verdict::kPunt);
  Bytes bad = ArpFrame(1, kPeerMac, kPeerIp, kOurIp);
  bad[18] = 8;  // hardware address length
  EXPECT_EQ(Receive(bad)->verdict, Verdict::kDrop);
  EXPECT_EQ(drop(DropReason::underlay_bad_frame), 1u);
}

// ---- sending

struct Out {
  std::array<uint8_t, 2048> buf{};
  UnderlayOut o{};
};

std::unique_ptr<Out> Datagram(uint32_t dst, uint16_t dst_port, const Bytes& payload,
                              uint32_t offset = kIpOffset - 16) {
  auto out = std::make_unique<Out>();
  std::memcpy(out->buf.data() + offset, payload.data(), payload.size());
  out->o = UnderlayOut{BufHandle(out.get()),
                       out->buf.data() + offset,
                       uint32_t(payload.size()),
                       offset,
                       dst,
                       dst_port,
                       0};
  return out;
}

TEST_F(UnderlayStackTest, EncapsulationWritesEthernetIpv4UdpWithValidChecksums) {
  neighbours_.Learn(kPeerIp, kPeerMac);
  Bytes payload(777);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = uint8_t(i ^ 0xa5);
  for (const bool offload : {false, true}) {
    SCOPED_TRACE(offload ? "checksum offload" : "software checksum");
    auto d = Datagram(kPeerIp, 6000, payload);
    uint16_t ip_id = 0x1234;
    ArpWanted arp;
    ASSERT_EQ(EncapUnderlay({&d->o, 1}, Self(), neighbours_, offload, &ip_id, &arp, *counters_),
              1u);
    EXPECT_EQ(ip_id, 0x1235);
    const UnderlayOut& o = d->o;
    ASSERT_EQ(o.len, 777u + 42);
    EXPECT_EQ(o.data, d->buf.data() + kIpOffset - 16 - 42);
    const uint8_t* f = o.data;
    EXPECT_EQ(0, std::memcmp(f, kPeerMac, 6));
    EXPECT_EQ(0, std::memcmp(f + 6, kOurMac, 6));
    EXPECT_EQ(Get16(f + 12), 0x0800);
    const uint8_t* ip = f + 14;
    EXPECT_EQ(ip[0], 0x45);
    EXPECT_EQ(Get16(ip + 2), 20 + 8 + 777);
    EXPECT_EQ(Get16(ip + 4), 0x1234);
    EXPECT_EQ(Get16(ip + 6), 0x4000) << "DF: the overlay never fragments";
    EXPECT_EQ(ip[8], 64);
    EXPECT_EQ(ip[9], 17);
    EXPECT_EQ(wire::LoadBe32(ip + 12), kOurIp);
    EXPECT_EQ(wire::LoadBe32(ip + 16), kPeerIp);
    EXPECT_EQ(ChecksumFold(ChecksumAdd(0, ip, 20)), 0xffff) << "IPv4 header checksum";
    const uint8_t* udp = ip + 20;
    EXPECT_EQ(Get16(udp), kPort);
    EXPECT_EQ(Get16(udp + 2), 6000);
    EXPECT_EQ(Get16(udp + 4), 8 + 777);
    EXPECT_EQ(0, std::memcmp(udp + 8, payload.data(), 777));
    const uint64_t pseudo = PseudoHeaderSum(ip, 17, 8 + 777);
    if (offload) {
      EXPECT_EQ(o.flags, kPacketTxUdpCsum);
      uint16_t field;
      std::memcpy(&field, udp + 6, 2);
      EXPECT_EQ(field, ChecksumFold(pseudo)) << "the pseudo-header sum the NIC completes";
    } else {
      EXPECT_EQ(o.flags, 0);
      EXPECT_EQ(ChecksumFold(ChecksumAdd(pseudo, udp, 8 + 777)), 0xffff) << "UDP checksum";
    }
  }
  EXPECT_EQ(total_drops(), 0u);
}

TEST_F(UnderlayStackTest, WhatOneNodeEncapsulatesTheOtherReceives) {
  neighbours_.Learn(kPeerIp, kPeerMac);
  const Bytes payload(1200, 0x3c);
  auto d = Datagram(kPeerIp, kPort, payload);
  uint16_t ip_id = 1;
  ArpWanted arp;
  ASSERT_EQ(EncapUnderlay({&d->o, 1}, Self(), neighbours_, false, &ip_id, &arp, *counters_), 1u);
  UnderlayAddress peer = Self();
  peer.ip = kPeerIp;
  std::memcpy(peer.mac, kPeerMac, 6);
  Packet* p = Receive(Bytes(d->o.data, d->o.data + d->o.len), false, 0, peer);
  ASSERT_EQ(forwarded_, 1u);
  ASSERT_EQ(p->len, payload.size());
  EXPECT_EQ(0, std::memcmp(p->data, payload.data(), payload.size()));
  EXPECT_EQ(p->port, kPort);
  EXPECT_EQ(p->addr[15], 10);
}

TEST_F(UnderlayStackTest, UnknownNextHopsAreDroppedAndAskedForOnce) {
  neighbours_.Learn(kPeerIp, kPeerMac);
  const uint32_t unknown = Ip(192, 0, 2, 30);
  std::vector<std::unique_ptr<Out>> d;
  d.push_back(Datagram(kPeerIp, 1, Bytes(10, 1)));
  d.push_back(Datagram(unknown, 2, Bytes(10, 2)));
  d.push_back(Datagram(kPeerIp, 3, Bytes(10, 3)));
  d.push_back(Datagram(unknown, 4, Bytes(10, 4)));
  d.push_back(Datagram(kPeerIp, 5, Bytes(10, 5)));
  std::vector<UnderlayOut> outs;
  for (auto& x : d) outs.push_back(x->o);
  uint16_t ip_id = 0;
  ArpWanted arp;
  ASSERT_EQ(EncapUnderlay(outs, Self(), neighbours_, false, &ip_id, &arp, *counters_), 3u);
  EXPECT_EQ(outs[0].dst_port, 1);
  EXPECT_EQ(outs[1].dst_port, 3);
  EXPECT_EQ(outs[2].dst_port, 5) << "the ready ones keep their order";
  EXPECT_EQ(outs[3].dst_ip, unknown);
  EXPECT_EQ(outs[4].dst_ip, unknown);
  EXPECT_EQ(outs[3].len, 10u) << "dropped ones are left as they were";
  EXPECT_EQ(drop(DropReason::underlay_no_neighbour), 2u);
  EXPECT_EQ(total_drops(), 2u);
  ASSERT_EQ(arp.n, 1u);
  EXPECT_EQ(arp.ip[0], unknown);
  EXPECT_TRUE(neighbours_.ShouldRequest(unknown, 1'000'000'000));
  EXPECT_FALSE(neighbours_.ShouldRequest(unknown, 1'100'000'000)) << "one request per 200 ms";
  EXPECT_TRUE(neighbours_.ShouldRequest(unknown, 1'200'000'001));
}

TEST_F(UnderlayStackTest, OffLinkDestinationsGoThroughTheGatewayOrTheLearnedRouter) {
  uint16_t ip_id = 0;
  ArpWanted arp;
  {
    auto d = Datagram(kFarIp, 7, Bytes(10, 1));
    ASSERT_EQ(EncapUnderlay({&d->o, 1}, Self(), neighbours_, false, &ip_id, &arp, *counters_), 0u);
    EXPECT_EQ(drop(DropReason::underlay_unreachable), 1u) << "no gateway, nothing learnt";
  }
  {
    auto d = Datagram(kFarIp, 7, Bytes(10, 1));
    ASSERT_EQ(
        EncapUnderlay({&d->o, 1}, Self(kRouterIp), neighbours_, false, &ip_id, &arp, *counters_),
        0u);
    EXPECT_EQ(drop(DropReason::underlay_no_neighbour), 1u);
    ASSERT_EQ(arp.n, 1u);
    EXPECT_EQ(arp.ip[0], kRouterIp) << "the gateway is ARPed for, not the destination";
  }
  neighbours_.Learn(kRouterIp, kRouterMac);
  {
    auto d = Datagram(kFarIp, 7, Bytes(10, 1));
    ASSERT_EQ(
        EncapUnderlay({&d->o, 1}, Self(kRouterIp), neighbours_, false, &ip_id, &arp, *counters_),
        1u);
    EXPECT_EQ(0, std::memcmp(d->o.data, kRouterMac, 6));
    EXPECT_EQ(wire::LoadBe32(d->o.data + 30), kFarIp);
  }
  const uint8_t learned[6] = {0x02, 7, 7, 7, 7, 7};
  neighbours_.LearnRouter(learned);
  {
    auto d = Datagram(kFarIp, 7, Bytes(10, 1));
    ASSERT_EQ(EncapUnderlay({&d->o, 1}, Self(), neighbours_, false, &ip_id, &arp, *counters_), 1u);
    EXPECT_EQ(0, std::memcmp(d->o.data, learned, 6)) << "no gateway: the learned router";
  }
  {
    auto d = Datagram(kPeerIp, 7, Bytes(10, 1), 20);  // laid out without room for the headers
    neighbours_.Learn(kPeerIp, kPeerMac);
    ASSERT_EQ(EncapUnderlay({&d->o, 1}, Self(), neighbours_, false, &ip_id, &arp, *counters_), 0u);
    EXPECT_EQ(drop(DropReason::udp_send_failed), 1u);
  }
}

TEST(UnderlayArp, RequestFrameAsksForTheTargetFromOurAddress) {
  uint8_t f[kArpFrameSize];
  std::memset(f, 0xee, sizeof(f));
  BuildArpRequest(Self(), kRouterIp, f);
  EXPECT_EQ(0, std::memcmp(f, ether::kBroadcastMac, 6));
  EXPECT_EQ(0, std::memcmp(f + 6, kOurMac, 6));
  EXPECT_EQ(Get16(f + 12), 0x0806);
  EXPECT_EQ(Get16(f + 14), 1);
  EXPECT_EQ(Get16(f + 16), 0x0800);
  EXPECT_EQ(f[18], 6);
  EXPECT_EQ(f[19], 4);
  EXPECT_EQ(Get16(f + 20), 1);
  EXPECT_EQ(0, std::memcmp(f + 22, kOurMac, 6));
  EXPECT_EQ(wire::LoadBe32(f + 28), kOurIp);
  const uint8_t zero[6] = {};
  EXPECT_EQ(0, std::memcmp(f + 32, zero, 6));
  EXPECT_EQ(wire::LoadBe32(f + 38), kRouterIp);
  for (size_t i = 42; i < kArpFrameSize; ++i) EXPECT_EQ(f[i], 0) << "padding at " << i;
}

TEST(NeighbourTable, LearnsReplacesAndNeverShowsATornEntry) {
  NeighbourTable t;
  uint8_t mac[6];
  EXPECT_FALSE(t.Lookup(kPeerIp, mac));
  t.Learn(kPeerIp, kPeerMac);
  ASSERT_TRUE(t.Lookup(kPeerIp, mac));
  EXPECT_EQ(0, std::memcmp(mac, kPeerMac, 6));
  t.Learn(kPeerIp, kRouterMac);  // the neighbour moved
  ASSERT_TRUE(t.Lookup(kPeerIp, mac));
  EXPECT_EQ(0, std::memcmp(mac, kRouterMac, 6));
  // An address asked for is remembered unresolved, and resolves when learnt.
  EXPECT_TRUE(t.ShouldRequest(kRouterIp, 5));
  EXPECT_FALSE(t.Lookup(kRouterIp, mac));
  t.Learn(kRouterIp, kRouterMac);
  EXPECT_TRUE(t.Lookup(kRouterIp, mac));
  // Many addresses: each probe run keeps working after replacements.
  for (uint32_t i = 0; i < 2000; ++i) {
    uint8_t m[6] = {2, 0, 0, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)};
    t.Learn(Ip(10, 0, 0, 0) + i, m);
    ASSERT_TRUE(t.Lookup(Ip(10, 0, 0, 0) + i, mac));
    ASSERT_EQ(0, std::memcmp(mac, m, 6));
  }

  // Two writers flip one address between two MACs while a reader looks it up: every answer is
  // one of the two whole MACs.
  NeighbourTable shared;
  const uint8_t a[6] = {2, 1, 1, 1, 1, 1};
  const uint8_t b[6] = {2, 2, 2, 2, 2, 2};
  shared.Learn(kPeerIp, a);
  std::atomic<bool> stop{false};
  auto writer = [&](const uint8_t* m) {
    while (!stop.load()) shared.Learn(kPeerIp, m);
  };
  std::thread w1(writer, a), w2(writer, b);
  uint32_t torn = 0;
  for (int i = 0; i < 200000; ++i) {
    uint8_t got[6];
    if (!shared.Lookup(kPeerIp, got)) {
      ++torn;
      continue;
    }
    if (std::memcmp(got, a, 6) != 0 && std::memcmp(got, b, 6) != 0) ++torn;
  }
  stop.store(true);
  w1.join();
  w2.join();
  EXPECT_EQ(torn, 0u);
}

}  // namespace
}  // namespace ipop::dp
