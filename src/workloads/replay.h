// Trace replay: one host thread per simulated CPU, barriers across them, a simulated OS that
// maps, unmaps and protects through the ported page table and shoots down other CPUs' TLBs, and
// a checker that compares every access and every changed leaf entry with the reference model
// (DESIGN.md, "workloads"; docs/replay.md).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mmu/mmu.h"
#include "sim/phys_mem.h"
#include "workloads/replay_stats.h"
#include "workloads/trace_error.h"
#include "workloads/trace_parser.h"

namespace pagesim::wl {

enum class CheckLevel : u8 {
  kFull,    // every access judged; every leaf entry an operation changed compared
  kSample,  // every access judged; changed leaf entries sampled (one page in `sample_every`)
  kAccess,  // accesses only
  kNone,    // replay only; pins are still checked
};

// The machine at the end of a replay (or where it stopped), for tools that look at it:
// `explain`, `dump`, `quiz`. Valid only inside ReplayOptions::inspect.
struct MachineView {
  const MachineConfig& machine;
  const mmu::Profile& profile;
  const mmu::TlbShape& tlb;
  PhysMem& mem;
  std::vector<mmu::Mmu*> cpus;           // each CPU's registers, TLB and walker
  std::vector<i64> current_space;        // per CPU: the address space in its CR3 (0 = kernel)
  std::vector<i64> spaces;               // the user address spaces created, in order
  std::function<PAddr(i64 space)> root;  // the root table of a space (0 = kernel)
  u64 last_line = 0;                     // the last trace line performed
};

struct ReplayOptions {
  MachineOverrides overrides;
  CheckLevel check = CheckLevel::kFull;
  u64 sample_every = 64;
  u64 seed = 1;             // picks the sampled pages
  std::string record_path;  // --record OUT: the trace with every outcome pinned
  bool progress = false;    // a progress bar on stderr
  size_t max_reports = 20;  // mismatch reports kept in full

  // For tests of the checker only: called on the CPU's thread after each operation (for map,
  // map_pa, unmap and protect: after the page table changed, before the checks), with the
  // simulated RAM and the root of the address space the operation used, so a test can break the
  // OS side on purpose (a wrong frame, wrong rights, a lost unmap) and see the report.
  std::function<void(const TraceOp& op, PhysMem& mem, PAddr root)> tamper;

  // Stop after this trace line (0: run to the end): the replay performs every statement up to
  // and including it, in file order, as if the trace ended there.
  u64 stop_after_line = 0;
  // Called once at the end, on the calling thread, with every CPU idle.
  std::function<void(MachineView&)> inspect;
};

struct Mismatch {
  std::string file;
  u64 line = 0;
  u16 cpu = 0;
  std::optional<u64> va;
  std::string what;  // "access", "entry", "pin", "stale TLB hit", "race"
  std::string expected;
  std::string actual;
  std::string detail;  // bit by bit
  std::string to_string() const;
};

struct ReplayResult {
  enum class Verdict : u8 { kMatched, kMismatch, kBadInput };
  Verdict verdict = Verdict::kMatched;
  std::optional<TraceError> error;   // kBadInput
  std::vector<Mismatch> mismatches;  // the first max_reports
  u64 mismatch_count = 0;
  ReplayStats stats;
};

// Replays one trace file.
ReplayResult replay_file(const std::string& path, const ReplayOptions& options);
// Replays a trace already opened (tests, in-memory traces).
ReplayResult replay(TraceParser& parser, const ReplayOptions& options);

}  // namespace pagesim::wl
