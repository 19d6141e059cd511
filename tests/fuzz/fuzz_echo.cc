// Fuzzes the ECHO payload (directory/overlay_echo.h) and the echo rules behind it.
// Input: byte 0 picks the delivery (bit 0: exact, else nearest; bits 1-2: the source is the node
// probed, another node, or this node; bits 3-7: hop count), the rest is the routed payload.
// Checks: a parsed payload encodes back to the same bytes; a responder answers at most once, only
// a well-formed request delivered exactly naming its VIP or none, with a reply that parses, echoes
// the id and goes back to the request's source; a prober with one probe outstanding (its id is
// fixed: the random source is constant) counts at most one answer, only a well-formed reply from
// the node it asked for the VIP it expected, and then has nothing outstanding.
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "controlplane/directory/overlay_echo.h"

namespace {

using namespace ipop::cp;

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

class ZeroClock final : public Clock {
 public:
  uint64_t NowNs() const override { return 1'000'000'000ull; }
  uint64_t WallNs() const override { return 1'000'000'000ull; }
};

class ConstantRandom final : public RandomSource {
 public:
  void Fill(std::span<uint8_t> out) override { std::memset(out.data(), 0x5a, out.size()); }
};

overlay::RingAddress Addr(uint8_t fill) {
  std::array<uint8_t, 20> a;
  a.fill(fill);
  return overlay::RingAddress::FromBytes(a);
}

constexpr uint32_t kSelfVip = 0x0a4d0001, kPeerVip = 0x0a4d0003;
constexpr uint64_t kProbeId = 0x5a5a5a5a5a5a5a5aull;

struct Sent {
  overlay::RingAddress to;
  std::vector<uint8_t> payload;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::span<const uint8_t> payload(data + 1, size - 1);
  EchoMessage m;
  const EchoError e = ParseEcho(payload, &m);
  if (e == EchoError::kNone) {
    std::vector<uint8_t> again(kEchoFixedSize + kEchoMaxName);
    again.resize(EncodeEcho(m, again));
    Require(again.size() == payload.size() &&
            std::memcmp(again.data(), payload.data(), again.size()) == 0);
  }

  ZeroClock clock;
  ConstantRandom random;
  std::vector<Sent> sent;
  OverlayEcho echo(
      {}, clock, random,
      [&](const overlay::RingAddress& to, std::span<const uint8_t> p) {
        sent.push_back({to, {p.begin(), p.end()}});
        return true;
      },
      [](const overlay::RingAddress& to) { return to; },
      [] { return std::pair<uint32_t, std::string>(kSelfVip, "n1"); });
  const overlay::RingAddress probed = Addr(0x33);
  bool done = false;
  EchoSeries result;
  Require(echo.StartSeries(probed, kPeerVip, 1, 0, [&](const EchoSeries& s) {
    done = true;
    result = s;
  }));
  Require(sent.size() == 1 && echo.outstanding() == 1);
  sent.clear();

  overlay::Routed r;
  const uint8_t sel = data[0];
  const bool exact = (sel & 1) != 0;
  r.mode = exact ? overlay::DeliveryMode::kExact : overlay::DeliveryMode::kNearest;
  const uint8_t who = (sel >> 1) & 3;
  r.source = who == 0 ? probed : who == 1 ? Addr(0x44) : Addr(0x11);
  r.hops = sel >> 3;
  r.payload_type = kPayloadEcho;
  r.payload = payload;
  echo.OnDelivered(r);

  const OverlayEchoCounters& c = echo.counters();
  const bool valid = e == EchoError::kNone && exact;
  const bool request = valid && m.kind == EchoKind::kRequest;
  const bool reply = valid && m.kind == EchoKind::kReply;
  // The responder.
  if (request && (m.vip == 0 || m.vip == kSelfVip)) {
    Require(sent.size() == 1 && c.replies_sent == 1);
    EchoMessage out;
    Require(ParseEcho(sent[0].payload, &out) == EchoError::kNone);
    Require(out.kind == EchoKind::kReply && out.id == m.id && out.vip == kSelfVip &&
            out.request_hops == r.hops && sent[0].to == r.source);
  } else {
    Require(sent.empty() && c.replies_sent == 0);
  }
  // The prober.
  const bool answer = reply && m.id == kProbeId && r.source == probed && m.vip == kPeerVip;
  Require(c.replies_received == (answer ? 1u : 0u));
  Require(done == answer && echo.outstanding() == (answer ? 0u : 1u));
  if (answer) Require(result.probes.size() == 1 && result.probes[0].answered);
  return 0;
}
