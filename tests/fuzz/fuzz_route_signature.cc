// Fuzzes the router-mode record decoder and the signature policy on arbitrary DHT values.
// Checks: a decoded record re-encodes to a value that decodes to the same claim; without a
// verifier every decoded record is accepted; with one, only records signed by its key pass (the
// fuzzer cannot forge Ed25519, so an accepted record must be one a seed signed, i.e. its
// signature must also verify directly).
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdint>
#include <memory>
#include <string>

#include "controlplane/directory/route_signature.h"

namespace {

using namespace ipop::cp;

// A fixed key: seeds (tests/fuzz/make_route_signature_corpus.py) are signed with it.
constexpr char kPublicPem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAgJ+Aad78G7/W9Dg5x6F2b7C6ASzNweC3WNXYsvjrvGY=\n"
    "-----END PUBLIC KEY-----\n";

const RouteVerifier& Verifier() {
  static const std::unique_ptr<RouteVerifier> v = [] {
    std::string err;
    auto r = RouteVerifier::FromPem(kPublicPem, &err);
    if (!r) __builtin_trap();
    return r;
  }();
  return *v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::optional<RouteRecord> r = DecodeRouteRecord({data, size});
  if (!r) return 0;
  if (r->claim.length == 0 || r->claim.length > 32 || r->claim.via == 0) __builtin_trap();
  const std::vector<uint8_t> again =
      r->is_signed ? EncodeSignedRoute(r->claim, r->signature) : EncodeUnsignedRoute(r->claim);
  const std::optional<RouteRecord> back = DecodeRouteRecord(again);
  if (!back || back->claim != r->claim || back->is_signed != r->is_signed) __builtin_trap();
  for (uint64_t now : {uint64_t{0}, r->claim.expiry_s, uint64_t{1'700'000'000}}) {
    if (CheckRoute(*r, nullptr, "rt", now) != RouteVerdict::kAccepted) __builtin_trap();
    const RouteVerdict v = CheckRoute(*r, &Verifier(), "rt", now);
    if (v == RouteVerdict::kAccepted &&
        (!r->is_signed || !Verifier().Verify("rt", r->claim, r->signature)))
      __builtin_trap();
    if (!r->is_signed && v != RouteVerdict::kUnsigned) __builtin_trap();
  }
  return 0;
}
