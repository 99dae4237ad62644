// Page-table benchmarks (issue 2): the cost per 4 KiB page of the seed's cursor operations on the
// simulated machine, to set beside the speed-of-light reference (bench/sol.cpp) run in the same
// session. Figures and how to run them: docs/benchmarks.md, "Page table (issue 2)".
//
// Every operation is batched through one cursor over a large range, as a kernel maps a region.
// "warm" benchmarks measure the steady state: the range was mapped and unmapped before, so the
// page-table nodes exist (the seed never frees emptied nodes) and the host has faulted in the
// arena pages they and the frame metadata live on; only the timed operation is measured (manual
// timing). "first_touch" benchmarks start from a fresh machine each iteration, so host page
// faults (15–25 µs each on these virtual machines) are included; they are reported apart.
//
// Counters: ns/page (time per 4 KiB page), pages/s, and host bytes/page (resident memory the
// machine gained per mapped page: page-table nodes, frame metadata, allocator bookkeeping).
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "pagetable/page_table.h"

namespace {

using namespace pagesim;
using namespace pagesim::pt;
using Clock = std::chrono::steady_clock;

constexpr u64 k4K = 4 * KiB;
constexpr u64 kPages = u64{1} << 20;  // 4 GiB of virtual space per batch
constexpr VAddr kUserBase{0x0000'1000'0000'0000ull};
constexpr VAddr kLinear{0xffff'8000'0000'0000ull};
constexpr PageProperty kUserRW =
    PageProperty::make(PageFlag::R | PageFlag::W, CachePolicy::Writeback, PrivFlag::USER);
constexpr PageProperty kKernRW = PageProperty::make(PageFlag::R | PageFlag::W);

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "pagetable_bench: %s\n", what.c_str());
  std::abort();
}
std::string message_of(const std::string& e) { return e; }
template <class E>
std::string message_of(const E& e) {
  return e.message();
}
template <class R>
auto must(R&& r, const char* what) {
  if (!r.ok()) die(std::string(what) + ": " + message_of(r.error()));
  return std::move(r).value();
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// CPU time of the calling thread, in seconds. Other sessions share this machine's two cores, so
// wall-clock figures include time the thread waited for a core; the thread's CPU time does not.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Wall-clock and thread CPU time of one timed region.
struct Timer {
  Clock::time_point wall0 = Clock::now();
  double cpu0 = thread_cpu_seconds();
  double wall() const { return seconds_since(wall0); }
  double cpu() const { return thread_cpu_seconds() - cpu0; }
};

struct Totals {
  double wall = 0, cpu = 0;
  u64 pages = 0;
  void add(const Timer& t, u64 n) {
    wall += t.wall();
    cpu += t.cpu();
    pages += n;
  }
};

// Resident set size of this process, in bytes (second field of /proc/self/statm, in pages).
u64 rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  if (std::fscanf(f, "%llu %llu", &size, &resident) != 2) resident = 0;
  std::fclose(f);
  return resident * static_cast<u64>(sysconf(_SC_PAGESIZE));
}

// A simulated machine with a kernel page table and one user table sharing its kernel half.
struct Machine {
  explicit Machine(u64 ram)
      : mem(must(PhysMem::create(ram), "PhysMem::create")),
        alloc(*mem),
        kpt(must(KernelPageTable<>::new_kernel(alloc), "new_kernel")),
        upt(must(kpt.create_user_page_table(), "create_user_page_table")) {}
  std::unique_ptr<PhysMem> mem;
  FrameAllocator alloc;
  KernelPageTable<> kpt;
  UserPageTable<> upt;
};

// Maps `n` fresh tracked 4 KiB pages from `base` through one cursor.
void map_pages(Machine& m, VAddr base, u64 n) {
  auto c = must(m.upt.cursor_mut({base, base + n * k4K}), "cursor_mut");
  for (u64 i = 0; i < n; ++i) {
    auto out = c.map(must(Frame::alloc(m.alloc, 0), "Frame::alloc"), kUserRW);
    if (!out.ok()) die("map: " + out.error().message());
    benchmark::DoNotOptimize(out);
  }
}

// Removes every page of [base, base + n pages) through one cursor, releasing the frames.
u64 unmap_pages(const auto& pt, VAddr base, u64 n) {
  const VAddr end = base + n * k4K;
  auto c = must(pt.cursor_mut({base, end}), "cursor_mut");
  u64 taken = 0;
  for (;;) {
    auto item = c.take_next(end - c.virt_addr());
    if (!item.ok()) die("take_next: " + item.error().message());
    if (!is_mapped(*item)) break;
    ++taken;
  }  // each item, and so its frame, is released at the end of its iteration
  return taken;
}

// ns/page: wall-clock time per page; cpu_ns/page: the timed thread's CPU time per page;
// pages/s: wall-clock throughput.
void report(benchmark::State& state, const Totals& t) {
  const double pages = static_cast<double>(t.pages);
  state.counters["ns/page"] = t.wall * 1e9 / pages;
  state.counters["cpu_ns/page"] = t.cpu * 1e9 / pages;
  state.counters["pages/s"] = pages / t.wall;
}

// --- map of tracked 4 KiB pages, frame allocation and metadata included --------------------------

void BM_Map4K_Warm(benchmark::State& state) {
  Machine m(8 * GiB);
  map_pages(m, kUserBase, kPages);
  unmap_pages(m.upt, kUserBase, kPages);
  Totals t;
  for (auto _ : state) {
    const Timer timer;
    map_pages(m, kUserBase, kPages);
    state.SetIterationTime(timer.wall());
    t.add(timer, kPages);
    if (unmap_pages(m.upt, kUserBase, kPages) != kPages) die("lost pages");
  }
  report(state, t);
}
BENCHMARK(BM_Map4K_Warm)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_Map4K_FirstTouch(benchmark::State& state) {
  Totals t;
  double rss_per_page = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto m = std::make_unique<Machine>(8 * GiB);
    const u64 rss0 = rss_bytes();
    state.ResumeTiming();
    const Timer timer;
    map_pages(*m, kUserBase, kPages);
    state.SetIterationTime(timer.wall());
    t.add(timer, kPages);
    rss_per_page = static_cast<double>(rss_bytes() - rss0) / static_cast<double>(kPages);
    state.PauseTiming();
    m.reset();
    state.ResumeTiming();
  }
  report(state, t);
  // Host memory the machine gained per mapped page: the page-table nodes (one 4 KiB leaf node per
  // 512 pages, zeroed), the 16-byte metadata records of the frames and nodes, and the allocator's
  // bookkeeping. The data frames themselves are never written, so they cost nothing.
  state.counters["host_bytes/page"] = rss_per_page;
}
BENCHMARK(BM_Map4K_FirstTouch)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

// --- unmap (take_next) of them, frames released --------------------------------------------------

void BM_Unmap4K_Warm(benchmark::State& state) {
  Machine m(8 * GiB);
  map_pages(m, kUserBase, kPages);
  unmap_pages(m.upt, kUserBase, kPages);
  Totals t;
  for (auto _ : state) {
    map_pages(m, kUserBase, kPages);
    const Timer timer;
    const u64 n = unmap_pages(m.upt, kUserBase, kPages);
    state.SetIterationTime(timer.wall());
    t.add(timer, kPages);
    if (n != kPages) die("lost pages");
  }
  report(state, t);
}
BENCHMARK(BM_Unmap4K_Warm)->UseManualTime()->Unit(benchmark::kMillisecond);

// --- protect_next over mapped 4 KiB pages --------------------------------------------------------

void BM_Protect4K_Warm(benchmark::State& state) {
  Machine m(8 * GiB);
  map_pages(m, kUserBase, kPages);
  const VAddr end = kUserBase + kPages * k4K;
  Totals t;
  bool writable = false;
  for (auto _ : state) {
    // Alternate read-only and read-write, so every entry changes every time.
    const auto op = [writable](PageProperty& p) {
      if (writable) {
        p.flags |= PageFlag::W;
      } else {
        p.flags -= PageFlag::W;
      }
    };
    writable = !writable;
    const Timer timer;
    auto c = must(m.upt.cursor_mut({kUserBase, end}), "cursor_mut");
    u64 n = 0;
    for (;;) {
      auto r = c.protect_next(end - c.virt_addr(), op);
      if (!r.ok()) die("protect_next: " + r.error().message());
      if (!r->has_value()) break;
      ++n;
    }
    state.SetIterationTime(timer.wall());
    t.add(timer, kPages);
    if (n != kPages) die("protect missed pages");
  }
  report(state, t);
  unmap_pages(m.upt, kUserBase, kPages);
}
BENCHMARK(BM_Protect4K_Warm)->UseManualTime()->Unit(benchmark::kMillisecond);

// --- map_pa of 1 GiB untracked, forced to 4 KiB pages ------------------------------------------
// The physical start is 4 KiB past a 2 MiB boundary while the virtual one is 2 MiB aligned, so no
// huge page fits anywhere: 262,144 pages of 4 KiB.

constexpr VAddr kPaVa = kLinear + GiB;
constexpr PRange kPaRange{PAddr(GiB + k4K), PAddr(2 * GiB + k4K)};
constexpr u64 kPaPages = GiB / k4K;

void map_pa_gig(Machine& m) {
  auto c = must(m.kpt.cursor_mut({kPaVa, kPaVa + GiB}), "cursor_mut");
  auto out = c.map_pa(kPaRange, kKernRW);
  if (!out.ok()) die("map_pa: " + out.error().message());
  benchmark::DoNotOptimize(out);
}

void BM_MapPa1GForced4K_Warm(benchmark::State& state) {
  Machine m(4 * GiB);
  map_pa_gig(m);
  if (unmap_pages(m.kpt, kPaVa, kPaPages) != kPaPages) die("map_pa did not map 4 KiB pages");
  Totals t;
  for (auto _ : state) {
    const Timer timer;
    map_pa_gig(m);
    state.SetIterationTime(timer.wall());
    t.add(timer, kPaPages);
    if (unmap_pages(m.kpt, kPaVa, kPaPages) != kPaPages) die("lost pages");
  }
  report(state, t);
}
BENCHMARK(BM_MapPa1GForced4K_Warm)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_MapPa1GForced4K_FirstTouch(benchmark::State& state) {
  Totals t;
  for (auto _ : state) {
    state.PauseTiming();
    auto m = std::make_unique<Machine>(4 * GiB);
    state.ResumeTiming();
    const Timer timer;
    map_pa_gig(*m);
    state.SetIterationTime(timer.wall());
    t.add(timer, kPaPages);
    state.PauseTiming();
    m.reset();
    state.ResumeTiming();
  }
  report(state, t);
}
BENCHMARK(BM_MapPa1GForced4K_FirstTouch)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

// --- Threads on disjoint ranges ---------------------------------------------------------------
// Each thread maps then unmaps kThreadPages tracked 4 KiB pages, through one cursor each, in its
// own 512 GiB root slot (threads share only the root, locked briefly when a cursor is created).
// Throughput is every thread's pages over the wall time from the common start to the last finish;
// the docs compare two threads with one. cpu_ns/page sums the threads' CPU time; busiest_cpu_s is
// the CPU time of the busiest thread per round, the wall time the round would take if every
// thread had a core to itself.

constexpr u64 kThreadPages = u64{1} << 18;  // 1 GiB of virtual space per thread and round

VAddr thread_base(int t) { return kUserBase + static_cast<u64>(t) * 512 * GiB; }

void map_unmap_round(Machine& m, int t) {
  map_pages(m, thread_base(t), kThreadPages);
  if (unmap_pages(m.upt, thread_base(t), kThreadPages) != kThreadPages) die("lost pages");
}

void BM_MapUnmap4K_Threads(benchmark::State& state) {
  const int nr_threads = static_cast<int>(state.range(0));
  Machine m(8 * GiB);
  // Warm every thread's range (and give each thread its allocator cache) once.
  {
    std::vector<std::thread> warm;
    for (int t = 0; t < nr_threads; ++t) warm.emplace_back([&, t] { map_unmap_round(m, t); });
    for (auto& th : warm) th.join();
  }
  double wall = 0, cpu = 0, busiest = 0;
  u64 pages = 0;
  for (auto _ : state) {
    std::barrier start(nr_threads + 1);
    std::vector<double> thread_cpu(static_cast<size_t>(nr_threads));
    std::vector<std::thread> threads;
    for (int t = 0; t < nr_threads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        const double c0 = thread_cpu_seconds();
        map_unmap_round(m, t);
        thread_cpu[static_cast<size_t>(t)] = thread_cpu_seconds() - c0;
      });
    }
    start.arrive_and_wait();
    const auto t0 = Clock::now();
    for (auto& th : threads) th.join();
    const double s = seconds_since(t0);
    state.SetIterationTime(s);
    wall += s;
    double round_busiest = 0;
    for (double c : thread_cpu) {
      cpu += c;
      round_busiest = std::max(round_busiest, c);
    }
    busiest += round_busiest;
    pages += kThreadPages * static_cast<u64>(nr_threads);
  }
  const double p = static_cast<double>(pages);
  state.counters["ns/page"] = wall * 1e9 / p;
  state.counters["cpu_ns/page"] = cpu * 1e9 / p;
  state.counters["pages/s"] = p / wall;
  state.counters["pages/busiest_cpu_s"] = p / busiest;
}
BENCHMARK(BM_MapUnmap4K_Threads)
    ->Arg(1)
    ->Arg(2)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
