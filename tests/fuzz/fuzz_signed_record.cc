// Fuzzes the signed-record codec (controlplane/dht/signed_record.h) and the claim layout
// (controlplane/directory/signed_claim.h): decoding never reads out of bounds, every record that
// decodes re-encodes to the same bytes (the encoding is canonical, so a signature covers one
// meaning), and a record whose owner has no certificate never verifies.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "controlplane/dht/dht_key.h"
#include "controlplane/dht/signed_record.h"
#include "controlplane/directory/signed_claim.h"

using namespace ipop::cp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  SignedRecordView v;
  if (DecodeSignedRecord(in, &v) != SignedRecordError::kNone) return 0;
  std::vector<uint8_t> out =
      EncodeSignedRecord(v.type, v.tombstone, v.claim, v.owner, v.version, v.expiry);
  if (out.size() != size) std::abort();
  std::copy(v.signature.begin(), v.signature.end(), out.end() - kSignedRecordSignatureSize);
  if (!std::equal(out.begin(), out.end(), data)) std::abort();
  if (v.signed_part.size() + kSignedRecordSignatureSize != size) std::abort();
  std::string_view name;
  std::span<const uint8_t> payload;
  if (DecodeClaim(v.claim, &name, &payload) && (name.size() + 1 + payload.size() != v.claim.size()))
    std::abort();
  const DhtKey key = HashDhtKey(name);
  const OwnerCertFn none = [](const SignedRecordKeyId&) -> const identity::Certificate* {
    return nullptr;
  };
  if (VerifyRecord(key, in, none, 0, nullptr) != ClaimVerdict::kUnknownOwner) std::abort();
  return 0;
}
