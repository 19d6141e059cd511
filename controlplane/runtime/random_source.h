// Randomness for nonces and index allocation; tests inject a deterministic source.
#pragma once

#include <cstdint>
#include <span>

namespace ipop::cp {

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual void Fill(std::span<uint8_t> out) = 0;
};

// OpenSSL's CSPRNG. Aborts if it cannot produce bytes: a predictable nonce would reuse keys.
class CryptoRandom final : public RandomSource {
 public:
  void Fill(std::span<uint8_t> out) override;
};

}  // namespace ipop::cp
