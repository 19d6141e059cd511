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
  }
  return "unknown";
}

size_t EncodeHello(const Hello& hello, uint64_t network_hash, const HelloAuthenticator& auth,
                   std::span<uint8_t> out) {
  const size_t tag_size = auth.tag_size();
  if (tag_size == 0 || tag_size > kMaxHelloTagSize) return 0;
  const size_t total = kHelloSignedSize + tag_size;
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
  if (!auth.Sign(out.first(kHelloSignedSize), out.subspan(kHelloSignedSize, tag_size))) return 0;
  return total;
}

HelloError DecodeHello(std::span<const uint8_t> datagram, uint64_t network_hash,
                       const HelloAuthenticator& auth, Hello* out) {
  const size_t tag_size = auth.tag_size();
  const size_t total = kHelloSignedSize + tag_size;
  if (datagram.size() < total) return HelloError::kTooShort;
  if (datagram.size() > total) return HelloError::kTrailingBytes;
  wire::PacketView view;
  if (wire::Parse(datagram, view) != wire::ParseError::kNone ||
      view.type != wire::PacketType::kControl || view.receiver_index != 0 || view.counter != 0 ||
      view.flags != 0 || view.hops != 0)
    return HelloError::kBadHeader;
  const uint8_t* b = datagram.data() + wire::kHeaderSize;
  if (b[kOffType] != kMsgHello) return HelloError::kBadType;
  if ((b[kOffReserved] | b[kOffReserved + 1]) != 0) return HelloError::kBadReserved;
  if (wire::LoadBe64(b + kOffNetworkHash) != network_hash) return HelloError::kWrongNetwork;
  if (!auth.Verify(datagram.first(kHelloSignedSize), datagram.subspan(kHelloSignedSize, tag_size)))
    return HelloError::kBadMac;
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

}  // namespace ipop::cp
