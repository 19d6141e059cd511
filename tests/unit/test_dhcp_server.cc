// DhcpServer driven by captured client frames and by messages built here for the states the
// captures do not cover (renew, release, decline, inform, a second client).
#include "controlplane/services/dhcp_server.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shared/byte_order.h"
#include "tests/unit/cp_fakes.h"
#include "tests/unit/test_dhcp_captures.h"

namespace ipop::cp {
namespace {

using dhcp::MessageType;
using testing::FakePort;
using testing::Ip;

constexpr std::array<uint8_t, 6> kHostMac = {0x02, 0x99, 0xee, 0x44, 0x26, 0xe2};
constexpr std::array<uint8_t, 6> kOtherMac = {0x02, 0x99, 0xee, 0x44, 0x26, 0xe3};
constexpr std::array<uint8_t, 6> kGatewayMac = {0x02, 0x49, 0x50, 0xaa, 0xbb, 0xcc};
const uint32_t kServer = Ip(10, 77, 0, 1);
const uint32_t kVip = Ip(10, 77, 0, 20);

DhcpOptions Options() {
  DhcpOptions o;
  o.server_ip = kServer;
  o.prefix_len = 24;
  o.dns_ip = kServer;
  o.domain = "alpha.ipop";
  o.mtu = 1400;
  o.lease_s = 3600;
  o.gateway_mac = kGatewayMac;
  return o;
}

// A client message as a whole frame from the client's port 68 to port 67.
struct ClientMsg {
  MessageType type = MessageType::kDiscover;
  uint8_t op = dhcp::kOpRequest;
  uint32_t xid = 0x01020304;
  uint16_t flags = 0;
  uint32_t ciaddr = 0;
  uint32_t giaddr = 0;
  uint32_t requested = 0;
  uint32_t server_id = 0;
  std::array<uint8_t, 6> mac = kHostMac;
};

std::vector<uint8_t> Frame(const ClientMsg& c) {
  std::vector<uint8_t> p(dhcp::kOptionsOffset, 0);
  p[0] = c.op;
  p[1] = dhcp::kHtypeEthernet;
  p[2] = dhcp::kHlenEthernet;
  StoreBe32(&p[4], c.xid);
  StoreBe16(&p[10], c.flags);
  StoreBe32(&p[12], c.ciaddr);
  StoreBe32(&p[24], c.giaddr);
  std::memcpy(&p[28], c.mac.data(), 6);
  StoreBe32(&p[dhcp::kFixedSize], dhcp::kMagicCookie);
  p.insert(p.end(), {dhcp::kOptMessageType, 1, uint8_t(c.type)});
  for (auto [code, ip] : {std::pair{dhcp::kOptRequestedIp, c.requested},
                          std::pair{dhcp::kOptServerId, c.server_id}}) {
    if (ip == 0) continue;
    p.insert(p.end(), {code, 4, 0, 0, 0, 0});
    StoreBe32(&p[p.size() - 4], ip);
  }
  p.push_back(dhcp::kOptEnd);
  // Renewing clients unicast to the server; all others broadcast from 0.0.0.0.
  const udp::FrameAddress from{c.mac.data(), c.ciaddr, dhcp::kClientPort};
  const udp::FrameAddress to{c.ciaddr != 0 ? kGatewayMac.data() : ether::kBroadcastMac,
                             c.ciaddr != 0 ? kServer : 0xffffffffu, dhcp::kServerPort};
  std::vector<uint8_t> frame(udp::kFrameOverhead + p.size());
  frame.resize(udp::BuildFrame(from, to, p, frame));
  return frame;
}

struct Sent {
  udp::FrameView frame;
  dhcp::Message msg;
};

// Parses the one reply the server wrote, checking what every reply shares.
Sent Reply(const FakePort& port, size_t index = 0) {
  Sent s;
  EXPECT_GT(port.frames.size(), index);
  if (port.frames.size() <= index) return s;
  const std::vector<uint8_t>& f = port.frames[index];
  EXPECT_EQ(udp::ParseFrame(f, &s.frame), udp::FrameError::kNone);
  EXPECT_EQ(dhcp::Parse(s.frame.payload, &s.msg), dhcp::ParseError::kNone);
  EXPECT_EQ(std::memcmp(s.frame.src_mac, kGatewayMac.data(), 6), 0);
  EXPECT_EQ(s.frame.src_ip, kServer);
  EXPECT_EQ(s.frame.src_port, dhcp::kServerPort);
  EXPECT_EQ(s.frame.dst_port, dhcp::kClientPort);
  EXPECT_EQ(s.msg.op, dhcp::kOpReply);
  EXPECT_EQ(s.msg.server_id, kServer);
  return s;
}

void ExpectUnicast(const Sent& s, const std::array<uint8_t, 6>& mac, uint32_t ip) {
  EXPECT_EQ(std::memcmp(s.frame.dst_mac, mac.data(), 6), 0);
  EXPECT_EQ(s.frame.dst_ip, ip);
}

void ExpectBroadcast(const Sent& s) {
  EXPECT_EQ(std::memcmp(s.frame.dst_mac, ether::kBroadcastMac, 6), 0);
  EXPECT_EQ(s.frame.dst_ip, 0xffffffffu);
}

size_t Type(MessageType t) {
  return size_t(t);
}

class DhcpServerTest : public ::testing::Test {
 protected:
  FakePort port;
  FixedLeaseSource leases{kVip, 600};
  DhcpServer server{port, leases, Options()};

  void Bind() {
    ASSERT_TRUE(server.OnTapFrame(Frame({.type = MessageType::kRequest, .requested = kVip})));
    ASSERT_EQ(Reply(port).msg.type, MessageType::kAck);
    ASSERT_TRUE(leases.held());
    port.frames.clear();
  }
};

void ExpectExchange(FakePort& port, DhcpServer& server, std::string_view disc, std::string_view req,
                    uint32_t xid) {
  ASSERT_TRUE(server.OnTapFrame(dhcp::captures::FromHex(disc)));
  ASSERT_EQ(port.frames.size(), 1u);
  const Sent offer = Reply(port, 0);
  EXPECT_EQ(offer.msg.type, MessageType::kOffer);
  EXPECT_EQ(offer.msg.xid, xid);
  EXPECT_EQ(offer.msg.yiaddr, kVip);
  ExpectUnicast(offer, kHostMac, kVip);  // broadcast flag clear, ciaddr 0 (RFC 2131 4.1)
  EXPECT_EQ(offer.msg.lease_s, 600u);    // the source's lease beats the configured default
  ASSERT_TRUE(server.OnTapFrame(dhcp::captures::FromHex(req)));
  ASSERT_EQ(port.frames.size(), 2u);
  const Sent ack = Reply(port, 1);
  EXPECT_EQ(ack.msg.type, MessageType::kAck);
  EXPECT_EQ(ack.msg.xid, xid);
  EXPECT_EQ(ack.msg.yiaddr, kVip);
  ExpectUnicast(ack, kHostMac, kVip);
  EXPECT_EQ(ack.msg.lease_s, 600u);
}

TEST_F(DhcpServerTest, DhclientFullExchange) {
  ExpectExchange(port, server, dhcp::captures::kDhclientDiscoverHex,
                 dhcp::captures::kDhclientRequestHex, 0x51cebc65);
  EXPECT_TRUE(leases.held());
  const DhcpCounters& c = server.counters();
  EXPECT_EQ(c.requests[Type(MessageType::kDiscover)], 1u);
  EXPECT_EQ(c.requests[Type(MessageType::kRequest)], 1u);
  EXPECT_EQ(c.offers, 1u);
  EXPECT_EQ(c.acks, 1u);
  EXPECT_EQ(c.naks, 0u);
  // The configuration the host needs rides on both.
  udp::FrameView f;
  ASSERT_EQ(udp::ParseFrame(port.frames[1], &f), udp::FrameError::kNone);
  const std::vector<uint8_t> payload(f.payload.begin(), f.payload.end());
  auto opt = [&](uint8_t code) -> std::vector<uint8_t> {
    for (size_t i = dhcp::kOptionsOffset; i + 1 < payload.size() && payload[i] != 255;
         i += 2 + payload[i + 1])
      if (payload[i] == code) return {&payload[i + 2], &payload[i + 2] + payload[i + 1]};
    return {};
  };
  EXPECT_EQ(opt(dhcp::kOptSubnetMask), (std::vector<uint8_t>{255, 255, 255, 0}));
  EXPECT_EQ(opt(dhcp::kOptRouter), (std::vector<uint8_t>{10, 77, 0, 1}));
  EXPECT_EQ(opt(dhcp::kOptDnsServer), (std::vector<uint8_t>{10, 77, 0, 1}));
  EXPECT_EQ(opt(dhcp::kOptDomainName),
            (std::vector<uint8_t>{'a', 'l', 'p', 'h', 'a', '.', 'i', 'p', 'o', 'p'}));
  EXPECT_EQ(opt(dhcp::kOptInterfaceMtu), (std::vector<uint8_t>{0x05, 0x78}));
  EXPECT_EQ(opt(dhcp::kOptRenewalTime), (std::vector<uint8_t>{0, 0, 0x01, 0x2c}));
}

TEST_F(DhcpServerTest, UdhcpcFullExchange) {
  ExpectExchange(port, server, dhcp::captures::kUdhcpcDiscoverHex,
                 dhcp::captures::kUdhcpcRequestHex, 0x8def4573);
  EXPECT_EQ(server.counters().acks, 1u);
}

TEST_F(DhcpServerTest, InitRebootAfterDhclientRestart) {
  ASSERT_TRUE(server.OnTapFrame(dhcp::captures::FromHex(dhcp::captures::kDhclientInitRebootHex)));
  const Sent ack = Reply(port);
  EXPECT_EQ(ack.msg.type, MessageType::kAck);
  EXPECT_EQ(ack.msg.xid, 0x17ca4c13u);
  EXPECT_EQ(ack.msg.yiaddr, kVip);
}

TEST_F(DhcpServerTest, BroadcastFlagGetsBroadcastReply) {
  ASSERT_TRUE(server.OnTapFrame(Frame({.flags = dhcp::kFlagBroadcast})));
  const Sent offer = Reply(port);
  EXPECT_EQ(offer.msg.type, MessageType::kOffer);
  EXPECT_TRUE(offer.msg.broadcast());
  ExpectBroadcast(offer);
}

TEST_F(DhcpServerTest, OfferIsTheNodesAddressWhateverTheClientAsksFor) {
  // Option 50 is only a wish (RFC 2131 4.3.1): a client that remembers another network's address,
  // or one inside ours, still gets the node's address and nothing is held for it.
  for (const uint32_t wish : {Ip(10, 77, 0, 99), Ip(192, 168, 1, 50), kServer}) {
    port.frames.clear();
    ASSERT_TRUE(server.OnTapFrame(Frame({.requested = wish})));
    const Sent offer = Reply(port);
    EXPECT_EQ(offer.msg.type, MessageType::kOffer);
    EXPECT_EQ(offer.msg.yiaddr, kVip);
    EXPECT_FALSE(leases.held());
  }
  EXPECT_EQ(server.counters().offers, 3u);
}

TEST_F(DhcpServerTest, RenewIsUnicastToCiaddr) {
  Bind();
  // RENEWING: ciaddr set, no requested IP or server id; the broadcast flag must not matter.
  ASSERT_TRUE(server.OnTapFrame(
      Frame({.type = MessageType::kRequest, .flags = dhcp::kFlagBroadcast, .ciaddr = kVip})));
  const Sent ack = Reply(port);
  EXPECT_EQ(ack.msg.type, MessageType::kAck);
  EXPECT_EQ(ack.msg.ciaddr, kVip);
  EXPECT_EQ(ack.msg.yiaddr, kVip);
  EXPECT_EQ(ack.msg.lease_s, 600u);
  ExpectUnicast(ack, kHostMac, kVip);
  EXPECT_EQ(server.counters().acks, 2u);
}

// A client asking for an address of its own choosing (option 50 in DISCOVER: a remembered
// lease, or an attacker) is offered the node's address, never the one it asked for; REQUESTing
// its choice afterwards is refused.
TEST_F(DhcpServerTest, DiscoverWithForeignRequestedAddressIsOfferedTheNodesAddress) {
  const uint32_t foreign = Ip(10, 77, 0, 99);
  ASSERT_TRUE(server.OnTapFrame(Frame({.requested = foreign})));
  const Sent offer = Reply(port);
  EXPECT_EQ(offer.msg.type, MessageType::kOffer);
  EXPECT_EQ(offer.msg.yiaddr, kVip);
  ExpectUnicast(offer, kHostMac, kVip);
  ASSERT_TRUE(server.OnTapFrame(
      Frame({.type = MessageType::kRequest, .requested = foreign, .server_id = kServer})));
  EXPECT_EQ(Reply(port, 1).msg.type, MessageType::kNak);
  EXPECT_FALSE(leases.held());
}

TEST_F(DhcpServerTest, NakOnWrongAddress) {
  ASSERT_TRUE(
      server.OnTapFrame(Frame({.type = MessageType::kRequest, .requested = Ip(10, 77, 0, 99)})));
  const Sent nak = Reply(port);
  EXPECT_EQ(nak.msg.type, MessageType::kNak);
  EXPECT_EQ(nak.msg.yiaddr, 0u);
  EXPECT_FALSE(nak.msg.has_lease);
  ExpectBroadcast(nak);
  EXPECT_FALSE(leases.held());
  // Renewing an address the client does not have is refused the same way.
  ASSERT_TRUE(
      server.OnTapFrame(Frame({.type = MessageType::kRequest, .ciaddr = Ip(10, 77, 0, 21)})));
  EXPECT_EQ(Reply(port, 1).msg.type, MessageType::kNak);
  // So is a REQUEST naming no address at all.
  ASSERT_TRUE(server.OnTapFrame(Frame({.type = MessageType::kRequest})));
  EXPECT_EQ(Reply(port, 2).msg.type, MessageType::kNak);
  EXPECT_EQ(server.counters().naks, 3u);
  EXPECT_EQ(server.counters().acks, 0u);
}

TEST_F(DhcpServerTest, NakOnForeignServerId) {
  ASSERT_TRUE(server.OnTapFrame(
      Frame({.type = MessageType::kRequest, .requested = kVip, .server_id = Ip(10, 77, 0, 2)})));
  EXPECT_EQ(Reply(port).msg.type, MessageType::kNak);
  EXPECT_FALSE(leases.held());
}

TEST_F(DhcpServerTest, SecondClientWaitsUntilRelease) {
  Bind();
  ASSERT_TRUE(server.OnTapFrame(Frame({.mac = kOtherMac})));
  EXPECT_TRUE(port.frames.empty());
  EXPECT_EQ(server.counters().lease_pending, 1u);
  ASSERT_TRUE(server.OnTapFrame(
      Frame({.type = MessageType::kRequest, .requested = kVip, .mac = kOtherMac})));
  EXPECT_EQ(Reply(port).msg.type, MessageType::kNak);
  port.frames.clear();

  // A RELEASE naming another server, or another address, changes nothing.
  ASSERT_TRUE(server.OnTapFrame(
      Frame({.type = MessageType::kRelease, .ciaddr = kVip, .server_id = Ip(10, 9, 9, 9)})));
  ASSERT_TRUE(server.OnTapFrame(
      Frame({.type = MessageType::kRelease, .ciaddr = Ip(10, 77, 0, 5), .server_id = kServer})));
  EXPECT_TRUE(leases.held());
  EXPECT_EQ(server.counters().ignored, 1u);
  ASSERT_TRUE(server.OnTapFrame(
      Frame({.type = MessageType::kRelease, .ciaddr = kVip, .server_id = kServer})));
  EXPECT_FALSE(leases.held());
  EXPECT_TRUE(port.frames.empty());  // RELEASE is never answered
  EXPECT_EQ(server.counters().requests[Type(MessageType::kRelease)], 3u);

  ASSERT_TRUE(server.OnTapFrame(Frame({.mac = kOtherMac})));
  const Sent offer = Reply(port);
  EXPECT_EQ(offer.msg.type, MessageType::kOffer);
  ExpectUnicast(offer, kOtherMac, kVip);
}

TEST_F(DhcpServerTest, DeclineGivesAddressBack) {
  Bind();
  ASSERT_TRUE(server.OnTapFrame(
      Frame({.type = MessageType::kDecline, .requested = kVip, .server_id = kServer})));
  EXPECT_TRUE(port.frames.empty());
  EXPECT_FALSE(leases.held());
  EXPECT_EQ(server.counters().requests[Type(MessageType::kDecline)], 1u);
}

TEST_F(DhcpServerTest, InformAnsweredWithoutLease) {
  const uint32_t host = Ip(10, 77, 0, 5);
  ASSERT_TRUE(server.OnTapFrame(Frame({.type = MessageType::kInform, .ciaddr = host})));
  const Sent ack = Reply(port);
  EXPECT_EQ(ack.msg.type, MessageType::kAck);
  EXPECT_EQ(ack.msg.yiaddr, 0u);
  EXPECT_EQ(ack.msg.ciaddr, host);
  EXPECT_FALSE(ack.msg.has_lease);
  ExpectUnicast(ack, kHostMac, host);
  EXPECT_FALSE(leases.held());
  EXPECT_EQ(server.counters().requests[Type(MessageType::kInform)], 1u);
  EXPECT_EQ(server.counters().acks, 1u);
}

TEST_F(DhcpServerTest, OtherFramesAreNotOurs) {
  std::vector<uint8_t> discover = dhcp::captures::FromHex(dhcp::captures::kDhclientDiscoverHex);
  EXPECT_FALSE(server.OnTapFrame({}));
  std::vector<uint8_t> arp = discover;
  arp[12] = 0x08, arp[13] = 0x06;
  EXPECT_FALSE(server.OnTapFrame(arp));
  // A real server's reply travels to port 68: not for us.
  EXPECT_FALSE(server.OnTapFrame(dhcp::captures::FromHex(dhcp::captures::kUdhcpdAckHex)));
  std::vector<uint8_t> dns = discover;
  dns[36] = 0, dns[37] = 53;  // destination port; checksum now wrong, so zero it
  dns[40] = dns[41] = 0;
  EXPECT_FALSE(server.OnTapFrame(dns));
  std::vector<uint8_t> bad_sum = discover;
  bad_sum[100] ^= 1;
  EXPECT_FALSE(server.OnTapFrame(bad_sum));
  EXPECT_TRUE(port.frames.empty());
  const DhcpCounters& c = server.counters();
  EXPECT_EQ(c.requests[Type(MessageType::kDiscover)], 0u);
}

TEST_F(DhcpServerTest, MalformedAndStrayMessagesCounted) {
  std::vector<uint8_t> discover = dhcp::captures::FromHex(dhcp::captures::kDhclientDiscoverHex);
  const size_t payload = udp::kFrameOverhead;
  auto corrupt = [&](size_t at, uint8_t v) {
    std::vector<uint8_t> f = discover;
    f[payload + at] = v;
    f[40] = f[41] = 0;  // no UDP checksum (RFC 768) so the damage reaches the DHCP parser
    return f;
  };
  EXPECT_TRUE(server.OnTapFrame(corrupt(dhcp::kFixedSize, 0)));
  EXPECT_TRUE(server.OnTapFrame(corrupt(2, 8)));
  EXPECT_TRUE(server.OnTapFrame(corrupt(dhcp::kOptionsOffset + 2, 42)));
  EXPECT_TRUE(server.OnTapFrame(corrupt(dhcp::kOptionsOffset + 4, 255)));
  // A UDP datagram to port 67 far too short to be DHCP.
  const udp::FrameAddress from{kHostMac.data(), 0, dhcp::kClientPort};
  const udp::FrameAddress to{ether::kBroadcastMac, 0xffffffffu, dhcp::kServerPort};
  const uint8_t tiny[3] = {1, 1, 6};
  std::vector<uint8_t> short_frame(udp::kFrameOverhead + sizeof(tiny));
  short_frame.resize(udp::BuildFrame(from, to, tiny, short_frame));
  EXPECT_TRUE(server.OnTapFrame(short_frame));
  const DhcpCounters& c = server.counters();
  using E = dhcp::ParseError;
  EXPECT_EQ(c.malformed[size_t(E::kBadCookie)], 1u);
  EXPECT_EQ(c.malformed[size_t(E::kBadHardware)], 1u);
  EXPECT_EQ(c.malformed[size_t(E::kBadMessageType)], 1u);
  EXPECT_EQ(c.malformed[size_t(E::kOptionTruncated)], 1u);
  EXPECT_EQ(c.malformed[size_t(E::kTooShort)], 1u);

  // Server messages, BOOTREPLYs and relayed requests are consumed but not answered.
  EXPECT_TRUE(server.OnTapFrame(Frame({.type = MessageType::kOffer})));
  EXPECT_TRUE(server.OnTapFrame(Frame({.op = dhcp::kOpReply})));
  EXPECT_TRUE(server.OnTapFrame(Frame({.giaddr = Ip(10, 1, 1, 1)})));
  EXPECT_EQ(c.ignored, 3u);
  EXPECT_TRUE(port.frames.empty());
  EXPECT_EQ(c.offers + c.acks + c.naks, 0u);
}

// Every counter reaches the registry walk by name, including the ones indexed by type and error.
TEST_F(DhcpServerTest, CountersExportedByName) {
  ASSERT_TRUE(server.OnTapFrame(Frame({})));
  std::map<std::string, uint64_t> named;
  ForEachCounter(CounterModule{"dhcp", kDhcpCounterDescs}, &server.counters(),
                 [&](const CounterDesc& d, size_t i, uint64_t v) {
                   named[d.count > 1 ? std::string(d.name) + "." + d.label_of(i) : d.name] = v;
                 });
  EXPECT_EQ(named.size(), 9u + 3 + 8 + 3);
  EXPECT_EQ(named.at("requests.discover"), 1u);
  EXPECT_EQ(named.at("requests.none"), 0u);
  EXPECT_EQ(named.at("offers"), 1u);
  EXPECT_EQ(named.at("malformed.bad_cookie"), 0u);
  EXPECT_EQ(named.at("lease_pending"), 0u);
}

class PendingSource final : public LeaseSource {
 public:
  std::optional<Lease> Offer(const ClientKey& client, uint32_t requested_ip) override {
    last_client = client;
    last_requested = requested_ip;
    return ready ? std::optional<Lease>(Lease{Ip(10, 77, 0, 30), 0}) : std::nullopt;
  }
  bool Confirm(const ClientKey&, uint32_t, uint32_t*) override { return false; }
  void Release(const ClientKey&, uint32_t) override {}
  bool ready = false;
  ClientKey last_client;
  uint32_t last_requested = 0;
};

TEST(DhcpServer, SilentWhileAllocationRuns) {
  FakePort port;
  PendingSource source;
  DhcpServer server(port, source, Options());
  const std::vector<uint8_t> discover = dhcp::captures::FromHex(dhcp::captures::kUdhcpcDiscoverHex);
  ASSERT_TRUE(server.OnTapFrame(discover));
  EXPECT_TRUE(port.frames.empty());
  EXPECT_EQ(server.counters().lease_pending, 1u);
  // The client key carries chaddr and option 61.
  EXPECT_EQ(source.last_client.mac, kHostMac);
  const std::vector<uint8_t> id = {0x01, 0x02, 0x99, 0xee, 0x44, 0x26, 0xe2};
  EXPECT_TRUE(std::equal(id.begin(), id.end(), source.last_client.id().begin(),
                         source.last_client.id().end()));
  source.ready = true;  // the client's retransmission finds the allocation done
  ASSERT_TRUE(server.OnTapFrame(discover));
  const Sent offer = Reply(port);
  EXPECT_EQ(offer.msg.yiaddr, Ip(10, 77, 0, 30));
  EXPECT_EQ(offer.msg.lease_s, 3600u);  // the source left it to the configured default
  // The client's wish (option 50) goes to the source; the offer is what the source granted.
  ASSERT_TRUE(server.OnTapFrame(Frame({.requested = Ip(10, 77, 0, 99)})));
  EXPECT_EQ(source.last_requested, Ip(10, 77, 0, 99));
  EXPECT_EQ(Reply(port, 1).msg.yiaddr, Ip(10, 77, 0, 30));
}

TEST(DhcpServer, WriteFailureCounted) {
  FakePort port;
  port.fail = true;
  FixedLeaseSource leases(kVip, 0);
  DhcpServer server(port, leases, Options());
  ASSERT_TRUE(server.OnTapFrame(Frame({})));
  EXPECT_EQ(server.counters().reply_failed, 1u);
  EXPECT_EQ(server.counters().offers, 0u);
}

// Option 121's value in a reply frame, if any.
std::optional<std::vector<uint8_t>> RoutesOption(const Sent& s) {
  const std::span<const uint8_t> p = s.frame.payload;
  for (size_t i = dhcp::kOptionsOffset; i + 1 < p.size();) {
    if (p[i] == dhcp::kOptPad) {
      ++i;
      continue;
    }
    if (p[i] == dhcp::kOptEnd) break;
    if (p[i] == dhcp::kOptClasslessRoutes)
      return std::vector<uint8_t>(p.begin() + ptrdiff_t(i + 2),
                                  p.begin() + ptrdiff_t(i + 2 + p[i + 1]));
    i += 2 + p[i + 1];
  }
  return std::nullopt;
}

TEST_F(DhcpServerTest, RoutesGoIntoOption121WithTheDefaultRouteFirst) {
  ASSERT_TRUE(server.OnTapFrame(Frame({})));
  EXPECT_FALSE(RoutesOption(Reply(port, 0)).has_value());  // none learned: no option 121

  server.SetRoutes({{Ip(192, 168, 77, 0), 24, kServer}, {Ip(172, 20, 0, 0), 16, kServer}});
  ASSERT_TRUE(server.OnTapFrame(Frame({})));
  const Sent offer = Reply(port, 1);
  EXPECT_EQ(offer.msg.type, MessageType::kOffer);
  const auto value = RoutesOption(offer);
  ASSERT_TRUE(value.has_value());
  dhcp::ClasslessRoute got[4];
  size_t count = 0;
  ASSERT_TRUE(dhcp::DecodeClasslessRoutes(*value, got, 4, &count));
  ASSERT_EQ(count, 3u);
  EXPECT_EQ(got[0], (dhcp::ClasslessRoute{0, 0, kServer}));  // what option 3 alone would say
  EXPECT_EQ(got[1], (dhcp::ClasslessRoute{Ip(192, 168, 77, 0), 24, kServer}));
  EXPECT_EQ(got[2], (dhcp::ClasslessRoute{Ip(172, 20, 0, 0), 16, kServer}));

  ASSERT_TRUE(server.OnTapFrame(Frame({.type = MessageType::kRequest, .requested = kVip})));
  const Sent ack = Reply(port, 2);
  EXPECT_EQ(ack.msg.type, MessageType::kAck);
  EXPECT_EQ(RoutesOption(ack), value);

  server.SetRoutes({});
  ASSERT_TRUE(server.OnTapFrame(Frame({.type = MessageType::kRequest, .requested = kVip})));
  EXPECT_FALSE(RoutesOption(Reply(port, 3)).has_value());
}

TEST(DhcpServerRoutes, RoutesFromTheOptionsAtStart) {
  FakePort port;
  FixedLeaseSource leases{kVip, 600};
  DhcpOptions o = Options();
  o.routes = {{Ip(192, 168, 77, 0), 24, kServer}};
  DhcpServer server{port, leases, o};
  ASSERT_TRUE(server.OnTapFrame(Frame({})));
  const auto value = RoutesOption(Reply(port, 0));
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(value->size(), 5u + 8u);
}

}  // namespace
}  // namespace ipop::cp
