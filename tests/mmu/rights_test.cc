// Access rights: spec section 4 (D1-D4, AR1-AR11, PK1-PK7, SS1-SS4, F4) and the error-code
// table of section 5, through evaluate_rights() and through whole walks.
#include "mmu/rights.h"

#include <gtest/gtest.h>

#include <functional>

#include "mmu/walker.h"
#include "page_tables.h"

namespace pagesim::mmu {
namespace {

using testing::baseline_state;
using testing::kD;
using testing::kP;
using testing::kRw;
using testing::kUs;
using testing::kUser;
using testing::kXd;
using testing::PageTables;

constexpr VAddr kVaU(0x00007D6C987D4567);
constexpr u64 kFrame = 0x0000001234567000;

Rights rights(bool w, bool u, bool xd, bool wnl = true) {
  Rights r;
  r.bits = static_cast<u8>((w ? Rights::kWrite : 0) | (u ? Rights::kUser : 0) |
                           (xd ? Rights::kXd : 0) | (wnl ? Rights::kNonLeafWrite : 0));
  return r;
}

RightsContext ctx(u8 flags, u32 pkru = 0, u32 pkrs = 0) {
  RightsContext c;
  c.flags = flags;
  c.pkru = pkru;
  c.pkrs = pkrs;
  return c;
}

constexpr u8 kWp = RightsContext::kWp;
constexpr u8 kNxe = RightsContext::kNxe;
constexpr u8 kSmep = RightsContext::kSmep;
constexpr u8 kSmap = RightsContext::kSmap;
constexpr u8 kPke = RightsContext::kPke;
constexpr u8 kPks = RightsContext::kPks;

RightsRule rule(Rights r, const Access& a, const RightsContext& c, unsigned key = 0,
                Dirty d = Dirty::kNo) {
  return evaluate_rights(r, d, key, a, c).rule;
}

TEST(Rights, CombinedRightsOfEveryLevel) {  // D3
  Rights r;
  r.fold(kP | kRw | kUs, Support::kYes, EntryRole::kNonLeaf);
  EXPECT_EQ(r, rights(true, true, false));
  r.fold(kP | kUs | kXd, Support::kYes, EntryRole::kNonLeaf);  // R/W=0 and XD in a non-leaf
  EXPECT_FALSE(r.writable());
  EXPECT_FALSE(r.non_leaf_writable());
  EXPECT_TRUE(r.xd());
  r.fold(kP | kRw, Support::kYes, EntryRole::kLeaf);  // U/S=0 in the leaf
  EXPECT_FALSE(r.user());
  Rights n;
  n.fold(kP | kRw | kUs | kXd, Support::kNo, EntryRole::kLeaf);  // XD counts only with NXE
  EXPECT_FALSE(n.xd());
}

TEST(Rights, UserModeAccessToSupervisorAddress) {  // AR1, D2
  const RightsContext c = ctx(kWp | kNxe);
  for (const Access a : {Access::read(3), Access::write(3), Access::fetch(3)}) {
    EXPECT_EQ(rule(rights(true, false, false), a, c), RightsRule::kAr1UserToSupervisor);
  }
  Access implicit = Access::read(3);
  implicit.origin = AccessOrigin::kImplicitSupervisor;  // supervisor-mode at CPL 3 (D2)
  EXPECT_EQ(rule(rights(true, false, false), implicit, c), RightsRule::kAllowed);
}

TEST(Rights, WritesAndCr0Wp) {  // AR2, AR4, AR5
  const RightsContext wp1 = ctx(kWp | kNxe), wp0 = ctx(kNxe);
  EXPECT_EQ(rule(rights(false, true, false), Access::write(3), wp0),
            RightsRule::kAr2UserWriteReadOnly);  // WP irrelevant to user writes
  EXPECT_EQ(rule(rights(true, true, false), Access::write(3), wp1), RightsRule::kAllowed);
  EXPECT_EQ(rule(rights(false, false, false), Access::write(0), wp1),
            RightsRule::kAr4SupervisorWriteWp);
  EXPECT_EQ(rule(rights(false, false, false), Access::write(0), wp0), RightsRule::kAllowed);
  EXPECT_EQ(rule(rights(false, true, false), Access::write(0), wp1),
            RightsRule::kAr5SupervisorWriteUserWp);
  EXPECT_EQ(rule(rights(false, true, false), Access::write(0), wp0), RightsRule::kAllowed);
  EXPECT_EQ(rule(rights(false, true, false), Access::read(3), wp1), RightsRule::kAllowed);   // AR3
  EXPECT_EQ(rule(rights(false, false, false), Access::read(0), wp1), RightsRule::kAllowed);  // AR10
}

TEST(Rights, FetchesXdAndSmep) {  // AR6, AR7, AR8
  const RightsContext c = ctx(kWp | kNxe), smep = ctx(kWp | kNxe | kSmep);
  EXPECT_EQ(rule(rights(true, false, true), Access::fetch(0), c),
            RightsRule::kAr6SupervisorFetchXd);
  EXPECT_EQ(rule(rights(true, false, false), Access::fetch(0), c), RightsRule::kAllowed);
  EXPECT_EQ(rule(rights(true, true, false), Access::fetch(0), smep), RightsRule::kAr7Smep);
  EXPECT_EQ(rule(rights(true, true, false), Access::fetch(0), c), RightsRule::kAllowed);
  EXPECT_EQ(rule(rights(true, true, true), Access::fetch(0), c),
            RightsRule::kAr7SupervisorFetchUserXd);
  EXPECT_EQ(rule(rights(true, true, true), Access::fetch(3), smep), RightsRule::kAr8UserFetchXd);
  EXPECT_EQ(rule(rights(true, true, false), Access::fetch(3), smep), RightsRule::kAllowed);
}

TEST(Rights, SmapWithAcAndImplicitAccesses) {  // AR9, AR5, AR7
  const RightsContext c = ctx(kWp | kNxe | kSmap);
  Access r0 = Access::read(0);
  EXPECT_EQ(rule(rights(true, true, false), r0, c), RightsRule::kAr9Smap);
  r0.ac = Ac::kSet;
  EXPECT_EQ(rule(rights(true, true, false), r0, c), RightsRule::kAllowed);
  Access w0 = Access::write(0);
  w0.ac = Ac::kSet;  // AC=1 lets the write reach AR5: read-only with WP=1 denies
  EXPECT_EQ(rule(rights(false, true, false), w0, c), RightsRule::kAr5SupervisorWriteUserWp);
  EXPECT_EQ(rule(rights(false, true, false), w0, ctx(kNxe | kSmap)), RightsRule::kAllowed);
  Access implicit = r0;
  implicit.origin = AccessOrigin::kImplicitSupervisor;  // implicit accesses ignore AC
  EXPECT_EQ(rule(rights(true, true, false), implicit, c), RightsRule::kAr9Smap);
  implicit.cpl = 3;
  EXPECT_EQ(rule(rights(true, true, false), implicit, c), RightsRule::kAr9Smap);
  EXPECT_EQ(rule(rights(true, true, false), Access::fetch(0), c), RightsRule::kAllowed);
  EXPECT_EQ(rule(rights(true, false, false), Access::read(0), c), RightsRule::kAllowed);
}

TEST(Rights, ProtectionKeys) {  // PK1-PK6
  const u32 ad3 = 0x40, wd3 = 0x80;
  // PK2: AD denies every data access to a user page, user and supervisor.
  EXPECT_EQ(rule(rights(true, true, false), Access::read(3), ctx(kWp | kPke, ad3), 3),
            RightsRule::kPk2AccessDisable);
  EXPECT_EQ(rule(rights(true, true, false), Access::read(0), ctx(kWp | kPke, ad3), 3),
            RightsRule::kPk2AccessDisable);
  EXPECT_EQ(rule(rights(true, true, false), Access::read(3), ctx(kWp | kPke, ad3), 2),
            RightsRule::kAllowed);  // another key
  // PK3: WD denies user writes, and supervisor writes only while WP=1.
  EXPECT_EQ(rule(rights(true, true, false), Access::write(3), ctx(kPke, wd3), 3),
            RightsRule::kPk3WriteDisable);
  EXPECT_EQ(rule(rights(true, true, false), Access::write(0), ctx(kWp | kPke, wd3), 3),
            RightsRule::kPk3WriteDisable);
  EXPECT_EQ(rule(rights(true, true, false), Access::write(0), ctx(kPke, wd3), 3),
            RightsRule::kAllowed);
  EXPECT_EQ(rule(rights(true, true, false), Access::read(3), ctx(kWp | kPke, wd3), 3),
            RightsRule::kAllowed);
  // PK4: never fetches. PK1: PKE=0 ignores PKRU.
  EXPECT_EQ(rule(rights(true, true, false), Access::fetch(3), ctx(kWp | kPke, ad3), 3),
            RightsRule::kAllowed);
  EXPECT_EQ(rule(rights(true, true, false), Access::write(3), ctx(kWp, 0xFFFFFFFF), 3),
            RightsRule::kAllowed);
  // PK6: PKRS for supervisor pages only; PKRU never for supervisor pages.
  EXPECT_EQ(rule(rights(true, false, false), Access::write(0), ctx(kWp | kPks, 0, 0x800), 5),
            RightsRule::kPk6WriteDisable);
  EXPECT_EQ(rule(rights(true, false, false), Access::read(0), ctx(kWp | kPks, 0, 0x400), 5),
            RightsRule::kPk6AccessDisable);
  EXPECT_EQ(rule(rights(true, false, false), Access::write(0), ctx(kPks, 0, 0x800), 5),
            RightsRule::kAllowed);
  EXPECT_EQ(rule(rights(true, true, false), Access::read(0), ctx(kWp | kPks, 0, ~0u), 5),
            RightsRule::kAllowed);
  EXPECT_EQ(rule(rights(true, false, false), Access::read(0), ctx(kWp | kPke, ~0u), 5),
            RightsRule::kAllowed);
}

TEST(Rights, PkIsReportedEvenWhenAnotherRuleDenies) {  // PK5, F4 (V53, V64)
  RightsDecision d = evaluate_rights(rights(false, true, false), Dirty::kNo, 3, Access::write(3),
                                     ctx(kWp | kPke, 0x80));
  EXPECT_EQ(d.rule, RightsRule::kAr2UserWriteReadOnly);
  EXPECT_EQ(d.pk, PkFault::kYes);
  RightsContext c = ctx(kWp | kPks, 0, 0x400);
  d = evaluate_rights(rights(true, false, false), Dirty::kNo, 5, Access::read(3), c);
  EXPECT_EQ(d.rule, RightsRule::kAr1UserToSupervisor);
  EXPECT_EQ(d.pk, PkFault::kYes);  // SDM-literal reading
  c.pk_user_to_supervisor = PkUserToSupervisor::kOmit;
  d = evaluate_rights(rights(true, false, false), Dirty::kNo, 5, Access::read(3), c);
  EXPECT_EQ(d.pk, PkFault::kNo);  // Q5
  EXPECT_EQ(rights_error_code(Access::read(3), c, d), 0x5u);
}

TEST(Rights, ShadowStacks) {  // SS1-SS4
  const RightsContext c = ctx(kWp | kNxe);
  const Access ssr3{.kind = AccessKind::kShadowStackRead, .cpl = 3};
  const Access ssw3{.kind = AccessKind::kShadowStackWrite, .cpl = 3};
  const Access ssw0{.kind = AccessKind::kShadowStackWrite, .cpl = 0};
  // SS1: leaf R/W=0, D=1, every non-leaf R/W=1.
  EXPECT_EQ(rule(rights(false, true, false), ssw3, c, 0, Dirty::kYes), RightsRule::kAllowed);
  EXPECT_EQ(rule(rights(true, true, false), ssr3, c, 0, Dirty::kYes),
            RightsRule::kSs2NotShadowStackPage);
  EXPECT_EQ(rule(rights(false, true, false), ssr3, c, 0, Dirty::kNo),
            RightsRule::kSs2NotShadowStackPage);
  EXPECT_EQ(rule(rights(false, true, false, false), ssr3, c, 0, Dirty::kYes),
            RightsRule::kSs2NotShadowStackPage);
  // SS2: the address mode must match the access mode.
  EXPECT_EQ(rule(rights(false, true, false), ssw0, c, 0, Dirty::kYes),
            RightsRule::kSs2SupervisorToUserPage);
  EXPECT_EQ(rule(rights(false, false, false), ssw0, c, 0, Dirty::kYes), RightsRule::kAllowed);
  const Access wruss{.kind = AccessKind::kShadowStackWrite,
                     .cpl = 0,
                     .origin = AccessOrigin::kWruss};  // D2: user-mode at CPL 0
  EXPECT_TRUE(wruss.is_user_mode());
  EXPECT_EQ(rule(rights(false, true, false), wruss, c, 0, Dirty::kYes), RightsRule::kAllowed);
  // SS3: an ordinary write to a shadow-stack page fails the ordinary rules.
  EXPECT_EQ(rule(rights(false, true, false), Access::write(3), c, 0, Dirty::kYes),
            RightsRule::kAr2UserWriteReadOnly);
  // SS4: the SS bit on every fault of a shadow-stack access; W/R for shadow-stack writes.
  EXPECT_EQ(access_error_bits(ssw3, c), pf::kW | pf::kU | pf::kSs);
  EXPECT_EQ(not_present_error_code(ssr3, c), pf::kU | pf::kSs);
}

// Section 5's table of examples, each through a whole walk, with the SDM and QEMU codes.
struct ErrorCodeRow {
  const char* situation;
  std::function<void(PageTables&, CpuState&)> setup;
  Access access;
  u32 sdm;
  u32 qemu;
};

Access implicit_read(u8 cpl) {
  Access a = Access::read(cpl);
  a.origin = AccessOrigin::kImplicitSupervisor;
  return a;
}

TEST(Rights, ErrorCodeExamplesOfSection5) {  // PF1-PF8
  auto user_page = [](u64 extra = 0) {
    return [extra](PageTables& pt, CpuState&) { pt.map(kVaU, kFrame, kUser | extra); };
  };
  auto absent = [](PageTables& pt, CpuState&) { pt.map(kVaU, kFrame, 0); };
  auto reserved = [](PageTables& pt, CpuState&) { pt.map(kVaU, kFrame | (u64{1} << 47), kUser); };
  const std::vector<ErrorCodeRow> rows = {
      {"supervisor read, not present", absent, Access::read(0), 0x00, 0x00},
      {"supervisor write, not present", absent, Access::write(0), 0x02, 0x02},
      {"user read, not present", absent, Access::read(3), 0x04, 0x04},
      {"user write, not present", absent, Access::write(3), 0x06, 0x06},
      {"user fetch, not present, NXE=1", absent, Access::fetch(3), 0x14, 0x14},
      {"supervisor fetch, not present, NXE=0 SMEP=0",
       [](PageTables& pt, CpuState& s) {
         pt.map(kVaU, kFrame, 0);
         s.efer &= ~reg::kEferNxe;
       },
       Access::fetch(0), 0x00, 0x00},
      {"supervisor read, reserved bit", reserved, Access::read(0), 0x09, 0x08},
      {"user write, reserved bit", reserved, Access::write(3), 0x0F, 0x0E},
      {"supervisor fetch, XD set while NXE=0",
       [](PageTables& pt, CpuState& s) {
         pt.map(kVaU, kFrame, kUser | kXd);
         s.efer &= ~reg::kEferNxe;
       },
       Access::fetch(0), 0x09, 0x08},
      {"supervisor fetch, reserved bit, NXE=1", reserved, Access::fetch(0), 0x19, 0x18},
      {"user read of a supervisor page",
       [](PageTables& pt, CpuState&) { pt.map(kVaU, kFrame, kP | kRw); }, Access::read(3), 0x05,
       0x05},
      {"user write to a read-only user page",
       [](PageTables& pt, CpuState&) { pt.map(kVaU, kFrame, kP | kUs); }, Access::write(3), 0x07,
       0x07},
      {"supervisor write to a read-only page, WP=1",
       [](PageTables& pt, CpuState&) { pt.map(kVaU, kFrame, kP); }, Access::write(0), 0x03, 0x03},
      {"supervisor read of a user page, SMAP, AC=0",
       [](PageTables& pt, CpuState& s) {
         pt.map(kVaU, kFrame, kUser);
         s.cr4 |= reg::kCr4Smap;
       },
       Access::read(0), 0x01, 0x01},
      {"implicit supervisor read at CPL 3, SMAP",
       [](PageTables& pt, CpuState& s) {
         pt.map(kVaU, kFrame, kUser);
         s.cr4 |= reg::kCr4Smap;
       },
       implicit_read(3), 0x01, 0x01},
      {"supervisor fetch from a user page, SMEP",
       [](PageTables& pt, CpuState& s) {
         pt.map(kVaU, kFrame, kUser);
         s.cr4 |= reg::kCr4Smep;
       },
       Access::fetch(0), 0x11, 0x11},
      {"user fetch from an XD page, NXE=1", user_page(kXd), Access::fetch(3), 0x15, 0x15},
      {"user fetch from a supervisor page, NXE=0, SMEP=0",
       [](PageTables& pt, CpuState& s) {
         pt.map(kVaU, kFrame, kP | kRw);
         s.efer &= ~reg::kEferNxe;
       },
       Access::fetch(3), 0x05, 0x05},
      {"user write, PKRU.WD",
       [](PageTables& pt, CpuState& s) {
         pt.map(kVaU, kFrame, kUser | (u64{3} << 59));
         s.cr4 |= reg::kCr4Pke;
         s.pkru = 0x80;
       },
       Access::write(3), 0x27, 0x27},
      {"user read, PKRU.AD",
       [](PageTables& pt, CpuState& s) {
         pt.map(kVaU, kFrame, kUser | (u64{3} << 59));
         s.cr4 |= reg::kCr4Pke;
         s.pkru = 0x40;
       },
       Access::read(3), 0x25, 0x25},
      {"supervisor write, PKRS.WD, WP=1",
       [](PageTables& pt, CpuState& s) {
         pt.map(kVaU, kFrame, kP | kRw | (u64{5} << 59));
         s.cr4 |= reg::kCr4Pks;
         s.pkrs = 0x800;
       },
       Access::write(0), 0x23, 0x23},
      {"user shadow-stack read of a non-shadow-stack page", user_page(),
       Access{.kind = AccessKind::kShadowStackRead, .cpl = 3}, 0x45, 0x45},
      {"supervisor shadow-stack write to a user page",
       [](PageTables& pt, CpuState&) { pt.map(kVaU, kFrame, kP | kUs | kD); },
       Access{.kind = AccessKind::kShadowStackWrite, .cpl = 0}, 0x43, 0x43},
  };
  for (const ErrorCodeRow& row : rows) {
    for (const Profile& profile : {Profile::sdm(), Profile::qemu72()}) {
      auto mem = testing::make_mem();
      PageTables pt(*mem, 4, 0x1000, 0x2000);
      CpuState s = baseline_state();
      row.setup(pt, s);
      Walker w(*mem, profile);
      w.configure(s);
      const WalkResult r = w.walk(kVaU, row.access, nullptr, nullptr);
      const auto* f = std::get_if<PageFault>(&r.outcome);
      ASSERT_NE(f, nullptr) << row.situation << ": " << describe(r.outcome);
      EXPECT_EQ(f->error_code, profile.name == "sdm" ? row.sdm : row.qemu)
          << row.situation << " under " << profile.name;
      EXPECT_EQ(f->cr2, kVaU);
    }
  }
}

class RightsWalkTest : public ::testing::Test {
 protected:
  u32 fault(Access a) {
    Walker w(*mem, Profile::sdm());
    w.configure(state);
    const WalkResult r = w.walk(kVaU, a, nullptr, nullptr);
    const auto* f = std::get_if<PageFault>(&r.outcome);
    EXPECT_NE(f, nullptr) << describe(r.outcome);
    return f ? f->error_code : 0xdead;
  }
  bool allowed(Access a) {
    Walker w(*mem, Profile::sdm());
    w.configure(state);
    return std::holds_alternative<Ok>(w.walk(kVaU, a, nullptr, nullptr).outcome);
  }
  std::unique_ptr<PhysMem> mem = testing::make_mem();
  PageTables pt{*mem, 4, 0x1000, 0x2000};
  CpuState state = baseline_state();
};

TEST_F(RightsWalkTest, RightsAreCombinedOverAllLevels) {  // D3 (V30, V31, V32, V37)
  pt.map(kVaU, kFrame, kUser);
  pt.set(0x17D0, 0x2003);  // U/S=0 only in the PML4E
  EXPECT_EQ(fault(Access::read(3)), 0x5u);
  pt.set(0x17D0, 0x2007);
  pt.set(0x2D90, 0x3005);  // R/W=0 only in the PDPTE
  EXPECT_EQ(fault(Access::write(3)), 0x7u);
  EXPECT_TRUE(allowed(Access::read(3)));
  pt.set(0x2D90, 0x8000000000003007);  // XD only in the PDPTE
  EXPECT_EQ(fault(Access::fetch(3)), 0x15u);
}

TEST_F(RightsWalkTest, KeyComesFromTheLeafOnly) {  // PK1 (V59)
  pt.map(kVaU, kFrame, kUser, Level::kPte, kUser | (u64{0xF} << 59));
  state.cr4 |= reg::kCr4Pke;
  state.pkru = 0xC0000000;  // denies key 15 only
  EXPECT_TRUE(allowed(Access::write(3)));
  pt.set_entry(kVaU, Level::kPte, pt.entry(kVaU, Level::kPte) | (u64{0xF} << 59));
  EXPECT_EQ(fault(Access::write(3)), 0x27u);
}

TEST_F(RightsWalkTest, ShadowStackPageThroughAWalk) {  // SS1, SS2 (V66, V67, V69)
  pt.map(kVaU, kFrame, kP | kUs | kD);
  EXPECT_TRUE(allowed(Access{.kind = AccessKind::kShadowStackWrite, .cpl = 3}));
  EXPECT_EQ(fault(Access::write(3)), 0x7u);
  pt.set_entry(kVaU, Level::kPde, pt.entry(kVaU, Level::kPde) & ~kRw);
  EXPECT_EQ(fault(Access{.kind = AccessKind::kShadowStackRead, .cpl = 3}), 0x45u);
}

}  // namespace
}  // namespace pagesim::mmu
