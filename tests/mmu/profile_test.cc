// Machine profiles and knobs (spec sections 0 and 9): presets, knob parsing, and each QEMU
// deviation Q1-Q8 through walks.
#include "mmu/profile.h"

#include <gtest/gtest.h>

#include "mmu/mmu.h"
#include "page_tables.h"

namespace pagesim::mmu {
namespace {

using testing::baseline_state;
using testing::kA;
using testing::kP;
using testing::kPs;
using testing::kRw;
using testing::kUs;
using testing::kUser;
using testing::PageTables;

constexpr VAddr kVaU(0x00007D6C987D4567);
constexpr VAddr kVaK(0xFFFFF8A96782EABC);

TEST(Profile, PresetsAndDefaults) {  // section 0 defaults
  const Profile s = Profile::sdm();
  EXPECT_EQ(s.maxphyaddr, 46u);
  EXPECT_EQ(s.a_on_fault, AOnFault::kProgressive);
  EXPECT_EQ(s.rsvd_fault_p, RsvdFaultP::kSet);
  EXPECT_EQ(s.tlb_deny_policy, TlbDenyPolicy::kRewalk);
  EXPECT_EQ(s.unbacked, UnbackedMemory::kBusError);
  const Profile q = Profile::qemu72();
  EXPECT_EQ(q.maxphyaddr, 40u);
  EXPECT_EQ(q.rsvd_fault_p, RsvdFaultP::kClear);                     // Q1
  EXPECT_EQ(q.gb_leaf_accessed, GbLeafAccessed::kBeforeLeafChecks);  // Q2
  EXPECT_EQ(q.gbpages_check, GbPagesCheck::kIgnore);                 // Q3
  EXPECT_EQ(q.implicit_smap, ImplicitSmap::kHonourAcBelowCpl3);      // Q4
  EXPECT_EQ(q.pk_user_to_supervisor, PkUserToSupervisor::kOmit);     // Q5
  EXPECT_EQ(q.non_canonical, NonCanonicalFault::kAlwaysGp);          // Q6
  EXPECT_EQ(q.ad_update, AdUpdate::kCas32RestartLevel);              // Q7
  EXPECT_EQ(q.flush_scope, FlushScope::kWholeTlb);                   // Q8
  EXPECT_EQ(q.pcid, Support::kNo);
  EXPECT_EQ(Profile::amd().vendor, Vendor::kAmd);
  EXPECT_EQ(Profile::named("qemu").value().name, "qemu-7.2");
  EXPECT_FALSE(Profile::named("bochs").ok());
}

TEST(Profile, Knobs) {
  Profile p;
  EXPECT_TRUE(p.set_knob("a_on_fault", "none").ok());
  EXPECT_EQ(p.a_on_fault, AOnFault::kNone);
  EXPECT_TRUE(p.set_knob("rsvd_sets_p", "false").ok());
  EXPECT_EQ(p.rsvd_fault_p, RsvdFaultP::kClear);
  EXPECT_TRUE(p.set_knob("maxphyaddr", "52").ok());
  EXPECT_EQ(p.maxphyaddr, 52u);
  auto bad = p.set_knob("maxphyaddr", "53");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("32..52"), std::string::npos);
  bad = p.set_knob("tlb_deny_policy", "sometimes");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("rewalk | spurious_fault"), std::string::npos);
  EXPECT_FALSE(p.set_knob("no_such_knob", "1").ok());
  Profile c;
  EXPECT_TRUE(c.set_knob("qemu_compat", "true").ok());  // section 0: every Q at once
  EXPECT_EQ(c.rsvd_fault_p, RsvdFaultP::kClear);
  EXPECT_EQ(c.flush_scope, FlushScope::kWholeTlb);
  // knob_values() lists every knob and round-trips through set_knob().
  Profile r;
  for (const std::string& kv : Profile::qemu72().knob_values()) {
    const auto eq = kv.find('=');
    ASSERT_TRUE(r.set_knob(kv.substr(0, eq), kv.substr(eq + 1)).ok()) << kv;
  }
  EXPECT_EQ(r.knob_values(), Profile::qemu72().knob_values());
  Profile invalid;
  invalid.maxphyaddr = 31;
  EXPECT_FALSE(invalid.validate().ok());
}

class QemuDeviationTest : public ::testing::Test {
 protected:
  Outcome walk(const Profile& p, VAddr va, Access a) {
    Walker w(*mem, p);
    w.configure(state);
    return w.walk(va, a, nullptr, nullptr).outcome;
  }
  std::unique_ptr<PhysMem> mem = testing::make_mem();
  PageTables pt{*mem, 4, 0x1000, 0x2000};
  CpuState state = baseline_state();
  const Profile sdm = Profile::sdm();
  const Profile qemu = Profile::qemu72();
};

TEST_F(QemuDeviationTest, Q1ReservedFaultsWithoutP) {
  pt.map(kVaU, 0x0000401234567000, kUser);  // bit 46: reserved under both M=46 and M=40
  EXPECT_EQ(std::get<PageFault>(walk(sdm, kVaU, Access::read(3))).error_code, 0xDu);
  EXPECT_EQ(std::get<PageFault>(walk(qemu, kVaU, Access::read(3))).error_code, 0xCu);
}

TEST_F(QemuDeviationTest, Q2OneGiBLeafGetsABeforeItsChecks) {           // V22, V23, R9
  pt.map(kVaK, 0x00000040C0002000, kP | kPs, Level::kPdpte, kP | kRw);  // bit 13 set
  walk(sdm, kVaK, Access::read(0));
  EXPECT_EQ(pt.entry(kVaK, Level::kPdpte) & kA, 0u);
  walk(qemu, kVaK, Access::read(0));
  EXPECT_EQ(pt.entry(kVaK, Level::kPdpte), 0x00000040C00020A1u);
  // A rights violation on a clean 1 GiB leaf: QEMU leaves A set, the SDM does not.
  pt.map(kVaK, 0x00000040C0000000, kP | kPs, Level::kPdpte, kP | kRw);
  EXPECT_EQ(std::get<PageFault>(walk(sdm, kVaK, Access::write(0))).error_code, 0x3u);
  EXPECT_EQ(pt.entry(kVaK, Level::kPdpte) & kA, 0u);
  EXPECT_EQ(std::get<PageFault>(walk(qemu, kVaK, Access::write(0))).error_code, 0x3u);
  EXPECT_EQ(pt.entry(kVaK, Level::kPdpte) & kA, kA);
  // Bits above MAXPHYADDR are checked before A is set (tests/conformance/README.md item 2).
  pt.map(kVaK, 0x00000040C0000000 | (u64{1} << 45), kP | kPs, Level::kPdpte, kP | kRw);
  walk(qemu, kVaK, Access::read(0));
  EXPECT_EQ(pt.entry(kVaK, Level::kPdpte) & kA, 0u);
  // A 2 MiB leaf gets A only on success, also in QEMU.
  pt.map(kVaK, 0x0000000123500000, kP | kPs, Level::kPde, kP | kRw);  // bit 20 set
  walk(qemu, kVaK, Access::read(0));
  EXPECT_EQ(pt.entry(kVaK, Level::kPde) & kA, 0u);
}

TEST_F(QemuDeviationTest, Q3NoOneGiBPageCheck) {  // V26
  pt.map(kVaK, 0x00000040C0000000, kP | kRw | kPs, Level::kPdpte, kP | kRw);
  Profile s = sdm, q = qemu;
  s.gbpages = q.gbpages = Support::kNo;
  EXPECT_EQ(std::get<PageFault>(walk(s, kVaK, Access::read(0))).error_code, 0x9u);
  EXPECT_EQ(std::get<Ok>(walk(q, kVaK, Access::read(0))).page_size, PageSize::k1G);
}

TEST_F(QemuDeviationTest, Q4ImplicitAccessesHonourAcBelowCpl3) {  // V47, V48
  pt.map(kVaU, 0x0000001234567000, kUser);
  state.cr4 |= reg::kCr4Smap;
  Access a{.kind = AccessKind::kRead,
           .cpl = 0,
           .origin = AccessOrigin::kImplicitSupervisor,
           .ac = Ac::kSet};
  EXPECT_EQ(std::get<PageFault>(walk(sdm, kVaU, a)).error_code, 0x1u);
  EXPECT_TRUE(std::holds_alternative<Ok>(walk(qemu, kVaU, a)));
  a.cpl = 3;  // from CPL 3 both fault
  EXPECT_EQ(std::get<PageFault>(walk(qemu, kVaU, a)).error_code, 0x1u);
}

TEST_F(QemuDeviationTest, Q5NoPkBitForUserAccessToSupervisorPage) {  // V64
  pt.map(kVaK, 0x2800001234567000, kP | kRw, Level::kPte, kUser);
  state.cr4 |= reg::kCr4Pks;
  state.pkrs = 0x400;
  EXPECT_EQ(std::get<PageFault>(walk(sdm, kVaK, Access::read(3))).error_code, 0x25u);
  EXPECT_EQ(std::get<PageFault>(walk(qemu, kVaK, Access::read(3))).error_code, 0x05u);
}

TEST_F(QemuDeviationTest, Q6NonCanonicalIsAlwaysGp) {  // V08
  Access push = Access::write(3);
  push.segment = Segment::kSs;
  EXPECT_EQ(std::get<NonCanonical>(walk(sdm, VAddr(0xFFFF7FFFFFFFFFF8), push)).vector,
            NcVector::kSs);
  EXPECT_EQ(std::get<NonCanonical>(walk(qemu, VAddr(0xFFFF7FFFFFFFFFF8), push)).vector,
            NcVector::kGp);
}

TEST_F(QemuDeviationTest, AmdVendorOnlyAddsBit8) {  // A1, R7 (V28)
  pt.map(kVaU, 0x0000001234567000, kUser, Level::kPte, kUser | (u64{1} << 8));
  EXPECT_TRUE(std::holds_alternative<Ok>(walk(sdm, kVaU, Access::read(3))));
  EXPECT_EQ(std::get<PageFault>(walk(Profile::amd(), kVaU, Access::read(3))).error_code, 0xDu);
}

}  // namespace
}  // namespace pagesim::mmu
