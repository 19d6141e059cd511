#include "controlplane/sessions/control_protocol.h"

#include <cstring>

namespace ipop::cp {
namespace {

// Body offsets (see the table in control_protocol.h).
constexpr size_t kOffType = 0;
constexpr size_t kOffCipher = 1;
constexpr size_t kOffReserved = 2;
constexpr size_t kOffSenderVip = 4;
constexpr size_t kOffReceiverVip = 8;
constexpr size_t kOffSenderPublic = 12;
constexpr size_t kOffEchoPublic = 44;
constexpr size_t kOffSenderIndex = 76;
constexpr size_t kOffTimestamp = 80;
constexpr size_t kOffNetworkHash = 88;
static_assert(kOffEchoPublic == kOffSenderPublic + kX25519KeySize);
static_assert(kOffSenderIndex == kOffEchoPublic + kX25519KeySize);
static_assert(kOffTimestamp % 8 == 0 && kOffNetworkHash % 8 == 0);
static_assert(kOffNetworkHash + 8 == kHelloBodySize);

}  // namespace

const char* HelloErrorName(HelloError e) {
  switch (e) {
    case HelloError::kNone:
      return "none";
    case HelloError::kTooShort:
      return "too_short";
    case HelloError::kTrailingBytes:
      return "trailing_bytes";
    case HelloError::kBadHeader:
      return "bad_header";
    case HelloError::kBadType:
      return "bad_type";
    case HelloError::kBadReserved:
      return "bad_reserved";
    case HelloError::kWrongNetwork:
      return "wrong_network";
    case HelloError::kBadMac:
      return "bad_mac";
    case HelloError::kZeroPublicKey:
      return "zero_public_key";
    case HelloError::kNoChain:
      return "chain_missing";
    case HelloError::kBadChain:
      return "bad_chain";
    case HelloError::kCertRefused:
      return "cert_refused";
    case HelloError::kVipNotAllowed:
      return "vip_not_allowed";
  }
  return "unknown";
}

size_t EncodeHello(const Hello& hello, uint64_t network_hash, const HelloAuthenticator& auth,
                   std::span<uint8_t> out, std::span<const uint8_t> chain) {
  const size_t tag_size = auth.tag_size();
  if (tag_size == 0 || tag_size > kMaxHelloTagSize) return 0;
  if (!auth.carries_chain()) chain = {};
  if (chain.size() > identity::kMaxEncodedChainSize) return 0;
  const size_t signed_size = kHelloSignedSize + (auth.carries_chain() ? 2 + chain.size() : 0);
  const size_t total = signed_size + tag_size;
  if (out.size() < total) return 0;
  uint8_t* p = out.data();
  wire::WriteHeader(p, wire::PacketType::kControl, 0, 0);
  uint8_t* b = p + wire::kHeaderSize;
  std::memset(b, 0, kHelloBodySize);
  b[kOffType] = kMsgHello;
  b[kOffCipher] = hello.cipher;
  wire::StoreBe32(b + kOffSenderVip, hello.sender_vip);
  wire::StoreBe32(b + kOffReceiverVip, hello.receiver_vip);
  std::memcpy(b + kOffSenderPublic, hello.sender_public.data(), kX25519KeySize);
  std::memcpy(b + kOffEchoPublic, hello.echo_public.data(), kX25519KeySize);
  wire::StoreBe32(b + kOffSenderIndex, hello.sender_receiver_index);
  wire::StoreBe64(b + kOffTimestamp, hello.timestamp_ns);
  wire::StoreBe64(b + kOffNetworkHash, network_hash);
  if (auth.carries_chain()) {
    uint8_t* c = p + kHelloSignedSize;
    c[0] = uint8_t(chain.size() >> 8);
    c[1] = uint8_t(chain.size());
    if (!chain.empty()) std::memcpy(c + 2, chain.data(), chain.size());
  }
  if (!auth.Sign(out.first(signed_size), out.subspan(signed_size, tag_size))) return 0;
  return total;
}

namespace {

// The layout checks both modes share, on the fixed header and body.
HelloError CheckFixed(std::span<const uint8_t> datagram, uint64_t network_hash) {
  wire::PacketView view;
  if (wire::Parse(datagram, view) != wire::ParseError::kNone ||
      view.type != wire::PacketType::kControl || view.receiver_index != 0 || view.counter != 0 ||
      view.flags != 0 || view.hops != 0)
    return HelloError::kBadHeader;
  const uint8_t* b = datagram.data() + wire::kHeaderSize;
  if (b[kOffType] != kMsgHello) return HelloError::kBadType;
  if ((b[kOffReserved] | b[kOffReserved + 1]) != 0) return HelloError::kBadReserved;
  if (wire::LoadBe64(b + kOffNetworkHash) != network_hash) return HelloError::kWrongNetwork;
  return HelloError::kNone;
}

HelloError ReadBody(std::span<const uint8_t> datagram, Hello* out) {
  const uint8_t* b = datagram.data() + wire::kHeaderSize;
  Hello h;
  std::memcpy(h.sender_public.data(), b + kOffSenderPublic, kX25519KeySize);
  if (IsZero(h.sender_public)) return HelloError::kZeroPublicKey;
  h.cipher = b[kOffCipher];
  h.sender_vip = wire::LoadBe32(b + kOffSenderVip);
  h.receiver_vip = wire::LoadBe32(b + kOffReceiverVip);
  std::memcpy(h.echo_public.data(), b + kOffEchoPublic, kX25519KeySize);
  h.sender_receiver_index = wire::LoadBe32(b + kOffSenderIndex);
  h.timestamp_ns = wire::LoadBe64(b + kOffTimestamp);
  *out = h;
  return HelloError::kNone;
}

}  // namespace

HelloError DecodeCertHello(std::span<const uint8_t> datagram, uint64_t network_hash,
                           const CertHelloAuthenticator& auth,
                           const std::function<std::span<const uint8_t>(uint32_t vip)>& known_chain,
                           Hello* out, CertHelloVerdict* verdict, std::span<const uint8_t>* chain) {
  const size_t tag_size = auth.tag_size();
  if (datagram.size() < kHelloSignedSize + 2 + tag_size) return HelloError::kTooShort;
  const size_t chain_len = size_t(datagram[kHelloSignedSize]) << 8 | datagram[kHelloSignedSize + 1];
  const size_t signed_size = kHelloSignedSize + 2 + chain_len;
  if (datagram.size() < signed_size + tag_size) return HelloError::kTooShort;
  if (datagram.size() > signed_size + tag_size) return HelloError::kTrailingBytes;
  if (const HelloError e = CheckFixed(datagram, network_hash); e != HelloError::kNone) return e;
  const uint32_t sender_vip = wire::LoadBe32(datagram.data() + wire::kHeaderSize + kOffSenderVip);
  const std::span<const uint8_t> carried = datagram.subspan(kHelloSignedSize + 2, chain_len);
  const std::span<const uint8_t> known =
      chain_len == 0 && known_chain ? known_chain(sender_vip) : std::span<const uint8_t>{};
  CertHelloVerdict v = auth.VerifyHello(datagram.first(signed_size), carried,
                                        datagram.subspan(signed_size, tag_size), sender_vip, known);
  switch (v.error) {
    case CertHelloError::kOk:
      break;
    case CertHelloError::kNoChain:
      return HelloError::kNoChain;
    case CertHelloError::kBadChain:
      return HelloError::kBadChain;
    case CertHelloError::kChainRefused:
      *verdict = std::move(v);
      return HelloError::kCertRefused;
    case CertHelloError::kVipNotAllowed:
      return HelloError::kVipNotAllowed;
    case CertHelloError::kBadSignature:
      return HelloError::kBadMac;
  }
  if (const HelloError e = ReadBody(datagram, out); e != HelloError::kNone) return e;
  *verdict = std::move(v);
  *chain = carried;
  return HelloError::kNone;
}

HelloError DecodeHello(std::span<const uint8_t> datagram, uint64_t network_hash,
                       const HelloAuthenticator& auth, Hello* out) {
  const size_t tag_size = auth.tag_size();
  const size_t total = kHelloSignedSize + tag_size;
  if (datagram.size() < total) return HelloError::kTooShort;
  if (datagram.size() > total) return HelloError::kTrailingBytes;
  if (const HelloError e = CheckFixed(datagram, network_hash); e != HelloError::kNone) return e;
  if (auth.carries_chain() ||
      !auth.Verify(datagram.first(kHelloSignedSize), datagram.subspan(kHelloSignedSize, tag_size)))
    return HelloError::kBadMac;
  return ReadBody(datagram, out);
}

}  // namespace ipop::cp
