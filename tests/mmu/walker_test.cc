// The page walker, rule by rule: spec sections 1-3 and 5-7 (L, C, W, M, E, R, F, PF, AD, MT),
// 4-level and 5-level. Access-rights rules are in rights_test.cc, QEMU deviations in
// profile_test.cc.
#include "mmu/walker.h"

#include <gtest/gtest.h>

#include "mmu/mmu.h"
#include "page_tables.h"

namespace pagesim::mmu {
namespace {

using testing::baseline_state;
using testing::kA;
using testing::kD;
using testing::kG;
using testing::kP;
using testing::kPcd;
using testing::kPs;
using testing::kPwt;
using testing::kRw;
using testing::kUs;
using testing::kUser;
using testing::kXd;
using testing::PageTables;

constexpr VAddr kVaU(0x00007D6C987D4567);
constexpr VAddr kVaK(0xFFFFF8A96782EABC);
constexpr VAddr kVaU57(0x00AB7D6C987D4567);
constexpr VAddr kVaK57(0xFFA0F8A96782EABC);
constexpr u64 kFrame4K = 0x0000001234567000;
constexpr u64 kFrame2M = 0x0000000123400000;
constexpr u64 kFrame1G = 0x00000040C0000000;
constexpr u64 kKernel = kP | kRw;  // a present, writable supervisor entry

class WalkerTest : public ::testing::Test {
 protected:
  WalkResult walk(VAddr va, Access a, WalkRecord* rec = nullptr) {
    Walker w(*mem, profile);
    w.configure(state);
    WalkResult r = w.walk(va, a, nullptr, rec);
    stats = w.stats();
    return r;
  }
  u32 fault(VAddr va, Access a) {
    const WalkResult r = walk(va, a);
    EXPECT_TRUE(std::holds_alternative<PageFault>(r.outcome)) << describe(r.outcome);
    if (const auto* f = std::get_if<PageFault>(&r.outcome)) {
      EXPECT_EQ(f->cr2, va);  // PF9: CR2 is the full faulting address
      return f->error_code;
    }
    return 0xdead;
  }
  Ok ok(VAddr va, Access a) {
    const WalkResult r = walk(va, a);
    EXPECT_TRUE(std::holds_alternative<Ok>(r.outcome)) << describe(r.outcome);
    return std::holds_alternative<Ok>(r.outcome) ? std::get<Ok>(r.outcome) : Ok{};
  }

  std::unique_ptr<PhysMem> mem = testing::make_mem();
  Profile profile = Profile::sdm();
  CpuState state = baseline_state();
  // The spec's layout (section 10): PML4 at 0x1000, then PDPT 0x2000, PD 0x3000, PT 0x4000.
  PageTables pt{*mem, 4, 0x1000, 0x2000};
  WalkerStats stats;
};

TEST_F(WalkerTest, FourKiBUserReadSetsAccessedEverywhere) {  // W1-W6, AD1 (V01)
  const u64 pte = pt.map(kVaU, kFrame4K, kUser);
  WalkRecord rec;
  const WalkResult r = walk(kVaU, Access::read(3), &rec);
  const Ok& ok = std::get<Ok>(r.outcome);
  EXPECT_EQ(ok.pa, PAddr(0x0000001234567567));
  EXPECT_EQ(ok.page_size, PageSize::k4K);
  EXPECT_EQ(ok.attrs.pat_index, 0);
  EXPECT_EQ(ok.attrs.memory_type, MemoryType::kWb);
  EXPECT_EQ(pte, 0x4EA0u);
  EXPECT_EQ(pt.get(0x17D0), 0x2027u);
  EXPECT_EQ(pt.get(0x2D90), 0x3027u);
  EXPECT_EQ(pt.get(0x3618), 0x4027u);
  EXPECT_EQ(pt.get(0x4EA0), 0x0000001234567027u);  // A, not D: a read
  // W8, W9: one read per level, root first, with index, address, raw value and A/D written.
  ASSERT_EQ(rec.count, 4);
  const u64 addrs[] = {0x17D0, 0x2D90, 0x3618, 0x4EA0};
  const unsigned idx[] = {0x0FA, 0x1B2, 0x0C3, 0x1D4};
  for (int i = 0; i < 4; ++i) {
    const LevelRecord& l = rec.levels[i];
    EXPECT_EQ(l.level, level_from_number(4 - i));
    EXPECT_EQ(l.entry_address, PAddr(addrs[i]));
    EXPECT_EQ(l.index, idx[i]);
    EXPECT_EQ(l.source, EntrySource::kMemory);
    EXPECT_EQ(l.a_d_written, kA);
    EXPECT_EQ(l.raw_after, l.raw | kA);
    EXPECT_EQ(l.decision, i == 3 ? LevelDecision::kLeaf : LevelDecision::kNonLeaf);
  }
  EXPECT_EQ(rec.end, WalkEnd::kTranslated);
  EXPECT_EQ(rec.rights_evaluated, RightsEvaluated::kYes);
  EXPECT_EQ(
      stats.entry_reads[4] + stats.entry_reads[3] + stats.entry_reads[2] + stats.entry_reads[1],
      4u);
  EXPECT_NE(rec.explain(46).find("PTE"), std::string::npos);
}

TEST_F(WalkerTest, WriteSetsDirtyInTheLeafOnly) {  // AD2 (V02)
  pt.map(kVaU, kFrame4K, kUser);
  ok(kVaU, Access::write(3));
  EXPECT_EQ(pt.get(0x4EA0), 0x0000001234567067u);
  EXPECT_EQ(pt.get(0x3618), 0x4027u);  // bit 6 of a non-leaf entry is never written
}

TEST_F(WalkerTest, NothingIsWrittenWhenAAndDAreSet) {  // AD3 (V70)
  pt.map(kVaU, kFrame4K, kUser | kA | kD, Level::kPte, kUser | kA);
  ok(kVaU, Access::write(3));
  EXPECT_EQ(stats.ad_writes, 0u);
  EXPECT_EQ(pt.get(0x4EA0), 0x0000001234567067u);
}

TEST_F(WalkerTest, TwoMiBAndOneGiBLeaves) {  // W5, W7, E3, E4 (V03, V04, V71)
  pt.map(kVaK, kFrame2M, kKernel | kPs, Level::kPde, kKernel);
  Ok r = ok(kVaK, Access::read(0));
  EXPECT_EQ(r.pa, PAddr(0x000000012342EABC));
  EXPECT_EQ(r.page_size, PageSize::k2M);
  EXPECT_EQ(pt.entry(kVaK, Level::kPde), kFrame2M | kKernel | kPs | kA);

  pt.map(kVaK, kFrame1G, kKernel | kPs, Level::kPdpte, kKernel);
  r = ok(kVaK, Access::write(0));
  EXPECT_EQ(r.pa, PAddr(0x00000040E782EABC));
  EXPECT_EQ(r.page_size, PageSize::k1G);
  EXPECT_EQ(pt.entry(kVaK, Level::kPdpte), kFrame1G | kKernel | kPs | kA | kD);
}

TEST_F(WalkerTest, FiveLevelWalk) {  // W1, W2, L2 (V05, V10, V16)
  state = baseline_state(5);
  PageTables pt5(*mem, 5, 0x1000, 0x200000);
  pt5.map(kVaU57, kFrame4K, kUser);
  WalkRecord rec;
  const WalkResult r = walk(kVaU57, Access::read(3), &rec);
  EXPECT_EQ(std::get<Ok>(r.outcome).pa, PAddr(0x0000001234567567));
  ASSERT_EQ(rec.count, 5);
  EXPECT_EQ(rec.levels[0].level, Level::kPml5e);
  EXPECT_EQ(rec.levels[0].index, 0x0AB);
  EXPECT_EQ(rec.levels[0].entry_address, PAddr(0x1000 + 8 * 0x0AB));
  EXPECT_EQ(stats.entry_reads[5], 1u);

  // 2 MiB supervisor page in the upper half, only canonical with 5 levels.
  pt5.map(kVaK57, kFrame2M, kKernel | kPs, Level::kPde, kKernel);
  const Ok k = ok(kVaK57, Access::write(0));
  EXPECT_EQ(k.pa, PAddr(0x000000012342EABC));
  EXPECT_EQ(pt5.entry(kVaK57, Level::kPde), kFrame2M | kKernel | kPs | kA | kD);

  // Not-present PDE on a user fetch, NXE=1: I/D set (PF5); A stays on the levels above.
  pt5.set_entry(kVaU57, Level::kPde, pt5.entry(kVaU57, Level::kPde) & ~kP);
  EXPECT_EQ(fault(kVaU57, Access::fetch(3)), 0x14u);
  EXPECT_TRUE(pt5.entry(kVaU57, Level::kPml5e) & kA);
}

TEST_F(WalkerTest, FiveLevelOneGiBPageAndPml5ePs) {  // W7, R3 (V18)
  state = baseline_state(5);
  PageTables pt5(*mem, 5, 0x1000, 0x200000);
  pt5.map(kVaK57, kFrame1G, kKernel | kPs, Level::kPdpte, kKernel);
  EXPECT_EQ(ok(kVaK57, Access::read(0)).page_size, PageSize::k1G);
  pt5.set_entry(kVaK57, Level::kPml5e, pt5.entry(kVaK57, Level::kPml5e) | kPs);
  EXPECT_EQ(fault(kVaK57, Access::read(0)), 0x9u);
}

TEST_F(WalkerTest, NonCanonicalIsNotAPageFault) {  // L3, L4, F5 (V06, V07, V08, V09)
  pt.map(kVaU, kFrame4K, kUser);
  WalkRecord rec;
  WalkResult r = walk(VAddr(0x00AB7D6C987D4567), Access::read(3), &rec);
  EXPECT_EQ(std::get<NonCanonical>(r.outcome).vector, NcVector::kGp);
  EXPECT_EQ(rec.count, 0);
  EXPECT_EQ(rec.end, WalkEnd::kNonCanonical);
  EXPECT_EQ(stats.walks, 0u);
  Access push = Access::write(3);
  push.segment = Segment::kSs;
  r = walk(VAddr(0xFFFF7FFFFFFFFFF8), push);
  EXPECT_EQ(std::get<NonCanonical>(r.outcome).vector, NcVector::kSs);
  r = walk(VAddr(0x0000800000000000), Access::fetch(0));  // L4: fetches report #GP
  EXPECT_EQ(std::get<NonCanonical>(r.outcome).vector, NcVector::kGp);
  EXPECT_EQ(pt.get(0x17D0), 0x2007u);  // no A/D change
  state = baseline_state(5);
  r = walk(VAddr(0x0100000000000000), Access::read(0));
  EXPECT_EQ(std::get<NonCanonical>(r.outcome).vector, NcVector::kGp);
}

TEST_F(WalkerTest, MaxPhyAddrDecidesAddressBitsAndReservedBits) {  // M1-M3, R2 (V11, V12, V19)
  pt.map(kVaU, 0x0004001234567000, kUser);
  profile.maxphyaddr = 52;
  EXPECT_EQ(ok(kVaU, Access::read(3)).pa, PAddr(0x0004001234567567));
  pt.set(0x4EA0, 0x0004001234567007);
  profile.maxphyaddr = 46;
  WalkRecord rec;
  walk(kVaU, Access::read(3), &rec);
  EXPECT_EQ(fault(kVaU, Access::read(3)), 0xDu);
  EXPECT_EQ(rec.levels[3].decision, LevelDecision::kReserved);
  EXPECT_EQ(rec.levels[3].reserved_rule, ReservedRule::kR2AboveMaxPhyAddr);
  EXPECT_EQ(rec.levels[3].reserved_bits, u64{1} << 50);
  EXPECT_EQ(pt.get(0x4EA0), 0x0004001234567007u);  // R9: the failing entry is not written

  // A non-leaf PDPTE with bit 45 set under MAXPHYADDR 40 (V19).
  pt.map(kVaU, kFrame4K, kUser);
  pt.set(0x2D90, 0x0000200000003007);
  profile.maxphyaddr = 40;
  EXPECT_EQ(fault(kVaU, Access::write(3)), 0xFu);
}

TEST_F(WalkerTest, IgnoredBitsAreIgnored) {  // E6 (V13)
  pt.map(kVaU, kFrame4K, kUser);
  pt.set(0x17D0, 0x7FF0000000002F47);
  pt.set(0x2D90, 0x0000000000003F47);
  pt.set(0x3618, 0x7FF0000000004F47);
  pt.set(0x4EA0, 0x7FF0001234567E07);
  EXPECT_EQ(ok(kVaU, Access::write(3)).pa, PAddr(0x0000001234567567));
  EXPECT_EQ(pt.get(0x17D0), 0x7FF0000000002F67u);
  EXPECT_EQ(pt.get(0x2D90), 0x0000000000003F67u);
  EXPECT_EQ(pt.get(0x3618), 0x7FF0000000004F67u);
  EXPECT_EQ(pt.get(0x4EA0), 0x7FF0001234567E67u);
}

TEST_F(WalkerTest, NotPresentWinsOverEveryOtherBit) {  // F1, R1 (V14, V15)
  pt.map(kVaK, kFrame4K, kKernel, Level::kPte, kKernel);
  pt.set_entry(kVaK, Level::kPte, 0xFFFFFFFFFFFFFFFE);
  EXPECT_EQ(fault(kVaK, Access::write(0)), 0x2u);
  pt.set_entry(kVaK, Level::kPml4e, 0);
  WalkRecord rec;
  walk(kVaK, Access::read(0), &rec);
  EXPECT_EQ(rec.count, 1);  // W8: nothing below a failed entry is read
  EXPECT_EQ(rec.levels[0].decision, LevelDecision::kNotPresent);
  EXPECT_EQ(rec.end, WalkEnd::kNotPresent);
}

TEST_F(WalkerTest, ReservedBitRules) {  // R3, R4, R5, R6, R7, R8, F2
  // R3: PS in a PML4E (V17).
  pt.map(kVaK, kFrame4K, kKernel, Level::kPte, kKernel);
  pt.set_entry(kVaK, Level::kPml4e, 0x2083);
  WalkRecord rec;
  walk(kVaK, Access::read(0), &rec);
  EXPECT_EQ(rec.levels[0].reserved_rule, ReservedRule::kR3PsInTopLevel);
  EXPECT_EQ(fault(kVaK, Access::read(0)), 0x9u);

  // R4: XD in a non-leaf PDE while NXE=0 (V20), and in the leaf on a fetch (V21).
  pt.map(kVaU, kFrame4K, kUser);
  pt.set_entry(kVaU, Level::kPde, pt.entry(kVaU, Level::kPde) | kXd);
  state.efer &= ~reg::kEferNxe;
  walk(kVaU, Access::read(3), &rec);
  EXPECT_EQ(rec.levels[2].reserved_rule, ReservedRule::kR4XdWithoutNxe);
  EXPECT_EQ(fault(kVaU, Access::read(3)), 0xDu);
  pt.map(kVaU, kFrame4K, kUser | kXd);
  EXPECT_EQ(fault(kVaU, Access::fetch(0)), 0x9u);  // PF5: I/D=0 with NXE=0 and SMEP=0
  state.efer |= reg::kEferNxe;

  // R5: 1 GiB leaf bits 29:13 (V22, V23) and 2 MiB leaf bits 20:13 (V24); bit 12 is PAT (V25).
  pt.map(kVaK, kFrame1G | (u64{1} << 13), kKernel | kPs, Level::kPdpte, kKernel);
  walk(kVaK, Access::read(0), &rec);
  EXPECT_EQ(rec.levels[1].reserved_rule, ReservedRule::kR5LargePageAlignment);
  EXPECT_EQ(fault(kVaK, Access::read(0)), 0x9u);
  EXPECT_EQ(pt.entry(kVaK, Level::kPdpte) & kA, 0u);  // R9: the leaf keeps A=0
  pt.map(kVaK, 0x00000040E0000000, kKernel | kPs, Level::kPdpte, kKernel);
  EXPECT_EQ(fault(kVaK, Access::read(0)), 0x9u);
  pt.map(kVaK, 0x0000000123500000, kKernel | kPs, Level::kPde, kKernel);
  EXPECT_EQ(fault(kVaK, Access::write(0)), 0xBu);
  pt.map(kVaK, kFrame2M | entry::kPatLarge, kKernel | kPs | kPcd | kPwt | kD, Level::kPde, kKernel);
  const Ok pat = ok(kVaK, Access::read(0));
  EXPECT_EQ(pat.attrs.pat_index, 7);                  // MT1
  EXPECT_EQ(pat.attrs.memory_type, MemoryType::kUc);  // MT2: PA7 = UC at power-on

  // R6: PDPTE.PS on a model without 1 GiB pages (V26).
  pt.map(kVaK, kFrame1G, kKernel | kPs, Level::kPdpte, kKernel);
  profile.gbpages = Support::kNo;
  walk(kVaK, Access::read(0), &rec);
  EXPECT_EQ(rec.levels[1].reserved_rule, ReservedRule::kR6PsWithoutGbPages);
  EXPECT_EQ(fault(kVaK, Access::read(0)), 0x9u);
  profile.gbpages = Support::kYes;

  // R7: AMD reserves bit 8 of PML4Es (V28); Intel ignores it; bit 8 of a non-leaf PDPTE is
  // ignored on both (R8).
  pt.map(kVaU, kFrame4K, kUser);
  pt.set_entry(kVaU, Level::kPml4e, pt.entry(kVaU, Level::kPml4e) | (u64{1} << 8));
  pt.set_entry(kVaU, Level::kPdpte, pt.entry(kVaU, Level::kPdpte) | (u64{1} << 8));
  EXPECT_EQ(ok(kVaU, Access::read(3)).pa, PAddr(0x0000001234567567));
  profile.vendor = Vendor::kAmd;
  walk(kVaU, Access::read(3), &rec);
  EXPECT_EQ(rec.levels[0].reserved_rule, ReservedRule::kR7AmdBit8);
  EXPECT_EQ(fault(kVaU, Access::read(3)), 0xDu);
  profile.vendor = Vendor::kIntel;

  // R8: protection-key bits are not reserved when PKE=PKS=0, PAT is never reserved.
  pt.map(kVaU, kFrame4K, kUser | (u64{0xF} << 59) | entry::kPatPte);
  EXPECT_EQ(ok(kVaU, Access::read(3)).attrs.pkey, 15);
}

TEST_F(WalkerTest, ReservedBitBeatsARightsViolation) {  // F3 (V27)
  pt.map(kVaK, 0x0000000123408000, kP | kPs, Level::kPde, kKernel);
  EXPECT_EQ(fault(kVaK, Access::write(3)), 0xFu);
}

TEST_F(WalkerTest, ErrorCodeAccessBits) {  // PF2, PF3, PF5 (V72, V74, V75)
  pt.map(kVaU, kFrame4K, kUser);
  pt.set_entry(kVaU, Level::kPte, 0);
  EXPECT_EQ(fault(kVaU, Access::read(0)), 0x0u);
  EXPECT_EQ(fault(kVaU, Access::write(0)), 0x2u);
  EXPECT_EQ(fault(kVaU, Access::read(3)), 0x4u);
  EXPECT_EQ(fault(kVaU, Access::write(3)), 0x6u);
  EXPECT_EQ(fault(kVaU, Access::fetch(3)), 0x14u);
  state.efer &= ~reg::kEferNxe;
  EXPECT_EQ(fault(kVaU, Access::fetch(0)), 0x0u);  // no I/D without NXE or SMEP
  state.cr4 |= reg::kCr4Smep;
  EXPECT_EQ(fault(kVaU, Access::fetch(0)), 0x10u);  // SMEP alone sets I/D
  state = baseline_state();
  pt.set_entry(kVaU, Level::kPte, 0x0000401234567003);  // bit 46 reserved under M=46
  EXPECT_EQ(fault(kVaU, Access::fetch(0)), 0x19u);      // V76
  Access implicit = Access::read(3);
  implicit.origin = AccessOrigin::kImplicitSupervisor;
  EXPECT_EQ(fault(kVaU, implicit), 0x9u);  // PF3: U/S describes the access, not the CPL
}

TEST_F(WalkerTest, AccessedPolicyOnFaultingWalks) {  // AD4, R9 (V72, V73)
  pt.map(kVaU, kFrame4K, kUser);
  pt.set(0x3618, 0);  // the PDE
  profile.a_on_fault = AOnFault::kNone;
  fault(kVaU, Access::read(3));
  EXPECT_EQ(pt.get(0x17D0), 0x2007u);
  EXPECT_EQ(pt.get(0x2D90), 0x3007u);
  profile.a_on_fault = AOnFault::kProgressive;
  fault(kVaU, Access::read(3));
  EXPECT_EQ(pt.get(0x17D0), 0x2027u);
  EXPECT_EQ(pt.get(0x2D90), 0x3027u);

  // A rights violation leaves the leaf's A clear under every policy, and never sets D.
  pt.set(0x3618, 0x4007);
  pt.set(0x4EA0, kFrame4K | kP | kUs);  // read-only user page
  EXPECT_EQ(fault(kVaU, Access::write(3)), 0x7u);
  EXPECT_EQ(pt.get(0x4EA0), kFrame4K | kP | kUs);
  EXPECT_EQ(pt.get(0x3618), 0x4027u);

  // Under `none`, success sets every A top-down at the end, plus D.
  pt.map(kVaU, kFrame4K, kUser, Level::kPte, kUser);
  pt.set(0x17D0, 0x2007);
  profile.a_on_fault = AOnFault::kNone;
  WalkRecord rec;
  walk(kVaU, Access::write(3), &rec);
  EXPECT_EQ(pt.get(0x17D0), 0x2027u);
  EXPECT_EQ(pt.get(0x4EA0), kFrame4K | kUser | kA | kD);
  EXPECT_EQ(rec.levels[0].a_d_written, kA);
  EXPECT_EQ(rec.levels[3].a_d_written, kA | kD);
}

TEST_F(WalkerTest, DirtyNeverLandsInAReadOnlyLeafWhileWpIsSet) {  // AD8 (V33, V34)
  pt.map(kVaU, kFrame4K, kP | kUs);
  EXPECT_EQ(fault(kVaU, Access::write(0)), 0x3u);
  EXPECT_EQ(pt.get(0x4EA0) & kD, 0u);
  state.cr0 &= ~reg::kCr0Wp;
  ok(kVaU, Access::write(0));
  EXPECT_EQ(pt.get(0x4EA0), kFrame4K | kP | kUs | kA | kD);
}

TEST_F(WalkerTest, TableMemoryTypesAreRecorded) {  // MT3, MT4
  pt.map(kVaU, kFrame4K, kUser | kPwt, Level::kPte, kUser | kPcd);
  state.cr3 = 0x1000 | reg::kCr3Pwt | reg::kCr3Pcd;
  WalkRecord rec;
  const WalkResult r = walk(kVaU, Access::read(3), &rec);
  EXPECT_EQ(rec.levels[0].table_pat_index, 3);            // root read with CR3.PCD/PWT
  EXPECT_EQ(rec.levels[1].table_pat_index, 2);            // PCD of the PML4E
  EXPECT_EQ(std::get<Ok>(r.outcome).attrs.pat_index, 1);  // MT1: PWT of the PTE
  EXPECT_EQ(std::get<Ok>(r.outcome).attrs.memory_type, MemoryType::kWt);
  state.cr4 |= reg::kCr4Pcide;  // MT3: PCID in CR3[11:0], the root with PAT index 0
  walk(kVaU, Access::read(3), &rec);
  EXPECT_EQ(rec.levels[0].table_pat_index, 0);
  state.pat = 0x0000000000000600;  // MT2: the type comes from IA32_PAT
  state.cr4 &= ~reg::kCr4Pcide;
  EXPECT_EQ(ok(kVaU, Access::read(3)).attrs.memory_type, MemoryType::kWb);
}

TEST_F(WalkerTest, GlobalNeedsPge) {  // E7, T2
  pt.map(kVaK, kFrame4K, kKernel | kG, Level::kPte, kKernel);
  EXPECT_EQ(ok(kVaK, Access::read(0)).attrs.global, Global::kNo);
  state.cr4 |= reg::kCr4Pge;
  EXPECT_EQ(ok(kVaK, Access::read(0)).attrs.global, Global::kYes);
}

TEST_F(WalkerTest, TablesOutsideRamAreBusErrors) {  // section 0: WalkBusError
  auto small = testing::make_mem(1 * MiB);
  PageTables spt(*small, 4, 0x1000, 0x2000);
  spt.map(kVaU, kFrame4K, kUser);
  spt.set(0x2D90, 0x0000000000800007 | (u64{0x40} << 20));  // PDPTE -> PD at 64 MiB + 8 MiB
  Walker w(*small, profile);
  w.configure(state);
  WalkRecord rec;
  WalkResult r = w.walk(kVaU, Access::read(3), nullptr, &rec);
  const auto& bus = std::get<WalkBusError>(r.outcome);
  EXPECT_EQ(bus.level, Level::kPde);
  EXPECT_EQ(bus.entry_address, PAddr(0x4800000 + 8 * 0x0C3));
  EXPECT_EQ(rec.levels[2].decision, LevelDecision::kBusError);
  EXPECT_EQ(rec.end, WalkEnd::kBusError);

  // The root itself outside RAM.
  CpuState s = state;
  s.cr3 = 0x40000000;
  w.configure(s);
  r = w.walk(kVaU, Access::read(3), nullptr, nullptr);
  EXPECT_EQ(std::get<WalkBusError>(r.outcome).level, Level::kPml4e);

  // unbacked_memory=reads_zero: the entry reads as 0, a not-present fault (QEMU).
  Profile q = profile;
  q.unbacked = UnbackedMemory::kReadsZero;
  Walker wq(*small, q);
  wq.configure(state);
  r = wq.walk(kVaU, Access::read(3), nullptr, &rec);
  EXPECT_EQ(std::get<PageFault>(r.outcome).error_code, 0x4u);
  EXPECT_EQ(rec.levels[2].source, EntrySource::kUnbackedZero);
}

TEST_F(WalkerTest, WalkStartsFromAPagingStructureCacheEntry) {  // T13
  pt.map(kVaU, kFrame4K, kUser);
  WalkStart start{.level = Level::kPte,
                  .table = PAddr(0x4000),
                  .rights = Rights{},
                  .table_pat_index = 0,
                  .psc_entry_address = PAddr(0x3618),
                  .psc_entry_value = 0x4027};
  Walker w(*mem, profile);
  w.configure(state);
  WalkRecord rec;
  const WalkResult r = w.walk(kVaU, Access::read(3), &start, &rec);
  EXPECT_EQ(std::get<Ok>(r.outcome).pa, PAddr(0x0000001234567567));
  EXPECT_EQ(w.stats().entry_reads[4], 0u);  // the skipped levels are neither read...
  EXPECT_EQ(w.stats().entry_reads[1], 1u);
  EXPECT_EQ(pt.get(0x17D0), 0x2007u);  // ...nor written
  ASSERT_EQ(rec.count, 4);
  EXPECT_EQ(rec.levels[0].source, EntrySource::kAbovePscEntry);
  EXPECT_EQ(rec.levels[2].source, EntrySource::kPscEntry);
  EXPECT_EQ(rec.levels[2].entry_address, PAddr(0x3618));
  EXPECT_EQ(rec.levels[3].source, EntrySource::kMemory);
  // Rights accumulated above the start point count (D3): a supervisor-only upper level.
  start.rights.bits &= static_cast<u8>(~Rights::kUser);
  const WalkResult denied = w.walk(kVaU, Access::read(3), &start, nullptr);
  EXPECT_EQ(std::get<PageFault>(denied.outcome).error_code, 0x5u);
}

}  // namespace
}  // namespace pagesim::mmu
