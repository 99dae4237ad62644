// The Mmu as one CPU: machine set-up (C4), register writes and invalidation instructions with
// their architectural checks (C2, C3, L7, INV2's #GP conditions), straddling accesses (L5).
#include "mmu/mmu.h"

#include <gtest/gtest.h>

#include "page_tables.h"

namespace pagesim::mmu {
namespace {

using testing::baseline_state;
using testing::kUser;
using testing::PageTables;

class MmuTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(cpu.set_state(baseline_state()).ok()); }
  static bool gp(const Result<void, CpuFault>& r) {
    return !r.ok() && r.error().kind == CpuFault::Kind::kGeneralProtection;
  }
  std::unique_ptr<PhysMem> mem = testing::make_mem();
  PageTables pt{*mem, 4, 0x1000, 0x100000};
  Mmu cpu{*mem, Profile::sdm(), TlbShape::teaching()};
};

TEST_F(MmuTest, SetStateRejectsImpossibleStates) {  // C4, M1, section 0
  CpuState s = baseline_state();
  s.cr3 = 0x1000 | (u64{1} << 50);  // reserved with MAXPHYADDR 46
  auto r = cpu.set_state(s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("reserved"), std::string::npos);
  s = baseline_state();
  s.cr0 &= ~reg::kCr0Pg;
  EXPECT_FALSE(cpu.set_state(s).ok());
  s = baseline_state();
  s.cr4 |= reg::kCr4Pks;
  Mmu amd(*mem, Profile::amd(), TlbShape::none());  // A2: no PKS on AMD
  EXPECT_FALSE(amd.set_state(s).ok());
  s = baseline_state();
  s.cr4 |= reg::kCr4Pcide;
  Mmu qemu(*mem, Profile::qemu72(), TlbShape::none());  // Q8: no PCID
  EXPECT_FALSE(qemu.set_state(s).ok());
  s = baseline_state();
  s.cr4 |= reg::kCr4Cet;
  s.cr0 &= ~reg::kCr0Wp;
  EXPECT_FALSE(cpu.set_state(s).ok());  // CET requires WP
  s = baseline_state();
  s.pat = 0x0202020202020202;  // MT2: type 2 is reserved
  EXPECT_FALSE(cpu.set_state(s).ok());
  EXPECT_TRUE(cpu.set_state(baseline_state()).ok());
}

TEST_F(MmuTest, MovToCr3Checks) {                              // C1-C3
  EXPECT_TRUE(gp(cpu.mov_to_cr3(0x1000 | (u64{1} << 46))));    // bits 63:M reserved
  EXPECT_TRUE(gp(cpu.mov_to_cr3(0x1000 | reg::kCr3NoFlush)));  // bit 63 reserved, PCIDE=0
  EXPECT_TRUE(cpu.mov_to_cr3(0x2000 | reg::kCr3Pwt | reg::kCr3Pcd).ok());
  EXPECT_EQ(cpu.state().cr3, 0x2018u);
  ASSERT_TRUE(cpu.mov_to_cr3(0x1000).ok());
  ASSERT_TRUE(cpu.mov_to_cr4(cpu.state().cr4 | reg::kCr4Pcide).ok());
  EXPECT_TRUE(cpu.mov_to_cr3(reg::kCr3NoFlush | 0x1005).ok());  // the hint is not stored
  EXPECT_EQ(cpu.state().cr3, 0x1005u);
  EXPECT_EQ(cpu.state().pcid(), 5);
  EXPECT_EQ(cpu.stats().cr3_no_flush, 1u);
  cpu.set_cpl(3);
  EXPECT_TRUE(gp(cpu.mov_to_cr3(0x1000)));
}

TEST_F(MmuTest, MovToCr4Checks) {  // L7, C2, INV4
  const u64 cr4 = cpu.state().cr4;
  EXPECT_TRUE(gp(cpu.mov_to_cr4(cr4 | reg::kCr4La57)));  // L7
  EXPECT_TRUE(gp(cpu.mov_to_cr4(cr4 & ~reg::kCr4Pae)));
  ASSERT_TRUE(cpu.mov_to_cr3(0x1003).ok());
  EXPECT_TRUE(gp(cpu.mov_to_cr4(cr4 | reg::kCr4Pcide)));  // C2: CR3[11:0] must be 0
  ASSERT_TRUE(cpu.mov_to_cr3(0x1000).ok());
  EXPECT_TRUE(cpu.mov_to_cr4(cr4 | reg::kCr4Pcide).ok());
  EXPECT_TRUE(gp(cpu.mov_to_cr4(cr4 | (u64{1} << 40))));
  Mmu qemu(*mem, Profile::qemu72(), TlbShape::none());
  ASSERT_TRUE(qemu.set_state(baseline_state()).ok());
  EXPECT_TRUE(gp(qemu.mov_to_cr4(cr4 | reg::kCr4Pcide)));  // no PCID in QEMU's model
  EXPECT_TRUE(gp(qemu.mov_to_cr4(cr4 | reg::kCr4Cet)));    // Q9: no CET
}

TEST_F(MmuTest, InvpcidChecks) {  // INV2's #GP conditions (V85 note)
  EXPECT_TRUE(gp(cpu.invpcid(4, {})));
  EXPECT_TRUE(gp(cpu.invpcid(0, {.pcid_qword = 0x1000, .la = VAddr(0)})));  // bits 63:12
  EXPECT_TRUE(gp(cpu.invpcid(0, {.pcid_qword = 0, .la = VAddr(0x0000800000000000)})));
  EXPECT_TRUE(gp(cpu.invpcid(1, {.pcid_qword = 1})));  // PCID != 0 while PCIDE=0
  EXPECT_TRUE(cpu.invpcid(1, {.pcid_qword = 0}).ok());
  EXPECT_TRUE(cpu.invpcid(2, {.pcid_qword = 7}).ok());  // types 2 and 3 ignore the PCID check
  cpu.set_cpl(3);
  EXPECT_TRUE(gp(cpu.invpcid(2, {})));
  EXPECT_TRUE(gp(cpu.invlpg(VAddr(0))));
  Mmu qemu(*mem, Profile::qemu72(), TlbShape::none());
  ASSERT_TRUE(qemu.set_state(baseline_state()).ok());
  auto r = qemu.invpcid(2, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, CpuFault::Kind::kInvalidOpcode);
}

TEST_F(MmuTest, OtherRegisterWrites) {  // PK7, MT2, INV5, INV7, INV8
  auto r = cpu.wrpkru(1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, CpuFault::Kind::kInvalidOpcode);  // CR4.PKE=0
  EXPECT_TRUE(gp(cpu.write_pkrs(u64{1} << 32)));
  EXPECT_TRUE(cpu.write_pkrs(0x400).ok());
  EXPECT_EQ(cpu.state().pkrs, 0x400u);
  EXPECT_TRUE(gp(cpu.write_pat(0x0000000000000003)));
  EXPECT_TRUE(cpu.write_pat(0x0000000000000001).ok());
  EXPECT_TRUE(gp(cpu.write_efer(cpu.state().efer | (u64{1} << 20))));
  EXPECT_TRUE(gp(cpu.write_efer(cpu.state().efer & ~reg::kEferLme)));
  auto pg = cpu.mov_to_cr0(cpu.state().cr0 & ~reg::kCr0Pg);
  ASSERT_FALSE(pg.ok());
  EXPECT_EQ(pg.error().kind, CpuFault::Kind::kUnsupported);
  EXPECT_TRUE(cpu.mov_to_cr0(cpu.state().cr0 & ~reg::kCr0Wp).ok());
  EXPECT_FALSE(cpu.state().wp());
  EXPECT_NE(pg.error().describe().find("not modelled"), std::string::npos);
}

TEST_F(MmuTest, StraddlingAccessesTranslatePageByPage) {  // L5, AD6
  const VAddr lo(0x0000000040000FFC);
  const VAddr hi(0x0000000040001000);
  pt.map(lo, 0x10000000, kUser);
  Access w = Access::write(3);
  SpanTranslation s = cpu.translate_span(lo, 8, w);
  ASSERT_EQ(s.count, 2);  // lower page OK, then the second page's fault
  EXPECT_TRUE(std::holds_alternative<Ok>(s.pages[0].outcome));
  const auto& f = std::get<PageFault>(s.last());
  EXPECT_EQ(f.cr2, hi);  // the first byte of the access in that page
  EXPECT_EQ(f.error_code, 0x6u);
  EXPECT_TRUE(pt.entry(lo, Level::kPte) & testing::kD);  // AD6: A/D set before the fault stay
  pt.map(hi, 0x10001000, kUser);
  s = cpu.translate_span(lo, 8, w);
  ASSERT_EQ(s.count, 2);
  EXPECT_EQ(std::get<Ok>(s.last()).pa, PAddr(0x10001000));
  s = cpu.translate_span(VAddr(0x0000000040000FF0), 8, w);  // no straddle: one page
  EXPECT_EQ(s.count, 1);
  // The canonical test covers both pages before anything is translated.
  s = cpu.translate_span(VAddr(0x00007FFFFFFFFFFC), 8, w);
  ASSERT_EQ(s.count, 1);
  EXPECT_TRUE(std::holds_alternative<NonCanonical>(s.last()));
}

TEST_F(MmuTest, TranslateReportsItsSourceAndFillsTheRecord) {  // W9, T8
  pt.map(VAddr(0x40000000), 0x10000000, kUser);
  WalkRecord rec;
  Translation t = cpu.translate(VAddr(0x40000008), Access::read(3), &rec);
  EXPECT_EQ(t.source, TranslationSource::kWalk);
  EXPECT_EQ(rec.count, 4);
  t = cpu.translate(VAddr(0x40000010), Access::read(3), &rec);
  EXPECT_EQ(t.source, TranslationSource::kL1Hit);
  EXPECT_EQ(rec.count, 0);  // no walk
  EXPECT_EQ(rec.rights_evaluated, RightsEvaluated::kYes);
  t = cpu.translate(VAddr(0x0000800000000000), Access::read(3), &rec);
  EXPECT_EQ(t.source, TranslationSource::kNone);
  EXPECT_EQ(rec.end, WalkEnd::kNonCanonical);
  EXPECT_EQ(cpu.stats().non_canonical, 1u);
  EXPECT_EQ(translation_source_name(TranslationSource::kPscWalk), "PSC-assisted walk");
  EXPECT_EQ(cpu.access(AccessKind::kRead).cpl, 0);
}

}  // namespace
}  // namespace pagesim::mmu
