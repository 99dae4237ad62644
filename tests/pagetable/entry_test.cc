// The x86-64 entry encoding (OS view). Golden raw 64-bit values for known inputs, derived by
// hand from the spec's entry formats (docs/spec/x86-64-paging.md §2.4, E1–E5) and read back from
// simulated memory after a real map; and property round trips for every flag set and cache
// policy (the seed-era test).
//
// Bit positions used in the derivations (spec §2.4):
//   P 0 = 0x001, R/W 1 = 0x002, U/S 2 = 0x004, PWT 3 = 0x008, PCD 4 = 0x010, A 5 = 0x020,
//   D 6 = 0x040, PS 7 = 0x080 (levels 2 and 3; PAT at level 1), G 8 = 0x100,
//   XD 63 = 0x8000_0000_0000_0000, address 51:12.
#include "pagetable/entry.h"

#include <gtest/gtest.h>

#include "harness.h"

namespace pagesim::pt::testing {
namespace {

class EntryGoldenTest : public TwoTables4 {
 protected:
  // The raw entry for `va` at `level`, read from simulated memory through the machine's checked
  // interface (as the hardware walker reads it).
  template <class PT>
  u64 raw(const PT& pt, VAddr va, int level) {
    return m_.alloc.mem().load_entry(entry_addr(m_, pt, va, level)).value();
  }
};

TEST_F(EntryGoldenTest, UserReadWriteNoExecute4KiBPage) {
  const VAddr va{0x0000'7d6c'987d'4000ull};
  Frame f = m_.frame();
  (void)map_at(*upt_, va, f.clone(), kUserRW);
  // P 0x1 | R/W 0x2 | U/S 0x4 = 0x007; not executable: XD (bit 63); the frame's address.
  EXPECT_EQ(raw(*upt_, va, 1), 0x8000'0000'0000'0007ull | f.paddr().value());
}

TEST_F(EntryGoldenTest, ChildTablePointersArePresentWritableUser) {
  const VAddr va{0x0000'7d6c'987d'4000ull};
  (void)map_at(*upt_, va, m_.frame(), kUserRO);
  // A table pointer is P | R/W | U/S = 0x007 whatever the leaf's rights, with the child's
  // address; no XD, no A/D, no PS.
  for (int level = 4; level >= 2; --level) {
    const u64 e = raw(*upt_, va, level);
    const PAddr child = node_at(m_, *upt_, va, level - 1).value();
    EXPECT_EQ(e, 0x0000'0000'0000'0007ull | child.value()) << "level " << level;
    EXPECT_EQ(m_.meta(child).use.load(), FrameUse::kPageTable);
    EXPECT_EQ(m_.meta(child).level, level - 1);
  }
  // The kernel half of the user root points at the kernel's shared level-3 nodes, the same way.
  const u64 k = m_.load(upt_->root_paddr() + 256 * 8);
  EXPECT_EQ(k, 0x0000'0000'0000'0007ull | node_at(m_, *kpt_, kLinearBase, 3)->value());
}

TEST_F(EntryGoldenTest, GlobalKernelReadExecute2MiBPage) {
  const VAddr va = kLinearBase + 0x1'2340'0000ull;
  const PageProperty prop =
      PageProperty::make(PageFlag::R | PageFlag::X, CachePolicy::Writeback, PrivFlag::GLOBAL);
  (void)map_pa_at(*kpt_, va, {PAddr(0x1'2340'0000ull), PAddr(0x1'2360'0000ull)}, prop);
  // P 0x001 | PS 0x080 | G 0x100 = 0x181; executable: no XD; not writable, not user.
  EXPECT_EQ(raw(*kpt_, va, 2), 0x0000'0001'2340'0181ull);
}

TEST_F(EntryGoldenTest, Uncacheable1GiBPage) {
  const VAddr va = kLinearEnd + 3 * k1G;
  Frame f = m_.frame(18);
  (void)map_at(*kpt_, va, f.clone(),
               PageProperty::make(PageFlag::R | PageFlag::W, CachePolicy::Uncacheable));
  // P 0x01 | R/W 0x02 | PCD 0x10 | PS 0x80 = 0x93; XD.
  EXPECT_EQ(raw(*kpt_, va, 3), 0x8000'0000'0000'0093ull | f.paddr().value());
  EXPECT_TRUE(f.paddr().is_aligned(k1G));
}

TEST_F(EntryGoldenTest, WriteThroughUserExecutable1GiBPage) {
  const VAddr va{0x0000'0040'0000'0000ull};
  Frame f = m_.frame(18);
  (void)map_at(*upt_, va, f.clone(),
               PageProperty::make(PageFlag::R | PageFlag::W | PageFlag::X,
                                  CachePolicy::Writethrough, PrivFlag::USER));
  // P 0x01 | R/W 0x02 | U/S 0x04 | PWT 0x08 | PS 0x80 = 0x8F; executable: no XD.
  EXPECT_EQ(raw(*upt_, va, 3), 0x0000'0000'0000'008Full | f.paddr().value());
}

TEST_F(EntryGoldenTest, Untracked4KiBPagesWithEveryBit) {
  const VAddr va = kLinearBase + 0x12'3456'7000ull;
  struct Case {
    const char* derivation;
    PageProperty prop;
    PAddr pa;
    u64 raw;
  };
  const Case cases[] = {
      {"P|R/W|A|D = 0x63, XD",
       PageProperty::make(PageFlag::R | PageFlag::W | PageFlag::ACCESSED | PageFlag::DIRTY),
       PAddr(0x0000'0012'3456'7000ull), 0x8000'0012'3456'7063ull},
      {"P|R/W|U/S|PWT|A|D|G = 0x16F, no XD",
       PageProperty::make(
           PageFlag::R | PageFlag::W | PageFlag::X | PageFlag::ACCESSED | PageFlag::DIRTY,
           CachePolicy::Writethrough, PrivFlag::USER | PrivFlag::GLOBAL),
       PAddr(0x0000'0012'3456'7000ull), 0x0000'0012'3456'716Full},
      {"P = 0x001, XD", kKernRO, PAddr(0x0000'0000'ABCD'E000ull), 0x8000'0000'ABCD'E001ull},
      {"P|PCD = 0x011, XD; the highest address bits (51:12)",
       PageProperty::make(PageFlag::R, CachePolicy::Uncacheable), PAddr(0x000F'FFFF'FFFF'F000ull),
       0x800F'FFFF'FFFF'F011ull},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.derivation);
    (void)map_pa_at(*kpt_, va, {tc.pa, tc.pa + k4K}, tc.prop);
    EXPECT_EQ(raw(*kpt_, va, 1), tc.raw);
    // The OS-side entry type builds the same value from the same inputs.
    EXPECT_EQ(E::new_page(tc.pa, 1, tc.prop).raw(), tc.raw);
    EXPECT_EQ(E::from_raw(tc.raw).prop(), tc.prop);
    EXPECT_EQ(E::from_raw(tc.raw).paddr(), tc.pa);
  }
  auto items = unmap_all(*kpt_, {va, va + k4K});
  EXPECT_EQ(raw(*kpt_, va, 1), 0u) << "an unmapped entry is all zero";
}

// --- The entry type on its own ----------------------------------------------------------------

TEST(X86PageTableEntry, GoldenValuesFromTheType) {
  // 2 MiB at 0x1_2340_0000, kernel RX global: as in the 2 MiB golden above.
  EXPECT_EQ(E::new_page(PAddr(0x1'2340'0000ull), 2,
                        PageProperty::make(PageFlag::R | PageFlag::X, CachePolicy::Writeback,
                                           PrivFlag::GLOBAL))
                .raw(),
            0x0000'0001'2340'0181ull);
  // The same property at level 1 has no PS (bit 7 is PAT there).
  EXPECT_EQ(E::new_page(PAddr(0x1'2340'0000ull), 1,
                        PageProperty::make(PageFlag::R | PageFlag::X, CachePolicy::Writeback,
                                           PrivFlag::GLOBAL))
                .raw(),
            0x0000'0001'2340'0101ull);
  // A child pointer: P|R/W|U/S.
  EXPECT_EQ(E::new_pt(PAddr(0x5000)).raw(), 0x5007ull);
  EXPECT_EQ(E::new_absent().raw(), 0u);
  EXPECT_FALSE(E::new_absent().is_present());
  // Address bits outside 51:12 of the input are dropped.
  EXPECT_EQ(E::new_pt(PAddr(0xFFF0'0000'0000'5FFFull)).paddr(), PAddr(0x5000));
}

TEST(X86PageTableEntry, IsLastDependsOnLevelAndPS) {
  const E leaf1 = E::new_page(PAddr(0x1000), 1, kKernRW);
  const E leaf2 = E::new_page(PAddr(0x20'0000), 2, kKernRW);
  const E table = E::new_pt(PAddr(0x3000));
  EXPECT_TRUE(leaf1.is_last(1));
  EXPECT_TRUE(leaf2.is_last(2));
  EXPECT_TRUE(leaf2.is_last(3));
  EXPECT_FALSE(table.is_last(2));
  EXPECT_FALSE(table.is_last(4));
  EXPECT_TRUE(table.is_last(1)) << "at level 1 every entry is a leaf";
}

TEST(X86PageTableEntry, SetPropKeepsTheAddressAndPS) {
  E e = E::new_page(PAddr(0x4000'0000), 3, kKernRW);
  e.set_prop(kUserRX);
  EXPECT_EQ(e.raw(), 0x4000'0085ull) << "P|U/S|PS, executable";
  EXPECT_EQ(e.paddr(), PAddr(0x4000'0000));
}

TEST(X86PageTableEntry, WriteCombiningAndWriteProtectedCannotBeEncoded) {
  for (CachePolicy c :
       {CachePolicy::Writeback, CachePolicy::Writethrough, CachePolicy::Uncacheable}) {
    EXPECT_TRUE(E::can_encode(PageProperty::make(PageFlag::R, c)));
  }
  EXPECT_FALSE(E::can_encode(PageProperty::make(PageFlag::R, CachePolicy::WriteCombining)));
  EXPECT_FALSE(E::can_encode(PageProperty::make(PageFlag::R, CachePolicy::WriteProtected)));
}

// --- Property round trips (the seed-era test) ---------------------------------------------------

// Every combination of W, X, A, D, user, global and the three encodable cache policies, mapped at
// each page size through the real map paths, reads back the same, through the cursor, the
// lockless query, the entry type and the harness's own decoder.
TEST(PropertyRoundTrip, EveryFlagSetAndCachePolicyAtEveryLevel) {
  Machine m(16 * GiB);
  auto kpt = PT_UNWRAP(KPT4::new_kernel(m.alloc));
  auto upt = PT_UNWRAP(kpt.create_user_page_table());
  const PageFlags optional[] = {PageFlag::W, PageFlag::X, PageFlag::ACCESSED, PageFlag::DIRTY};
  const PrivFlags privs[] = {PrivFlags(), PrivFlag::USER, PrivFlag::GLOBAL,
                             PrivFlag::USER | PrivFlag::GLOBAL};
  const CachePolicy caches[] = {CachePolicy::Writeback, CachePolicy::Writethrough,
                                CachePolicy::Uncacheable};
  int n = 0;
  for (unsigned mask = 0; mask < 16; ++mask) {
    PageFlags flags = PageFlag::R;
    for (unsigned b = 0; b < 4; ++b) {
      if (mask & (1u << b)) flags |= optional[b];
    }
    for (PrivFlags priv : privs) {
      for (CachePolicy cache : caches) {
        const PageProperty prop = PageProperty::make(flags, cache, priv);
        SCOPED_TRACE(to_string(prop));
        // Tracked, at 4 KiB and 2 MiB, in the user table; untracked at 4 KiB in the linear map.
        const VAddr va4 = VAddr(0x0000'0100'0000'0000ull) + n * k2M;
        const VAddr va2 = VAddr(0x0000'0200'0000'0000ull) + n * k2M;
        const VAddr lin = kLinearBase + n * k4K;
        (void)map_at(upt, va4, m.frame(), prop);
        (void)map_at(upt, va2, m.frame(9), prop);
        (void)map_pa_at(kpt, lin, {PAddr(n * k4K), PAddr(n * k4K + k4K)}, prop);
        for (auto [va, level] : {std::pair{va4, 1}, std::pair{va2, 2}}) {
          auto c = PT_UNWRAP(upt.cursor({va, va + k4K}));
          EXPECT_EQ(std::get<Mapped>(PT_UNWRAP(c.query())).prop, prop);
          EXPECT_EQ(upt.query(va)->second, prop);
          const u64 raw = entry_at(m, upt, va, level);
          EXPECT_EQ(decode_prop(raw), prop);
          EXPECT_EQ(E::from_raw(raw).prop(), prop);
        }
        auto c = PT_UNWRAP(kpt.cursor({lin, lin + k4K}));
        EXPECT_EQ(std::get<MappedUntracked>(PT_UNWRAP(c.query())).prop, prop);
        EXPECT_EQ(decode_prop(entry_at(m, kpt, lin, 1)), prop);
        ++n;
      }
    }
  }
  EXPECT_EQ(n, 16 * 4 * 3);
  // And through protect: each property written over a page that had another one.
  const VAddr va = VAddr(0x0000'0300'0000'0000ull);
  (void)map_at(upt, va, m.frame(), kUserRW);
  for (unsigned mask = 0; mask < 16; ++mask) {
    PageFlags flags = PageFlag::R;
    for (unsigned b = 0; b < 4; ++b) {
      if (mask & (1u << b)) flags |= optional[b];
    }
    for (CachePolicy cache : caches) {
      const PageProperty prop = PageProperty::make(flags, cache, PrivFlag::USER);
      (void)protect_all(upt, {va, va + k4K}, [&](PageProperty& p) { p = prop; });
      EXPECT_EQ(decode_prop(entry_at(m, upt, va, 1)), prop) << to_string(prop);
    }
  }
}

// R is implied by P in the seed-era encoding: a property without R reads back with R.
TEST(PropertyRoundTrip, ReadIsImpliedByPresent) {
  const PageProperty no_r = PageProperty::make(PageFlag::W);
  EXPECT_EQ(E::new_page(PAddr(0x1000), 1, no_r).prop(),
            PageProperty::make(PageFlag::R | PageFlag::W));
  EXPECT_EQ(E::new_page(PAddr(0x1000), 1, no_r).raw(), 0x8000'0000'0000'1003ull);
}

TEST(PageProperty, PrintsEveryField) {
  EXPECT_EQ(
      to_string(PageProperty::make(PageFlag::R | PageFlag::W | PageFlag::DIRTY,
                                   CachePolicy::Uncacheable, PrivFlag::USER | PrivFlag::GLOBAL)),
      "rw- -D user global UC");
  EXPECT_EQ(to_string(kKernRX), "r-x -- kernel WB");
  EXPECT_EQ(fmt::format("{}", kKernRO), "r-- -- kernel WB");
}

}  // namespace
}  // namespace pagesim::pt::testing
