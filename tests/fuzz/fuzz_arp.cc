// Fuzzes ARP parsing and the responder against an independent reference: Expect() below reads the
// raw frame bytes (RFC 826 layout) and the fixed table of this target and decides whether a reply
// is due, what its 42 bytes must be, and whether the miss handler must hear about the target. The
// responder must produce exactly that: no reply where none is due, byte-identical replies, and
// one counter per frame.
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "controlplane/services/arp_responder.h"
#include "shared/arp.h"
#include "tests/unit/cp_fakes.h"

namespace {

using ipop::cp::testing::Ip;

// The table: this node 10.77.0.1/16, service address 10.77.0.254, a /32 to a valid peer, a /16
// prefix to a valid peer, and a /32 and a /24 whose peer is not valid (never answered).
constexpr uint32_t kLocal = Ip(10, 77, 0, 1);
constexpr uint32_t kService = Ip(10, 77, 0, 254);
constexpr uint32_t kHost = Ip(10, 77, 0, 2);
constexpr uint32_t kPrefix = Ip(10, 78, 0, 0);  // /16
constexpr uint32_t kDeadHost = Ip(10, 77, 0, 3);
constexpr uint32_t kDeadPrefix = Ip(10, 79, 0, 0);  // /24
constexpr uint8_t kGateway[6] = {0x02, 0x49, 0x50, 1, 2, 3};

uint32_t Be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

struct Expected {
  std::optional<std::vector<uint8_t>> reply;
  std::optional<uint32_t> miss;
};

// Written from RFC 826 and the table above, not from the responder's code.
Expected Expect(const uint8_t* f, size_t n) {
  Expected e;
  if (n < 42 || f[12] != 0x08 || f[13] != 0x06) return e;
  const uint8_t* a = f + 14;
  const bool request = a[0] == 0 && a[1] == 1 && a[2] == 0x08 && a[3] == 0 && a[4] == 6 &&
                       a[5] == 4 && a[6] == 0 && a[7] == 1;
  if (!request) return e;
  const uint8_t* sender_mac = a + 8;
  const uint32_t sender = Be32(a + 14), target = Be32(a + 24);
  if (sender == 0 || sender == target) return e;  // probe, announcement: the host's own address
  const bool routed = target == kHost || (target >> 16) == (kPrefix >> 16);
  if (target == kLocal || target == 0 || !(target == kService || routed)) {
    if (target != kLocal && (target >> 16) == (kLocal >> 16)) e.miss = target;
    return e;
  }
  std::vector<uint8_t> r;
  r.insert(r.end(), sender_mac, sender_mac + 6);               // to the asker's ARP address
  r.insert(r.end(), kGateway, kGateway + 6);                   // from the gateway
  r.insert(r.end(), {0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2});  // ARP, Ethernet/IPv4, reply
  r.insert(r.end(), kGateway, kGateway + 6);                   // target_ip is at the gateway MAC
  r.insert(r.end(), a + 24, a + 28);
  r.insert(r.end(), sender_mac, sender_mac + 6);
  r.insert(r.end(), a + 14, a + 18);
  e.reply = r;
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ipop;
  const std::span<const uint8_t> frame(data, size);

  arp::Request req;
  const arp::ParseError err = arp::ParseRequest(frame, &req);
  if (err == arp::ParseError::kNone && size < arp::kFrameSize) __builtin_trap();

  shm::TableSpec spec;
  spec.local_vip = kLocal;
  spec.local_prefix_len = 16;
  spec.service_ip = kService;
  std::memcpy(spec.gateway_mac, kGateway, 6);
  shm::PeerEntry peer{};
  peer.flags = shm::kPeerValid;
  peer.vip = kHost;
  shm::PeerEntry dead{};
  dead.vip = kDeadHost;
  spec.peers = {peer, peer, dead};
  spec.routes = {{kHost, 32, 0}, {kPrefix, 16, 1}, {kDeadHost, 32, 2}, {kDeadPrefix, 24, 2}};

  cp::testing::FakePort port;
  cp::CpCounters counters;
  cp::ArpResponder responder(port, counters);
  responder.SetTable(spec);
  std::vector<uint32_t> misses;
  responder.SetMissHandler([&](uint32_t ip) { misses.push_back(ip); });
  responder.OnTapFrame(frame);

  const Expected want = Expect(data, size);
  if (want.reply) {
    if (port.frames.size() != 1 || port.frames[0] != *want.reply) __builtin_trap();
    // The reply parses as ARP but is not a request (no reply loops).
    arp::Request again;
    if (arp::ParseRequest(port.frames[0], &again) != arp::ParseError::kNotRequest) __builtin_trap();
  } else if (!port.frames.empty()) {
    __builtin_trap();
  }
  if (want.miss ? misses != std::vector<uint32_t>{*want.miss} : !misses.empty()) __builtin_trap();

  const uint64_t handled =
      counters.Get(cp::CpCounter::arp_answered) + counters.Get(cp::CpCounter::arp_ignored) +
      counters.Get(cp::CpCounter::arp_malformed) + counters.Get(cp::CpCounter::tap_not_arp);
  if (handled != 1) __builtin_trap();
  if (counters.Get(cp::CpCounter::arp_answered) != (want.reply ? 1u : 0u)) __builtin_trap();
  return 0;
}
