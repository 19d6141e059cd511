#include "controlplane/directory/overlay_echo.h"

#include <cstring>

#include "shared/byte_order.h"

namespace ipop::cp {
namespace {

bool NameByte(uint8_t c) {
  return c > 0x20 && c < 0x7f;
}

}  // namespace

const char* EchoErrorName(EchoError e) {
  switch (e) {
    case EchoError::kNone:
      return "none";
    case EchoError::kTooShort:
      return "too_short";
    case EchoError::kBadKind:
      return "bad_kind";
    case EchoError::kBadReserved:
      return "bad_reserved";
    case EchoError::kNameTooLong:
      return "name_too_long";
    case EchoError::kBadName:
      return "bad_name";
    case EchoError::kLengthMismatch:
      return "length_mismatch";
  }
  return "unknown";
}

size_t EncodeEcho(const EchoMessage& m, std::span<uint8_t> out) {
  const bool request = m.kind == EchoKind::kRequest;
  if (m.kind != EchoKind::kRequest && m.kind != EchoKind::kReply) return 0;
  if (m.name.size() > kEchoMaxName) return 0;
  if (request && (!m.name.empty() || m.request_hops != 0)) return 0;
  for (char c : m.name)
    if (!NameByte(uint8_t(c))) return 0;
  const size_t size = kEchoFixedSize + m.name.size();
  if (out.size() < size) return 0;
  uint8_t* p = out.data();
  p[0] = uint8_t(m.kind);
  p[1] = m.request_hops;
  p[2] = uint8_t(m.name.size());
  p[3] = 0;
  StoreBe32(p + 4, m.vip);
  StoreBe64(p + 8, m.id);
  m.first_hop.ToBytes(std::span<uint8_t, overlay::RingAddress::kBytes>(p + 16, 20));
  if (!m.name.empty()) std::memcpy(p + kEchoFixedSize, m.name.data(), m.name.size());
  return size;
}

EchoError ParseEcho(std::span<const uint8_t> payload, EchoMessage* out) {
  if (payload.size() < kEchoFixedSize) return EchoError::kTooShort;
  const uint8_t* p = payload.data();
  if (p[0] != uint8_t(EchoKind::kRequest) && p[0] != uint8_t(EchoKind::kReply))
    return EchoError::kBadKind;
  const auto kind = EchoKind(p[0]);
  const size_t name_len = p[2];
  if (p[3] != 0) return EchoError::kBadReserved;
  if (kind == EchoKind::kRequest && (p[1] != 0 || name_len != 0)) return EchoError::kBadReserved;
  if (name_len > kEchoMaxName) return EchoError::kNameTooLong;
  if (payload.size() != kEchoFixedSize + name_len) return EchoError::kLengthMismatch;
  for (size_t i = 0; i < name_len; ++i)
    if (!NameByte(p[kEchoFixedSize + i])) return EchoError::kBadName;
  out->kind = kind;
  out->request_hops = p[1];
  out->vip = LoadBe32(p + 4);
  out->id = LoadBe64(p + 8);
  out->first_hop =
      overlay::RingAddress::FromBytes(payload.subspan<16, overlay::RingAddress::kBytes>());
  out->name.assign(reinterpret_cast<const char*>(p + kEchoFixedSize), name_len);
  return EchoError::kNone;
}

OverlayEcho::OverlayEcho(const OverlayEchoOptions& options, const Clock& clock,
                         RandomSource& random, SendFn send, NextHopFn next_hop, SelfFn self)
    : options_(options),
      clock_(clock),
      random_(random),
      send_(std::move(send)),
      next_hop_(std::move(next_hop)),
      self_(std::move(self)),
      reply_bucket_(options.reply_per_second, options.reply_burst) {}

bool OverlayEcho::StartSeries(const overlay::RingAddress& node, uint32_t vip, uint32_t count,
                              uint64_t interval_ns, SeriesFn done) {
  if (series_.size() >= options_.max_series || count == 0) return false;
  const uint64_t id = next_series_++;
  Series& s = series_[id];
  s.result.node = node;
  s.result.vip = vip;
  s.count = count;
  s.interval_ns = interval_ns;
  s.next_send_ns = clock_.NowNs();
  s.done = std::move(done);
  Tick();
  return true;
}

void OverlayEcho::SendProbe(uint64_t series_id, Series& s) {
  EchoResult& res = s.result.probes.emplace_back();
  res.seq = uint32_t(s.result.probes.size());
  if (outstanding_.size() >= options_.max_outstanding) {
    ++counters_.probes_refused;
    return;
  }
  EchoMessage m;
  m.kind = EchoKind::kRequest;
  m.vip = s.result.vip;
  do {
    uint8_t b[8];
    random_.Fill(b);
    m.id = LoadBe64(b);
  } while (m.id == 0 || outstanding_.count(m.id) != 0);
  m.first_hop = next_hop_(s.result.node);
  uint8_t buf[kEchoFixedSize + kEchoMaxName];
  const size_t n = EncodeEcho(m, buf);
  if (n == 0 || !send_(s.result.node, {buf, n})) {
    ++counters_.probes_unroutable;
    return;
  }
  ++counters_.probes_sent;
  res.sent = true;
  res.first_hop_there = m.first_hop;
  outstanding_[m.id] = {series_id, s.result.probes.size() - 1, s.result.node, s.result.vip,
                        clock_.NowNs()};
  ++s.waiting;
}

void OverlayEcho::OnDelivered(const overlay::Routed& r) {
  EchoMessage m;
  const EchoError e = ParseEcho(r.payload, &m);
  if (e != EchoError::kNone) {
    ++counters_.parse_errors[size_t(e)];
    return;
  }
  // Only exact delivery: a nearest-mode message could reach a node that was not asked.
  if (r.mode != overlay::DeliveryMode::kExact) {
    ++counters_.bad_messages;
    return;
  }
  if (m.kind == EchoKind::kRequest)
    OnRequest(r, m);
  else
    OnReply(r, m);
}

void OverlayEcho::OnRequest(const overlay::Routed& r, const EchoMessage& m) {
  ++counters_.requests_received;
  const auto [vip, name] = self_();
  if (m.vip != 0 && m.vip != vip) {
    ++counters_.requests_wrong_vip;
    return;
  }
  if (!reply_bucket_.Take(clock_.NowNs())) {
    ++counters_.requests_rate_limited;
    return;
  }
  EchoMessage reply;
  reply.kind = EchoKind::kReply;
  reply.request_hops = r.hops;
  reply.vip = vip;
  reply.id = m.id;
  reply.first_hop = next_hop_(r.source);
  reply.name = name.size() <= kEchoMaxName ? name : std::string();
  uint8_t buf[kEchoFixedSize + kEchoMaxName];
  const size_t n = EncodeEcho(reply, buf);
  if (n != 0 && send_(r.source, {buf, n})) ++counters_.replies_sent;
}

void OverlayEcho::OnReply(const overlay::Routed& r, const EchoMessage& m) {
  auto it = outstanding_.find(m.id);
  // From the node the probe went to, for the VIP it expected: anything else is not its answer.
  if (it == outstanding_.end() || it->second.node != r.source ||
      (it->second.vip != 0 && it->second.vip != m.vip)) {
    ++counters_.replies_unmatched;
    return;
  }
  ++counters_.replies_received;
  const Outstanding o = it->second;
  outstanding_.erase(it);
  auto s = series_.find(o.series);
  if (s == series_.end()) return;
  EchoResult& res = s->second.result.probes[o.index];
  res.answered = true;
  res.rtt_ns = clock_.NowNs() - o.sent_ns;
  res.hops_there = m.request_hops;
  res.hops_back = r.hops;
  res.first_hop_back = m.first_hop;
  res.vip = m.vip;
  res.name = m.name;
  --s->second.waiting;
  Settle(o.series);
}

void OverlayEcho::Settle(uint64_t series_id) {
  auto it = series_.find(series_id);
  if (it == series_.end()) return;
  Series& s = it->second;
  if (s.result.probes.size() < s.count || s.waiting != 0) return;
  SeriesFn done = std::move(s.done);
  const EchoSeries result = std::move(s.result);
  series_.erase(it);
  if (done) done(result);
}

void OverlayEcho::Tick() {
  const uint64_t now = clock_.NowNs();
  std::vector<uint64_t> settle;
  for (auto it = outstanding_.begin(); it != outstanding_.end();) {
    if (now - it->second.sent_ns < options_.timeout_ns) {
      ++it;
      continue;
    }
    ++counters_.probes_timed_out;
    if (auto s = series_.find(it->second.series); s != series_.end()) {
      --s->second.waiting;
      settle.push_back(it->second.series);
    }
    it = outstanding_.erase(it);
  }
  for (auto& [id, s] : series_) {
    while (s.result.probes.size() < s.count && now >= s.next_send_ns) {
      SendProbe(id, s);
      s.next_send_ns += s.interval_ns;
    }
    if (s.result.probes.size() >= s.count && s.waiting == 0) settle.push_back(id);
  }
  for (uint64_t id : settle) Settle(id);
}

}  // namespace ipop::cp
