#include <benchmark/benchmark.h>

static void BM_Pending(benchmark::State& s) { for (auto _ : s) {} }
BENCHMARK(BM_Pending);
BENCHMARK_MAIN();
