// Per-packet AEAD cost through AeadContext versus a bare OpenSSL EVP loop doing the same calls
// (IV-only re-init, AAD, update, final, tag). The bare loop is the crypto limit; the difference
// is the wrapper's overhead. Args: {cipher (1 = AES-256-GCM, 2 = ChaCha20-Poly1305), bytes}.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "shared/aead.h"
#include "shared/wire.h"

namespace {

using namespace ipop;

const uint8_t kKey[32] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6,
                          7, 8, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4};
const uint8_t kSalt[4] = {1, 2, 3, 4};

void Report(benchmark::State& state, size_t bytes) {
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes));
  state.SetItemsProcessed(int64_t(state.iterations()));
}

void BM_AeadSeal(benchmark::State& state) {
  const auto cipher = shm::Cipher(state.range(0));
  const size_t len = size_t(state.range(1));
  AeadContext seal;
  if (!seal.Init(cipher, kKey, kSalt, true)) state.SkipWithError("init");
  std::vector<uint8_t> buf(len, 0x5a);
  uint8_t aad[wire::kHeaderSize] = {}, tag[16];
  uint64_t counter = 0;
  for (auto _ : state) {
    if (!seal.Seal(counter++, aad, buf.data(), len, buf.data(), tag)) state.SkipWithError("seal");
    benchmark::DoNotOptimize(tag);
  }
  Report(state, len);
}

void BM_AeadSealOpen(benchmark::State& state) {
  const auto cipher = shm::Cipher(state.range(0));
  const size_t len = size_t(state.range(1));
  AeadContext seal, open;
  if (!seal.Init(cipher, kKey, kSalt, true) || !open.Init(cipher, kKey, kSalt, false))
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

}  // namespace

BENCHMARK_MAIN();
