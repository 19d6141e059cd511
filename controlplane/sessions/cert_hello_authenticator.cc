#include "controlplane/sessions/cert_hello_authenticator.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace ipop::cp {
namespace {

// Separates HELLO signatures from every other signature of the node key (links, records): the
// label and its terminating zero byte come first.
constexpr char kHelloContext[] = "ipop hello v1";

std::vector<uint8_t> SignedBytes(std::span<const uint8_t> message) {
  std::vector<uint8_t> m(sizeof(kHelloContext) + message.size());
  std::memcpy(m.data(), kHelloContext, sizeof(kHelloContext));
  if (!message.empty())
    std::memcpy(m.data() + sizeof(kHelloContext), message.data(), message.size());
  return m;
}

}  // namespace

bool CertHelloAuthenticator::Sign(std::span<const uint8_t> message, std::span<uint8_t> tag) const {
  if (tag.size() != identity::kSignatureSize) return false;
  const identity::Signature s = identity_.Sign(SignedBytes(message));
  std::copy(s.begin(), s.end(), tag.begin());
  return true;
}

bool CertHelloAuthenticator::Verify(std::span<const uint8_t>, std::span<const uint8_t>) const {
  return false;
}

CertHelloVerdict CertHelloAuthenticator::VerifyHello(std::span<const uint8_t> message,
                                                     std::span<const uint8_t> chain,
                                                     std::span<const uint8_t> tag,
                                                     uint32_t sender_vip,
                                                     std::span<const uint8_t> known_chain) const {
  CertHelloVerdict out;
  const std::span<const uint8_t> use = chain.empty() ? known_chain : chain;
  if (use.empty()) {
    out.error = CertHelloError::kNoChain;
    return out;
  }
  identity::PeerVerdict v = identity_.VerifyPeerChain(use, identity::TrustScope::kNetwork,
                                                      clock_.WallNs() / 1'000'000'000ull);
  if (v.malformed) {
    out.error = CertHelloError::kBadChain;
    return out;
  }
  if (!v.ok()) {
    out.error = CertHelloError::kChainRefused;
    out.chain_error = v.error;
    return out;
  }
  if (!v.cert->AllowsVip(sender_vip)) {
    out.error = CertHelloError::kVipNotAllowed;
    return out;
  }
  identity::Signature sig{};
  if (tag.size() != sig.size()) {
    out.error = CertHelloError::kBadSignature;
    return out;
  }
  std::copy(tag.begin(), tag.end(), sig.begin());
  if (!identity::VerifySignature(v.cert->fields.public_key, SignedBytes(message), sig)) {
    out.error = CertHelloError::kBadSignature;
    return out;
  }
  out.cert = std::move(v.cert);
  return out;
}

}  // namespace ipop::cp
