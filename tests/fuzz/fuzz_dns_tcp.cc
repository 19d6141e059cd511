// Fuzzes DnsTcpServer, the DNS-over-TCP responder on raw frames, with what a host (or anything on
// the TAP) could send it, interleaved with time passing and answers arriving late. Input: a config
// byte (bit 0: the handler answers at once; bits 1-3: the size of those answers), then records:
//   0 [len: 2][frame]                      a raw frame, as it is
//   1 [port][flags][dseq][dack][win: 2][mss: 2][len: 2][payload]
//                                          a well-formed segment (checksums right) from host port
//                                          40000 + port % 8, its sequence number dseq (signed) off
//                                          what this host sent so far, its ACK dack off what the
//                                          server sent it so far; both then move on
//   2 [ms: 2]                              time passes, then Poll()
//   3 [index][size: 2]                     the handler answers a query it held
// Checks, after every record: the table never holds more than max_connections; every frame the
// server wrote is a valid IPv4/TCP segment (tcp_test_peer.h's own checksum code) from the
// responder's address, port 53 and gateway MAC to the host on a port that sent us something, no
// longer than the MTU with a payload no larger than MTU - 40, with our window, the MSS option
// only on SYN/ACKs; a RST from the host is never answered.
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "controlplane/services/dns_tcp.h"
#include "tests/unit/cp_fakes.h"
#include "tests/unit/tcp_test_peer.h"

namespace {

using namespace ipop;
using cp::testing::ServerSegment;

const uint8_t kGatewayMac[6] = {0x02, 0x49, 0x50, 0, 0, 1};
const uint8_t kHostMac[6] = {0x02, 0, 0, 0, 0, 2};
constexpr uint32_t kResponder = cp::testing::Ip(10, 77, 0, 254);
constexpr uint32_t kHost = cp::testing::Ip(10, 77, 0, 1);
constexpr uint32_t kMtu = 1400;
constexpr size_t kMaxConnections = 4;

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

class Handler final : public cp::DnsQueryHandler {
 public:
  bool OnQuery(const cp::DnsClient& client, std::span<const uint8_t> message) override {
    Require(client.transport == cp::DnsTransport::kTcp && client.ip == kHost &&
            client.connection != 0 && !message.empty() && message.size() <= 4096);
    if (answer_now) {
      std::vector<uint8_t> a(message.begin(), message.end());
      a.resize(std::max<size_t>(a.size(), answer_size));
      server->SendMessage(client.connection, a);
    } else if (held.size() < 64) {
      held.push_back(client.connection);
    }
    return true;
  }
  cp::DnsTcpServer* server = nullptr;
  bool answer_now = false;
  size_t answer_size = 0;
  std::vector<uint64_t> held;
};

struct HostPort {
  uint32_t next_seq = 0;     // what this host sent so far
  uint32_t server_next = 0;  // what the server sent it so far
};

uint16_t Be16(const uint8_t* p) {
  return uint16_t(p[0] << 8 | p[1]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  cp::testing::FakePort port;
  cp::testing::FakeClock clock;
  cp::testing::FakeRandom random(size);
  Handler handler;
  handler.answer_now = data[0] & 1;
  handler.answer_size = size_t((data[0] >> 1) & 7) * 500;
  cp::DnsTcpOptions o;
  o.responder_ip = kResponder;
  std::memcpy(o.gateway_mac, kGatewayMac, 6);
  o.mtu = kMtu;
  o.max_connections = kMaxConnections;
  o.max_retransmits = 2;
  Require(cp::ValidateDnsTcpOptions(o).empty());
  cp::DnsTcpServer server(port, clock, random, handler, o);
  handler.server = &server;
  HostPort hosts[8];
  for (uint32_t i = 0; i < 8; ++i) hosts[i].next_seq = 1000 * (i + 1);
  std::set<uint16_t> talked;  // host ports that sent the server something

  size_t pos = 1;
  while (pos < size) {
    const uint8_t op = data[pos++] & 3;
    bool from_rst = false;
    if (op == 0) {
      if (size - pos < 2) break;
      const size_t len = std::min<size_t>(Be16(data + pos), size - pos - 2);
      const std::span<const uint8_t> frame(data + pos + 2, len);
      pos += 2 + len;
      const size_t ihl = len > 14 ? size_t(frame[14] & 0x0f) * 4 : 0;
      if (len >= 14 + ihl + 14 && frame[14 + 9] == 6) {  // the TCP port and flags it claims
        talked.insert(Be16(frame.data() + 14 + ihl));
        from_rst = (frame[14 + ihl + 13] & cp::testing::kTcpRst) != 0;
      }
      server.OnTapFrame(frame);
    } else if (op == 1) {
      if (size - pos < 10) break;
      const uint8_t which = data[pos] % 8;
      HostPort& h = hosts[which];
      cp::testing::HostSegment s{kHostMac, kGatewayMac, kHost, kResponder, uint16_t(40000 + which),
                                 53};
      s.flags = data[pos + 1];
      s.seq = h.next_seq + uint32_t(int32_t(int8_t(data[pos + 2])));
      s.ack = h.server_next + uint32_t(int32_t(int8_t(data[pos + 3])));
      s.window = Be16(data + pos + 4);
      s.mss = Be16(data + pos + 6);
      const size_t len = std::min<size_t>(Be16(data + pos + 8), size - pos - 10);
      s.payload.assign(data + pos + 10, data + pos + 10 + len);
      pos += 10 + len;
      h.next_seq = s.seq + uint32_t(len) + ((s.flags & cp::testing::kTcpSyn) ? 1 : 0) +
                   ((s.flags & cp::testing::kTcpFin) ? 1 : 0);
      talked.insert(s.src_port);
      from_rst = (s.flags & cp::testing::kTcpRst) != 0;
      Require(server.OnTapFrame(cp::testing::BuildHostSegment(s)));
    } else if (op == 2) {
      if (size - pos < 2) break;
      clock.AdvanceMs(Be16(data + pos));
      pos += 2;
      server.Poll();
    } else {
      if (size - pos < 3) break;
      if (!handler.held.empty()) {
        const size_t i = data[pos] % handler.held.size();
        const uint64_t id = handler.held[i];
        handler.held.erase(handler.held.begin() + ptrdiff_t(i));
        server.SendMessage(id, std::vector<uint8_t>(Be16(data + pos + 1) % 4000, 0x5a));
      }
      pos += 3;
    }

    Require(server.connections() <= kMaxConnections);
    if (from_rst) Require(port.frames.empty());
    for (const std::vector<uint8_t>& f : port.frames) {
      const ServerSegment s = cp::testing::CheckServerSegment(f);
      Require(s.error.empty());
      Require(std::memcmp(s.src_mac, kGatewayMac, 6) == 0);
      Require(s.src_ip == kResponder && s.src_port == 53 && s.dst_ip == kHost);
      Require(talked.count(s.dst_port) == 1);
      Require(f.size() <= 14 + kMtu && s.payload.size() <= kMtu - 40);
      Require(s.window == cp::DnsTcpServer::kWindow);
      const bool syn = (s.flags & cp::testing::kTcpSyn) != 0;
      Require(syn == (s.mss == kMtu - 40));
      if (syn) Require(s.flags == (cp::testing::kTcpSyn | cp::testing::kTcpAck));
      if (s.dst_port >= 40000 && s.dst_port < 40008) {
        HostPort& h = hosts[s.dst_port - 40000];
        const uint32_t end = s.seq + uint32_t(s.payload.size()) + (syn ? 1 : 0) +
                             ((s.flags & cp::testing::kTcpFin) ? 1 : 0);
        if (syn || int32_t(end - h.server_next) > 0) h.server_next = end;
      }
    }
    port.frames.clear();
  }
  return 0;
}
