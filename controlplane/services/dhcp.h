// DHCP messages (RFC 2131) and the options the node's server reads and writes (RFC 2132): a view
// parser over the UDP payload a client sent, and a builder for the server's OFFER/ACK/NAK.
//
//   op | htype | hlen | hops | xid[4] | secs[2] | flags[2] | ciaddr | yiaddr | siaddr | giaddr
//   chaddr[16] | sname[64] | file[128] | magic cookie 99.130.83.99 | options ... end (255)
//
// Options are type-length-value except pad (0) and end (255). Overloaded sname/file (option 52)
// are not read: every client we serve puts its options in the options field, and ignoring the
// overload only means ignoring options we would not use anyway.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ipop::dhcp {

inline constexpr uint16_t kServerPort = 67;
inline constexpr uint16_t kClientPort = 68;
inline constexpr size_t kChaddrSize = 16;
inline constexpr size_t kFixedSize = 236;                 // op .. file
inline constexpr size_t kOptionsOffset = kFixedSize + 4;  // after the magic cookie
inline constexpr uint32_t kMagicCookie = 0x63825363;
inline constexpr uint8_t kOpRequest = 1;  // BOOTREQUEST
inline constexpr uint8_t kOpReply = 2;    // BOOTREPLY
inline constexpr uint8_t kHtypeEthernet = 1;
inline constexpr uint8_t kHlenEthernet = 6;
inline constexpr uint16_t kFlagBroadcast = 0x8000;
// RFC 1542 3.3: some BOOTP-derived clients drop replies shorter than the 300-byte BOOTP message.
inline constexpr size_t kMinReplySize = 300;
// Every client must accept 576-byte IP datagrams (RFC 2131 2), i.e. 548 bytes of DHCP message;
// the largest reply we build (255-byte domain) stays below that.
inline constexpr size_t kMaxReplySize = 548;

enum Option : uint8_t {
  kOptPad = 0,
  kOptSubnetMask = 1,
  kOptRouter = 3,
  kOptDnsServer = 6,
  kOptHostname = 12,
  kOptDomainName = 15,
  kOptInterfaceMtu = 26,
  kOptRequestedIp = 50,
  kOptLeaseTime = 51,
  kOptOverload = 52,
  kOptMessageType = 53,
  kOptServerId = 54,
  kOptParameterList = 55,
  kOptMessage = 56,
  kOptRenewalTime = 58,    // T1
  kOptRebindingTime = 59,  // T2
  kOptClientId = 61,
  kOptClasslessRoutes = 121,  // RFC 3442
  kOptEnd = 255,
};

enum class MessageType : uint8_t {
  kNone = 0,  // no option 53: plain BOOTP, which we do not serve
  kDiscover = 1,
  kOffer = 2,
  kRequest = 3,
  kDecline = 4,
  kAck = 5,
  kNak = 6,
  kRelease = 7,
  kInform = 8,
};
inline constexpr size_t kMessageTypeCount = 9;  // array size for counters indexed by type
const char* MessageTypeName(MessageType t);

enum class ParseError : uint8_t {
  kNone = 0,
  kTooShort,         // shorter than the fixed part plus the magic cookie
  kBadOp,            // op is neither BOOTREQUEST nor BOOTREPLY
  kBadHardware,      // htype is not Ethernet or hlen is not 6
  kBadCookie,        // magic cookie missing: a BOOTP message without options
  kOptionTruncated,  // an option's length byte or value runs past the payload
  kBadOptionLength,  // a fixed-size option we read has the wrong length
  kNoMessageType,    // option 53 absent
  kBadMessageType,   // option 53 outside 1..8
};
inline constexpr size_t kParseErrorCount = size_t(ParseError::kBadMessageType) + 1;
const char* ParseErrorName(ParseError e);

// Points into the parsed payload; valid while it is. Addresses in host byte order, 0 if absent.
struct Message {
  uint8_t op = 0;
  uint8_t hops = 0;
  uint32_t xid = 0;
  uint16_t secs = 0;
  uint16_t flags = 0;
  uint32_t ciaddr = 0;
  uint32_t yiaddr = 0;
  uint32_t siaddr = 0;
  uint32_t giaddr = 0;
  const uint8_t* chaddr = nullptr;  // kHlenEthernet bytes (the client's MAC)
  MessageType type = MessageType::kNone;
  uint32_t requested_ip = 0;  // option 50
  uint32_t server_id = 0;     // option 54
  uint32_t lease_s = 0;       // option 51
  bool has_lease = false;
  uint8_t overload = 0;                     // option 52 value, not acted on
  std::span<const uint8_t> parameter_list;  // option 55
  std::span<const uint8_t> client_id;       // option 61 (type byte included)
  std::span<const uint8_t> hostname;        // option 12

  bool broadcast() const { return (flags & kFlagBroadcast) != 0; }
};

// Parses the UDP payload of a DHCP message without reading outside it. The first instance of an
// option wins (RFC 3396 concatenation is not needed for the options read here). *out is valid
// only on kNone.
ParseError Parse(std::span<const uint8_t> payload, Message* out);

// One RFC 3442 classless static route: prefix/length via gateway (host order).
struct ClasslessRoute {
  uint32_t prefix = 0;
  uint8_t length = 0;  // 0..32
  uint32_t gateway = 0;
  bool operator==(const ClasslessRoute&) const = default;
};

// Option 121's value for `routes`: per route the prefix length, the significant octets of the
// prefix (ceil(length / 8)) and the gateway. Whole routes only, as many as fit `out` (at most 255
// bytes are used: one option); *written receives how many routes went in. Returns the bytes used.
size_t EncodeClasslessRoutes(std::span<const ClasslessRoute> routes, std::span<uint8_t> out,
                             size_t* written = nullptr);
// Decodes an option 121 value into at most `max` routes; false if it is malformed (a length above
// 32 or a route cut short) or holds more than `max`. Prefix bits beyond the length must be zero
// (RFC 3442: the client masks them anyway; we reject rather than guess).
bool DecodeClasslessRoutes(std::span<const uint8_t> value, ClasslessRoute* out, size_t max,
                           size_t* count);

// What the server puts into a reply. Zero addresses and an empty domain leave their option out;
// lease_s == 0 leaves out 51/58/59 (INFORM's ACK). A NAK carries only 53, 54 and 56.
struct Reply {
  MessageType type = MessageType::kNone;  // kOffer, kAck or kNak
  uint32_t xid = 0;
  uint16_t flags = 0;  // copied from the request (RFC 2131 table 3)
  uint32_t ciaddr = 0;
  uint32_t yiaddr = 0;
  uint32_t giaddr = 0;
  const uint8_t* chaddr = nullptr;  // kHlenEthernet bytes
  uint32_t server_id = 0;
  uint32_t lease_s = 0;
  uint32_t subnet_mask = 0;
  uint32_t router = 0;
  uint32_t dns_server = 0;
  std::string_view domain;   // at most 255 bytes
  uint16_t mtu = 0;          // 0: omit; otherwise at least 68 (RFC 2132 5.1)
  std::string_view message;  // NAK only: why (option 56), at most 64 bytes
  // Option 121 (OFFER/ACK) when non-empty: as many whole routes as fit the reply, in order.
  std::span<const ClasslessRoute> routes;
};

// Writes the reply into `out` (padded to kMinReplySize). Returns its size, or 0 if `out` is
// smaller than kMaxReplySize, the type is not a server reply, chaddr is null or a string is too
// long.
size_t BuildReply(const Reply& reply, std::span<uint8_t> out);

}  // namespace ipop::dhcp
