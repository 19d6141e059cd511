#include "controlplane/dht/dht_messages.h"

#include <cstring>

#include "shared/byte_order.h"
#include "shared/wire.h"

namespace ipop::cp {
namespace {

constexpr size_t kOffType = 0;
constexpr size_t kOffFlags = 1;
constexpr size_t kOffStatus = 2;
constexpr size_t kOffReserved = 3;
constexpr size_t kOffRequestId = 4;
constexpr size_t kOffKey = 12;
static_assert(kOffKey + kDhtKeySize == kDhtHeaderSize);

bool HasRecords(DhtMsgType t) {
  return t == DhtMsgType::kReplicate || t == DhtMsgType::kReply;
}

uint8_t AllowedFlags(DhtMsgType t) {
  switch (t) {
    case DhtMsgType::kReplicate:
      return kDhtFlagRepair;
    case DhtMsgType::kReply:
      return kDhtFlagTruncated;
    default:
      return 0;
  }
}

bool KnownType(uint8_t t) {
  return t >= uint8_t(DhtMsgType::kCreate) && t <= uint8_t(DhtMsgType::kReply);
}

size_t FixedSize(DhtMsgType t) {
  switch (t) {
    case DhtMsgType::kCreate:
    case DhtMsgType::kPut:
      return kDhtWriteFixedSize;
    case DhtMsgType::kRemove:
      return kDhtRemoveFixedSize;
    case DhtMsgType::kReplicate:
    case DhtMsgType::kReply:
      return kDhtRecordsFixedSize;
    case DhtMsgType::kGet:
      break;
  }
  return kDhtHeaderSize;
}

// Bounds-checked cursor over the datagram.
class Cursor {
 public:
  explicit Cursor(std::span<const uint8_t> b) : b_(b) {}
  size_t left() const { return b_.size() - pos_; }
  const uint8_t* Take(size_t n) {
    if (left() < n) return nullptr;
    const uint8_t* p = b_.data() + pos_;
    pos_ += n;
    return p;
  }

 private:
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
};

}  // namespace

const char* DhtMsgErrorName(DhtMsgError e) {
  switch (e) {
    case DhtMsgError::kNone:
      return "none";
    case DhtMsgError::kTooShort:
      return "too_short";
    case DhtMsgError::kBadType:
      return "bad_type";
    case DhtMsgError::kBadFlags:
      return "bad_flags";
    case DhtMsgError::kBadStatus:
      return "bad_status";
    case DhtMsgError::kBadReserved:
      return "bad_reserved";
    case DhtMsgError::kValueTooLong:
      return "value_too_long";
    case DhtMsgError::kTooManyRecords:
      return "too_many_records";
    case DhtMsgError::kTruncated:
      return "truncated";
    case DhtMsgError::kBadRecordFlags:
      return "bad_record_flags";
    case DhtMsgError::kTrailingBytes:
      return "trailing_bytes";
  }
  return "unknown";
}

size_t DhtMessageSize(const DhtMessage& m) {
  size_t n = FixedSize(m.type);
  if (m.type == DhtMsgType::kCreate || m.type == DhtMsgType::kPut || m.type == DhtMsgType::kRemove)
    n += m.value.size();
  if (HasRecords(m.type))
    for (size_t i = 0; i < m.record_count && i < kDhtMaxRecords; ++i)
      n += kDhtRecordFixedSize + m.records[i].value.size();
  return n;
}

size_t EncodeDhtMessage(const DhtMessage& m, std::span<uint8_t> out) {
  if (!KnownType(uint8_t(m.type)) || (m.flags & ~AllowedFlags(m.type)) != 0) return 0;
  if (uint32_t(m.status) >= kDhtStatusCount) return 0;
  if (m.type != DhtMsgType::kReply && m.status != DhtStatus::kOk) return 0;
  if (m.value.size() > kDhtMaxWireValue || m.record_count > kDhtMaxRecords) return 0;
  if (HasRecords(m.type))
    for (size_t i = 0; i < m.record_count; ++i)
      if (m.records[i].value.size() > kDhtMaxWireValue) return 0;
  const size_t total = DhtMessageSize(m);
  if (out.size() < total) return 0;

  uint8_t* p = out.data();
  p[kOffType] = uint8_t(m.type);
  p[kOffFlags] = m.flags;
  p[kOffStatus] = uint8_t(m.status);
  p[kOffReserved] = 0;
  wire::StoreBe64(p + kOffRequestId, m.request_id);
  std::memcpy(p + kOffKey, m.key.data(), kDhtKeySize);
  p += kDhtHeaderSize;
  const auto put_value = [&p](std::span<const uint8_t> v) {
    StoreBe16(p, uint16_t(v.size()));
    if (!v.empty()) std::memcpy(p + 2, v.data(), v.size());
    p += 2 + v.size();
  };
  switch (m.type) {
    case DhtMsgType::kCreate:
    case DhtMsgType::kPut:
      std::memcpy(p, m.owner.data(), kDhtKeySize);
      wire::StoreBe32(p + 20, m.ttl_ms);
      wire::StoreBe64(p + 24, m.version);
      p += 32;
      put_value(m.value);
      break;
    case DhtMsgType::kRemove:
      std::memcpy(p, m.owner.data(), kDhtKeySize);
      p += kDhtKeySize;
      put_value(m.value);
      break;
    case DhtMsgType::kReplicate:
    case DhtMsgType::kReply:
      StoreBe16(p, uint16_t(m.record_count));
      p += 2;
      for (size_t i = 0; i < m.record_count; ++i) {
        const DhtRecordView& r = m.records[i];
        p[0] = r.exclusive ? kDhtRecordExclusive : 0;
        std::memcpy(p + 1, r.owner.data(), kDhtKeySize);
        wire::StoreBe32(p + 21, r.ttl_ms);
        wire::StoreBe64(p + 25, r.version);
        p += 33;
        put_value(r.value);
      }
      break;
    case DhtMsgType::kGet:
      break;
  }
  return total;
}

DhtMsgError DecodeDhtMessage(std::span<const uint8_t> bytes, DhtMessage* out) {
  if (bytes.size() < kDhtHeaderSize) return DhtMsgError::kTooShort;
  const uint8_t* h = bytes.data();
  if (!KnownType(h[kOffType])) return DhtMsgError::kBadType;
  const auto type = DhtMsgType(h[kOffType]);
  if (bytes.size() < FixedSize(type)) return DhtMsgError::kTooShort;
  if ((h[kOffFlags] & ~AllowedFlags(type)) != 0) return DhtMsgError::kBadFlags;
  if (h[kOffStatus] >= kDhtStatusCount || (type != DhtMsgType::kReply && h[kOffStatus] != 0))
    return DhtMsgError::kBadStatus;
  if (h[kOffReserved] != 0) return DhtMsgError::kBadReserved;

  DhtMessage m;
  m.type = type;
  m.flags = h[kOffFlags];
  m.status = DhtStatus(h[kOffStatus]);
  m.request_id = wire::LoadBe64(h + kOffRequestId);
  std::memcpy(m.key.data(), h + kOffKey, kDhtKeySize);

  Cursor c(bytes.subspan(kDhtHeaderSize));
  // A length-prefixed value; the fixed bytes before it were checked by the caller.
  const auto take_value = [&c](std::span<const uint8_t>* v) {
    const uint16_t len = LoadBe16(c.Take(2));
    if (len > kDhtMaxWireValue) return DhtMsgError::kValueTooLong;
    const uint8_t* p = c.Take(len);
    if (p == nullptr) return DhtMsgError::kTruncated;
    *v = {p, len};
    return DhtMsgError::kNone;
  };
  DhtMsgError err = DhtMsgError::kNone;
  switch (type) {
    case DhtMsgType::kCreate:
    case DhtMsgType::kPut: {
      const uint8_t* p = c.Take(32);  // present: FixedSize was checked
      std::memcpy(m.owner.data(), p, kDhtKeySize);
      m.ttl_ms = wire::LoadBe32(p + 20);
      m.version = wire::LoadBe64(p + 24);
      err = take_value(&m.value);
      break;
    }
    case DhtMsgType::kRemove:
      std::memcpy(m.owner.data(), c.Take(kDhtKeySize), kDhtKeySize);
      err = take_value(&m.value);
      break;
    case DhtMsgType::kReplicate:
    case DhtMsgType::kReply: {
      m.record_count = LoadBe16(c.Take(2));
      if (m.record_count > kDhtMaxRecords) return DhtMsgError::kTooManyRecords;
      for (size_t i = 0; i < m.record_count && err == DhtMsgError::kNone; ++i) {
        const uint8_t* p = c.Take(kDhtRecordFixedSize - 2);
        if (p == nullptr || c.left() < 2) return DhtMsgError::kTruncated;
        if ((p[0] & ~kDhtRecordExclusive) != 0) return DhtMsgError::kBadRecordFlags;
        DhtRecordView& r = m.records[i];
        r.exclusive = p[0] & kDhtRecordExclusive;
        std::memcpy(r.owner.data(), p + 1, kDhtKeySize);
        r.ttl_ms = wire::LoadBe32(p + 21);
        r.version = wire::LoadBe64(p + 25);
        err = take_value(&r.value);
      }
      break;
    }
    case DhtMsgType::kGet:
      break;
  }
  if (err != DhtMsgError::kNone) return err;
  if (c.left() != 0) return DhtMsgError::kTrailingBytes;
  *out = m;
  return DhtMsgError::kNone;
}

DhtRecord ToDhtRecord(const DhtKey& key, const DhtRecordView& v) {
  DhtRecord r;
  r.key = key;
  r.owner = v.owner;
  r.value.assign(v.value.begin(), v.value.end());
  r.ttl_ms = v.ttl_ms;
  r.version = v.version;
  r.exclusive = v.exclusive;
  return r;
}

DhtRecordView ToDhtRecordView(const DhtRecord& r) {
  return {r.owner, r.value, r.ttl_ms, r.version, r.exclusive};
}

}  // namespace ipop::cp
