// Signed claims against the owner's certificate (docs/pki.md, "Signed claims in the DHT"): a
// claim the certificate allows verifies; a forged owner, a forged version, a VIP, name, subnet or
// group outside the certificate, a claim under another key and an expired record do not; a
// replica refuses a replay of an old record, another owner's record or tombstone over a stored
// one; readers take the newest valid record over a lying replica's forgeries.
#include <gtest/gtest.h>

#include <map>

#include "controlplane/dht/dht_key.h"
#include "controlplane/directory/signed_claim.h"
#include "controlplane/identity/node_identity.h"
#include "identity_fixtures.h"

namespace ipop::cp {
namespace {

using identity::Certificate;
using identity::PrivateKey;
using namespace identity::testing;

constexpr uint64_t kNow = kT0 + 100;
constexpr uint64_t kExpiry = kNow + 3600;

class SignedClaimTest : public ::testing::Test {
 protected:
  SignedClaimTest()
      : ca_(Key(1)),
        k1_(Key(3)),
        k2_(Key(4)),
        n1_(Issue(NodeFields(*k1_, "n1"), *ca_)),
        n2_(Issue(N2Fields(*k2_), *ca_)) {
    certs_[n1_.key_id()] = &n1_;
    certs_[n2_.key_id()] = &n2_;
  }
  // n2 may claim the whole pool 10.77.0.0/24, so its claim of n1's address is permitted and only
  // ownership stands in its way.
  static identity::CertificateFields N2Fields(const PrivateKey& k) {
    identity::CertificateFields f = NodeFields(k, "n2");
    f.serial = SerialOf(4);
    f.vips = {P(10, 77, 0, 0, 24)};
    return f;
  }

  OwnerCertFn Certs() {
    return [this](const SignedRecordKeyId& id) -> const Certificate* {
      const auto it = certs_.find(id);
      return it == certs_.end() ? nullptr : it->second;
    };
  }
  static std::vector<uint8_t> Ring(const PrivateKey& k) {
    const identity::RingAddressBytes r = identity::RingAddressFromKey(k.public_key());
    return {r.begin(), r.end()};
  }
  static std::vector<uint8_t> Record(const PrivateKey& signer, SignedRecordType type,
                                     const std::string& name, std::vector<uint8_t> payload,
                                     uint64_t version, uint64_t expiry = kExpiry) {
    return SignRecord(signer, type, HashDhtKey(name), false, *EncodeClaim(name, payload), version,
                      expiry);
  }
  static std::vector<uint8_t> VipRecord(const PrivateKey& signer, const std::string& vip,
                                        uint64_t version) {
    return Record(signer, SignedRecordType::kVip, "vip:lab:" + vip, Ring(signer), version);
  }
  ClaimVerdict Verify(const std::string& name, const std::vector<uint8_t>& value,
                      SignedRecordView* out = nullptr) {
    return VerifyRecord(HashDhtKey(name), value, Certs(), kNow, out);
  }

  std::unique_ptr<PrivateKey> ca_, k1_, k2_;
  Certificate n1_, n2_;
  std::map<SignedRecordKeyId, const Certificate*> certs_;
};

TEST_F(SignedClaimTest, PermittedClaimsVerify) {
  EXPECT_EQ(Verify("vip:lab:10.77.0.3", VipRecord(*k1_, "10.77.0.3", 1)), ClaimVerdict::kOk);
  EXPECT_EQ(Verify("name:n1.lab", Record(*k1_, SignedRecordType::kName, "name:n1.lab", {}, 1)),
            ClaimVerdict::kOk);
  EXPECT_EQ(Verify("routes:lab", Record(*k1_, SignedRecordType::kRoutes, "routes:lab",
                                        {1, 192, 168, 1, 128, 25}, 1)),
            ClaimVerdict::kOk);
  EXPECT_EQ(Verify("mcast:lab:239.1.2.3#2",
                   Record(*k1_, SignedRecordType::kMulticast, "mcast:lab:239.1.2.3#2", {}, 1)),
            ClaimVerdict::kOk);
}

TEST_F(SignedClaimTest, ForgedOwnerIsRefused) {
  // Names n1 as owner, signed by n2.
  const std::string name = "vip:lab:10.77.0.3";
  const std::vector<uint8_t> claim = *EncodeClaim(name, Ring(*k1_));
  std::vector<uint8_t> rec =
      EncodeSignedRecord(SignedRecordType::kVip, false, claim, n1_.key_id(), 5, kExpiry);
  const size_t signed_len = rec.size() - kSignedRecordSignatureSize;
  const identity::Signature sig = k2_->Sign(SignedRecordMessage(
      SignedRecordType::kVip, HashDhtKey(name), std::span(rec).first(signed_len)));
  std::copy(sig.begin(), sig.end(), rec.begin() + ptrdiff_t(signed_len));
  EXPECT_EQ(Verify(name, rec), ClaimVerdict::kBadSignature);
  // An owner nobody has a certificate for.
  const std::unique_ptr<PrivateKey> stranger = Key(9);
  EXPECT_EQ(Verify(name, VipRecord(*stranger, "10.77.0.3", 1)), ClaimVerdict::kUnknownOwner);
}

TEST_F(SignedClaimTest, ForgedVersionIsRefused) {
  std::vector<uint8_t> rec = VipRecord(*k1_, "10.77.0.3", 5);
  SignedRecordView v;
  ASSERT_EQ(DecodeSignedRecord(rec, &v), SignedRecordError::kNone);
  // The version's last byte sits 9 bytes before the signature (then the 8-byte expiry).
  rec[rec.size() - kSignedRecordSignatureSize - 9] = 0xff;
  EXPECT_EQ(Verify("vip:lab:10.77.0.3", rec), ClaimVerdict::kBadSignature);
}

TEST_F(SignedClaimTest, ReplayOfAnOldRecordIsRefused) {
  SignedRecordView old_rec, new_rec;
  const std::vector<uint8_t> a = VipRecord(*k1_, "10.77.0.3", 1);
  const std::vector<uint8_t> b = VipRecord(*k1_, "10.77.0.3", 2);
  ASSERT_EQ(Verify("vip:lab:10.77.0.3", a, &old_rec), ClaimVerdict::kOk);
  ASSERT_EQ(Verify("vip:lab:10.77.0.3", b, &new_rec), ClaimVerdict::kOk);
  EXPECT_EQ(CheckSuccession(&old_rec, new_rec), ClaimVerdict::kOk);
  EXPECT_EQ(CheckSuccession(&new_rec, old_rec), ClaimVerdict::kNotNewer);
  EXPECT_EQ(CheckSuccession(&new_rec, new_rec), ClaimVerdict::kNotNewer);
  EXPECT_EQ(Verify("vip:lab:10.77.0.3", VipRecord(*k1_, "10.77.0.3", 1), nullptr),
            ClaimVerdict::kOk);
  // Expired records are refused outright.
  EXPECT_EQ(Verify("vip:lab:10.77.0.3",
                   Record(*k1_, SignedRecordType::kVip, "vip:lab:10.77.0.3", Ring(*k1_), 3, kNow)),
            ClaimVerdict::kExpired);
}

TEST_F(SignedClaimTest, VipOutsideTheCertificateIsRefused) {
  EXPECT_EQ(Verify("vip:lab:10.77.0.2", VipRecord(*k1_, "10.77.0.2", 1)),
            ClaimVerdict::kNotPermitted);
  // The ring address in a VIP claim must be the owner's.
  EXPECT_EQ(Verify("vip:lab:10.77.0.3",
                   Record(*k1_, SignedRecordType::kVip, "vip:lab:10.77.0.3", Ring(*k2_), 1)),
            ClaimVerdict::kNotPermitted);
  // Another network's key.
  EXPECT_EQ(Verify("vip:other:10.77.0.3",
                   Record(*k1_, SignedRecordType::kVip, "vip:other:10.77.0.3", Ring(*k1_), 1)),
            ClaimVerdict::kNotPermitted);
  // A permitted claim moved under another key: the signature covers the key.
  EXPECT_EQ(Verify("vip:lab:10.77.0.2", VipRecord(*k1_, "10.77.0.3", 1)),
            ClaimVerdict::kBadSignature);
  // Signed for the other key, but claiming the permitted VIP.
  EXPECT_EQ(Verify("vip:lab:10.77.0.2",
                   SignRecord(*k1_, SignedRecordType::kVip, HashDhtKey("vip:lab:10.77.0.2"), false,
                              *EncodeClaim("vip:lab:10.77.0.3", Ring(*k1_)), 1, kExpiry)),
            ClaimVerdict::kWrongKey);
}

TEST_F(SignedClaimTest, NameNotTheCertificatesIsRefused) {
  EXPECT_EQ(Verify("name:n2.lab", Record(*k1_, SignedRecordType::kName, "name:n2.lab", {}, 1)),
            ClaimVerdict::kNotPermitted);
  EXPECT_EQ(Verify("name:n1x.lab", Record(*k1_, SignedRecordType::kName, "name:n1x.lab", {}, 1)),
            ClaimVerdict::kNotPermitted);
}

TEST_F(SignedClaimTest, SubnetOutsideTheCertificateIsRefused) {
  // One allowed prefix and one outside: the record is refused as a whole.
  EXPECT_EQ(Verify("routes:lab", Record(*k1_, SignedRecordType::kRoutes, "routes:lab",
                                        {2, 192, 168, 1, 0, 24, 192, 168, 2, 0, 24}, 1)),
            ClaimVerdict::kNotPermitted);
  EXPECT_EQ(Verify("routes:lab", Record(*k1_, SignedRecordType::kRoutes, "routes:lab",
                                        {1, 192, 168, 0, 0, 16}, 1)),
            ClaimVerdict::kNotPermitted);
}

TEST_F(SignedClaimTest, GroupOutsideTheCertificateIsRefused) {
  EXPECT_EQ(Verify("mcast:lab:239.2.0.1",
                   Record(*k1_, SignedRecordType::kMulticast, "mcast:lab:239.2.0.1", {}, 1)),
            ClaimVerdict::kNotPermitted);
}

TEST_F(SignedClaimTest, RemoveByANonOwnerIsRefused) {
  const std::string name = "vip:lab:10.77.0.3";
  SignedRecordView stored, tomb;
  ASSERT_EQ(Verify(name, VipRecord(*k1_, "10.77.0.3", 1), &stored), ClaimVerdict::kOk);
  // n2's tombstone verifies as n2's own statement, but it may not remove n1's record.
  ASSERT_EQ(
      Verify(name, SignRecord(*k2_, SignedRecordType::kVip, HashDhtKey(name), true, {}, 9, kExpiry),
             &tomb),
      ClaimVerdict::kOk);
  EXPECT_EQ(CheckSuccession(&stored, tomb), ClaimVerdict::kOwnerChanged);
  EXPECT_EQ(CheckSuccession(nullptr, tomb), ClaimVerdict::kNothingToRemove);
  // The owner's own newer tombstone removes it.
  SignedRecordView own;
  ASSERT_EQ(
      Verify(name, SignRecord(*k1_, SignedRecordType::kVip, HashDhtKey(name), true, {}, 2, kExpiry),
             &own),
      ClaimVerdict::kOk);
  EXPECT_EQ(CheckSuccession(&stored, own), ClaimVerdict::kOk);
}

TEST_F(SignedClaimTest, ReplicateCannotChangeTheOwner) {
  const std::string name = "vip:lab:10.77.0.3";
  SignedRecordView stored, rival;
  ASSERT_EQ(Verify(name, VipRecord(*k1_, "10.77.0.3", 1), &stored), ClaimVerdict::kOk);
  // n2 is allowed the address (its pool), signs properly, and uses a higher version.
  ASSERT_EQ(Verify(name, VipRecord(*k2_, "10.77.0.3", 100), &rival), ClaimVerdict::kOk);
  EXPECT_EQ(CheckSuccession(&stored, rival), ClaimVerdict::kOwnerChanged);
}

TEST_F(SignedClaimTest, ReadersTakeTheNewestValidRecordOverALyingReplica) {
  const std::string name = "vip:lab:10.77.0.3";
  const DhtKey key = HashDhtKey(name);
  std::vector<DhtRecord> values(4);
  values[0].value = VipRecord(*k1_, "10.77.0.3", 3);
  values[1].value = VipRecord(*k1_, "10.77.0.3", 5);
  // The lying replica's copy: version raised without the owner's signature.
  values[2].value = VipRecord(*k1_, "10.77.0.3", 5);
  values[2].value[values[2].value.size() - kSignedRecordSignatureSize - 9] = 0x77;
  // And a record for a VIP n2 may not hold... stored under the key anyway.
  values[3].value = Record(*k2_, SignedRecordType::kVip, "vip:lab:10.77.0.3", Ring(*k1_), 50);
  ClaimCounters counters;
  const std::optional<size_t> best = NewestValidRecord(key, values, Certs(), kNow, &counters);
  ASSERT_TRUE(best.has_value());
  EXPECT_EQ(*best, 1u);
  EXPECT_EQ(counters.bad_signature, 1u);
  EXPECT_EQ(counters.not_permitted, 1u);
  // Another owner's tombstone hides nothing; the owner's newer one does.
  values.push_back({});
  values.back().value = SignRecord(*k2_, SignedRecordType::kVip, key, true, {}, 99, kExpiry);
  EXPECT_EQ(NewestValidRecord(key, values, Certs(), kNow, nullptr), std::optional<size_t>(1));
  values.push_back({});
  values.back().value = SignRecord(*k1_, SignedRecordType::kVip, key, true, {}, 6, kExpiry);
  EXPECT_EQ(NewestValidRecord(key, values, Certs(), kNow, nullptr), std::nullopt);
}

}  // namespace
}  // namespace ipop::cp
