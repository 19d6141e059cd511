// Fuzzes wire::Parse on arbitrary datagrams. Every returned span must lie inside the input, and a
// parsed DATA packet is also opened with a fixed key (both ciphers): it must fail cleanly, never
// crash or read outside the datagram, and where Open accepts it, sealing the plaintext again
// under the same key and counter must give back exactly the datagram's ciphertext and tag (so an
// Open that skipped the tag check fails on the tampered seeds, corpus/wire/*-tampered*). A RELAY
// datagram's inner datagram is parsed (and opened) the same way, its destination goes through
// NextHopLink on a fixed link table, and the inbound parse stage runs on it, so the relay branch
// (unwrap / forward / drop) is exercised in place too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>

#include "dataplane/aead.h"
#include "dataplane/inbound.h"
#include "shared/ring_distance.h"
#include "shared/table.h"
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

// One context per cipher and direction, all with the same fixed key and salt.
AeadContext& Context(shm::Cipher cipher, bool seal) {
  static const uint8_t kKey[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
  static const uint8_t kSalt[4] = {0xde, 0xad, 0xbe, 0xef};
  static AeadContext gcm[2], chacha[2];
  static const bool ready = gcm[0].Init(shm::Cipher::kAes256Gcm, kKey, kSalt, false) &&
                            gcm[1].Init(shm::Cipher::kAes256Gcm, kKey, kSalt, true) &&
                            chacha[0].Init(shm::Cipher::kChaCha20Poly1305, kKey, kSalt, false) &&
                            chacha[1].Init(shm::Cipher::kChaCha20Poly1305, kKey, kSalt, true);
  Require(ready);
  return cipher == shm::Cipher::kAes256Gcm ? gcm[seal] : chacha[seal];
}

// This node is at 0x50.. on the ring with links at 0x10.., 0x80.., and an invalid one at 0xc0..
// (corpus/wire/relay-* seeds are built for it by make_wire_corpus.py).
const shm::Generation& Table() {
  static const shm::Generation* const g = [] {
    auto* gen = new shm::Generation{};
    gen->hdr.self_ring[0] = 0x50;
    const uint8_t tops[] = {0x10, 0x80, 0xc0};
    for (uint32_t i = 0; i < 3; ++i) {
      gen->links[i].ring[0] = tops[i];
      gen->links[i].underlay_port = uint16_t(5800 + i);
      gen->links[i].flags = i < 2 ? shm::kLinkValid : 0;
    }
    gen->hdr.n_links = 3;
    return gen;
  }();
  return *g;
}

void CheckData(const wire::PacketView& view, const uint8_t* begin, size_t size) {
  Require(view.tag.size() == wire::kTagSize);
  Require(view.header.size() + view.payload.size() + view.tag.size() == size);
  Require(view.header.data() == begin && view.relay_dst.empty());
  uint8_t aad[wire::kHeaderSize];
  wire::AadOf(view.header.data(), aad);
  static uint8_t plain[wire::kMaxDatagram];
  const shm::Cipher cipher =
      (view.flags & 1) ? shm::Cipher::kChaCha20Poly1305 : shm::Cipher::kAes256Gcm;
  // Usually fails; seeds sealed with this key (corpus/wire/*-valid) take the success path.
  if (!Context(cipher, false)
           .Open(view.counter, aad, view.payload.data(), view.payload.size(), plain,
                 view.tag.data()))
    return;
  // Accepted: the datagram must be exactly what the sender sealed. Anything else (a flipped
  // ciphertext, tag, header or counter byte) was let through without authentication.
  static uint8_t again[wire::kMaxDatagram];
  uint8_t tag[wire::kTagSize];
  Require(Context(cipher, true).Seal(view.counter, aad, plain, view.payload.size(), again, tag));
  Require(std::memcmp(again, view.payload.data(), view.payload.size()) == 0);
  Require(std::memcmp(tag, view.tag.data(), wire::kTagSize) == 0);
}

void CheckRelay(const wire::PacketView& view, const uint8_t* begin, size_t size) {
  Require(size >= wire::kRelayHeaderSize + wire::kHeaderSize + wire::kTagSize);
  Require(view.header.size() == wire::kRelayHeaderSize && view.tag.empty());
  Require(view.relay_dst.size() == wire::kRingAddressSize && view.relay_dst.data() == begin + 4);
  Require(view.payload.data() == begin + wire::kRelayHeaderSize &&
          view.payload.size() == size - wire::kRelayHeaderSize);
  wire::PacketView inner;
  if (wire::Parse(view.payload, inner) == wire::ParseError::kNone &&
      inner.type == wire::PacketType::kData) {
    CheckData(inner, view.payload.data(), view.payload.size());
  }
  const shm::Generation& g = Table();
  const uint32_t link = shm::NextHopLink(g, view.relay_dst.data());
  if (link != shm::kNoLink) {
    Require(link < g.hdr.n_links && (g.links[link].flags & shm::kLinkValid));
    Require(ring::CloserTo(view.relay_dst.data(), g.links[link].ring, g.hdr.self_ring));
  }
}

// The inbound parse stage on a private copy: it rewrites the hop count in place.
void RunParseStage(const uint8_t* data, size_t size, const wire::PacketView& view) {
  static auto* counters = new shm::WorkerCounters{};
  uint8_t* copy = static_cast<uint8_t*>(std::malloc(size));
  std::memcpy(copy, data, size);
  dp::Packet p;
  p.data = copy;
  p.len = uint32_t(size);
  dp::Packet* span[1] = {&p};
  const dp::InboundContext ctx{&Table(), {}, nullptr, counters};
  const size_t n = dp::ParseDatagrams(span, ctx);
  if (p.verdict == dp::Verdict::kRelay) {
    Require(n == 0 && p.link < Table().hdr.n_links && p.data == copy && p.len == size);
    Require(copy[2] == view.hops + 1 && view.hops < wire::kRelayHopLimit);
    copy[2] = data[2];
    Require(std::memcmp(copy, data, size) == 0);  // nothing else changed
  } else if (n == 1) {                            // ours: unwrapped to the inner DATA datagram
    Require(p.data == copy + wire::kRelayHeaderSize && p.len == size - wire::kRelayHeaderSize);
    Require(std::memcmp(view.relay_dst.data(), Table().hdr.self_ring, shm::kRingBytes) == 0);
  }
  std::free(copy);
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
    Require(view.header.data() == copy);
    Require(Within(view.payload, copy, size) && Within(view.tag, copy, size) &&
            Within(view.relay_dst, copy, size));
    if (view.type == wire::PacketType::kData) {
      CheckData(view, copy, size);
    } else if (view.type == wire::PacketType::kRelay) {
      CheckRelay(view, copy, size);
      RunParseStage(copy, size, view);
    } else {
      Require(view.header.size() == wire::kHeaderSize && view.tag.empty());
      Require(view.relay_dst.empty());
      Require(view.header.size() + view.payload.size() == size);
    }
  } else {
    Require(err == wire::ParseError::kTooShort || err == wire::ParseError::kBadVersion ||
            err == wire::ParseError::kBadType || err == wire::ParseError::kBadReserved);
  }
  std::free(copy);
  return 0;
}
