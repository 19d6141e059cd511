// 160-bit DHT keys and the ring arithmetic the store needs for handover ranges. Keys live on the
// same ring as overlay node addresses; a key is stored by the nodes whose addresses are nearest.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ipop::cp {

inline constexpr size_t kDhtKeySize = 20;
// Big-endian 160-bit integer: std::array's lexicographic order is the numeric order on the ring.
using DhtKey = std::array<uint8_t, kDhtKeySize>;
// The writer of a value: the overlay address of the node that stored it.
using DhtOwner = DhtKey;

// SHA-256 of "ipop dht v1" || name, truncated to 160 bits, so application names ("ip:10.0.0.7",
// "dns:alice") spread uniformly over the ring.
DhtKey HashDhtKey(std::string_view name);

// True if `k` lies in the clockwise half-open arc (from, to]. from == to denotes the whole ring,
// which is what a lone node is responsible for.
bool InClockwiseRange(const DhtKey& k, const DhtKey& from, const DhtKey& to);

std::string DhtKeyHex(const DhtKey& k);

}  // namespace ipop::cp
