// Values derived from the network name alone: the tag HELLOs carry so nodes of different networks
// sharing a port tell "wrong network" from "wrong secret", and the gateway MAC the ARP proxy uses.
#pragma once

#include <cstdint>
#include <string_view>

namespace ipop::cp {

// First 8 bytes (big endian) of SHA-256("ipop network v1" || name).
uint64_t NetworkHash(std::string_view network);

// 02:49:50 ("locally administered", "IP") followed by 3 bytes of the same digest, so every node of
// a network answers ARP with the same MAC and different networks on one host do not collide.
void GatewayMac(std::string_view network, uint8_t mac[6]);

}  // namespace ipop::cp
