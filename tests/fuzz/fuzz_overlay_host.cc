// Fuzzes what ipop-controlplane does with overlay input before and after OverlayNode: the size,
// rate and tag checks of OverlayHost, routed HELLO and DHT delivery, VIP directory lookups and the
// directory record decoder.
//
// Input: records [op][len:2 little endian][bytes], the same framing as fuzz_overlay (its corpus
// seeds are valid here):
//   op % 8 == 0: datagram from endpoint (first byte % 8), rest = overlay bytes; the harness
//                appends a fresh stamp for this node (a timestamp newer than any before, our
//                ring address) and a valid tag (the authenticator accepts a zero tag byte)
//   op % 8 == 4: the same, bytes as given (tag included, or not)
//   op % 4 == 1: advance the clock by (first two bytes, little endian) x 10 ms, then Tick
//   op % 4 == 2: resolve a VIP (first 4 bytes), or read an operator DHT name (the bytes)
//   op % 4 == 3: decode the bytes as a VIP directory record
// Invariants beyond not crashing: a datagram the host did not accept (too short or long, rate
// limited, or failing the authenticator, whatever the trailer looks like) leaves the node as it
// was: links, endpoint, overlay counters, DHT store, table; a datagram counted as accepted was
// vouched for by the authenticator (every Verify call returned true); after every step the
// overlay node's state machine holds (fuzz_overlay_checks.h: no link to itself, valid roles, near
// where the ring puts it), and a tick adds no link. All through the public API, so they hold
// whatever the tag trailer carries.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "controlplane/directory/overlay_host.h"
#include "controlplane/mgmt/collect.h"
#include "controlplane/mgmt/render_overlay.h"
#include "controlplane/runtime/log.h"
#include "shared/byte_order.h"
#include "tests/fuzz/fuzz_overlay_checks.h"
#include "tests/unit/cp_fakes.h"

namespace {

using ipop::cp::testing::Ep4;
using ipop::cp::testing::FakeClock;
using ipop::cp::testing::FakePort;
using ipop::cp::testing::FakeRandom;

// One tag byte that must be zero: lets the fuzzer past the MAC without a secret.
class ZeroTagAuth final : public ipop::cp::HelloAuthenticator {
 public:
  size_t tag_size() const override { return 1; }
  bool Sign(std::span<const uint8_t>, std::span<uint8_t> tag) const override {
    tag[0] = 0;
    return true;
  }
  bool Verify(std::span<const uint8_t>, std::span<const uint8_t> tag) const override {
    const bool ok = tag.size() == 1 && tag[0] == 0;
    ++calls;
    refused += !ok;
    return ok;
  }
  mutable int calls = 0, refused = 0;
};

// What an overlay datagram may change, seen from outside the host.
struct HostState {
  ipop::fuzz::LinkSnapshot links;
  ipop::Endpoint endpoint;
  uint64_t received;
  uint64_t store_bytes, store_values;
  uint64_t table_version;
  bool operator==(const HostState&) const = default;
};
HostState StateOf(const ipop::cp::OverlayHost& host) {
  return {ipop::fuzz::SnapLinks(host.node()), host.node().endpoint(),
          host.node().counters().received,    host.dht().store().bytes_used(),
          host.dht().store().value_count(),   host.table_version()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = ipop::cp::SetLogLevel("error");  // info lines per input slow it down
  (void)quiet;
  FakeClock clock;
  FakeRandom random(7);
  FakePort port;
  ZeroTagAuth auth;
  ipop::cp::OverlayHostOptions o;
  o.address = ipop::cp::overlay::RingAddress::FromFraction(0.25);
  o.listen = Ep4(0x0a000001, 5800);
  o.network = "fuzz";
  o.vip = 0x0a4d0001;
  o.overlay.bootstrap.push_back(Ep4(0x0a000002, 5800));
  ipop::cp::OverlayHost host(o, clock, random, port, auth);
  host.SetHelloHandler([](const ipop::cp::overlay::RingAddress&, const ipop::Endpoint&,
                          std::span<const uint8_t> hello) {
    volatile uint8_t sink = hello.empty() ? 0 : hello[hello.size() - 1];
    (void)sink;
  });
  host.Start();
  size_t pos = 0;
  std::vector<uint8_t> buf;
  uint64_t stamps = 0;
  while (pos + 3 <= size) {
    const uint8_t op = data[pos];
    const size_t len = std::min<size_t>(data[pos + 1] | size_t{data[pos + 2]} << 8, size - pos - 3);
    const uint8_t* body = data + pos + 3;
    pos += 3 + len;
    switch (op % 4) {
      case 0: {
        if (len == 0) break;
        const ipop::Endpoint from = Ep4(0x0a000002 + body[0] % 8, 5800);
        buf.assign(body + 1, body + len);
        if (op % 8 == 0) {
          uint8_t stamp[ipop::cp::kOverlayStampSize];
          ipop::StoreBe64(stamp, clock.WallNs() + ++stamps);
          o.address.ToBytes(std::span<uint8_t, 20>(stamp + 8, 20));
          buf.insert(buf.end(), stamp, stamp + sizeof(stamp));
          buf.push_back(0);
        }
        const HostState before = StateOf(host);
        const uint64_t accepted = host.counters().accepted;
        auth.calls = auth.refused = 0;
        host.OnControlDatagram(from, buf);
        if (host.counters().accepted == accepted) {
          if (StateOf(host) != before) __builtin_trap();  // nothing unauthenticated moves state
        } else if (host.counters().accepted != accepted + 1 || auth.calls == 0 ||
                   auth.refused != 0) {
          __builtin_trap();
        }
        break;
      }
      case 1: {
        const uint64_t ms = len >= 2 ? (body[0] | uint64_t{body[1]} << 8) * 10 : 10;
        clock.AdvanceMs(ms);
        const ipop::fuzz::LinkSnapshot before = ipop::fuzz::SnapLinks(host.node());
        host.Tick();
        ipop::fuzz::CheckTickEffect(before, ipop::fuzz::SnapLinks(host.node()));
        break;
      }
      case 2:
        if (len >= 4 && body[0] % 2 == 0) {
          const uint32_t vip =
              uint32_t(body[0]) << 24 | uint32_t(body[1]) << 16 | uint32_t(body[2]) << 8 | body[3];
          host.Resolve(vip, [](uint32_t, const std::optional<ipop::cp::VipLocation>&) {});
        } else {
          host.DhtGet(std::string(reinterpret_cast<const char*>(body), len),
                      [](const ipop::cp::DhtResult&) {});
        }
        break;
      case 3: {
        // A decoded record re-encodes to its base bytes and a canonical extension (candidate
        // kinds and extension versions it does not know are dropped), which decodes to itself.
        const auto where = ipop::cp::DecodeVipLocation({body, len});
        if (!where) break;
        const std::vector<uint8_t> again = ipop::cp::EncodeVipLocation(*where);
        if (again.size() < 38 || !std::equal(again.begin(), again.begin() + 38, body))
          __builtin_trap();
        const auto twice = ipop::cp::DecodeVipLocation(again);
        if (!twice || ipop::cp::EncodeVipLocation(*twice) != again) __builtin_trap();
        break;
      }
    }
    if (port.sent.size() > 4096) port.sent.clear();
    ipop::fuzz::CheckOverlayNode(host.node(), o.overlay.near_per_side);
  }
  {
    ipop::shm::TableSpec spec;
    host.FillTable(&spec);
    if (spec.links.size() > ipop::shm::kMaxLinks) __builtin_trap();
  }
  (void)ipop::cp::RenderRing(ipop::cp::CollectRing(host, clock.NowNs()));
  (void)ipop::cp::RenderLinks(ipop::cp::CollectLinks(host, clock.NowNs()));
  return 0;
}
