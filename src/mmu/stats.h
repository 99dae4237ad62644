// Counters of one Mmu (one CPU): translations by where they were served from, faults, the T6/T7
// re-walks, and invalidations by kind. Per-structure TLB counters live in TlbStats and per-level
// entry reads in WalkerStats; format_stats() prints the three together.
#pragma once

#include <array>
#include <string>

#include "mmu/tlb.h"
#include "mmu/walker.h"

namespace pagesim::mmu {

struct MmuStats {
  u64 translations = 0;
  u64 l1_hits = 0;     // translations served by a first-level TLB
  u64 l2_hits = 0;     // translations served by a second-level TLB
  u64 psc_walks = 0;   // walks that started from a paging-structure-cache entry (T13)
  u64 full_walks = 0;  // walks that started at CR3
  u64 non_canonical = 0;
  u64 page_faults = 0;
  u64 bus_errors = 0;
  u64 dirty_rewalks = 0;    // T6: a write hit a clean entry
  u64 deny_rewalks = 0;     // T7 rewalk: a hit denied the access
  u64 spurious_faults = 0;  // T7 spurious_fault: a fault from cached rights
  u64 invlpg = 0;
  std::array<u64, 4> invpcid{};  // by type
  u64 cr3_loads = 0;
  u64 cr3_no_flush = 0;         // MOV to CR3 with bit 63 set (PCIDE=1)
  u64 full_flushes = 0;         // everything dropped (INV4, INV5, INV8, Q8, machine flushes)
  u64 fault_invalidations = 0;  // INV6
};

// A human-readable report: translations, walks, entry reads per level, and one line per TLB
// array and paging-structure cache with its hits, misses, fills and evictions.
std::string format_stats(const MmuStats& m, const WalkerStats& w, const TlbStats& t,
                         const TlbShape& shape);

}  // namespace pagesim::mmu
