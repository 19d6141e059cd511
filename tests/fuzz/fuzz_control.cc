// Fuzzes the HELLO decoder and the PeerSessions state machine behind it.
//
// Input: flags byte, optional inherited generation, then records [op][len:2][bytes]:
//   op 0: CONTROL datagram from endpoint (first byte % 4), rest = datagram
//   op 1: advance the clock by (bytes as little-endian ms, capped at 60 s); op 2: Tick
//   op 3: ObserveDataplaneInstance(bytes as little-endian value)
//   op 4: Reconfigure with the peer subset given by the first byte's bits
// flags bit 0: authenticator that accepts any tag, so arbitrary field values reach the state
//              machine (the real HMAC would reject nearly every mutated input).
// flags bit 1: the next bytes describe an inherited generation: n_peers (4), peer count k (1),
//              k PeerEntry, session count m (1), m x (index (2), SessionEntry).
// After every record the published spec is checked for the invariants the dataplane relies on.
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "controlplane/sessions/control_protocol.h"
#include "controlplane/sessions/network_id.h"
#include "controlplane/sessions/peer_sessions.h"
#include "tests/unit/cp_fakes.h"

namespace {

using ipop::cp::testing::Ep4;
using ipop::cp::testing::Ip;

class AcceptAnyTag final : public ipop::cp::HelloAuthenticator {
 public:
  size_t tag_size() const override { return 16; }
  bool Sign(std::span<const uint8_t>, std::span<uint8_t> tag) const override {
    std::memset(tag.data(), 0, tag.size());
    return true;
  }
  bool Verify(std::span<const uint8_t>, std::span<const uint8_t>) const override { return true; }
};

std::array<uint8_t, 32> FuzzSecret() {
  std::array<uint8_t, 32> s;
  for (size_t i = 0; i < s.size(); ++i) s[i] = uint8_t(i);
  return s;
}

class Reader {
 public:
  Reader(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  bool Take(size_t k, const uint8_t** out) {
    if (n_ - pos_ < k) return false;
    *out = d_ + pos_;
    pos_ += k;
    return true;
  }
  bool Byte(uint8_t* b) {
    const uint8_t* p;
    if (!Take(1, &p)) return false;
    *b = *p;
    return true;
  }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t pos_ = 0;
};

uint64_t Le(std::span<const uint8_t> b) {
  uint64_t v = 0;
  for (size_t i = 0; i < b.size() && i < 8; ++i) v |= uint64_t{b[i]} << (8 * i);
  return v;
}

void CheckInvariants(const ipop::shm::TableSpec& spec) {
  std::set<uint32_t> indexes;
  std::vector<uint32_t> per_peer(spec.peers.size(), 0);
  if (spec.peers.size() > ipop::shm::kMaxPeers) __builtin_trap();
  for (const auto& s : spec.sessions) {
    if (s.receiver_index == 0 || s.receiver_index >= ipop::shm::kMaxSessions) __builtin_trap();
    if (!indexes.insert(s.receiver_index).second) __builtin_trap();
    if (s.entry.peer >= spec.peers.size()) __builtin_trap();
    if (!(spec.peers[s.entry.peer].flags & ipop::shm::kPeerValid)) __builtin_trap();
    if (++per_peer[s.entry.peer] > 1 + ipop::cp::PeerSessions::kMaxRetiring) __builtin_trap();
  }
  for (const auto& r : spec.routes)
    if (r.peer >= spec.peers.size() || !(spec.peers[r.peer].flags & ipop::shm::kPeerValid))
      __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ipop;
  static const cp::PskHelloAuthenticator real_auth(FuzzSecret(), "fuzznet");
  static const cp::PskKeySource keys(FuzzSecret(), "fuzznet");
  static const AcceptAnyTag any_tag;
  static const uint64_t net = cp::NetworkHash("fuzznet");
  static const bool level_set = cp::SetLogLevel("error");
  (void)level_set;

  // The decoder alone, on the raw input.
  cp::Hello h;
  (void)cp::DecodeHello({data, size}, net, real_auth, &h);

  Reader in(data, size);
  uint8_t flags = 0;
  if (!in.Byte(&flags)) return 0;

  std::unique_ptr<shm::Generation> gen;
  if (flags & 2) {
    gen = std::make_unique<shm::Generation>();
    std::memset(gen.get(), 0, sizeof(*gen));
    const uint8_t* p;
    uint8_t k = 0, m = 0;
    if (!in.Take(4, &p)) return 0;
    std::memcpy(&gen->hdr.n_peers, p, 4);
    if (!in.Byte(&k)) return 0;
    for (uint32_t i = 0; i < k % 5; ++i) {
      if (!in.Take(sizeof(shm::PeerEntry), &p)) return 0;
      std::memcpy(&gen->peers[i], p, sizeof(shm::PeerEntry));
    }
    if (!in.Byte(&m)) return 0;
    for (uint32_t i = 0; i < m % 9; ++i) {
      if (!in.Take(2 + sizeof(shm::SessionEntry), &p)) return 0;
      const uint32_t index = (uint32_t(p[0]) | uint32_t(p[1]) << 8) % shm::kMaxSessions;
      std::memcpy(&gen->sessions[index], p + 2, sizeof(shm::SessionEntry));
    }
  }

  const std::vector<PeerConfig> all_peers = {{Ip(10, 0, 0, 2), Ep4(Ip(192, 0, 2, 2), 5800)},
                                             {Ip(10, 0, 0, 3), Ep4(Ip(192, 0, 2, 3), 5800)},
                                             {Ip(10, 0, 0, 4), Ep4(Ip(192, 0, 2, 4), 5800)}};
  const Endpoint sources[4] = {all_peers[0].endpoint, all_peers[1].endpoint, all_peers[2].endpoint,
                               Ep4(Ip(203, 0, 113, 7), 4444)};
  cp::PeerSessionsOptions o;
  o.local_vip = Ip(10, 0, 0, 1);
  o.network = "fuzznet";
  o.peers = {all_peers[0], all_peers[1]};
  cp::testing::FakeClock clock;
  cp::testing::FakeRandom random(42);
  cp::testing::FakePort port;
  cp::CpCounters counters;
  const cp::HelloAuthenticator& auth =
      (flags & 1) ? static_cast<const cp::HelloAuthenticator&>(any_tag) : real_auth;
  cp::PeerSessions sessions(o, clock, random, auth, keys, port, counters, gen.get());
  sessions.ObserveDataplaneInstance(1);
  CheckInvariants(sessions.BuildSpec());

  uint8_t op = 0;
  while (in.Byte(&op)) {
    const uint8_t* lp;
    if (!in.Take(2, &lp)) break;
    const size_t len = size_t(lp[0]) | size_t(lp[1]) << 8;
    const uint8_t* body;
    if (!in.Take(len, &body)) break;
    const std::span<const uint8_t> b(body, len);
    switch (op % 5) {
      case 0:
        if (!b.empty()) sessions.OnControlDatagram(sources[b[0] % 4], b.subspan(1));
        break;
      case 1:
        clock.AdvanceMs(Le(b) % 60'000);
        break;
      case 2:
        sessions.Tick();
        break;
      case 3:
        sessions.ObserveDataplaneInstance(Le(b));
        break;
      case 4: {
        std::vector<PeerConfig> peers;
        const uint8_t mask = b.empty() ? 0 : b[0];
        for (size_t i = 0; i < all_peers.size(); ++i)
          if (mask & (1u << i)) peers.push_back(all_peers[i]);
        sessions.Reconfigure(peers, 1000, 5000);
        break;
      }
    }
    port.sent.clear();
    CheckInvariants(sessions.BuildSpec());
  }
  return 0;
}
