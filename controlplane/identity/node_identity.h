// The node's own certified identity in certificate mode (docs/pki.md, "Node identity"): its
// private key, its certificate (and the issuing CA's, if any), the roots it trusts for network
// and for overlay membership, and the revocations it knows. It is the one place the rest of the
// control plane asks "sign this", "who am I on the ring" and "is this peer's chain good".
//
// PSK mode has no NodeIdentity: callers hold a null pointer (NodeIdentity::Load returns none
// without network.ca-file), and everything keeps running on the network secret.
//
// Chains travel on the wire as EncodedChain(): per certificate a 2-byte big-endian length and
// the certificate's bytes, leaf first, at most two (node, issuing CA); roots are never sent.
// VerifyPeerChain caches good results by a hash of those bytes, so a peer's chain costs its
// signature checks once; a cached result is used only while every certificate of its path is
// valid and the revocation list has not changed since.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/identity/certificate.h"
#include "controlplane/identity/chain.h"
#include "controlplane/identity/ed25519.h"
#include "controlplane/identity/revocation.h"
#include "shared/config.h"

namespace ipop::cp::identity {

inline constexpr size_t kRingAddressSize = 20;
using RingAddressBytes = std::array<uint8_t, kRingAddressSize>;

// First 20 bytes of SHA-256("ipop ring address v1" || key): a node's place on the overlay ring
// in certificate mode. Nobody picks it; a renewed certificate for the same key keeps it.
RingAddressBytes RingAddressFromKey(const PublicKey& key);

// Largest EncodedChain(): two certificates of kMaxCertificateSize with their length prefixes.
inline constexpr size_t kMaxEncodedChainSize = 2 * (2 + kMaxCertificateSize);

std::vector<uint8_t> EncodeChain(const Certificate& leaf, const Certificate* issuing);

struct DecodedChain {
  std::optional<Certificate> leaf;
  std::optional<Certificate> issuing;
  std::string error;  // empty when leaf is set
};
// Exactly one or two length-prefixed certificates that each decode, nothing else.
DecodedChain DecodeChain(std::span<const uint8_t> bytes);

// Whose roots a peer's chain is checked against.
enum class TrustScope : uint8_t {
  kNetwork,  // network.ca-file, and the leaf must name this node's network
  kOverlay,  // overlay.ca-file, in the network the leaf names
};

struct PeerVerdict {
  std::optional<Certificate> cert;     // the verified leaf when ok
  bool malformed = false;              // the bytes are no chain (DecodeChain failed)
  ChainError error = ChainError::kOk;  // why the chain was refused, unless malformed
  std::string text;                    // why not, one line; empty when ok
  bool ok() const { return cert.has_value(); }
};

class NodeIdentity {
 public:
  // Bounds the verified-chain cache (entries; the whole cache is dropped when it is full).
  static constexpr size_t kMaxCachedChains = 1024;

  // Everything a NodeIdentity is made of, already read (tests build it in memory).
  struct Parts {
    std::unique_ptr<PrivateKey> key;
    Certificate cert;
    std::optional<Certificate> issuing;
    std::vector<Certificate> network_roots;
    std::vector<Certificate> overlay_roots;
    std::vector<Revocation> revocations;
    std::string network;
    // How the files are named in errors.
    std::string cert_name = "node.cert-file", key_name = "node.key-file",
                ca_name = "network.ca-file", overlay_ca_name = "overlay.ca-file",
                revocations_name = "network.revocations-file";
  };
  struct Loaded {
    std::unique_ptr<NodeIdentity> identity;  // null in PSK mode or on an error
    std::string error;                       // one line naming the file; empty otherwise
  };
  // Reads and checks the files cfg names (certificate mode), at Unix time `now`. Without
  // network.ca-file: no identity and no error (PSK mode).
  static Loaded Load(const NodeConfig& cfg, uint64_t now);
  // The checks Load makes, on parts already read: the roots are roots of the right network
  // whose self-signatures verify, the key is the certificate's, the certificate is a node's of
  // this network and its chain verifies now, every revocation verifies.
  static Loaded Create(Parts parts, uint64_t now);

  // Re-reads node.cert-file (a renewal: same key, new serial or validity) and checks it as Load
  // does. On success the new chain is in use; on an error nothing changed.
  std::string ReloadCertificate(const std::string& cert_file, uint64_t now);

  Signature Sign(std::span<const uint8_t> message) const { return key_->Sign(message); }
  const PublicKey& public_key() const { return key_->public_key(); }
  KeyId key_id() const { return cert_.key_id(); }
  const Certificate& cert() const { return cert_; }
  const std::optional<Certificate>& issuing() const { return issuing_; }
  const std::string& network() const { return network_; }
  RingAddressBytes ring_address() const { return RingAddressFromKey(public_key()); }
  // This node's chain in wire form (EncodeChain of cert and issuing CA).
  const std::vector<uint8_t>& EncodedChain() const { return encoded_chain_; }
  // Changes whenever the certificate is renewed (ReloadCertificate), so peers get the new chain.
  uint64_t chain_generation() const { return chain_generation_; }

  // Whether `chain` (wire bytes) is a valid node chain under `scope`'s roots at `now`, none of it
  // revoked. Verified leaves are cached (see the top).
  PeerVerdict VerifyPeerChain(std::span<const uint8_t> chain, TrustScope scope, uint64_t now) const;
  // Adds a revocation signed by a trusted root or by this node's issuing CA; one line on error.
  // Clears the chain cache when the list changed.
  std::string AddRevocation(const Revocation& r, uint64_t now);
  // What Learn did with a revocation from anywhere (file, ipopctl revoke, a link).
  enum class Learned : uint8_t { kAdded, kKnown, kExpired, kInvalid, kFull };
  struct LearnResult {
    Learned outcome = Learned::kInvalid;
    std::string error;  // one line when kInvalid or kFull
  };
  // Adds a revocation signed by a trusted root, by this node's issuing CA, or by `signer_issuing`
  // (the issuing CA certificate sent along with it), which must itself verify now against the
  // network roots, unrevoked, and be the revocation's signer. Clears the chain cache on kAdded.
  LearnResult Learn(const Revocation& r, const Certificate* signer_issuing, uint64_t now);
  // Forgets revocations whose certificates have expired by `now`; returns how many.
  size_t ExpireRevocations(uint64_t now) { return revocations_.Expire(now); }
  const RevocationList& revocations() const { return revocations_; }

 private:
  NodeIdentity() = default;
  struct CachedChain {
    Certificate leaf;
    uint64_t valid_from = 0, valid_until = 0;  // intersection of the path's validity
    uint64_t revocation_generation = 0;
  };

  std::unique_ptr<PrivateKey> key_;
  Certificate cert_;
  std::optional<Certificate> issuing_;
  std::vector<Certificate> network_roots_;
  std::vector<Certificate> overlay_roots_;
  RevocationList revocations_;
  uint64_t revocation_generation_ = 0;
  std::string network_;
  std::vector<uint8_t> encoded_chain_;
  uint64_t chain_generation_ = 1;
  mutable std::map<std::pair<std::array<uint8_t, 32>, TrustScope>, CachedChain> cache_;
};

}  // namespace ipop::cp::identity
