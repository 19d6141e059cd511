// Text forms of endpoints and IPv4 addresses (shared/endpoint.h).
#include "shared/endpoint.h"

#include <arpa/inet.h>

#include <cstring>

namespace ipop {

std::optional<uint32_t> ParseIpv4(const std::string& s) {
  in_addr a{};
  // inet_pton accepts exactly four decimal octets (no octal, hex or short forms).
  if (s.empty() || s.size() > 15 || inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::string FormatIpv4(uint32_t host_order) {
  return std::to_string(host_order >> 24) + "." + std::to_string((host_order >> 16) & 0xff) + "." +
         std::to_string((host_order >> 8) & 0xff) + "." + std::to_string(host_order & 0xff);
}

std::optional<Endpoint> ParseEndpoint(const std::string& s) {
  Endpoint ep;
  std::string host, port;
  if (!s.empty() && s[0] == '[') {
    const size_t close = s.find("]:");
    if (close == std::string::npos) return std::nullopt;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
    in6_addr a{};
    if (host.empty() || inet_pton(AF_INET6, host.c_str(), &a) != 1) return std::nullopt;
    std::memcpy(ep.addr, &a, 16);
  } else {
    const size_t colon = s.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    const auto v4 = ParseIpv4(s.substr(0, colon));
    if (!v4) return std::nullopt;
    port = s.substr(colon + 1);
    ep.addr[10] = 0xff;
    ep.addr[11] = 0xff;
    ep.addr[12] = uint8_t(*v4 >> 24);
    ep.addr[13] = uint8_t(*v4 >> 16);
    ep.addr[14] = uint8_t(*v4 >> 8);
    ep.addr[15] = uint8_t(*v4);
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  const unsigned long p = std::stoul(port);
  if (p > 65535) return std::nullopt;
  ep.port = uint16_t(p);
  return ep;
}

std::string Endpoint::ToString() const {
  static constexpr uint8_t kV4Mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(addr, kV4Mapped, 12) == 0) {
    const uint32_t v4 =
        uint32_t{addr[12]} << 24 | uint32_t{addr[13]} << 16 | uint32_t{addr[14]} << 8 | addr[15];
    return FormatIpv4(v4) + ":" + std::to_string(port);
  }
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, addr, text, sizeof(text));
  return std::string("[") + text + "]:" + std::to_string(port);
}

}  // namespace ipop
