// The IA-32e page walker, 4-level and 5-level (spec sections 1-7 and Appendix A).
//
// A Walker belongs to one simulated CPU and is used by that CPU's thread only. It reads the raw
// entries in simulated RAM with one acquire load each (W8) while other threads (the simulated
// OS) may change them, and sets accessed and dirty bits with a compare-and-swap against the value
// it read, restarting the walk when the entry changed meanwhile (AD5): a concurrent software
// store is never overwritten and A/D never land in an entry the walker did not see.
//
// Contract: `configure()` must be called after every change of the CPU state before the next
// walk; the walker digests the state into masks and flags once, so a walk reads no register.
// The walker knows nothing of TLBs: the Mmu looks up the TLB and the paging-structure caches,
// passes a PSC start point if it has one, and fills the caches from the result.
#pragma once

#include <array>

#include "mmu/access.h"
#include "mmu/level.h"
#include "mmu/outcome.h"
#include "mmu/profile.h"
#include "mmu/reserved_bits.h"
#include "mmu/rights.h"
#include "mmu/walk_record.h"
#include "sim/cpu_state.h"
#include "sim/phys_mem.h"

namespace pagesim::mmu {

// A point below the root where a walk starts, supplied by a paging-structure cache (T13): the
// skipped levels are neither read nor written.
struct WalkStart {
  Level level = Level::kPte;  // the first level read from memory
  PAddr table;                // the table of that level
  Rights rights;              // rights accumulated over the skipped levels (T11)
  u8 table_pat_index = 0;     // MT3: from the PSC entry's PWT/PCD
  PAddr psc_entry_address;    // the PSC entry's own entry, as cached (for the record)
  u64 psc_entry_value = 0;
};

// A non-leaf entry a successful walk read from memory, for a paging-structure-cache fill (T12).
struct NonLeafStep {
  Level level = Level::kPml4e;
  PAddr entry_address;
  u64 value = 0;  // after this walk set A
  PAddr next_table;
  Rights rights;          // accumulated down to and including this entry
  u8 next_table_pat = 0;  // MT3
};

struct WalkResult {
  Outcome outcome;
  // Non-leaf levels read from memory by a successful walk, root first (empty on a fault).
  std::array<NonLeafStep, kMaxLevels - 1> non_leaf{};
  u8 non_leaf_count = 0;
};

// The non-leaf steps of a walk without its outcome (the Mmu's scratch: the outcome is written
// straight into the Translation).
struct NonLeafSteps {
  std::array<NonLeafStep, kMaxLevels - 1> non_leaf{};
  u8 count = 0;
};

struct WalkerStats {
  std::array<u64, kMaxLevels + 1> entry_reads{};  // indexed by level number (1..5)
  u64 walks = 0;
  u64 restarts = 0;   // AD5
  u64 ad_writes = 0;  // successful compare-and-swaps that set A and/or D
  u64 cas_failures = 0;
};

class Walker {
 public:
  Walker(PhysMem& mem, const Profile& profile);

  // Digests the CPU state (CR0.WP, CR3, CR4, EFER.NXE, PKRU, PKRS, IA32_PAT). Call after every
  // change. The state must be one the Mmu accepted (C4).
  void configure(const CpuState& state);

  // Translates `va` for `access` by walking the tables (Appendix A). `start`, if given, is a
  // paging-structure-cache hit to begin from. `record`, if given, receives the walk level by
  // level (W9). Non-canonical addresses are rejected before any entry is read (L3, L4).
  WalkResult walk(VAddr va, const Access& access, const WalkStart* start, WalkRecord* record);

  // The same, writing into `out`; the non-leaf steps (for paging-structure-cache fills) are
  // collected only when `collect` asks for them. The hot path of Mmu::translate.
  enum class CollectSteps : u8 { kNo, kYes };
  void walk(VAddr va, const Access& access, const WalkStart* start, WalkRecord* record,
            CollectSteps collect, WalkResult& out);

  // The same, writing the outcome into `out` and the steps into `steps`; `access_class` is
  // RightsMemo::access_class(access) (the caller has it already).
  void walk(VAddr va, const Access& access, unsigned access_class, const WalkStart* start,
            WalkRecord* record, CollectSteps collect, Outcome& out, NonLeafSteps& steps);

  int levels() const { return levels_; }
  const RightsContext& rights_context() const { return rights_; }

  // evaluate_rights(r, dirty, key, access, rights_context()).allowed(), from a memo (AR11, T5:
  // the TLB's hits ask this at every access). `access_class` is RightsMemo::access_class().
  bool rights_allow(unsigned access_class, Rights r, Dirty dirty, unsigned key,
                    const Access& access) {
    return rights_memo_.allows(access_class, r, dirty, key, access);
  }
  const WalkerStats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }

 private:
  enum class Recording : u8 { kOff, kOn };
  void walk_to(VAddr va, const Access& a, unsigned cls, const WalkStart* start, WalkRecord* rec,
               CollectSteps collect, Outcome& out, NonLeafStep* steps, u8& count);
  // The general walk: every rule, every profile. One instantiation per combination, so a walk
  // that records nothing pays nothing for it.
  template <Recording R, CollectSteps C>
  void walk_impl(VAddr va, const Access& a, const WalkStart* start, WalkRecord* rec, Outcome& out,
                 NonLeafStep* steps, u8& count);
  // The common case of a canonical address without a record: every entry inside RAM, present,
  // free of reserved bits and already accessed (and the leaf dirty for a write), so the walk
  // writes nothing. Returns false, having changed nothing observable, as soon as anything else
  // shows up; the caller then runs walk_impl, which re-reads the tables and decides it.
  template <CollectSteps C>
  bool walk_fast(VAddr va, const Access& a, unsigned cls, const WalkStart* start, Outcome& out,
                 NonLeafStep* steps, u8& count);

  enum class CasResult : u8 { kDone, kFailed };
  // AD5/Q7: sets `bits` in the entry at `pa`, conditional on it still holding `seen` (all 64
  // bits, or bits 31:0 under ad_update=cas32_restart_level).
  CasResult set_bits(PAddr pa, u64 seen, u64 bits);
  // What a walk does after trying to set A in the entry `e` it just read from `addr` (AD4,
  // Q2): go on (A set in memory and in `e`, and recorded), re-read this level (a lost race
  // under Q7) or restart from the root (a lost race, AD5).
  enum class AfterSetA : u8 { kGoOn, kRereadLevel, kRestart };
  template <Recording R>
  AfterSetA set_accessed(PAddr addr, u64& e, WalkRecord* rec, LevelRecord* r);

  PhysMem& mem_;
  const Profile profile_;

  // Digested state (configure()).
  int levels_ = 4;
  PAddr root_;
  u8 root_pat_ = 0;
  u64 addr_mask_ = 0;
  Support nxe_ = Support::kYes;
  Support pge_ = Support::kNo;
  u64 pat_msr_ = reg::kPatPowerOn;
  ReservedMasks rsvd_;
  RightsContext rights_;
  bool gb_leaf_ok_ = true;  // PDPTE.PS=1 maps a 1 GiB page (R6 unless gbpages_check=ignore)
  // By level number: whether PS=1 makes the entry a leaf (W7), and the reserved mask of the
  // entry as a leaf and as a non-leaf (R2-R7), so a level needs no switch.
  std::array<bool, kMaxLevels + 1> ps_leaf_{};
  std::array<u64, kMaxLevels + 1> leaf_mask_{};
  std::array<u64, kMaxLevels + 1> table_mask_{};
  // By level number, for walk_fast: the bits of an entry that must equal those of P|A for it to
  // be a present, accessed non-leaf entry without reserved bits (P, A, PS where PS would make a
  // leaf, and the reserved mask of a non-leaf entry).
  std::array<u64, kMaxLevels + 1> fast_table_check_{};
  u64 entry_limit_ = 0;  // the highest entry address inside RAM: mem size - 8
  RightsMemo rights_memo_;

  WalkerStats stats_;
};

}  // namespace pagesim::mmu
