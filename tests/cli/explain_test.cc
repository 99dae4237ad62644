// `pagesim explain` (src/workloads/explain.h) on machines built entry by entry as the spec's
// vectors state them (docs/spec/x86-64-paging.md section 10): the walk shown level by level,
// and every kind of fault with the error code and the rule the spec gives for it.
#include "workloads/explain.h"

#include <gtest/gtest.h>

#include <memory>

#include "cli/cli_harness.h"
#include "mmu/mmu.h"

namespace pagesim::wl {
namespace {

using mmu::Level;
using testing::contains;

constexpr u64 kVaU = 0x00007D6C987D4567;    // PML4 0x0FA, PDPT 0x1B2, PD 0x0C3, PT 0x1D4
constexpr u64 kVaK = 0xFFFFF8A96782EABC;    // PML4 0x1F1, PDPT 0x0A5, PD 0x13C, PT 0x02E
constexpr u64 kVaU57 = 0x00AB7D6C987D4567;  // PML5 0x0AB, then as kVaU
constexpr u64 kSupTable = mmu::entry::kP | mmu::entry::kRw;  // supervisor table entries (0x3)

// One CPU over hand-built tables: PML4 (or PML5) at 0x1000, the next tables at 0x2000, 0x3000,
// ... in the order they are created, as in the spec's vectors.
struct Rig {
  explicit Rig(int levels = 4, std::string tlb = "none")
      : levels(levels), tlb(std::move(tlb)), tables(*mem, levels, 0x1000, 0x2000) {
    state = testing::baseline(levels);
  }
  std::string explain(u64 va, mmu::Access a) {
    if (!cpu) {
      cpu = std::make_unique<mmu::Mmu>(*mem, profile, mmu::TlbShape::named(tlb).value());
      auto r = cpu->set_state(state);
      EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error());
    }
    return explain_access(*mem, *cpu, VAddr(va), a, ExplainSubject{}, Color::kOff);
  }

  int levels;
  std::string tlb;
  std::unique_ptr<PhysMem> mem = testing::make_mem();
  testing::HandTables tables;
  mmu::Profile profile = mmu::Profile::sdm();
  CpuState state;
  std::unique_ptr<mmu::Mmu> cpu;
};

mmu::Access access(mmu::AccessKind k, u8 cpl, mmu::Ac ac = mmu::Ac::kClear) {
  return mmu::Access{.kind = k, .cpl = cpl, .ac = ac};
}
constexpr auto kRead = mmu::AccessKind::kRead;
constexpr auto kWrite = mmu::AccessKind::kWrite;
constexpr auto kFetch = mmu::AccessKind::kFetch;

// The outcome line says `verdict` (the cause, the error code and the rule).
void expect_verdict(const std::string& text, const std::string& verdict) {
  EXPECT_TRUE(contains(text, verdict)) << "expected: " << verdict << "\n--- output ---\n" << text;
}

// --- Walks shown level by level. ---

TEST(Explain, FourLevelWalkOfV01) {
  Rig rig;
  rig.tables.map(kVaU, 0x0000001234567007);
  const std::string text = rig.explain(kVaU, access(kRead, 3));
  // Step 1: the indexes, as the spec's address table gives them.
  EXPECT_TRUE(contains(text,
                       "0x00007d6c987d4567 = PML4 0x0fa | PDPT 0x1b2 | PD 0x0c3 | PT "
                       "0x1d4 | offset 0x567"))
      << text;
  // Step 3: V01's entry addresses and values before and after the walk.
  EXPECT_TRUE(contains(text, "entry at 0x1000 + 0x0fa × 8 = 0x17d0")) << text;
  EXPECT_TRUE(contains(text, "entry at 0x2000 + 0x1b2 × 8 = 0x2d90")) << text;
  EXPECT_TRUE(contains(text, "entry at 0x3000 + 0x0c3 × 8 = 0x3618")) << text;
  EXPECT_TRUE(contains(text, "entry at 0x4000 + 0x1d4 × 8 = 0x4ea0")) << text;
  EXPECT_TRUE(contains(text, "the walk set A → 0x0000000000002027")) << text;
  EXPECT_TRUE(contains(text, "the walk set A → 0x0000001234567027")) << text;
  expect_verdict(text, "allowed → physical address 0x0000001234567567 (4 KiB page)");
  EXPECT_TRUE(contains(text, "a user-mode read of a user page (AR3)")) << text;
  testing::expect_golden("explain_v01_four_level.txt", text);
}

TEST(Explain, FiveLevelWalkOfV05) {
  Rig rig(5);
  rig.tables.map(kVaU57, 0x0000001234567007);
  const std::string text = rig.explain(kVaU57, access(kRead, 3));
  EXPECT_TRUE(contains(text,
                       "0x00ab7d6c987d4567 = PML5 0x0ab | PML4 0x0fa | PDPT 0x1b2 | PD "
                       "0x0c3 | PT 0x1d4 | offset 0x567"))
      << text;
  EXPECT_TRUE(contains(text, "bits 63:57  0x00          all copies of bit 56 (0): canonical (L2)"))
      << text;
  EXPECT_TRUE(contains(text, "PML5E: entry at 0x1000 + 0x0ab × 8 = 0x1558")) << text;
  EXPECT_TRUE(contains(text, "PTE:   entry at 0x5000 + 0x1d4 × 8 = 0x5ea0")) << text;
  expect_verdict(text, "allowed → physical address 0x0000001234567567 (4 KiB page)");
  testing::expect_golden("explain_v05_five_level.txt", text);
}

TEST(Explain, HugePagesStopTheWalkEarly) {
  Rig rig;
  rig.tables.map(kVaK, 0x0000000123400083, Level::kPde, kSupTable);  // V03
  std::string text = rig.explain(kVaK, access(kRead, 0));
  EXPECT_TRUE(contains(text, "PS=1 → leaf: a 2 MiB page at frame 0x123400000")) << text;
  expect_verdict(text, "allowed → physical address 0x000000012342eabc (2 MiB page)");
  EXPECT_TRUE(contains(text, "(VA bits 20:0)")) << text;
  Rig gb;
  gb.tables.map(kVaK, 0x00000040C0000083, Level::kPdpte, kSupTable);  // V04
  text = gb.explain(kVaK, access(kWrite, 0));
  expect_verdict(text, "allowed → physical address 0x00000040e782eabc (1 GiB page)");
  EXPECT_TRUE(contains(text, "the walk set A and D")) << text;
}

TEST(Explain, NonCanonicalAddress) {
  Rig rig;
  const std::string text = rig.explain(kVaU57, access(kRead, 3));  // V06
  EXPECT_TRUE(contains(text, "NOT all copies of bit 47")) << text;
  expect_verdict(text, "non-canonical address → #GP(0) (L3)");
}

// --- Walk faults: not present, reserved bits (F1, F2). ---

TEST(Explain, NotPresentAtEachDepth) {
  Rig top;  // V14: nothing mapped
  expect_verdict(top.explain(kVaU, access(kRead, 3)),
                 "not present: the PML4E has P=0 → page fault, error code 0x4 (F1)");
  Rig five(5);  // V16: 5-level, PDE not present, user fetch with NXE=1
  five.tables.map(kVaU57, 0x0000000000005006, Level::kPde, 0x7);
  const std::string text = five.explain(kVaU57, access(kFetch, 3));
  expect_verdict(text, "not present: the PDE has P=0 → page fault, error code 0x14 (F1)");
  EXPECT_TRUE(contains(text, "I/D=1 (an instruction fetch, PF5)")) << text;
}

TEST(Explain, ReservedBitFaults) {
  {
    Rig rig;  // V12: bit 50 above MAXPHYADDR 46
    rig.tables.map(kVaU, 0x0004001234567007);
    const std::string text = rig.explain(kVaU, access(kRead, 3));
    expect_verdict(text, "reserved bit 50 set in the PTE → page fault, error code 0xd (R2, F2)");
    EXPECT_TRUE(contains(text, "RSVD=1 (a reserved bit, PF4)")) << text;
  }
  {
    Rig rig;  // V17: PS in a PML4E
    rig.tables.map(kVaK, 0x0000000000002083, Level::kPml4e);
    expect_verdict(rig.explain(kVaK, access(kRead, 0)),
                   "reserved bit 7 set in the PML4E → page fault, error code 0x9 (R3, F2)");
  }
  {
    Rig rig;  // V20: XD in a PDE while EFER.NXE=0
    rig.tables.map(kVaU, 0x0000001234567007);
    rig.tables.set_entry(kVaU, Level::kPde, 0x8000000000004007);
    rig.state.efer &= ~reg::kEferNxe;
    expect_verdict(rig.explain(kVaU, access(kRead, 3)),
                   "reserved bit 63 set in the PDE → page fault, error code 0xd (R4, F2)");
  }
  {
    Rig rig;  // V24: a 2 MiB page with bit 20 set
    rig.tables.map(kVaK, 0x0000000123500083, Level::kPde, kSupTable);
    expect_verdict(rig.explain(kVaK, access(kWrite, 0)),
                   "reserved bit 20 set in the PDE → page fault, error code 0xb (R5, F2)");
  }
}

// --- Rights violations, one per rule of section 4 (error codes of section 5). ---

TEST(Explain, UserAccessToSupervisorPage) {
  Rig rig;  // V29
  rig.tables.map(kVaU, 0x0000001234567003);
  expect_verdict(rig.explain(kVaU, access(kRead, 3)),
                 "user-mode read of a supervisor page (U/S=0 in the PTE) → page fault, error "
                 "code 0x5 (AR1)");
  Rig high;  // V30: U/S=0 only in the PML4E
  high.tables.map(kVaU, 0x0000001234567007, Level::kPte, 0x7);
  high.tables.set_entry(kVaU, Level::kPml4e, 0x0000000000002003);
  expect_verdict(high.explain(kVaU, access(kRead, 3)),
                 "(U/S=0 in the PML4E) → page fault, "
                 "error code 0x5 (AR1)");
}

TEST(Explain, UserWriteToReadOnlyPage) {
  Rig rig;  // V31: R/W=0 only in the PDPTE
  rig.tables.map(kVaU, 0x0000001234567007);
  rig.tables.set_entry(kVaU, Level::kPdpte, 0x0000000000003005);
  const std::string text = rig.explain(kVaU, access(kWrite, 3));
  expect_verdict(text,
                 "user-mode write to a read-only page (R/W=0 in the PDPTE) → page fault, "
                 "error code 0x7 (AR2)");
  EXPECT_TRUE(contains(text, "rights so far: user, read-only, executable")) << text;
}

TEST(Explain, SupervisorWritesAndCr0Wp) {
  {
    Rig rig;  // AR4: a read-only supervisor page, WP=1
    rig.tables.map(kVaK, 0x0000001234567001, Level::kPte, kSupTable);
    expect_verdict(rig.explain(kVaK, access(kWrite, 0)),
                   "supervisor write to a read-only supervisor page with CR0.WP=1 (R/W=0 in the "
                   "PTE) → page fault, error code 0x3 (AR4)");
  }
  {
    Rig rig;  // V34: AR5, a read-only user page, WP=1
    rig.tables.map(kVaU, 0x0000001234567005);
    expect_verdict(rig.explain(kVaU, access(kWrite, 0)),
                   "supervisor write to a read-only user page with CR0.WP=1 (R/W=0 in the PTE) → "
                   "page fault, error code 0x3 (AR5)");
  }
  {
    Rig rig;  // V33: the same write with WP=0 succeeds and sets D
    rig.tables.map(kVaU, 0x0000001234567005);
    rig.state.cr0 &= ~reg::kCr0Wp;
    const std::string text = rig.explain(kVaU, access(kWrite, 0));
    EXPECT_TRUE(contains(text, "CR0.WP=0, so R/W does not restrict supervisor writes (AR5)"))
        << text;
    EXPECT_TRUE(contains(text, "the walk set A and D → 0x0000001234567065")) << text;
  }
}

TEST(Explain, FetchRules) {
  {
    Rig rig;  // AR6: supervisor fetch from an XD supervisor page
    rig.tables.map(kVaK, 0x8000001234567003, Level::kPte, kSupTable);
    expect_verdict(rig.explain(kVaK, access(kFetch, 0)),
                   "supervisor fetch from an execute-disable page (XD=1 in the PTE) → page fault, "
                   "error code 0x11 (AR6)");
  }
  {
    Rig rig;  // AR7 SMEP
    rig.tables.map(kVaU, 0x0000001234567007);
    rig.state.cr4 |= reg::kCr4Smep;
    expect_verdict(rig.explain(kVaU, access(kFetch, 0)),
                   "SMEP: supervisor fetch from a user page with CR4.SMEP=1 → page fault, error "
                   "code 0x11 (AR7)");
  }
  {
    Rig rig;  // AR7 without SMEP: an XD user page
    rig.tables.map(kVaU, 0x8000001234567007);
    expect_verdict(rig.explain(kVaU, access(kFetch, 0)),
                   "supervisor fetch from an execute-disable user page (XD=1 in the PTE) → page "
                   "fault, error code 0x11 (AR7)");
  }
  {
    Rig rig;  // AR8
    rig.tables.map(kVaU, 0x8000001234567007);
    expect_verdict(rig.explain(kVaU, access(kFetch, 3)),
                   "user-mode fetch from an execute-disable page (XD=1 in the PTE) → page fault, "
                   "error code 0x15 (AR8)");
  }
}

TEST(Explain, Smap) {
  {
    Rig rig;  // the example: SMAP, AC=0
    rig.tables.map(kVaU, 0x0000001234567007);
    rig.state.cr4 |= reg::kCr4Smap;
    expect_verdict(rig.explain(kVaU, access(kRead, 0)),
                   "SMAP: supervisor data access to a user page with AC=0 → page fault, error "
                   "code 0x1 (AR9)");
  }
  {
    Rig rig;  // AC=1 lets the explicit access through
    rig.tables.map(kVaU, 0x0000001234567007);
    rig.state.cr4 |= reg::kCr4Smap;
    const std::string text = rig.explain(kVaU, access(kRead, 0, mmu::Ac::kSet));
    EXPECT_TRUE(contains(text, "AC=1 lets this explicit access through (AR9)")) << text;
    expect_verdict(text, "allowed → physical address 0x0000001234567567");
  }
  {
    Rig rig;  // V48: an implicit supervisor access from CPL 3, AC=1
    rig.tables.map(kVaU, 0x0000001234567007);
    rig.state.cr4 |= reg::kCr4Smap;
    mmu::Access a = access(kRead, 3, mmu::Ac::kSet);
    a.origin = mmu::AccessOrigin::kImplicitSupervisor;
    expect_verdict(rig.explain(kVaU, a),
                   "SMAP: implicit supervisor access to a user page (AC does not matter for "
                   "implicit accesses) → page fault, error code 0x1 (AR9)");
  }
}

TEST(Explain, ProtectionKeys) {
  {
    Rig rig;  // PK2: PKRU.AD3, a user page with key 3
    rig.tables.map(kVaU, 0x1800001234567007);
    rig.state.cr4 |= reg::kCr4Pke;
    rig.state.pkru = 0x40;
    expect_verdict(rig.explain(kVaU, access(kRead, 3)),
                   "protection key 3: PKRU.AD3=1 (PKRU 0x40) disables data accesses to user pages "
                   "with this key → page fault, error code 0x25 (PK2)");
  }
  {
    Rig rig;  // PK3: PKRU.WD3
    rig.tables.map(kVaU, 0x1800001234567007);
    rig.state.cr4 |= reg::kCr4Pke;
    rig.state.pkru = 0x80;
    expect_verdict(rig.explain(kVaU, access(kWrite, 3)), "→ page fault, error code 0x27 (PK3)");
  }
  {
    Rig rig;  // PK6: IA32_PKRS.AD5, a supervisor page with key 5
    rig.tables.map(kVaK, 0x2800001234567003, Level::kPte, kSupTable);
    rig.state.cr4 |= reg::kCr4Pks;
    rig.state.pkrs = 0x400;
    expect_verdict(rig.explain(kVaK, access(kRead, 0)),
                   "IA32_PKRS.AD5=1 (PKRS 0x400) disables data accesses to supervisor pages with "
                   "this key → page fault, error code 0x21 (PK6)");
  }
  {
    Rig rig;  // PK6: IA32_PKRS.WD5 with WP=1
    rig.tables.map(kVaK, 0x2800001234567003, Level::kPte, kSupTable);
    rig.state.cr4 |= reg::kCr4Pks;
    rig.state.pkrs = 0x800;
    expect_verdict(rig.explain(kVaK, access(kWrite, 0)), "→ page fault, error code 0x23 (PK6)");
  }
}

TEST(Explain, WalkBusError) {
  Rig rig;  // a PML4E pointing outside the 64 MiB of RAM
  rig.tables.map(kVaU, 0x0000004000000007, Level::kPml4e);
  const std::string text = rig.explain(kVaU, access(kRead, 3));
  EXPECT_TRUE(contains(text, "outside simulated RAM")) << text;
}

// --- The TLB's part. ---

TEST(Explain, TlbHitThenStaleEntry) {
  Rig rig(4, "teaching");
  const u64 pte = rig.tables.map(kVaU, 0x0000001234567007);
  std::string text = rig.explain(kVaU, access(kRead, 3));
  EXPECT_TRUE(contains(text, "L1 DTLB miss, L2 TLB miss → CPU 0 walks the tables.")) << text;
  text = rig.explain(kVaU, access(kRead, 3));
  EXPECT_TRUE(contains(text, "L1 DTLB hit → CPU 0 uses the cached translation")) << text;
  EXPECT_TRUE(contains(text,
                       "The cached entry: page 0x7d6c987d4000 → frame 0x1234567000 (4 KiB), "
                       "user, writable, executable, D=0, key 0."))
      << text;
  EXPECT_TRUE(contains(text, "Step 3 — what a walk of the tables from CR3 finds")) << text;
  EXPECT_FALSE(contains(text, "STALE")) << text;
  // The OS clears P without invalidating (V77): the TLB still translates, memory says no.
  rig.tables.set(pte, 0);
  text = rig.explain(kVaU, access(kRead, 3));
  expect_verdict(text, "allowed → physical address 0x0000001234567567 (4 KiB page, from the TLB)");
  EXPECT_TRUE(contains(text, "STALE TRANSLATION")) << text;
  EXPECT_TRUE(contains(text, "not present: the PTE has P=0 → page fault, error code 0x4 (F1)"))
      << text;
}

TEST(Explain, PagingStructureCacheAndDirtyRule) {
  Rig rig(4, "teaching");
  rig.tables.map(kVaU, 0x0000001234567007);
  rig.tables.map(kVaU + 0x1000, 0x0000001234568007);
  (void)rig.explain(kVaU, access(kRead, 3));
  std::string text = rig.explain(kVaU + 0x1000, access(kRead, 3));
  EXPECT_TRUE(contains(text, "The paging-structure cache holds this address's PDE (T11)")) << text;
  // V79: a write through the clean entry the read filled walks again to set D.
  text = rig.explain(kVaU, access(kWrite, 3));
  EXPECT_TRUE(contains(text, "the cached entry is clean (D=0) and this is a write")) << text;
  EXPECT_TRUE(contains(text, "(T6)")) << text;
}

TEST(Explain, ColourOnlyWhenAsked) {
  Rig rig;
  rig.tables.map(kVaU, 0x0000001234567007);
  rig.explain(kVaU, access(kRead, 3));  // creates the CPU
  const std::string plain =
      explain_access(*rig.mem, *rig.cpu, VAddr(kVaU), access(kRead, 3), {}, Color::kOff);
  const std::string colour =
      explain_access(*rig.mem, *rig.cpu, VAddr(kVaU), access(kRead, 3), {}, Color::kOn);
  EXPECT_FALSE(contains(plain, "\x1b[")) << plain;
  EXPECT_TRUE(contains(colour, "\x1b[1m")) << colour;
  EXPECT_TRUE(contains(colour, "\x1b[1;32m")) << colour;
}

}  // namespace
}  // namespace pagesim::wl
