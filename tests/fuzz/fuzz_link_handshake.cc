// Fuzzes the certificate-mode link handshake (controlplane/directory/link_auth.h): the trailer
// parser and LinkGuard::Open on arbitrary datagrams, and on genuine handshakes with bytes changed.
//   input[0] % 3 == 0: the rest is a datagram for the acceptor
//   input[0] % 3 == 1: a genuine LINK_REQUEST by the requester, the rest XORed into it from
//                      offset input[1] (then the acceptor opens it)
//   input[0] % 3 == 2: a genuine request and its accept, the rest XORed into the accept from
//                      offset input[1] (then the requester opens it)
// Checks: whatever Open takes as a handshake parses, carries a chain that verifies under the
// trusted root, a sender address derived from that chain's key and a valid signature by it; an
// accept is taken only once and only with the requester's ephemeral key echoed; a request Open
// took can be answered; unchanged genuine handshakes are always taken and give equal keys.
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "controlplane/directory/link_auth.h"
#include "controlplane/overlay/messages.h"
#include "shared/byte_order.h"

namespace {

using namespace ipop;
using namespace ipop::cp;
using identity::Certificate;
using identity::NodeIdentity;
using identity::PrivateKey;
using overlay::RingAddress;

constexpr uint64_t kT0 = 1'700'000'000;
constexpr uint64_t kNow = kT0 + 100;

class SplitMix final : public RandomSource {
 public:
  void Fill(std::span<uint8_t> out) override {
    for (uint8_t& b : out) {
      uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      b = uint8_t(z ^ (z >> 31));
    }
  }

 private:
  uint64_t s_ = 1;
};

std::unique_ptr<PrivateKey> KeyOf(uint8_t b) {
  std::array<uint8_t, 32> seed;
  seed.fill(b);
  return PrivateKey::FromSeed(seed);
}

Certificate Sign(const identity::CertificateFields& f, const PrivateKey& by) {
  return *identity::SignCertificate(f, by).cert;
}

identity::CertificateFields Fields(identity::Usage u, const PrivateKey& k,
                                   const std::string& name) {
  identity::CertificateFields f;
  f.usage = u;
  f.serial.fill(uint8_t(name.size()));
  f.not_before = kT0;
  f.not_after = kT0 + 86400;
  f.public_key = k.public_key();
  f.network = "lab";
  f.name = name;
  f.vips = {identity::Prefix{u == identity::Usage::kNode ? 0x0a4d0003u : 0u,
                             uint8_t(u == identity::Usage::kNode ? 32 : 0)}};
  return f;
}

struct World {
  std::unique_ptr<PrivateKey> root_key = KeyOf(1);
  Certificate root = Sign(Fields(identity::Usage::kRootCa, *root_key, "root"), *root_key);
  std::unique_ptr<NodeIdentity> a = Make(2, "na"), b = Make(3, "nodeb");
  std::unique_ptr<NodeIdentity> Make(uint8_t seed, const std::string& name) {
    NodeIdentity::Parts p;
    p.key = KeyOf(seed);
    p.cert = Sign(Fields(identity::Usage::kNode, *p.key, name), *root_key);
    p.network_roots = {root};
    p.overlay_roots = {root};
    p.network = "lab";
    NodeIdentity::Loaded l = NodeIdentity::Create(std::move(p), kNow);
    if (!l.identity) __builtin_trap();
    return std::move(l.identity);
  }
};

World& TheWorld() {
  static World w;
  return w;
}

std::vector<uint8_t> Seal(LinkGuard& g, std::span<const uint8_t> msg, const RingAddress& to) {
  std::vector<uint8_t> buf(kMaxLinkHandshake + 64);
  std::memcpy(buf.data(), msg.data(), msg.size());
  StoreBe64(buf.data() + msg.size(), 1);
  to.ToBytes(std::span<uint8_t, RingAddress::kBytes>(buf.data() + msg.size() + 8, 20));
  buf.resize(g.Seal(buf.data(), msg.size() + kLinkStampSize, buf.size(), to, 0));
  return buf;
}

// What Open took must be a genuine handshake of the node its chain certifies.
void CheckTaken(const NodeIdentity& receiver, std::span<const uint8_t> d) {
  LinkHandshake h;
  if (!ParseLinkHandshake(d, &h)) __builtin_trap();
  const identity::PeerVerdict v =
      receiver.VerifyPeerChain(h.chain, identity::TrustScope::kOverlay, kNow);
  if (!v.ok()) __builtin_trap();
  if (RingAddress::FromBytes(d.subspan<wire::kHeaderSize + 4, RingAddress::kBytes>()) !=
      RingAddress::FromBytes(identity::RingAddressFromKey(v.cert->fields.public_key)))
    __builtin_trap();
  std::vector<uint8_t> m{'i', 'p', 'o', 'p', ' ', 'l', 'i', 'n', 'k', ' ', 'v', '1', 0};
  m.insert(m.end(), h.signed_bytes.begin(), h.signed_bytes.end());
  if (!identity::VerifySignature(v.cert->fields.public_key, m, h.signature)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  World& w = TheWorld();
  const RingAddress aa = RingAddress::FromBytes(w.a->ring_address());
  const RingAddress ba = RingAddress::FromBytes(w.b->ring_address());
  SplitMix ra, rb;
  LinkAuthCounters ca, cb;
  LinkGuard ga(*w.a, aa, ra, ca), gb(*w.b, ba, rb, cb);
  const uint8_t mode = data[0] % 3;
  std::span<const uint8_t> rest(data + 1, size - 1);

  if (mode == 0) {
    LinkHandshake h;
    (void)ParseLinkHandshake(rest, &h);
    if (rest.size() < kLinkCloseMsgSize + kLinkStampSize) return 0;
    const size_t head = gb.Open(rest, 0, kNow);
    if (head == 0) return 0;
    if (head > rest.size()) __builtin_trap();
    // Nothing but a request (no accept: nothing outstanding; nothing keyed: no link) gets in.
    if (rest[wire::kHeaderSize] != uint8_t(overlay::MsgType::kLinkRequest)) __builtin_trap();
    CheckTaken(*w.b, rest);
    return 0;
  }

  uint8_t m[256];
  const uint64_t token = 0x1234;
  size_t n = overlay::EncodeLinkRequest(aa, {overlay::LinkKind::kNear, token, ba}, m);
  std::vector<uint8_t> req = Seal(ga, {m, n}, ba);
  const size_t offset = rest.empty() ? 0 : rest[0];
  std::span<const uint8_t> flips = rest.empty() ? rest : rest.subspan(1);
  auto mutate = [&](std::vector<uint8_t>& d) {
    bool changed = false;
    for (size_t i = 0; i < flips.size() && offset + i < d.size(); ++i) {
      d[offset + i] ^= flips[i];
      changed = changed || flips[i] != 0;
    }
    return changed;
  };
  if (mode == 1) {
    const bool changed = mutate(req);
    const size_t head = gb.Open(req, 0, kNow);
    if (!changed && head == 0) __builtin_trap();
    if (head != 0) CheckTaken(*w.b, req);
    return 0;
  }
  if (gb.Open(req, 0, kNow) == 0) __builtin_trap();
  n = overlay::EncodeLinkAccept(
      ba, {overlay::LinkKind::kNear, overlay::AcceptStatus::kAccepted, token, Endpoint{}}, m);
  std::vector<uint8_t> acc = Seal(gb, {m, n}, aa);
  if (acc.empty()) __builtin_trap();
  const bool changed = mutate(acc);
  const size_t head = ga.Open(acc, 0, kNow);
  if (!changed && (head == 0 || ga.NewestKeyForTest(ba) != gb.NewestKeyForTest(aa)))
    __builtin_trap();
  if (head == 0) return 0;
  CheckTaken(*w.a, acc);
  LinkHandshake h;
  ParseLinkHandshake(acc, &h);
  if (std::memcmp(h.echoed.data(), req.data() + kLinkRequestMsgSize + kLinkStampSize, 32) != 0)
    __builtin_trap();
  if (ga.Open(acc, 0, kNow) != 0) __builtin_trap();  // the request is answered: once only
  return 0;
}
