// Fuzzes the revocation decoder, its verification and the revocation list on arbitrary bytes.
// Checks: an accepted revocation re-encodes to exactly the input; it verifies against the fixed
// test root or issuing CA only if that CA's signature over it verifies directly, the CA is the
// named signer and of the network, and an issuing CA only revokes what it issued; a verified entry
// added to a list revokes exactly the certificates with its issuer and serial, until its `until`.
#include <cstdint>
#include <span>
#include <vector>

#include "controlplane/identity/revocation.h"
#include "tests/fuzz/fuzz_identity_ca.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ipop::cp::identity;
  const DecodedRevocation d = DecodeRevocation(std::span<const uint8_t>(data, size));
  if (!d.revocation) {
    if (d.error == RevocationError::kOk) __builtin_trap();
    return 0;
  }
  const Revocation& r = *d.revocation;
  const std::vector<uint8_t> again = EncodeRevocation(r);
  if (again.size() != size || !std::equal(again.begin(), again.end(), data)) __builtin_trap();
  if (size > kMaxRevocationSize) __builtin_trap();

  const fuzz_identity::TestCa& ca = fuzz_identity::Ca();
  for (const Certificate* signer : {&ca.roots[0], &ca.issuing[0], &ca.node_of_issuing}) {
    if (VerifyRevocation(r, *signer, ca.network) != RevocationError::kOk) continue;
    if (!signer->IsCa() || signer->key_id() != r.fields.signer) __builtin_trap();
    if (r.fields.network != ca.network) __builtin_trap();
    if (signer->fields.usage == Usage::kIssuingCa && r.fields.issuer != signer->key_id())
      __builtin_trap();

    RevocationList list;
    const uint64_t now = r.fields.until == 0 ? 0 : r.fields.until - 1;
    const RevocationList::AddResult added = list.Add(r, now);
    if (r.fields.until == 0) {
      if (added != RevocationList::AddResult::kExpired || list.size() != 0) __builtin_trap();
      continue;
    }
    if (added != RevocationList::AddResult::kAdded) __builtin_trap();
    Certificate probe = ca.node_of_issuing;
    probe.fields.serial = r.fields.serial;
    probe.fields.issuer = r.fields.issuer;
    if (!list.IsRevoked(probe)) __builtin_trap();
    probe.fields.serial[0] ^= 1;
    if (list.IsRevoked(probe)) __builtin_trap();
    if (list.Expire(now) != 0 || list.Expire(r.fields.until) != 1 || list.size() != 0)
      __builtin_trap();
  }
  return 0;
}
