#include "controlplane/services/dns_responder.h"

#include <cstdio>
#include <cstring>
#include <utility>

#include "controlplane/services/udp_frame.h"

namespace ipop::cp {
namespace {

// The largest answer the responder builds: a question, the SOA and the NS of a 255-byte zone
// name with EDNS take about 1.1 kB.
constexpr size_t kMaxAnswer = 2048;

bool IsHostLabel(std::string_view label) {
  if (label.empty() || label.size() > dns::kMaxLabelSize) return false;
  for (char c : label) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string Lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

// Decimal octet as in-addr.arpa writes it: 0-255 without leading zeros.
std::optional<uint32_t> ParseOctet(std::string_view s) {
  if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + uint32_t(c - '0');
  }
  if (v > 255) return std::nullopt;
  return v;
}

bool Answers(uint16_t qtype, uint16_t record_type) {
  return qtype == record_type || qtype == dns::kTypeAny;
}

}  // namespace

std::string ValidateDnsOptions(const DnsOptions& o) {
  if (o.responder_ip == 0) return "dns: responder address is not set";
  dns::Name suffix;
  if (!dns::NameFromText(o.suffix, &suffix) || suffix.labels == 0)
    return "dns: suffix '" + o.suffix + "' is not a domain name";
  for (size_t i = 0; i < suffix.labels; ++i)
    if (!IsHostLabel(dns::Label(suffix, i)))
      return "dns: suffix '" + o.suffix + "' has a label that is not letters, digits, '-' or '_'";
  if (size_t{suffix.size} + 11 > dns::kMaxNameSize)
    return "dns: suffix '" + o.suffix + "' leaves no room for C-names (255-byte names)";
  if (!o.network.empty() && !IsHostLabel(o.network))
    return "dns: network name '" + o.network + "' is not a single DNS label";
  if (o.range_prefix_len < 8 || o.range_prefix_len > 32)
    return "dns: the address range must be /8 or longer (C-names leave out the first octet)";
  if (o.max_pending == 0) return "dns: max_pending must be at least 1";
  if (o.lookup_timeout_ns == 0) return "dns: lookup timeout must be positive";
  if (o.max_udp_reply < dns::kMaxUdpPayload || o.max_udp_reply > 1472)
    return "dns: max_udp_reply must be 512..1472";
  return "";
}

DnsResponder::DnsResponder(Port& port, Clock& clock, NameSource* names, DnsOptions options)
    : clock_(clock),
      names_(names),
      opt_(std::move(options)),
      writer_(port, opt_.gateway_mac, opt_.responder_ip),
      self_(std::make_shared<DnsResponder*>(this)) {
  opt_.suffix = Lowered(opt_.suffix);
  dns::NameFromText(opt_.suffix, &suffix_);
  pending_.reserve(opt_.max_pending);
  // The zone's server is the responder itself, named by its C-name so the NS target resolves.
  char label[16];
  const uint32_t ip = opt_.responder_ip;
  std::snprintf(label, sizeof(label), "C%03u%03u%03u", (ip >> 16) & 0xff, (ip >> 8) & 0xff,
                ip & 0xff);
  if (!InRange(ip) || !dns::NameFromText(std::string(label) + "." + opt_.suffix, &soa_.mname))
    soa_.mname = suffix_;
  if (!dns::NameFromText("hostmaster." + opt_.suffix, &soa_.rname)) soa_.rname = suffix_;
  soa_.minimum = opt_.negative_ttl_s;
  soa_record_.type = dns::kTypeSoa;
  soa_record_.ttl = opt_.negative_ttl_s;
  soa_record_.soa = &soa_;
  soa_record_.owner = &suffix_;
  ns_record_.type = dns::kTypeNs;
  ns_record_.ttl = opt_.ttl_s;
  ns_record_.ptr = &soa_.mname;
  ns_record_.owner = &suffix_;
}

bool DnsResponder::InRange(uint32_t ip) const {
  const uint32_t mask =
      opt_.range_prefix_len == 0 ? 0 : ~uint32_t{0} << (32 - opt_.range_prefix_len);
  return (ip & mask) == (opt_.range_base & mask);
}

std::optional<uint32_t> DnsResponder::ParseCName(std::string_view label) const {
  if (label.size() != 10 || (label[0] != 'C' && label[0] != 'c')) return std::nullopt;
  uint32_t ip = opt_.range_base & 0xff000000u;
  for (size_t group = 0; group < 3; ++group) {
    uint32_t v = 0;
    for (size_t i = 0; i < 3; ++i) {
      const char c = label[1 + 3 * group + i];
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + uint32_t(c - '0');
    }
    if (v > 255) return std::nullopt;
    ip |= v << (16 - 8 * group);
  }
  return ip;
}

bool DnsResponder::OnTapFrame(std::span<const uint8_t> frame) {
  udp::FrameView v;
  if (udp::ParseFrame(frame, &v) != udp::FrameError::kNone || v.dst_ip != opt_.responder_ip ||
      v.dst_port != dns::kPort) {
    ++counters_.not_addressed;
    return false;
  }
  Client client;
  std::memcpy(client.mac, v.src_mac, sizeof(client.mac));
  client.ip = v.src_ip;
  client.port = v.src_port;
  OnQuery(client, v.payload);
  return true;
}

bool DnsResponder::OnQuery(const DnsClient& from, std::span<const uint8_t> message) {
  ++counters_.queries;
  Client client = from;
  dns::Query query;
  const dns::ParseError err = dns::ParseQuery(message, &query);
  if (err != dns::ParseError::kNone) ++counters_.parse_errors[size_t(err)];
  // Errors are answered without a question or OPT, which always fits 512 bytes.
  client.edns = err == dns::ParseError::kNone && query.has_edns;
  client.udp_limit =
      uint16_t(err == dns::ParseError::kNone ? dns::UdpReplyLimit(query, opt_.max_udp_reply)
                                             : dns::kMaxUdpPayload);
  switch (err) {
    case dns::ParseError::kNone:
      return Answer(client, query, message);
    case dns::ParseError::kTooShort:
      ++counters_.dropped_too_short;
      return false;
    case dns::ParseError::kNotQuery:
      ++counters_.dropped_response;
      return false;
    case dns::ParseError::kBadOpcode:
      Reply(client, query, dns::Rcode::kNotImp, false, {}, false);
      return true;
    default:
      Reply(client, query, dns::Rcode::kFormErr, false, {}, false);
      return true;
  }
}

bool DnsResponder::Answer(const Client& client, const dns::Query& query,
                          std::span<const uint8_t> message) {
  const dns::Question& q = query.question;
  if (q.klass != dns::kClassIn && q.klass != dns::kClassAny) {
    Reply(client, query, dns::Rcode::kRefused, false, {});
    return true;
  }
  const size_t n = q.name.labels;
  const size_t m = suffix_.labels;
  bool in_zone = n >= m;
  for (size_t i = 0; in_zone && i < m; ++i)
    in_zone = dns::LabelEquals(dns::Label(q.name, n - m + i), dns::Label(suffix_, i));

  if (in_zone) {
    const size_t own = n - m;  // labels left of the suffix
    if (own == 1) {
      const std::string_view label = dns::Label(q.name, 0);
      if (const std::optional<uint32_t> ip = ParseCName(label); ip && InRange(*ip)) {
        ReplyAddress(client, query, *ip);
        return true;
      }
      if (!opt_.network.empty() && dns::LabelEquals(label, opt_.network)) {
        ReplyAddress(client, query, std::nullopt);  // exists (holds the hosts): NODATA
        return true;
      }
    }
    if (own == 0) {
      AnswerApex(client, query);
      return true;
    }
    if (own == 2 && names_ != nullptr) {
      const std::string_view host = dns::Label(q.name, 0);
      const std::string_view network = dns::Label(q.name, 1);
      if (IsHostLabel(host) && IsHostLabel(network) &&
          (opt_.network.empty() || dns::LabelEquals(network, opt_.network))) {
        return StartLookup(client, query, Lowered(dns::NameToText(q.name)));
      }
    }
    ReplyNegative(client, query, dns::Rcode::kNxDomain);
    return true;
  }

  // <d>.<c>.<b>.<a>.in-addr.arpa
  if (n == 6 && dns::LabelEquals(dns::Label(q.name, 4), "in-addr") &&
      dns::LabelEquals(dns::Label(q.name, 5), "arpa")) {
    uint32_t ip = 0;
    bool ok = true;
    for (size_t i = 0; ok && i < 4; ++i) {
      const std::optional<uint32_t> octet = ParseOctet(dns::Label(q.name, i));
      ok = octet.has_value();
      if (ok) ip |= *octet << (8 * i);
    }
    if (ok && InRange(ip)) {
      if (!Answers(q.type, dns::kTypePtr)) {
        Reply(client, query, dns::Rcode::kNoError, true, {});
        return true;
      }
      char label[16];
      std::snprintf(label, sizeof(label), "C%03u%03u%03u", (ip >> 16) & 0xff, (ip >> 8) & 0xff,
                    ip & 0xff);
      dns::Name target;
      if (!dns::NameFromText(std::string(label) + "." + opt_.suffix, &target)) {
        ++counters_.reply_failed;
        return false;
      }
      dns::Record r;
      r.type = dns::kTypePtr;
      r.ttl = opt_.ttl_s;
      r.ptr = &target;
      Reply(client, query, dns::Rcode::kNoError, true, {&r, 1});
      return true;
    }
  }
  return AnswerOutsideZone(client, query, message);
}

bool DnsResponder::AnswerOutsideZone(const Client& client, const dns::Query& query,
                                     std::span<const uint8_t> message) {
  if (forwarder_ != nullptr) {
    switch (forwarder_->Forward(client, query, message)) {
      case QueryForwarder::Outcome::kForwarded:
        ++counters_.forwarded;
        return true;
      case QueryForwarder::Outcome::kDuplicate:
        return false;
      case QueryForwarder::Outcome::kServFail:
        ++counters_.forward_refused;
        Reply(client, query, dns::Rcode::kServFail, false, {});
        return true;
      case QueryForwarder::Outcome::kRefused:
        break;
    }
  }
  Reply(client, query, dns::Rcode::kRefused, false, {});
  return true;
}

void DnsResponder::ReplyAddress(const Client& client, const dns::Query& query,
                                std::optional<uint32_t> ipv4) {
  if (!ipv4) {  // the name exists but holds no address (the network's own node)
    ReplyNegative(client, query, dns::Rcode::kNoError);
    return;
  }
  if (!Answers(query.question.type, dns::kTypeA)) {
    ReplyNegative(client, query, dns::Rcode::kNoError);
    return;
  }
  dns::Record r;
  r.type = dns::kTypeA;
  r.ttl = opt_.ttl_s;
  r.ipv4 = *ipv4;
  Reply(client, query, dns::Rcode::kNoError, true, {&r, 1});
}

bool DnsResponder::StartLookup(const Client& client, const dns::Query& query, std::string name) {
  for (const Pending& p : pending_) {
    if (SameClient(p.client, client) && p.query.id == query.id) {
      ++counters_.dropped_duplicate;
      return false;
    }
  }
  if (pending_.size() >= opt_.max_pending) {
    ++counters_.pending_full;
    Reply(client, query, dns::Rcode::kServFail, false, {});
    return true;
  }
  const uint64_t seq = next_seq_++;
  pending_.push_back({seq, clock_.NowNs() + opt_.lookup_timeout_ns, client, query});
  ++counters_.lookups;
  std::weak_ptr<DnsResponder*> weak = self_;
  names_->Lookup(name, [weak, seq](std::optional<uint32_t> ipv4) {
    if (std::shared_ptr<DnsResponder*> self = weak.lock()) (*self)->OnLookupDone(seq, ipv4);
  });
  return true;
}

void DnsResponder::OnLookupDone(uint64_t seq, std::optional<uint32_t> ipv4) {
  for (size_t i = 0; i < pending_.size(); ++i) {
    if (pending_[i].seq != seq) continue;
    const Pending p = pending_[i];
    pending_.erase(pending_.begin() + ptrdiff_t(i));
    if (ipv4)
      ReplyAddress(p.client, p.query, ipv4);
    else
      ReplyNegative(p.client, p.query, dns::Rcode::kNxDomain);
    return;
  }
  ++counters_.lookups_late;
}

void DnsResponder::Poll() {
  const uint64_t now = clock_.NowNs();
  for (size_t i = 0; i < pending_.size();) {
    if (pending_[i].deadline_ns > now) {
      ++i;
      continue;
    }
    const Pending p = pending_[i];
    pending_.erase(pending_.begin() + ptrdiff_t(i));
    ++counters_.lookup_timeouts;
    Reply(p.client, p.query, dns::Rcode::kServFail, false, {});
  }
}

void DnsResponder::AnswerApex(const Client& client, const dns::Query& query) {
  const uint16_t type = query.question.type;
  dns::Record records[2];
  size_t n = 0;
  if (type == dns::kTypeSoa || type == dns::kTypeAny) records[n++] = soa_record_;
  if (type == dns::kTypeNs || type == dns::kTypeAny) records[n++] = ns_record_;
  if (n == 0) {
    ReplyNegative(client, query, dns::Rcode::kNoError);
    return;
  }
  Reply(client, query, dns::Rcode::kNoError, true, {records, n});
}

void DnsResponder::ReplyNegative(const Client& client, const dns::Query& query, dns::Rcode rcode) {
  Reply(client, query, rcode, true, {}, true, {&soa_record_, 1});
}

void DnsResponder::Reply(const Client& client, const dns::Query& query, dns::Rcode rcode,
                         bool authoritative, std::span<const dns::Record> answers,
                         bool with_question, std::span<const dns::Record> authority) {
  switch (rcode) {
    case dns::Rcode::kNoError:
      ++(answers.empty() ? counters_.nodata : counters_.answered);
      break;
    case dns::Rcode::kNxDomain:
      ++counters_.nxdomain;
      break;
    case dns::Rcode::kRefused:
      ++counters_.refused;
      break;
    case dns::Rcode::kFormErr:
      ++counters_.formerr;
      break;
    case dns::Rcode::kNotImp:
      ++counters_.notimp;
      break;
    case dns::Rcode::kServFail:
      break;  // counted by the caller (timeout or pending full)
  }
  dns::ResponseSpec spec;
  spec.id = query.id;
  spec.opcode = query.opcode;
  spec.recursion_desired = query.recursion_desired;
  spec.authoritative = authoritative;
  spec.rcode = rcode;
  spec.question = with_question ? &query.question : nullptr;
  spec.answers = answers;
  spec.authority = authority;
  spec.edns = with_question && query.has_edns;
  uint8_t message[kMaxAnswer];
  const size_t size = dns::BuildResponse(spec, message);
  switch (size == 0 ? ReplyResult::kFailed : writer_.Send(client, {message, size})) {
    case ReplyResult::kTruncated:
      ++counters_.truncated;
      [[fallthrough]];
    case ReplyResult::kSent:
      ++counters_.replies_sent;
      break;
    case ReplyResult::kFailed:
      ++counters_.reply_failed;
      break;
  }
}

}  // namespace ipop::cp
