// Fuzzes the DNS forwarder's reply path: the bytes an upstream resolver sends back. Each input
// forwards one fixed query through the responder, then feeds the rest of the input as the
// upstream's datagram. The first byte steers: bit 0 writes the forwarder's upstream ID into the
// reply (so validation gets past the ID far more often), bit 1 makes it come from an address the
// query was not sent to, bit 2 lets the query expire afterwards. Checks: at most one reply reaches
// the client, from the responder, with the client's ID, within max_reply_size; an accepted reply
// is the input with only the ID changed (or a TC header+question); nothing stays pending.
#include <cstdint>
#include <cstring>
#include <vector>

#include "controlplane/services/dns_forwarder.h"
#include "controlplane/services/udp_frame.h"
#include "shared/byte_order.h"
#include "tests/unit/cp_fakes.h"

namespace {

using namespace ipop;
using cp::testing::Ep4;
using cp::testing::Ip;

const uint8_t kGatewayMac[6] = {0x02, 0x49, 0x50, 0, 0, 1};
const uint8_t kHostMac[6] = {0x02, 0, 0, 0, 0, 2};
constexpr uint32_t kResponder = Ip(10, 77, 0, 254);
constexpr uint32_t kHost = Ip(10, 77, 0, 1);
constexpr uint16_t kClientId = 0xbeef;

class Transport final : public cp::DnsUpstreamTransport {
 public:
  bool Send(const Endpoint&, std::span<const uint8_t> message) override {
    last.assign(message.begin(), message.end());
    return true;
  }
  std::vector<uint8_t> last;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t steer = data[0];
  std::vector<uint8_t> reply(data + 1, data + size);

  cp::testing::FakePort port;
  cp::testing::FakeClock clock;
  cp::testing::FakeRandom random(size);
  Transport transport;
  cp::DnsForwarderOptions fo;
  fo.responder_ip = kResponder;
  std::memcpy(fo.gateway_mac, kGatewayMac, 6);
  fo.max_pending = 4;
  fo.max_reply_size = 512;
  cp::DnsForwarder forwarder(port, clock, random, transport, fo);
  const Endpoint upstream = Ep4(Ip(127, 0, 0, 1), 53);
  forwarder.SetUpstreams({upstream});
  cp::DnsOptions ro;
  ro.responder_ip = kResponder;
  std::memcpy(ro.gateway_mac, kGatewayMac, 6);
  ro.range_base = Ip(10, 77, 0, 0);
  ro.range_prefix_len = 24;
  cp::DnsResponder responder(port, clock, nullptr, ro);
  responder.SetForwarder(&forwarder);

  // "fuzz.example" A, RD, EDNS.
  const uint8_t query[] = {0xbe, 0xef, 1,   0, 0,   1,   0,    0,   0,   0,   0,   1, 4, 'f',
                           'u',  'z',  'z', 7, 'e', 'x', 'a',  'm', 'p', 'l', 'e', 0, 0, 1,
                           0,    1,    0,   0, 41,  4,   0xd0, 0,   0,   0,   0,   0, 0};
  uint8_t frame[256];
  const size_t n =
      udp::BuildFrame({kHostMac, kHost, 40000}, {kGatewayMac, kResponder, 53}, query, frame);
  if (!responder.OnTapFrame({frame, n}) || transport.last.size() != sizeof(query) ||
      forwarder.pending() != 1 || !port.frames.empty())
    __builtin_trap();
  const uint16_t upstream_id = LoadBe16(transport.last.data());

  if ((steer & 1) && reply.size() >= 2) StoreBe16(reply.data(), upstream_id);
  const Endpoint from = (steer & 2) ? Ep4(Ip(127, 0, 0, 2), 53) : upstream;
  forwarder.OnUpstreamReply(from, reply);
  if (port.frames.size() > 1) __builtin_trap();
  const bool answered = port.frames.size() == 1;
  if (answered != (forwarder.pending() == 0)) __builtin_trap();
  if (answered) {
    udp::FrameView v;
    if (udp::ParseFrame(port.frames[0], &v) != udp::FrameError::kNone || v.src_ip != kResponder ||
        v.dst_ip != kHost || v.src_port != 53 || v.dst_port != 40000 || v.payload.size() < 12 ||
        v.payload.size() > fo.max_reply_size || LoadBe16(v.payload.data()) != kClientId)
      __builtin_trap();
    const bool same = v.payload.size() == reply.size() &&
                      std::memcmp(v.payload.data() + 2, reply.data() + 2, reply.size() - 2) == 0;
    const bool cut = (v.payload[2] & 0x02) != 0 && reply.size() > fo.max_reply_size;
    if (!same && !cut) __builtin_trap();
  }
  if (steer & 4) {
    clock.AdvanceMs(5000);
    forwarder.Poll();
    if (forwarder.pending() != 0 || port.frames.size() != 1) __builtin_trap();
  }
  return 0;
}
