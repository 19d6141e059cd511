#include "controlplane/services/dns_reply.h"

#include <algorithm>
#include <cstring>

#include "controlplane/services/udp_frame.h"

namespace ipop::cp {
namespace {

// The largest UDP payload written to the TAP whatever a client advertises: one inject-ring slot
// with the frame around it, with room to spare (the callers cap lower, by the TAP MTU).
constexpr size_t kMaxUdpReply = 1472;

}  // namespace

bool SameClient(const DnsClient& a, const DnsClient& b) {
  return a.transport == b.transport && a.ip == b.ip && a.port == b.port &&
         a.connection == b.connection;
}

DnsReplyWriter::DnsReplyWriter(Port& port, const uint8_t (&gateway_mac)[6], uint32_t responder_ip)
    : port_(port), responder_ip_(responder_ip), frame_(udp::kFrameOverhead + kMaxUdpReply) {
  std::memcpy(gateway_mac_, gateway_mac, sizeof(gateway_mac_));
}

ReplyResult DnsReplyWriter::Send(const DnsClient& client, std::span<const uint8_t> message) {
  if (client.transport == DnsTransport::kTcp) {
    if (streams_ == nullptr || message.size() > 0xffff) return ReplyResult::kFailed;
    return streams_->SendMessage(client.connection, message) ? ReplyResult::kSent
                                                             : ReplyResult::kFailed;
  }
  ReplyResult result = ReplyResult::kSent;
  uint8_t cut[dns::kMaxTruncatedSize];
  if (message.size() > std::min<size_t>(client.udp_limit, kMaxUdpReply)) {
    const size_t n = dns::TruncateResponse(message, client.edns, cut);
    if (n == 0) return ReplyResult::kFailed;
    message = {cut, n};
    result = ReplyResult::kTruncated;
  }
  const size_t n = udp::BuildFrame({gateway_mac_, responder_ip_, dns::kPort},
                                   {client.mac, client.ip, client.port}, message, frame_);
  if (n == 0 || !port_.WriteTapFrame({frame_.data(), n})) return ReplyResult::kFailed;
  return result;
}

}  // namespace ipop::cp
