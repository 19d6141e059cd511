// The DNS forwarder's UDP socket in the node's network namespace (the namespace whose
// /etc/resolv.conf names the upstreams). Opened on the first send, non-blocking, on an ephemeral
// port the kernel picks at random; one dual-stack IPv6 socket serves IPv4 (mapped) and IPv6
// upstreams, falling back to IPv4 only where IPv6 is unavailable. The control plane polls fd()
// with its other descriptors and drains it on every loop.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "controlplane/services/dns_forwarder.h"
#include "shared/endpoint.h"

namespace ipop::cp {

class DnsUpstreamSocket final : public DnsUpstreamTransport {
 public:
  DnsUpstreamSocket() = default;
  ~DnsUpstreamSocket() override;
  DnsUpstreamSocket(const DnsUpstreamSocket&) = delete;
  DnsUpstreamSocket& operator=(const DnsUpstreamSocket&) = delete;

  bool Send(const Endpoint& to, std::span<const uint8_t> message) override;
  int fd() const { return fd_; }  // -1 until the first send
  // Reads up to `budget` datagrams; each goes to `deliver`. A datagram longer than the buffer is
  // passed cut to the buffer size (the forwarder then sends its client a TC reply).
  void Drain(const std::function<void(const Endpoint&, std::span<const uint8_t>)>& deliver,
             int budget = 64);

 private:
  bool Open();
  int fd_ = -1;
  bool v6_ = false;
};

}  // namespace ipop::cp
