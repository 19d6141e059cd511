// DHT requests and replies: the body the overlay carries to the replicas of a key and back.
// All integers big endian; every message names one key.
//
//   offset size field
//        0    1 type: 1 CREATE, 2 PUT, 3 GET, 4 REMOVE, 5 REPLICATE, 6 REPLY
//        1    1 flags: REPLICATE bit 0 = repair (DhtMergeMode::kRepair, else handover);
//                      REPLY bit 0 = truncated (the replica holds more values than it sent);
//                      zero for the other types
//        2    1 status: REPLY only (DhtStatus), zero otherwise
//        3    1 reserved, zero
//        4    8 request id, echoed by the REPLY
//       12   20 key
//   CREATE, PUT:  32 owner (20) | 52 ttl ms (4) | 56 version (8) | 64 value length (2) | 66 value
//   GET:          nothing more
//   REMOVE:       32 owner (20) | 52 value length (2) | 54 value
//   REPLICATE, REPLY: 32 record count (2), then each record:
//                 flags (1, bit 0 = exclusive) | owner (20) | ttl ms (4) | version (8) |
//                 value length (2) | value
//
// Decoding yields views into the datagram; it checks every length against the bytes present and
// against kDhtMaxWireValue / kDhtMaxRecords, and rejects unknown types, flags, statuses and
// non-zero reserved bits. Trailing bytes are an error. Limits of the store (value size, TTL) are
// the store's business: the codec is only about shape.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "controlplane/dht/dht_key.h"
#include "controlplane/dht/dht_record.h"

namespace ipop::cp {

inline constexpr size_t kDhtHeaderSize = 32;
inline constexpr size_t kDhtWriteFixedSize = 66;    // CREATE / PUT before the value
inline constexpr size_t kDhtRemoveFixedSize = 54;   // REMOVE before the value
inline constexpr size_t kDhtRecordsFixedSize = 34;  // REPLICATE / REPLY before the records
inline constexpr size_t kDhtRecordFixedSize = 35;   // one record before its value
inline constexpr size_t kDhtMaxWireValue = 4096;    // no store is configured above this
inline constexpr size_t kDhtMaxRecords = 64;

enum class DhtMsgType : uint8_t {
  kCreate = 1,
  kPut = 2,
  kGet = 3,
  kRemove = 4,
  kReplicate = 5,
  kReply = 6,
};

inline constexpr uint8_t kDhtFlagRepair = 1;     // REPLICATE
inline constexpr uint8_t kDhtFlagTruncated = 1;  // REPLY
inline constexpr uint8_t kDhtRecordExclusive = 1;

struct DhtRecordView {
  DhtOwner owner{};
  std::span<const uint8_t> value;
  uint32_t ttl_ms = 0;
  uint64_t version = 0;
  bool exclusive = false;
};

// Encoder input and decoder output. Spans point into caller memory (encode) or into the datagram
// (decode): a decoded message is valid only as long as the datagram.
struct DhtMessage {
  DhtMsgType type = DhtMsgType::kGet;
  uint8_t flags = 0;
  DhtStatus status = DhtStatus::kOk;  // REPLY
  uint64_t request_id = 0;
  DhtKey key{};
  // CREATE, PUT, REMOVE
  DhtOwner owner{};
  uint32_t ttl_ms = 0;   // CREATE, PUT
  uint64_t version = 0;  // CREATE, PUT
  std::span<const uint8_t> value;
  // REPLICATE, REPLY
  size_t record_count = 0;
  std::array<DhtRecordView, kDhtMaxRecords> records{};
};

// In the order they are checked.
enum class DhtMsgError : uint8_t {
  kNone = 0,
  kTooShort,        // shorter than the fixed part of its type
  kBadType,         // unknown message type
  kBadFlags,        // flag bits not defined for this type
  kBadStatus,       // REPLY status unknown, or a request with a status
  kBadReserved,     // reserved byte not zero
  kValueTooLong,    // a value length above kDhtMaxWireValue
  kTooManyRecords,  // record count above kDhtMaxRecords
  kTruncated,       // a value or record runs past the end
  kBadRecordFlags,  // record flag bits other than exclusive
  kTrailingBytes,   // bytes after the last field
};
const char* DhtMsgErrorName(DhtMsgError e);

// Bytes EncodeDhtMessage will write for `m`.
size_t DhtMessageSize(const DhtMessage& m);
// Returns the size written, or 0 if `out` is too small or `m` breaks a codec limit.
size_t EncodeDhtMessage(const DhtMessage& m, std::span<uint8_t> out);
// *out is fully written only on kNone. Never reads outside `bytes`.
DhtMsgError DecodeDhtMessage(std::span<const uint8_t> bytes, DhtMessage* out);

// The portable record a decoded REPLICATE / REPLY entry stands for.
DhtRecord ToDhtRecord(const DhtKey& key, const DhtRecordView& v);
DhtRecordView ToDhtRecordView(const DhtRecord& r);

}  // namespace ipop::cp
