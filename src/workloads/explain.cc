#include "workloads/explain.h"

#include <fmt/format.h>

#include <initializer_list>
#include <string_view>
#include <variant>
#include <vector>

#include "mmu/entry_bits.h"
#include "mmu/memory_type.h"
#include "mmu/page_fault.h"
#include "mmu/rights.h"
#include "mmu/walker.h"
#include "workloads/pte_format.h"

namespace pagesim::wl {

namespace {

using mmu::Level;
using mmu::LevelDecision;
using mmu::LevelRecord;
using mmu::WalkRecord;

// ANSI SGR sequences; only emitted with Color::kOn.
constexpr std::string_view kBold = "1";
constexpr std::string_view kRed = "1;31";
constexpr std::string_view kGreen = "1;32";
constexpr std::string_view kYellow = "1;33";
constexpr std::string_view kCyan = "36";

struct Painter {
  Color color;
  std::string operator()(std::string_view sgr, std::string_view text) const {
    if (color == Color::kOff) return std::string(text);
    return fmt::format("\x1b[{}m{}\x1b[0m", sgr, text);
  }
};

// Concatenation without `"literal" + std::string` chains (g++ 12 warns falsely on them,
// -Wrestrict).
std::string cat(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (const std::string_view p : parts) s += p;
  return s;
}

// "PML4 table", "page directory (PD)", ...: a table named for people.
std::string table_title(Level l) {
  switch (l) {
    case Level::kPdpte:
      return "page-directory-pointer table (PDPT)";
    case Level::kPde:
      return "page directory (PD)";
    case Level::kPte:
      return "page table (PT)";
    default:
      return fmt::format("{} table", table_name(l));
  }
}

std::string bits_of(u64 v, unsigned width) {
  std::string s;
  for (unsigned i = width; i-- > 0;) s += ((v >> i) & 1) ? '1' : '0';
  return s;
}

std::string rights_text(mmu::Rights r) {
  return fmt::format("{}, {}, {}", r.user() ? "user" : "supervisor",
                     r.writable() ? "writable" : "read-only",
                     r.xd() ? "execute-disable" : "executable");
}

std::string_view kind_word(const mmu::Access& a) { return mmu::access_kind_name(a.kind); }

// "P=1 R/W=1 U/S=1 PWT=0 PCD=0 A=1 D=0 PAT=0 G=0 XD=0": every flag of the entry's form.
std::string flag_line(u64 raw, Level level) {
  namespace e = mmu::entry;
  const EntryForm form = entry_form(raw, level);
  auto b = [raw](u64 bit) { return (raw & bit) ? 1 : 0; };
  std::string s = fmt::format("P={} R/W={} U/S={} PWT={} PCD={} A={}", b(e::kP), b(e::kRw),
                              b(e::kUs), b(e::kPwt), b(e::kPcd), b(e::kA));
  if (form == EntryForm::kTable) {
    if (level == Level::kPde || level == Level::kPdpte) s += " PS=0";
  } else if (form == EntryForm::kPage4K) {
    s += fmt::format(" D={} PAT={} G={}", b(e::kD), b(e::kPatPte), b(e::kG));
  } else {
    s += fmt::format(" D={} PS=1 G={} PAT={}", b(e::kD), b(e::kG), b(e::kPatLarge));
  }
  s += fmt::format(" XD={}", b(e::kXd));
  if (form != EntryForm::kTable) s += fmt::format(" key={}", e::pkey(raw));
  return s;
}

enum class BitValue : u8 { kZero, kOne };

// The levels among those read whose entry has `bit` equal to `want`, as "the PTE" or
// "the PDPTE and the PTE".
std::string levels_with(const WalkRecord& w, u64 bit, BitValue want) {
  const bool want_set = want == BitValue::kOne;
  std::vector<std::string_view> names;
  for (u8 i = 0; i < w.count; ++i) {
    const LevelRecord& r = w.levels[i];
    if (r.decision != LevelDecision::kNonLeaf && r.decision != LevelDecision::kLeaf) continue;
    if (r.source == mmu::EntrySource::kAbovePscEntry) continue;
    if (((r.raw & bit) != 0) == want_set) names.push_back(mmu::level_name(r.level));
  }
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) s += i + 1 == names.size() ? " and the " : ", the ";
    s += names[i];
  }
  return names.empty() ? std::string() : cat({"the ", s});
}

// The rule id at the start of a rights-rule name ("AR9 SMAP: ..." -> "AR9").
std::string_view rule_id(mmu::RightsRule r) {
  const std::string_view n = mmu::rights_rule_name(r);
  return n.substr(0, n.find(' '));
}

// Why a denied access is denied, in words, with the control state that matters.
std::string denial_text(const mmu::RightsDecision& d, const mmu::Access& a, unsigned key,
                        const CpuState& s) {
  switch (d.rule) {
    case mmu::RightsRule::kAr1UserToSupervisor:
      return fmt::format("user-mode {} of a supervisor page", kind_word(a));
    case mmu::RightsRule::kAr2UserWriteReadOnly:
      return "user-mode write to a read-only page";
    case mmu::RightsRule::kAr4SupervisorWriteWp:
      return "supervisor write to a read-only supervisor page with CR0.WP=1";
    case mmu::RightsRule::kAr5SupervisorWriteUserWp:
      return "supervisor write to a read-only user page with CR0.WP=1";
    case mmu::RightsRule::kAr6SupervisorFetchXd:
      return "supervisor fetch from an execute-disable page";
    case mmu::RightsRule::kAr7Smep:
      return "SMEP: supervisor fetch from a user page with CR4.SMEP=1";
    case mmu::RightsRule::kAr7SupervisorFetchUserXd:
      return "supervisor fetch from an execute-disable user page";
    case mmu::RightsRule::kAr8UserFetchXd:
      return "user-mode fetch from an execute-disable page";
    case mmu::RightsRule::kAr9Smap:
      if (a.origin == mmu::AccessOrigin::kImplicitSupervisor) {
        return "SMAP: implicit supervisor access to a user page (AC does not matter for "
               "implicit accesses)";
      }
      return "SMAP: supervisor data access to a user page with AC=0";
    case mmu::RightsRule::kPk2AccessDisable:
      return fmt::format(
          "protection key {}: PKRU.AD{}=1 (PKRU {:#x}) disables data accesses to "
          "user pages with this key",
          key, key, s.pkru);
    case mmu::RightsRule::kPk3WriteDisable:
      return fmt::format(
          "protection key {}: PKRU.WD{}=1 (PKRU {:#x}) disables writes to user "
          "pages with this key",
          key, key, s.pkru);
    case mmu::RightsRule::kPk6AccessDisable:
      return fmt::format(
          "protection key {}: IA32_PKRS.AD{}=1 (PKRS {:#x}) disables data "
          "accesses to supervisor pages with this key",
          key, key, s.pkrs);
    case mmu::RightsRule::kPk6WriteDisable:
      return fmt::format(
          "protection key {}: IA32_PKRS.WD{}=1 (PKRS {:#x}) disables writes to "
          "supervisor pages with this key",
          key, key, s.pkrs);
    default: {
      const std::string_view n = mmu::rights_rule_name(d.rule);
      return std::string(n.substr(n.find(' ') + 1));
    }
  }
}

// Which rule allows an allowed access, in words (section 4.2; the decision itself was the
// walker's or the TLB hit's).
std::string allowed_text(const mmu::Access& a, mmu::Rights r, const CpuState& s) {
  const bool user_page = r.user();
  if (a.is_shadow_stack()) return "a shadow-stack access to a shadow-stack page (SS1, SS2)";
  if (a.is_user_mode()) {
    switch (a.kind) {
      case mmu::AccessKind::kRead:
        return "a user-mode read of a user page (AR3)";
      case mmu::AccessKind::kWrite:
        return "a user-mode write to a writable user page (AR2)";
      default:
        return "a user-mode fetch from an executable user page (AR8)";
    }
  }
  switch (a.kind) {
    case mmu::AccessKind::kRead:
      if (!user_page) return "a supervisor read of a supervisor page (AR10)";
      return s.smap() ? "a supervisor read of a user page: SMAP is on, but AC=1 lets this "
                        "explicit access through (AR9)"
                      : "a supervisor read of a user page with CR4.SMAP=0 (AR9)";
    case mmu::AccessKind::kWrite: {
      std::string smap;
      if (user_page) {
        smap =
            s.smap() ? "SMAP is on, but AC=1 lets this explicit access through; " : "CR4.SMAP=0; ";
      }
      const std::string why = !s.wp()        ? "CR0.WP=0, so R/W does not restrict supervisor "
                                               "writes"
                              : r.writable() ? "the page is writable"
                                             : "?";
      return fmt::format("a supervisor write to a {} page: {}{} ({})",
                         user_page ? "user" : "supervisor", smap, why, user_page ? "AR5" : "AR4");
    }
    default:
      if (!user_page) return "a supervisor fetch from an executable supervisor page (AR6)";
      return "a supervisor fetch from an executable user page with CR4.SMEP=0 (AR7)";
  }
}

// Error-code bits by name and meaning (PF1-PF7).
std::string error_code_text(u32 ec) {
  namespace pf = mmu::pf;
  std::vector<std::string> parts;
  parts.push_back(ec & pf::kP ? "P=1 (a protection or reserved-bit fault, PF1)"
                              : "P=0 (a not-present page, PF1)");
  parts.push_back(ec & pf::kW ? "W/R=1 (a write, PF2)" : "W/R=0 (a read or fetch, PF2)");
  parts.push_back(ec & pf::kU ? "U/S=1 (a user-mode access, PF3)"
                              : "U/S=0 (a supervisor-mode access, PF3)");
  if (ec & pf::kRsvd) parts.push_back("RSVD=1 (a reserved bit, PF4)");
  if (ec & pf::kId) parts.push_back("I/D=1 (an instruction fetch, PF5)");
  if (ec & pf::kPk) parts.push_back("PK=1 (a protection key, PF6)");
  if (ec & pf::kSs) parts.push_back("SS=1 (a shadow-stack access, PF7)");
  std::string s;
  for (size_t i = 0; i < parts.size(); ++i) s += (i ? ", " : "") + parts[i];
  return s;
}

const LevelRecord* failing_level(const WalkRecord& w) {
  for (u8 i = 0; i < w.count; ++i) {
    const LevelDecision d = w.levels[i].decision;
    if (d == LevelDecision::kNotPresent || d == LevelDecision::kReserved ||
        d == LevelDecision::kBusError) {
      return &w.levels[i];
    }
  }
  return nullptr;
}

const LevelRecord* leaf_level(const WalkRecord& w) {
  for (u8 i = 0; i < w.count; ++i) {
    if (w.levels[i].decision == LevelDecision::kLeaf) return &w.levels[i];
  }
  return nullptr;
}

std::string bit_numbers(u64 mask) {
  std::string s;
  for (unsigned b = 0; b < 64; ++b) {
    if ((mask >> b) & 1) s += fmt::format("{}{}", s.empty() ? "" : ", ", b);
  }
  return s;
}

// The TLB's counters around one translation: their difference says what the lookup did.
struct TlbSnapshot {
  mmu::TlbStats tlb;
};

// What the lookup did in each structure, from the counters before and after: "L1 DTLB miss,
// L2 TLB hit".
std::string lookup_text(const mmu::TlbShape& shape, const TlbSnapshot& before,
                        const TlbSnapshot& after) {
  std::string s;
  for (size_t i = 0; i < shape.arrays.size() && i < after.tlb.arrays.size(); ++i) {
    const u64 hits = after.tlb.arrays[i].hits - before.tlb.arrays[i].hits;
    const u64 misses = after.tlb.arrays[i].misses - before.tlb.arrays[i].misses;
    if (hits == 0 && misses == 0) continue;
    if (!s.empty()) s += ", ";
    s += fmt::format("{} {}", shape.arrays[i].name, hits ? "hit" : "miss");
  }
  return s;
}

// Whether two outcomes translate the access the same way: the same page and rights, or the
// same fault. (The leaf's D may differ between a TLB entry and memory without anything being
// stale: a TLB hit that reads never looks at D.)
bool same_translation(const mmu::Outcome& x, const mmu::Outcome& y) {
  const auto* ox = std::get_if<mmu::Ok>(&x);
  const auto* oy = std::get_if<mmu::Ok>(&y);
  if (ox && oy) {
    return ox->pa == oy->pa && ox->page_size == oy->page_size &&
           ox->attrs.rights == oy->attrs.rights && ox->attrs.pkey == oy->attrs.pkey;
  }
  return x == y;
}

}  // namespace

FaultCause fault_cause(const WalkRecord& walk, const CpuState& state) {
  if (const LevelRecord* bad = failing_level(walk)) {
    if (bad->decision == LevelDecision::kNotPresent) {
      return {fmt::format("not present: the {} has P=0", mmu::level_name(bad->level)), "F1"};
    }
    if (bad->decision == LevelDecision::kReserved) {
      return {fmt::format("reserved bit {} set in the {}", bit_numbers(bad->reserved_bits),
                          mmu::level_name(bad->level)),
              fmt::format("{}, F2", reserved_rule_id(bad->reserved_rule))};
    }
  }
  if (walk.rights_evaluated == mmu::RightsEvaluated::kYes && !walk.decision.allowed()) {
    const LevelRecord* leaf = leaf_level(walk);
    const unsigned key = leaf ? mmu::entry::pkey(leaf->raw) : 0;
    const std::string_view id = rule_id(walk.decision.rule);
    const bool key_too = walk.decision.pk == mmu::PkFault::kYes && id.substr(0, 2) != "PK";
    // Where the bit that decided sits, for the rules that depend on one bit of the walk.
    std::string where;
    switch (walk.decision.rule) {
      case mmu::RightsRule::kAr1UserToSupervisor:
        where = fmt::format(" (U/S=0 in {})", levels_with(walk, mmu::entry::kUs, BitValue::kZero));
        break;
      case mmu::RightsRule::kAr2UserWriteReadOnly:
      case mmu::RightsRule::kAr4SupervisorWriteWp:
      case mmu::RightsRule::kAr5SupervisorWriteUserWp:
        where = fmt::format(" (R/W=0 in {})", levels_with(walk, mmu::entry::kRw, BitValue::kZero));
        break;
      case mmu::RightsRule::kAr6SupervisorFetchXd:
      case mmu::RightsRule::kAr7SupervisorFetchUserXd:
      case mmu::RightsRule::kAr8UserFetchXd:
        where = fmt::format(" (XD=1 in {})", levels_with(walk, mmu::entry::kXd, BitValue::kOne));
        break;
      default:
        break;
    }
    return {denial_text(walk.decision, walk.access, key, state) + where,
            fmt::format("{}{}", id, key_too ? ", and the key denies it too: PK5" : "")};
  }
  return {"the cached rights deny the access", "T7"};
}

std::string explain_verdict(const mmu::Outcome& o, const WalkRecord& walk, const CpuState& state) {
  if (const auto* ok = std::get_if<mmu::Ok>(&o)) {
    return fmt::format("allowed → physical address {:#018x} ({} page)", ok->pa.value(),
                       mmu::page_size_name(ok->page_size));
  }
  if (const auto* f = std::get_if<mmu::PageFault>(&o)) {
    const FaultCause c = fault_cause(walk, state);
    return fmt::format("{} → page fault, error code {:#x} ({})", c.text, f->error_code, c.rule);
  }
  if (const auto* nc = std::get_if<mmu::NonCanonical>(&o)) {
    return fmt::format("non-canonical address → {} (L3): no walk, no TLB lookup, no page fault",
                       nc->vector == mmu::NcVector::kSs ? "#SS(0)" : "#GP(0)");
  }
  const auto& b = std::get<mmu::WalkBusError>(o);
  return fmt::format("the {} at {:#x} lies outside simulated RAM → walk bus error (pagesim only)",
                     mmu::level_name(b.level), b.entry_address.value());
}

std::string explain_access(PhysMem& mem, mmu::Mmu& cpu, VAddr va, const mmu::Access& a,
                           const ExplainSubject& who, Color color, Detail detail) {
  const Painter paint{color};
  // `o` is the full explanation; `b` the brief one (Detail::kBrief), built alongside.
  std::string b;
  const CpuState state = cpu.state();
  const mmu::Profile& profile = cpu.profile();
  const unsigned m = profile.maxphyaddr;
  const int levels = state.levels();
  std::string o;

  // --- Header: the access and the control state it is judged under (D4). ---
  o += cat({paint(kBold,
                  fmt::format("{} of {:#018x} on {}", mmu::describe(a), va.value(), who.cpu_name)),
            "\n"});
  b = o;
  o += fmt::format(
      "  CR3 {:#018x}{}{}\n  CR0.WP={}  CR4: PGE={} PCIDE={} SMEP={} SMAP={} PKE={} PKS={} "
      "LA57={}  EFER.NXE={}  PKRU {:#x}  PKRS {:#x}\n",
      state.cr3, state.pcide() ? fmt::format(" (PCID {})", state.pcid()) : "",
      who.space_name.empty() ? "" : fmt::format(": {}", who.space_name), state.wp() ? 1 : 0,
      state.pge() ? 1 : 0, state.pcide() ? 1 : 0, state.smep() ? 1 : 0, state.smap() ? 1 : 0,
      state.pke() ? 1 : 0, state.pks() ? 1 : 0, state.la57() ? 1 : 0, state.nxe() ? 1 : 0,
      state.pkru, state.pkrs);

  // --- Step 1: the address (W2, L1, L2). ---
  o += cat({"\n", paint(kBold, "Step 1 — split the address into indexes (W2)"), "\n"});
  const u64 v = va.value();
  const unsigned top_bit = mmu::linear_address_bits(levels) - 1;  // 47 or 56
  std::string split = fmt::format("  {:#018x} =", v);
  for (int n = levels; n >= 1; --n) {
    const Level l = mmu::level_from_number(n);
    split += fmt::format(" {} {:#05x} |", table_name(l), mmu::level_index(va, l));
  }
  split += fmt::format(" offset {:#05x}", v & 0xfff);
  o += cat({paint(kCyan, split), "\n"});
  const bool canonical = mmu::is_canonical(va, levels);
  const u64 sign = v >> (top_bit + 1);
  o += fmt::format("    bits 63:{:<2}  {:<12}  {} copies of bit {} ({}): {} ({})\n", top_bit + 1,
                   fmt::format("{:#0{}x}", sign, 2 + (64 - top_bit) / 4),
                   canonical ? "all" : "NOT all", top_bit, (v >> top_bit) & 1,
                   canonical ? "canonical" : paint(kRed, "not canonical"),
                   levels == 5 ? "L2" : "L1");
  for (int n = levels; n >= 1; --n) {
    const Level l = mmu::level_from_number(n);
    const unsigned lo = mmu::level_shift(l);
    const unsigned idx = mmu::level_index(va, l);
    o += fmt::format(
        "    bits {}:{:<2}  {:<12}  {} index {:#05x} = {} → entry offset {} × 8 = "
        "{:#x}\n",
        lo + 8, lo, bits_of(idx, 9), table_name(l), idx, idx, idx, idx * 8);
  }
  o += fmt::format("    bits 11:0   {}  offset {:#05x} within a 4 KiB page\n",
                   bits_of(v & 0xfff, 12), v & 0xfff);

  if (!canonical) {
    WalkRecord none;
    const mmu::Translation t = cpu.translate(va, a, &none);
    o += cat({"\n", paint(kBold, "Step 2 — the outcome"), "\n"});
    o += cat({"  ", paint(kRed, explain_verdict(t.outcome, none, state)), "\n"});
    o += "  Before any TLB lookup or table read, the CPU checks that the address is canonical "
         "(L3, L4);\n  a non-canonical address never reaches the page tables, and CR2 is left "
         "unchanged.\n";
    b += cat({"  ", paint(kRed, explain_verdict(t.outcome, none, state)), "\n"});
    return detail == Detail::kBrief ? b : o;
  }

  // --- Step 2: what the CPU does first: its TLB (section 8). ---
  TlbSnapshot before{cpu.tlb().stats()};
  WalkRecord cpu_walk;
  const mmu::Translation t = cpu.translate(va, a, &cpu_walk);
  TlbSnapshot after{cpu.tlb().stats()};
  const mmu::TlbShape& shape = cpu.tlb().shape();
  // A hit that served the access (a spurious fault from a hit is not one, T7).
  const bool hit =
      (t.source == mmu::TranslationSource::kL1Hit || t.source == mmu::TranslationSource::kL2Hit) &&
      std::holds_alternative<mmu::Ok>(t.outcome);

  o += cat({"\n", paint(kBold, "Step 2 — look in the TLB first (T5)"), "\n"});
  const std::string lookup = lookup_text(shape, before, after);
  if (shape.arrays.empty()) {
    b += "  TLB: none\n";
  } else if (hit) {
    b += fmt::format("  TLB: {} → the cached translation is used (T8)\n", lookup);
  } else {
    b += fmt::format(
        "  TLB: {} → {}{}\n", lookup,
        t.rewalk == mmu::Rewalk::kDirtyRule   ? "a clean entry cannot take a write: walk (T6)"
        : t.rewalk == mmu::Rewalk::kDeniedHit ? "the cached rights deny: walk (T7)"
        : t.spurious == mmu::Translation::Spurious::kYes ? "the cached rights deny: fault (T7)"
                                                         : "walk",
        t.source == mmu::TranslationSource::kPscWalk ? " from the paging-structure cache (T13)"
                                                     : "");
  }
  if (shape.arrays.empty()) {
    o += fmt::format("  {} has no TLB (TLB shape '{}'): every access walks the tables.\n",
                     who.cpu_name, shape.name);
  } else if (hit) {
    const auto& ok = std::get<mmu::Ok>(t.outcome);
    const u64 page = ok.pa.value() & ~(mmu::page_bytes(ok.page_size) - 1);
    o += fmt::format("  {} → {} uses the cached translation and reads no memory (T8).\n",
                     paint(kGreen, lookup), who.cpu_name);
    o += fmt::format("  The cached entry: page {:#x} → frame {:#x} ({}), {}, D={}, key {}{}.\n",
                     v & ~(mmu::page_bytes(ok.page_size) - 1), page,
                     mmu::page_size_name(ok.page_size), rights_text(ok.attrs.rights),
                     ok.attrs.dirty == mmu::Dirty::kYes ? 1 : 0, ok.attrs.pkey,
                     ok.attrs.global == mmu::Global::kYes ? ", global" : "");
    o += "  Its rights are checked again against the registers of this moment (T5, AR11): "
         "allowed.\n";
    o += "  Step 3 shows, for comparison, what a walk of the tables in memory finds now.\n";
  } else if (t.spurious == mmu::Translation::Spurious::kYes) {
    o += fmt::format(
        "  {}: TLB hit, but the cached rights deny the access: with "
        "tlb_deny_policy=spurious_fault the CPU raises the fault from the cached "
        "entry and drops it (T7, INV6).\n",
        lookup);
  } else {
    if (t.rewalk == mmu::Rewalk::kDirtyRule) {
      o += fmt::format(
          "  {}: TLB hit, but the cached entry is clean (D=0) and this is a write: "
          "the CPU drops it and walks again, to set D in memory (T6).\n",
          lookup);
    } else if (t.rewalk == mmu::Rewalk::kDeniedHit) {
      o += fmt::format(
          "  {}: TLB hit, but the cached rights deny the access: the CPU drops the "
          "entry and walks again (T7, tlb_deny_policy=rewalk).\n",
          lookup);
    } else {
      o += fmt::format("  {} → {} walks the tables.\n", paint(kYellow, lookup), who.cpu_name);
    }
    if (t.source == mmu::TranslationSource::kPscWalk) {
      for (u8 i = 0; i < cpu_walk.count; ++i) {
        const LevelRecord& r = cpu_walk.levels[i];
        if (r.source != mmu::EntrySource::kPscEntry) continue;
        o += fmt::format(
            "  The paging-structure cache holds this address's {} (T11), so the walk starts at "
            "the {}\n  and reads only the levels below it from memory (T13); step 3 shows "
            "every level as memory holds it.\n",
            mmu::level_name(r.level),
            table_title(mmu::level_from_number(mmu::level_number(r.level) - 1)));
      }
    } else if (t.source == mmu::TranslationSource::kWalk && !shape.psc.empty()) {
      o += "  No paging-structure-cache entry covers this address (T13): the walk starts at "
           "CR3.\n";
    }
  }

  // --- Step 3: the walk, level by level. ---
  // The CPU's own walk when it walked from CR3; otherwise (a TLB hit, a walk from a paging-
  // structure cache) a fresh walker on the same memory shows every level as memory holds it.
  WalkRecord walk;
  mmu::Outcome walk_outcome = t.outcome;
  const bool cpu_walked_from_cr3 = t.source == mmu::TranslationSource::kWalk;
  if (cpu_walked_from_cr3) {
    walk = cpu_walk;
  } else {
    mmu::Walker fresh(mem, profile);
    fresh.configure(state);
    walk_outcome = fresh.walk(va, a, nullptr, &walk).outcome;
  }
  o += cat({"\n",
            paint(kBold, cpu_walked_from_cr3
                             ? "Step 3 — walk the tables from CR3 (W1, W3, W8)"
                             : "Step 3 — what a walk of the tables from CR3 finds (W1, W3, W8)"),
            "\n"});
  const u64 root = state.cr3 & mmu::entry::address_mask(m);
  o += fmt::format("  CR3[{}:12] → the {} is at {:#x} (C1, C2)\n", m - 1,
                   table_title(mmu::level_from_number(levels)), root);
  mmu::Rights running;
  const mmu::Support nxe = state.nxe() ? mmu::Support::kYes : mmu::Support::kNo;
  for (u8 i = 0; i < walk.count; ++i) {
    const LevelRecord& r = walk.levels[i];
    const std::string name(mmu::level_name(r.level));
    if (r.source == mmu::EntrySource::kAbovePscEntry) {
      o += fmt::format("  {:<6} not read: covered by a paging-structure-cache entry (T13)\n",
                       name + ":");
      continue;
    }
    const u64 table = r.entry_address.value() & ~u64{0xfff};
    o += fmt::format("  {:<6} entry at {:#x} + {:#05x} × 8 = {:#x}\n", name + ":", table, r.index,
                     r.entry_address.value());
    if (r.decision == LevelDecision::kBusError) {
      o += cat({"         ", paint(kRed, "this address lies outside simulated RAM: walk bus error"),
                "\n"});
      break;
    }
    std::string value_line = fmt::format("         value {:#018x}", r.raw);
    if (r.source == mmu::EntrySource::kUnbackedZero) value_line += " (outside RAM, read as 0)";
    if (r.raw & mmu::entry::kP) {
      const DecodedEntry dec = decode(r.raw, r.level, PteContext::from(profile, nxe));
      value_line += cat({"  ", flag_line(r.raw, r.level)});
      value_line += dec.form == EntryForm::kTable ? fmt::format(" | table {:#x}", dec.fields.addr)
                                                  : fmt::format(" | frame {:#x}", dec.fields.addr);
      if (dec.fields.ignored)
        value_line += fmt::format(" | ignored bits {:#x}", dec.fields.ignored);
    }
    o += value_line + "\n";
    switch (r.decision) {
      case LevelDecision::kNotPresent:
        o += cat({"         ",
                  paint(kRed,
                        "P=0 → not present: the walk stops here (F1); no other bit of "
                        "this entry is looked at (R1)"),
                  "\n"});
        break;
      case LevelDecision::kReserved:
        o += cat({"         ",
                  paint(kRed, fmt::format("reserved bit{} {} set ({}) → the walk stops here (F2)",
                                          (r.reserved_bits & (r.reserved_bits - 1)) ? "s" : "",
                                          bit_numbers(r.reserved_bits),
                                          mmu::reserved_rule_name(r.reserved_rule))),
                  "\n"});
        break;
      case LevelDecision::kNonLeaf: {
        const u64 next = r.raw & mmu::entry::address_mask(m);
        o += fmt::format("         present, no reserved bit{} → next: the {} at {:#x} (W4)\n",
                         r.level == Level::kPde || r.level == Level::kPdpte ? ", PS=0" : "",
                         table_title(mmu::level_from_number(mmu::level_number(r.level) - 1)), next);
        running.fold(r.raw, nxe, mmu::EntryRole::kNonLeaf);
        o += fmt::format("         rights so far: {} (D3)\n", rights_text(running));
        break;
      }
      case LevelDecision::kLeaf: {
        const mmu::PageSize size = mmu::page_size_of_leaf(r.level);
        o += fmt::format(
            "         present, no reserved bit, {} → leaf: a {} page at frame {:#x} (W5, W7)\n",
            r.level == Level::kPte ? "a PTE is always a leaf" : "PS=1", mmu::page_size_name(size),
            mmu::entry::leaf_frame(r.raw, size, m));
        if (size != mmu::PageSize::k4K) {
          // Step 1 split the address for 4 KiB pages; a huge page takes the lower indexes too.
          o += fmt::format(
              "         the walk stops here: VA bits {}:0 = {:#x} are the offset in the "
              "page\n",
              mmu::page_shift(size) - 1, v & (mmu::page_bytes(size) - 1));
        }
        running.fold(r.raw, nxe, mmu::EntryRole::kLeaf);
        o += fmt::format("         rights of the translation: {} (D3)\n", rights_text(running));
        break;
      }
      default:
        break;
    }
    if (r.a_d_written) {
      const bool a_bit = r.a_d_written & mmu::entry::kA;
      const bool d_bit = r.a_d_written & mmu::entry::kD;
      o += fmt::format("         the walk set {} → {:#018x} ({})\n",
                       a_bit && d_bit ? "A and D"
                       : a_bit        ? "A"
                                      : "D",
                       r.raw_after,
                       a_bit && d_bit ? "AD1, AD2"
                       : a_bit        ? "AD1"
                                      : "AD2");
    }
  }
  {
    std::string path;
    for (u8 i = 0; i < walk.count; ++i) {
      const LevelRecord& r = walk.levels[i];
      path += fmt::format("{}{}[{:#05x}]", i ? " → " : "", table_name(r.level), r.index);
      if (r.decision == LevelDecision::kNotPresent) path += ": P=0";
      if (r.decision == LevelDecision::kReserved) {
        path += fmt::format(": reserved bit {}", bit_numbers(r.reserved_bits));
      }
      if (r.decision == LevelDecision::kBusError) path += ": outside RAM";
      if (r.decision == LevelDecision::kLeaf) {
        const mmu::PageSize size = mmu::page_size_of_leaf(r.level);
        path += fmt::format(" = {:#018x}: {} page at frame {:#x}", r.raw, mmu::page_size_name(size),
                            mmu::entry::leaf_frame(r.raw, size, m));
      }
    }
    b += fmt::format("  {}: {}\n", cpu_walked_from_cr3 ? "walk" : "walk now", path);
  }
  if (walk.restarts) {
    o += fmt::format("  (the walk restarted {} time(s): an entry changed under it, AD5)\n",
                     walk.restarts);
  }

  // --- Step 4: the rights (section 4), when the walk reached a leaf (F3). ---
  int step = 4;
  if (walk.rights_evaluated == mmu::RightsEvaluated::kYes) {
    o += cat({"\n", paint(kBold, "Step 4 — check the rights (section 4)"), "\n"});
    const mmu::Rights r = walk.rights;
    std::string where;
    if (!r.user())
      where += fmt::format("; U/S=0 in {}", levels_with(walk, mmu::entry::kUs, BitValue::kZero));
    if (!r.writable()) {
      where += fmt::format("; R/W=0 in {}", levels_with(walk, mmu::entry::kRw, BitValue::kZero));
    }
    if (r.xd())
      where += fmt::format("; XD=1 in {}", levels_with(walk, mmu::entry::kXd, BitValue::kOne));
    o += fmt::format("  the translation: {} page, {}, {}{}\n", r.user() ? "user" : "supervisor",
                     r.writable() ? "writable" : "read-only",
                     r.xd() ? "execute-disable" : "executable", where);
    o += fmt::format("  the access: {}\n", mmu::describe(a));
    const LevelRecord* leaf = leaf_level(walk);
    const unsigned key = leaf ? mmu::entry::pkey(leaf->raw) : 0;
    if (walk.decision.allowed()) {
      o += cat({"  → ", paint(kGreen, "allowed"), ": ", allowed_text(a, r, state), "\n"});
      if (a.is_data() && ((r.user() && state.pke()) || (!r.user() && state.pks()))) {
        o += fmt::format("  protection key {}: {} {:#x} has AD{}=0{} (PK2, PK3, PK6)\n", key,
                         r.user() ? "PKRU" : "IA32_PKRS", r.user() ? state.pkru : state.pkrs, key,
                         a.is_write() ? fmt::format(" and WD{}=0 or does not apply", key) : "");
      }
    } else {
      o += cat({"  → ", paint(kRed, "denied"), ": ", denial_text(walk.decision, a, key, state),
                fmt::format(" ({})", rule_id(walk.decision.rule)), "\n"});
    }
    ++step;
  }

  // --- The outcome: the CPU's (from the TLB or its walk). ---
  o += cat({"\n", paint(kBold, fmt::format("Step {} — the outcome", step)), "\n"});
  const WalkRecord& verdict_walk = hit ? walk : cpu_walk;
  if (const auto* ok = std::get_if<mmu::Ok>(&t.outcome)) {
    const u64 size = mmu::page_bytes(ok->page_size);
    const u64 frame = ok->pa.value() & ~(size - 1);
    o += cat(
        {"  ",
         paint(kGreen, hit ? fmt::format("allowed → physical address {:#018x} ({} page, from the "
                                         "TLB)",
                                         ok->pa.value(), mmu::page_size_name(ok->page_size))
                           : explain_verdict(t.outcome, verdict_walk, state)),
         "\n"});
    o += fmt::format("  PA = frame {:#x} | offset {:#x} (VA bits {}:0) = {:#x} (W6)\n", frame,
                     v & (size - 1), mmu::page_shift(ok->page_size) - 1, ok->pa.value());
    b += cat(
        {"  ",
         paint(kGreen, hit ? fmt::format("allowed: {} → physical address {:#018x} (from the TLB)",
                                         allowed_text(a, ok->attrs.rights, state), ok->pa.value())
                           : fmt::format("allowed: {} → physical address {:#018x}",
                                         allowed_text(a, ok->attrs.rights, state), ok->pa.value())),
         "\n"});
    o += fmt::format("  {} page, PAT index {} → {} (MT1, MT2){}{}\n",
                     mmu::page_size_name(ok->page_size), ok->attrs.pat_index,
                     mmu::memory_type_name(ok->attrs.memory_type),
                     ok->attrs.global == mmu::Global::kYes ? ", global" : "",
                     ok->attrs.pkey ? fmt::format(", key {}", ok->attrs.pkey) : "");
    if (!hit && !shape.arrays.empty()) {
      o += "  The translation is now in the TLB (T1): the next access to this page can hit.\n";
    }
  } else if (const auto* f = std::get_if<mmu::PageFault>(&t.outcome)) {
    o += cat({"  ", paint(kRed, explain_verdict(t.outcome, verdict_walk, state)), "\n"});
    o += fmt::format("  error code {:#x}: {}\n", f->error_code, error_code_text(f->error_code));
    b += cat({"  ", paint(kRed, explain_verdict(t.outcome, verdict_walk, state)), "\n"});
    b += fmt::format("  error code {:#x}: {}\n", f->error_code, error_code_text(f->error_code));
    o += fmt::format(
        "  CR2 = {:#018x} (PF9). Nothing is cached for a faulting access (T1), and "
        "the fault drops\n  what the TLB held for this address (INV6).\n",
        f->cr2.value());
  } else {
    o += cat({"  ", paint(kRed, explain_verdict(t.outcome, verdict_walk, state)), "\n"});
    b += cat({"  ", paint(kRed, explain_verdict(t.outcome, verdict_walk, state)), "\n"});
  }

  // --- A TLB hit or a PSC walk that memory no longer agrees with: a stale translation. ---
  if (!cpu_walked_from_cr3 && !same_translation(walk_outcome, t.outcome)) {
    b += cat({"  ", paint(kYellow, "STALE"),
              ": the tables give: ", explain_verdict(walk_outcome, walk, state), " (T14)\n"});
    o += cat({"\n", paint(kYellow, "STALE TRANSLATION"), "\n"});
    o += fmt::format(
        "  The {} and the tables in memory disagree: the tables give\n    {}\n  but {} used "
        "what it had cached. The tables changed and nothing invalidated this CPU's\n  cached "
        "copy (T14): invalidation is local to each CPU (INV10), so the OS must run INVLPG\n  "
        "(INV1) here or send this CPU a shootdown.\n",
        hit ? "TLB" : "paging-structure cache", explain_verdict(walk_outcome, walk, state),
        who.cpu_name);
  }
  return detail == Detail::kBrief ? b : o;
}

}  // namespace pagesim::wl
