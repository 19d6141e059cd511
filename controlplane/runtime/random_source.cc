#include "controlplane/runtime/random_source.h"

#include <openssl/rand.h>

#include <climits>
#include <cstdio>
#include <cstdlib>

namespace ipop::cp {

void CryptoRandom::Fill(std::span<uint8_t> out) {
  while (!out.empty()) {
    const size_t n = out.size() > size_t(INT_MAX) ? size_t(INT_MAX) : out.size();
    if (RAND_bytes(out.data(), int(n)) != 1) {
      std::fprintf(stderr,
                   "fatal: OpenSSL RAND_bytes failed; refusing to run without randomness\n");
      std::abort();
    }
    out = out.subspan(n);
  }
}

}  // namespace ipop::cp
