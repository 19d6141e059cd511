#include "controlplane/services/dns_forwarder.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "shared/byte_order.h"

namespace ipop::cp {
namespace {

constexpr uint16_t kFlagQr = 0x8000;
constexpr uint16_t kFlagTc = 0x0200;
// Largest UDP payload that fits one inject-ring slot with the frame around it, with room to spare.
constexpr size_t kMaxReplyLimit = 1472;
constexpr size_t kMaxMessage = 0xffff;  // a TCP message's length prefix bounds it

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::string ValidateDnsForwarderOptions(const DnsForwarderOptions& o) {
  if (o.responder_ip == 0) return "dns forwarder: responder address is not set";
  if (o.max_pending == 0 || o.max_pending > 4096)
    return "dns forwarder: max_pending must be 1..4096";
  if (o.attempt_timeout_ns == 0 || o.expiry_ns < o.attempt_timeout_ns)
    return "dns forwarder: attempt timeout must be positive and not above the expiry";
  if (o.tcp_timeout_ns == 0) return "dns forwarder: TCP timeout must be positive";
  if (o.max_reply_size < dns::kMaxUdpPayload || o.max_reply_size > kMaxReplyLimit)
    return "dns forwarder: max_reply_size must be 512..1472";
  return "";
}

DnsForwarder::DnsForwarder(Port& port, Clock& clock, RandomSource& random,
                           DnsUpstreamTransport& transport, DnsForwarderOptions options)
    : clock_(clock),
      random_(random),
      transport_(transport),
      opt_(std::move(options)),
      pending_(opt_.max_pending),
      writer_(port, opt_.gateway_mac, opt_.responder_ip),
      reply_(kMaxMessage) {}

void DnsForwarder::SetUpstreams(std::vector<Endpoint> upstreams) {
  upstreams_ = std::move(upstreams);
}

uint16_t DnsForwarder::FreshId() {
  // Random IDs make a blind spoof guess 1 in 65536 per reply (plus the random source port);
  // an ID in use is drawn again so every reply maps to one query.
  for (;;) {
    uint8_t b[2];
    random_.Fill(b);
    const uint16_t id = uint16_t(b[0] << 8 | b[1]);
    const bool taken = std::any_of(pending_.begin(), pending_.end(), [&](const Pending& p) {
      return p.in_use && p.upstream_id == id;
    });
    if (!taken) return id;
  }
}

QueryForwarder::Outcome DnsForwarder::Forward(const DnsClient& client, const dns::Query& query,
                                              std::span<const uint8_t> message) {
  if (upstreams_.empty()) {
    ++counters_.no_upstream;
    return Outcome::kRefused;
  }
  if (message.size() > kMaxQuerySize) {
    ++counters_.query_too_large;
    return Outcome::kServFail;
  }
  Pending* slot = nullptr;
  for (Pending& p : pending_) {
    if (!p.in_use) {
      if (slot == nullptr) slot = &p;
      continue;
    }
    if (SameClient(p.client, client) && p.client_id == query.id) {
      ++counters_.duplicates;  // our own retries cover it
      return Outcome::kDuplicate;
    }
  }
  if (slot == nullptr) {
    ++counters_.pending_full;
    return Outcome::kServFail;
  }
  Pending& p = *slot;
  p.in_use = true;
  ++used_;
  p.upstream_id = FreshId();
  p.client = client;
  p.client_id = query.id;
  p.query = query;
  std::memcpy(p.message.data(), message.data(), message.size());
  p.message_size = uint16_t(message.size());
  // ParseQuery accepted it: the question name starts right after the header, uncompressed.
  p.question_end = uint16_t(dns::kHeaderSize + query.question.name.size + 4);
  StoreBe16(p.message.data(), p.upstream_id);
  const uint64_t now = clock_.NowNs();
  p.expiry_ns = now + opt_.expiry_ns;
  p.next_upstream = 0;
  p.attempts = 0;
  p.tcp = false;
  ++counters_.queries;
  SendAttempt(p, now);
  return Outcome::kForwarded;
}

void DnsForwarder::SendAttempt(Pending& p, uint64_t now) {
  p.next_try_ns = now + opt_.attempt_timeout_ns;
  if (upstreams_.empty() || p.attempts >= kMaxAttempts) return;  // wait for expiry
  const Endpoint& to = upstreams_[p.next_upstream % upstreams_.size()];
  p.next_upstream = (p.next_upstream + 1) % upstreams_.size();
  p.sent_to[p.attempts++] = to;
  if (transport_.Send(to, {p.message.data(), p.message_size}))
    ++counters_.sent;
  else
    ++counters_.send_failed;
}

void DnsForwarder::Poll() {
  transport_.PollStreams(
      [this](uint16_t id, std::span<const uint8_t> reply) { OnStreamDone(id, reply); });
  const uint64_t now = clock_.NowNs();
  for (Pending& p : pending_) {
    if (!p.in_use) continue;
    if (now >= p.expiry_ns) {
      ++counters_.timeouts;
      if (p.tcp) transport_.CancelStream(p.upstream_id);
      ReplyServFail(p);
      Finish(p);
      continue;
    }
    if (!p.tcp && now >= p.next_try_ns) {
      ++counters_.retries;
      SendAttempt(p, now);
    }
  }
}

void DnsForwarder::ReplyServFail(const Pending& p) {
  dns::ResponseSpec spec;
  spec.id = p.client_id;
  spec.opcode = p.query.opcode;
  spec.recursion_desired = p.query.recursion_desired;
  spec.rcode = dns::Rcode::kServFail;
  spec.question = &p.query.question;
  spec.edns = p.query.has_edns;
  const size_t size = dns::BuildResponse(spec, reply_);
  if (size == 0 || writer_.Send(p.client, {reply_.data(), size}) == ReplyResult::kFailed)
    ++counters_.reply_failed;
}

void DnsForwarder::Finish(Pending& p) {
  p.in_use = false;
  --used_;
}

DnsForwarder::Pending* DnsForwarder::FindPending(uint16_t upstream_id) {
  for (Pending& p : pending_)
    if (p.in_use && p.upstream_id == upstream_id) return &p;
  return nullptr;
}

bool DnsForwarder::ValidReply(const Pending& p, std::span<const uint8_t> message) {
  if (message.size() < dns::kHeaderSize || (LoadBe16(&message[2]) & kFlagQr) == 0) {
    ++counters_.bad_reply_malformed;
    return false;
  }
  if (LoadBe16(&message[0]) != p.upstream_id) {
    ++counters_.bad_reply_unknown_id;
    return false;
  }
  // The question must come back byte for byte (case included: 0x20 randomisation by the client
  // survives, and an off-path guess must match it too).
  const size_t question_size = p.question_end - dns::kHeaderSize;
  if (LoadBe16(&message[4]) != 1 || message.size() < p.question_end ||
      std::memcmp(&message[dns::kHeaderSize], &p.message[dns::kHeaderSize], question_size) != 0) {
    ++counters_.bad_reply_question;
    return false;
  }
  return true;
}

void DnsForwarder::OnUpstreamReply(const Endpoint& from, std::span<const uint8_t> message) {
  if (message.size() < dns::kHeaderSize || (LoadBe16(&message[2]) & kFlagQr) == 0) {
    ++counters_.bad_reply_malformed;
    return;
  }
  Pending* match = FindPending(LoadBe16(&message[0]));
  if (match == nullptr) {
    ++counters_.bad_reply_unknown_id;
    return;
  }
  Pending& p = *match;
  if (std::none_of(p.sent_to.begin(), p.sent_to.begin() + ptrdiff_t(p.attempts),
                   [&](const Endpoint& e) { return e == from; })) {
    ++counters_.bad_reply_source;
    return;
  }
  if (!ValidReply(p, message)) return;
  const bool truncated = (LoadBe16(&message[2]) & kFlagTc) != 0;
  if (truncated && p.tcp) {
    ++counters_.tc_ignored;  // an earlier attempt's reply: the TCP exchange is under way
    return;
  }
  if (truncated) {
    // RFC 7766 5: the whole answer over TCP, from the upstream that said it has one. A UDP
    // client may still get it cut, but to its own size rather than to the upstream's guess.
    if (transport_.StartStream(p.upstream_id, from, {p.message.data(), p.message_size})) {
      ++counters_.tcp_retries;
      p.tcp = true;
      p.expiry_ns = clock_.NowNs() + opt_.tcp_timeout_ns;
      return;
    }
    ++counters_.tcp_unavailable;
  }
  if (p.tcp) transport_.CancelStream(p.upstream_id);  // a whole answer over UDP came first
  ReplyToClient(p, message);
  Finish(p);
}

void DnsForwarder::OnStreamDone(uint16_t id, std::span<const uint8_t> reply) {
  Pending* match = FindPending(id);
  if (match == nullptr || !match->tcp) return;  // answered or expired meanwhile
  Pending& p = *match;
  if (reply.empty() || !ValidReply(p, reply)) {
    ++counters_.tcp_failed;
    ReplyServFail(p);
  } else {
    ++counters_.tcp_answered;
    ReplyToClient(p, reply);
  }
  Finish(p);
}

void DnsForwarder::ReplyToClient(const Pending& p, std::span<const uint8_t> upstream_reply) {
  const size_t size = std::min(upstream_reply.size(), reply_.size());
  std::memcpy(reply_.data(), upstream_reply.data(), size);
  StoreBe16(reply_.data(), p.client_id);
  DnsClient client = p.client;
  client.udp_limit = uint16_t(std::min<size_t>(client.udp_limit, opt_.max_reply_size));
  switch (writer_.Send(client, {reply_.data(), size})) {
    case ReplyResult::kTruncated:
      ++counters_.truncated;
      [[fallthrough]];
    case ReplyResult::kSent:
      ++counters_.answered;
      break;
    case ReplyResult::kFailed:
      ++counters_.reply_failed;
      break;
  }
}

std::vector<Endpoint> ParseResolvConf(std::string_view text, uint32_t exclude_ip, size_t max) {
  std::vector<Endpoint> out;
  while (!text.empty() && out.size() < max) {
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    line = TrimSpace(line);
    constexpr std::string_view kKey = "nameserver";
    if (!line.starts_with(kKey) || line.size() == kKey.size() ||
        (line[kKey.size()] != ' ' && line[kKey.size()] != '\t'))
      continue;
    line = TrimSpace(line.substr(kKey.size()));
    line = line.substr(0, line.find_first_of(" \t#;"));
    const std::string addr(line);
    Endpoint e;
    e.port = dns::kPort;
    if (const auto v4 = ParseIpv4(addr)) {
      if (*v4 == exclude_ip) continue;
      e.addr[10] = e.addr[11] = 0xff;
      StoreBe32(&e.addr[12], *v4);
    } else if (inet_pton(AF_INET6, addr.c_str(), e.addr) != 1) {
      continue;  // link-local with %zone, or garbage
    }
    if (std::find(out.begin(), out.end(), e) == out.end()) out.push_back(e);
  }
  return out;
}

std::vector<Endpoint> ConfiguredUpstreams(const NodeConfig& cfg, const char* resolv_conf) {
  switch (cfg.dns_forward) {
    case NodeConfig::DnsForward::kRefuse:
      return {};
    case NodeConfig::DnsForward::kResolvConf: {
      std::ifstream in(resolv_conf);
      std::ostringstream text;
      text << in.rdbuf();
      return ParseResolvConf(text.str(), cfg.service_ip);
    }
    case NodeConfig::DnsForward::kServers:
      break;
  }
  std::vector<Endpoint> out;
  Endpoint self;
  self.addr[10] = self.addr[11] = 0xff;
  StoreBe32(&self.addr[12], cfg.service_ip);
  for (const Endpoint& e : cfg.dns_upstreams)
    if (!std::equal(e.addr, e.addr + 16, self.addr)) out.push_back(e);
  return out;
}

}  // namespace ipop::cp
