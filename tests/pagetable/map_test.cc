// `map` of tracked pages (seed/BEHAVIOURS.md 5): descending and creating child tables, each page
// size, replacing an existing mapping (the old page comes back, released only when dropped), and
// a huge page mapped over an existing child table (the table comes back detached).
#include <gtest/gtest.h>

#include "harness.h"

namespace pagesim::pt::testing {
namespace {

constexpr VAddr kUser{0x0000'0012'3440'0000ull};     // 2 MiB aligned, in root slot 0
constexpr VAddr kUserGig{0x0000'0080'4000'0000ull};  // 1 GiB aligned, in root slot 1

class MapTest : public TwoTables4 {
 protected:
  void SetUp() override {
    TwoTables4::SetUp();
    baseline_ = m_.alloc.in_use();
  }

  // Maps one page with a fresh cursor over exactly [va, va + size); nothing may be replaced.
  void map_one(UPT4& pt, VAddr va, const Frame& f, PageProperty prop) {
    auto c = PT_UNWRAP(pt.cursor_mut({va, va + f.size()}));
    auto out = PT_UNWRAP(c.map(f.clone(), prop));
    EXPECT_FALSE(out.replaced_anything());
    EXPECT_EQ(c.virt_addr(), va + f.size()) << "map moves past the page";
  }

  u64 baseline_ = 0;
};

TEST_F(MapTest, A4KPageCreatesTheMissingLevel3To1Nodes) {
  Frame f = m_.frame();
  map_one(*upt_, kUser, f, kUserRW);
  EXPECT_EQ(m_.alloc.in_use(), baseline_ + 1 + 3) << "the page and three new nodes";
  EXPECT_TRUE(MappingsAre(m_, *upt_, kUserAll, {tracked(kUser, f, kUserRW)}));
  EXPECT_EQ(f.refcount(), 2u);
  const u64 leaf = entry_at(m_, *upt_, kUser, 1);
  EXPECT_EQ(leaf & bits::kAddr, f.paddr().value());
  EXPECT_FALSE(leaf & bits::kPS) << "bit 7 is PAT at level 1; the seed never sets it";
  EXPECT_TRUE(FramesAccountedFor(m_, {&f}, *kpt_, *upt_));
  // The lockless walk agrees.
  auto q = upt_->query(kUser + 0x123);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->first, f.paddr() + 0x123);
  EXPECT_EQ(q->second, kUserRW);
}

TEST_F(MapTest, A2MPageIsALevel2LeafWithPS) {
  Frame f = m_.frame(9);
  map_one(*upt_, kUser, f, kUserRX);
  EXPECT_EQ(m_.alloc.in_use(), baseline_ + 512 + 2);
  EXPECT_TRUE(MappingsAre(m_, *upt_, kUserAll, {tracked(kUser, f, kUserRX)}));
  const u64 leaf = entry_at(m_, *upt_, kUser, 2);
  EXPECT_TRUE(leaf & bits::kPS);
  EXPECT_EQ(leaf & bits::kAddr, f.paddr().value());
  auto q = upt_->query(kUser + k2M - 8);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->first, f.paddr() + (k2M - 8));
}

TEST_F(MapTest, A1GPageIsALevel3LeafWithPS) {
  Frame f = m_.frame(18);
  map_one(*upt_, kUserGig, f, kUserRW);
  EXPECT_EQ(m_.alloc.in_use(), baseline_ + (u64{1} << 18) + 1) << "only a level-3 node is new";
  EXPECT_TRUE(MappingsAre(m_, *upt_, kUserAll, {tracked(kUserGig, f, kUserRW)}));
  const u64 leaf = entry_at(m_, *upt_, kUserGig, 3);
  EXPECT_TRUE(leaf & bits::kPS);
  EXPECT_EQ(leaf & bits::kAddr, f.paddr().value());
  auto q = upt_->query(kUserGig + 0x3fff'ffff);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->first, f.paddr() + 0x3fff'ffff);
}

TEST_F(MapTest, KernelTrackedRangeUsesTheSharedLevel3Nodes) {
  const VAddr va = kLinearEnd + 7 * k1G + 3 * k2M + 5 * k4K;
  Frame f = m_.frame();
  {
    auto c = PT_UNWRAP(kpt_->cursor_mut({va, va + k4K}));
    (void)PT_UNWRAP(c.map(f.clone(), kKernRW));
  }
  EXPECT_EQ(m_.alloc.in_use(), baseline_ + 1 + 2) << "level 2 and 1 nodes under a shared node";
  EXPECT_TRUE(MappingsAre(m_, *kpt_, {kLinearEnd, kKernelEnd}, {tracked(va, f, kKernRW)}));
  // Visible through the user table, which shares the level-3 node (read by a lockless walk).
  auto q = upt_->query(va);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->first, f.paddr());
}

TEST_F(MapTest, ConsecutivePagesThroughOneCursorShareLeafNodes) {
  std::vector<Frame> frames;
  std::vector<Mapping> want;
  {
    auto c = PT_UNWRAP(upt_->cursor_mut({kUser, kUser + 1024 * k4K}));
    for (int i = 0; i < 1024; ++i) {
      frames.push_back(m_.frame());
      (void)PT_UNWRAP(c.map(frames.back().clone(), kUserRW));
      want.push_back(tracked(kUser + i * k4K, frames.back(), kUserRW));
    }
    EXPECT_EQ(c.virt_addr(), kUser + 1024 * k4K);
  }
  EXPECT_EQ(m_.alloc.in_use(), baseline_ + 1024 + 4) << "two leaf nodes, level 2 and 3 nodes";
  EXPECT_TRUE(MappingsAre(m_, *upt_, kUserAll, want));
}

// Remapping replaces; the old page is handed back in the outcome and stays allocated until the
// caller drops it (after its TLB shootdown).
TEST_F(MapTest, RemappingReplacesAndHandsBackTheOldPage) {
  Frame a = m_.frame();
  Frame b = m_.frame();
  const Pfn a_pfn = a.pfn();
  map_one(*upt_, kUser, a, kUserRW);
  a.reset();  // the table holds the only reference now
  ASSERT_EQ(m_.alloc.meta(a_pfn).refcount.load(), 1u);
  const u64 in_use = m_.alloc.in_use();
  {
    auto out = map_at(*upt_, kUser, b.clone(), kUserRO);
    ASSERT_TRUE(out.replaced.has_value());
    EXPECT_FALSE(out.detached.has_value());
    auto& old = std::get<Mapped>(*out.replaced);
    EXPECT_EQ(old.va, kUser);
    EXPECT_EQ(old.page.pfn(), a_pfn);
    EXPECT_EQ(old.prop, kUserRW);
    EXPECT_EQ(m_.alloc.meta(a_pfn).refcount.load(), 1u) << "the outcome's reference";
    EXPECT_EQ(m_.alloc.meta(a_pfn).use.load(), FrameUse::kData) << "not freed yet";
    EXPECT_EQ(m_.alloc.in_use(), in_use);
    EXPECT_TRUE(MappingsAre(m_, *upt_, kUserAll, {tracked(kUser, b, kUserRO)}));
  }
  EXPECT_EQ(m_.alloc.in_use(), in_use - 1) << "dropping the outcome released the old page";
  EXPECT_TRUE(m_.freed(a_pfn));
  EXPECT_EQ(b.refcount(), 2u);
  EXPECT_TRUE(FramesAccountedFor(m_, {&b}, *kpt_, *upt_));
}

TEST_F(MapTest, RemappingAHugePageReplacesIt) {
  Frame a = m_.frame(9);
  Frame b = m_.frame(9);
  map_one(*upt_, kUser, a, kUserRW);
  auto out = map_at(*upt_, kUser, b.clone(), kUserRW);
  ASSERT_TRUE(out.replaced.has_value());
  EXPECT_EQ(std::get<Mapped>(*out.replaced).page.pfn(), a.pfn());
  EXPECT_EQ(a.refcount(), 2u) << "ours and the outcome's";
}

// The replaced item carries the entry's final accessed/dirty bits, set by "hardware".
TEST_F(MapTest, ReplacedItemCarriesTheFinalAccessedDirtyBits) {
  Frame a = m_.frame();
  map_one(*upt_, kUser, a, kUserRW);
  const PAddr ea = entry_addr(m_, *upt_, kUser, 1);
  u64 v = m_.load(ea);
  ASSERT_TRUE(m_.mem->cas_entry(ea, v, v | bits::kA | bits::kD).value());
  auto out = map_at(*upt_, kUser, m_.frame(), kUserRW);
  ASSERT_TRUE(out.replaced.has_value());
  EXPECT_EQ(std::get<Mapped>(*out.replaced).prop,
            with(kUserRW, PageFlag::ACCESSED | PageFlag::DIRTY));
}

// A huge page over an existing child table: the table is detached whole, with the pages it maps;
// they stay allocated until the outcome is dropped.
TEST_F(MapTest, AHugePageOverAChildTableDetachesTheTable) {
  std::vector<Frame> small;
  {
    auto c = PT_UNWRAP(upt_->cursor_mut({kUser, kUser + k2M}));
    for (int i = 0; i < 3; ++i) {
      small.push_back(m_.frame());
      PT_ASSERT_OK(c.jump(kUser + i * 5 * k4K));
      (void)PT_UNWRAP(c.map(small.back().clone(), kUserRW));
    }
  }
  const PAddr leaf_node = node_at(m_, *upt_, kUser, 1).value();
  for (auto& f : small) f.reset();
  const u64 in_use = m_.alloc.in_use();
  Frame huge = m_.frame(9);
  {
    // A cursor whose guard is above the level-2 entry (it spans two level-2 slots).
    MapOutcome<E, C4> out;
    {
      auto c = PT_UNWRAP(upt_->cursor_mut({kUser, kUser + 2 * k2M}));
      ASSERT_EQ(c.guard_level(), 2);
      out = PT_UNWRAP(c.map(huge.clone(), kUserRX));
    }
    EXPECT_FALSE(out.replaced.has_value());
    ASSERT_TRUE(out.detached.has_value());
    EXPECT_EQ(out.detached->paddr(), leaf_node);
    Census detached;
    sweep_subtree(m_, leaf_node, kUser, 4, 3, detached);
    EXPECT_TRUE(NoProblems(detached));
    EXPECT_EQ(detached.tracked_leaves, 3u);
    EXPECT_EQ(m_.alloc.in_use(), in_use + 512) << "the detached pages are still allocated";
    EXPECT_TRUE(MappingsAre(m_, *upt_, kUserAll, {tracked(kUser, huge, kUserRX)}));
  }
  EXPECT_EQ(m_.alloc.in_use(), in_use + 512 - 3 - 1) << "three pages and their node freed";
  EXPECT_TRUE(m_.freed(Pfn::containing(leaf_node)));
  EXPECT_TRUE(FramesAccountedFor(m_, {&huge}, *kpt_, *upt_));
}

TEST_F(MapTest, AGigPageOverATwoLevelSubtreeDetachesItWhole) {
  std::vector<Frame> pages;
  {
    auto c = PT_UNWRAP(upt_->cursor_mut({kUserGig, kUserGig + k1G}));
    pages.push_back(m_.frame());
    (void)PT_UNWRAP(c.map(pages.back().clone(), kUserRW));
    PT_ASSERT_OK(c.jump(kUserGig + 100 * k2M));
    pages.push_back(m_.frame(9));
    (void)PT_UNWRAP(c.map(pages.back().clone(), kUserRW));
    PT_ASSERT_OK(c.jump(kUserGig + 300 * k2M + 7 * k4K));
    pages.push_back(m_.frame());
    (void)PT_UNWRAP(c.map(pages.back().clone(), kUserRW));
  }
  const PAddr l2 = node_at(m_, *upt_, kUserGig, 2).value();
  const u64 in_use = m_.alloc.in_use();
  Frame gig = m_.frame(18);
  {
    auto out = map_at(*upt_, {kUserGig - k1G, kUserGig + k1G}, kUserGig, gig.clone(), kUserRW);
    ASSERT_TRUE(out.detached.has_value());
    EXPECT_EQ(out.detached->paddr(), l2);
    Census detached;
    sweep_subtree(m_, l2, kUserGig, 4, 3, detached);
    EXPECT_TRUE(NoProblems(detached));
    EXPECT_EQ(detached.nodes, 3u);
    EXPECT_EQ(detached.tracked_leaves, 3u);
  }
  // Our handles keep the pages; the three nodes went.
  EXPECT_EQ(m_.alloc.in_use(), in_use + (u64{1} << 18) - 3);
  for (auto& p : pages) EXPECT_EQ(p.refcount(), 1u);
  EXPECT_TRUE(MappingsAre(m_, *upt_, kUserAll, {tracked(kUserGig, gig, kUserRW)}));
}

// The cursor may sit below the page's level after a query or a jump descended there; map climbs
// back to the page's level rather than mapping at the wrong one.
TEST_F(MapTest, AHugeMapAfterAQueryDescendedBelowItsLevel) {
  Frame small = m_.frame();
  map_one(*upt_, kUser, small, kUserRW);
  Frame huge = m_.frame(9);
  {
    auto c = PT_UNWRAP(upt_->cursor_mut({kUser, kUser + 2 * k2M}));
    (void)PT_UNWRAP(c.query());
    ASSERT_EQ(c.level(), 1);
    auto out = PT_UNWRAP(c.map(huge.clone(), kUserRW));
    EXPECT_TRUE(out.detached.has_value());
    EXPECT_EQ(c.virt_addr(), kUser + k2M);
    EXPECT_EQ(c.level(), 2);
  }
  EXPECT_TRUE(MappingsAre(m_, *upt_, kUserAll, {tracked(kUser, huge, kUserRW)}));
  EXPECT_EQ(small.refcount(), 1u);
  EXPECT_TRUE(FramesAccountedFor(m_, {&small, &huge}, *kpt_, *upt_));
}

TEST_F(MapTest, AHugeMapAfterAJumpDescendedBelowItsLevel) {
  Frame small = m_.frame();
  map_one(*upt_, kUser + k4K, small, kUserRW);
  Frame huge = m_.frame(9);
  {
    auto c = PT_UNWRAP(upt_->cursor_mut({kUser, kUser + 2 * k2M}));
    PT_ASSERT_OK(c.jump(kUser + k4K));
    (void)PT_UNWRAP(c.query());
    ASSERT_EQ(c.level(), 1);
    PT_ASSERT_OK(c.jump(kUser));
    ASSERT_EQ(c.level(), 1) << "jump stays in the leaf node that contains the address";
    (void)PT_UNWRAP(c.map(huge.clone(), kUserRW));
  }
  EXPECT_TRUE(MappingsAre(m_, *upt_, kUserAll, {tracked(kUser, huge, kUserRW)}));
}

TEST_F(MapTest, FramesAreReleasedWhenTheTableIsDropped) {
  Frame a = m_.frame();
  Frame b = m_.frame(9);
  const Pfn a_pfn = a.pfn();
  map_one(*upt_, kUser, a, kUserRW);
  map_one(*upt_, kUser + 4 * k2M, b, kUserRW);
  a.reset();
  EXPECT_EQ(b.refcount(), 2u);
  upt_.reset();
  EXPECT_TRUE(m_.freed(a_pfn));
  EXPECT_EQ(b.refcount(), 1u);
  EXPECT_EQ(m_.alloc.in_use(), baseline_ - 1 + 512) << "the user root went, b is ours";
}

}  // namespace
}  // namespace pagesim::pt::testing
