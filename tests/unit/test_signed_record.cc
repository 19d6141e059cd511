// The signed-record codec: a record round-trips, the signed part is everything before the
// signature, and each malformed shape is refused with its own error.
#include <gtest/gtest.h>

#include "controlplane/dht/signed_record.h"

namespace ipop::cp {
namespace {

std::vector<uint8_t> Claim() {
  return {3, 'a', 'b', 'c', 9, 9};
}

TEST(SignedRecord, RoundTrips) {
  SignedRecordKeyId owner;
  owner.fill(7);
  const std::vector<uint8_t> claim = Claim();
  std::vector<uint8_t> b = EncodeSignedRecord(SignedRecordType::kName, false, claim, owner, 42, 99);
  ASSERT_EQ(b.size(), kSignedRecordFixedSize + claim.size());
  b.back() = 0x5a;
  SignedRecordView v;
  ASSERT_EQ(DecodeSignedRecord(b, &v), SignedRecordError::kNone);
  EXPECT_EQ(v.type, SignedRecordType::kName);
  EXPECT_FALSE(v.tombstone);
  EXPECT_EQ(std::vector<uint8_t>(v.claim.begin(), v.claim.end()), claim);
  EXPECT_EQ(v.owner, owner);
  EXPECT_EQ(v.version, 42u);
  EXPECT_EQ(v.expiry, 99u);
  EXPECT_EQ(v.signature.back(), 0x5a);
  EXPECT_EQ(v.signed_part.size(), b.size() - kSignedRecordSignatureSize);
}

TEST(SignedRecord, MessageBindsTypeAndKey) {
  const std::vector<uint8_t> part = {1, 2, 3};
  DhtKey k1{}, k2{};
  k2[0] = 1;
  EXPECT_NE(SignedRecordMessage(SignedRecordType::kVip, k1, part),
            SignedRecordMessage(SignedRecordType::kName, k1, part));
  EXPECT_NE(SignedRecordMessage(SignedRecordType::kVip, k1, part),
            SignedRecordMessage(SignedRecordType::kVip, k2, part));
}

TEST(SignedRecord, RefusesMalformed) {
  SignedRecordKeyId owner{};
  const std::vector<uint8_t> good =
      EncodeSignedRecord(SignedRecordType::kVip, false, Claim(), owner, 1, 2);
  SignedRecordView v;
  auto with = [&](size_t i, uint8_t x) {
    std::vector<uint8_t> b = good;
    b[i] = x;
    return DecodeSignedRecord(b, &v);
  };
  EXPECT_EQ(with(0, 2), SignedRecordError::kFormat);
  EXPECT_EQ(with(1, 0), SignedRecordError::kType);
  EXPECT_EQ(with(1, 5), SignedRecordError::kType);
  EXPECT_EQ(with(2, 2), SignedRecordError::kFlags);
  EXPECT_EQ(with(3, 1), SignedRecordError::kReserved);
  EXPECT_EQ(with(4, 0xff), SignedRecordError::kClaimLength);
  EXPECT_EQ(with(2, 1), SignedRecordError::kTombstoneClaim);
  std::vector<uint8_t> b = good;
  b.pop_back();
  EXPECT_EQ(DecodeSignedRecord(b, &v), SignedRecordError::kTruncated);
  b = good;
  b.push_back(0);
  EXPECT_EQ(DecodeSignedRecord(b, &v), SignedRecordError::kTrailing);
  EXPECT_EQ(DecodeSignedRecord(std::span(good).first(10), &v), SignedRecordError::kTruncated);
  // Encoding refuses what decoding would.
  EXPECT_TRUE(EncodeSignedRecord(SignedRecordType::kVip, true, Claim(), owner, 1, 2).empty());
  EXPECT_TRUE(EncodeSignedRecord(SignedRecordType::kVip, false,
                                 std::vector<uint8_t>(kSignedRecordMaxClaim + 1), owner, 1, 2)
                  .empty());
}

}  // namespace
}  // namespace ipop::cp
