// Fuzzes certificate-mode HELLO decoding (DecodeCertHello, docs/pki.md "HELLO and data sessions").
//
// Input byte 0 picks the mode:
//   0: the rest is a datagram from a stranger, decoded as received (no chain known for any VIP);
//      anything accepted must carry a chain that verifies and allows its sender VIP
//   1: the rest gives a HELLO's fields (sender VIP low byte, receiver VIP, keys, index, time),
//      then a position and an XOR mask; a valid HELLO of the in-memory test node is built with
//      its chain, accepted unchanged, and must be refused once any one byte is changed
//   2: as 1, with the chain left out and the known chain given: the same must hold
// The in-memory PKI (root "root" of network "lab", node "n1" certified for 10.77.0.0/24) is made
// once from fixed seeds; its keys are test keys used nowhere else.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "controlplane/sessions/cert_hello_authenticator.h"
#include "controlplane/sessions/control_protocol.h"
#include "controlplane/sessions/network_id.h"

namespace {

using namespace ipop::cp;
using namespace ipop::cp::identity;

constexpr uint64_t kNowS = 1'800'000'000;

class FixedClock final : public Clock {
 public:
  uint64_t NowNs() const override { return 1'000'000'000; }
  uint64_t WallNs() const override { return kNowS * 1'000'000'000ull; }
};

std::unique_ptr<PrivateKey> SeedKey(uint8_t b) {
  std::array<uint8_t, 32> seed;
  seed.fill(b);
  std::unique_ptr<PrivateKey> k = PrivateKey::FromSeed(seed);
  if (!k) std::abort();
  return k;
}

Certificate Sign(const CertificateFields& f, const PrivateKey& issuer) {
  SignedCertificate s = SignCertificate(f, issuer);
  if (!s.cert) std::abort();
  return *s.cert;
}

CertificateFields Fields(Usage usage, const PrivateKey& subject, const char* name, uint8_t serial) {
  CertificateFields f;
  f.usage = usage;
  f.serial.fill(serial);
  f.not_before = kNowS - 3600;
  f.not_after = kNowS + 86400;
  f.public_key = subject.public_key();
  f.network = "lab";
  f.name = name;
  f.vips = {Prefix{0x0a4d0000, usage == Usage::kNode ? uint8_t(24) : uint8_t(16)}};
  return f;
}

struct World {
  FixedClock clock;
  std::unique_ptr<NodeIdentity> sender, receiver;
  std::unique_ptr<CertHelloAuthenticator> sender_auth, receiver_auth;
  uint64_t network_hash = NetworkHash("lab");
};

std::unique_ptr<NodeIdentity> Node(const PrivateKey& root_key, const Certificate& root,
                                   uint8_t seed, const char* name) {
  NodeIdentity::Parts p;
  p.key = SeedKey(seed);
  p.cert = Sign(Fields(Usage::kNode, *p.key, name, seed), root_key);
  p.network_roots = {root};
  p.overlay_roots = {root};
  p.network = "lab";
  NodeIdentity::Loaded l = NodeIdentity::Create(std::move(p), kNowS);
  if (!l.identity) std::abort();
  return std::move(l.identity);
}

const World& TheWorld() {
  static const World* w = [] {
    auto* out = new World;
    std::unique_ptr<PrivateKey> root_key = SeedKey(0x51);
    const Certificate root = Sign(Fields(Usage::kRootCa, *root_key, "root", 1), *root_key);
    out->sender = Node(*root_key, root, 0x52, "n1");
    out->receiver = Node(*root_key, root, 0x53, "n2");
    out->sender_auth = std::make_unique<CertHelloAuthenticator>(*out->sender, out->clock);
    out->receiver_auth = std::make_unique<CertHelloAuthenticator>(*out->receiver, out->clock);
    return out;
  }();
  return *w;
}

HelloError Decode(const World& w, std::span<const uint8_t> dgram, std::span<const uint8_t> known,
                  Hello* h, CertHelloVerdict* v) {
  std::span<const uint8_t> chain;
  return DecodeCertHello(
      dgram, w.network_hash, *w.receiver_auth, [known](uint32_t) { return known; }, h, v, &chain);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const World& w = TheWorld();
  const uint8_t mode = data[0] % 3;
  const std::span<const uint8_t> rest(data + 1, size - 1);
  Hello h;
  CertHelloVerdict v;
  if (mode == 0) {
    if (Decode(w, rest, {}, &h, &v) != HelloError::kNone) return 0;
    if (!v.cert || !v.cert->AllowsVip(h.sender_vip)) __builtin_trap();
    return 0;
  }
  // Fields: vip byte (1), receiver vip (4), sender key (32), echo key (32), index (4), ts (8),
  // position (2), mask (1).
  if (rest.size() < 84) return 0;
  Hello in;
  in.cipher = 1;
  in.sender_vip = 0x0a4d0000u | rest[0];
  std::memcpy(&in.receiver_vip, rest.data() + 1, 4);
  std::memcpy(in.sender_public.data(), rest.data() + 5, 32);
  std::memcpy(in.echo_public.data(), rest.data() + 37, 32);
  std::memcpy(&in.sender_receiver_index, rest.data() + 69, 4);
  std::memcpy(&in.timestamp_ns, rest.data() + 73, 8);
  const size_t pos = size_t(rest[81]) << 8 | rest[82];
  const uint8_t mask = rest[83];
  const bool leave_out = mode == 2;
  const std::vector<uint8_t>& chain = w.sender->EncodedChain();
  std::array<uint8_t, kMaxCertHelloSize> buf{};
  const size_t n = EncodeHello(in, w.network_hash, *w.sender_auth, buf,
                               leave_out ? std::span<const uint8_t>{} : std::span(chain));
  if (n == 0) return 0;  // a field out of range (the encoder refuses it)
  const std::span<const uint8_t> known = leave_out ? std::span(chain) : std::span<const uint8_t>{};
  const HelloError unchanged = Decode(w, std::span(buf.data(), n), known, &h, &v);
  if (unchanged == HelloError::kNone) {
    if (!v.cert || v.cert->key_id() != w.sender->key_id() || h.sender_vip != in.sender_vip)
      __builtin_trap();
  } else if (unchanged != HelloError::kZeroPublicKey && unchanged != HelloError::kBadReserved) {
    __builtin_trap();  // a HELLO the sender signed itself must verify
  }
  if (mask == 0 || pos >= n) return 0;
  buf[pos] ^= mask;
  if (Decode(w, std::span(buf.data(), n), known, &h, &v) == HelloError::kNone) __builtin_trap();
  return 0;
}
