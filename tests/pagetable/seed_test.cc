// The seed-era Asterinas page-table tests (seed/BEHAVIOURS.md item 10), restated on pagesim's
// API with the same inputs where the seed's are known. The property round trips are in
// entry_test.cc, protect descending into a child table in protect_next_test.cc, and the user
// table sharing the kernel half in page_table_test.cc.
#include <gtest/gtest.h>

#include "harness.h"

namespace pagesim::pt::testing {
namespace {

constexpr u64 kPage = 4096;

class SeedTest : public ::testing::Test {
 protected:
  Machine m_{16 * GiB};
};

// test_tracked_map_unmap: map one frame at [PAGE_SIZE, 2 PAGE_SIZE), translate, take it back.
TEST_F(SeedTest, TrackedMapUnmap) {
  auto pt = PT_UNWRAP(UPT4::empty(m_.alloc));
  const VRange from{VAddr(kPage), VAddr(2 * kPage)};
  Frame page = m_.frame();
  const PAddr start_paddr = page.paddr();
  const PageProperty prop = PageProperty::make(PageFlag::R | PageFlag::W);
  {
    auto c = PT_UNWRAP(pt.cursor_mut(from));
    (void)PT_UNWRAP(c.map(std::move(page), prop));
  }
  EXPECT_EQ(pt.query(from.start + 10)->first, start_paddr + 10);
  {
    auto c = PT_UNWRAP(pt.cursor_mut(from));
    auto item = PT_UNWRAP(c.take_next(from.size()));
    EXPECT_TRUE(std::holds_alternative<Mapped>(item));
  }
  EXPECT_FALSE(pt.query(from.start + 10).has_value());
  EXPECT_EQ(m_.alloc.in_use(), 4u) << "only the four nodes remain";
}

// test_untracked_map_unmap: about 1 GiB mapped untracked at an offset that rules out huge pages,
// a hole unmapped, translations sampled inside and outside the hole.
TEST_F(SeedTest, UntrackedMapUnmapWithAHole) {
  auto pt = PT_UNWRAP(KPT4::empty(m_.alloc));
  const u64 from_ppn_start = 13245, from_ppn_end = 512 * 512 + 23456;
  const u64 to_ppn_start = from_ppn_start - 11010, to_ppn_end = from_ppn_end - 11010;
  const VRange from{kLinearBase + kPage * from_ppn_start, kLinearBase + kPage * from_ppn_end};
  const PRange to{PAddr(kPage * to_ppn_start), PAddr(kPage * to_ppn_end)};
  const PageProperty prop = PageProperty::make(PageFlag::R | PageFlag::W);
  (void)map_pa_at(pt, from.start, to, prop);
  for (u64 i = 0; i < 100; ++i) {
    const u64 offset = i * (kPage + 1000);
    EXPECT_EQ(pt.query(from.start + offset)->first, to.start + offset);
  }
  const VRange unmap{kLinearBase + kPage * 13456, kLinearBase + kPage * 15678};
  auto items = unmap_all(pt, unmap);
  EXPECT_EQ(items.size(), 15678u - 13456u) << "4 KiB pages: the offset rules out 2 MiB ones";
  for (u64 i = 0; i < 100; ++i) {
    const u64 offset = i * (kPage + 10);
    const VAddr va = from.start + offset;
    if (unmap.contains(va)) {
      EXPECT_FALSE(pt.query(va).has_value()) << i;
    } else {
      EXPECT_EQ(pt.query(va)->first, to.start + offset) << i;
    }
  }
  EXPECT_TRUE(Consistent(m_, pt));
}

// test_base_protect_query: 999 frames through one cursor, iterated back, two of them protected.
TEST_F(SeedTest, BaseProtectQuery) {
  auto pt = PT_UNWRAP(UPT4::empty(m_.alloc));
  const VRange from{VAddr(kPage * 1), VAddr(kPage * 1000)};
  const PageProperty prop = PageProperty::make(PageFlag::R | PageFlag::W);
  std::vector<Frame> to;
  {
    auto c = PT_UNWRAP(pt.cursor_mut(from));
    for (int i = 0; i < 999; ++i) {
      to.push_back(m_.frame());
      (void)PT_UNWRAP(c.map(to.back().clone(), prop));
    }
  }
  {
    auto c = PT_UNWRAP(pt.cursor(from));
    u64 i = 1;
    while (auto item = c.next()) {
      auto& p = std::get<Mapped>(*item);
      EXPECT_EQ(p.prop.flags, PageFlag::R | PageFlag::W);
      EXPECT_EQ(p.prop.cache, CachePolicy::Writeback);
      EXPECT_EQ(p.va, VAddr(i * kPage));
      EXPECT_EQ(p.page.size(), kPage);
      EXPECT_EQ(p.page.pfn(), to[i - 1].pfn());
      ++i;
    }
    EXPECT_EQ(i, 1000u);
  }
  const VRange prot{VAddr(kPage * 18), VAddr(kPage * 20)};
  EXPECT_EQ(protect_all(pt, prot, [](PageProperty& p) { p.flags -= PageFlag::W; }).size(), 2u);
  auto c = PT_UNWRAP(pt.cursor(prot));
  u64 i = 18;
  while (auto item = c.next()) {
    auto& p = std::get<Mapped>(*item);
    EXPECT_EQ(p.prop.flags, PageFlags(PageFlag::R));
    EXPECT_EQ(p.va, VAddr(i * kPage));
    ++i;
  }
  EXPECT_EQ(i, 20u);
}

// test_untracked_large_protect_query: a range whose ends are 2 MiB-misaligned relative to 1 GiB
// maps as 514 pages of 2 MiB then 2 of 4 KiB; protecting 2 pages inside the first huge page
// splits it.
//
//                   1G Alignment
//   from:     |--2M--|-------------1G-------------|--2M--|-|
//   to:  |--2M--|--2M--|-------------1G-------------|-|
TEST_F(SeedTest, UntrackedLargeProtectQuery) {
  auto pt = PT_UNWRAP(KPT4::empty(m_.alloc));
  const u64 gmult = 512 * 512;
  const u64 from_ppn_start = gmult - 512, from_ppn_end = gmult + gmult + 514;
  const u64 to_ppn_start = gmult - 512 - 512, to_ppn_end = gmult + gmult - 512 + 514;
  const VRange from{kLinearBase + kPage * from_ppn_start, kLinearBase + kPage * from_ppn_end};
  const PRange to{PAddr(kPage * to_ppn_start), PAddr(kPage * to_ppn_end)};
  const PageProperty prop = PageProperty::make(PageFlag::R | PageFlag::W);
  (void)map_pa_at(pt, from.start, to, prop);
  {
    auto c = PT_UNWRAP(pt.cursor(from));
    u64 i = 0;
    while (auto item = c.next()) {
      auto& u = std::get<MappedUntracked>(*item);
      EXPECT_EQ(u.prop, prop);
      if (i < 512 + 2) {
        EXPECT_EQ(u.pa, to.start + i * (kPage * 512)) << i;
        EXPECT_EQ(u.len, kPage * 512) << i;
        EXPECT_EQ(u.va, from.start + i * (kPage * 512));
      } else {
        EXPECT_EQ(u.pa, to.start + (512 + 2) * (kPage * 512) + (i - 512 - 2) * kPage) << i;
        EXPECT_EQ(u.len, kPage) << i;
      }
      ++i;
    }
    EXPECT_EQ(i, 512u + 2 + 2);
  }
  const u64 ppn_start = from_ppn_start + 18, ppn_end = from_ppn_start + 20;
  const VRange va{kLinearBase + kPage * ppn_start, kLinearBase + kPage * ppn_end};
  EXPECT_EQ(protect_all(pt, va, [](PageProperty& p) { p.flags -= PageFlag::W; }).size(), 2u);
  auto expect_4k = [&](VRange r, u64 first_ppn, PageProperty want) {
    auto c = PT_UNWRAP(pt.cursor(r));
    u64 ppn = first_ppn;
    while (auto item = c.next()) {
      auto& u = std::get<MappedUntracked>(*item);
      EXPECT_EQ(u.va, kLinearBase + kPage * ppn);
      EXPECT_EQ(u.pa, PAddr((ppn - from_ppn_start + to_ppn_start) * kPage));
      EXPECT_EQ(u.len, kPage) << "split";
      EXPECT_EQ(u.prop, want);
      ++ppn;
    }
    EXPECT_EQ(ppn, first_ppn + r.size() / kPage);
  };
  expect_4k({va.start - kPage, va.start}, ppn_start - 1, prop);
  expect_4k(va, ppn_start, PageProperty::make(PageFlag::R));
  expect_4k({va.end, va.end + kPage}, ppn_end, prop);
  EXPECT_TRUE(Consistent(m_, pt));
}

// Remapping the same range: the last map wins, the page it replaced comes back.
TEST_F(SeedTest, RemapTheSameRange) {
  auto pt = PT_UNWRAP(UPT4::empty(m_.alloc));
  const VRange r{VAddr(kPage), VAddr(kPage * 3)};
  std::vector<Frame> first, second;
  for (int round = 0; round < 2; ++round) {
    auto& frames = round == 0 ? first : second;
    auto c = PT_UNWRAP(pt.cursor_mut(r));
    for (int i = 0; i < 2; ++i) {
      frames.push_back(m_.frame());
      auto out = PT_UNWRAP(c.map(frames.back().clone(), kUserRW));
      EXPECT_EQ(out.replaced.has_value(), round == 1);
      if (round == 1) {
        EXPECT_EQ(std::get<Mapped>(*out.replaced).page.pfn(), first[i].pfn());
      }
    }
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(pt.query(r.start + i * kPage)->first, second[i].paddr());
    EXPECT_EQ(first[i].refcount(), 1u) << "released by the table";
    EXPECT_EQ(second[i].refcount(), 2u);
  }
}

// 256 consecutive frames through one cursor, translated and removed one by one.
TEST_F(SeedTest, TwoHundredFiftySixConsecutiveFrames) {
  auto pt = PT_UNWRAP(UPT4::empty(m_.alloc));
  const VAddr base{0x0000'0000'1000'0000ull};
  std::vector<Frame> frames;
  {
    auto c = PT_UNWRAP(pt.cursor_mut({base, base + 256 * kPage}));
    for (int i = 0; i < 256; ++i) {
      frames.push_back(m_.frame());
      (void)PT_UNWRAP(c.map(frames.back().clone(), kUserRW));
    }
  }
  for (int i = 0; i < 256; ++i) {
    EXPECT_EQ(pt.query(base + i * kPage + 77)->first, frames[i].paddr() + 77);
  }
  auto items = unmap_all(pt, {base, base + 256 * kPage});
  ASSERT_EQ(items.size(), 256u);
  for (int i = 0; i < 256; ++i) {
    EXPECT_EQ(std::get<Mapped>(items[i]).page.pfn(), frames[i].pfn());
    EXPECT_FALSE(pt.query(base + i * kPage).has_value());
  }
}

// Different page sizes at 2 MiB- and 1 GiB-aligned ranges in one table.
TEST_F(SeedTest, DifferentPageSizesAtAlignedRanges) {
  auto pt = PT_UNWRAP(UPT4::empty(m_.alloc));
  const VAddr gig{0x0000'0000'4000'0000ull};     // 1 GiB
  const VAddr two_m{0x0000'0000'8020'0000ull};   // 2 GiB + 2 MiB
  const VAddr four_k{0x0000'0000'8040'1000ull};  // 2 GiB + 4 MiB + 4 KiB
  Frame g = m_.frame(18), h = m_.frame(9), s = m_.frame();
  (void)map_at(pt, gig, g.clone(), kUserRW);
  (void)map_at(pt, two_m, h.clone(), kUserRX);
  (void)map_at(pt, four_k, s.clone(), kUserRO);
  EXPECT_TRUE(MappingsAre(
      m_, pt, kUserAll,
      {tracked(gig, g, kUserRW), tracked(two_m, h, kUserRX), tracked(four_k, s, kUserRO)}));
  EXPECT_EQ(pt.query(gig + 0x2345'6789)->first, g.paddr() + 0x2345'6789);
  EXPECT_EQ(pt.query(two_m + 0x1'2345)->first, h.paddr() + 0x1'2345);
  EXPECT_EQ(pt.query(four_k + 0x345)->first, s.paddr() + 0x345);
  auto items = unmap_all(pt, kUserAll);
  EXPECT_EQ(items.size(), 3u);
  EXPECT_TRUE(MappingsAre(m_, pt, kUserAll, {}));
}

// A full unmap of 100 pages leaves nothing mapped and every frame released.
TEST_F(SeedTest, FullUnmapOfAHundredPages) {
  auto pt = PT_UNWRAP(UPT4::empty(m_.alloc));
  const VRange r{VAddr(0x0000'0000'0040'0000ull), VAddr(0x0000'0000'0040'0000ull + 100 * kPage)};
  {
    auto c = PT_UNWRAP(pt.cursor_mut(r));
    for (int i = 0; i < 100; ++i) (void)PT_UNWRAP(c.map(m_.frame(), kUserRW));
  }
  EXPECT_EQ(m_.alloc.in_use(), 100u + 4);
  EXPECT_EQ(unmap_all(pt, r).size(), 100u);
  EXPECT_TRUE(MappingsAre(m_, pt, kUserAll, {}));
  for (u64 i = 0; i < 100; ++i) EXPECT_FALSE(pt.query(r.start + i * kPage).has_value());
  EXPECT_EQ(m_.alloc.in_use(), 4u) << "every frame released; the (empty) nodes stay";
}

}  // namespace
}  // namespace pagesim::pt::testing
