// Statistics of a replay: operations, pages, TLB behaviour, walks, shootdowns, faults; printed
// as a table for people and as JSON for machines (docs/replay.md has the JSON schema).
#pragma once

#include <array>
#include <string>
#include <vector>

#include "mmu/stats.h"
#include "workloads/trace_op.h"

namespace pagesim::wl {

inline constexpr size_t kNrOpKinds = static_cast<size_t>(OpKind::kExpectEntry) + 1;
std::string_view op_kind_name(OpKind k);

struct CpuReplayStats {
  u16 cpu = 0;
  std::array<u64, kNrOpKinds> ops{};
  u64 reads = 0, writes = 0, fetches = 0;
  u64 faults = 0;               // accesses that ended in #PF
  u64 non_canonical = 0;        // #GP / #SS
  u64 pages_mapped = 0;         // in 4 KiB units
  u64 pages_unmapped = 0;       // pages (of any size) removed
  u64 pages_protected = 0;      // in 4 KiB units
  u64 shootdowns_sent = 0;      // shootdown requests this CPU sent (one per target CPU)
  u64 shootdowns_received = 0;  // requests it serviced
  u64 local_invalidations = 0;
  u64 entries_checked = 0;
  u64 pins_checked = 0;
  u64 mismatches = 0;
  mmu::MmuStats mmu;
  mmu::WalkerStats walker;
  mmu::TlbStats tlb;
};

struct ReplayStats {
  std::string file;
  MachineConfig machine;
  u64 lines = 0;
  double seconds = 0;
  u64 peak_frames_in_use = 0;
  u64 frames_in_use_at_end = 0;  // the page tables and mapped frames still held at the end
  std::vector<CpuReplayStats> cpus;

  u64 total_ops() const;
  std::string table(std::string_view verdict) const;
  std::string json(std::string_view verdict, u64 mismatches) const;
};

}  // namespace pagesim::wl
