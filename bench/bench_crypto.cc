// Per-packet AEAD cost through AeadContext versus a bare OpenSSL EVP loop doing the same calls
// (IV-only re-init, AAD, update, final, tag). The bare loop is the crypto limit; the difference
// is the wrapper's overhead. Args: {cipher (1 = AES-256-GCM, 2 = ChaCha20-Poly1305), bytes}.
// The IpsecMb rows run AES-256-GCM on intel-ipsec-mb (wrapper, direct API, job API in bursts) so
// the two backends can be compared on one machine: `bench_crypto --benchmark_repetitions=3`.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "dataplane/aead.h"
#include "shared/wire.h"

#ifdef IPOP_HAVE_IPSEC_MB
#include <intel-ipsec-mb.h>
#endif

namespace {

using namespace ipop;

const uint8_t kKey[32] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6,
                          7, 8, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4};
const uint8_t kSalt[4] = {1, 2, 3, 4};

void Report(benchmark::State& state, size_t bytes) {
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes));
  state.SetItemsProcessed(int64_t(state.iterations()));
}

// AeadContext loops shared by the OpenSSL (default backend) and ipsec-mb rows.
void SealLoop(benchmark::State& state, shm::Cipher cipher, size_t len, AeadBackend backend) {
  AeadContext seal;
  if (!seal.Init(cipher, kKey, kSalt, true, backend)) state.SkipWithError("init");
  std::vector<uint8_t> buf(len, 0x5a);
  uint8_t aad[wire::kHeaderSize] = {}, tag[16];
  uint64_t counter = 0;
  for (auto _ : state) {
    if (!seal.Seal(counter++, aad, buf.data(), len, buf.data(), tag)) state.SkipWithError("seal");
    benchmark::DoNotOptimize(tag);
  }
  Report(state, len);
}

void SealOpenLoop(benchmark::State& state, shm::Cipher cipher, size_t len, AeadBackend backend) {
  AeadContext seal, open;
  if (!seal.Init(cipher, kKey, kSalt, true, backend) ||
      !open.Init(cipher, kKey, kSalt, false, backend))
    state.SkipWithError("init");
  std::vector<uint8_t> buf(len, 0x5a);
  uint8_t aad[wire::kHeaderSize] = {}, tag[16];
  uint64_t counter = 0;
  for (auto _ : state) {
    if (!seal.Seal(counter, aad, buf.data(), len, buf.data(), tag) ||
        !open.Open(counter, aad, buf.data(), len, buf.data(), tag))
      state.SkipWithError("seal/open");
    ++counter;
    benchmark::ClobberMemory();
  }
  Report(state, len);
}

void BM_AeadSeal(benchmark::State& state) {
  SealLoop(state, shm::Cipher(state.range(0)), size_t(state.range(1)), DefaultGcmBackend());
}

void BM_AeadSealOpen(benchmark::State& state) {
  SealOpenLoop(state, shm::Cipher(state.range(0)), size_t(state.range(1)), DefaultGcmBackend());
}

// The same work written directly against EVP, as an application without the wrapper would.
struct BareEvp {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  BareEvp(shm::Cipher cipher, int enc) {
    const EVP_CIPHER* c =
        cipher == shm::Cipher::kAes256Gcm ? EVP_aes_256_gcm() : EVP_chacha20_poly1305();
    EVP_CipherInit_ex(ctx, c, nullptr, kKey, nullptr, enc);
  }
  ~BareEvp() { EVP_CIPHER_CTX_free(ctx); }
  bool Seal(const uint8_t* iv, const uint8_t* aad, uint8_t* buf, int len, uint8_t* tag) {
    int n = 0, f = 0;
    return EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, iv) == 1 &&
           EVP_EncryptUpdate(ctx, nullptr, &n, aad, int(wire::kHeaderSize)) == 1 &&
           (len == 0 || EVP_EncryptUpdate(ctx, buf, &n, buf, len) == 1) &&
           EVP_EncryptFinal_ex(ctx, buf + n, &f) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1;
  }
  bool Open(const uint8_t* iv, const uint8_t* aad, uint8_t* buf, int len, uint8_t* tag) {
    int n = 0, f = 0;
    return EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, iv) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1 &&
           EVP_DecryptUpdate(ctx, nullptr, &n, aad, int(wire::kHeaderSize)) == 1 &&
           (len == 0 || EVP_DecryptUpdate(ctx, buf, &n, buf, len) == 1) &&
           EVP_DecryptFinal_ex(ctx, buf + n, &f) == 1;
  }
};

void MakeIv(uint64_t counter, uint8_t iv[12]) {
  std::memcpy(iv, kSalt, 4);
  wire::StoreBe64(iv + 4, counter);
}

void BM_EvpSeal(benchmark::State& state) {
  const int len = int(state.range(1));
  BareEvp seal(shm::Cipher(state.range(0)), 1);
  std::vector<uint8_t> buf(size_t(len), 0x5a);
  uint8_t aad[wire::kHeaderSize] = {}, tag[16], iv[12];
  uint64_t counter = 0;
  for (auto _ : state) {
    MakeIv(counter++, iv);
    if (!seal.Seal(iv, aad, buf.data(), len, tag)) state.SkipWithError("seal");
    benchmark::DoNotOptimize(tag);
  }
  Report(state, size_t(len));
}

void BM_EvpSealOpen(benchmark::State& state) {
  const int len = int(state.range(1));
  BareEvp seal(shm::Cipher(state.range(0)), 1), open(shm::Cipher(state.range(0)), 0);
  std::vector<uint8_t> buf(size_t(len), 0x5a);
  uint8_t aad[wire::kHeaderSize] = {}, tag[16], iv[12];
  uint64_t counter = 0;
  for (auto _ : state) {
    MakeIv(counter++, iv);
    if (!seal.Seal(iv, aad, buf.data(), len, tag) || !open.Open(iv, aad, buf.data(), len, tag))
      state.SkipWithError("seal/open");
    benchmark::ClobberMemory();
  }
  Report(state, size_t(len));
}

void Sizes(benchmark::internal::Benchmark* b) {
  for (int cipher : {1, 2})
    for (int bytes : {64, 512, 1400}) b->Args({cipher, bytes});
  b->ArgNames({"cipher", "bytes"});
}

BENCHMARK(BM_AeadSeal)->Apply(Sizes);
BENCHMARK(BM_EvpSeal)->Apply(Sizes);
BENCHMARK(BM_AeadSealOpen)->Apply(Sizes);
BENCHMARK(BM_EvpSealOpen)->Apply(Sizes);

// intel-ipsec-mb rows (AES-256-GCM only). Args: {bytes}. AeadContext on the ipsec-mb backend is
// what the dataplane runs; the direct rows call the library without the wrapper; the job rows
// push a 32-packet burst through the job manager, the alternative API for bursts.
void IpsecMbSizes(benchmark::internal::Benchmark* b) {
  for (int bytes : {64, 512, 1400}) b->Args({bytes});
  b->ArgNames({"bytes"});
}

bool IpsecMbReady(benchmark::State& state) {
  if (IpsecMbUsable()) return true;
  state.SkipWithError("intel-ipsec-mb not built in or self-test failed");
  return false;
}

void BM_IpsecMbAeadSeal(benchmark::State& state) {
  if (!IpsecMbReady(state)) return;
  SealLoop(state, shm::Cipher::kAes256Gcm, size_t(state.range(0)), AeadBackend::kIpsecMb);
}

void BM_IpsecMbAeadSealOpen(benchmark::State& state) {
  if (!IpsecMbReady(state)) return;
  SealOpenLoop(state, shm::Cipher::kAes256Gcm, size_t(state.range(0)), AeadBackend::kIpsecMb);
}

#ifdef IPOP_HAVE_IPSEC_MB
struct MgrHolder {
  IMB_MGR* mgr = alloc_mb_mgr(0);
  MgrHolder() {
    if (mgr != nullptr) init_mb_mgr_auto(mgr, nullptr);
  }
  ~MgrHolder() { free_mb_mgr(mgr); }
};

void BM_IpsecMbDirectSealOpen(benchmark::State& state) {
  if (!IpsecMbReady(state)) return;
  const size_t len = size_t(state.range(0));
  MgrHolder h;
  alignas(64) static gcm_key_data key;
  IMB_AES256_GCM_PRE(h.mgr, kKey, &key);
  std::vector<uint8_t> buf(len, 0x5a);
  uint8_t aad[wire::kHeaderSize] = {}, tag[16], check[16], iv[12];
  gcm_context_data ctx;
  uint64_t counter = 0;
  for (auto _ : state) {
    MakeIv(counter++, iv);
    IMB_AES256_GCM_ENC(h.mgr, &key, &ctx, buf.data(), buf.data(), len, iv, aad, sizeof(aad), tag,
                       16);
    IMB_AES256_GCM_DEC(h.mgr, &key, &ctx, buf.data(), buf.data(), len, iv, aad, sizeof(aad), check,
                       16);
    if (std::memcmp(tag, check, 16) != 0) state.SkipWithError("tag");
    benchmark::ClobberMemory();
  }
  Report(state, len);
}

// Seals then opens a burst of kBurst packets through the job manager; one item per packet.
void BM_IpsecMbJobBurstSealOpen(benchmark::State& state) {
  if (!IpsecMbReady(state)) return;
  constexpr int kBurst = 32;
  const size_t len = size_t(state.range(0));
  MgrHolder h;
  alignas(64) static gcm_key_data key;
  IMB_AES256_GCM_PRE(h.mgr, kKey, &key);
  std::vector<uint8_t> bufs(len * kBurst, 0x5a);
  uint8_t aad[wire::kHeaderSize] = {}, tags[kBurst][16], checks[kBurst][16], ivs[kBurst][12];
  uint64_t counter = 0;
  const auto run = [&](IMB_CIPHER_DIRECTION dir, IMB_CHAIN_ORDER order, uint8_t(*out_tags)[16]) {
    int done = 0;
    for (int i = 0; i < kBurst; ++i) {
      IMB_JOB* job = IMB_GET_NEXT_JOB(h.mgr);
      job->cipher_mode = IMB_CIPHER_GCM;
      job->hash_alg = IMB_AUTH_AES_GMAC;
      job->chain_order = order;
      job->cipher_direction = dir;
      job->enc_keys = &key;
      job->dec_keys = &key;
      job->key_len_in_bytes = IMB_KEY_256_BYTES;
      job->src = bufs.data() + size_t(i) * len;
      job->dst = bufs.data() + size_t(i) * len;
      job->cipher_start_src_offset_in_bytes = 0;
      job->msg_len_to_cipher_in_bytes = len;
      job->hash_start_src_offset_in_bytes = 0;
      job->msg_len_to_hash_in_bytes = len;
      job->iv = ivs[i];
      job->iv_len_in_bytes = 12;
      job->u.GCM.aad = aad;
      job->u.GCM.aad_len_in_bytes = sizeof(aad);
      job->auth_tag_output = out_tags[i];
      job->auth_tag_output_len_in_bytes = 16;
      for (job = IMB_SUBMIT_JOB(h.mgr); job != nullptr; job = IMB_GET_COMPLETED_JOB(h.mgr))
        done += job->status == IMB_STATUS_COMPLETED;
    }
    for (IMB_JOB* job = IMB_FLUSH_JOB(h.mgr); job != nullptr; job = IMB_FLUSH_JOB(h.mgr))
      done += job->status == IMB_STATUS_COMPLETED;
    return done == kBurst;
  };
  for (auto _ : state) {
    for (int i = 0; i < kBurst; ++i) MakeIv(counter++, ivs[i]);
    if (!run(IMB_DIR_ENCRYPT, IMB_ORDER_CIPHER_HASH, tags) ||
        !run(IMB_DIR_DECRYPT, IMB_ORDER_HASH_CIPHER, checks) ||
        std::memcmp(tags, checks, sizeof(tags)) != 0)
      state.SkipWithError("burst");
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * kBurst * int64_t(len));
  state.SetItemsProcessed(int64_t(state.iterations()) * kBurst);
}
#endif

BENCHMARK(BM_IpsecMbAeadSeal)->Apply(IpsecMbSizes);
BENCHMARK(BM_IpsecMbAeadSealOpen)->Apply(IpsecMbSizes);
#ifdef IPOP_HAVE_IPSEC_MB
BENCHMARK(BM_IpsecMbDirectSealOpen)->Apply(IpsecMbSizes);
BENCHMARK(BM_IpsecMbJobBurstSealOpen)->Apply(IpsecMbSizes);
#endif

}  // namespace

BENCHMARK_MAIN();
