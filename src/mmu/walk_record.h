// The record of one page walk, level by level (W9): what `pagesim explain` prints and what the
// checker and the conformance runner read. Its fields are part of pagesim's interface: keep
// them stable.
#pragma once

#include <array>
#include <string>

#include "mmu/access.h"
#include "mmu/level.h"
#include "mmu/reserved_bits.h"
#include "mmu/rights.h"
#include "sim/addr.h"

namespace pagesim::mmu {

// What the walker decided at one level.
enum class LevelDecision : u8 {
  kNotPresent,    // F1: P=0; the walk ends with a not-present page fault
  kReserved,      // F2: a reserved bit is set; the walk ends with a reserved-bit page fault
  kNonLeaf,       // references the next table; the walk goes on
  kLeaf,          // maps the page (W7)
  kBusError,      // the entry is outside simulated RAM (spec section 0)
  kCoveredByPsc,  // not read: the walk started below it from a paging-structure cache (T13)
};

// Where the value of a level came from.
enum class EntrySource : u8 {
  kMemory,         // one acquire load from simulated RAM (W8)
  kUnbackedZero,   // outside RAM, read as 0 (knob unbacked_memory=reads_zero)
  kPscEntry,       // the deepest PSC entry used: its value as cached when it was made (T13)
  kAbovePscEntry,  // above that PSC entry: neither read nor known to this walk
};

struct LevelRecord {
  Level level = Level::kPml4e;
  u16 index = 0;        // W2
  PAddr entry_address;  // W3 (zero for kAbovePscEntry)
  u64 raw = 0;          // the value read (the last read, after any restart)
  u64 raw_after = 0;    // the value after this walk's A/D writes
  EntrySource source = EntrySource::kMemory;
  LevelDecision decision = LevelDecision::kNonLeaf;
  ReservedRule reserved_rule = ReservedRule::kNone;  // for kReserved: the first rule hit
  u64 reserved_bits = 0;                             // for kReserved: every offending bit
  u8 table_pat_index = 0;  // MT3: PAT index of the access that read this entry
  u8 a_d_written = 0;      // entry::kA | entry::kD bits this walk set in the entry (W9)
};

// How the walk ended.
enum class WalkEnd : u8 {
  kTranslated,    // Ok
  kNotPresent,    // page fault, F1
  kReserved,      // page fault, F2
  kRightsDenied,  // page fault, AR/PK/SS rules
  kBusError,      // WalkBusError
  kNonCanonical,  // NonCanonical: no level was read (L3)
};

// Whether the rights rules were evaluated (only when the walk reached a valid leaf, F3).
enum class RightsEvaluated : u8 { kNo, kYes };

struct WalkRecord {
  VAddr va;
  Access access;
  u8 paging_levels = 4;  // W1: 4 or 5
  u8 count = 0;          // levels[0..count) are valid, root first
  std::array<LevelRecord, kMaxLevels> levels{};
  u32 restarts = 0;  // AD5: walks restarted after a failed compare-and-swap
  Rights rights;     // D3, combined over the levels used (valid once a leaf was reached)
  RightsEvaluated rights_evaluated = RightsEvaluated::kNo;
  RightsDecision decision;  // the rights decision when evaluated
  WalkEnd end = WalkEnd::kTranslated;

  void reset(VAddr v, const Access& a, int nr_levels) {
    va = v;
    access = a;
    paging_levels = static_cast<u8>(nr_levels);
    count = 0;
    rights = Rights{};
    rights_evaluated = RightsEvaluated::kNo;
    decision = RightsDecision{};
    end = WalkEnd::kTranslated;
  }
  LevelRecord& push() { return levels[count++]; }

  // A multi-line, level-by-level explanation (one line per level, then the rights decision),
  // naming entries and bits with MAXPHYADDR `maxphyaddr`.
  std::string explain(unsigned maxphyaddr) const;
};

std::string_view level_decision_name(LevelDecision d);
std::string_view walk_end_name(WalkEnd e);

}  // namespace pagesim::mmu
