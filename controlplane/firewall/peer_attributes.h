// What the firewall compiler may know about a peer beyond its addresses: the name and groups of
// its verified certificate. The session layer provides the lookup once certificates are wired
// into HELLO; in PSK mode there is nothing to verify, the lookup returns nothing, and `name:` /
// `group:` rules match no peer (docs/firewall.md).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ipop {

struct PeerAttributes {
  std::string name;                 // the certificate's node name
  std::vector<std::string> groups;  // the certificate's groups
};

// Peer VIP (host order) -> its verified attributes, or nullopt (PSK mode, or not verified).
using PeerAttributeLookup = std::function<std::optional<PeerAttributes>(uint32_t vip)>;

// PSK mode: no peer has verified attributes.
inline std::optional<PeerAttributes> NoPeerAttributes(uint32_t /*vip*/) {
  return std::nullopt;
}

}  // namespace ipop
