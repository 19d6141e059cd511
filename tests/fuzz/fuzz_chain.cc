// Fuzzes the wire chain decoder (DecodeChain: what HELLOs and, later, link handshakes carry) and
// the chain check behind it on arbitrary bytes. Checks: an accepted chain re-encodes to exactly
// the input (one or two canonical length-prefixed certificates, nothing else); a refused one says
// why; a chain that verifies against the fixed test root is a node certificate whose issuer is
// the root or the issuing CA sent along, and within their validity at the time checked.
#include <cstdint>
#include <span>
#include <vector>

#include "controlplane/identity/chain.h"
#include "controlplane/identity/node_identity.h"
#include "tests/fuzz/fuzz_identity_ca.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ipop::cp::identity;
  const std::span<const uint8_t> in(data, size);
  const DecodedChain d = DecodeChain(in);
  if (!d.leaf) {
    if (d.error.empty() || d.issuing) __builtin_trap();
    return 0;
  }
  if (!d.error.empty()) __builtin_trap();
  const std::vector<uint8_t> again = EncodeChain(*d.leaf, d.issuing ? &*d.issuing : nullptr);
  if (again.size() != size || !std::equal(again.begin(), again.end(), data)) __builtin_trap();
  if (size > kMaxEncodedChainSize) __builtin_trap();

  const fuzz_identity::TestCa& ca = fuzz_identity::Ca();
  std::vector<Certificate> issuing;
  if (d.issuing) issuing.push_back(*d.issuing);
  const ChainResult r = VerifyNodeChain(*d.leaf, issuing, ca.roots, ca.network, ca.now, nullptr);
  if (!r.ok()) return 0;
  if (d.leaf->fields.usage != Usage::kNode) __builtin_trap();
  const bool by_root = d.leaf->fields.issuer == ca.roots[0].key_id();
  const bool by_issuing = d.issuing && d.leaf->fields.issuer == d.issuing->key_id() &&
                          d.issuing->fields.usage == Usage::kIssuingCa &&
                          d.issuing->fields.issuer == ca.roots[0].key_id();
  if (!by_root && !by_issuing) __builtin_trap();
  if (ca.now < d.leaf->fields.not_before || ca.now >= d.leaf->fields.not_after) __builtin_trap();
  return 0;
}
