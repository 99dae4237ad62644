// Access rights: the combined rights of a translation (D3) and the decision whether an access is
// allowed (AR1-AR11, PK1-PK7, SS1-SS4), plus the page-fault error code of each kind of fault
// (PF1-PF8).
//
// The same evaluation serves walks and TLB hits (AR11, T5): a TLB entry caches the combined
// rights, the key and the leaf's D, and the decision is made again at every access from the
// control state in effect at that moment (D4). It is inline because it runs on every TLB hit.
#pragma once

#include <array>
#include <string_view>

#include "mmu/access.h"
#include "mmu/entry_bits.h"
#include "mmu/page_fault.h"
#include "mmu/profile.h"
#include "sim/cpu_state.h"

namespace pagesim::mmu {

// D3: rights combined over every entry a translation used.
struct Rights {
  static constexpr u8 kWrite = 1;         // AND of R/W over all levels
  static constexpr u8 kUser = 2;          // AND of U/S over all levels
  static constexpr u8 kXd = 4;            // EFER.NXE AND (OR of XD over all levels)
  static constexpr u8 kNonLeafWrite = 8;  // AND of R/W over the non-leaf levels (SS1)
  u8 bits = kWrite | kUser | kNonLeafWrite;

  constexpr bool writable() const { return bits & kWrite; }
  constexpr bool user() const { return bits & kUser; }
  constexpr bool xd() const { return bits & kXd; }
  constexpr bool non_leaf_writable() const { return bits & kNonLeafWrite; }

  // Folds one entry into the combination (Appendix A step 3.4, and 3.6 for Wnl).
  constexpr void fold(u64 e, Support nxe, EntryRole role) {
    if (!(e & entry::kRw)) {
      bits &= static_cast<u8>(~kWrite);
      if (role == EntryRole::kNonLeaf) bits &= static_cast<u8>(~kNonLeafWrite);
    }
    if (!(e & entry::kUs)) bits &= static_cast<u8>(~kUser);
    if (nxe == Support::kYes && (e & entry::kXd)) bits |= kXd;
  }
  constexpr bool operator==(const Rights&) const = default;
};

// Whether the leaf's D bit is set (after the fill, for a TLB entry; T2).
enum class Dirty : u8 { kNo, kYes };

// The rule that decided an access. kAllowed, or the first rule (in the order of section 4.2)
// that denies it; a key rule is named only when no other rule denies (the PK error-code bit is
// reported separately, PK5).
enum class RightsRule : u8 {
  kAllowed,
  kAr1UserToSupervisor,       // AR1: user-mode access to a supervisor-mode address
  kAr2UserWriteReadOnly,      // AR2: user-mode write, W=0
  kAr4SupervisorWriteWp,      // AR4: supervisor write to a supervisor page, CR0.WP=1, W=0
  kAr5SupervisorWriteUserWp,  // AR5: supervisor write to a user page, CR0.WP=1, W=0
  kAr6SupervisorFetchXd,      // AR6: supervisor fetch from an XD supervisor page
  kAr7Smep,                   // AR7: supervisor fetch from a user page with CR4.SMEP=1
  kAr7SupervisorFetchUserXd,  // AR7: supervisor fetch from an XD user page (SMEP=0)
  kAr8UserFetchXd,            // AR8: user fetch from an XD page
  kAr9Smap,                   // AR9: SMAP
  kPk2AccessDisable,          // PK2: PKRU.ADi
  kPk3WriteDisable,           // PK3: PKRU.WDi
  kPk6AccessDisable,          // PK6: IA32_PKRS.ADi
  kPk6WriteDisable,           // PK6: IA32_PKRS.WDi
  kSs2NotShadowStackPage,     // SS1, SS2: shadow-stack access to a page that is not one
  kSs2SupervisorToUserPage,   // SS2: supervisor shadow-stack access to a user page
};

// "AR9 SMAP: supervisor data access to a user page with CR4.SMAP=1", ...
std::string_view rights_rule_name(RightsRule r);

enum class PkFault : u8 { kNo, kYes };

struct RightsDecision {
  RightsRule rule = RightsRule::kAllowed;
  PkFault pk = PkFault::kNo;  // PK5: the key rules deny this data access
  constexpr bool allowed() const { return rule == RightsRule::kAllowed; }
};

// The control state the rules read (D4), digested once per register change, plus the profile
// knobs that change a decision or an error code.
struct RightsContext {
  static constexpr u8 kWp = 1, kSmep = 2, kSmap = 4, kPke = 8, kPks = 16, kNxe = 32;
  u8 flags = kWp | kNxe;
  u32 pkru = 0;
  u32 pkrs = 0;
  ImplicitSmap implicit_smap = ImplicitSmap::kIgnoreAc;
  PkUserToSupervisor pk_user_to_supervisor = PkUserToSupervisor::kReport;
  RsvdFaultP rsvd_fault_p = RsvdFaultP::kSet;

  constexpr bool has(u8 f) const { return (flags & f) != 0; }
  constexpr bool operator==(const RightsContext&) const = default;

  static RightsContext from(const CpuState& s, const Profile& p) {
    RightsContext c;
    c.flags = static_cast<u8>((s.wp() ? kWp : 0) | (s.smep() ? kSmep : 0) | (s.smap() ? kSmap : 0) |
                              (s.pke() ? kPke : 0) | (s.pks() ? kPks : 0) | (s.nxe() ? kNxe : 0));
    c.pkru = s.pkru;
    c.pkrs = s.pkrs;
    c.implicit_smap = p.implicit_smap;
    c.pk_user_to_supervisor = p.pk_user_to_supervisor;
    c.rsvd_fault_p = p.rsvd_fault_p;
    return c;
  }
};

// AR9: whether SMAP forbids a supervisor-mode data access to a user-mode address.
constexpr bool smap_forbids(const Access& a, const RightsContext& c) {
  if (!c.has(RightsContext::kSmap)) return false;
  if (a.origin == AccessOrigin::kImplicitSupervisor) {
    // SDM: implicit accesses ignore AC. Q4: QEMU's MMU index for them honours AC at CPL < 3.
    return !(c.implicit_smap == ImplicitSmap::kHonourAcBelowCpl3 && a.cpl < 3 && a.ac == Ac::kSet);
  }
  return a.ac == Ac::kClear;
}

// PK2, PK3, PK6: the key rule that denies a data access through a page with rights `r` and key
// `key`, if any. A user-mode address is governed by PKRU (CR4.PKE), a supervisor-mode one by
// IA32_PKRS (CR4.PKS); PKRU never governs supervisor pages nor PKRS user pages (PK6).
constexpr RightsRule key_rule(const Access& a, Rights r, unsigned key, const RightsContext& c) {
  const bool user_page = r.user();
  const bool enabled = user_page ? c.has(RightsContext::kPke) : c.has(RightsContext::kPks);
  if (!enabled) return RightsRule::kAllowed;
  const u32 reg = user_page ? c.pkru : c.pkrs;
  const bool ad = (reg >> (2 * key)) & 1;
  const bool wd = (reg >> (2 * key + 1)) & 1;
  if (ad) return user_page ? RightsRule::kPk2AccessDisable : RightsRule::kPk6AccessDisable;
  // PK3/PK6: WD denies user-mode writes, and supervisor-mode writes while CR0.WP=1. Shadow-stack
  // writes are treated as writes here (Bochs; the spec leaves this open, SS4).
  if (wd && a.is_write() && (a.is_user_mode() || c.has(RightsContext::kWp))) {
    return user_page ? RightsRule::kPk3WriteDisable : RightsRule::kPk6WriteDisable;
  }
  return RightsRule::kAllowed;
}

// PK4, PK5: the key rules govern data accesses only, and are evaluated whether or not another
// rule already denies. A user-mode access to a supervisor page is checked against PKRS only
// under the SDM-literal reading (knob pk_on_user_to_supervisor, Q5).
constexpr bool keys_apply(const Access& a, bool user_page, const RightsContext& c) {
  return a.is_data() &&
         !(a.is_user_mode() && !user_page && c.pk_user_to_supervisor == PkUserToSupervisor::kOmit);
}

// Section 4.2-4.4: the decision for access `a` through a translation with combined rights `r`,
// leaf D `dirty` and protection key `key`, under control state `c`.
constexpr RightsDecision evaluate_rights(Rights r, Dirty dirty, unsigned key, const Access& a,
                                         const RightsContext& c) {
  const bool user_mode = a.is_user_mode();
  const bool user_page = r.user();
  RightsRule rule = RightsRule::kAllowed;
  if (user_mode && !user_page) {
    rule = RightsRule::kAr1UserToSupervisor;  // AR1
  } else {
    switch (a.kind) {
      case AccessKind::kFetch:
        if (!user_mode && user_page && c.has(RightsContext::kSmep)) {
          rule = RightsRule::kAr7Smep;  // AR7; SMAP and AC never affect fetches
        } else if (r.xd()) {
          rule = user_mode   ? RightsRule::kAr8UserFetchXd
                 : user_page ? RightsRule::kAr7SupervisorFetchUserXd
                             : RightsRule::kAr6SupervisorFetchXd;
        }
        break;
      case AccessKind::kRead:
        if (!user_mode && user_page && smap_forbids(a, c)) rule = RightsRule::kAr9Smap;
        break;
      case AccessKind::kWrite:
        if (user_mode) {
          if (!r.writable()) rule = RightsRule::kAr2UserWriteReadOnly;  // AR2
        } else if (user_page && smap_forbids(a, c)) {
          rule = RightsRule::kAr9Smap;  // AR5 first applies AR9's condition
        } else if (c.has(RightsContext::kWp) && !r.writable()) {
          rule = user_page ? RightsRule::kAr5SupervisorWriteUserWp  // AR5
                           : RightsRule::kAr4SupervisorWriteWp;     // AR4
        }
        break;
      case AccessKind::kShadowStackRead:
      case AccessKind::kShadowStackWrite: {
        // SS1: leaf R/W=0 and D=1 with every non-leaf R/W=1 (W is the AND over all levels, so
        // !writable() with non_leaf_writable() means the leaf has R/W=0).
        const bool ss_page = r.non_leaf_writable() && !r.writable() && dirty == Dirty::kYes;
        if (!ss_page) {
          rule = RightsRule::kSs2NotShadowStackPage;
        } else if (!user_mode && user_page) {
          rule = RightsRule::kSs2SupervisorToUserPage;  // SS2
        }
        break;
      }
    }
  }
  RightsDecision d{.rule = rule};
  // PK1-PK6 (keys_apply: PK4, PK5, Q5).
  if (keys_apply(a, user_page, c)) {
    const RightsRule k = key_rule(a, r, key, c);
    if (k != RightsRule::kAllowed) {
      d.pk = PkFault::kYes;
      if (d.rule == RightsRule::kAllowed) d.rule = k;
    }
  }
  return d;
}

// A memo of evaluate_rights() for one RightsContext, so that a TLB hit or a walk decides an
// allowed access with a table lookup (AR11, D4: the decision is still made at every access from
// the control state in effect; only its computation is remembered).
//
// The decision splits exactly in two: evaluate_rights() allows an access iff the rules of
// section 4.2-4.4 allow it (a function of the combined rights and D; they never read the key
// registers) and the key rules do not deny it (PK1-PK6: a function of the combined U/S and the
// key, when keys_apply()). So for each access class (kind, CPL, origin, AC: everything of an
// access the rules read, D1, D2, AR9) one 64-bit word holds both halves: bit (rights | D << 4)
// for the rules, bit 32 + (U/S << 4 | key) for the keys. A class's word is computed from
// evaluate_rights() and key_rule() themselves the first time it is needed after a context
// change. Only "allowed" is answered here; a denial is decided again by evaluate_rights(), which
// names the rule and the PK bit.
class RightsMemo {
 public:
  static constexpr unsigned kNoClass = 256;

  // The access's class (0..255), or kNoClass if a field is outside its range (such an access is
  // decided by evaluate_rights() directly).
  static constexpr unsigned access_class(const Access& a) {
    const unsigned kind = static_cast<unsigned>(a.kind);
    const unsigned origin = static_cast<unsigned>(a.origin);
    const unsigned ac = static_cast<unsigned>(a.ac);
    if (kind > 7 || a.cpl > 3 || origin > 3 || ac > 1) return kNoClass;
    return kind | (unsigned{a.cpl} << 3) | (origin << 5) | (ac << 7);
  }

  // Forgets every class when the context changes.
  void set_context(const RightsContext& c) {
    if (c == ctx_ && started_) return;
    ctx_ = c;
    started_ = true;
    known_ = {};
  }
  const RightsContext& context() const { return ctx_; }

  // evaluate_rights(r, dirty, key, a, context()).allowed(), `cls` being access_class(a).
  bool allows(unsigned cls, Rights r, Dirty dirty, unsigned key, const Access& a) {
    if (cls >= kNoClass) [[unlikely]] {
      return evaluate_rights(r, dirty, key, a, ctx_).allowed();
    }
    if (!((known_[cls / 64] >> (cls % 64)) & 1)) [[unlikely]]
      learn(cls);
    const u64 m = words_[cls];
    const unsigned rule_bit = (r.bits & 15u) | (dirty == Dirty::kYes ? 16u : 0u);
    const unsigned key_bit = 32u + (r.user() ? 16u : 0u) + (key & 15u);
    return ((m >> rule_bit) & (m >> key_bit) & 1) != 0;
  }

 private:
  void learn(unsigned cls) {
    Access a;
    a.kind = static_cast<AccessKind>(cls & 7);
    a.cpl = static_cast<u8>((cls >> 3) & 3);
    a.origin = static_cast<AccessOrigin>((cls >> 5) & 3);
    a.ac = static_cast<Ac>((cls >> 7) & 1);
    // The rules alone: without CR4.PKE and CR4.PKS, key_rule() never denies.
    RightsContext no_keys = ctx_;
    no_keys.flags &= static_cast<u8>(~(RightsContext::kPke | RightsContext::kPks));
    u64 m = 0;
    for (unsigned i = 0; i < 32; ++i) {
      const Rights r{.bits = static_cast<u8>(i & 15)};
      const Dirty d = (i & 16) ? Dirty::kYes : Dirty::kNo;
      if (evaluate_rights(r, d, 0, a, no_keys).allowed()) m |= u64{1} << i;
    }
    // The keys alone: they read only the combined U/S of the rights.
    for (unsigned i = 0; i < 32; ++i) {
      const bool user_page = (i & 16) != 0;
      const Rights r{.bits = user_page ? Rights::kUser : u8{0}};
      if (!keys_apply(a, user_page, ctx_) || key_rule(a, r, i & 15, ctx_) == RightsRule::kAllowed) {
        m |= u64{1} << (32 + i);
      }
    }
    words_[cls] = m;
    known_[cls / 64] |= u64{1} << (cls % 64);
  }

  RightsContext ctx_;
  bool started_ = false;
  std::array<u64, 4> known_{};  // which classes' words are computed
  std::array<u64, 256> words_{};
};

// PF2, PF3, PF5, PF7: the error-code bits that describe the access, common to every fault.
constexpr u32 access_error_bits(const Access& a, const RightsContext& c) {
  u32 ec = 0;
  if (a.is_write()) ec |= pf::kW;
  if (a.is_user_mode()) ec |= pf::kU;
  if (a.is_fetch() && (c.has(RightsContext::kSmep) || c.has(RightsContext::kNxe))) ec |= pf::kId;
  if (a.is_shadow_stack()) ec |= pf::kSs;
  return ec;
}

// F1, PF1: not-present fault.
constexpr u32 not_present_error_code(const Access& a, const RightsContext& c) {
  return access_error_bits(a, c);
}

// F2, PF1, PF4: reserved-bit fault; P=1 unless the profile reproduces QEMU (Q1).
constexpr u32 reserved_error_code(const Access& a, const RightsContext& c) {
  return access_error_bits(a, c) | pf::kRsvd | (c.rsvd_fault_p == RsvdFaultP::kSet ? pf::kP : 0u);
}

// PF1, PF6: rights violation; P=1, PK per PK5.
constexpr u32 rights_error_code(const Access& a, const RightsContext& c, RightsDecision d) {
  return access_error_bits(a, c) | pf::kP | (d.pk == PkFault::kYes ? pf::kPk : 0u);
}

}  // namespace pagesim::mmu
