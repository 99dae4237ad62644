// Benchmarks of the MMU (issue 3): Mmu::translate served by a first-level TLB hit, by a
// second-level hit, and by a 4-level or 5-level walk and fill, over a few thousand pages and
// over a million. Compare with `build*/bench/sol [pages]` run the same day (docs/benchmarks.md,
// "MMU (issue 3)"): the walk figures are ratios to sol's "walk" line for the same page count.
//
// Addresses are drawn like sol's: a xorshift64 generator and `base + (x % pages) * 4096`, so
// both programs pay the same for choosing the address.
#include <benchmark/benchmark.h>

#include <memory>

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

// First-level hit: 64 pages (the sol TLB-hit anchor's working set), Intel preset.
void BM_TranslateL1Hit(benchmark::State& state) {
  Machine m(64, 4, kBase);
  Mmu cpu(*m.mem, Profile::sdm(), TlbShape::intel_golden_cove());
  cpu.set_state(m.state).value();
  for (u64 i = 0; i < 64; ++i)
    cpu.translate(VAddr(kBase + i * kFrameSize), Access::read(3));
  cpu.reset_stats();
  XorShift x;
  const Access a = Access::read(3);
  u64 sum = 0;
  for (auto _ : state) {
    const VAddr va(kBase + (x.next() & 63) * kFrameSize);
    const Translation t = cpu.translate(va, a);
    sum += std::get<Ok>(t.outcome).pa.value();
  }
  benchmark::DoNotOptimize(sum);
  report(state, cpu);
}
BENCHMARK(BM_TranslateL1Hit);

// Second-level hit: 1,024 pages visited in order with the Intel preset, so each page was
// evicted from the 96-entry L1 DTLB long before it comes back, but stays in the 2,048-entry
// STLB.
void BM_TranslateL2Hit(benchmark::State& state) {
  const u64 pages = 1024;
  Machine m(pages, 4, kBase);
  Mmu cpu(*m.mem, Profile::sdm(), TlbShape::intel_golden_cove());
  cpu.set_state(m.state).value();
  for (u64 i = 0; i < pages; ++i)
    cpu.translate(VAddr(kBase + i * kFrameSize), Access::read(3));
  cpu.reset_stats();
  const Access a = Access::read(3);
  u64 i = 0, sum = 0;
  for (auto _ : state) {
    const VAddr va(kBase + (i++ % pages) * kFrameSize);
    sum += std::get<Ok>(cpu.translate(va, a).outcome).pa.value();
  }
  benchmark::DoNotOptimize(sum);
  report(state, cpu);
}
BENCHMARK(BM_TranslateL2Hit);

// Walk and fill at random pages among `pages` (sol's walk loop), with a TLB of 64 entries, no
// second level and no PSC: nearly every translation walks every level and fills.
void walk_and_fill(benchmark::State& state, int levels, u64 base, const TlbShape& shape) {
  const u64 pages = static_cast<u64>(state.range(0));
  Machine m(pages, levels, base);
  Mmu cpu(*m.mem, Profile::sdm(), shape);
  cpu.set_state(m.state).value();
  XorShift x;
  const Access a = Access::read(3);
  // Warm the host caches and page tables as sol's untimed passes do.
  for (u64 i = 0; i < pages; ++i)
    cpu.translate(VAddr(base + i * kFrameSize), a);
  cpu.reset_stats();
  u64 sum = 0;
  for (auto _ : state) {
    const VAddr va(base + (x.next() % pages) * kFrameSize);
    sum += std::get<Ok>(cpu.translate(va, a).outcome).pa.value();
  }
  benchmark::DoNotOptimize(sum);
  report(state, cpu);
}

void BM_Walk4Level(benchmark::State& state) {
  walk_and_fill(state, 4, kBase, walk_only_shape());
}
BENCHMARK(BM_Walk4Level)->Arg(4096)->Arg(1 << 20);

void BM_Walk5Level(benchmark::State& state) {
  walk_and_fill(state, 5, kBase57, walk_only_shape());
}
BENCHMARK(BM_Walk5Level)->Arg(4096)->Arg(1 << 20);

// The same random pattern with the Intel preset (STLB and paging-structure caches): what a
// translation costs on average when the caches do their job.
void BM_TranslateIntelPreset(benchmark::State& state) {
  walk_and_fill(state, 4, kBase, TlbShape::intel_golden_cove());
}
BENCHMARK(BM_TranslateIntelPreset)->Arg(4096)->Arg(1 << 20);

// The walker alone (no TLB lookup, no fill), for comparison with sol's bare walk.
void BM_WalkerOnly(benchmark::State& state) {
  const u64 pages = static_cast<u64>(state.range(0));
  Machine m(pages, 4, kBase);
  Walker w(*m.mem, Profile::sdm());
  w.configure(m.state);
  XorShift x;
  const Access a = Access::read(3);
  u64 sum = 0;
  for (auto _ : state) {
    const VAddr va(kBase + (x.next() % pages) * kFrameSize);
    sum += std::get<Ok>(w.walk(va, a, nullptr, nullptr).outcome).pa.value();
  }
  benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_WalkerOnly)->Arg(4096)->Arg(1 << 20);

}  // namespace
}  // namespace pagesim::mmu

BENCHMARK_MAIN();
