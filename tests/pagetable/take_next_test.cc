// `take_next` (seed/BEHAVIOURS.md 7): each mapped page removed and returned in order, then
// NotMapped with the cursor at the end of the range; absent entries and empty tables skipped;
// frames released only when the caller drops them; the entry's final accessed/dirty bits
// reported.
#include <gtest/gtest.h>

#include "harness.h"

namespace pagesim::pt::testing {
namespace {

constexpr VAddr kA{0x0000'0100'0000'0000ull};  // 1 TiB: root slot 2, 1 GiB aligned

class TakeNextTest : public TwoTables4 {};

TEST_F(TakeNextTest, ReturnsEachPageInOrderThenNotMappedAtTheEnd) {
  // A 4 KiB page, a 2 MiB page and a 1 GiB page, with gaps between them.
  Frame small = m_.frame(), huge = m_.frame(9), gig = m_.frame(18);
  const VAddr va_small = kA + 5 * k4K, va_huge = kA + 7 * k2M, va_gig = kA + 3 * k1G;
  (void)map_at(*upt_, va_small, small.clone(), kUserRW);
  (void)map_at(*upt_, va_huge, huge.clone(), kUserRX);
  (void)map_at(*upt_, va_gig, gig.clone(), kUserRO);
  const VRange range{kA, kA + 8 * k1G};
  auto c = PT_UNWRAP(upt_->cursor_mut(range));

  struct Want {
    VAddr va;
    const Frame* f;
    PageProperty prop;
  };
  for (const Want& w : {Want{va_small, &small, kUserRW}, Want{va_huge, &huge, kUserRX},
                        Want{va_gig, &gig, kUserRO}}) {
    const VAddr before = c.virt_addr();
    auto item = PT_UNWRAP(c.take_next(range.end - before));
    ASSERT_TRUE(std::holds_alternative<Mapped>(item)) << "from " << before.value();
    auto& p = std::get<Mapped>(item);
    EXPECT_EQ(p.va, w.va);
    EXPECT_EQ(p.page.pfn(), w.f->pfn());
    EXPECT_EQ(p.prop, w.prop);
    EXPECT_EQ(w.f->refcount(), 2u) << "ours and the item's; the table's went into the item";
    EXPECT_EQ(c.virt_addr(), w.va + w.f->size()) << "the cursor moved past the page";
  }
  const VAddr last = c.virt_addr();
  auto item = PT_UNWRAP(c.take_next(range.end - last));
  ASSERT_TRUE(std::holds_alternative<NotMapped>(item));
  EXPECT_EQ(std::get<NotMapped>(item).va, last);
  EXPECT_EQ(std::get<NotMapped>(item).len, range.end - last);
  EXPECT_EQ(c.virt_addr(), range.end);
  EXPECT_EQ(small.refcount(), 1u);
  EXPECT_EQ(huge.refcount(), 1u);
  EXPECT_EQ(gig.refcount(), 1u);
}

TEST_F(TakeNextTest, DroppingTheItemReleasesTheFrame) {
  Frame f = m_.frame();
  const Pfn pfn = f.pfn();
  (void)map_at(*upt_, kA, std::move(f), kUserRW);
  const u64 in_use = m_.alloc.in_use();
  {
    auto items = unmap_all(*upt_, {kA, kA + k4K});
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(m_.alloc.in_use(), in_use) << "the item holds the page until it is dropped";
    EXPECT_EQ(m_.alloc.meta(pfn).use.load(), FrameUse::kData);
  }
  EXPECT_EQ(m_.alloc.in_use(), in_use - 1);
  EXPECT_TRUE(m_.freed(pfn));
  EXPECT_EQ(entry_at(m_, *upt_, kA, 1), 0u) << "the entry is absent (all zero) again";
  EXPECT_EQ(m_.meta(node_at(m_, *upt_, kA, 1).value()).nr_children, 0u);
}

TEST_F(TakeNextTest, NothingMappedReturnsNotMappedAndMovesToTheEnd) {
  auto c = PT_UNWRAP(upt_->cursor_mut({kA, kA + 4 * k1G}));
  PT_ASSERT_OK(c.jump(kA + k2M + 3 * k4K));
  auto item = PT_UNWRAP(c.take_next(k1G));
  ASSERT_TRUE(std::holds_alternative<NotMapped>(item));
  EXPECT_EQ(std::get<NotMapped>(item).va, kA + k2M + 3 * k4K);
  EXPECT_EQ(std::get<NotMapped>(item).len, k1G);
  EXPECT_EQ(c.virt_addr(), kA + k2M + 3 * k4K + k1G);
  // A zero length removes nothing and does not move.
  auto none = PT_UNWRAP(c.take_next(0));
  EXPECT_EQ(std::get<NotMapped>(none).len, 0u);
  EXPECT_EQ(c.virt_addr(), kA + k2M + 3 * k4K + k1G);
}

TEST_F(TakeNextTest, APageBeyondTheLengthIsLeftAlone) {
  Frame f = m_.frame();
  (void)map_at(*upt_, kA + 10 * k4K, f.clone(), kUserRW);
  auto c = PT_UNWRAP(upt_->cursor_mut({kA, kA + k2M}));
  auto item = PT_UNWRAP(c.take_next(10 * k4K));
  EXPECT_TRUE(std::holds_alternative<NotMapped>(item));
  EXPECT_EQ(c.virt_addr(), kA + 10 * k4K);
  auto next = PT_UNWRAP(c.take_next(k4K));
  ASSERT_TRUE(std::holds_alternative<Mapped>(next));
  EXPECT_EQ(std::get<Mapped>(next).page.pfn(), f.pfn());
}

// Emptied child tables stay (the seed never frees them); take_next looks into them, finds no
// child, and moves on.
TEST_F(TakeNextTest, SkipsEmptiedChildTables) {
  std::vector<Frame> frames;
  {
    auto c = PT_UNWRAP(upt_->cursor_mut({kA, kA + 4 * k2M}));
    for (int i = 0; i < 4; ++i) {
      PT_ASSERT_OK(c.jump(kA + i * k2M + k4K));
      frames.push_back(m_.frame());
      (void)PT_UNWRAP(c.map(frames.back().clone(), kUserRW));
    }
  }
  for (int i : {0, 2}) (void)unmap_all(*upt_, {kA + i * k2M, kA + (i + 1) * k2M});
  const u64 nodes_before = m_.alloc.in_use();
  auto items = unmap_all(*upt_, {kA, kA + 4 * k2M});
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(item_va(items[0]), kA + k2M + k4K);
  EXPECT_EQ(item_va(items[1]), kA + 3 * k2M + k4K);
  EXPECT_EQ(m_.alloc.in_use(), nodes_before) << "no node freed (items still hold the pages)";
  for (int i = 0; i < 4; ++i) {
    auto leaf_node = node_at(m_, *upt_, kA + i * k2M, 1);
    ASSERT_TRUE(leaf_node.has_value());
    EXPECT_EQ(m_.meta(*leaf_node).nr_children, 0u);
  }
}

// Unmap reports the entry's final accessed/dirty bits, including those "hardware" set after the
// mapping was made (a lost dirty bit is lost data).
TEST_F(TakeNextTest, ReportsTheFinalAccessedAndDirtyBits) {
  Frame a = m_.frame(), b = m_.frame(9);
  (void)map_at(*upt_, kA, a.clone(), kUserRW);
  (void)map_at(*upt_, kA + k2M, b.clone(), kUserRW);
  for (auto [va, level, bit] : {std::tuple{kA, 1, bits::kD}, std::tuple{kA + k2M, 2, bits::kA}}) {
    const PAddr ea = entry_addr(m_, *upt_, va, level);
    u64 v = m_.load(ea);
    ASSERT_TRUE(m_.mem->cas_entry(ea, v, v | bit).value());
  }
  auto items = unmap_all(*upt_, {kA, kA + 2 * k2M});
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(std::get<Mapped>(items[0]).prop, with(kUserRW, PageFlag::DIRTY));
  EXPECT_EQ(std::get<Mapped>(items[1]).prop, with(kUserRW, PageFlag::ACCESSED));
}

TEST_F(TakeNextTest, UntrackedItemsReportTheirFinalAccessedDirtyBitsToo) {
  const VAddr va = kLinearBase + 5 * k1G;
  (void)map_pa_at(*kpt_, va, {PAddr(k2M), PAddr(2 * k2M)}, kKernRW);
  const PAddr ea = entry_addr(m_, *kpt_, va, 2);
  u64 v = m_.load(ea);
  ASSERT_TRUE(m_.mem->cas_entry(ea, v, v | bits::kA | bits::kD).value());
  auto items = unmap_all(*kpt_, {va, va + k2M});
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(std::get<MappedUntracked>(items[0]).prop,
            with(kKernRW, PageFlag::ACCESSED | PageFlag::DIRTY));
}

// One kernel cursor across the end of the linear mapping meets untracked, then tracked pages.
TEST_F(TakeNextTest, CrossesFromUntrackedToTrackedInTheKernel) {
  const VAddr lin = kLinearEnd - k2M;
  (void)map_pa_at(*kpt_, lin, {PAddr(k2M), PAddr(2 * k2M)}, kKernRW);
  Frame f = m_.frame();
  (void)map_at(*kpt_, kLinearEnd, f.clone(), kKernRW);
  auto items = unmap_all(*kpt_, {lin, kLinearEnd + k2M});
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(std::get<MappedUntracked>(items[0]).va, lin);
  EXPECT_EQ(std::get<MappedUntracked>(items[0]).pa, PAddr(k2M));
  EXPECT_EQ(std::get<Mapped>(items[1]).va, kLinearEnd);
  EXPECT_EQ(std::get<Mapped>(items[1]).page.pfn(), f.pfn());
}

// take_next of a whole tracked huge page works from anywhere before it; only partial coverage is
// refused (see errors_test.cc).
TEST_F(TakeNextTest, RemovesAWholeHugePageFromAnUnalignedStart) {
  Frame huge = m_.frame(9);
  (void)map_at(*upt_, kA + k2M, huge.clone(), kUserRW);
  auto c = PT_UNWRAP(upt_->cursor_mut({kA, kA + 2 * k2M}));
  PT_ASSERT_OK(c.jump(kA + 7 * k4K));
  auto item = PT_UNWRAP(c.take_next(2 * k2M - 7 * k4K));
  ASSERT_TRUE(std::holds_alternative<Mapped>(item));
  EXPECT_EQ(std::get<Mapped>(item).va, kA + k2M);
  EXPECT_EQ(c.virt_addr(), kA + 2 * k2M);
}

}  // namespace
}  // namespace pagesim::pt::testing
