// Walkers racing with software stores to the entries they read (AD5, Q7, T10, INV10). TSan runs
// these suites (their names contain "Concurrency"); they also run in the plain and ASan builds.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "mmu/mmu.h"
#include "page_tables.h"

namespace pagesim::mmu {
namespace {

using testing::kA;
using testing::kD;
using testing::kUser;

bool sanitized() {
  const char* v = std::getenv("PAGESIM_SANITIZED");
  return v && std::string_view(v) == "1";
}

constexpr VAddr kVa(0x0000000040000000);
constexpr u64 kFrameA = 0x10000000;
constexpr u64 kFrameB = 0x20000000;
constexpr unsigned kSeqShift = 52;  // the writer's sequence number in ignored bits 58:52
constexpr u64 kSeqMask = u64{0x7f} << kSeqShift;

// AD5: the walker sets A/D only in the exact value it read. A writer stores a new value (new
// sequence number, alternating frames, A=D=0) only after checking that the entry still holds
// its previous store, possibly with A/D added: a walker that set A/D in a value it had read
// before the store would bring back an old sequence number, and the writer would see it.
TEST(WalkerConcurrency, AccessedAndDirtyNeverOverwriteASoftwareStore) {
  const u64 stores = sanitized() ? 20'000 : 300'000;
  auto mem = testing::make_mem();
  testing::PageTables pt(*mem, 4, 0x1000, 0x100000);
  const u64 pte = pt.map(kVa, kFrameA, kUser);
  pt.set(pte, kFrameA | kUser);
  std::atomic<bool> done{false};
  std::atomic<u64> violations{0};

  std::vector<std::thread> cpus;
  for (int c = 0; c < 2; ++c) {
    cpus.emplace_back([&, c] {
      Mmu cpu(*mem, Profile::sdm(), c == 0 ? TlbShape::none() : TlbShape::teaching());
      EXPECT_TRUE(cpu.set_state(testing::baseline_state()).ok());
      u64 n = 0;
      while (!done.load(std::memory_order_acquire)) {
        const Access a = (n++ % 3 == 0) ? Access::write(3) : Access::read(3);
        const Translation t = cpu.translate(kVa, a);
        const auto* ok = std::get_if<Ok>(&t.outcome);
        if (!ok) {
          violations.fetch_add(1);
          continue;
        }
        const u64 frame = ok->pa.value() & ~u64{0xfff};
        if (frame != kFrameA && frame != kFrameB) violations.fetch_add(1);
        if (n % 16 == 0) (void)cpu.invlpg(kVa);  // INV10: each CPU invalidates its own TLB
      }
    });
  }
  u64 last_stored = kFrameA | kUser;
  for (u64 i = 1; i <= stores; ++i) {
    const u64 cur = mem->load_entry(PAddr(pte)).value();
    if ((cur & ~(kA | kD)) != last_stored) violations.fetch_add(1);
    last_stored = ((i & 0x7f) << kSeqShift) | ((i % 2) ? kFrameB : kFrameA) | kUser;
    mem->store_entry(PAddr(pte), last_stored).value();
  }
  done.store(true, std::memory_order_release);
  for (auto& t : cpus) t.join();
  EXPECT_EQ(violations.load(), 0u);
}

// Q7: QEMU's compare-and-swap covers bits 31:0 only, so a concurrent change of bits 63:32
// alone never makes an A/D update fail; the SDM reading (the whole entry) may fail and restart.
TEST(WalkerConcurrency, Cas32IgnoresChangesOfTheHighBits) {
  const u64 flips = sanitized() ? 20'000 : 200'000;
  for (AdUpdate mode : {AdUpdate::kCas32RestartLevel, AdUpdate::kCas64RestartWalk}) {
    auto mem = testing::make_mem();
    testing::PageTables pt(*mem, 4, 0x1000, 0x100000);
    const u64 pte = pt.map(kVa, kFrameA, kUser);
    Profile p = Profile::sdm();
    p.ad_update = mode;
    std::atomic<bool> done{false};
    WalkerStats stats;
    u64 bad = 0;
    std::thread cpu([&] {
      Walker w(*mem, p);
      w.configure(testing::baseline_state());
      while (!done.load(std::memory_order_acquire)) {
        const WalkResult r = w.walk(kVa, Access::write(3), nullptr, nullptr);
        if (!std::holds_alternative<Ok>(r.outcome)) ++bad;
      }
      stats = w.stats();
    });
    for (u64 i = 0; i < flips; ++i) {
      // Only bits 58:52 (ignored) change; A and D are cleared again so the walker keeps writing.
      mem->store_entry(PAddr(pte), ((i & 0x7f) << kSeqShift) | kFrameA | kUser).value();
    }
    done.store(true, std::memory_order_release);
    cpu.join();
    EXPECT_EQ(bad, 0u);
    if (mode == AdUpdate::kCas32RestartLevel) {
      EXPECT_EQ(stats.cas_failures, 0u);
    }
    EXPECT_EQ(stats.restarts, stats.cas_failures);  // every failure restarted (AD5)
    const u64 last = mem->load_entry(PAddr(pte)).value();
    EXPECT_EQ(last & ~(kA | kD) & ~kSeqMask, kFrameA | kUser);
  }
}

}  // namespace
}  // namespace pagesim::mmu
