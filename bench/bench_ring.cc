// SpscRingView throughput: push+pop on one thread (the cost of the ring itself), and a two-thread
// ping-pong (one message each way per round trip: cross-core handoff latency).
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <thread>
#include <vector>

#include "shared/spsc_ring.h"

namespace {

using namespace ipop;

constexpr uint32_t kSlots = 512;

// Spin briefly, then give the core away: on a shared machine a pure spin can hold the core the
// other side needs for a whole time slice.
class Backoff {
 public:
  void Wait() {
    if (++spins_ < 2000) {
      __builtin_ia32_pause();
    } else {
      spins_ = 0;
      std::this_thread::yield();
    }
  }

 private:
  uint32_t spins_ = 0;
};
constexpr uint32_t kSlotSize = 2048;

struct Ring {
  uint8_t* block;
  SpscRingShared* shared;
  Ring() {
    const size_t bytes = sizeof(SpscRingShared) + size_t(kSlots) * kSlotSize;
    block = static_cast<uint8_t*>(std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096));
    shared = new (block) SpscRingShared{};
  }
  ~Ring() { std::free(block); }
  SpscRingView View() const {
    return SpscRingView(shared, block + sizeof(SpscRingShared), kSlots, kSlotSize);
  }
};

void BM_RingPushPop(benchmark::State& state) {
  const size_t len = size_t(state.range(0));
  Ring ring;
  SpscRingView producer = ring.View(), consumer = ring.View();
  std::vector<uint8_t> payload(len, 0x11);
  RingSlotHeader meta{};
  const uint32_t batch = 32;  // bursts, as the dataplane uses the ring
  for (auto _ : state) {
    for (uint32_t i = 0; i < batch; ++i) producer.TryPush(meta, payload);
    SpscRingView::Entry e;
    for (uint32_t i = 0; i < batch && consumer.Peek(e); ++i) {
      benchmark::DoNotOptimize(e.payload.data());
      consumer.Pop();
    }
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * batch);
  state.SetBytesProcessed(int64_t(state.iterations()) * batch * int64_t(len));
}
BENCHMARK(BM_RingPushPop)->Arg(64)->Arg(1400);

void BM_RingPingPong(benchmark::State& state) {
  Ring there, back;
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    SpscRingView in = there.View(), out = back.View();
    SpscRingView::Entry e;
    Backoff backoff;
    while (!stop.load(std::memory_order_relaxed)) {
      if (!in.Peek(e)) {
        backoff.Wait();
        continue;
      }
      while (!out.TryPush(e.meta, e.payload)) backoff.Wait();
      in.Pop();
    }
  });
  SpscRingView out = there.View(), in = back.View();
  uint8_t payload[64] = {};
  RingSlotHeader meta{};
  SpscRingView::Entry e;
  Backoff backoff;
  for (auto _ : state) {
    while (!out.TryPush(meta, payload)) backoff.Wait();
    while (!in.Peek(e)) backoff.Wait();
    in.Pop();
  }
  stop.store(true);
  echo.join();
  state.SetItemsProcessed(int64_t(state.iterations()));
}
BENCHMARK(BM_RingPingPong)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
