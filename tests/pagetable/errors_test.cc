// Every caller mistake is an error value with a clear message, never an abort, and leaves the
// table as it was (BEHAVIOURS.md, "Where the seed is wrong or silent"); simulated memory running
// out at any allocation of an operation leaves the table consistent and leaks no frame.
#include <gtest/gtest.h>

#include "harness.h"

namespace pagesim::pt::testing {
namespace {

constexpr VAddr kX{0x0000'0012'3440'0000ull};  // 2 MiB aligned user address
constexpr VAddr kG{0x0000'0080'4000'0000ull};  // 1 GiB aligned user address
constexpr VAddr kLin = kLinearBase + 16 * k1G;

class ErrorsTest : public TwoTables4 {
 protected:
  // No node of either table is locked.
  ::testing::AssertionResult NothingLocked() {
    Census c;
    sweep(m_, *kpt_, c, Quiet::kYes);
    sweep(m_, *upt_, c, Quiet::kYes);
    return NoProblems(c);
  }
};

// --- Creating a cursor ----------------------------------------------------------------------

TEST_F(ErrorsTest, CursorRangesOutsideTheModeEmptyOrReversed) {
  const struct {
    const char* what;
    VRange r;
  } user_bad[] = {
      {"kernel addresses", {kLinearBase, kLinearBase + k4K}},
      {"past the user end", {kUserEnd - k4K, kUserEnd + k4K}},
      {"non-canonical", {VAddr(0x0000'8000'0000'0000ull), VAddr(0x0000'8000'0000'1000ull)}},
      {"empty", {kX, kX}},
      {"reversed", {kX + k4K, kX}},
  };
  for (const auto& tc : user_bad) {
    SCOPED_TRACE(tc.what);
    auto a = upt_->cursor(tc.r);
    EXPECT_TRUE(IsErr(a, PtErrc::kInvalidVaddrRange));
    auto b = upt_->cursor_mut(tc.r);
    EXPECT_TRUE(IsErr(b, PtErrc::kInvalidVaddrRange));
    EXPECT_EQ(b.error().va, tc.r.start);
    EXPECT_EQ(b.error().va2, tc.r.end);
    EXPECT_NE(b.error().message().find(fmt::format("{:#x}", tc.r.start.value())), std::string::npos)
        << b.error().message();
  }
  const struct {
    const char* what;
    VRange r;
  } kernel_bad[] = {
      {"user addresses", {VAddr(k4K), VAddr(2 * k4K)}},
      {"the top page", {kKernelEnd, kKernelEnd + k4K}},
      {"an end that wrapped past 2^64", {VAddr(0xffff'ffff'ffff'f000ull), VAddr(0)}},
      {"below the kernel half", {kLinearBase - k4K, kLinearBase + k4K}},
  };
  for (const auto& tc : kernel_bad) {
    SCOPED_TRACE(tc.what);
    EXPECT_TRUE(IsErr(kpt_->cursor_mut(tc.r), PtErrc::kInvalidVaddrRange));
  }
  // The extreme valid ranges work.
  PT_ASSERT_OK(upt_->cursor_mut({kUserEnd - k4K, kUserEnd}));
  PT_ASSERT_OK(kpt_->cursor_mut({kKernelEnd - k4K, kKernelEnd}));
  PT_ASSERT_OK(kpt_->cursor_mut(kKernelAll));
  EXPECT_TRUE(NothingLocked());
}

TEST_F(ErrorsTest, CursorRangesNotPageAligned) {
  auto a = upt_->cursor_mut({kX + 1, kX + k4K});
  EXPECT_TRUE(IsErr(a, PtErrc::kUnalignedVaddr));
  EXPECT_EQ(a.error().va, kX + 1);
  auto b = upt_->cursor({kX, kX + k4K + 8});
  EXPECT_TRUE(IsErr(b, PtErrc::kUnalignedVaddr));
  EXPECT_EQ(b.error().va, kX + k4K + 8);
  EXPECT_TRUE(NothingLocked());
}

// --- map ------------------------------------------------------------------------------------

TEST_F(ErrorsTest, MapOfAPageSizeTheTableCannotMap) {
  auto c = PT_UNWRAP(upt_->cursor_mut({kG, kG + k1G}));
  auto r = c.map(m_.frame(1), kUserRW);  // 8 KiB: no such page size
  EXPECT_TRUE(IsErr(r, PtErrc::kBadPageSize));
  EXPECT_EQ(r.error().size, 8 * KiB);
  EXPECT_EQ(c.virt_addr(), kG) << "the cursor did not move";
}

TEST_F(ErrorsTest, MapOfAGigPageWhereTheHighestLevelIs2MiB) {
  // The seed-era kernel configuration: 2 MiB leaves at most.
  using C42 = X86PagingConsts<4, 2>;
  auto pt = PT_UNWRAP((PageTable<UserMode, E, C42>::empty(m_.alloc)));
  {
    auto c = PT_UNWRAP(pt.cursor_mut({kG, kG + k1G}));
    EXPECT_TRUE(IsErr(c.map(m_.frame(18), kUserRW), PtErrc::kBadPageSize));
    auto ok = c.map(m_.frame(9), kUserRW);
    EXPECT_TRUE(ok.ok());
  }
  EXPECT_TRUE(Consistent(m_, pt));
}

TEST_F(ErrorsTest, MapAtAnAddressNotAlignedToThePage) {
  auto c = PT_UNWRAP(upt_->cursor_mut({kX, kX + 4 * k2M}));
  PT_ASSERT_OK(c.jump(kX + k4K));
  auto r = c.map(m_.frame(9), kUserRW);
  EXPECT_TRUE(IsErr(r, PtErrc::kUnalignedVaddr));
  EXPECT_EQ(r.error().va, kX + k4K);
  EXPECT_EQ(r.error().size, k2M);
}

TEST_F(ErrorsTest, MapPastTheCursorsRange) {
  Frame f = m_.frame();
  {
    auto c = PT_UNWRAP(upt_->cursor_mut({kX, kX + k4K}));
    auto huge = c.map(m_.frame(9), kUserRW);
    EXPECT_TRUE(IsErr(huge, PtErrc::kBeyondCursorRange));
    EXPECT_EQ(huge.error().va, kX + k2M) << "names the end of the page";
    EXPECT_EQ(huge.error().va2, kX + k4K) << "and the end of the cursor's range";
    (void)PT_UNWRAP(c.map(f.clone(), kUserRW));
    auto r = c.map(m_.frame(), kUserRW);  // the cursor is at its end now
    EXPECT_TRUE(IsErr(r, PtErrc::kBeyondCursorRange));
  }
  EXPECT_TRUE(MappingsAre(m_, *upt_, kUserAll, {tracked(kX, f, kUserRW)}));
  (void)unmap_all(*upt_, {kX, kX + k4K});
}

TEST_F(ErrorsTest, MapOfATrackedPageInTheLinearMapping) {
  auto c = PT_UNWRAP(kpt_->cursor_mut({kLin, kLin + k2M}));
  auto r = c.map(m_.frame(), kKernRW);
  EXPECT_TRUE(IsErr(r, PtErrc::kTrackedInUntracked));
  EXPECT_EQ(r.error().va, kLin);
}

TEST_F(ErrorsTest, MapWithACachePolicyTheEntryCannotEncode) {
  for (CachePolicy cp : {CachePolicy::WriteCombining, CachePolicy::WriteProtected}) {
    auto c = PT_UNWRAP(upt_->cursor_mut({kX, kX + k4K}));
    EXPECT_TRUE(IsErr(c.map(m_.frame(), PageProperty::make(PageFlag::R, cp, PrivFlag::USER)),
                      PtErrc::kUnsupportedProperty));
    EXPECT_EQ(c.virt_addr(), kX);
  }
  EXPECT_TRUE(MappingsAre(m_, *upt_, kUserAll, {}));
}

TEST_F(ErrorsTest, MapOfASmallerPageInsideAHugePage) {
  Frame huge = m_.frame(9), gig = m_.frame(18);
  (void)map_at(*upt_, kX, huge.clone(), kUserRW);
  (void)map_at(*upt_, kG, gig.clone(), kUserRW);
  const struct {
    VAddr va;
    unsigned order;
  } cases[] = {{kX + 3 * k4K, 0}, {kX, 0}, {kG + k2M, 9}, {kG + 5 * k4K, 0}, {kG, 9}};
  for (const auto& tc : cases) {
    auto c = PT_UNWRAP(upt_->cursor_mut({kX, kG + k1G}));
    PT_ASSERT_OK(c.jump(tc.va));
    Frame f = m_.frame(tc.order);
    const Pfn pfn = f.pfn();
    auto r = c.map(std::move(f), kUserRO);
    EXPECT_TRUE(IsErr(r, PtErrc::kSmallPageInHugePage)) << tc.va.value();
    EXPECT_EQ(r.error().va, tc.va);
    EXPECT_TRUE(m_.freed(pfn)) << "the refused page was dropped";
  }
  EXPECT_TRUE(
      MappingsAre(m_, *upt_, kUserAll, {tracked(kX, huge, kUserRW), tracked(kG, gig, kUserRW)}));
  EXPECT_TRUE(FramesAccountedFor(m_, {&huge, &gig}, *kpt_, *upt_));
}

// A cursor over exactly one huge slot that holds a child table is locked on that table; it
// cannot replace the table by a huge page (its slot is in the unlocked parent).
TEST_F(ErrorsTest, MapOfAHugePageOverTheCursorsOwnGuardTable) {
  Frame small = m_.frame();
  (void)map_at(*upt_, kX + k4K, small.clone(), kUserRW);
  {
    auto c = PT_UNWRAP(upt_->cursor_mut({kX, kX + k2M}));
    ASSERT_EQ(c.guard_level(), 1);
    auto r = c.map(m_.frame(9), kUserRW);
    EXPECT_TRUE(IsErr(r, PtErrc::kGuardNodeInTheWay));
    EXPECT_EQ(r.error().va, kX);
    EXPECT_EQ(c.virt_addr(), kX);
  }
  EXPECT_TRUE(MappingsAre(m_, *upt_, kUserAll, {tracked(kX + k4K, small, kUserRW)}));
}

// --- map_pa ---------------------------------------------------------------------------------

TEST_F(ErrorsTest, MapPaInATrackedRange) {
  const PRange pa{PAddr(k2M), PAddr(2 * k2M)};
  {
    auto c = PT_UNWRAP(upt_->cursor_mut({kX, kX + k2M}));
    EXPECT_TRUE(IsErr(c.map_pa(pa, kUserRW), PtErrc::kUntrackedInTracked));
  }
  {
    auto c = PT_UNWRAP(kpt_->cursor_mut({kLinearEnd, kLinearEnd + k2M}));
    EXPECT_TRUE(IsErr(c.map_pa(pa, kKernRW), PtErrc::kUntrackedInTracked));
  }
  {
    // Straddling the end of the linear mapping.
    auto c = PT_UNWRAP(kpt_->cursor_mut({kLinearEnd - k4K, kLinearEnd + k4K}));
    EXPECT_TRUE(IsErr(c.map_pa({PAddr(0), PAddr(2 * k4K)}, kKernRW), PtErrc::kUntrackedInTracked));
    EXPECT_EQ(c.virt_addr(), kLinearEnd - k4K);
  }
  EXPECT_TRUE(MappingsAre(m_, *kpt_, kKernelAll, {}));
}

TEST_F(ErrorsTest, MapPaOfABadPhysicalRange) {
  auto c = PT_UNWRAP(kpt_->cursor_mut({kLin, kLin + k2M}));
  auto r = c.map_pa({PAddr(k4K + 12), PAddr(2 * k4K)}, kKernRW);
  EXPECT_TRUE(IsErr(r, PtErrc::kUnalignedPaddr));
  EXPECT_NE(r.error().message().find("physical address 0x100c"), std::string::npos)
      << r.error().message();
  EXPECT_TRUE(IsErr(c.map_pa({PAddr(k4K), PAddr(2 * k4K + 1)}, kKernRW), PtErrc::kUnalignedPaddr));
  EXPECT_TRUE(IsErr(c.map_pa({PAddr(k4K), PAddr(k4K)}, kKernRW), PtErrc::kInvalidVaddrRange));
  EXPECT_TRUE(IsErr(c.map_pa({PAddr(2 * k4K), PAddr(k4K)}, kKernRW), PtErrc::kInvalidVaddrRange));
  EXPECT_TRUE(IsErr(c.map_pa({PAddr(0), PAddr(k2M + k4K)}, kKernRW), PtErrc::kBeyondCursorRange));
  EXPECT_TRUE(IsErr(c.map_pa({PAddr(0), PAddr(k4K)},
                             PageProperty::make(PageFlag::R, CachePolicy::WriteCombining)),
                    PtErrc::kUnsupportedProperty));
  EXPECT_EQ(c.virt_addr(), kLin);
}

// --- take_next and protect_next ---------------------------------------------------------------

TEST_F(ErrorsTest, TakeNextAndProtectNextWithBadLengths) {
  auto c = PT_UNWRAP(upt_->cursor_mut({kX, kX + k2M}));
  auto nop = [](PageProperty&) {};
  EXPECT_TRUE(IsErr(c.take_next(k4K + 1), PtErrc::kUnalignedVaddr));
  EXPECT_TRUE(IsErr(c.take_next(k2M + k4K), PtErrc::kBeyondCursorRange));
  EXPECT_TRUE(IsErr(c.protect_next(100, nop), PtErrc::kUnalignedVaddr));
  EXPECT_TRUE(IsErr(c.protect_next(k2M + k4K, nop), PtErrc::kBeyondCursorRange));
  EXPECT_EQ(c.virt_addr(), kX);
}

// Removing or protecting part of a tracked huge page is refused, whether the range starts inside
// it or ends inside it; pages before it in the range are handled first.
TEST_F(ErrorsTest, PartOfATrackedHugePage) {
  Frame small = m_.frame(), huge = m_.frame(9);
  (void)map_at(*upt_, kX, small.clone(), kUserRW);
  (void)map_at(*upt_, kX + k2M, huge.clone(), kUserRW);
  {
    auto c = PT_UNWRAP(upt_->cursor_mut({kX, kX + 2 * k2M}));
    // The range ends inside the huge page: first the small page, then the refusal.
    auto first =
        PT_UNWRAP(c.protect_next(k2M + k4K, [](PageProperty& p) { p.flags -= PageFlag::W; }));
    EXPECT_EQ(first, std::optional<VRange>(VRange{kX, kX + k4K}));
    auto r = c.protect_next(k2M, [](PageProperty& p) { p.flags -= PageFlag::W; });
    EXPECT_TRUE(IsErr(r, PtErrc::kPartialHugeProtect));
    EXPECT_EQ(r.error().va, kX + k2M) << "names the huge page's start";
    EXPECT_EQ(r.error().size, k2M);
    // Starting inside it.
    PT_ASSERT_OK(c.jump(kX + k2M + k4K));
    EXPECT_TRUE(IsErr(c.protect_next(k4K, [](PageProperty&) {}), PtErrc::kPartialHugeProtect));
    auto u = c.take_next(k4K);
    EXPECT_TRUE(IsErr(u, PtErrc::kPartialHugeUnmap));
    EXPECT_EQ(u.error().va, kX + k2M);
    PT_ASSERT_OK(c.jump(kX + k4K));
    EXPECT_TRUE(IsErr(c.take_next(k2M), PtErrc::kPartialHugeUnmap)) << "ends inside it";
  }
  EXPECT_TRUE(MappingsAre(m_, *upt_, kUserAll,
                          {tracked(kX, small, kUserRO), tracked(kX + k2M, huge, kUserRW)}));
  EXPECT_TRUE(FramesAccountedFor(m_, {&small, &huge}, *kpt_, *upt_));
}

TEST_F(ErrorsTest, ProtectToACachePolicyTheEntryCannotEncode) {
  Frame f = m_.frame();
  (void)map_at(*upt_, kX, f.clone(), kUserRW);
  const u64 before = entry_at(m_, *upt_, kX, 1);
  {
    auto c = PT_UNWRAP(upt_->cursor_mut({kX, kX + k4K}));
    auto r = c.protect_next(k4K, [](PageProperty& p) { p.cache = CachePolicy::WriteCombining; });
    EXPECT_TRUE(IsErr(r, PtErrc::kUnsupportedProperty));
  }
  EXPECT_EQ(entry_at(m_, *upt_, kX, 1), before);
}

// --- Simulated memory exhausted ---------------------------------------------------------------

// A map that creates three nodes fails at each of them in turn: the error says so, the nodes made
// before the failure stay (empty, consistent), the page is dropped, and a retry succeeds.
TEST_F(ErrorsTest, MapFailsAtEachNodeAllocation) {
  for (u64 n = 1; n <= 4; ++n) {
    SCOPED_TRACE(n);
    // A fresh root slot each time: levels 3, 2 and 1 must all be created.
    const VAddr fresh = VAddr(0x0000'0200'0000'0000ull * n) + 5 * k4K;
    Frame f = m_.frame();
    const Pfn pfn = f.pfn();
    m_.alloc.fail_nth(n);
    auto c = PT_UNWRAP(upt_->cursor_mut({fresh, fresh + k4K}));
    auto r = c.map(std::move(f), kUserRW);
    if (n <= 3) {
      EXPECT_TRUE(IsErr(r, PtErrc::kOutOfMemory));
      EXPECT_EQ(r.error().alloc.kind, AllocError::Kind::kInjected);
      EXPECT_NE(r.error().message().find("injected allocation failure"), std::string::npos);
      EXPECT_TRUE(m_.freed(pfn)) << "the page was dropped";
    } else {
      EXPECT_TRUE(r.ok()) << "a 4 KiB map in a fresh root slot allocates exactly three nodes";
      EXPECT_EQ(m_.alloc.injected_failures(), 3u);
    }
    m_.alloc.clear_failures();
  }
  EXPECT_TRUE(Consistent(m_, *kpt_, *upt_));
  EXPECT_TRUE(FramesAccountedFor(m_, {}, *kpt_, *upt_));
  // Retrying where the first attempts failed succeeds, reusing the nodes already made.
  for (u64 n = 1; n <= 3; ++n) {
    const VAddr fresh = VAddr(0x0000'0200'0000'0000ull * n) + 5 * k4K;
    (void)map_at(*upt_, fresh, m_.frame(), kUserRW);
  }
  auto items = unmap_all(*upt_, kUserAll);
  EXPECT_EQ(items.size(), 4u);
}

// Many pages through one cursor, crossing into a second leaf node: failing any allocation keeps
// every page mapped before it.
TEST_F(ErrorsTest, BatchedMapFailsAtEachAllocationKeepingThePrefix) {
  // Allocations: the 1000 frames (made by the test up front), then nodes: level 3, level 2,
  // level 1 for pages 0..511, level 1 for pages 512..999.
  for (u64 n = 1; n <= 4; ++n) {
    SCOPED_TRACE(n);
    const VAddr base = VAddr(0x0000'0200'0000'0000ull * n);
    std::vector<Frame> frames;
    for (int i = 0; i < 1000; ++i) frames.push_back(m_.frame());
    m_.alloc.fail_nth(n);
    size_t mapped = 0;
    {
      auto c = PT_UNWRAP(upt_->cursor_mut({base, base + 1000 * k4K}));
      for (; mapped < frames.size(); ++mapped) {
        auto r = c.map(frames[mapped].clone(), kUserRW);
        if (!r.ok()) {
          EXPECT_TRUE(IsErr(r, PtErrc::kOutOfMemory));
          EXPECT_EQ(r.error().va, base + mapped * k4K) << "names the page it could not map";
          break;
        }
      }
    }
    m_.alloc.clear_failures();
    EXPECT_EQ(mapped, n <= 3 ? 0u : 512u);
    std::vector<Mapping> want;
    for (size_t i = 0; i < mapped; ++i) want.push_back(tracked(base + i * k4K, frames[i], kUserRW));
    EXPECT_TRUE(MappingsAre(m_, *upt_, {base, base + k1G}, want));
    std::vector<const Frame*> held;
    for (auto& f : frames) held.push_back(&f);
    EXPECT_TRUE(FramesAccountedFor(m_, held, *kpt_, *upt_));
    (void)unmap_all(*upt_, {base, base + k1G});
  }
}

TEST_F(ErrorsTest, MapPaFailsAtEachAllocationKeepingThePrefix) {
  for (u64 n = 1; n <= 3; ++n) {
    SCOPED_TRACE(n);
    const VAddr va = kLin + n * k1G;  // a fresh level-2 slot of the shared level-3 node
    m_.alloc.fail_nth(n);
    {
      auto c = PT_UNWRAP(kpt_->cursor_mut({va, va + k2M + k4K}));
      auto r = c.map_pa({PAddr(k2M), PAddr(2 * k2M + k4K)}, kKernRW);
      if (n <= 2) {
        EXPECT_TRUE(IsErr(r, PtErrc::kOutOfMemory));
        EXPECT_EQ(r.error().va, n == 1 ? va : va + k2M) << "the address reached";
      } else {
        EXPECT_TRUE(r.ok()) << "two nodes: level 2, then level 1 for the last 4 KiB";
      }
    }
    m_.alloc.clear_failures();
    std::vector<Mapping> want;
    if (n >= 2) want.push_back(untracked(va, k2M, PAddr(k2M), kKernRW));
    if (n >= 3) want.push_back(untracked(va + k2M, k4K, PAddr(2 * k2M), kKernRW));
    EXPECT_TRUE(MappingsAre(m_, *kpt_, {va, va + k1G}, want));
  }
  EXPECT_TRUE(FramesAccountedFor(m_, {}, *kpt_, *upt_));
}

// Splitting an untracked huge page needs a node; without one, unmap, protect and map_pa fail and
// the huge page is left whole.
TEST_F(ErrorsTest, SplitFailsAndLeavesTheHugePageWhole) {
  (void)map_pa_at(*kpt_, kLin, {PAddr(k2M), PAddr(2 * k2M)}, kKernRW);
  const u64 before = entry_at(m_, *kpt_, kLin, 2);
  const u64 in_use = m_.alloc.in_use();
  {
    auto c = PT_UNWRAP(kpt_->cursor_mut({kLin, kLin + k2M}));
    PT_ASSERT_OK(c.jump(kLin + k4K));
    m_.alloc.fail_nth(1);
    EXPECT_TRUE(IsErr(c.take_next(k4K), PtErrc::kOutOfMemory));
    m_.alloc.fail_nth(1);
    EXPECT_TRUE(IsErr(c.protect_next(k4K, [](PageProperty& p) { p.flags -= PageFlag::W; }),
                      PtErrc::kOutOfMemory));
    m_.alloc.fail_nth(1);
    EXPECT_TRUE(IsErr(c.map_pa({PAddr(0), PAddr(k4K)}, kKernRW), PtErrc::kOutOfMemory));
    m_.alloc.clear_failures();
  }
  EXPECT_EQ(entry_at(m_, *kpt_, kLin, 2), before);
  EXPECT_EQ(m_.alloc.in_use(), in_use);
  EXPECT_TRUE(MappingsAre(m_, *kpt_, kKernelAll, {untracked(kLin, k2M, PAddr(k2M), kKernRW)}));
}

TEST_F(ErrorsTest, CreatingPageTablesFailsCleanly) {
  upt_.reset();
  kpt_.reset();
  ASSERT_EQ(m_.alloc.in_use(), 0u);
  // new_kernel allocates the root and 256 shared level-3 nodes.
  for (u64 n : {1u, 2u, 128u, 257u}) {
    m_.alloc.fail_nth(n);
    auto r = KPT4::new_kernel(m_.alloc);
    EXPECT_TRUE(IsErr(r, PtErrc::kOutOfMemory)) << n;
    m_.alloc.clear_failures();
    EXPECT_EQ(m_.alloc.in_use(), 0u) << n;
  }
  m_.alloc.fail_nth(258);
  kpt_.emplace(PT_UNWRAP(KPT4::new_kernel(m_.alloc)));
  m_.alloc.clear_failures();
  m_.alloc.fail_nth(1);
  EXPECT_TRUE(IsErr(kpt_->create_user_page_table(), PtErrc::kOutOfMemory));
  m_.alloc.clear_failures();
  EXPECT_EQ(m_.alloc.in_use(), 257u);
  m_.alloc.fail_nth(1);
  EXPECT_TRUE(IsErr(UPT4::empty(m_.alloc), PtErrc::kOutOfMemory));
  m_.alloc.clear_failures();
  upt_.emplace(PT_UNWRAP(kpt_->create_user_page_table()));
}

// fork_copy_on_write copies the user half's nodes: failing any of those allocations returns an
// error and leaves no copy behind.
TEST_F(ErrorsTest, ForkFailsAtEachAllocationWithoutLeaking) {
  std::vector<Frame> frames;
  for (VAddr va : {kX, kX + k2M + k4K, kG}) {
    frames.push_back(m_.frame());
    (void)map_at(*upt_, va, frames.back().clone(), kUserRW);
  }
  std::vector<const Frame*> held;
  for (auto& f : frames) held.push_back(&f);
  // Nodes to copy: root, two level-3 nodes, two level-2 nodes, three level-1 nodes.
  u64 n = 1;
  for (;; ++n) {
    ASSERT_LE(n, 20u);
    m_.alloc.fail_nth(n);
    auto r = upt_->fork_copy_on_write();
    m_.alloc.clear_failures();
    if (r.ok()) break;
    EXPECT_TRUE(IsErr(r, PtErrc::kOutOfMemory));
    EXPECT_TRUE(FramesAccountedFor(m_, held, *kpt_, *upt_)) << "after failing allocation " << n;
  }
  EXPECT_EQ(n, 9u) << "the 9th allocation is the first the fork does not need";
}

// Random failures during a long sequence of maps: every outcome is either a success or a clean
// out-of-memory error, and the accounting holds throughout.
TEST_F(ErrorsTest, RandomAllocationFailures) {
  std::vector<Frame> frames;
  m_.alloc.fail_randomly(/*seed=*/42, /*probability=*/0.2);
  u64 failures = 0;
  for (u64 i = 0; i < 200; ++i) {
    auto f = Frame::alloc(m_.alloc, 0);
    if (!f.ok()) continue;
    frames.push_back(std::move(f).value());
    const VAddr va = VAddr(0x0000'0200'0000'0000ull) + (i * 37 % 64) * k1G + (i % 7) * k2M;
    auto c = upt_->cursor_mut({va, va + k4K});
    ASSERT_TRUE(c.ok());
    auto r = c->map(frames.back().clone(), kUserRW);
    if (!r.ok()) {
      EXPECT_TRUE(IsErr(r, PtErrc::kOutOfMemory));
      ++failures;
    }
  }
  m_.alloc.clear_failures();
  EXPECT_GT(failures, 10u);
  std::vector<const Frame*> held;
  for (auto& f : frames) held.push_back(&f);
  EXPECT_TRUE(FramesAccountedFor(m_, held, *kpt_, *upt_));
  (void)unmap_all(*upt_, kUserAll);
}

}  // namespace
}  // namespace pagesim::pt::testing
