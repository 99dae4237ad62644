// Benchmarks of issue 4: trace parsing, and replay with full checking (docs/benchmarks.md).
//
// Traces are generated in memory, then parsed or replayed from that buffer, so the figures
// measure pagesim and not the disk. Each benchmark reports its rate as a counter
// (lines/s or ops/s); run with --benchmark_min_time=… for steadier numbers.
#include <benchmark/benchmark.h>

#include <string>

#include "workloads/replay.h"
#include "workloads/trace_parser.h"

namespace pagesim::wl {
namespace {

// A read/write/fetch-heavy trace: `pages` pages mapped, then `accesses` accesses spread over
// them (most hit the TLB, as programs do), one CPU or several on disjoint ranges.
std::string access_trace(u64 accesses, u64 pages, unsigned cpus) {
  std::string t = fmt::format("pagesim-trace 1\nmachine ram=8G cpus={} tlb=intel\nspace 1\n", cpus);
  for (unsigned c = 0; c < cpus; ++c) t += fmt::format("cpu{} switch as=1\n", c);
  for (unsigned c = 0; c < cpus; ++c) {
    t += fmt::format("cpu{} map {:#x} {:#x} prot=rw- user page=4K\n", c,
                     0x10000000 + u64{c} * 0x10000000, pages * 4096);
  }
  t += "barrier\n";
  u64 x = 88172645463325252ull;
  for (u64 i = 0; i < accesses; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const unsigned c = static_cast<unsigned>(i % cpus);
    const u64 va = 0x10000000 + u64{c} * 0x10000000 + (x % pages) * 4096 + (x >> 40) % 4096;
    const char* op = (x & 3) == 0 ? "write" : "read";
    t += fmt::format("cpu{} {} {:#x} cpl=3\n", c, op, va);
  }
  return t;
}

// A map/unmap-heavy trace: each CPU maps, touches and unmaps 4 KiB pages over and over.
std::string map_trace(u64 ops, unsigned cpus) {
  std::string t = fmt::format("pagesim-trace 1\nmachine ram=8G cpus={} tlb=intel\nspace 1\n", cpus);
  for (unsigned c = 0; c < cpus; ++c) t += fmt::format("cpu{} switch as=1\n", c);
  for (u64 i = 0; i < ops / 3; ++i) {
    const unsigned c = static_cast<unsigned>(i % cpus);
    const u64 va = 0x10000000 + u64{c} * 0x10000000 + ((i / cpus) % 4096) * 0x1000;
    t += fmt::format(
        "cpu{} map {:#x} 4K prot=rw- user\ncpu{} write {:#x} cpl=3\n"
        "cpu{} unmap {:#x} 4K\n",
        c, va, c, va, c, va);
  }
  return t;
}

u64 count_lines(const std::string& t) {
  u64 n = 0;
  for (char ch : t) n += ch == '\n';
  return n;
}

void BM_Parse(benchmark::State& state) {
  const std::string trace = access_trace(3'000'000, 4096, 1);
  const u64 lines = count_lines(trace);
  for (auto _ : state) {
    auto p = TraceParser::from_string("bench.trace", trace);
    if (!p->read_preamble().ok()) state.SkipWithError("preamble");
    TraceOp op;
    u64 n = 0;
    for (;;) {
      auto r = p->next(op);
      if (!r.ok() || !*r) break;
      ++n;
    }
    benchmark::DoNotOptimize(n);
  }
  state.counters["lines/s"] = benchmark::Counter(static_cast<double>(lines) * state.iterations(),
                                                 benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Parse)->Unit(benchmark::kMillisecond)->MinTime(2);

void replay_bench(benchmark::State& state, const std::string& trace) {
  const u64 lines = count_lines(trace);
  u64 ops = 0;
  for (auto _ : state) {
    auto p = TraceParser::from_string("bench.trace", trace);
    ReplayOptions opt;
    opt.progress = false;
    ReplayResult r = replay(*p, opt);
    if (r.verdict != ReplayResult::Verdict::kMatched) {
      state.SkipWithError(r.error ? r.error->to_string().c_str() : "mismatch");
      return;
    }
    ops += r.stats.total_ops();
  }
  state.counters["ops/s"] =
      benchmark::Counter(static_cast<double>(ops), benchmark::Counter::kIsRate);
  state.counters["lines"] = static_cast<double>(lines);
}

void BM_ReplayAccessHeavy(benchmark::State& state) {
  replay_bench(state, access_trace(2'000'000, 4096, static_cast<unsigned>(state.range(0))));
}
BENCHMARK(BM_ReplayAccessHeavy)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2)
    ->UseRealTime();

void BM_ReplayMapHeavy(benchmark::State& state) {
  replay_bench(state, map_trace(1'500'000, static_cast<unsigned>(state.range(0))));
}
BENCHMARK(BM_ReplayMapHeavy)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2)
    ->UseRealTime();

}  // namespace
}  // namespace pagesim::wl

BENCHMARK_MAIN();
