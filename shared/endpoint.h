// An underlay address (IPv6, or IPv4 mapped into IPv6) with its port, and the text forms of
// endpoints and IPv4 addresses used in configs, logs and management replies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ipop {

struct Endpoint {
  uint8_t addr[16] = {};  // IPv6 or IPv4-mapped
  uint16_t port = 0;      // host order
  std::string ToString() const;
  bool operator==(const Endpoint&) const = default;
};
// Parses "host:port", "[v6]:port" or "a.b.c.d:port" (numeric only). nullopt if malformed.
std::optional<Endpoint> ParseEndpoint(const std::string& s);

std::string FormatIpv4(uint32_t host_order);
// Exactly four decimal octets; nullopt otherwise.
std::optional<uint32_t> ParseIpv4(const std::string& s);

}  // namespace ipop
