// intel-ipsec-mb AES-256-GCM. The IMB_MGR is only a table of routines chosen for the CPU; one is
// allocated per thread on first use (key set-up, never per packet) and the two GCM routines are
// copied into each key, so sealing a packet is one indirect call with no manager lookup.
#include "dataplane/aead_ipsec_mb.h"

#include <openssl/crypto.h>

#include <atomic>
#include <cstring>
#include <new>

#ifdef IPOP_HAVE_IPSEC_MB
#include <intel-ipsec-mb.h>
#endif

namespace ipop::ipsecmb {

#ifdef IPOP_HAVE_IPSEC_MB

struct GcmKey {
  gcm_key_data data;  // 64-byte aligned by the library's declaration
  aes_gcm_enc_dec_t enc = nullptr;
  aes_gcm_enc_dec_t dec = nullptr;
};

namespace {

constexpr size_t kTagLen = 16;

// Owned per thread so workers never share a manager; freed when the thread exits.
struct ThreadMgr {
  IMB_MGR* mgr = nullptr;
  bool failed = false;
  ~ThreadMgr() { free_mb_mgr(mgr); }
};

std::atomic<const char*> g_arch{"none"};

const char* NameOf(IMB_ARCH arch, uint64_t features) {
  switch (arch) {
    case IMB_ARCH_NOAESNI:
      return "no-aesni";
    case IMB_ARCH_SSE:
      return "sse";
    case IMB_ARCH_AVX:
      return "avx";
    case IMB_ARCH_AVX2:
      return "avx2";
    case IMB_ARCH_AVX512:
      return (features & IMB_FEATURE_VAES) != 0 ? "avx512+vaes" : "avx512";
    default:
      return "none";
  }
}

IMB_MGR* ThisThreadMgr() {
  thread_local ThreadMgr t;
  if (t.mgr == nullptr && !t.failed) {
    t.mgr = alloc_mb_mgr(0);
    IMB_ARCH arch = IMB_ARCH_NONE;
    if (t.mgr != nullptr) init_mb_mgr_auto(t.mgr, &arch);
    if (t.mgr == nullptr || imb_get_errno(t.mgr) != 0 || arch == IMB_ARCH_NONE) {
      free_mb_mgr(t.mgr);
      t.mgr = nullptr;
      t.failed = true;
    } else {
      g_arch.store(NameOf(arch, t.mgr->features), std::memory_order_relaxed);
    }
  }
  return t.mgr;
}

bool ExpandKey(GcmKey* key, const uint8_t raw[32]) {
  IMB_MGR* mgr = ThisThreadMgr();
  if (mgr == nullptr) return false;
  IMB_AES256_GCM_PRE(mgr, raw, &key->data);
  key->enc = mgr->gcm256_enc;
  key->dec = mgr->gcm256_dec;
  return key->enc != nullptr && key->dec != nullptr;
}

// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", Appendix B, Test Case 16.
bool SelfTest() {
  static const uint8_t kKey[32] = {0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f,
                                   0x94, 0x67, 0x30, 0x83, 0x08, 0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65,
                                   0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30, 0x83, 0x08};
  static const uint8_t kIv[12] = {0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce,
                                  0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88};
  static const uint8_t kAad[20] = {0xfe, 0xed, 0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xfe, 0xed,
                                   0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xab, 0xad, 0xda, 0xd2};
  static const uint8_t kPlain[60] = {
      0xd9, 0x31, 0x32, 0x25, 0xf8, 0x84, 0x06, 0xe5, 0xa5, 0x59, 0x09, 0xc5, 0xaf, 0xf5, 0x26,
      0x9a, 0x86, 0xa7, 0xa9, 0x53, 0x15, 0x34, 0xf7, 0xda, 0x2e, 0x4c, 0x30, 0x3d, 0x8a, 0x31,
      0x8a, 0x72, 0x1c, 0x3c, 0x0c, 0x95, 0x95, 0x68, 0x09, 0x53, 0x2f, 0xcf, 0x0e, 0x24, 0x49,
      0xa6, 0xb5, 0x25, 0xb1, 0x6a, 0xed, 0xf5, 0xaa, 0x0d, 0xe6, 0x57, 0xba, 0x63, 0x7b, 0x39};
  static const uint8_t kSealed[60] = {
      0x52, 0x2d, 0xc1, 0xf0, 0x99, 0x56, 0x7d, 0x07, 0xf4, 0x7f, 0x37, 0xa3, 0x2a, 0x84, 0x42,
      0x7d, 0x64, 0x3a, 0x8c, 0xdc, 0xbf, 0xe5, 0xc0, 0xc9, 0x75, 0x98, 0xa2, 0xbd, 0x25, 0x55,
      0xd1, 0xaa, 0x8c, 0xb0, 0x8e, 0x48, 0x59, 0x0d, 0xbb, 0x3d, 0xa7, 0xb0, 0x8b, 0x10, 0x56,
      0x82, 0x88, 0x38, 0xc5, 0xf6, 0x1e, 0x63, 0x93, 0xba, 0x7a, 0x0a, 0xbc, 0xc9, 0xf6, 0x62};
  static const uint8_t kTag[16] = {0x76, 0xfc, 0x6e, 0xce, 0x0f, 0x4e, 0x17, 0x68,
                                   0xcd, 0xdf, 0x88, 0x53, 0xbb, 0x2d, 0x55, 0x1b};
  GcmKey* key = NewKey();
  if (key == nullptr) return false;
  bool ok = ExpandKey(key, kKey);
  if (ok) {
    uint8_t buf[sizeof(kPlain)], tag[kTagLen];
    Seal(*key, kIv, kAad, sizeof(kAad), kPlain, sizeof(kPlain), buf, tag);
    ok = std::memcmp(buf, kSealed, sizeof(buf)) == 0 && std::memcmp(tag, kTag, kTagLen) == 0;
    ok = ok && Open(*key, kIv, kAad, sizeof(kAad), kSealed, sizeof(kSealed), buf, kTag) &&
         std::memcmp(buf, kPlain, sizeof(buf)) == 0;
    tag[15] ^= 1;  // a forged tag must be refused
    ok = ok && !Open(*key, kIv, kAad, sizeof(kAad), kSealed, sizeof(kSealed), buf, tag);
  }
  FreeKey(key);
  return ok;
}

}  // namespace

bool Built() {
  return true;
}

bool Usable() {
  static const bool usable = SelfTest();
  return usable;
}

const char* ArchName() {
  ThisThreadMgr();
  return g_arch.load(std::memory_order_relaxed);
}

const char* Version() {
  return imb_get_version_str();
}

GcmKey* NewKey() {
  return new (std::nothrow) GcmKey{};
}

void FreeKey(GcmKey* key) {
  if (key == nullptr) return;
  OPENSSL_cleanse(&key->data, sizeof(key->data));
  delete key;
}

bool SetKey(GcmKey* key, const uint8_t raw[32]) {
  return key != nullptr && Usable() && ExpandKey(key, raw);
}

// The library's parameter checks refuse null buffers even for zero lengths; empty inputs point
// at a harmless byte instead.
void Seal(const GcmKey& key, const uint8_t* iv, const uint8_t* aad, size_t aad_len,
          const uint8_t* in, size_t len, uint8_t* out, uint8_t* tag) {
  static const uint8_t kNothing = 0;
  uint8_t sink = 0;
  gcm_context_data ctx;
  key.enc(&key.data, &ctx, len != 0 ? out : &sink, len != 0 ? in : &kNothing, len, iv,
          aad_len != 0 ? aad : &kNothing, aad_len, tag, kTagLen);
}

bool Open(const GcmKey& key, const uint8_t* iv, const uint8_t* aad, size_t aad_len,
          const uint8_t* in, size_t len, uint8_t* out, const uint8_t* tag) {
  static const uint8_t kNothing = 0;
  uint8_t sink = 0;
  uint8_t computed[kTagLen];
  gcm_context_data ctx;
  key.dec(&key.data, &ctx, len != 0 ? out : &sink, len != 0 ? in : &kNothing, len, iv,
          aad_len != 0 ? aad : &kNothing, aad_len, computed, kTagLen);
  if (CRYPTO_memcmp(computed, tag, kTagLen) != 0) {
    // Unauthenticated plaintext must not be left where a careless caller could use it.
    if (len != 0) std::memset(out, 0, len);
    return false;
  }
  return true;
}

#else  // !IPOP_HAVE_IPSEC_MB

struct GcmKey {};

bool Built() {
  return false;
}
bool Usable() {
  return false;
}
const char* ArchName() {
  return "none";
}
const char* Version() {
  return "none";
}
GcmKey* NewKey() {
  return nullptr;
}
void FreeKey(GcmKey*) {}
bool SetKey(GcmKey*, const uint8_t*) {
  return false;
}
void Seal(const GcmKey&, const uint8_t*, const uint8_t*, size_t, const uint8_t*, size_t, uint8_t*,
          uint8_t*) {}
bool Open(const GcmKey&, const uint8_t*, const uint8_t*, size_t, const uint8_t*, size_t, uint8_t*,
          const uint8_t*) {
  return false;
}

#endif

}  // namespace ipop::ipsecmb
