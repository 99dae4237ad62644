#include "mmu/walk_record.h"

#include <fmt/format.h>

#include "mmu/entry_bits.h"

namespace pagesim::mmu {

std::string_view level_decision_name(LevelDecision d) {
  switch (d) {
    case LevelDecision::kNotPresent:
      return "not present (F1)";
    case LevelDecision::kReserved:
      return "reserved bit set (F2)";
    case LevelDecision::kNonLeaf:
      return "next table";
    case LevelDecision::kLeaf:
      return "leaf";
    case LevelDecision::kBusError:
      return "outside simulated RAM";
    case LevelDecision::kCoveredByPsc:
      return "covered by a paging-structure cache entry (T13)";
  }
  return "?";
}

std::string_view walk_end_name(WalkEnd e) {
  switch (e) {
    case WalkEnd::kTranslated:
      return "translated";
    case WalkEnd::kNotPresent:
      return "not-present page fault";
    case WalkEnd::kReserved:
      return "reserved-bit page fault";
    case WalkEnd::kRightsDenied:
      return "rights violation page fault";
    case WalkEnd::kBusError:
      return "walk bus error";
    case WalkEnd::kNonCanonical:
      return "non-canonical address";
  }
  return "?";
}

std::string WalkRecord::explain(unsigned maxphyaddr) const {
  std::string out =
      fmt::format("walk of {} for a {} ({}-level paging)\n", va, describe(access), paging_levels);
  for (u8 i = 0; i < count; ++i) {
    const LevelRecord& r = levels[i];
    const EntryRole role =
        r.decision == LevelDecision::kLeaf ? EntryRole::kLeaf : EntryRole::kNonLeaf;
    if (r.source == EntrySource::kAbovePscEntry) {
      out += fmt::format("  {:<5} [{:3}]  (covered by a paging-structure cache entry)\n",
                         level_name(r.level), r.index);
      continue;
    }
    out += fmt::format("  {:<5} [{:3}] @{:#x}: {}", level_name(r.level), r.index,
                       r.entry_address.value(), entry::describe(r.raw, r.level, role, maxphyaddr));
    if (r.source == EntrySource::kPscEntry) out += "  [from the paging-structure cache]";
    if (r.source == EntrySource::kUnbackedZero) out += "  [outside RAM, read as 0]";
    out += fmt::format(" -> {}", level_decision_name(r.decision));
    if (r.decision == LevelDecision::kReserved) {
      out += fmt::format(": {} (bits {:#x})", reserved_rule_name(r.reserved_rule), r.reserved_bits);
    }
    if (r.a_d_written) {
      out += fmt::format("; set {}{} -> {:#018x}", (r.a_d_written & entry::kA) ? "A" : "",
                         (r.a_d_written & entry::kD) ? "D" : "", r.raw_after);
    }
    out += '\n';
  }
  if (rights_evaluated == RightsEvaluated::kYes) {
    out +=
        fmt::format("  rights: {}, {}, {}{} -> {}{}\n", rights.user() ? "user" : "supervisor",
                    rights.writable() ? "writable" : "read-only",
                    rights.xd() ? "execute-disable" : "executable",
                    rights.non_leaf_writable() ? "" : ", a non-leaf entry is read-only",
                    rights_rule_name(decision.rule), decision.pk == PkFault::kYes ? " (PK)" : "");
  }
  if (restarts)
    out += fmt::format("  restarted {} time(s) after a failed A/D update (AD5)\n", restarts);
  out += fmt::format("  => {}\n", walk_end_name(end));
  return out;
}

}  // namespace pagesim::mmu
