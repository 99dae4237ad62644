// 5-level paging (PagingConsts5, 57-bit addresses): map / query / unmap at every page size,
// the linear mapping, the user table sharing the kernel half, and which node a cursor locks at
// each of the five levels.
#include <gtest/gtest.h>

#include "harness.h"

namespace pagesim::pt::testing {
namespace {

// 5-level address map, written out by hand (57-bit canonical addresses).
constexpr VAddr kLinear5{0xff00'0000'0000'0000ull};
constexpr VAddr kLinearEnd5{0xff80'0000'0000'0000ull};
constexpr VAddr kUserEnd5{0x00ff'ffff'ffff'f000ull};
// Root index 1, level-4 index 2, level-3 index 3, level-2 index 4, level-1 index 5.
constexpr VAddr kX{(u64{1} << 48) | (u64{2} << 39) | (u64{3} << 30) | (u64{4} << 21) |
                   (u64{5} << 12)};

class FiveLevelTest : public TwoTables5 {
 protected:
  PAddr node(VAddr va, int level) { return node_at(m_, *upt_, va, level).value(); }
};

TEST_F(FiveLevelTest, MapQueryUnmapAtEveryPageSize) {
  Frame s = m_.frame(), h = m_.frame(9), g = m_.frame(18);
  const VAddr vs = kX, vh = kX + 7 * k2M - 5 * k4K, vg = kUserEnd5 + k4K - 2 * k1G;
  (void)map_at(*upt_, vs, s.clone(), kUserRW);
  (void)map_at(*upt_, vh, h.clone(), kUserRX);
  (void)map_at(*upt_, vg, g.clone(), kUserRO);
  EXPECT_EQ(m_.alloc.in_use(), 1u + 256 + 1 + 4 + 2 + (1 + 512 + (u64{1} << 18)))
      << "kernel root + 256 shared level-4 nodes, user root, levels 4-1 for kX (the 2 MiB page"
         " shares its level-2 node), levels 4-3 in root slot 255 for the 1 GiB page, the pages";
  EXPECT_TRUE(
      MappingsAre(m_, *upt_, {VAddr(0), kUserEnd5},
                  {tracked(vs, s, kUserRW), tracked(vh, h, kUserRX), tracked(vg, g, kUserRO)}));
  EXPECT_EQ(upt_->query(vs + 0x10)->first, s.paddr() + 0x10);
  EXPECT_EQ(upt_->query(vh + 0x1234)->first, h.paddr() + 0x1234);
  EXPECT_EQ(upt_->query(vg + 0x3fff'0000)->first, g.paddr() + 0x3fff'0000);
  EXPECT_TRUE(entry_at(m_, *upt_, vh, 2) & bits::kPS);
  EXPECT_TRUE(entry_at(m_, *upt_, vg, 3) & bits::kPS);
  EXPECT_EQ(m_.load(upt_->root_paddr() + 1 * 8) & ~bits::kAddr, 0x7u) << "root index 1";
  auto items = unmap_all(*upt_, {VAddr(0), kUserEnd5});
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(std::get<Mapped>(items[0]).page.pfn(), s.pfn());
  EXPECT_EQ(std::get<Mapped>(items[1]).page.pfn(), h.pfn());
  EXPECT_EQ(std::get<Mapped>(items[2]).page.pfn(), g.pfn());
  EXPECT_TRUE(MappingsAre(m_, *upt_, {VAddr(0), kUserEnd5}, {}));
}

TEST_F(FiveLevelTest, NewCursorLocksTheLowestCoveringNodeAtEachLevel) {
  (void)map_at(*upt_, kX, m_.frame(), kUserRW);
  const struct {
    VRange range;
    int guard;
  } cases[] = {
      {{kX, kX + k4K}, 1}, {{kX - k4K, kX + k4K}, 1}, {{kX, kX + k2M}, 2},
      {{kX, kX + k1G}, 3}, {{kX, kX + 512 * k1G}, 4}, {{kX, VAddr(2 * (u64{1} << 48) + k4K)}, 5},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.guard);
    {
      auto c = PT_UNWRAP(upt_->cursor_mut(tc.range));
      EXPECT_EQ(c.guard_level(), tc.guard);
      EXPECT_EQ(c.locked_node(tc.guard), node(kX, tc.guard));
      for (int l = 1; l <= 5; ++l) EXPECT_EQ(m_.locked(node(kX, l)), l == tc.guard) << l;
    }
    for (int l = 1; l <= 5; ++l) EXPECT_FALSE(m_.locked(node(kX, l))) << l;
  }
  (void)unmap_all(*upt_, {kX, kX + k4K});
}

TEST_F(FiveLevelTest, TheLinearMappingAndTheSharedKernelHalf) {
  EXPECT_EQ((KernelMode::linear_mapping_range<C5>()), (VRange{kLinear5, kLinearEnd5}));
  const VAddr va = kLinear5 + 3 * k1G + k2M - k4K;
  (void)map_pa_at(*kpt_, va, {PAddr(k2M - k4K), PAddr(2 * k2M)}, kKernRW);
  EXPECT_TRUE(MappingsAre(m_, *kpt_, {kLinear5, kLinearEnd5},
                          {untracked(va, k4K, PAddr(k2M - k4K), kKernRW),
                           untracked(va + k4K, k2M, PAddr(k2M), kKernRW)}));
  // The user table reaches the kernel's level-4 node: its walk sees the mapping.
  EXPECT_EQ(upt_->query(va + k4K + 0x77)->first, PAddr(k2M + 0x77));
  EXPECT_EQ(node_at(m_, *upt_, va, 4), node_at(m_, *kpt_, va, 4));
  // map_pa never maps in the kernel's shared nodes, "level >= NR_LEVELS - 1": with 5 levels
  // those are levels 4 and 5, so 1 GiB untracked pages are allowed.
  (void)map_pa_at(*kpt_, kLinear5 + 8 * k1G, {PAddr(8 * k1G), PAddr(9 * k1G)}, kKernRO);
  EXPECT_TRUE(entry_at(m_, *kpt_, kLinear5 + 8 * k1G, 3) & bits::kPS)
      << "with 5 levels a 1 GiB untracked page sits in a level-3 node, which is not shared";
  auto items = unmap_all(*kpt_, {kLinear5, kLinearEnd5});
  EXPECT_EQ(items.size(), 3u);
}

TEST_F(FiveLevelTest, KernelTrackedMappingsAboveTheLinearMap) {
  Frame f = m_.frame(9);
  (void)map_at(*kpt_, kLinearEnd5 + 5 * k2M, f.clone(), kKernRW);
  EXPECT_TRUE(MappingsAre(m_, *kpt_, {kLinear5, KernelMode::vaddr_range<C5>().end},
                          {tracked(kLinearEnd5 + 5 * k2M, f, kKernRW)}));
  EXPECT_TRUE(FramesAccountedFor(m_, {&f}, *kpt_, *upt_));
  (void)unmap_all(*kpt_, {kLinearEnd5, kLinearEnd5 + k1G});
}

}  // namespace
}  // namespace pagesim::pt::testing
