#include "controlplane/services/arp_responder.h"

#include <algorithm>
#include <cstring>

#include "shared/arp.h"

namespace ipop::cp {
namespace {

uint32_t MaskOf(uint8_t length) {
  return length == 0 ? 0 : ~uint32_t{0} << (32 - length);
}

}  // namespace

void ArpResponder::SetTable(const shm::TableSpec& spec) {
  local_vip_ = spec.local_vip;
  local_prefix_len_ = spec.local_prefix_len;
  service_ip_ = spec.service_ip;
  std::memcpy(mac_, spec.gateway_mac, sizeof(mac_));
  hosts_.clear();
  prefixes_.clear();
  for (const shm::RouteSpec& r : spec.routes) {
    if (r.peer >= spec.peers.size() || (spec.peers[r.peer].flags & shm::kPeerValid) == 0) continue;
    if (r.length >= 32)
      hosts_.push_back(r.prefix);
    else
      prefixes_.emplace_back(r.prefix & MaskOf(r.length), r.length);
  }
  std::sort(hosts_.begin(), hosts_.end());
}

bool ArpResponder::Answers(uint32_t ip) const {
  if (ip == local_vip_ || ip == 0) return false;
  if (ip == service_ip_) return true;  // the node's DHCP/DNS/router address
  if (std::binary_search(hosts_.begin(), hosts_.end(), ip)) return true;
  for (const auto& [prefix, length] : prefixes_)
    if ((ip & MaskOf(length)) == prefix) return true;
  return false;
}

void ArpResponder::OnTapFrame(std::span<const uint8_t> frame) {
  arp::Request req;
  switch (arp::ParseRequest(frame, &req)) {
    case arp::ParseError::kNone:
      break;
    case arp::ParseError::kNotArp:
      counters_.Bump(CpCounter::tap_not_arp);
      return;
    case arp::ParseError::kNotRequest:
      counters_.Bump(CpCounter::arp_ignored);
      return;
    case arp::ParseError::kTooShort:
    case arp::ParseError::kBadHardware:
    case arp::ParseError::kBadProtocol:
      counters_.Bump(CpCounter::arp_malformed);
      return;
  }
  // Probes (sender 0.0.0.0) and gratuitous announcements are about the host's own address.
  if (req.sender_ip == 0 || req.sender_ip == req.target_ip) {
    counters_.Bump(CpCounter::arp_ignored);
    return;
  }
  if (!Answers(req.target_ip)) {
    counters_.Bump(CpCounter::arp_ignored);
    const uint32_t mask = MaskOf(uint8_t(std::min<uint32_t>(local_prefix_len_, 32)));
    if (miss_ && req.target_ip != local_vip_ && (req.target_ip & mask) == (local_vip_ & mask))
      miss_(req.target_ip);
    return;
  }
  uint8_t reply[arp::kFrameSize];
  const size_t n = arp::BuildReply(req, mac_, reply);
  if (n != 0 && port_.WriteTapFrame({reply, n}))
    counters_.Bump(CpCounter::arp_answered);
  else
    counters_.Bump(CpCounter::arp_reply_failed);
}

}  // namespace ipop::cp
