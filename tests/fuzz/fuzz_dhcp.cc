// Fuzzes the DHCP codec and DhcpServer. Each input is tried three ways: as a whole TAP frame, as
// that frame with its UDP checksum cleared (so mutations of captured frames reach the DHCP
// parser instead of failing the checksum), and as the UDP payload of a frame to port 67. One
// server sees all three, so a bind in one run meets a renew or release in the next. Invariants:
// every consumed frame is counted (malformed, ignored or by type), and a reply is a well-formed
// BOOTREPLY from the gateway to port 68 that fits the 576-byte datagram every client accepts.
// The address handed out is always the node's: an OFFER's and a lease ACK's yiaddr is kVip
// whatever the client asked for in option 50 or ciaddr (corpus/dhcp/*-foreign seeds), and only
// the ACK to an INFORM carries none.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "controlplane/services/dhcp.h"
#include "controlplane/services/dhcp_server.h"
#include "tests/unit/cp_fakes.h"

namespace {

using namespace ipop;

constexpr std::array<uint8_t, 6> kGatewayMac = {0x02, 0x49, 0x50, 1, 2, 3};
constexpr uint32_t kServer = 0x0a4d0001;  // 10.77.0.1
constexpr uint32_t kVip = 0x0a4d0014;     // 10.77.0.20

uint64_t Handled(const cp::DhcpCounters& c) {
  uint64_t n = c.ignored;
  for (uint64_t v : c.requests) n += v;
  for (uint64_t v : c.malformed) n += v;
  return n;
}

// The message type of a request frame (kDiscover if it does not parse: then nothing answers).
dhcp::MessageType RequestType(std::span<const uint8_t> frame) {
  udp::FrameView v;
  dhcp::Message m;
  if (udp::ParseFrame(frame, &v) != udp::FrameError::kNone ||
      dhcp::Parse(v.payload, &m) != dhcp::ParseError::kNone)
    return dhcp::MessageType::kDiscover;
  return m.type;
}

void CheckReply(const std::vector<uint8_t>& f, dhcp::MessageType request) {
  if (f.size() > udp::kFrameOverhead + dhcp::kMaxReplySize) __builtin_trap();
  udp::FrameView v;
  if (udp::ParseFrame(f, &v) != udp::FrameError::kNone) __builtin_trap();
  if (std::memcmp(v.src_mac, kGatewayMac.data(), 6) != 0 || v.src_ip != kServer) __builtin_trap();
  if (v.src_port != dhcp::kServerPort || v.dst_port != dhcp::kClientPort) __builtin_trap();
  dhcp::Message m;
  if (dhcp::Parse(v.payload, &m) != dhcp::ParseError::kNone) __builtin_trap();
  if (m.op != dhcp::kOpReply || m.server_id != kServer) __builtin_trap();
  // Option 121 (routes are configured): whole routes that decode, default route first.
  for (size_t i = dhcp::kOptionsOffset; i + 1 < v.payload.size();) {
    const uint8_t code = v.payload[i];
    if (code == dhcp::kOptPad) {
      ++i;
      continue;
    }
    if (code == dhcp::kOptEnd) break;
    const size_t len = v.payload[i + 1];
    if (i + 2 + len > v.payload.size()) __builtin_trap();
    if (code == dhcp::kOptClasslessRoutes) {
      dhcp::ClasslessRoute r[64];
      size_t count = 0;
      if (m.type == dhcp::MessageType::kNak ||
          !dhcp::DecodeClasslessRoutes(v.payload.subspan(i + 2, len), r, 64, &count) ||
          count == 0 || r[0].length != 0 || r[0].gateway != kServer)
        __builtin_trap();
    }
    i += 2 + len;
  }
  switch (m.type) {
    case dhcp::MessageType::kOffer:
      if (request != dhcp::MessageType::kDiscover || m.yiaddr != kVip || !m.has_lease)
        __builtin_trap();
      break;
    case dhcp::MessageType::kAck:  // a lease ACK carries the address, an INFORM ACK none
      if (request == dhcp::MessageType::kInform
              ? (m.yiaddr != 0 || m.has_lease)
              : (request != dhcp::MessageType::kRequest || m.yiaddr != kVip || !m.has_lease))
        __builtin_trap();
      break;
    case dhcp::MessageType::kNak:
      if (m.yiaddr != 0 || m.has_lease || v.dst_ip != 0xffffffffu) __builtin_trap();
      break;
    default:
      __builtin_trap();
  }
}

void Feed(cp::DhcpServer& server, cp::testing::FakePort& port, std::span<const uint8_t> frame) {
  const uint64_t before = Handled(server.counters());
  const size_t frames_before = port.frames.size();
  const bool consumed = server.OnTapFrame(frame);
  const uint64_t counted = Handled(server.counters()) - before;
  // A request counted by type may also count as ignored (foreign RELEASE, server message types).
  if (consumed ? (counted < 1 || counted > 2) : counted != 0) __builtin_trap();
  if (port.frames.size() > frames_before + 1) __builtin_trap();
  if (!consumed && port.frames.size() != frames_before) __builtin_trap();
  for (size_t i = frames_before; i < port.frames.size(); ++i)
    CheckReply(port.frames[i], RequestType(frame));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);

  dhcp::Message m;
  if (dhcp::Parse(input, &m) == dhcp::ParseError::kNone) {
    if (size < dhcp::kOptionsOffset) __builtin_trap();
    // Every view the parser hands out lies inside the input.
    for (std::span<const uint8_t> s : {m.parameter_list, m.client_id, m.hostname})
      if (!s.empty() && (s.data() < data || s.data() + s.size() > data + size)) __builtin_trap();
  }

  // The route decoder on raw bytes: whatever it accepts re-encodes to the same bytes.
  {
    dhcp::ClasslessRoute r[64];
    size_t count = 0;
    if (dhcp::DecodeClasslessRoutes(input.first(std::min<size_t>(size, 255)), r, 64, &count)) {
      uint8_t again[255];
      size_t written = 0;
      const size_t n = dhcp::EncodeClasslessRoutes({r, count}, again, &written);
      if (written != count || n != std::min<size_t>(size, 255) || std::memcmp(again, data, n) != 0)
        __builtin_trap();
    }
  }

  cp::testing::FakePort port;
  cp::FixedLeaseSource leases(kVip, 600);
  cp::DhcpOptions options;
  options.server_ip = kServer;
  options.dns_ip = kServer;
  options.domain = "alpha.ipop";
  options.mtu = 1400;
  options.gateway_mac = kGatewayMac;
  options.routes = {{0xc0a84d00, 24, kServer}, {0xac140000, 16, kServer}};
  cp::DhcpServer server(port, leases, options);

  Feed(server, port, input);

  constexpr size_t kUdpChecksum = udp::kFrameOverhead - 2;
  if (size > kUdpChecksum + 1 && data[ether::kHeaderSize] == 0x45) {
    std::vector<uint8_t> unchecked(data, data + size);
    unchecked[kUdpChecksum] = unchecked[kUdpChecksum + 1] = 0;
    Feed(server, port, unchecked);
  }

  const uint8_t client_mac[6] = {0x02, 0x99, 0xee, 0x44, 0x26, 0xe2};
  const udp::FrameAddress from{client_mac, 0, dhcp::kClientPort};
  const udp::FrameAddress to{ether::kBroadcastMac, 0xffffffffu, dhcp::kServerPort};
  std::vector<uint8_t> wrapped(udp::kFrameOverhead + size);
  const size_t n = udp::BuildFrame(from, to, input, wrapped);
  if (n != 0) Feed(server, port, std::span(wrapped).first(n));
  return 0;
}
