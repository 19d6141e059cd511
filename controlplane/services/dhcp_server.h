// DHCP server on the TAP (RFC 2131): the OS behind the node configures its virtual interface with
// an unmodified client (dhclient, udhcpc). We are the only server on that link; the address comes
// from a LeaseSource (FixedLeaseSource: the node's own VIP, static or allocated through the DHT,
// followed as it changes), router and DNS server are the node's gateway address that the ARP proxy
// answers for.
//
//   DISCOVER -> OFFER (or silence while the source has no address yet)
//   REQUEST  -> ACK, or NAK when the address is not the client's or names another server
//   RELEASE, DECLINE -> the source forgets the address; no reply
//   INFORM   -> ACK with configuration but no lease
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "controlplane/runtime/counter_registry.h"
#include "controlplane/runtime/port.h"
#include "controlplane/services/dhcp.h"
#include "controlplane/services/udp_frame.h"

namespace ipop::cp {

// Who a lease belongs to: the hardware address and, when the client sends one, its client
// identifier (option 61), which RFC 2131 4.2 says takes precedence over chaddr.
struct ClientKey {
  std::array<uint8_t, 6> mac{};
  std::array<uint8_t, 255> client_id{};
  uint8_t client_id_length = 0;

  std::span<const uint8_t> id() const { return {client_id.data(), client_id_length}; }
  bool operator==(const ClientKey& o) const;
};

struct Lease {
  uint32_t ip = 0;       // host byte order
  uint32_t lease_s = 0;  // 0: the server's configured lease time
};

class LeaseSource {
 public:
  virtual ~LeaseSource() = default;
  // An address to offer, preferably `requested_ip` (0: none asked for). nullopt while an
  // allocation is still running, or when none can be had: the server then stays silent and the
  // client retransmits its DISCOVER (RFC 2131 4.1, with back-off up to 64 s), by which time the
  // allocation may have finished.
  virtual std::optional<Lease> Offer(const ClientKey& client, uint32_t requested_ip) = 0;
  // The client takes (REQUEST) or renews `ip`. True and the granted lease time in *lease_s, or
  // false when the address is not the client's to have (the server NAKs).
  virtual bool Confirm(const ClientKey& client, uint32_t ip, uint32_t* lease_s) = 0;
  // The client gives `ip` back (RELEASE) or found it in use (DECLINE).
  virtual void Release(const ClientKey& client, uint32_t ip) = 0;
};

// Workstation mode: the one address (the node's virtual IP) for the one host behind the TAP. It
// is held by the MAC that confirmed it until that MAC releases it; client ids are not compared
// because two clients on one host (dhclient, then udhcpc) share the MAC but differ in option 61.
// The node's address may arrive late (DHT allocation) or change: 0 offers nothing and NAKs.
class FixedLeaseSource final : public LeaseSource {
 public:
  FixedLeaseSource(uint32_t ip, uint32_t lease_s) : ip_(ip), lease_s_(lease_s) {}
  std::optional<Lease> Offer(const ClientKey& client, uint32_t requested_ip) override;
  bool Confirm(const ClientKey& client, uint32_t ip, uint32_t* lease_s) override;
  void Release(const ClientKey& client, uint32_t ip) override;
  void SetAddress(uint32_t ip);
  // Runs on every granted REQUEST: a client renewal renews the node's DHT claim.
  void SetConfirmHook(std::function<void()> fn) { on_confirm_ = std::move(fn); }
  bool held() const { return held_; }
  uint32_t address() const { return ip_; }

 private:
  bool FreeFor(const ClientKey& client) const { return !held_ || client.mac == holder_; }

  uint32_t ip_;
  uint32_t lease_s_;
  std::function<void()> on_confirm_;
  bool held_ = false;
  std::array<uint8_t, 6> holder_{};
};

struct DhcpOptions {
  uint32_t server_ip = 0;  // the gateway address the host sees: router and server identifier
  uint8_t prefix_len = 24;
  uint32_t dns_ip = 0;  // 0: no DNS server option
  std::string domain;   // empty: no domain option; longer than 255 bytes is cut
  uint16_t mtu = 0;     // 0: no MTU option
  uint32_t lease_s = 3600;
  std::array<uint8_t, 6> gateway_mac{};  // shm TableSpec::gateway_mac
  // Option 121 (RFC 3442) in OFFER/ACK when non-empty; a client that takes it ignores option 3,
  // so a default route via server_ip is put first in the option (what option 3 said).
  std::vector<dhcp::ClasslessRoute> routes;
};

struct DhcpCounters {
  uint64_t requests[dhcp::kMessageTypeCount] = {};  // by message type of BOOTREQUESTs
  uint64_t offers = 0;
  uint64_t acks = 0;
  uint64_t naks = 0;
  uint64_t malformed[dhcp::kParseErrorCount] = {};  // by dhcp::ParseError
  uint64_t lease_pending = 0;  // DISCOVER the source had no address for yet (no reply)
  // Not acted on: BOOTREPLYs, relayed requests, and (also counted by type) server message
  // types from a client, RELEASE/DECLINE naming another server or no address.
  uint64_t ignored = 0;
  uint64_t reply_failed = 0;  // building or writing the reply to the TAP failed
};

inline constexpr CounterDesc kDhcpCounterDescs[] = {
    IPOP_COUNTER_BY(
        DhcpCounters, requests, "type",
        [](size_t i) { return dhcp::MessageTypeName(dhcp::MessageType(i)); }, 0,
        "BOOTREQUESTs by DHCP message type (none: plain BOOTP)"),
    IPOP_COUNTER(DhcpCounters, offers, "DHCPOFFERs sent"),
    IPOP_COUNTER(DhcpCounters, acks, "DHCPACKs sent"),
    IPOP_COUNTER(DhcpCounters, naks, "DHCPNAKs sent"),
    IPOP_COUNTER_BY(
        DhcpCounters, malformed, "error",
        [](size_t i) { return dhcp::ParseErrorName(dhcp::ParseError(i)); }, 1,
        "messages that did not parse, by error"),
    IPOP_COUNTER(DhcpCounters, lease_pending,
                 "DISCOVER the source had no address for yet (no reply)"),
    IPOP_COUNTER(DhcpCounters, ignored,
                 "not acted on: BOOTREPLYs, relayed requests, server message types from a client, "
                 "RELEASE/DECLINE naming another server"),
    IPOP_COUNTER(DhcpCounters, reply_failed, "building or writing the reply to the TAP failed"),
};
static_assert(CoversEveryField<DhcpCounters>(kDhcpCounterDescs));

class DhcpServer {
 public:
  DhcpServer(Port& port, LeaseSource& leases, DhcpOptions options);
  // A frame the dataplane punted from the TAP. False if it is not a DHCP message to UDP port 67
  // (the caller then offers it to ARP etc.); true if it was consumed, answered or not.
  bool OnTapFrame(std::span<const uint8_t> frame);
  const DhcpCounters& counters() const { return counters_; }
  const DhcpOptions& options() const { return options_; }
  // New option 121 routes (router mode: the prefixes members announce); clients see them in
  // their next OFFER/ACK, i.e. at the latest at renewal (half the lease).
  void SetRoutes(std::vector<dhcp::ClasslessRoute> routes);

 private:
  void OnDiscover(const dhcp::Message& m, const ClientKey& client);
  void OnRequest(const dhcp::Message& m, const ClientKey& client);
  void OnRelease(const dhcp::Message& m, const ClientKey& client);
  void OnDecline(const dhcp::Message& m, const ClientKey& client);
  void OnInform(const dhcp::Message& m);
  void SendNak(const dhcp::Message& m, std::string_view why);
  // Fills the configuration options of `r` from options_ and sends it (RFC 2131 4.1 addressing).
  void Send(const dhcp::Message& m, dhcp::Reply& r);

  Port& port_;
  LeaseSource& leases_;
  DhcpOptions options_;
  std::vector<dhcp::ClasslessRoute> classless_;  // what option 121 carries: default + routes
  uint32_t subnet_mask_ = 0;
  DhcpCounters counters_;
  // Reused for every reply: no allocation per packet.
  std::array<uint8_t, dhcp::kMaxReplySize> payload_{};
  std::array<uint8_t, udp::kFrameOverhead + dhcp::kMaxReplySize> frame_{};
};

}  // namespace ipop::cp
