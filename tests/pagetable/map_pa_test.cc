// `map_pa` of untracked physical ranges in the kernel's linear mapping (seed/BEHAVIOURS.md 6):
// the largest pages that fit the alignment of both addresses, never in the kernel's shared
// top-level nodes, splitting existing untracked huge pages where a smaller page must go; and the
// splits of untracked huge pages that partial unmap and protect cause (behaviours 7, 8).
#include <gtest/gtest.h>

#include "harness.h"

namespace pagesim::pt::testing {
namespace {

constexpr VAddr kLin = kLinearBase + 64 * k1G;  // 1 GiB aligned, inside the linear mapping

class MapPaTest : public ::testing::Test {
 protected:
  void SetUp() override { kpt_.emplace(PT_UNWRAP(KPT4::new_kernel(m_.alloc))); }
  void TearDown() override {
    EXPECT_TRUE(Consistent(m_, *kpt_));
    // Untracked mappings own no frame: only nodes are in use.
    EXPECT_TRUE(FramesAccountedFor(m_, {}, *kpt_));
  }

  // The mappings map_pa must produce for [va, va + len) -> pa, from the rule written out here:
  // at each address the largest of 2 MiB and 4 KiB (never 1 GiB in the kernel: level-3 nodes
  // are the shared ones) that both addresses are aligned to and that fits before the end.
  static std::vector<Mapping> expected(VAddr va, PAddr pa, u64 len, PageProperty prop) {
    std::vector<Mapping> out;
    const VAddr end = va + len;
    while (va < end) {
      const u64 s = va.is_aligned(k2M) && pa.is_aligned(k2M) && end - va >= k2M ? k2M : k4K;
      out.push_back(untracked(va, s, pa, prop));
      va += s;
      pa += s;
    }
    return out;
  }

  KPT4& kpt() { return *kpt_; }

  Machine m_;
  std::optional<KPT4> kpt_;
};

TEST_F(MapPaTest, ChoosesTheLargestPagesThatFitBothAlignments) {
  struct Case {
    const char* what;
    VAddr va;
    PAddr pa;
    u64 len;
    size_t nr_leaves;
  };
  // Each case in its own gigabyte, so no case finds the (emptied) tables of another.
  const Case cases[] = {
      {"both 2 MiB aligned", kLin, PAddr(6 * MiB), 4 * MiB, 2},
      {"physical 4 KiB off", kLin + k1G, PAddr(6 * MiB + k4K), 4 * MiB, 1024},
      {"virtual 4 KiB off", kLin + 2 * k1G + k4K, PAddr(6 * MiB), 4 * MiB, 1024},
      {"same offset, 2 MiB misaligned ends", kLin + 3 * k1G + k2M - 2 * k4K,
       PAddr(8 * MiB - 2 * k4K), 2 * k4K + k2M + k4K, 4},
      {"shorter than a huge page", kLin + 4 * k1G, PAddr(0), k2M - k4K, 511},
      {"2 MiB pages across a 1 GiB boundary", kLin + 6 * k1G - k2M, PAddr(k1G - k2M), 2 * k2M, 2},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.what);
    auto out = map_pa_at(kpt(), tc.va, {tc.pa, tc.pa + tc.len}, kKernRW);
    EXPECT_FALSE(out.replaced_anything());
    const auto want = expected(tc.va, tc.pa, tc.len, kKernRW);
    EXPECT_EQ(want.size(), tc.nr_leaves) << "the rule itself";
    EXPECT_TRUE(MappingsAre(m_, kpt(), kKernelAll, want));
    (void)unmap_all(kpt(), {tc.va, tc.va + tc.len});
    EXPECT_TRUE(MappingsAre(m_, kpt(), kKernelAll, {}));
  }
}

// Level-3 nodes of the kernel half are shared with every user table: map_pa never puts a leaf
// there, so an aligned gigabyte becomes 512 pages of 2 MiB.
TEST_F(MapPaTest, NeverMapsInTheKernelsSharedTopLevelNodes) {
  auto out = map_pa_at(kpt(), kLin, {PAddr(4 * k1G), PAddr(5 * k1G)}, kKernRW);
  EXPECT_FALSE(out.replaced_anything());
  const u64 l3 = entry_at(m_, kpt(), kLin, 3);
  EXPECT_FALSE(l3 & bits::kPS) << "the level-3 entry is a table pointer";
  EXPECT_EQ(l3 & ~bits::kAddr, bits::kP | bits::kRW | bits::kUS);
  auto want = expected(kLin, PAddr(4 * k1G), k1G, kKernRW);
  ASSERT_EQ(want.size(), 512u);
  EXPECT_TRUE(MappingsAre(m_, kpt(), kKernelAll, want));
}

TEST_F(MapPaTest, MappingOverExistingLeavesReplacesThem) {
  (void)map_pa_at(kpt(), kLin, {PAddr(0), PAddr(2 * k2M)}, kKernRW);
  auto out = map_pa_at(kpt(), kLin, {PAddr(k1G), PAddr(k1G + 2 * k2M)}, kKernRO);
  EXPECT_EQ(out.replaced_leaves, 2u);
  EXPECT_TRUE(out.detached.empty());
  EXPECT_TRUE(MappingsAre(m_, kpt(), kKernelAll, expected(kLin, PAddr(k1G), 2 * k2M, kKernRO)));
}

TEST_F(MapPaTest, AHugePageOverAChildTableDetachesTheTable) {
  (void)map_pa_at(kpt(), kLin + k4K, {PAddr(k4K), PAddr(3 * k4K)}, kKernRW);
  const PAddr leaf_node = node_at(m_, kpt(), kLin, 1).value();
  const u64 in_use = m_.alloc.in_use();
  {
    // The cursor must hold the level-2 node: a cursor over exactly [kLin, kLin + 2 MiB) would
    // hold only the child table (see the next test).
    auto out =
        map_pa_at(kpt(), {kLin, kLin + 2 * k2M}, kLin, {PAddr(k2M), PAddr(2 * k2M)}, kKernRW);
    EXPECT_EQ(out.replaced_leaves, 0u);
    ASSERT_EQ(out.detached.size(), 1u);
    EXPECT_EQ(out.detached[0].paddr(), leaf_node);
    EXPECT_EQ(m_.meta(leaf_node).nr_children, 2u) << "the detached table keeps its entries";
    EXPECT_EQ(m_.alloc.in_use(), in_use);
  }
  EXPECT_EQ(m_.alloc.in_use(), in_use - 1) << "the detached table is freed when dropped";
  EXPECT_TRUE(MappingsAre(m_, kpt(), kKernelAll, {untracked(kLin, k2M, PAddr(k2M), kKernRW)}));
}

// The seed's lock protocol: a cursor over exactly one 2 MiB slot that holds a child table locks
// only that table, so map_pa, which can only go down from there, fills the table with 4 KiB
// pages instead of replacing it by one 2 MiB page. The translation is the same.
TEST_F(MapPaTest, ACursorLockedOnTheChildTableMapsSmallPagesIntoIt) {
  (void)map_pa_at(kpt(), kLin + k4K, {PAddr(k4K), PAddr(3 * k4K)}, kKernRW);
  {
    auto c = PT_UNWRAP(kpt().cursor_mut({kLin, kLin + k2M}));
    EXPECT_EQ(c.guard_level(), 1);
    auto out = PT_UNWRAP(c.map_pa({PAddr(k2M), PAddr(2 * k2M)}, kKernRO));
    EXPECT_EQ(out.replaced_leaves, 2u);
    EXPECT_TRUE(out.detached.empty());
  }
  std::vector<Mapping> want;
  for (u64 i = 0; i < 512; ++i) {
    want.push_back(untracked(kLin + i * k4K, k4K, PAddr(k2M + i * k4K), kKernRO));
  }
  EXPECT_TRUE(MappingsAre(m_, kpt(), kKernelAll, want));
}

// A smaller page where an untracked huge page is: the huge page is split into 512 pages of the
// next size with its property (including accessed/dirty), then the one slot is overwritten.
TEST_F(MapPaTest, ASmallerPageSplitsAnExistingHugePage) {
  const PAddr p(40 * MiB);
  (void)map_pa_at(kpt(), kLin, {p, p + k2M}, kKernRX);
  const PAddr ea = entry_addr(m_, kpt(), kLin, 2);
  u64 v = m_.load(ea);
  ASSERT_TRUE(v & bits::kPS);
  ASSERT_TRUE(m_.mem->cas_entry(ea, v, v | bits::kA | bits::kD).value());
  const u64 in_use = m_.alloc.in_use();

  auto out = map_pa_at(kpt(), kLin + 2 * k4K, {PAddr(k1G), PAddr(k1G + k4K)}, kKernRW);
  EXPECT_EQ(out.replaced_leaves, 1u) << "the split piece at that slot";
  EXPECT_TRUE(out.detached.empty());
  EXPECT_EQ(m_.alloc.in_use(), in_use + 1) << "one new leaf node";
  const PageProperty split_prop = with(kKernRX, PageFlag::ACCESSED | PageFlag::DIRTY);
  std::vector<Mapping> want;
  for (u64 i = 0; i < 512; ++i) {
    want.push_back(i == 2 ? untracked(kLin + i * k4K, k4K, PAddr(k1G), kKernRW)
                          : untracked(kLin + i * k4K, k4K, p + i * k4K, split_prop));
  }
  EXPECT_TRUE(MappingsAre(m_, kpt(), kKernelAll, want));
  EXPECT_EQ(m_.meta(node_at(m_, kpt(), kLin, 1).value()).nr_children, 512u);
}

TEST_F(MapPaTest, PartialUnmapSplitsAnUntrackedHugePage) {
  const PAddr p(40 * MiB);
  (void)map_pa_at(kpt(), kLin, {p, p + 2 * k2M}, kKernRW);
  {
    auto c = PT_UNWRAP(kpt().cursor_mut({kLin, kLin + 2 * k2M}));
    PT_ASSERT_OK(c.jump(kLin + k4K));
    const VAddr end = kLin + 3 * k4K;
    std::vector<MappedUntracked> got;
    for (;;) {
      auto item = PT_UNWRAP(c.take_next(end - c.virt_addr()));
      if (!is_mapped(item)) {
        EXPECT_EQ(std::get<NotMapped>(item).va, end);
        break;
      }
      got.push_back(std::get<MappedUntracked>(item));
    }
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].va, kLin + k4K);
    EXPECT_EQ(got[0].pa, p + k4K);
    EXPECT_EQ(got[0].len, k4K);
    EXPECT_EQ(got[0].prop, kKernRW);
    EXPECT_EQ(got[1].va, kLin + 2 * k4K);
    EXPECT_EQ(got[1].pa, p + 2 * k4K);
    EXPECT_EQ(c.virt_addr(), end);
    // Taking the whole second huge page does not split it.
    PT_ASSERT_OK(c.jump(kLin + k2M));
    auto whole = PT_UNWRAP(c.take_next(k2M));
    ASSERT_TRUE(std::holds_alternative<MappedUntracked>(whole));
    EXPECT_EQ(std::get<MappedUntracked>(whole).len, k2M);
    EXPECT_EQ(std::get<MappedUntracked>(whole).pa, p + k2M);
  }
  std::vector<Mapping> want;
  for (u64 i = 0; i < 512; ++i) {
    if (i != 1 && i != 2) want.push_back(untracked(kLin + i * k4K, k4K, p + i * k4K, kKernRW));
  }
  EXPECT_TRUE(MappingsAre(m_, kpt(), kKernelAll, want));
  EXPECT_EQ(m_.meta(node_at(m_, kpt(), kLin, 1).value()).nr_children, 510u);
}

TEST_F(MapPaTest, PartialProtectSplitsOnlyTheHugePagesItCoversInPart) {
  const PAddr p(40 * MiB);
  (void)map_pa_at(kpt(), kLin, {p, p + 3 * k2M}, kKernRW);
  // Covers the last 4 KiB of the first huge page, all of the second, the first 4 KiB of the third.
  const VRange r{kLin + k2M - k4K, kLin + 2 * k2M + k4K};
  auto ranges = protect_all(kpt(), r, [](PageProperty& pp) { pp.flags -= PageFlag::W; });
  const std::vector<VRange> want_ranges{
      {kLin + k2M - k4K, kLin + k2M}, {kLin + k2M, kLin + 2 * k2M}, {kLin + 2 * k2M, r.end}};
  EXPECT_EQ(ranges, want_ranges);
  std::vector<Mapping> want;
  for (u64 i = 0; i < 511; ++i)
    want.push_back(untracked(kLin + i * k4K, k4K, p + i * k4K, kKernRW));
  want.push_back(untracked(kLin + 511 * k4K, k4K, p + 511 * k4K, kKernRO));
  want.push_back(untracked(kLin + k2M, k2M, p + k2M, kKernRO));
  want.push_back(untracked(kLin + 2 * k2M, k4K, p + 2 * k2M, kKernRO));
  for (u64 i = 1; i < 512; ++i) {
    want.push_back(untracked(kLin + 2 * k2M + i * k4K, k4K, p + 2 * k2M + i * k4K, kKernRW));
  }
  EXPECT_TRUE(MappingsAre(m_, kpt(), kKernelAll, want));
}

// Untracked pages own no frames: unmapping them frees nothing, and dropping the table frees only
// its nodes (TearDown checks the accounting).
TEST_F(MapPaTest, UntrackedPagesOwnNoFrames) {
  const u64 in_use = m_.alloc.in_use();
  (void)map_pa_at(kpt(), kLin, {PAddr(k4K), PAddr(k4K + 16 * k4K)}, kKernRW);
  EXPECT_EQ(m_.alloc.in_use(), in_use + 2) << "a level-2 and a level-1 node, nothing else";
  auto items = unmap_all(kpt(), {kLin, kLin + 16 * k4K});
  EXPECT_EQ(items.size(), 16u);
  EXPECT_EQ(m_.alloc.in_use(), in_use + 2) << "the seed never frees emptied nodes";
}

}  // namespace
}  // namespace pagesim::pt::testing
