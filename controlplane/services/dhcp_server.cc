#include "controlplane/services/dhcp_server.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace ipop::cp {
namespace {

uint32_t MaskOf(uint8_t prefix_len) {
  return prefix_len == 0 ? 0 : ~uint32_t{0} << (32 - prefix_len);
}

ClientKey KeyOf(const dhcp::Message& m) {
  ClientKey k;
  std::memcpy(k.mac.data(), m.chaddr, k.mac.size());
  k.client_id_length = uint8_t(std::min(m.client_id.size(), k.client_id.size()));
  std::copy_n(m.client_id.begin(), k.client_id_length, k.client_id.begin());
  return k;
}

}  // namespace

bool ClientKey::operator==(const ClientKey& o) const {
  return mac == o.mac && client_id_length == o.client_id_length &&
         std::equal(client_id.begin(), client_id.begin() + client_id_length, o.client_id.begin());
}

std::optional<Lease> FixedLeaseSource::Offer(const ClientKey& client, uint32_t) {
  if (ip_ == 0 || !FreeFor(client)) return std::nullopt;
  return Lease{ip_, lease_s_};
}

bool FixedLeaseSource::Confirm(const ClientKey& client, uint32_t ip, uint32_t* lease_s) {
  if (ip_ == 0 || ip != ip_ || !FreeFor(client)) return false;
  held_ = true;
  holder_ = client.mac;
  *lease_s = lease_s_;
  if (on_confirm_) on_confirm_();
  return true;
}

void FixedLeaseSource::SetAddress(uint32_t ip) {
  if (ip == ip_) return;
  ip_ = ip;
  held_ = false;  // the next REQUEST for the old address is NAKed; the client starts over
}

void FixedLeaseSource::Release(const ClientKey& client, uint32_t ip) {
  if (held_ && ip == ip_ && client.mac == holder_) held_ = false;
}

DhcpServer::DhcpServer(Port& port, LeaseSource& leases, DhcpOptions options)
    : port_(port), leases_(leases), options_(std::move(options)) {
  options_.prefix_len = std::min<uint8_t>(options_.prefix_len, 32);
  if (options_.domain.size() > 255) options_.domain.resize(255);
  subnet_mask_ = MaskOf(options_.prefix_len);
  SetRoutes(std::move(options_.routes));
}

void DhcpServer::SetRoutes(std::vector<dhcp::ClasslessRoute> routes) {
  options_.routes = std::move(routes);
  classless_.clear();
  if (options_.routes.empty()) return;
  classless_.push_back({0, 0, options_.server_ip});
  classless_.insert(classless_.end(), options_.routes.begin(), options_.routes.end());
}

bool DhcpServer::OnTapFrame(std::span<const uint8_t> frame) {
  udp::FrameView f;
  if (udp::ParseFrame(frame, &f) != udp::FrameError::kNone || f.dst_port != dhcp::kServerPort)
    return false;
  dhcp::Message m;
  const dhcp::ParseError err = dhcp::Parse(f.payload, &m);
  if (err != dhcp::ParseError::kNone) {
    ++counters_.malformed[size_t(err)];
    return true;
  }
  // Server replies looping back, and relayed requests: no relay agent sits on a TAP.
  if (m.op != dhcp::kOpRequest || m.giaddr != 0) {
    ++counters_.ignored;
    return true;
  }
  ++counters_.requests[size_t(m.type)];
  const ClientKey client = KeyOf(m);
  switch (m.type) {
    case dhcp::MessageType::kDiscover:
      OnDiscover(m, client);
      break;
    case dhcp::MessageType::kRequest:
      OnRequest(m, client);
      break;
    case dhcp::MessageType::kRelease:
      OnRelease(m, client);
      break;
    case dhcp::MessageType::kDecline:
      OnDecline(m, client);
      break;
    case dhcp::MessageType::kInform:
      OnInform(m);
      break;
    default:  // OFFER/ACK/NAK are server messages
      ++counters_.ignored;
      break;
  }
  return true;
}

void DhcpServer::OnDiscover(const dhcp::Message& m, const ClientKey& client) {
  const std::optional<Lease> lease = leases_.Offer(client, m.requested_ip);
  if (!lease) {
    ++counters_.lease_pending;
    return;
  }
  dhcp::Reply r;
  r.type = dhcp::MessageType::kOffer;
  r.yiaddr = lease->ip;
  r.lease_s = lease->lease_s != 0 ? lease->lease_s : options_.lease_s;
  Send(m, r);
}

// RFC 2131 4.3.2: the client's state shows in which fields it fills.
void DhcpServer::OnRequest(const dhcp::Message& m, const ClientKey& client) {
  uint32_t ip;
  if (m.server_id != 0) {
    // SELECTING. RFC 2131 would have another server's client dropped silently; on the TAP we
    // are the only server, so that id is stale state, and a NAK sends the client back to
    // DISCOVER, where it finds us, instead of leaving it to time out.
    if (m.server_id != options_.server_ip) {
      SendNak(m, "wrong server");
      return;
    }
    ip = m.requested_ip;
  } else if (m.requested_ip != 0) {
    ip = m.requested_ip;  // INIT-REBOOT: verifying a remembered address
  } else {
    ip = m.ciaddr;  // RENEWING (unicast) or REBINDING (broadcast)
  }
  uint32_t lease_s = 0;
  if (ip == 0 || !leases_.Confirm(client, ip, &lease_s)) {
    SendNak(m, "address not available");
    return;
  }
  dhcp::Reply r;
  r.type = dhcp::MessageType::kAck;
  r.ciaddr = m.ciaddr;
  r.yiaddr = ip;
  r.lease_s = lease_s != 0 ? lease_s : options_.lease_s;
  Send(m, r);
}

void DhcpServer::OnRelease(const dhcp::Message& m, const ClientKey& client) {
  if (m.ciaddr == 0 || (m.server_id != 0 && m.server_id != options_.server_ip)) {
    ++counters_.ignored;
    return;
  }
  leases_.Release(client, m.ciaddr);
}

void DhcpServer::OnDecline(const dhcp::Message& m, const ClientKey& client) {
  if (m.requested_ip == 0 || (m.server_id != 0 && m.server_id != options_.server_ip)) {
    ++counters_.ignored;
    return;
  }
  leases_.Release(client, m.requested_ip);
}

// RFC 2131 3.4: a client configured by other means asks only for configuration.
void DhcpServer::OnInform(const dhcp::Message& m) {
  dhcp::Reply r;
  r.type = dhcp::MessageType::kAck;
  r.ciaddr = m.ciaddr;
  Send(m, r);
}

void DhcpServer::SendNak(const dhcp::Message& m, std::string_view why) {
  dhcp::Reply r;
  r.type = dhcp::MessageType::kNak;
  r.message = why;
  Send(m, r);
}

void DhcpServer::Send(const dhcp::Message& m, dhcp::Reply& r) {
  r.xid = m.xid;
  r.flags = m.flags;
  r.giaddr = m.giaddr;
  r.chaddr = m.chaddr;
  r.server_id = options_.server_ip;
  r.subnet_mask = subnet_mask_;
  r.router = options_.server_ip;
  r.dns_server = options_.dns_ip;
  r.domain = options_.domain;
  r.mtu = options_.mtu;
  r.routes = classless_;
  const size_t n = dhcp::BuildReply(r, payload_);
  // RFC 2131 4.1 (giaddr is always zero here): a NAK is broadcast; a client that has an address
  // (renewing, INFORM) gets unicast to it; otherwise unicast to chaddr/yiaddr unless the client
  // asked for broadcast because it cannot receive unicast before it is configured. Writing to
  // the TAP needs no ARP, so the unicast reaches an unconfigured interface.
  const bool nak = r.type == dhcp::MessageType::kNak;
  const uint8_t* dst_mac = m.chaddr;
  uint32_t dst_ip = m.ciaddr != 0 ? m.ciaddr : r.yiaddr;
  if (nak || (m.ciaddr == 0 && m.broadcast()) || dst_ip == 0) {
    dst_mac = ether::kBroadcastMac;
    dst_ip = 0xffffffffu;
  }
  const udp::FrameAddress from{options_.gateway_mac.data(), options_.server_ip, dhcp::kServerPort};
  const udp::FrameAddress to{dst_mac, dst_ip, dhcp::kClientPort};
  const size_t frame_size =
      n == 0 ? 0 : udp::BuildFrame(from, to, std::span(payload_).first(n), frame_);
  if (frame_size == 0 || !port_.WriteTapFrame(std::span(frame_).first(frame_size))) {
    ++counters_.reply_failed;
    return;
  }
  if (nak)
    ++counters_.naks;
  else if (r.type == dhcp::MessageType::kOffer)
    ++counters_.offers;
  else
    ++counters_.acks;
}

}  // namespace ipop::cp
