// IGMP as it crosses the TAP (RFC 1112, RFC 2236, RFC 3376): the control plane snoops the host's
// membership reports to learn which groups it joined, and is the querier on the TAP so joined
// groups are re-reported. Only any-source membership matters here: a group is joined when the
// host wants any traffic of it (an EXCLUDE-mode record, or an INCLUDE list that is not empty).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "shared/ether.h"

namespace ipop::igmp {

inline constexpr uint8_t kProtocolIgmp = 2;
inline constexpr uint8_t kTypeQuery = 0x11;
inline constexpr uint8_t kTypeV1Report = 0x12;
inline constexpr uint8_t kTypeV2Report = 0x16;
inline constexpr uint8_t kTypeV2Leave = 0x17;
inline constexpr uint8_t kTypeV3Report = 0x22;

// IGMPv3 group record types (RFC 3376 section 4.2.12).
inline constexpr uint8_t kModeIsInclude = 1;
inline constexpr uint8_t kModeIsExclude = 2;
inline constexpr uint8_t kChangeToInclude = 3;
inline constexpr uint8_t kChangeToExclude = 4;
inline constexpr uint8_t kAllowNewSources = 5;
inline constexpr uint8_t kBlockOldSources = 6;

inline constexpr uint32_t kAllHosts = 0xe0000001u;    // 224.0.0.1
inline constexpr uint32_t kAllRouters = 0xe0000002u;  // 224.0.0.2
inline constexpr uint32_t kV3Reports = 0xe0000016u;   // 224.0.0.22
inline constexpr size_t kV2Size = 8;                  // v1/v2 messages, v1/v2 queries
inline constexpr size_t kV3QueryMinSize = 12;         // a v3 query without sources
inline constexpr size_t kV3ReportHeaderSize = 8;      // before the group records
inline constexpr size_t kGroupRecordHeaderSize = 8;   // type, aux len, n sources, group
inline constexpr size_t kRouterAlertSize = 4;         // IPv4 option 148 (RFC 2113)
inline constexpr size_t kGeneralQueryFrameSize = 14 + 24 + kV3QueryMinSize;

enum class ParseError : uint8_t {
  kNone = 0,
  kNotIgmp,      // not Ethernet/IPv4 carrying protocol 2
  kBadIpv4,      // structurally broken IPv4 header
  kFragment,     // IGMP is never fragmented
  kTooShort,     // shorter than the message type needs
  kBadChecksum,  // the IGMP checksum does not verify
  kBadRecord,    // a v3 group record runs past the message
  kBadGroup,     // a report or leave names a non-multicast group
  kUnknownType,  // another IGMP type (e.g. DVMRP, mtrace)
};
const char* ParseErrorName(ParseError e);

enum class Change : uint8_t { kJoin, kLeave };

struct GroupChange {
  uint32_t group = 0;  // host byte order
  Change change = Change::kJoin;
  bool operator==(const GroupChange&) const = default;
};

struct Message {
  uint8_t type = 0;  // kType*
  uint8_t version = 0;
  uint32_t src_ip = 0;  // host byte order
  uint32_t dst_ip = 0;
  // Queries: the group asked about (0: general query) and the maximum response time in tenths
  // of a second (decoded from the v3 code).
  uint32_t query_group = 0;
  uint32_t max_resp_ds = 0;
  // Reports and leaves: every group record, in message order. BLOCK records change nothing for
  // any-source membership and are left out.
  std::vector<GroupChange> changes;
};

// Parses an Ethernet frame. On kNone *out holds the message; otherwise *out is unspecified.
ParseError Parse(std::span<const uint8_t> frame, Message* out);

// An IGMPv3 general query (also answered by v2 hosts) from src_mac/src_ip to 224.0.0.1 with a
// Router Alert option and TTL 1: max_resp_ds in tenths of a second (< 128 so the code is
// literal), query_interval_s (< 128 likewise). Returns the frame size, or 0 if `out` is too small
// or a value does not fit.
size_t BuildGeneralQuery(const uint8_t src_mac[ether::kMacSize], uint32_t src_ip,
                         uint8_t max_resp_ds, uint8_t query_interval_s, std::span<uint8_t> out);

// The Ethernet address an IPv4 group maps to (RFC 1112 section 6.4): 01:00:5e + low 23 bits.
inline void GroupMac(uint32_t group, uint8_t mac[ether::kMacSize]) {
  mac[0] = 0x01;
  mac[1] = 0x00;
  mac[2] = 0x5e;
  mac[3] = uint8_t((group >> 16) & 0x7f);
  mac[4] = uint8_t(group >> 8);
  mac[5] = uint8_t(group);
}

inline bool IsMulticast(uint32_t addr) {
  return (addr >> 28) == 0xe;
}

// The network's broadcast group: every member joins it, so broadcasts reach the network's members
// (never another network's) the way multicast reaches a group's.
inline constexpr uint32_t kBroadcastGroup = 0xffffffffu;

// The group a packet to `dst` goes to: the limited broadcast, the subnet's directed broadcast
// (0: none) and 224.0.0.1 (all hosts) -> kBroadcastGroup; any other multicast address -> itself;
// a unicast address -> 0. Shared by the dataplane and the control plane so both name a group
// the same way.
inline uint32_t GroupOfDestination(uint32_t dst, uint32_t directed_broadcast) {
  if (dst == kBroadcastGroup || dst == kAllHosts || (dst == directed_broadcast && dst != 0))
    return kBroadcastGroup;
  return IsMulticast(dst) ? dst : 0;
}

}  // namespace ipop::igmp
