#include "controlplane/sessions/key_derivation.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <cstring>
#include <utility>
#include <vector>

#include "shared/wire.h"

namespace ipop::cp {
namespace {

constexpr char kBindInfoLabel[] = "ipop v1 bind";
constexpr char kDataInfoLabel[] = "ipop v1 data";
constexpr char kKeyIdLabel[] = "ipop key id";

}  // namespace

bool HkdfSha256(std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
                std::span<const uint8_t> info, std::span<uint8_t> out) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) return false;
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (ctx == nullptr) return false;
  // OSSL_PARAM wants non-const pointers; the KDF only reads them.
  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                  const_cast<uint8_t*>(ikm.data()), ikm.size());
  if (!salt.empty())
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                    const_cast<uint8_t*>(salt.data()), salt.size());
  if (!info.empty())
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                    const_cast<uint8_t*>(info.data()), info.size());
  params[n] = OSSL_PARAM_construct_end();
  const bool ok = EVP_KDF_derive(ctx, out.data(), out.size(), params) == 1;
  EVP_KDF_CTX_free(ctx);
  return ok;
}

X25519KeyPair::~X25519KeyPair() {
  Clear();
}

X25519KeyPair::X25519KeyPair(X25519KeyPair&& other) noexcept
    : pkey_(std::exchange(other.pkey_, nullptr)), public_(other.public_) {
  other.public_.fill(0);
}

X25519KeyPair& X25519KeyPair::operator=(X25519KeyPair&& other) noexcept {
  if (this != &other) {
    Clear();
    pkey_ = std::exchange(other.pkey_, nullptr);
    public_ = other.public_;
    other.public_.fill(0);
  }
  return *this;
}

// EVP_PKEY_free clears the private key (OpenSSL frees X25519 key material with
// OPENSSL_secure_clear_free), so nothing of the old pair survives a replacement.
void X25519KeyPair::Clear() {
  EVP_PKEY_free(pkey_);
  pkey_ = nullptr;
  public_.fill(0);
}

bool X25519KeyPair::Generate(RandomSource& random) {
  uint8_t private_key[kX25519KeySize];
  random.Fill(private_key);
  const bool ok = SetPrivateKey(private_key);
  OPENSSL_cleanse(private_key, sizeof(private_key));
  return ok;
}

bool X25519KeyPair::SetPrivateKey(std::span<const uint8_t, kX25519KeySize> private_key) {
  Clear();
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.data(),
                                                private_key.size());
  if (pkey == nullptr) return false;
  size_t len = public_.size();
  if (EVP_PKEY_get_raw_public_key(pkey, public_.data(), &len) != 1 || len != public_.size()) {
    EVP_PKEY_free(pkey);
    public_.fill(0);
    return false;
  }
  pkey_ = pkey;
  return true;
}

bool X25519KeyPair::Agree(const PublicKey& peer, std::span<uint8_t, kX25519KeySize> shared) const {
  bool ok = false;
  EVP_PKEY* peer_key = nullptr;
  EVP_PKEY_CTX* ctx = nullptr;
  if (pkey_ != nullptr)
    peer_key = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer.data(), peer.size());
  if (peer_key != nullptr) ctx = EVP_PKEY_CTX_new(pkey_, nullptr);
  size_t len = shared.size();
  // OpenSSL already refuses an all-zero result; the explicit check below does not rely on that.
  if (ctx != nullptr && EVP_PKEY_derive_init(ctx) == 1 &&
      EVP_PKEY_derive_set_peer(ctx, peer_key) == 1 &&
      EVP_PKEY_derive(ctx, shared.data(), &len) == 1 && len == shared.size()) {
    uint8_t acc = 0;
    for (uint8_t b : shared) acc |= b;
    ok = acc != 0;
  }
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(peer_key);
  if (!ok) OPENSSL_cleanse(shared.data(), shared.size());
  return ok;
}

uint64_t KeyIdOf(const uint8_t key[32], const uint8_t salt[4]) {
  uint8_t input[sizeof(kKeyIdLabel) - 1 + 32 + 4];
  std::memcpy(input, kKeyIdLabel, sizeof(kKeyIdLabel) - 1);
  std::memcpy(input + sizeof(kKeyIdLabel) - 1, key, 32);
  std::memcpy(input + sizeof(kKeyIdLabel) - 1 + 32, salt, 4);
  uint8_t digest[32];
  unsigned int len = 0;
  uint64_t id = 0;
  if (EVP_Digest(input, sizeof(input), digest, &len, EVP_sha256(), nullptr) == 1 && len == 32)
    id = wire::LoadBe64(digest);
  OPENSSL_cleanse(input, sizeof(input));
  return id == 0 ? 1 : id;
}

PskKeySource::PskKeySource(const std::array<uint8_t, 32>& secret, std::string_view network)
    : network_(network) {
  std::vector<uint8_t> info(kBindInfoLabel, kBindInfoLabel + sizeof(kBindInfoLabel) - 1);
  info.insert(info.end(), network_.begin(), network_.end());
  bind_ok_ = HkdfSha256(secret, {}, info, bind_key_);
}

PskKeySource::~PskKeySource() {
  OPENSSL_cleanse(bind_key_.data(), bind_key_.size());
}

bool PskKeySource::DeriveDirection(std::span<const uint8_t, kX25519KeySize> shared,
                                   const PublicKey& sender_public, const PublicKey& receiver_public,
                                   uint32_t sender_vip, uint32_t receiver_vip,
                                   DirectionKey* out) const {
  if (!bind_ok_) return false;
  // The network name is the only variable-length part and comes right after the fixed label;
  // everything after it is fixed-length, so the encoding is unambiguous.
  std::vector<uint8_t> info(kDataInfoLabel, kDataInfoLabel + sizeof(kDataInfoLabel) - 1);
  info.insert(info.end(), network_.begin(), network_.end());
  info.insert(info.end(), sender_public.begin(), sender_public.end());
  info.insert(info.end(), receiver_public.begin(), receiver_public.end());
  uint8_t vips[8];
  wire::StoreBe32(vips, sender_vip);
  wire::StoreBe32(vips + 4, receiver_vip);
  info.insert(info.end(), vips, vips + sizeof(vips));
  uint8_t okm[36];
  if (!HkdfSha256(shared, bind_key_, info, okm)) return false;
  std::memcpy(out->key, okm, 32);
  std::memcpy(out->salt, okm + 32, 4);
  OPENSSL_cleanse(okm, sizeof(okm));
  out->key_id = KeyIdOf(out->key, out->salt);
  return true;
}

bool PskKeySource::Derive(const SessionKeyInput& in, SessionKeys* out) const {
  if (in.local == nullptr) return false;
  uint8_t shared[kX25519KeySize];
  const PublicKey& local_public = in.local->public_key();
  const bool ok =
      in.local->Agree(in.peer_public, shared) &&
      DeriveDirection(shared, local_public, in.peer_public, in.local_vip, in.peer_vip, &out->tx) &&
      DeriveDirection(shared, in.peer_public, local_public, in.peer_vip, in.local_vip, &out->rx);
  OPENSSL_cleanse(shared, sizeof(shared));
  return ok;
}

bool CertKeySource::DeriveDirection(std::span<const uint8_t, kX25519KeySize> shared,
                                    const PublicKey& sender_public,
                                    const PublicKey& receiver_public, uint32_t sender_vip,
                                    uint32_t receiver_vip, const CertKeyId& sender_key_id,
                                    const CertKeyId& receiver_key_id, DirectionKey* out) const {
  static constexpr char kCertBindIkm[] = "ipop v2 bind";
  static constexpr char kCertDataLabel[] = "ipop v2 data";
  // As in PskKeySource: the network name is the only variable-length part, right after a fixed
  // label (or first), and everything after it is fixed-length.
  std::vector<uint8_t> bind_info(network_.begin(), network_.end());
  bind_info.insert(bind_info.end(), sender_key_id.begin(), sender_key_id.end());
  bind_info.insert(bind_info.end(), receiver_key_id.begin(), receiver_key_id.end());
  uint8_t bind[32];
  if (!HkdfSha256({reinterpret_cast<const uint8_t*>(kCertBindIkm), sizeof(kCertBindIkm) - 1}, {},
                  bind_info, bind))
    return false;
  std::vector<uint8_t> info(kCertDataLabel, kCertDataLabel + sizeof(kCertDataLabel) - 1);
  info.insert(info.end(), network_.begin(), network_.end());
  info.insert(info.end(), sender_public.begin(), sender_public.end());
  info.insert(info.end(), receiver_public.begin(), receiver_public.end());
  uint8_t vips[8];
  wire::StoreBe32(vips, sender_vip);
  wire::StoreBe32(vips + 4, receiver_vip);
  info.insert(info.end(), vips, vips + sizeof(vips));
  info.insert(info.end(), sender_key_id.begin(), sender_key_id.end());
  info.insert(info.end(), receiver_key_id.begin(), receiver_key_id.end());
  uint8_t okm[36];
  const bool ok = HkdfSha256(shared, bind, info, okm);
  OPENSSL_cleanse(bind, sizeof(bind));
  if (!ok) return false;
  std::memcpy(out->key, okm, 32);
  std::memcpy(out->salt, okm + 32, 4);
  OPENSSL_cleanse(okm, sizeof(okm));
  out->key_id = KeyIdOf(out->key, out->salt);
  return true;
}

bool CertKeySource::Derive(const SessionKeyInput& in, SessionKeys* out) const {
  static constexpr CertKeyId kNone{};
  if (in.local == nullptr || in.local_key_id == kNone || in.peer_key_id == kNone) return false;
  uint8_t shared[kX25519KeySize];
  const PublicKey& local_public = in.local->public_key();
  const bool ok = in.local->Agree(in.peer_public, shared) &&
                  DeriveDirection(shared, local_public, in.peer_public, in.local_vip, in.peer_vip,
                                  in.local_key_id, in.peer_key_id, &out->tx) &&
                  DeriveDirection(shared, in.peer_public, local_public, in.peer_vip, in.local_vip,
                                  in.peer_key_id, in.local_key_id, &out->rx);
  OPENSSL_cleanse(shared, sizeof(shared));
  return ok;
}

}  // namespace ipop::cp
