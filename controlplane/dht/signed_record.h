// The signed-record codec (docs/pki.md, "Signed claims in the DHT"): in certificate mode every
// DHT value that carries a claim is
//   format (1) | type (1) | flags (1) | reserved (1) | claim length (2) | claim |
//   owner key id (16) | version (8) | expiry (8, Unix seconds) | Ed25519 signature (64)
// big endian, the signature by the owner over SignedRecordMessage: a per-type context, the DHT
// key and every byte before the signature. The claim is opaque here: each record type lays out
// its own (subject first, then whatever the type carries; a later field appended to a claim
// needs no change of this envelope). A tombstone (flag bit 0) has an empty claim: the owner's
// signed removal.
//
// Only bytes: no keys, no certificates (controlplane/directory/signed_claim checks those).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "controlplane/dht/dht_key.h"

namespace ipop::cp {

inline constexpr uint8_t kSignedRecordFormat = 1;
inline constexpr uint8_t kSignedRecordTombstone = 0x01;
inline constexpr size_t kSignedRecordKeyIdSize = 16;
inline constexpr size_t kSignedRecordSignatureSize = 64;
inline constexpr size_t kSignedRecordHeaderSize = 6;  // format .. claim length
inline constexpr size_t kSignedRecordFixedSize =
    kSignedRecordHeaderSize + kSignedRecordKeyIdSize + 8 + 8 + kSignedRecordSignatureSize;
// The store's default value limit (1024) less the envelope.
inline constexpr size_t kSignedRecordMaxClaim = 1024 - kSignedRecordFixedSize;

enum class SignedRecordType : uint8_t {
  kVip = 1,        // vip:<network>:<VIP>, an address claim
  kName = 2,       // name:<network>:<name>
  kRoutes = 3,     // routes:<network>, a router's announced subnets
  kMulticast = 4,  // a multicast group's member
};

using SignedRecordKeyId = std::array<uint8_t, kSignedRecordKeyIdSize>;
using SignedRecordSignature = std::array<uint8_t, kSignedRecordSignatureSize>;

struct SignedRecordView {
  SignedRecordType type = SignedRecordType::kVip;
  bool tombstone = false;
  std::span<const uint8_t> claim;
  SignedRecordKeyId owner{};
  uint64_t version = 0;
  uint64_t expiry = 0;
  SignedRecordSignature signature{};
  std::span<const uint8_t> signed_part;  // every byte before the signature
};

enum class SignedRecordError : uint8_t {
  kNone,
  kTruncated,       // shorter than the fixed part or than the claim length says
  kFormat,          // unknown format byte
  kType,            // unknown record type
  kFlags,           // unknown flag bits
  kReserved,        // reserved byte not 0
  kClaimLength,     // claim longer than kSignedRecordMaxClaim
  kTombstoneClaim,  // a tombstone with a claim
  kTrailing,        // bytes after the signature
};
const char* SignedRecordErrorName(SignedRecordError e);

// Views into `bytes`; checks in the order of SignedRecordError.
SignedRecordError DecodeSignedRecord(std::span<const uint8_t> bytes, SignedRecordView* out);

// The record with a zero signature; the signer fills the last kSignedRecordSignatureSize bytes.
// Empty when the claim is too long or a tombstone has a claim.
std::vector<uint8_t> EncodeSignedRecord(SignedRecordType type, bool tombstone,
                                        std::span<const uint8_t> claim,
                                        const SignedRecordKeyId& owner, uint64_t version,
                                        uint64_t expiry);

// What the owner signs: "ipop <type> record v1" || key || signed_part. The context keeps a
// signature of one record type from being replayed as another; the key, from being replayed
// under another key.
std::vector<uint8_t> SignedRecordMessage(SignedRecordType type, const DhtKey& key,
                                         std::span<const uint8_t> signed_part);

}  // namespace ipop::cp
