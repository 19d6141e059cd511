// DNS messages (RFC 1035) as the node's responder on the TAP sees them: parse one query, build
// its response. Names are kept in uncompressed wire form in a fixed buffer (no allocation);
// compression pointers are followed only backwards, strictly decreasing, and a bounded number
// of times, so a crafted message cannot loop or read outside itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ipop::dns {

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxNameSize = 255;  // wire bytes incl. the root label (RFC 1035 2.3.4)
inline constexpr size_t kMaxLabelSize = 63;
inline constexpr size_t kMaxPointers = 16;     // hops a single name may take
inline constexpr size_t kMaxUdpPayload = 512;  // without EDNS (RFC 1035 4.2.1)
inline constexpr uint16_t kPort = 53;

inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeNs = 2;
inline constexpr uint16_t kTypeSoa = 6;
inline constexpr uint16_t kTypePtr = 12;
inline constexpr uint16_t kTypeAaaa = 28;
inline constexpr uint16_t kTypeOpt = 41;
inline constexpr uint16_t kTypeAny = 255;
inline constexpr uint16_t kClassIn = 1;
inline constexpr uint16_t kClassAny = 255;
inline constexpr uint8_t kOpcodeQuery = 0;

enum class Rcode : uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
};
const char* RcodeName(Rcode r);

enum class ParseError : uint8_t {
  kNone = 0,
  kTooShort,           // fewer bytes than a header: nothing to answer
  kNotQuery,           // QR bit set (a response): never answered, so replies cannot loop
  kNotResponse,        // QR bit clear where a response was expected (ParseResponse)
  kBadOpcode,          // opcode other than QUERY (answered NOTIMP)
  kQuestionCount,      // QDCOUNT != 1
  kNameTruncated,      // a label or pointer runs past the message
  kLabelTooLong,       // label type bits 01/10 (reserved / extended), i.e. length > 63
  kNameTooLong,        // more than 255 bytes uncompressed
  kBadPointer,         // pointer into the header, forward, or not strictly decreasing
  kTooManyPointers,    // more than kMaxPointers hops
  kQuestionTruncated,  // no room for QTYPE/QCLASS
  kRecordTruncated,    // a resource record runs past the message
  kDuplicateOpt,       // more than one OPT record (RFC 6891 6.1.1)
  kBadOpt,             // OPT with a non-root owner name
  kCount,
};
const char* ParseErrorName(ParseError e);

// A domain name in uncompressed wire form: length-prefixed labels ending in the root label.
struct Name {
  uint8_t wire[kMaxNameSize] = {};
  uint8_t size = 0;  // bytes used in `wire`, root label included (0 = not set)
  uint8_t labels = 0;
};

// Reads the name at `offset` of `msg`; *end is the offset just after it in the message (after
// the first pointer if it was compressed).
ParseError ReadName(std::span<const uint8_t> msg, size_t offset, Name* out, size_t* end);

// "a.B.c" or "a.B.c." -> Name. False on empty labels, labels > 63 bytes, or names > 255 bytes.
bool NameFromText(std::string_view text, Name* out);
// Dotted text, bytes as they are ("" for the root). Only used off the packet path.
std::string NameToText(const Name& name);
// Label `index` (0 = leftmost); index must be < name.labels.
std::string_view Label(const Name& name, size_t index);
bool LabelEquals(std::string_view a, std::string_view b);  // ASCII case-insensitive
bool NameEquals(const Name& a, const Name& b);             // ASCII case-insensitive

struct Question {
  Name name;
  uint16_t type = 0;
  uint16_t klass = 0;
};

struct Query {
  // Header fields; valid for every result except kTooShort.
  uint16_t id = 0;
  uint8_t opcode = 0;
  bool recursion_desired = false;
  // Valid on kNone.
  Question question;
  bool has_edns = false;
  uint16_t edns_udp_size = 0;
  uint8_t edns_version = 0;
};

ParseError ParseQuery(std::span<const uint8_t> msg, Query* out);

// SOA rdata (RFC 1035 3.3.13). `minimum` is the negative-caching TTL (RFC 2308 4).
struct Soa {
  Name mname;  // primary name server
  Name rname;  // mailbox, "hostmaster.<zone>"
  uint32_t serial = 1;
  uint32_t refresh = 3600;
  uint32_t retry = 600;
  uint32_t expire = 86400;
  uint32_t minimum = 5;
};

// One record. Its owner is the question's name unless `owner` is set; either is written as a
// pointer into the question when it is the question's name or one of its suffixes.
struct Record {
  uint16_t type = kTypeA;  // kTypeA, kTypePtr, kTypeNs or kTypeSoa
  uint32_t ttl = 0;
  uint32_t ipv4 = 0;          // kTypeA, host order
  const Name* ptr = nullptr;  // kTypePtr and kTypeNs: the target name
  const Soa* soa = nullptr;   // kTypeSoa
  const Name* owner = nullptr;
};

struct ResponseSpec {
  uint16_t id = 0;
  uint8_t opcode = kOpcodeQuery;
  bool recursion_desired = false;
  bool authoritative = false;
  Rcode rcode = Rcode::kNoError;
  const Question* question = nullptr;  // null: no question section (a FORMERR about it)
  std::span<const Record> answers;
  std::span<const Record> authority;  // e.g. the zone's SOA on NXDOMAIN/NODATA (RFC 2308)
  bool edns = false;                  // add an OPT record advertising kEdnsUdpSize
};
inline constexpr uint16_t kEdnsUdpSize = 1232;

// Returns the message size, or 0 if `out` is too small or a record is invalid.
size_t BuildResponse(const ResponseSpec& spec, std::span<uint8_t> out);

// A UDP client takes replies up to 512 bytes, or up to the size its EDNS0 OPT advertises (RFC 6891
// 6.2.5; below 512 counts as 512); at most `cap`, what the node writes onto its TAP (>= 512).
size_t UdpReplyLimit(const Query& query, size_t cap);

// What a UDP client gets instead of a response too large for it (RFC 1035 4.2.1, RFC 7766 5):
// the header with TC set and no records, the question when `response` has a readable one, and,
// when `edns` (the query had an OPT), an OPT advertising kEdnsUdpSize (RFC 6891 7). The client
// then asks again over TCP. Returns the size, at most kMaxTruncatedSize, or 0 if `response` is
// shorter than a header or `out` too small.
inline constexpr size_t kMaxTruncatedSize = kHeaderSize + kMaxNameSize + 4 + 11;
size_t TruncateResponse(std::span<const uint8_t> response, bool edns, std::span<uint8_t> out);

// A response decoded for checks (tests, fuzzing): the question, the first kMaxAnswers answer
// records and the first kMaxAuthority authority records.
struct ParsedRecord {
  Name owner;
  uint16_t type = 0;
  uint16_t klass = 0;
  uint32_t ttl = 0;
  uint32_t ipv4 = 0;  // type A with 4 bytes of data
  Name ptr;           // type PTR and NS; type SOA: its mname
  Name soa_rname;     // type SOA
  uint32_t soa_serial = 0, soa_minimum = 0;
  uint16_t rdlength = 0;
};
struct Response {
  static constexpr size_t kMaxAnswers = 4;
  uint16_t id = 0;
  uint8_t opcode = 0;
  bool authoritative = false;
  bool truncated = false;
  bool recursion_desired = false;
  bool recursion_available = false;
  Rcode rcode = Rcode::kNoError;
  uint8_t rcode_raw = 0;
  uint16_t question_count = 0;
  Question question;  // valid when question_count == 1
  uint16_t answer_count = 0;
  ParsedRecord answers[kMaxAnswers];
  static constexpr size_t kMaxAuthority = 2;
  uint16_t authority_count = 0;
  ParsedRecord authority[kMaxAuthority];
  bool has_edns = false;
};
ParseError ParseResponse(std::span<const uint8_t> msg, Response* out);

}  // namespace ipop::dns
