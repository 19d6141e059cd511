// In-memory stand-ins for the control plane's interfaces (unit tests and fuzz targets).
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "controlplane/runtime/clock.h"
#include "controlplane/runtime/port.h"
#include "controlplane/runtime/random_source.h"
#include "shared/endpoint.h"

namespace ipop::cp::testing {

class FakeClock final : public Clock {
 public:
  uint64_t NowNs() const override { return now_ns; }
  uint64_t WallNs() const override { return wall_ns; }
  void AdvanceMs(uint64_t ms) {
    now_ns += ms * 1'000'000ull;
    wall_ns += ms * 1'000'000ull;
  }
  uint64_t now_ns = 1'000'000'000ull;
  uint64_t wall_ns = 1'700'000'000'000'000'000ull;
};

// splitmix64: deterministic, different seeds give different nonces.
class FakeRandom final : public RandomSource {
 public:
  explicit FakeRandom(uint64_t seed) : state_(seed) {}
  void Fill(std::span<uint8_t> out) override {
    for (uint8_t& b : out) {
      if (left_ == 0) {
        uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        word_ = z ^ (z >> 31);
        left_ = 8;
      }
      b = uint8_t(word_);
      word_ >>= 8;
      --left_;
    }
  }

 private:
  uint64_t state_;
  uint64_t word_ = 0;
  int left_ = 0;
};

class FakePort final : public Port {
 public:
  struct Datagram {
    Endpoint to;
    std::vector<uint8_t> bytes;
  };
  bool SendUnderlay(const Endpoint& to, std::span<const uint8_t> datagram) override {
    if (fail) return false;
    sent.push_back({to, {datagram.begin(), datagram.end()}});
    return true;
  }
  bool WriteTapFrame(std::span<const uint8_t> frame) override {
    if (fail) return false;
    frames.emplace_back(frame.begin(), frame.end());
    return true;
  }
  bool fail = false;
  std::vector<Datagram> sent;
  std::vector<std::vector<uint8_t>> frames;
};

inline Endpoint Ep4(uint32_t ip, uint16_t port) {
  Endpoint e;
  e.addr[10] = 0xff;
  e.addr[11] = 0xff;
  e.addr[12] = uint8_t(ip >> 24);
  e.addr[13] = uint8_t(ip >> 16);
  e.addr[14] = uint8_t(ip >> 8);
  e.addr[15] = uint8_t(ip);
  e.port = port;
  return e;
}

constexpr uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return a << 24 | b << 16 | c << 8 | d;
}

}  // namespace ipop::cp::testing
