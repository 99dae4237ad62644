// RightsMemo (src/mmu/rights.h) is an implementation cache of evaluate_rights(): for every
// control state, access, combination of rights, D bit and protection key, it must answer
// exactly what evaluate_rights() decides. Checked exhaustively over the access classes, rights,
// D and keys, for every combination of the six control flags and of the profile knobs, with
// key registers that deny in different ways, through one memo whose context keeps changing
// (so a class remembered under an old context would be caught).
#include <gtest/gtest.h>

#include <array>

#include "mmu/rights.h"

namespace pagesim::mmu {
namespace {

// Every access the memo classifies: 5 kinds x 4 CPLs x 3 origins x 2 AC values.
std::vector<Access> every_access() {
  std::vector<Access> out;
  for (unsigned kind = 0; kind <= static_cast<unsigned>(AccessKind::kShadowStackWrite); ++kind) {
    for (u8 cpl = 0; cpl <= 3; ++cpl) {
      for (unsigned origin = 0; origin <= static_cast<unsigned>(AccessOrigin::kWruss); ++origin) {
        for (unsigned ac = 0; ac <= 1; ++ac) {
          Access a;
          a.kind = static_cast<AccessKind>(kind);
          a.cpl = cpl;
          a.origin = static_cast<AccessOrigin>(origin);
          a.ac = static_cast<Ac>(ac);
          out.push_back(a);
        }
      }
    }
  }
  return out;
}

// Which (rights, D, key) the memo gets wrong for access `a` under `c`; 0 if none.
int disagreements(RightsMemo& memo, const Access& a, const RightsContext& c) {
  const unsigned cls = RightsMemo::access_class(a);
  EXPECT_NE(cls, RightsMemo::kNoClass);
  int wrong = 0;
  for (unsigned bits = 0; bits < 16; ++bits) {
    const Rights r{.bits = static_cast<u8>(bits)};
    for (const Dirty d : {Dirty::kNo, Dirty::kYes}) {
      for (unsigned key = 0; key < 16; ++key) {
        const bool want = evaluate_rights(r, d, key, a, c).allowed();
        if (memo.allows(cls, r, d, key, a) != want) {
          if (wrong++ == 0) {
            ADD_FAILURE() << "memo disagrees: kind " << int(a.kind) << " cpl " << int(a.cpl)
                          << " origin " << int(a.origin) << " ac " << int(a.ac) << " rights "
                          << bits << " dirty " << int(d) << " key " << key << " flags "
                          << int(c.flags) << " pkru " << c.pkru << " pkrs " << c.pkrs
                          << ": evaluate_rights says " << (want ? "allowed" : "denied");
          }
        }
      }
    }
  }
  return wrong;
}

TEST(RightsMemo, AgreesWithEvaluateRightsEverywhere) {
  // Key registers: none, one that denies access (AD) to some keys and writes (WD) to others,
  // and its mirror, so PKRU and PKRS deny different keys.
  constexpr std::array<std::pair<u32, u32>, 3> kKeyRegs{
      {{0, 0}, {0x9C3A'5E61u, 0x2B84'D317u}, {0x2B84'D317u, 0x9C3A'5E61u}}};
  const std::vector<Access> accesses = every_access();
  RightsMemo memo;
  int wrong = 0;
  for (unsigned flags = 0; flags < 64; ++flags) {
    for (const auto& [pkru, pkrs] : kKeyRegs) {
      for (const ImplicitSmap is : {ImplicitSmap::kIgnoreAc, ImplicitSmap::kHonourAcBelowCpl3}) {
        for (const PkUserToSupervisor pk :
             {PkUserToSupervisor::kReport, PkUserToSupervisor::kOmit}) {
          RightsContext c;
          c.flags = static_cast<u8>(flags);
          c.pkru = pkru;
          c.pkrs = pkrs;
          c.implicit_smap = is;
          c.pk_user_to_supervisor = pk;
          memo.set_context(c);
          ASSERT_EQ(memo.context(), c);
          for (const Access& a : accesses) wrong += disagreements(memo, a, c);
          ASSERT_EQ(wrong, 0) << "stopping at the first context with a disagreement";
        }
      }
    }
  }
}

TEST(RightsMemo, ForgetsWhatItLearnedWhenTheContextChanges) {
  Access write;
  write.kind = AccessKind::kWrite;  // supervisor-mode (CPL 0) data write
  const unsigned cls = RightsMemo::access_class(write);
  const Rights read_only{.bits = Rights::kUser};  // a user page without R/W
  RightsMemo memo;
  RightsContext wp_off;
  wp_off.flags = RightsContext::kNxe;
  memo.set_context(wp_off);
  EXPECT_TRUE(memo.allows(cls, read_only, Dirty::kYes, 0, write)) << "CR0.WP=0: AR4 allows";
  RightsContext wp_on = wp_off;
  wp_on.flags |= RightsContext::kWp;
  memo.set_context(wp_on);
  EXPECT_FALSE(memo.allows(cls, read_only, Dirty::kYes, 0, write)) << "CR0.WP=1: AR3 denies";
  memo.set_context(wp_off);
  EXPECT_TRUE(memo.allows(cls, read_only, Dirty::kYes, 0, write));
}

TEST(RightsMemo, AccessesOutsideTheClassesAreDecidedDirectly) {
  Access odd;
  odd.cpl = 4;  // not a privilege level: no class, evaluate_rights() decides
  EXPECT_EQ(RightsMemo::access_class(odd), RightsMemo::kNoClass);
  RightsMemo memo;
  RightsContext c;
  memo.set_context(c);
  for (unsigned bits = 0; bits < 16; ++bits) {
    const Rights r{.bits = static_cast<u8>(bits)};
    EXPECT_EQ(memo.allows(RightsMemo::kNoClass, r, Dirty::kNo, 0, odd),
              evaluate_rights(r, Dirty::kNo, 0, odd, c).allowed())
        << bits;
  }
}

}  // namespace
}  // namespace pagesim::mmu
