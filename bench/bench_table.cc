// Per-packet table costs: LookupPeer for /32 hits, misses and prefix fallbacks at several table
// sizes, and the per-burst BeginBurst when nothing was published.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "shared/table.h"

namespace {

using namespace ipop::shm;

constexpr uint32_t kBase = 0x0A000000;  // 10.0.0.0

// A region holding one generation with `n_peers` peers: each has a /32 route at kBase + 2 + i,
// and up to kMaxPrefixes /24 routes at 172.16.i.0 send traffic to peer i.
struct Fixture {
  std::string name;
  std::unique_ptr<ShmRegion> region;
  std::unique_ptr<TableReader> reader;
  const Generation* g = nullptr;

  explicit Fixture(uint32_t n_peers) {
    name = "/ipop-bench-table-" + std::to_string(getpid()) + "-" + std::to_string(n_peers);
    std::string err;
    region = ShmRegion::CreateOrAttach(name, 1, &err);
    if (!region) throw std::runtime_error(err);
    TableSpec spec;
    for (uint32_t i = 0; i < n_peers; ++i) {
      PeerEntry p{};
      p.flags = kPeerValid | kPeerTxReady;
      p.vip = kBase + 2 + i;
      spec.peers.push_back(p);
      spec.routes.push_back({kBase + 2 + i, 32, i});
      if (i < kMaxPrefixes) spec.routes.push_back({0xAC100000u | i << 8, 24, i});
    }
    TableWriter writer(*region);
    if (!writer.Publish(spec, &err)) throw std::runtime_error(err);
    reader = std::make_unique<TableReader>(*region, 0);
    g = reader->BeginBurst();
  }
  ~Fixture() { ShmRegion::Unlink(name); }
};

// Destinations drawn in advance so the loop measures the lookup, not the generator.
std::vector<uint32_t> Destinations(uint32_t n, uint32_t base, uint32_t stride) {
  std::mt19937 rng(1);
  std::vector<uint32_t> v(1024);
  for (uint32_t& d : v) d = base + (rng() % n) * stride;
  return v;
}

void RunLookups(benchmark::State& state, const std::vector<uint32_t>& dst, const Generation& g) {
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(LookupPeer(g, dst[i]));
    i = (i + 1) & 1023;
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
}

void BM_LookupHostHit(benchmark::State& state) {
  Fixture f(uint32_t(state.range(0)));
  RunLookups(state, Destinations(uint32_t(state.range(0)), kBase + 2, 1), *f.g);
}

// Misses go through the /32 probe and then every prefix.
void BM_LookupMiss(benchmark::State& state) {
  Fixture f(uint32_t(state.range(0)));
  RunLookups(state, Destinations(1u << 20, 0xC0A80000u, 1), *f.g);
}

// Hits on a /24, spread over all prefixes (the average scan covers half the prefix list).
void BM_LookupPrefix(benchmark::State& state) {
  const uint32_t n = uint32_t(state.range(0));
  Fixture f(n);
  RunLookups(state, Destinations(std::min(n, kMaxPrefixes), 0xAC100007u, 256), *f.g);
}

void BM_BeginBurstUnchanged(benchmark::State& state) {
  Fixture f(16);
  for (auto _ : state) benchmark::DoNotOptimize(f.reader->BeginBurst());
}

BENCHMARK(BM_LookupHostHit)->Arg(16)->Arg(256)->Arg(1000);
BENCHMARK(BM_LookupMiss)->Arg(16)->Arg(256)->Arg(1000);
BENCHMARK(BM_LookupPrefix)->Arg(16)->Arg(256)->Arg(1000);
BENCHMARK(BM_BeginBurstUnchanged);

}  // namespace

BENCHMARK_MAIN();
