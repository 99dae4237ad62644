// PageTable (page_table.h) and its parameters (paging_consts.h, mode.h): the kernel table and
// its shared level-3 nodes, user tables sharing the kernel half, the lockless query, the root's
// address, dropping a table, fork_copy_on_write; the address arithmetic and mode ranges checked
// against values written out by hand.
#include "pagetable/page_table.h"

#include <gtest/gtest.h>

#include "harness.h"

namespace pagesim::pt::testing {
namespace {

// --- Parameters -------------------------------------------------------------------------------

TEST(PagingConsts, PageSizesAndIndexes) {
  EXPECT_EQ(page_size<C4>(1), 0x1000u);
  EXPECT_EQ(page_size<C4>(2), 0x20'0000u);
  EXPECT_EQ(page_size<C4>(3), 0x4000'0000u);
  EXPECT_EQ(page_size<C4>(4), 0x80'0000'0000u);
  EXPECT_EQ(page_size<C4>(5), 0x1'0000'0000'0000u) << "the span of a 4-level root";
  EXPECT_EQ(page_size<C5>(6), 0x200'0000'0000'0000u) << "the span of a 5-level root";
  EXPECT_EQ(nr_subpage_per_huge<C4>(), 512u);
  // 0x0000_7d6c_987d_4567 (the spec's V01 address): indexes 0xFA, 0x1B2, 0x0C3, 0x1D4.
  const VAddr va{0x0000'7d6c'987d'4567ull};
  EXPECT_EQ(pte_index<C4>(va, 4), 0xFAu);
  EXPECT_EQ(pte_index<C4>(va, 3), 0x1B2u);
  EXPECT_EQ(pte_index<C4>(va, 2), 0x0C3u);
  EXPECT_EQ(pte_index<C4>(va, 1), 0x1D4u);
  // 5-level: bits 56:48 index the root.
  EXPECT_EQ(pte_index<C5>(VAddr(0x00AB'0000'0000'0000ull), 5), 0xABu);
  EXPECT_EQ(level_of_page_size<C4>(k4K), 1);
  EXPECT_EQ(level_of_page_size<C4>(k2M), 2);
  EXPECT_EQ(level_of_page_size<C4>(k1G), 3);
  EXPECT_EQ(level_of_page_size<C4>(8 * KiB), 0);
}

TEST(PagingConsts, FitsBelowNeverOverflows) {
  EXPECT_TRUE(fits_below(VAddr(0x1000), 0x1000, VAddr(0x2000)));
  EXPECT_FALSE(fits_below(VAddr(0x1000), 0x1001, VAddr(0x2000)));
  EXPECT_FALSE(fits_below(VAddr(0x2000), 0x1000, VAddr(0x2000)));
  // Near the top: va + size would wrap past 2^64.
  EXPECT_FALSE(fits_below(VAddr(0xffff'ffff'ffff'0000ull), k2M, VAddr(0xffff'ffff'ffff'f000ull)));
  EXPECT_TRUE(fits_below(VAddr(0xffff'ffff'fffe'0000ull), 0x10000, kKernelEnd));
}

TEST(Modes, RangesWrittenOutByHand) {
  EXPECT_EQ((UserMode::vaddr_range<C4>()), kUserAll);
  EXPECT_EQ((KernelMode::vaddr_range<C4>()), kKernelAll);
  EXPECT_EQ((KernelMode::linear_mapping_range<C4>()), (VRange{kLinearBase, kLinearEnd}));
  EXPECT_EQ((UserMode::vaddr_range<C5>()), (VRange{VAddr(0), VAddr(0x00ff'ffff'ffff'f000ull)}));
  EXPECT_EQ((KernelMode::vaddr_range<C5>().start), VAddr(0xff00'0000'0000'0000ull));
  EXPECT_EQ((KernelMode::linear_mapping_range<C5>()),
            (VRange{VAddr(0xff00'0000'0000'0000ull), VAddr(0xff80'0000'0000'0000ull)}));
  EXPECT_EQ(linear_range(4), (VRange{kLinearBase, kLinearEnd})) << "the harness agrees";
}

TEST(Modes, CoversAndTracked) {
  EXPECT_TRUE((covers<UserMode, C4>({VAddr(0), kUserEnd})));
  EXPECT_FALSE((covers<UserMode, C4>({VAddr(0), kUserEnd + k4K})));
  EXPECT_FALSE((covers<UserMode, C4>({VAddr(k4K), VAddr(k4K)}))) << "empty";
  EXPECT_FALSE((covers<UserMode, C4>({VAddr(2 * k4K), VAddr(k4K)}))) << "reversed";
  EXPECT_FALSE((covers<KernelMode, C4>({kLinearBase - k4K, kLinearBase + k4K})));
  EXPECT_TRUE((covers<KernelMode, C4>(kKernelAll)));
  EXPECT_FALSE((covers<KernelMode, C4>({kKernelEnd - k4K, kKernelEnd + k4K})));
  EXPECT_FALSE((in_tracked_range<KernelMode, C4>(kLinearBase)));
  EXPECT_FALSE((in_tracked_range<KernelMode, C4>(kLinearEnd - k4K)));
  EXPECT_TRUE((in_tracked_range<KernelMode, C4>(kLinearEnd)));
  EXPECT_TRUE((in_tracked_range<UserMode, C4>(VAddr(0))));
}

// --- Page tables ------------------------------------------------------------------------------

class PageTableTest : public ::testing::Test {
 protected:
  Machine m_{16 * GiB};
};

TEST_F(PageTableTest, TheKernelTableHasSharedLevel3NodesForTheWholeKernelHalf) {
  auto kpt = PT_UNWRAP(KPT4::new_kernel(m_.alloc));
  EXPECT_EQ(m_.alloc.in_use(), 1u + 256);
  const PAddr root = kpt.root_paddr();
  EXPECT_EQ(m_.meta(root).use.load(), FrameUse::kPageTable);
  EXPECT_EQ(m_.meta(root).level, 4);
  EXPECT_EQ(m_.meta(root).nr_children, 256u);
  for (u64 i = 0; i < 512; ++i) {
    const u64 e = m_.load(root + i * 8);
    if (i < 256) {
      EXPECT_EQ(e, 0u) << i;
      continue;
    }
    ASSERT_EQ(e & ~bits::kAddr, 0x7u) << i;
    const PAddr l3(e & bits::kAddr);
    EXPECT_EQ(m_.meta(l3).level, 3);
    EXPECT_EQ(m_.meta(l3).untracked, i < 384 ? 1 : 0) << "slots 256-383 are the linear map";
  }
  EXPECT_TRUE(Consistent(m_, kpt));
  EXPECT_TRUE(MappingsAre(m_, kpt, kKernelAll, {}));
}

TEST_F(PageTableTest, AUserTableSharesTheKernelHalf) {
  auto kpt = PT_UNWRAP(KPT4::new_kernel(m_.alloc));
  auto upt = PT_UNWRAP(kpt.create_user_page_table());
  auto upt2 = PT_UNWRAP(kpt.create_user_page_table());
  EXPECT_EQ(m_.alloc.in_use(), 257u + 2) << "a user table is a new root and nothing else";
  for (u64 i = 0; i < 512; ++i) {
    EXPECT_EQ(m_.load(upt.root_paddr() + i * 8), m_.load(kpt.root_paddr() + i * 8)) << i;
  }
  const PAddr shared = node_at(m_, kpt, kLinearEnd, 3).value();
  EXPECT_EQ(m_.meta(shared).refcount.load(), 3u) << "the kernel root and two user roots";
  // Mappings the kernel makes after the user table was created are visible through it.
  Frame f = m_.frame();
  (void)map_at(kpt, kLinearEnd + 5 * k4K, f.clone(), kKernRW);
  (void)map_pa_at(kpt, kLinearBase, {PAddr(0), PAddr(k2M)}, kKernRW);
  EXPECT_EQ(upt.query(kLinearEnd + 5 * k4K + 9)->first, f.paddr() + 9);
  EXPECT_EQ(upt.query(kLinearBase + 0x1234)->first, PAddr(0x1234));
  EXPECT_EQ(node_at(m_, upt, kLinearEnd + 5 * k4K, 1), node_at(m_, kpt, kLinearEnd + 5 * k4K, 1));
  // User mappings stay in the user table.
  Frame u = m_.frame();
  (void)map_at(upt, VAddr(k4K), u.clone(), kUserRW);
  EXPECT_TRUE(upt.query(VAddr(k4K)).has_value());
  EXPECT_FALSE(upt2.query(VAddr(k4K)).has_value());
  EXPECT_FALSE(kpt.query(VAddr(k4K)).has_value());
  // A user cursor cannot reach the kernel half.
  EXPECT_TRUE(IsErr(upt.cursor_mut({kLinearEnd, kLinearEnd + k4K}), PtErrc::kInvalidVaddrRange));
  EXPECT_TRUE(FramesAccountedFor(m_, {&f, &u}, kpt, upt, upt2));
  // Dropping a user table leaves the kernel's nodes and mappings alone.
  const u64 in_use = m_.alloc.in_use();
  upt = PT_UNWRAP(UPT4::empty(m_.alloc));  // the old user table (root + 3 nodes) is dropped
  EXPECT_EQ(m_.alloc.in_use(), in_use + 1 - 4);
  EXPECT_EQ(u.refcount(), 1u);
  EXPECT_EQ(m_.meta(shared).refcount.load(), 2u);
  EXPECT_EQ(upt2.query(kLinearEnd + 5 * k4K)->first, f.paddr());
  EXPECT_TRUE(FramesAccountedFor(m_, {&f, &u}, kpt, upt, upt2));
}

TEST_F(PageTableTest, DroppingATableFreesEveryNodeAndReleasesItsPages) {
  Frame kept = m_.frame();
  {
    auto kpt = PT_UNWRAP(KPT4::new_kernel(m_.alloc));
    auto upt = PT_UNWRAP(kpt.create_user_page_table());
    (void)map_at(upt, VAddr(k1G), kept.clone(), kUserRW);
    (void)map_at(upt, VAddr(2 * k1G), m_.frame(18), kUserRW);
    (void)map_at(upt, VAddr(4 * k1G), m_.frame(9), kUserRW);
    (void)map_at(kpt, kLinearEnd + k1G, m_.frame(), kKernRW);
    (void)map_pa_at(kpt, kLinearBase + k1G, {PAddr(k4K), PAddr(k2M + k4K)}, kKernRW);
    EXPECT_GT(m_.alloc.in_use(), u64{1} << 18);
    EXPECT_EQ(kept.refcount(), 2u);
  }
  EXPECT_EQ(m_.alloc.in_use(), 1u) << "only the page the test keeps";
  EXPECT_EQ(kept.refcount(), 1u);
}

TEST_F(PageTableTest, RootPaddrIsTheRootNode) {
  auto kpt = PT_UNWRAP(KPT4::new_kernel(m_.alloc));
  auto upt = PT_UNWRAP(kpt.create_user_page_table());
  EXPECT_NE(kpt.root_paddr(), upt.root_paddr());
  for (PAddr r : {kpt.root_paddr(), upt.root_paddr()}) {
    EXPECT_TRUE(r.is_aligned(k4K));
    EXPECT_EQ(m_.meta(r).use.load(), FrameUse::kPageTable);
    EXPECT_EQ(m_.meta(r).level, 4);
  }
  auto c = PT_UNWRAP(upt.cursor_mut({VAddr(0), VAddr(k1G * 1024)}));
  EXPECT_EQ(c.locked_node(4), upt.root_paddr());
}

TEST_F(PageTableTest, QueryTranslatesEveryPageSizeAndMissesAbsentOnes) {
  auto kpt = PT_UNWRAP(KPT4::new_kernel(m_.alloc));
  auto upt = PT_UNWRAP(kpt.create_user_page_table());
  Frame s = m_.frame(), h = m_.frame(9), g = m_.frame(18);
  (void)map_at(upt, VAddr(k1G + 3 * k4K), s.clone(), kUserRO);
  (void)map_at(upt, VAddr(k1G + 5 * k2M), h.clone(), kUserRW);
  (void)map_at(upt, VAddr(3 * k1G), g.clone(), kUserRX);
  EXPECT_EQ(upt.query(VAddr(k1G + 3 * k4K + 0xfff)), (std::pair{s.paddr() + 0xfff, kUserRO}));
  EXPECT_EQ(upt.query(VAddr(k1G + 5 * k2M + 0x1f'ffff)),
            (std::pair{h.paddr() + 0x1f'ffff, kUserRW}));
  EXPECT_EQ(upt.query(VAddr(3 * k1G + 0x3fff'ffff)), (std::pair{g.paddr() + 0x3fff'ffff, kUserRX}));
  EXPECT_FALSE(upt.query(VAddr(k1G + 4 * k4K)).has_value()) << "absent level-1 entry";
  EXPECT_FALSE(upt.query(VAddr(k1G + 6 * k2M)).has_value()) << "absent level-2 entry";
  EXPECT_FALSE(upt.query(VAddr(7 * k1G)).has_value()) << "absent level-3 entry";
  EXPECT_FALSE(upt.query(VAddr(1024 * k1G)).has_value()) << "absent root entry";
}

// The seed's test_user_copy_on_write: the fork shares the pages and the kernel half, and both
// tables lose write permission; unmapping in one leaves the other alone.
TEST_F(PageTableTest, ForkCopyOnWrite) {
  auto kpt = PT_UNWRAP(KPT4::new_kernel(m_.alloc));
  auto parent = PT_UNWRAP(kpt.create_user_page_table());
  std::vector<Frame> frames;
  const VAddr base{0x0000'0000'0040'0000ull};
  {
    auto c = PT_UNWRAP(parent.cursor_mut({base, base + 8 * k4K}));
    for (int i = 0; i < 8; ++i) {
      frames.push_back(m_.frame());
      (void)PT_UNWRAP(c.map(frames.back().clone(), kUserRW));
    }
  }
  Frame huge = m_.frame(9);
  (void)map_at(parent, base + 4 * k2M, huge.clone(), kUserRX);
  auto child = PT_UNWRAP(parent.fork_copy_on_write());
  std::vector<Mapping> want;
  for (int i = 0; i < 8; ++i) {
    want.push_back(tracked(base + i * k4K, frames[i], kUserRO));
    EXPECT_EQ(frames[i].refcount(), 3u) << "ours, the parent's, the child's";
  }
  want.push_back(tracked(base + 4 * k2M, huge, kUserRX));
  EXPECT_TRUE(MappingsAre(m_, parent, kUserAll, want));
  EXPECT_TRUE(MappingsAre(m_, child, kUserAll, want));
  EXPECT_NE(node_at(m_, child, base, 1), node_at(m_, parent, base, 1)) << "nodes are copied";
  EXPECT_EQ(node_at(m_, child, kLinearEnd, 3), node_at(m_, kpt, kLinearEnd, 3))
      << "the kernel half is shared";
  (void)unmap_all(child, {base, base + 8 * k4K});
  EXPECT_TRUE(MappingsAre(m_, parent, kUserAll, want));
  EXPECT_EQ(frames[0].refcount(), 2u);
  std::vector<const Frame*> held{&huge};
  for (auto& f : frames) held.push_back(&f);
  EXPECT_TRUE(FramesAccountedFor(m_, held, kpt, parent, child));
}

}  // namespace
}  // namespace pagesim::pt::testing
