// Fuzzes the certificate decoder and the chain check on arbitrary bytes.
// Checks: an accepted certificate passes CheckFields and re-encodes to exactly the input (one
// encoding per certificate, so the signature covers every byte); the permission checks agree with
// a plain reading of the lists; verified as a leaf under the fixed test root, or as an issuing CA
// over a fixed node, a certificate is accepted only with a signature that verifies directly (the
// fuzzer cannot forge Ed25519, so only seeds and their harmless mutations pass), within the
// root's scope and validity, for the root's network.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "controlplane/identity/chain.h"
#include "controlplane/identity/identity_files.h"
#include "tests/fuzz/fuzz_identity_ca.h"

namespace {

using namespace ipop::cp::identity;

bool Listed(const std::vector<Prefix>& list, uint32_t a) {
  for (const Prefix& p : list)
    if (p.length == 0 || (a >> (32 - p.length)) == (p.address >> (32 - p.length))) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  const DecodedCertificate d = DecodeCertificate(input);
  if (!d.cert) {
    if (d.error == CertError::kOk) __builtin_trap();
    return 0;
  }
  const Certificate& c = *d.cert;
  if (CheckFields(c.fields) != CertError::kOk) __builtin_trap();
  const std::vector<uint8_t> again = EncodeCertificate(c);
  if (again.size() != size || !std::equal(again.begin(), again.end(), data)) __builtin_trap();
  if (size > kMaxCertificateSize) __builtin_trap();

  // Permission checks against a plain reading, at the list's own addresses and neighbours.
  for (const Prefix& p : c.fields.vips)
    for (uint32_t a : {p.address, p.address - 1, p.address + 1, ~p.address})
      if (c.AllowsVip(a) != Listed(c.fields.vips, a)) __builtin_trap();
  for (const Prefix& p : c.fields.multicast)
    if (!c.AllowsMulticast(p.address)) __builtin_trap();
  for (const Prefix& p : c.fields.subnets)
    if (!c.AllowsSubnet(p)) __builtin_trap();
  for (const std::string& g : c.fields.groups)
    if (c.InGroup(g) != (g != kAnyGroup)) __builtin_trap();

  const fuzz_identity::TestCa& ca = fuzz_identity::Ca();
  for (uint64_t now : {c.fields.not_before, c.fields.not_after - 1, ca.now}) {
    const ChainResult leaf = VerifyChain(c, ca.issuing, ca.roots, ca.network, now, &ca.revoked);
    if (leaf.ok()) {
      if (c.fields.network != ca.network || !c.ValidAt(now)) __builtin_trap();
      if (c.fields.usage == Usage::kRootCa) {
        // A root passes only as one of the trusted roots itself.
        const Certificate& r = ca.roots[0];
        if (leaf.path.size() != 1 || c.fields != r.fields || c.signature != r.signature)
          __builtin_trap();
      } else {
        const Certificate& issuer = *leaf.path.at(1);
        if (!SignatureVerifies(c, issuer.fields.public_key)) __builtin_trap();
        if (CheckScope(c, issuer) != ChainError::kOk) __builtin_trap();
      }
      if (ca.revoked.IsRevoked(c)) __builtin_trap();
    }
    // As an issuing CA over the fixed node its seeds were made for.
    const std::vector<Certificate> issuing = {c};
    const ChainResult below =
        VerifyChain(ca.node_of_issuing, issuing, ca.roots, ca.network, now, nullptr);
    if (below.ok()) {
      if (below.path.size() != 3 || below.path[1] != &issuing[0]) __builtin_trap();
      if (c.fields.usage != Usage::kIssuingCa || !c.ValidAt(now)) __builtin_trap();
      if (!SignatureVerifies(c, ca.roots[0].fields.public_key)) __builtin_trap();
    }
  }
  return 0;
}
