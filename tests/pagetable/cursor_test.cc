// The cursor's navigation behaviours (seed/BEHAVIOURS.md 1–4 and 9): which node a new cursor
// locks, query, move_forward and iteration, jump, leak_root_guard.
#include "pagetable/cursor.h"

#include <gtest/gtest.h>

#include "harness.h"

namespace pagesim::pt::testing {
namespace {

// A user page table (sharing a kernel table's top half) with one 4 KiB page at kX, which creates
// the level-3, level-2 and level-1 nodes on its path, and one 2 MiB page at kHuge.
//   kX = 256 GiB + 2 MiB: root index 0, level-3 index 256, level-2 index 1, level-1 index 0.
constexpr VAddr kX{0x0000'0040'0020'0000ull};
constexpr VAddr kHuge{0x0000'0040'0040'0000ull};  // level-2 index 2 of the same level-2 node

class CursorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kpt_.emplace(PT_UNWRAP(KPT4::new_kernel(m_.alloc)));
    upt_.emplace(PT_UNWRAP(kpt_->create_user_page_table()));
    auto c = PT_UNWRAP(upt_->cursor_mut({kX, kHuge + k2M}));
    page_ = m_.frame();
    (void)PT_UNWRAP(c.map(page_.clone(), kUserRW));
    PT_ASSERT_OK(c.jump(kHuge));
    huge_ = m_.frame(9);
    (void)PT_UNWRAP(c.map(huge_.clone(), kUserRX));
  }

  UPT4& upt() { return *upt_; }
  PAddr root() { return upt_->root_paddr(); }
  PAddr node(VAddr va, int level) { return node_at(m_, *upt_, va, level).value(); }

  // Exactly the node at `level` on the path to kX is locked, among the four on that path.
  ::testing::AssertionResult OnlyLocked(std::optional<int> level) {
    for (int l = 1; l <= 4; ++l) {
      const bool want = level.has_value() && *level == l;
      if (m_.locked(node(kX, l)) != want) {
        return ::testing::AssertionFailure()
               << "level-" << l << " node is " << (want ? "unlocked" : "locked");
      }
    }
    return ::testing::AssertionSuccess();
  }

  Machine m_;
  std::optional<KPT4> kpt_;
  std::optional<UPT4> upt_;
  Frame page_, huge_;
};

// Behaviour 1: the cursor ends holding the lowest node whose single entry range does not contain
// the whole range, or whose entry is absent or a leaf — and only that node.
TEST_F(CursorTest, NewCursorLocksOnlyTheLowestCoveringNode) {
  struct Case {
    const char* what;
    VRange range;
    int guard_level;
    VAddr node_of;  // an address whose path holds the expected node
  };
  const Case cases[] = {
      {"one 4 KiB slot of a leaf node", {kX, kX + k4K}, 1, kX},
      {"two slots of a leaf node", {kX, kX + 2 * k4K}, 1, kX},
      {"the whole leaf node's span", {kX, kX + k2M}, 1, kX},
      {"two leaf nodes", {kX, kX + 2 * k2M}, 2, kX},
      {"absent level-2 entry", {kX + 512 * MiB, kX + 512 * MiB + k4K}, 2, kX},
      {"inside a 2 MiB leaf", {kHuge + k4K, kHuge + 2 * k4K}, 2, kX},
      {"two level-2 nodes", {kX, kX + k1G}, 3, kX},
      {"absent level-3 entry", {VAddr(300 * GiB), VAddr(300 * GiB + k4K)}, 3, kX},
      {"two root entries", {kX, VAddr(512 * GiB + k4K)}, 4, kX},
      {"absent root entry", {VAddr(1024 * GiB), VAddr(1024 * GiB + k4K)}, 4, kX},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.what);
    {
      auto c = PT_UNWRAP(upt().cursor(tc.range));
      EXPECT_EQ(c.guard_level(), tc.guard_level);
      EXPECT_EQ(c.level(), tc.guard_level);
      EXPECT_EQ(c.virt_addr(), tc.range.start);
      EXPECT_EQ(c.barrier_va(), tc.range);
      ASSERT_EQ(c.locked_node(tc.guard_level), node(tc.node_of, tc.guard_level));
      for (int l = 1; l <= 4; ++l) {
        if (l != tc.guard_level) {
          EXPECT_FALSE(c.locked_node(l).has_value()) << "level " << l;
        }
      }
      EXPECT_TRUE(OnlyLocked(tc.guard_level));
    }
    EXPECT_TRUE(OnlyLocked(std::nullopt)) << "after the cursor died";
    // A mutable cursor follows the same protocol.
    {
      auto c = PT_UNWRAP(upt().cursor_mut(tc.range));
      EXPECT_EQ(c.guard_level(), tc.guard_level);
      EXPECT_TRUE(OnlyLocked(tc.guard_level));
    }
    EXPECT_TRUE(OnlyLocked(std::nullopt));
  }
}

// The seed's picture: a cursor over a range in B (level 2) spanning leaf nodes C and D holds B;
// mapping in C locks C under B; moving on to D unlocks C and locks D.
TEST_F(CursorTest, MappingWalksDownAndReleasesLeafNodesInTurn) {
  const VAddr c_start = kX;            // node C: the level-1 node of kX
  const VAddr d_start = kX + 3 * k2M;  // node D: a level-1 node created by the map below
  auto c = PT_UNWRAP(upt().cursor_mut({c_start + 510 * k4K, d_start + 2 * k4K}));
  const PAddr b = node(kX, 2);
  ASSERT_EQ(c.guard_level(), 2);
  ASSERT_EQ(c.locked_node(2), b);
  EXPECT_TRUE(OnlyLocked(2));

  std::vector<Frame> frames;
  for (int i = 0; i < 2; ++i) {
    frames.push_back(m_.frame());
    (void)PT_UNWRAP(c.map(frames.back().clone(), kUserRW));
    // Mapping in C: guards = [B, C].
    EXPECT_EQ(c.level(), i == 0 ? 1 : 2) << "after the last slot of C the cursor climbs to B";
    if (i == 0) {
      EXPECT_EQ(c.locked_node(1), node(kX, 1));
      EXPECT_TRUE(m_.locked(node(kX, 1)));
    }
    EXPECT_TRUE(m_.locked(b));
  }
  EXPECT_FALSE(m_.locked(node(kX, 1))) << "C is unlocked once the cursor left it";
  EXPECT_FALSE(c.locked_node(1).has_value());
  // The slot after C is kX + 2 MiB, which holds the 2 MiB page; skip to D.
  PT_ASSERT_OK(c.jump(d_start));
  frames.push_back(m_.frame());
  (void)PT_UNWRAP(c.map(frames.back().clone(), kUserRW));
  const PAddr d = node(d_start, 1);
  EXPECT_NE(d, node(kX, 1));
  EXPECT_EQ(c.locked_node(1), d);
  EXPECT_TRUE(m_.locked(d));
  EXPECT_TRUE(m_.locked(b));
  EXPECT_FALSE(m_.locked(node(kX, 1)));
  EXPECT_FALSE(m_.locked(node(kX, 3)));
  EXPECT_FALSE(m_.locked(root()));
}

TEST_F(CursorTest, DroppingACursorUnlocksEveryNodeItHeld) {
  const PAddr b = node(kX, 2);
  {
    auto c = PT_UNWRAP(upt().cursor_mut({kX, kHuge + k2M}));
    (void)PT_UNWRAP(c.query());
    ASSERT_EQ(c.level(), 1);
    EXPECT_TRUE(m_.locked(b));
    EXPECT_TRUE(m_.locked(node(kX, 1)));
  }
  EXPECT_TRUE(OnlyLocked(std::nullopt));
}

// Behaviour 2: query reports the current slot with the slot's own size, descending as needed.
TEST_F(CursorTest, QueryReportsNotMappedWithTheSlotSize) {
  struct Case {
    VAddr va;
    u64 slot;
  };
  const Case cases[] = {
      {kX + k4K, k4K},                           // absent entry of a leaf node
      {kX + 512 * MiB, k2M},                     // absent entry of a level-2 node
      {VAddr(300 * GiB), k1G},                   // absent entry of the level-3 node
      {VAddr(1024 * GiB), 512 * GiB},            // absent root entry
      {VAddr(1024 * GiB + 8 * MiB), 512 * GiB},  // mid-slot: the seed reports the slot's size
  };
  for (const Case& tc : cases) {
    auto c = PT_UNWRAP(upt().cursor({tc.va, tc.va + k4K}));
    auto item = PT_UNWRAP(c.query());
    auto* nm = std::get_if<NotMapped>(&item);
    ASSERT_NE(nm, nullptr) << tc.va.value();
    EXPECT_EQ(nm->va, tc.va);
    EXPECT_EQ(nm->len, tc.slot);
    EXPECT_EQ(c.virt_addr(), tc.va) << "query does not move";
  }
}

TEST_F(CursorTest, QueryOfATrackedPageGivesAnExtraReference) {
  auto c = PT_UNWRAP(upt().cursor({kX, kHuge + k2M}));
  EXPECT_EQ(c.level(), 2);
  {
    auto item = PT_UNWRAP(c.query());
    auto* p = std::get_if<Mapped>(&item);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->va, kX);
    EXPECT_EQ(p->page.pfn(), page_.pfn());
    EXPECT_EQ(p->prop, kUserRW);
    EXPECT_EQ(c.level(), 1) << "query descended into the leaf node";
    EXPECT_EQ(page_.refcount(), 3u) << "ours, the table's, the item's";
  }
  EXPECT_EQ(page_.refcount(), 2u);
  // Inside a huge page: the item names the current address and the whole page.
  PT_ASSERT_OK(c.jump(kHuge + 5 * k4K));
  auto item = PT_UNWRAP(c.query());
  auto* p = std::get_if<Mapped>(&item);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->va, kHuge + 5 * k4K);
  EXPECT_EQ(p->page.pfn(), huge_.pfn());
  EXPECT_EQ(p->page.size(), k2M);
  EXPECT_EQ(p->prop, kUserRX);
}

TEST_F(CursorTest, QueryOfAnUntrackedPageGivesItsPhysicalRange) {
  const VAddr va = kLinearBase + 3 * k2M;
  {
    auto c = PT_UNWRAP(kpt_->cursor_mut({va, va + k2M + k4K}));
    (void)PT_UNWRAP(c.map_pa({PAddr(6 * MiB), PAddr(8 * MiB + k4K)}, kKernRW));
  }
  auto c = PT_UNWRAP(kpt_->cursor({va, va + k2M + k4K}));
  auto first = PT_UNWRAP(c.query());
  ASSERT_TRUE(std::holds_alternative<MappedUntracked>(first));
  const auto& u = std::get<MappedUntracked>(first);
  EXPECT_EQ(u.va, va);
  EXPECT_EQ(u.pa, PAddr(6 * MiB));
  EXPECT_EQ(u.len, k2M);
  EXPECT_EQ(u.prop, kKernRW);
  PT_ASSERT_OK(c.jump(va + k2M));
  auto second = PT_UNWRAP(c.query());
  ASSERT_TRUE(std::holds_alternative<MappedUntracked>(second));
  EXPECT_EQ(std::get<MappedUntracked>(second).pa, PAddr(8 * MiB));
  EXPECT_EQ(std::get<MappedUntracked>(second).len, k4K);
}

TEST_F(CursorTest, QueryPastTheEndIsAnError) {
  auto c = PT_UNWRAP(upt().cursor({kX, kX + k4K}));
  ASSERT_TRUE(c.next().has_value());
  EXPECT_EQ(c.virt_addr(), kX + k4K);
  auto r = c.query();
  EXPECT_TRUE(IsErr(r, PtErrc::kInvalidVaddr));
  EXPECT_EQ(r.error().va, kX + k4K);
  EXPECT_FALSE(c.next().has_value());
}

// Behaviour 3: iteration yields every slot in order, at the level where it is decided.
TEST_F(CursorTest, IterationYieldsEverySlotInOrder) {
  Frame third = m_.frame();
  {
    auto c = PT_UNWRAP(upt().cursor_mut({kX + 2 * k4K, kX + 3 * k4K}));
    (void)PT_UNWRAP(c.map(third.clone(), kUserRO));
  }
  auto c = PT_UNWRAP(upt().cursor({kX, kHuge + k2M}));
  std::vector<PageTableItem> items;
  while (auto item = c.next()) items.push_back(std::move(*item));
  // kX, kX+4K (absent), kX+8K, 509 absent 4 KiB slots, then the 2 MiB page.
  ASSERT_EQ(items.size(), 3u + 509u + 1u);
  EXPECT_EQ(std::get<Mapped>(items[0]).page.pfn(), page_.pfn());
  EXPECT_EQ(std::get<NotMapped>(items[1]).va, kX + k4K);
  EXPECT_EQ(std::get<NotMapped>(items[1]).len, k4K);
  EXPECT_EQ(std::get<Mapped>(items[2]).page.pfn(), third.pfn());
  EXPECT_EQ(std::get<Mapped>(items[2]).prop, kUserRO);
  for (size_t i = 3; i < 512; ++i) {
    const auto& nm = std::get<NotMapped>(items[i]);
    EXPECT_EQ(nm.va, kX + i * k4K);
    EXPECT_EQ(nm.len, k4K);
  }
  EXPECT_EQ(std::get<Mapped>(items[512]).va, kHuge);
  EXPECT_EQ(std::get<Mapped>(items[512]).page.pfn(), huge_.pfn());
  // The cursor climbed back to its guard level and no further; it sits at the range's end.
  EXPECT_EQ(c.level(), c.guard_level());
  EXPECT_EQ(c.guard_level(), 2);
  EXPECT_EQ(c.virt_addr(), kHuge + k2M);
}

TEST_F(CursorTest, IterationOverAbsentUpperSlotsStepsWholeSlots) {
  // Root entries 2 and 3 are absent: two 512 GiB slots.
  auto c = PT_UNWRAP(upt().cursor({VAddr(1024 * GiB), VAddr(2048 * GiB)}));
  auto a = c.next();
  auto b = c.next();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(std::get<NotMapped>(*a).va, VAddr(1024 * GiB));
  EXPECT_EQ(std::get<NotMapped>(*a).len, 512 * GiB);
  EXPECT_EQ(std::get<NotMapped>(*b).va, VAddr(1536 * GiB));
  EXPECT_FALSE(c.next().has_value());
}

TEST_F(CursorTest, MoveForwardClimbsAtNodeBoundariesButNotAboveTheGuard) {
  auto c = PT_UNWRAP(upt().cursor({kX + 510 * k4K, kX + k2M + k4K}));
  ASSERT_EQ(c.guard_level(), 2);
  (void)PT_UNWRAP(c.query());  // absent at level 1 of the node of kX
  EXPECT_EQ(c.level(), 1);
  c.move_forward();
  EXPECT_EQ(c.level(), 1);
  EXPECT_EQ(c.virt_addr(), kX + 511 * k4K);
  c.move_forward();  // crosses the leaf node's end
  EXPECT_EQ(c.level(), 2);
  EXPECT_EQ(c.virt_addr(), kX + k2M);
  EXPECT_FALSE(c.locked_node(1).has_value());
  c.move_forward();  // the next level-2 slot: still inside the guard node, no climbing
  EXPECT_EQ(c.level(), 2);
  EXPECT_EQ(c.virt_addr(), kX + 2 * k2M);
}

TEST_F(CursorTest, MoveForwardFromMidSlotGoesToTheNextSlotBoundary) {
  auto c = PT_UNWRAP(upt().cursor({VAddr(1024 * GiB + 8 * MiB), VAddr(1536 * GiB + k4K)}));
  c.move_forward();
  EXPECT_EQ(c.virt_addr(), VAddr(1536 * GiB));
}

// Behaviour 4: jump within the locked range, climbing as needed.
TEST_F(CursorTest, JumpMovesWithinTheLockedRange) {
  auto c = PT_UNWRAP(upt().cursor({kX, kHuge + k2M}));
  (void)PT_UNWRAP(c.query());
  ASSERT_EQ(c.level(), 1);
  // Within the current leaf node: no climbing.
  PT_ASSERT_OK(c.jump(kX + 7 * k4K));
  EXPECT_EQ(c.level(), 1);
  EXPECT_EQ(c.virt_addr(), kX + 7 * k4K);
  // Backwards.
  PT_ASSERT_OK(c.jump(kX));
  EXPECT_EQ(std::get<Mapped>(PT_UNWRAP(c.query())).page.pfn(), page_.pfn());
  // Into another level-2 slot: climbs to level 2 and unlocks the leaf node.
  PT_ASSERT_OK(c.jump(kHuge + k4K));
  EXPECT_EQ(c.level(), 2);
  EXPECT_FALSE(m_.locked(node(kX, 1)));
  EXPECT_EQ(std::get<Mapped>(PT_UNWRAP(c.query())).page.pfn(), huge_.pfn());
}

TEST_F(CursorTest, JumpOutsideTheRangeOrUnalignedIsAnErrorAndDoesNotMove) {
  auto c = PT_UNWRAP(upt().cursor({kX + k4K, kX + 4 * k4K}));
  PT_ASSERT_OK(c.jump(kX + 2 * k4K));
  EXPECT_TRUE(IsErr(c.jump(kX), PtErrc::kInvalidVaddr));
  EXPECT_TRUE(IsErr(c.jump(kX + 4 * k4K), PtErrc::kInvalidVaddr)) << "the end is outside";
  EXPECT_TRUE(IsErr(c.jump(VAddr(1024 * GiB)), PtErrc::kInvalidVaddr));
  EXPECT_TRUE(IsErr(c.jump(kX + 2 * k4K + 1), PtErrc::kUnalignedVaddr));
  EXPECT_EQ(c.virt_addr(), kX + 2 * k4K);
}

// The seed's corner case: a depleted cursor whose guard is a leaf node sits at the start of the
// next node, which it does not hold; jumping back must not climb above the guard.
TEST_F(CursorTest, JumpBackFromADepletedCursor) {
  auto c = PT_UNWRAP(upt().cursor({kX, kX + k2M}));
  ASSERT_EQ(c.guard_level(), 1);
  int n = 0;
  while (c.next()) ++n;
  EXPECT_EQ(n, 512);
  EXPECT_EQ(c.virt_addr(), kX + k2M);
  EXPECT_EQ(c.level(), 1);
  PT_ASSERT_OK(c.jump(kX));
  EXPECT_EQ(c.level(), 1);
  EXPECT_EQ(c.locked_node(1), node(kX, 1));
  auto item = PT_UNWRAP(c.query());
  EXPECT_EQ(std::get<Mapped>(item).page.pfn(), page_.pfn());
  PT_ASSERT_OK(c.jump(kX + 511 * k4K));
  EXPECT_TRUE(std::holds_alternative<NotMapped>(PT_UNWRAP(c.query())));
}

TEST_F(CursorTest, JumpBackFromADepletedCursorAtAHigherGuard) {
  auto c = PT_UNWRAP(upt().cursor({kX, kHuge + k2M}));
  while (c.next()) {
  }
  EXPECT_EQ(c.virt_addr(), kHuge + k2M);
  PT_ASSERT_OK(c.jump(kX));
  EXPECT_EQ(std::get<Mapped>(PT_UNWRAP(c.query())).page.pfn(), page_.pfn());
}

// Behaviour 9: leak_root_guard hands over the root's lock when the cursor holds it.
TEST_F(CursorTest, LeakRootGuardHandsTheRootLockToTheCaller) {
  auto c = PT_UNWRAP(upt().cursor_mut({kX, VAddr(512 * GiB + k4K)}));
  ASSERT_EQ(c.guard_level(), 4);
  (void)PT_UNWRAP(c.query());  // descends to the leaf node: guards at 4, 3, 2, 1
  EXPECT_EQ(c.level(), 1);
  EXPECT_TRUE(m_.locked(node(kX, 1)));
  std::optional<PageTableNode<E, C4>> guard = std::move(c).leak_root_guard();
  ASSERT_TRUE(guard.has_value());
  EXPECT_EQ(guard->paddr(), root());
  EXPECT_EQ(guard->level(), 4);
  EXPECT_TRUE(OnlyLocked(4)) << "the lower guards were released, the root's kept";
  guard.reset();
  EXPECT_TRUE(OnlyLocked(std::nullopt));
}

TEST_F(CursorTest, LeakRootGuardOfACursorBelowTheRootGivesNothingAndReleasesAll) {
  auto c = PT_UNWRAP(upt().cursor_mut({kX, kX + 2 * k2M}));
  ASSERT_EQ(c.guard_level(), 2);
  (void)PT_UNWRAP(c.query());
  ASSERT_TRUE(m_.locked(node(kX, 1)));
  EXPECT_FALSE(std::move(c).leak_root_guard().has_value());
  // The cursor is consumed, as in the seed: none of its locks outlives the call.
  EXPECT_TRUE(OnlyLocked(std::nullopt));
}

// Several cursors over disjoint ranges under different nodes coexist in one thread.
TEST_F(CursorTest, DisjointCursorsCoexist) {
  auto a = PT_UNWRAP(upt().cursor_mut({kX, kX + k4K}));
  auto b = PT_UNWRAP(upt().cursor_mut({kHuge, kHuge + k4K}));
  auto d = PT_UNWRAP(upt().cursor_mut({VAddr(300 * GiB), VAddr(300 * GiB + k4K)}));
  EXPECT_EQ(a.guard_level(), 1);
  EXPECT_EQ(b.guard_level(), 2);
  EXPECT_EQ(d.guard_level(), 3);
  EXPECT_TRUE(m_.locked(node(kX, 1)));
  EXPECT_TRUE(m_.locked(node(kX, 2)));
  EXPECT_TRUE(m_.locked(node(kX, 3)));
  EXPECT_FALSE(m_.locked(root()));
}

TEST_F(CursorTest, KernelCursorsLockTheSharedLevel3NodesNotTheRoot) {
  const VAddr va = kLinearBase + 5 * k1G;
  auto c = PT_UNWRAP(kpt_->cursor_mut({va, va + k4K}));
  EXPECT_EQ(c.guard_level(), 3);
  EXPECT_EQ(c.locked_node(3), node_at(m_, *kpt_, va, 3));
  EXPECT_TRUE(m_.locked(*node_at(m_, *kpt_, va, 3)));
  EXPECT_FALSE(m_.locked(kpt_->root_paddr()));
  // The user table reaches the same shared node, so a user-side walk sees it locked too.
  EXPECT_EQ(node_at(m_, upt(), va, 3), node_at(m_, *kpt_, va, 3));
}

}  // namespace
}  // namespace pagesim::pt::testing
