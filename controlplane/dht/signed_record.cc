#include "controlplane/dht/signed_record.h"

#include <algorithm>
#include <string_view>

namespace ipop::cp {
namespace {

uint64_t Be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
void PutBe64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = uint8_t(v);
}

std::string_view Context(SignedRecordType t) {
  switch (t) {
    case SignedRecordType::kVip:
      return "ipop vip record v1";
    case SignedRecordType::kName:
      return "ipop name record v1";
    case SignedRecordType::kRoutes:
      return "ipop routes record v1";
    case SignedRecordType::kMulticast:
      return "ipop multicast record v1";
  }
  return "";
}

}  // namespace

const char* SignedRecordErrorName(SignedRecordError e) {
  switch (e) {
    case SignedRecordError::kNone:
      return "none";
    case SignedRecordError::kTruncated:
      return "truncated";
    case SignedRecordError::kFormat:
      return "unknown format";
    case SignedRecordError::kType:
      return "unknown record type";
    case SignedRecordError::kFlags:
      return "unknown flags";
    case SignedRecordError::kReserved:
      return "reserved byte set";
    case SignedRecordError::kClaimLength:
      return "claim too long";
    case SignedRecordError::kTombstoneClaim:
      return "tombstone with a claim";
    case SignedRecordError::kTrailing:
      return "trailing bytes";
  }
  return "?";
}

SignedRecordError DecodeSignedRecord(std::span<const uint8_t> b, SignedRecordView* out) {
  if (b.size() < kSignedRecordFixedSize) return SignedRecordError::kTruncated;
  if (b[0] != kSignedRecordFormat) return SignedRecordError::kFormat;
  if (b[1] < uint8_t(SignedRecordType::kVip) || b[1] > uint8_t(SignedRecordType::kMulticast))
    return SignedRecordError::kType;
  if (b[2] & ~kSignedRecordTombstone) return SignedRecordError::kFlags;
  if (b[3] != 0) return SignedRecordError::kReserved;
  const size_t claim = size_t(b[4]) << 8 | b[5];
  if (claim > kSignedRecordMaxClaim) return SignedRecordError::kClaimLength;
  if (b.size() < kSignedRecordFixedSize + claim) return SignedRecordError::kTruncated;
  const bool tombstone = b[2] & kSignedRecordTombstone;
  if (tombstone && claim != 0) return SignedRecordError::kTombstoneClaim;
  if (b.size() > kSignedRecordFixedSize + claim) return SignedRecordError::kTrailing;
  SignedRecordView v;
  v.type = SignedRecordType(b[1]);
  v.tombstone = tombstone;
  size_t o = kSignedRecordHeaderSize;
  v.claim = b.subspan(o, claim);
  o += claim;
  std::copy_n(b.begin() + ptrdiff_t(o), kSignedRecordKeyIdSize, v.owner.begin());
  o += kSignedRecordKeyIdSize;
  v.version = Be64(b.data() + o);
  v.expiry = Be64(b.data() + o + 8);
  o += 16;
  v.signed_part = b.first(o);
  std::copy_n(b.begin() + ptrdiff_t(o), kSignedRecordSignatureSize, v.signature.begin());
  *out = v;
  return SignedRecordError::kNone;
}

std::vector<uint8_t> EncodeSignedRecord(SignedRecordType type, bool tombstone,
                                        std::span<const uint8_t> claim,
                                        const SignedRecordKeyId& owner, uint64_t version,
                                        uint64_t expiry) {
  if (claim.size() > kSignedRecordMaxClaim || (tombstone && !claim.empty())) return {};
  std::vector<uint8_t> b(kSignedRecordFixedSize + claim.size());
  b[0] = kSignedRecordFormat;
  b[1] = uint8_t(type);
  b[2] = tombstone ? kSignedRecordTombstone : 0;
  b[3] = 0;
  b[4] = uint8_t(claim.size() >> 8);
  b[5] = uint8_t(claim.size());
  size_t o = kSignedRecordHeaderSize;
  std::copy(claim.begin(), claim.end(), b.begin() + ptrdiff_t(o));
  o += claim.size();
  std::copy(owner.begin(), owner.end(), b.begin() + ptrdiff_t(o));
  o += kSignedRecordKeyIdSize;
  PutBe64(b.data() + o, version);
  PutBe64(b.data() + o + 8, expiry);
  return b;
}

std::vector<uint8_t> SignedRecordMessage(SignedRecordType type, const DhtKey& key,
                                         std::span<const uint8_t> signed_part) {
  const std::string_view ctx = Context(type);
  std::vector<uint8_t> m(ctx.begin(), ctx.end());
  m.insert(m.end(), key.begin(), key.end());
  m.insert(m.end(), signed_part.begin(), signed_part.end());
  return m;
}

}  // namespace ipop::cp
