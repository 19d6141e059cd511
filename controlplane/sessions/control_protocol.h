// HELLO, the one control message of protocol v1, carried in a wire CONTROL packet.
//
//   wire header (16 bytes): version 1, type CONTROL, flags 0, hops 0, reserved 0,
//                           receiver index 0, counter 0
//   body offset  size  field
//        0        1    message type (1 = HELLO)
//        1        1    data cipher the sender uses (shm::Cipher); must match the receiver's
//        2        2    reserved, zero
//        4        4    sender VIP (big endian)
//        8        4    receiver VIP
//       12       32    sender public key: its ephemeral X25519 key (new per control-plane
//                      start, dataplane instance change and local rekey)
//       44       32    echo: the receiver's public key as the sender last saw it (zeros if none)
//       76        4    sender receiver index: index the sender assigned to packets FROM the
//                      receiver (0 while the sender has no session for it)
//       80        8    timestamp, ns since the Unix epoch, strictly increasing per sender
//       88        8    network hash (network_id.h)
//       96        n    authenticator tag over the wire header and body bytes [0, 96)
//                      (n = 16 for the pre-shared-secret HMAC)
// In certificate mode (docs/pki.md) the body is followed by the sender's chain and the tag is an
// Ed25519 signature (CertHelloAuthenticator) over everything before it:
//       96        2    chain length n (0: left out, the receiver holds the sender's chain)
//       98        n    the sender's chain (identity::EncodeChain: node cert, issuing CA cert)
//     98+n       64    signature by the sender's certified node key
// docs/control-protocol.md explains the exchange built on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "controlplane/sessions/cert_hello_authenticator.h"
#include "controlplane/sessions/hello_authenticator.h"
#include "controlplane/sessions/key_derivation.h"
#include "shared/wire.h"

namespace ipop::cp {

inline constexpr uint8_t kMsgHello = 1;
inline constexpr size_t kHelloBodySize = 96;  // body bytes before the tag
inline constexpr size_t kHelloSignedSize = wire::kHeaderSize + kHelloBodySize;
inline constexpr size_t kMaxHelloSize = kHelloSignedSize + kMaxHelloTagSize;
inline constexpr size_t kMaxCertHelloSize =
    kHelloSignedSize + 2 + identity::kMaxEncodedChainSize + identity::kSignatureSize;
// A HELLO travels in one underlay datagram or one routed overlay payload (at most 1200 bytes):
// with the largest chain it stays below that, so it is never fragmented on a 1500-byte path.
static_assert(kMaxCertHelloSize <= 1200);

struct Hello {
  uint8_t cipher = 0;  // shm::Cipher value; PeerSessions rejects a mismatch
  uint32_t sender_vip = 0;
  uint32_t receiver_vip = 0;
  PublicKey sender_public{};
  PublicKey echo_public{};  // zeros: the sender does not know the receiver's key yet
  uint32_t sender_receiver_index = 0;
  uint64_t timestamp_ns = 0;
};

// Why a datagram is not an acceptable HELLO, in the order they are checked. Each maps to a
// control-plane counter (CounterFor).
enum class HelloError : uint8_t {
  kNone = 0,
  kTooShort,       // fewer bytes than header + body + tag
  kTrailingBytes,  // more bytes than header + body + tag
  kBadHeader,      // not version 1 CONTROL, or index / counter / flags / hops / reserved set
  kBadType,        // message type is not HELLO
  kBadReserved,    // reserved body bytes not zero
  kWrongNetwork,   // network hash differs: a node of another network (checked before the tag
                   // so a misconfigured network name is told apart from a wrong secret)
  kBadMac,         // tag does not verify
  kZeroPublicKey,  // sender public key all zeros (zeros mean "unknown" in the echo field)
  // Certificate mode (checked where kBadMac is; a bad signature is kBadMac):
  kNoChain,        // chain left out, and none is known for the sender VIP
  kBadChain,       // the chain bytes are no chain
  kCertRefused,    // the chain does not verify (the verdict says why)
  kVipNotAllowed,  // the sender's certificate does not allow the sender VIP
};
const char* HelloErrorName(HelloError e);

// Writes the whole datagram into `out`; returns its size, or 0 if `out` is too small or the
// authenticator failed. `chain` (empty: left out) is written only when auth.carries_chain().
size_t EncodeHello(const Hello& hello, uint64_t network_hash, const HelloAuthenticator& auth,
                   std::span<uint8_t> out, std::span<const uint8_t> chain = {});

// Parses and authenticates `datagram`; *out is written only on kNone. Never reads outside the span.
// A chain-carrying authenticator always fails here (kBadMac): use DecodeCertHello.
HelloError DecodeHello(std::span<const uint8_t> datagram, uint64_t network_hash,
                       const HelloAuthenticator& auth, Hello* out);

// Certificate mode. `known_chain(vip)` is the chain accepted earlier from that sender VIP (empty
// if none), used when the HELLO leaves its chain out. On kNone, *out and *verdict (the sender's
// certificate) are written and *chain is the chain the HELLO carried (empty if left out); on
// kCertRefused, verdict->chain_error says why.
HelloError DecodeCertHello(std::span<const uint8_t> datagram, uint64_t network_hash,
                           const CertHelloAuthenticator& auth,
                           const std::function<std::span<const uint8_t>(uint32_t vip)>& known_chain,
                           Hello* out, CertHelloVerdict* verdict, std::span<const uint8_t>* chain);

}  // namespace ipop::cp
