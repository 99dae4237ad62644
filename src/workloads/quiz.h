// `pagesim quiz`: paging exercises in the style of OS-course homework, with a separate answer
// key, reproducible from a seed.
//
// The generator only builds machines: page tables written entry by entry into a small simulated
// RAM, a control state, and the accesses to ask about. Every answer is computed by the real
// hardware model (mmu::Mmu: its walker, and the teaching TLB for the TLB exercises), never by a
// second model; the tests check the key against a fresh walker.
//
// Kinds:
//  - translate: the tables are given as raw entries; translate virtual addresses (user reads);
//  - faults: pages with different rights under a given CR0/CR4/EFER; which accesses fault, and
//    with which error code;
//  - tlb: a sequence of reads on the teaching TLB (4-entry L1 DTLB, 8-entry L2, LRU); which hit
//    L1, which hit L2, which walk, and how many misses in all.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "mmu/access.h"
#include "mmu/mmu.h"
#include "sim/cpu_state.h"
#include "sim/result.h"

namespace pagesim::wl {

enum class QuizKind : u8 { kTranslate, kFaults, kTlb };
std::string_view quiz_kind_name(QuizKind k);

struct QuizOptions {
  u64 seed = 1;
  std::vector<QuizKind> kinds{QuizKind::kTranslate, QuizKind::kFaults, QuizKind::kTlb};
  unsigned count = 1;  // exercises of each kind
};

// A table the student is given: its level and address, and its non-zero entries.
struct QuizTable {
  mmu::Level level = mmu::Level::kPml4e;
  u64 pa = 0;
  std::vector<std::pair<unsigned, u64>> entries;  // (index, value), by index
};

// The machine of one exercise, everything the answers depend on.
struct QuizMachine {
  CpuState state;                 // CR3 is the root table
  std::vector<QuizTable> tables;  // root first, then by address
  std::string tlb = "none";       // TLB shape name (mmu::TlbShape::named)
};

struct QuizQuestion {
  VAddr va;
  mmu::Access access;
  // Filled by the real MMU:
  mmu::Outcome outcome;
  mmu::TranslationSource source = mmu::TranslationSource::kNone;
  std::string reason;  // the walk path or the rule that decided, from the walk record
};

struct QuizExercise {
  QuizKind kind = QuizKind::kTranslate;
  unsigned number = 1;
  QuizMachine machine;
  std::vector<QuizQuestion> questions;
  std::vector<std::string> mapped;  // tlb: the pages the sequence uses, as text
};

struct Quiz {
  QuizOptions options;
  std::vector<QuizExercise> exercises;
};

// Builds the exercises and computes every answer on a real Mmu.
Result<Quiz, std::string> make_quiz(const QuizOptions& options);

// Writes the machine of `m` into `mem` (entries at their addresses).
Result<void, std::string> load_quiz_machine(PhysMem& mem, const QuizMachine& m);

// The RAM a quiz machine needs (tables only; frames are never read).
inline constexpr u64 kQuizRam = 16 * MiB;

std::string quiz_questions_text(const Quiz& q);
std::string quiz_answers_text(const Quiz& q);

}  // namespace pagesim::wl
