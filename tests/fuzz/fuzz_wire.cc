// Fuzzes wire::Parse on arbitrary datagrams. Every returned span must lie inside the input, and a
// parsed DATA packet is also opened with a fixed key (both ciphers): it must fail cleanly, never
// crash or read outside the datagram.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "shared/aead.h"
#include "shared/wire.h"

namespace {

using namespace ipop;

bool Within(std::span<const uint8_t> inner, const uint8_t* begin, size_t size) {
  if (inner.empty()) return true;
  return inner.data() >= begin && inner.data() + inner.size() <= begin + size;
}

void Require(bool ok) {
  if (!ok) std::abort();
}

AeadContext& Opener(shm::Cipher cipher) {
  static const uint8_t kKey[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
  static const uint8_t kSalt[4] = {0xde, 0xad, 0xbe, 0xef};
  static AeadContext gcm, chacha;
  static const bool ready = gcm.Init(shm::Cipher::kAes256Gcm, kKey, kSalt, false) &&
                            chacha.Init(shm::Cipher::kChaCha20Poly1305, kKey, kSalt, false);
  Require(ready);
  return cipher == shm::Cipher::kAes256Gcm ? gcm : chacha;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > wire::kMaxDatagram) return 0;
  // Parse from a heap copy of exactly `size` bytes so ASan flags any read past the end.
  uint8_t* copy = static_cast<uint8_t*>(std::malloc(size ? size : 1));
  if (size) std::memcpy(copy, data, size);
  wire::PacketView view;
  const wire::ParseError err = wire::Parse(std::span<const uint8_t>(copy, size), view);
  if (err == wire::ParseError::kNone) {
    Require(size >= wire::kHeaderSize);
    Require(view.header.data() == copy && view.header.size() == wire::kHeaderSize);
    Require(Within(view.payload, copy, size) && Within(view.tag, copy, size));
    if (view.type == wire::PacketType::kData) {
      Require(view.tag.size() == wire::kTagSize);
      Require(view.header.size() + view.payload.size() + view.tag.size() == size);
      uint8_t aad[wire::kHeaderSize];
      wire::AadOf(view.header.data(), aad);
      static uint8_t plain[wire::kMaxDatagram];
      const shm::Cipher cipher =
          (view.flags & 1) ? shm::Cipher::kChaCha20Poly1305 : shm::Cipher::kAes256Gcm;
      // Usually fails; seeds sealed with this key (corpus/wire/data-*-valid) take the success path.
      (void)Opener(cipher).Open(view.counter, aad, view.payload.data(), view.payload.size(), plain,
                                view.tag.data());
    } else {
      Require(view.tag.empty());
      Require(view.header.size() + view.payload.size() == size);
    }
  } else {
    Require(err == wire::ParseError::kTooShort || err == wire::ParseError::kBadVersion ||
            err == wire::ParseError::kBadType || err == wire::ParseError::kBadReserved);
  }
  std::free(copy);
  return 0;
}
