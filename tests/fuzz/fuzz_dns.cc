// Fuzzes the DNS codec and the responder. The first byte picks how the rest is used: as a whole
// TAP frame, or as a DNS message wrapped in a valid UDP frame to the responder (which reaches the
// parser far more often). Checks: a parsed query round-trips through the builder; the responder
// sends at most one reply per query, from the responder to the querier, that decodes as a
// response with the query's id; lookups finish (answered, late, or timed out) without leaks.
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <vector>

#include "controlplane/services/dns.h"
#include "controlplane/services/dns_responder.h"
#include "controlplane/services/udp_frame.h"
#include "tests/unit/cp_fakes.h"

namespace {

using namespace ipop;

class FuzzNames final : public cp::NameSource {
 public:
  void Lookup(const std::string& name, std::function<void(std::optional<uint32_t>)> done) override {
    dns::Name parsed;
    // Names handed out are plain dotted text that converts back to themselves.
    if (name.empty() || !dns::NameFromText(name, &parsed) || dns::NameToText(parsed) != name)
      __builtin_trap();
    if (sync)
      done(name.size() % 2 ? std::optional<uint32_t>(0x0afa0909) : std::nullopt);
    else
      waiting.push_back(std::move(done));
  }
  bool sync = true;
  std::vector<std::function<void(std::optional<uint32_t>)>> waiting;
};

void CheckCodec(std::span<const uint8_t> msg) {
  dns::Query q;
  if (dns::ParseQuery(msg, &q) == dns::ParseError::kNone) {
    if (q.question.name.size == 0 || q.question.name.size > dns::kMaxNameSize) __builtin_trap();
    dns::Record a;
    a.type = dns::kTypePtr;
    a.ptr = &q.question.name;
    dns::ResponseSpec spec;
    spec.id = q.id;
    spec.question = &q.question;
    spec.answers = {&a, 1};
    spec.edns = q.has_edns;
    uint8_t buf[1024];
    const size_t n = dns::BuildResponse(spec, buf);
    if (n == 0) __builtin_trap();  // 12 + 259 + 267 + 11 always fits
    dns::Response r;
    if (dns::ParseResponse({buf, n}, &r) != dns::ParseError::kNone) __builtin_trap();
    if (r.id != q.id || !dns::NameEquals(r.question.name, q.question.name) ||
        !dns::NameEquals(r.answers[0].ptr, q.question.name) ||
        !dns::NameEquals(r.answers[0].owner, q.question.name) || r.has_edns != q.has_edns)
      __builtin_trap();
  }
  dns::Response r;
  (void)dns::ParseResponse(msg, &r);
  dns::Name name;
  size_t end = 0;
  for (size_t off = 0; off < msg.size() && off < 64; ++off)
    if (dns::ReadName(msg, off, &name, &end) == dns::ParseError::kNone &&
        (end <= off || end > msg.size() || name.size == 0))
      __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using cp::testing::Ip;
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::span<const uint8_t> rest(data + 1, size - 1);

  const uint8_t gw[6] = {0x02, 0x49, 0x50, 0, 0, 1};
  const uint8_t host[6] = {0x02, 0, 0, 0, 0, 2};
  cp::DnsOptions opt;
  opt.responder_ip = Ip(10, 250, 0, 1);
  std::memcpy(opt.gateway_mac, gw, 6);
  opt.network = (mode & 2) ? "alpha" : "";
  opt.range_base = Ip(10, 250, 0, 0);
  opt.range_prefix_len = 16;
  opt.max_pending = 2;
  if (!cp::ValidateDnsOptions(opt).empty()) __builtin_trap();

  cp::testing::FakePort port;
  cp::testing::FakeClock clock;
  FuzzNames names;
  names.sync = (mode & 4) == 0;
  cp::DnsResponder responder(port, clock, &names, opt);

  std::vector<uint8_t> frame;
  if (mode & 1) {
    CheckCodec(rest);
    frame.resize(2048);
    frame.resize(
        udp::BuildFrame({host, Ip(10, 250, 0, 2), 5353}, {gw, opt.responder_ip, 53}, rest, frame));
    if (frame.empty()) return 0;
  } else {
    frame.assign(rest.begin(), rest.end());
  }
  udp::FrameView in;
  const bool parsed = udp::ParseFrame(frame, &in) == udp::FrameError::kNone;
  if (parsed) CheckCodec(in.payload);

  // The same datagram twice: the second is a retransmission while a lookup may be in flight.
  const bool ours = responder.OnTapFrame(frame);
  if (ours != responder.OnTapFrame(frame)) __builtin_trap();
  if (ours && (!parsed || in.dst_ip != opt.responder_ip || in.dst_port != 53)) __builtin_trap();
  for (auto& done : names.waiting) done(0x0afa0808);
  for (auto& done : names.waiting) done(std::nullopt);  // late: ignored
  clock.AdvanceMs(5000);
  responder.Poll();
  if (responder.pending() != 0) __builtin_trap();

  if (!ours && !port.frames.empty()) __builtin_trap();
  if (port.frames.size() > 2) __builtin_trap();
  dns::Query q;
  const dns::ParseError qerr = parsed ? dns::ParseQuery(in.payload, &q) : dns::ParseError::kNone;
  for (const std::vector<uint8_t>& out : port.frames) {
    udp::FrameView v;
    if (udp::ParseFrame(out, &v) != udp::FrameError::kNone) __builtin_trap();
    if (std::memcmp(v.src_mac, gw, 6) != 0 || v.src_ip != opt.responder_ip || v.src_port != 53 ||
        v.dst_ip != in.src_ip || v.dst_port != in.src_port ||
        std::memcmp(v.dst_mac, in.src_mac, 6) != 0)
      __builtin_trap();
    if (v.payload.size() > dns::kMaxUdpPayload) __builtin_trap();
    dns::Response r;
    if (dns::ParseResponse(v.payload, &r) != dns::ParseError::kNone) __builtin_trap();
    if (qerr == dns::ParseError::kTooShort || qerr == dns::ParseError::kNotQuery) __builtin_trap();
    // One answer, or two for ANY at the zone apex (its SOA and NS).
    if (r.id != q.id || r.recursion_available || r.answer_count > 2 ||
        (r.answer_count == 2 && q.question.type != dns::kTypeAny))
      __builtin_trap();
    if (qerr == dns::ParseError::kNone &&
        (r.question_count != 1 || !dns::NameEquals(r.question.name, q.question.name)))
      __builtin_trap();
    if (r.answer_count == 1 && (r.rcode != dns::Rcode::kNoError || !r.authoritative))
      __builtin_trap();
  }
  const cp::DnsCounters& c = responder.counters();
  if (c.replies_sent != port.frames.size()) __builtin_trap();
  const uint64_t outcomes = c.answered + c.nodata + c.nxdomain + c.refused + c.formerr + c.notimp +
                            c.lookup_timeouts + c.pending_full + c.dropped_too_short +
                            c.dropped_response + c.dropped_duplicate;
  if (outcomes != c.queries) __builtin_trap();
  return 0;
}
