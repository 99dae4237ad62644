// `protect_next` (seed/BEHAVIOURS.md 8): applies the operation to each mapped page in turn and
// returns its range, then nullopt with the cursor at the end; the operation sees the current
// property; accessed/dirty bits set by "hardware" are never lost.
#include <gtest/gtest.h>

#include "harness.h"

namespace pagesim::pt::testing {
namespace {

constexpr VAddr kA{0x0000'0100'0000'0000ull};

class ProtectNextTest : public TwoTables4 {
 protected:
  void set_bits(VAddr va, int level, u64 b) {
    const PAddr ea = entry_addr(m_, *upt_, va, level);
    u64 v = m_.load(ea);
    ASSERT_TRUE(m_.mem->cas_entry(ea, v, v | b).value());
  }
};

TEST_F(ProtectNextTest, ReturnsEachProtectedRangeThenNothing) {
  Frame a = m_.frame(), b = m_.frame(9), g = m_.frame(18);
  (void)map_at(*upt_, kA + 3 * k4K, a.clone(), kUserRW);
  (void)map_at(*upt_, kA + 5 * k2M, b.clone(), kUserRW);
  (void)map_at(*upt_, kA + 2 * k1G, g.clone(), kUserRW);
  const VRange range{kA, kA + 4 * k1G};
  std::vector<PageProperty> seen;
  auto op = [&](PageProperty& p) {
    seen.push_back(p);
    p.flags -= PageFlag::W;
    p.flags |= PageFlag::X;
  };
  {
    auto c = PT_UNWRAP(upt_->cursor_mut(range));
    const std::vector<VRange> want{
        {kA + 3 * k4K, kA + 4 * k4K}, {kA + 5 * k2M, kA + 6 * k2M}, {kA + 2 * k1G, kA + 3 * k1G}};
    for (const VRange& w : want) {
      auto r = PT_UNWRAP(c.protect_next(range.end - c.virt_addr(), op));
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(*r, w);
      EXPECT_EQ(c.virt_addr(), w.end);
    }
    auto r = PT_UNWRAP(c.protect_next(range.end - c.virt_addr(), op));
    EXPECT_FALSE(r.has_value());
    EXPECT_EQ(c.virt_addr(), range.end);
  }
  EXPECT_EQ(seen, std::vector<PageProperty>(3, kUserRW)) << "op saw each page's property";
  EXPECT_TRUE(MappingsAre(m_, *upt_, kUserAll,
                          {tracked(kA + 3 * k4K, a, kUserRX), tracked(kA + 5 * k2M, b, kUserRX),
                           tracked(kA + 2 * k1G, g, kUserRX)}));
}

TEST_F(ProtectNextTest, NothingMappedGivesNulloptAtTheEnd) {
  auto c = PT_UNWRAP(upt_->cursor_mut({kA, kA + k1G}));
  PT_ASSERT_OK(c.jump(kA + 3 * k4K));
  int calls = 0;
  auto r = PT_UNWRAP(c.protect_next(k2M, [&](PageProperty&) { ++calls; }));
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(c.virt_addr(), kA + 3 * k4K + k2M);
}

// The seed's test: protect descends into an existing child table.
TEST_F(ProtectNextTest, DescendsIntoAnExistingChildTable) {
  std::vector<Frame> frames;
  std::vector<Mapping> want;
  for (int i = 0; i < 8; ++i) {
    frames.push_back(m_.frame());
    (void)map_at(*upt_, kA + i * 2 * k4K, frames.back().clone(), kUserRW);
  }
  // A cursor whose guard is the level-3 node: protect goes down two levels to the pages.
  const VRange range{kA, kA + 2 * k1G};
  auto ranges = protect_all(*upt_, range, [](PageProperty& p) { p.flags -= PageFlag::W; });
  ASSERT_EQ(ranges.size(), 8u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(ranges[i].start, kA + i * 2 * k4K);
    want.push_back(tracked(kA + i * 2 * k4K, frames[i], kUserRO));
  }
  EXPECT_TRUE(MappingsAre(m_, *upt_, kUserAll, want));
}

// Accessed/dirty bits set behind the cursor's back survive protect, and come out of unmap.
TEST_F(ProtectNextTest, KeepsAccessedAndDirtyBitsSetByHardware) {
  Frame a = m_.frame(), b = m_.frame(9);
  (void)map_at(*upt_, kA, a.clone(), kUserRW);
  (void)map_at(*upt_, kA + k2M, b.clone(), kUserRW);
  set_bits(kA, 1, bits::kA | bits::kD);
  set_bits(kA + k2M, 2, bits::kA);
  std::vector<PageProperty> seen;
  auto ranges = protect_all(*upt_, {kA, kA + 2 * k2M}, [&](PageProperty& p) {
    seen.push_back(p);
    p.flags -= PageFlag::W;
  });
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(seen[0], with(kUserRW, PageFlag::ACCESSED | PageFlag::DIRTY)) << "op sees A/D";
  EXPECT_EQ(seen[1], with(kUserRW, PageFlag::ACCESSED));
  const u64 e1 = entry_at(m_, *upt_, kA, 1);
  EXPECT_EQ(e1 & (bits::kA | bits::kD | bits::kRW), bits::kA | bits::kD);
  const u64 e2 = entry_at(m_, *upt_, kA + k2M, 2);
  EXPECT_EQ(e2 & (bits::kA | bits::kD | bits::kRW), bits::kA);
  // More bits arrive after the protect; unmap reports them all.
  set_bits(kA + k2M, 2, bits::kD);
  auto items = unmap_all(*upt_, {kA, kA + 2 * k2M});
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(std::get<Mapped>(items[0]).prop, with(kUserRO, PageFlag::ACCESSED | PageFlag::DIRTY));
  EXPECT_EQ(std::get<Mapped>(items[1]).prop, with(kUserRO, PageFlag::ACCESSED | PageFlag::DIRTY));
}

// An operation may clear accessed/dirty on purpose (what the OS does when it harvests them):
// protect writes what the operation asked for when no hardware update raced with it.
TEST_F(ProtectNextTest, AnOperationMayClearAccessedAndDirty) {
  Frame a = m_.frame();
  (void)map_at(*upt_, kA, a.clone(), kUserRW);
  set_bits(kA, 1, bits::kA | bits::kD);
  (void)protect_all(*upt_, {kA, kA + k4K},
                    [](PageProperty& p) { p.flags -= PageFlag::ACCESSED | PageFlag::DIRTY; });
  EXPECT_EQ(entry_at(m_, *upt_, kA, 1) & (bits::kA | bits::kD), 0u);
}

TEST_F(ProtectNextTest, ChangesCachePolicyAndPrivilegeBits) {
  Frame a = m_.frame();
  (void)map_at(*kpt_, kLinearEnd, a.clone(), kKernRW);
  (void)protect_all(*kpt_, {kLinearEnd, kLinearEnd + k4K}, [](PageProperty& p) {
    p.cache = CachePolicy::Uncacheable;
    p.priv_flags |= PrivFlag::GLOBAL;
  });
  const u64 e = entry_at(m_, *kpt_, kLinearEnd, 1);
  EXPECT_EQ(e & ~bits::kAddr, bits::kP | bits::kRW | bits::kPCD | bits::kG | bits::kXD);
  EXPECT_EQ(e & bits::kAddr, a.paddr().value()) << "the address is kept";
}

}  // namespace
}  // namespace pagesim::pt::testing
