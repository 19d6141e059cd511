// A replica's and a reader's checks of signed records in certificate mode (ClaimAuthority): an
// owner's chain is taken only from its own `cert:` key; a record of an unknown owner is refused
// and asks for the owner's chain; a REMOVE is refused, a REPLICATE that names another writer is
// refused, another owner cannot take a live VIP or name but can take a released one, a replay is
// refused, and a revoked owner's records stop counting for writers and readers.
#include <gtest/gtest.h>

#include "controlplane/dht/dht_key.h"
#include "controlplane/directory/claim_authority.h"
#include "identity_fixtures.h"

namespace ipop::cp {
namespace {

using identity::Certificate;
using identity::PrivateKey;
using namespace identity::testing;

constexpr uint64_t kNow = kT0 + 100;
constexpr uint64_t kExpiry = kNow + 3600;
const std::string kVip = "vip:lab:10.77.0.3";

DhtOwner OwnerOf(const PrivateKey& k) {
  const identity::RingAddressBytes r = identity::RingAddressFromKey(k.public_key());
  DhtOwner o;
  std::copy(r.begin(), r.end(), o.begin());
  return o;
}

class ClaimAuthorityTest : public ::testing::Test {
 protected:
  ClaimAuthorityTest() : ca_(Key(1)), k1_(Key(3)), k2_(Key(4)), root_(Root(*ca_)) {
    n1_ = Issue(NodeFields(*k1_, "n1"), *ca_);
    identity::CertificateFields f2 = NodeFields(*k2_, "n2");
    f2.serial = SerialOf(4);
    f2.vips = {P(10, 77, 0, 0, 24)};
    n2_ = Issue(f2, *ca_);
    identity::NodeIdentity::Parts parts;
    parts.key = Key(5);
    identity::CertificateFields f0 = NodeFields(*parts.key, "n0");
    f0.serial = SerialOf(5);
    parts.cert = Issue(f0, *ca_);
    parts.network_roots = {root_};
    parts.overlay_roots = {root_};
    parts.network = "lab";
    identity::NodeIdentity::Loaded l = identity::NodeIdentity::Create(std::move(parts), kNow);
    EXPECT_EQ(l.error, "");
    self_ = std::move(l.identity);
    auth_ = std::make_unique<ClaimAuthority>(*self_);
  }
  void Know(const PrivateKey& k, const Certificate& c) {
    ASSERT_TRUE(auth_->OfferChain(CertRecordKey(identity::RingAddressFromKey(k.public_key())),
                                  identity::EncodeChain(c, nullptr), kNow));
  }
  static std::vector<uint8_t> Vip(const PrivateKey& k, uint64_t version, bool tombstone = false) {
    const identity::RingAddressBytes r = identity::RingAddressFromKey(k.public_key());
    const std::vector<uint8_t> claim =
        tombstone ? std::vector<uint8_t>{}
                  : *EncodeClaim(kVip, std::vector<uint8_t>(r.begin(), r.end()));
    return SignRecord(k, SignedRecordType::kVip, HashDhtKey(kVip), tombstone, claim, version,
                      kExpiry);
  }
  DhtStatus Write(DhtMsgType op, const PrivateKey& writer, const std::vector<uint8_t>& value,
                  const std::vector<DhtRecord>& stored = {}) {
    return auth_->CheckWrite(op, HashDhtKey(kVip), OwnerOf(writer), value, stored, kNow);
  }
  static DhtRecord Stored(const PrivateKey& k, const std::vector<uint8_t>& value) {
    DhtRecord r;
    r.key = HashDhtKey(kVip);
    r.owner = OwnerOf(k);
    r.value = value;
    return r;
  }

  std::unique_ptr<PrivateKey> ca_, k1_, k2_;
  Certificate root_, n1_, n2_;
  std::unique_ptr<identity::NodeIdentity> self_;
  std::unique_ptr<ClaimAuthority> auth_;
};

TEST_F(ClaimAuthorityTest, ChainsComeOnlyFromTheirOwnCertKey) {
  const std::vector<uint8_t> chain = identity::EncodeChain(n1_, nullptr);
  EXPECT_FALSE(auth_->OfferChain(CertRecordKey(identity::RingAddressFromKey(k2_->public_key())),
                                 chain, kNow));
  EXPECT_FALSE(auth_->OfferChain(HashDhtKey("cert:x"), chain, kNow));
  EXPECT_EQ(auth_->owner_chains(), 0u);
  Know(*k1_, n1_);
  EXPECT_EQ(auth_->owner_chains(), 1u);
  // A cert record is a valid write under its own key only.
  const DhtKey own = CertRecordKey(identity::RingAddressFromKey(k1_->public_key()));
  EXPECT_EQ(auth_->CheckWrite(DhtMsgType::kPut, own, OwnerOf(*k2_), chain, {}, kNow),
            DhtStatus::kOk);
  EXPECT_EQ(
      auth_->CheckWrite(DhtMsgType::kPut, HashDhtKey("cert:x"), OwnerOf(*k1_), chain, {}, kNow),
      DhtStatus::kNotAuthorized);
}

TEST_F(ClaimAuthorityTest, UnknownOwnerIsRefusedAndAskedFor) {
  std::vector<DhtOwner> asked;
  auth_->SetUnknownOwnerHandler([&](const DhtOwner& o) { asked.push_back(o); });
  EXPECT_EQ(Write(DhtMsgType::kCreate, *k1_, Vip(*k1_, 1)), DhtStatus::kNotAuthorized);
  EXPECT_EQ(auth_->counters().unknown_owner, 1u);
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0], OwnerOf(*k1_));
  Know(*k1_, n1_);
  EXPECT_EQ(Write(DhtMsgType::kCreate, *k1_, Vip(*k1_, 1)), DhtStatus::kOk);
}

TEST_F(ClaimAuthorityTest, RemoveIsRefused) {
  Know(*k1_, n1_);
  const std::vector<uint8_t> v = Vip(*k1_, 1);
  EXPECT_EQ(Write(DhtMsgType::kRemove, *k1_, v, {Stored(*k1_, v)}), DhtStatus::kNotAuthorized);
  // The owner's tombstone goes through as a write.
  EXPECT_EQ(Write(DhtMsgType::kCreate, *k1_, Vip(*k1_, 2, true), {Stored(*k1_, v)}),
            DhtStatus::kOk);
}

TEST_F(ClaimAuthorityTest, ReplicateCannotNameAnotherWriter) {
  Know(*k1_, n1_);
  Know(*k2_, n2_);
  // n1's record, replicated with n2 named as its writer.
  EXPECT_EQ(Write(DhtMsgType::kReplicate, *k2_, Vip(*k1_, 1)), DhtStatus::kNotAuthorized);
  EXPECT_EQ(Write(DhtMsgType::kReplicate, *k1_, Vip(*k1_, 1)), DhtStatus::kOk);
}

TEST_F(ClaimAuthorityTest, AnotherOwnerCannotTakeALiveClaimButATombstonedOne) {
  Know(*k1_, n1_);
  Know(*k2_, n2_);
  const std::vector<uint8_t> mine = Vip(*k1_, 1);
  EXPECT_EQ(Write(DhtMsgType::kReplicate, *k2_, Vip(*k2_, 50), {Stored(*k1_, mine)}),
            DhtStatus::kNotAuthorized);
  EXPECT_EQ(auth_->counters().owner_changed, 1u);
  // n2's tombstone cannot remove n1's record either.
  EXPECT_EQ(Write(DhtMsgType::kCreate, *k2_, Vip(*k2_, 60, true), {Stored(*k1_, mine)}),
            DhtStatus::kNotAuthorized);
  // Once n1 released it, n2 may claim it.
  EXPECT_EQ(Write(DhtMsgType::kCreate, *k2_, Vip(*k2_, 50), {Stored(*k1_, Vip(*k1_, 2, true))}),
            DhtStatus::kOk);
}

TEST_F(ClaimAuthorityTest, ReplayOfAnOldVersionIsRefused) {
  Know(*k1_, n1_);
  const std::vector<uint8_t> v5 = Vip(*k1_, 5);
  EXPECT_EQ(Write(DhtMsgType::kReplicate, *k1_, Vip(*k1_, 4), {Stored(*k1_, v5)}),
            DhtStatus::kNotAuthorized);
  EXPECT_EQ(auth_->counters().not_newer, 1u);
  // The very same record again is a refresh, not a replay.
  EXPECT_EQ(Write(DhtMsgType::kReplicate, *k1_, v5, {Stored(*k1_, v5)}), DhtStatus::kOk);
  EXPECT_EQ(Write(DhtMsgType::kCreate, *k1_, Vip(*k1_, 6), {Stored(*k1_, v5)}), DhtStatus::kOk);
}

TEST_F(ClaimAuthorityTest, RevokedOwnerStopsCounting) {
  Know(*k1_, n1_);
  const std::vector<uint8_t> v = Vip(*k1_, 1);
  std::vector<DhtRecord> got{Stored(*k1_, v)};
  EXPECT_EQ(auth_->Newest(HashDhtKey(kVip), got, kNow), std::optional<size_t>(0));
  const identity::SignedRevocation r = identity::RevokeCertificate(n1_, root_, *ca_, kNow);
  ASSERT_TRUE(r.revocation.has_value());
  ASSERT_EQ(self_->AddRevocation(*r.revocation, kNow), "");
  EXPECT_EQ(Write(DhtMsgType::kCreate, *k1_, Vip(*k1_, 2), got), DhtStatus::kNotAuthorized);
  EXPECT_EQ(auth_->Newest(HashDhtKey(kVip), got, kNow), std::nullopt);
}

}  // namespace
}  // namespace ipop::cp
