// The DNS forwarder's UDP socket in the node's network namespace (the namespace whose
// /etc/resolv.conf names the upstreams). Opened on the first send, non-blocking, on an ephemeral
// port the kernel picks at random; one dual-stack IPv6 socket serves IPv4 (mapped) and IPv6
// upstreams, falling back to IPv4 only where IPv6 is unavailable. The control plane polls fd()
// with its other descriptors and drains it on every loop. TCP retries of truncated answers go
// through a DnsUpstreamTcp, moved on from the forwarder's Poll().
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "controlplane/services/dns_forwarder.h"
#include "controlplane/services/dns_upstream_tcp.h"
#include "shared/endpoint.h"

namespace ipop::cp {

class DnsUpstreamSocket final : public DnsUpstreamTransport {
 public:
  DnsUpstreamSocket() = default;
  ~DnsUpstreamSocket() override;
  DnsUpstreamSocket(const DnsUpstreamSocket&) = delete;
  DnsUpstreamSocket& operator=(const DnsUpstreamSocket&) = delete;

  bool Send(const Endpoint& to, std::span<const uint8_t> message) override;
  bool StartStream(uint16_t id, const Endpoint& to, std::span<const uint8_t> message) override {
    return tcp_.Start(id, to, message);
  }
  void CancelStream(uint16_t id) override { tcp_.Cancel(id); }
  void PollStreams(const StreamDone& done) override { tcp_.Poll(done); }
  int fd() const { return fd_; }  // -1 until the first send
  // Reads up to `budget` datagrams (each whole: the buffer holds the largest); each goes to
  // `deliver`.
  void Drain(const std::function<void(const Endpoint&, std::span<const uint8_t>)>& deliver,
             int budget = 64);

 private:
  bool Open();
  int fd_ = -1;
  bool v6_ = false;
  std::vector<uint8_t> buf_;  // allocated on the first Drain
  DnsUpstreamTcp tcp_;
};

}  // namespace ipop::cp
