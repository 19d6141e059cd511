// DhtStore costs at 100k entries: put of a new value, refresh of an existing one, get, and the
// expiry sweep per value removed. The clock is a fake one so expiry is deterministic.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "controlplane/dht/dht_store.h"

namespace {

using namespace ipop::cp;

constexpr size_t kEntries = 100'000;

class BenchClock final : public Clock {
 public:
  uint64_t NowNs() const override { return now_ns; }
  uint64_t WallNs() const override { return now_ns; }
  uint64_t now_ns = 1'000'000'000;
};

DhtKey KeyOf(uint64_t i) {
  // Spread like hashed names, without paying for SHA-256 inside the measured loop.
  uint64_t z = i * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
  DhtKey k{};
  std::memcpy(k.data(), &z, sizeof(z));
  std::memcpy(k.data() + 8, &i, sizeof(i));
  return k;
}

DhtOwner OwnerOf(uint64_t i) {
  return KeyOf(i % 1000 + (1ull << 40));
}

DhtStoreLimits BenchLimits() {
  DhtStoreLimits l;
  l.max_owner_entries = 1'000'000;
  l.max_owner_bytes = 1ull << 30;
  l.max_total_bytes = 1ull << 32;
  return l;
}

const std::vector<uint8_t> kValue(64, 0x5a);

void Fill(DhtStore& s, size_t n, uint32_t ttl_ms) {
  for (size_t i = 0; i < n; ++i) s.Put(KeyOf(i), kValue, OwnerOf(i), ttl_ms, 1);
}

void BM_PutNew(benchmark::State& state) {
  BenchClock clock;
  DhtStore s(clock, BenchLimits());
  Fill(s, kEntries, 3'600'000);
  uint64_t i = kEntries;
  for (auto _ : state) {
    const DhtStatus st = s.Put(KeyOf(i), kValue, OwnerOf(i), 3'600'000, 1);
    benchmark::DoNotOptimize(st);
    ++i;
    if (i == 2 * kEntries) {  // keep the store near 100k: remove what was added
      state.PauseTiming();
      for (uint64_t j = kEntries; j < i; ++j) s.Remove(KeyOf(j), kValue, OwnerOf(j));
      i = kEntries;
      state.ResumeTiming();
    }
  }
  state.counters["bytes_used_MB"] = double(s.bytes_used()) / 1e6;
}
BENCHMARK(BM_PutNew);

void BM_PutRefresh(benchmark::State& state) {
  BenchClock clock;
  DhtStore s(clock, BenchLimits());
  Fill(s, kEntries, 3'600'000);
  uint64_t i = 0;
  for (auto _ : state) {
    const DhtStatus st = s.Put(KeyOf(i), kValue, OwnerOf(i), 3'600'000, 2);
    benchmark::DoNotOptimize(st);
    if (++i == kEntries) i = 0;
  }
}
BENCHMARK(BM_PutRefresh);

void BM_Get(benchmark::State& state) {
  BenchClock clock;
  DhtStore s(clock, BenchLimits());
  Fill(s, kEntries, 3'600'000);
  std::vector<DhtRecord> out;
  uint64_t i = 0;
  for (auto _ : state) {
    out.clear();
    benchmark::DoNotOptimize(s.Get(KeyOf(i), &out));
    if (++i == kEntries) i = 0;
  }
}
BENCHMARK(BM_Get);

void BM_GetMiss(benchmark::State& state) {
  BenchClock clock;
  DhtStore s(clock, BenchLimits());
  Fill(s, kEntries, 3'600'000);
  std::vector<DhtRecord> out;
  uint64_t i = kEntries;
  for (auto _ : state) benchmark::DoNotOptimize(s.Get(KeyOf(i++), &out));
}
BENCHMARK(BM_GetMiss);

// Time per expired value removed: 100k values expire, then Expire(256) until none are left.
void BM_ExpireSweep(benchmark::State& state) {
  BenchClock clock;
  size_t removed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    DhtStore s(clock, BenchLimits());
    Fill(s, kEntries, 1000);
    clock.now_ns += 2'000'000'000;
    state.ResumeTiming();
    while (size_t n = s.Expire(256)) removed += n;
    state.PauseTiming();
    if (s.value_count() != 0) state.SkipWithError("values left after sweeping");
    state.ResumeTiming();
  }
  state.SetItemsProcessed(int64_t(removed));
}
BENCHMARK(BM_ExpireSweep)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
