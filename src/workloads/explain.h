// `pagesim explain`: one access on one simulated CPU, step by step and level by level, for
// people learning paging (docs/tutorial.md) and for developers checking a walk.
//
// Nothing here decides an outcome. The access is translated by the CPU's own Mmu (TLB, paging-
// structure caches, walker) and, when the TLB answered, walked again by a fresh mmu::Walker on
// the same memory to show what the tables say; the text only names what those records contain
// (the WalkRecord of each level, the rights decision, the error code) and the rules of
// docs/spec/x86-64-paging.md behind them.
//
// Translating changes the machine as a real access would (a TLB fill, A/D bits, INV6 on a
// fault), so explain after whatever it explains: `pagesim explain` runs it once the replay has
// finished (ReplayOptions::inspect).
#pragma once

#include <string>

#include "mmu/access.h"
#include "mmu/mmu.h"
#include "sim/phys_mem.h"

namespace pagesim::wl {

// ANSI colours in the text (`--color`): the command decides from isatty(stdout).
enum class Color : u8 { kOff, kOn };

// How much to say: every step (kFull), or the TLB's answer, the walk path and the verdict
// in a few lines (kBrief, `--brief`).
enum class Detail : u8 { kFull, kBrief };

// How the explanation names what it is looking at.
struct ExplainSubject {
  std::string cpu_name = "CPU 0";
  // What the CPU's CR3 holds, e.g. "user space 1" or "the kernel page table"; empty if unknown.
  std::string space_name;
};

// Translates `a` at `va` on `cpu` and explains it: the address split into indexes, the TLB
// lookup, each level's entry address, raw value and decision, the rights accumulated level by
// level and the rule that decided, the outcome (physical address or page fault and its error
// code), and, when the TLB answered, what a walk of the tables finds and whether the cached
// translation is stale.
std::string explain_access(PhysMem& mem, mmu::Mmu& cpu, VAddr va, const mmu::Access& a,
                           const ExplainSubject& who, Color color, Detail detail = Detail::kFull);

// Why a walk ended in a page fault: "not present: the PDE has P=0" with rule "F1", "SMAP:
// supervisor data access to a user page with AC=0" with "AR9", ... (from the walk record).
struct FaultCause {
  std::string text;
  std::string rule;
};
FaultCause fault_cause(const mmu::WalkRecord& walk, const CpuState& state);

// The verdict line alone, e.g. "SMAP: supervisor data access to a user page with AC=0 -> page
// fault, error code 0x1 (AR9)", for an outcome and the walk that produced it.
std::string explain_verdict(const mmu::Outcome& o, const mmu::WalkRecord& walk,
                            const CpuState& state);

}  // namespace pagesim::wl
