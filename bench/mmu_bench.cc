// Benchmarks of the MMU (issue 3): Mmu::translate served by a first-level TLB hit, by a
// second-level hit, and by a 4-level or 5-level walk and fill, over a few thousand pages and
// over a million. Compare with `build*/bench/sol [pages]` run the same day (docs/benchmarks.md,
// "MMU (issue 3)"): the walk figures are ratios to sol's "walk" line for the same page count.
//
// Addresses are drawn like sol's: a xorshift64 generator and `base + (x % pages) * 4096`, so
// both programs pay the same for choosing the address.
//
// `--count=NAME[/PAGES] --iterations=N` runs one benchmark's loop a fixed number of times for
// callgrind (see count_main below and docs/benchmarks.md).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "mmu/entry_bits.h"
#include "mmu/mmu.h"
#include "sim/phys_mem.h"

namespace pagesim::mmu {
namespace {

constexpr u64 kBase = 0x7f0000000000ull;  // sol's base address
constexpr u64 kBase57 = 0x00ab7f0000000000ull;

// A machine whose tables map `pages` consecutive 4 KiB pages from `base` (user, writable, A and
// D already set so a walk writes nothing, as in sol), built from raw entries.
struct Machine {
  std::unique_ptr<PhysMem> mem;
  CpuState state;

  Machine(u64 pages, int levels, u64 base) {
    const u64 tables = 2 * (pages / 512 + 8);
    mem = std::move(PhysMem::create((tables + 16) * kFrameSize + 16 * MiB).value());
    u64 next = 0x2000;
    const u64 root = 0x1000;
    const u64 flags = entry::kP | entry::kRw | entry::kUs | entry::kA;
    u64 pt = 0;
    for (u64 i = 0; i < pages; ++i) {
      const VAddr va(base + i * kFrameSize);
      if (pt == 0 || level_index(va, Level::kPte) == 0) {
        u64 table = root;
        for (int n = levels; n > 1; --n) {
          const PAddr addr(table + 8 * level_index(va, level_from_number(n)));
          u64 e = mem->load_entry(addr).value();
          if (!(e & entry::kP)) {
            e = next | flags;
            next += kFrameSize;
            mem->store_entry(addr, e).value();
          }
          table = e & entry::address_mask(52);
        }
        pt = table;
      }
      const u64 leaf = ((0x100000 + i) << 12) | flags | entry::kD;
      mem->store_entry(PAddr(pt + 8 * level_index(va, Level::kPte)), leaf).value();
    }
    state.cr0 = reg::kCr0Pe | reg::kCr0Pg | reg::kCr0Wp;
    state.cr4 = reg::kCr4Pae | (levels == 5 ? reg::kCr4La57 : 0);
    state.efer = reg::kEferLme | reg::kEferLma | reg::kEferNxe;
    state.cr3 = root;
  }
};

struct XorShift {
  u64 x = 88172645463325252ull;  // sol's seed
  u64 next() {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  }
};

// A shape with no second level and no paging-structure cache, so every translation of a large
// working set is a full walk and a fill: the "walk and fill" the issue measures.
TlbShape walk_only_shape() {
  return TlbShape::parse(
             "name walk-only\ntlb DTLB level=1 ports=data sizes=4K,2M,1G sets=16 "
             "ways=4\n",
             "bench")
      .value();
}

void report(benchmark::State& state, const Mmu& cpu) {
  const MmuStats& s = cpu.stats();
  const double n = static_cast<double>(s.translations);
  state.counters["l1_hit%"] = 100.0 * static_cast<double>(s.l1_hits) / n;
  state.counters["l2_hit%"] = 100.0 * static_cast<double>(s.l2_hits) / n;
  state.counters["psc_walk%"] = 100.0 * static_cast<double>(s.psc_walks) / n;
  state.counters["walk%"] = 100.0 * static_cast<double>(s.full_walks) / n;
  const auto& r = cpu.walker().stats().entry_reads;
  state.counters["reads/xlat"] = static_cast<double>(r[1] + r[2] + r[3] + r[4] + r[5]) / n;
}

// Each benchmark is a fixture (the machine, the CPU and the address generator, set up and
// warmed outside the timed loop) and its `step()`, one translation. The Google Benchmark loop
// and the counting loop below (`--count`, for callgrind) run the same step.

// First-level hit: 64 pages (the sol TLB-hit anchor's working set), Intel preset.
struct L1Hit {
  Machine m{64, 4, kBase};
  Mmu cpu{*m.mem, Profile::sdm(), TlbShape::intel_golden_cove()};
  XorShift x;
  const Access a = Access::read(3);
  L1Hit() {
    cpu.set_state(m.state).value();
    for (u64 i = 0; i < 64; ++i) cpu.translate(VAddr(kBase + i * kFrameSize), a);
    cpu.reset_stats();
  }
  u64 step() {
    const VAddr va(kBase + (x.next() & 63) * kFrameSize);
    return std::get<Ok>(cpu.translate(va, a).outcome).pa.value();
  }
};

// Second-level hit: 1,024 pages visited in order with the Intel preset, so each page was
// evicted from the 96-entry L1 DTLB long before it comes back, but stays in the 2,048-entry
// STLB.
struct L2Hit {
  static constexpr u64 kPages = 1024;
  Machine m{kPages, 4, kBase};
  Mmu cpu{*m.mem, Profile::sdm(), TlbShape::intel_golden_cove()};
  const Access a = Access::read(3);
  u64 i = 0;
  L2Hit() {
    cpu.set_state(m.state).value();
    for (u64 n = 0; n < kPages; ++n) cpu.translate(VAddr(kBase + n * kFrameSize), a);
    cpu.reset_stats();
  }
  u64 step() {
    const VAddr va(kBase + (i++ % kPages) * kFrameSize);
    return std::get<Ok>(cpu.translate(va, a).outcome).pa.value();
  }
};

// Walk and fill at random pages among `pages` (sol's walk loop), with a TLB of 64 entries, no
// second level and no PSC: nearly every translation walks every level and fills.
struct WalkAndFill {
  u64 pages;
  u64 base;
  Machine m;
  Mmu cpu;
  XorShift x;
  const Access a = Access::read(3);
  WalkAndFill(u64 pages_, int levels, u64 base_, const TlbShape& shape)
      : pages(pages_), base(base_), m(pages, levels, base), cpu(*m.mem, Profile::sdm(), shape) {
    cpu.set_state(m.state).value();
    // Warm the host caches and page tables as sol's untimed passes do.
    for (u64 n = 0; n < pages; ++n) cpu.translate(VAddr(base + n * kFrameSize), a);
    cpu.reset_stats();
  }
  u64 step() {
    const VAddr va(base + (x.next() % pages) * kFrameSize);
    return std::get<Ok>(cpu.translate(va, a).outcome).pa.value();
  }
};

// The walker alone (no TLB lookup, no fill), for comparison with sol's bare walk.
struct WalkerOnly {
  u64 pages;
  Machine m;
  Walker w;
  XorShift x;
  const Access a = Access::read(3);
  explicit WalkerOnly(u64 pages_) : pages(pages_), m(pages, 4, kBase), w(*m.mem, Profile::sdm()) {
    w.configure(m.state);
  }
  u64 step() {
    const VAddr va(kBase + (x.next() % pages) * kFrameSize);
    return std::get<Ok>(w.walk(va, a, nullptr, nullptr).outcome).pa.value();
  }
};

template <class F>
void run(benchmark::State& state, F& f) {
  u64 sum = 0;
  for (auto _ : state) sum += f.step();
  benchmark::DoNotOptimize(sum);
}

void BM_TranslateL1Hit(benchmark::State& state) {
  L1Hit f;
  run(state, f);
  report(state, f.cpu);
}
BENCHMARK(BM_TranslateL1Hit);

void BM_TranslateL2Hit(benchmark::State& state) {
  L2Hit f;
  run(state, f);
  report(state, f.cpu);
}
BENCHMARK(BM_TranslateL2Hit);

void BM_Walk4Level(benchmark::State& state) {
  WalkAndFill f(static_cast<u64>(state.range(0)), 4, kBase, walk_only_shape());
  run(state, f);
  report(state, f.cpu);
}
BENCHMARK(BM_Walk4Level)->Arg(4096)->Arg(1 << 20);

void BM_Walk5Level(benchmark::State& state) {
  WalkAndFill f(static_cast<u64>(state.range(0)), 5, kBase57, walk_only_shape());
  run(state, f);
  report(state, f.cpu);
}
BENCHMARK(BM_Walk5Level)->Arg(4096)->Arg(1 << 20);

// The same random pattern with the Intel preset (STLB and paging-structure caches): what a
// translation costs on average when the caches do their job.
void BM_TranslateIntelPreset(benchmark::State& state) {
  WalkAndFill f(static_cast<u64>(state.range(0)), 4, kBase, TlbShape::intel_golden_cove());
  run(state, f);
  report(state, f.cpu);
}
BENCHMARK(BM_TranslateIntelPreset)->Arg(4096)->Arg(1 << 20);

void BM_WalkerOnly(benchmark::State& state) {
  WalkerOnly f(static_cast<u64>(state.range(0)));
  run(state, f);
}
BENCHMARK(BM_WalkerOnly)->Arg(4096)->Arg(1 << 20);

// --count=NAME[/PAGES] --iterations=N: runs that benchmark's step exactly N times, inside
// counted_loop() and nowhere else, so that
//   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*counted_loop*'
//            bench_mmu --count=Walk4Level/4096 --iterations=1000000
// counts the instructions (and, with --cache-sim=yes, the cache misses) of N translations and
// nothing of the set-up. Not timed: Google Benchmark does that.
template <class F>
[[gnu::noinline]] u64 counted_loop(F& f, u64 n) {
  u64 sum = 0;
  for (u64 k = 0; k < n; ++k) sum += f.step();
  return sum;
}

template <class F>
int count(F& f, u64 n) {
  const u64 sum = counted_loop(f, n);
  benchmark::DoNotOptimize(sum);
  return 0;
}

int count_main(std::string_view name, u64 n) {
  u64 pages = 0;
  if (const auto slash = name.find('/'); slash != std::string_view::npos) {
    pages = std::strtoull(std::string(name.substr(slash + 1)).c_str(), nullptr, 0);
    name = name.substr(0, slash);
  }
  if (name == "TranslateL1Hit") {
    L1Hit f;
    return count(f, n);
  }
  if (name == "TranslateL2Hit") {
    L2Hit f;
    return count(f, n);
  }
  if (pages == 0) {
    std::fprintf(stderr, "--count=%.*s needs /PAGES\n", static_cast<int>(name.size()), name.data());
    return 2;
  }
  if (name == "Walk4Level") {
    WalkAndFill f(pages, 4, kBase, walk_only_shape());
    return count(f, n);
  }
  if (name == "Walk5Level") {
    WalkAndFill f(pages, 5, kBase57, walk_only_shape());
    return count(f, n);
  }
  if (name == "TranslateIntelPreset") {
    WalkAndFill f(pages, 4, kBase, TlbShape::intel_golden_cove());
    return count(f, n);
  }
  if (name == "WalkerOnly") {
    WalkerOnly f(pages);
    return count(f, n);
  }
  std::fprintf(stderr, "unknown benchmark '%.*s'\n", static_cast<int>(name.size()), name.data());
  return 2;
}

}  // namespace
}  // namespace pagesim::mmu

int main(int argc, char** argv) {
  std::string_view name;
  pagesim::u64 n = 1000000;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--count=")) name = arg.substr(8);
    if (arg.starts_with("--iterations=")) n = std::strtoull(argv[i] + 13, nullptr, 0);
  }
  if (!name.empty()) return pagesim::mmu::count_main(name, n);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
