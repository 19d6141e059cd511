// ARP parse/build against a request the Linux kernel really sent (captured with tcpdump on a veth
// in a namespace: `ping 10.77.0.2` from 10.77.0.1/24), and the responder's decisions.
#include "shared/arp.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "controlplane/services/arp_responder.h"
#include "controlplane/sessions/network_id.h"
#include "tests/unit/cp_fakes.h"

namespace ipop::cp {
namespace {

using testing::FakePort;
using testing::Ip;

const std::vector<uint8_t> kCapturedRequest = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x16, 0x4d, 0x5d, 0x56, 0xb1, 0xc2, 0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x16, 0x4d, 0x5d, 0x56, 0xb1, 0xc2,
    0x0a, 0x4d, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x4d, 0x00, 0x02};
const uint8_t kHostMac[6] = {0x16, 0x4d, 0x5d, 0x56, 0xb1, 0xc2};

TEST(Arp, ParsesCapturedRequest) {
  arp::Request r;
  ASSERT_EQ(arp::ParseRequest(kCapturedRequest, &r), arp::ParseError::kNone);
  EXPECT_EQ(r.sender_ip, Ip(10, 77, 0, 1));
  EXPECT_EQ(r.target_ip, Ip(10, 77, 0, 2));
  EXPECT_EQ(std::memcmp(r.sender_mac, kHostMac, 6), 0);
  EXPECT_EQ(std::memcmp(r.eth_src, kHostMac, 6), 0);
  const uint8_t zero[6] = {};
  EXPECT_EQ(std::memcmp(r.target_mac, zero, 6), 0);
}

TEST(Arp, PaddedFrameAccepted) {
  std::vector<uint8_t> padded = kCapturedRequest;
  padded.resize(60, 0);  // Ethernet minimum frame size
  arp::Request r;
  EXPECT_EQ(arp::ParseRequest(padded, &r), arp::ParseError::kNone);
}

TEST(Arp, BuildsReplyByteForByte) {
  arp::Request r;
  ASSERT_EQ(arp::ParseRequest(kCapturedRequest, &r), arp::ParseError::kNone);
  const uint8_t gw[6] = {0x02, 0x49, 0x50, 0xaa, 0xbb, 0xcc};
  uint8_t out[64];
  ASSERT_EQ(arp::BuildReply(r, gw, out), arp::kFrameSize);
  const std::vector<uint8_t> expected = {
      0x16, 0x4d, 0x5d, 0x56, 0xb1, 0xc2, 0x02, 0x49, 0x50, 0xaa, 0xbb, 0xcc, 0x08, 0x06,
      0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x02, 0x49, 0x50, 0xaa, 0xbb, 0xcc,
      0x0a, 0x4d, 0x00, 0x02, 0x16, 0x4d, 0x5d, 0x56, 0xb1, 0xc2, 0x0a, 0x4d, 0x00, 0x01};
  EXPECT_EQ(std::vector<uint8_t>(out, out + arp::kFrameSize), expected);
  uint8_t small[41];
  EXPECT_EQ(arp::BuildReply(r, gw, small), 0u);
}

TEST(Arp, MalformedFramesNamed) {
  arp::Request r;
  for (size_t n = 0; n < arp::kFrameSize; ++n)
    EXPECT_EQ(arp::ParseRequest(std::span(kCapturedRequest).first(n), &r),
              arp::ParseError::kTooShort)
        << n;
  struct Case {
    size_t offset;
    uint8_t value;
    arp::ParseError want;
  };
  for (const Case c : {Case{12, 0x86, arp::ParseError::kNotArp},       // IPv6 ethertype
                       Case{15, 0x06, arp::ParseError::kBadHardware},  // htype 6
                       Case{18, 0x08, arp::ParseError::kBadHardware},  // hlen 8
                       Case{16, 0x86, arp::ParseError::kBadProtocol},  // ptype
                       Case{19, 0x10, arp::ParseError::kBadProtocol},  // plen 16
                       Case{21, 0x02, arp::ParseError::kNotRequest}}) {
    std::vector<uint8_t> f = kCapturedRequest;
    f[c.offset] = c.value;
    EXPECT_EQ(arp::ParseRequest(f, &r), c.want) << c.offset;
  }
}

class ArpResponderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shm::TableSpec spec;
    spec.local_vip = Ip(10, 77, 0, 1);
    GatewayMac("testnet", spec.gateway_mac);
    std::memcpy(gw_, spec.gateway_mac, 6);
    shm::PeerEntry peer{};
    peer.flags = shm::kPeerValid;
    peer.vip = Ip(10, 77, 0, 2);
    spec.peers.push_back(peer);
    shm::PeerEntry router{};
    router.flags = shm::kPeerValid;
    router.vip = Ip(10, 77, 0, 9);
    spec.peers.push_back(router);
    spec.peers.push_back(shm::PeerEntry{});  // unused slot
    spec.routes.push_back({Ip(10, 77, 0, 2), 32, 0});
    spec.routes.push_back({Ip(10, 77, 1, 0), 24, 1});   // a subnet behind a router peer
    spec.routes.push_back({Ip(10, 77, 0, 50), 32, 2});  // route to an invalid slot: ignored
    responder_.SetTable(spec);
  }
  std::vector<uint8_t> RequestFor(uint32_t target) {
    std::vector<uint8_t> f = kCapturedRequest;
    wire::StoreBe32(&f[38], target);
    return f;
  }
  FakePort port_;
  CpCounters counters_;
  ArpResponder responder_{port_, counters_};
  uint8_t gw_[6];
};

TEST_F(ArpResponderTest, AnswersForPeerVipWithGatewayMac) {
  responder_.OnTapFrame(kCapturedRequest);
  ASSERT_EQ(port_.frames.size(), 1u);
  const std::vector<uint8_t>& reply = port_.frames[0];
  ASSERT_EQ(reply.size(), arp::kFrameSize);
  EXPECT_EQ(std::memcmp(&reply[0], kHostMac, 6), 0);  // to the requester
  EXPECT_EQ(std::memcmp(&reply[6], gw_, 6), 0);
  EXPECT_EQ(reply[21], 2);  // reply
  EXPECT_EQ(std::memcmp(&reply[22], gw_, 6), 0);
  EXPECT_EQ(wire::LoadBe32(&reply[28]), Ip(10, 77, 0, 2));
  EXPECT_EQ(wire::LoadBe32(&reply[38]), Ip(10, 77, 0, 1));
  EXPECT_EQ(counters_.Get(CpCounter::arp_answered), 1u);

  responder_.OnTapFrame(RequestFor(Ip(10, 77, 1, 33)));  // inside a routed prefix
  EXPECT_EQ(port_.frames.size(), 2u);
}

TEST_F(ArpResponderTest, UnknownTargetsOwnAddressAndProbesIgnored) {
  responder_.OnTapFrame(RequestFor(Ip(10, 77, 0, 3)));   // nobody
  responder_.OnTapFrame(RequestFor(Ip(10, 77, 0, 1)));   // ourselves (and gratuitous)
  responder_.OnTapFrame(RequestFor(Ip(10, 77, 0, 50)));  // route to an invalid peer slot
  std::vector<uint8_t> probe = kCapturedRequest;
  std::memset(&probe[28], 0, 4);  // sender 0.0.0.0 (RFC 5227 probe)
  responder_.OnTapFrame(probe);
  std::vector<uint8_t> reply = kCapturedRequest;
  reply[21] = 2;
  responder_.OnTapFrame(reply);
  EXPECT_TRUE(port_.frames.empty());
  EXPECT_EQ(counters_.Get(CpCounter::arp_ignored), 5u);
  EXPECT_EQ(counters_.Get(CpCounter::arp_answered), 0u);
}

// The host's own address is never proxied, even when a routed prefix covers it and another
// address on the host asks (the "ourselves" case above is also a gratuitous request, ignored on
// that account, and no route covers it there).
TEST_F(ArpResponderTest, OwnAddressIsNotAnsweredEvenInsideARoutedPrefix) {
  shm::TableSpec spec;
  spec.local_vip = Ip(10, 77, 0, 1);
  GatewayMac("testnet", spec.gateway_mac);
  shm::PeerEntry router{};
  router.flags = shm::kPeerValid;
  router.vip = Ip(10, 77, 0, 9);
  spec.peers.push_back(router);
  spec.routes.push_back({Ip(10, 77, 0, 0), 16, 0});  // e.g. a gateway announcing 10.77.0.0/16
  responder_.SetTable(spec);
  std::vector<uint8_t> own = RequestFor(Ip(10, 77, 0, 1));
  wire::StoreBe32(&own[28], Ip(10, 77, 0, 7));  // sender: a second address on the host
  responder_.OnTapFrame(own);
  EXPECT_TRUE(port_.frames.empty());
  EXPECT_FALSE(responder_.Answers(Ip(10, 77, 0, 1)));
  EXPECT_EQ(counters_.Get(CpCounter::arp_ignored), 1u);
  // The prefix itself is answered: only the own-address rule kept the first one silent.
  std::vector<uint8_t> other = RequestFor(Ip(10, 77, 0, 8));
  wire::StoreBe32(&other[28], Ip(10, 77, 0, 7));
  responder_.OnTapFrame(other);
  EXPECT_EQ(port_.frames.size(), 1u);
  EXPECT_EQ(counters_.Get(CpCounter::arp_answered), 1u);
}

TEST_F(ArpResponderTest, MalformedAndNonArpCounted) {
  responder_.OnTapFrame(std::span(kCapturedRequest).first(30));
  std::vector<uint8_t> bad = kCapturedRequest;
  bad[19] = 16;
  responder_.OnTapFrame(bad);
  std::vector<uint8_t> ipv4 = kCapturedRequest;
  ipv4[13] = 0x00;  // ethertype 0x0800
  responder_.OnTapFrame(ipv4);
  EXPECT_TRUE(port_.frames.empty());
  EXPECT_EQ(counters_.Get(CpCounter::arp_malformed), 2u);
  EXPECT_EQ(counters_.Get(CpCounter::tap_not_arp), 1u);
}

TEST_F(ArpResponderTest, RefusedReplyCounted) {
  port_.fail = true;
  responder_.OnTapFrame(kCapturedRequest);
  EXPECT_EQ(counters_.Get(CpCounter::arp_reply_failed), 1u);
}

}  // namespace
}  // namespace ipop::cp
