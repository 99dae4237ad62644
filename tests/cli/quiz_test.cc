// `pagesim quiz` (src/workloads/quiz.h): reproducible by seed, and every answer re-checked
// against a fresh walker (translate, faults) or a fresh CPU with the teaching TLB (tlb).
#include "workloads/quiz.h"

#include <gtest/gtest.h>

#include <set>

#include "cli/cli_harness.h"
#include "mmu/mmu.h"
#include "mmu/page_fault.h"
#include "mmu/walker.h"

namespace pagesim::wl {
namespace {

using testing::contains;

Quiz make(u64 seed,
          std::vector<QuizKind> kinds = {QuizKind::kTranslate, QuizKind::kFaults, QuizKind::kTlb},
          unsigned count = 1) {
  auto q = make_quiz(QuizOptions{.seed = seed, .kinds = std::move(kinds), .count = count});
  EXPECT_TRUE(q.ok()) << (q.ok() ? "" : q.error());
  return std::move(q.value());
}

TEST(Quiz, SameSeedSameQuizOtherSeedOtherQuiz) {
  const Quiz a = make(7);
  const Quiz b = make(7);
  const Quiz c = make(8);
  EXPECT_EQ(quiz_questions_text(a), quiz_questions_text(b));
  EXPECT_EQ(quiz_answers_text(a), quiz_answers_text(b));
  EXPECT_NE(quiz_questions_text(a), quiz_questions_text(c));
  // The questions never contain the answers.
  const std::string questions = quiz_questions_text(a);
  EXPECT_FALSE(contains(questions, "page fault")) << questions;
  EXPECT_FALSE(contains(questions, "miss: page walk")) << questions;
  EXPECT_FALSE(contains(questions, "In all:")) << questions;
}

TEST(Quiz, KindsAndCount) {
  const Quiz q = make(3, {QuizKind::kFaults, QuizKind::kTlb}, 2);
  ASSERT_EQ(q.exercises.size(), 4u);
  EXPECT_EQ(q.exercises[0].kind, QuizKind::kFaults);
  EXPECT_EQ(q.exercises[1].kind, QuizKind::kTlb);
  EXPECT_EQ(q.exercises[3].number, 4u);
  const std::string text = quiz_questions_text(q);
  EXPECT_TRUE(contains(text, "Exercise 4 — TLB hits and misses")) << text;
}

// The tables as given to the student are what the answers were computed on: rebuild memory
// from the printed entries and walk again.
TEST(Quiz, TranslateAndFaultAnswersMatchAFreshWalker) {
  std::set<u32> codes;  // the variety the generator produces over the seeds
  unsigned faults = 0;
  unsigned oks = 0;
  for (u64 seed = 1; seed <= 40; ++seed) {
    const Quiz q = make(seed, {QuizKind::kTranslate, QuizKind::kFaults});
    for (const QuizExercise& ex : q.exercises) {
      auto mem = testing::make_mem(kQuizRam);
      ASSERT_TRUE(load_quiz_machine(*mem, ex.machine).ok());
      // The printed tables hold exactly the entries in memory.
      const std::string text = quiz_questions_text(Quiz{q.options, {ex}});
      for (const QuizTable& t : ex.machine.tables) {
        for (const auto& [index, value] : t.entries) {
          EXPECT_TRUE(contains(text, fmt::format("[{:#05x}] {:#018x}", index, value)));
        }
      }
      mmu::Walker w(*mem, mmu::Profile::sdm());
      w.configure(ex.machine.state);
      for (const QuizQuestion& qu : ex.questions) {
        const mmu::WalkResult r = w.walk(qu.va, qu.access, nullptr, nullptr);
        if (const auto* ok = std::get_if<mmu::Ok>(&r.outcome)) {
          const auto* ans = std::get_if<mmu::Ok>(&qu.outcome);
          ASSERT_NE(ans, nullptr) << "seed " << seed << " va " << std::hex << qu.va.value();
          EXPECT_EQ(ans->pa, ok->pa);
          EXPECT_EQ(ans->page_size, ok->page_size);
          ++oks;
        } else {
          const auto* f = std::get_if<mmu::PageFault>(&r.outcome);
          ASSERT_NE(f, nullptr);
          const auto* ans = std::get_if<mmu::PageFault>(&qu.outcome);
          ASSERT_NE(ans, nullptr) << "seed " << seed << " va " << std::hex << qu.va.value();
          EXPECT_EQ(ans->error_code, f->error_code);
          codes.insert(f->error_code);
          ++faults;
        }
      }
      // And the key says the same.
      const std::string key = quiz_answers_text(Quiz{q.options, {ex}});
      for (const QuizQuestion& qu : ex.questions) {
        if (const auto* ok = std::get_if<mmu::Ok>(&qu.outcome)) {
          EXPECT_TRUE(contains(key, fmt::format("→ {:#018x}", ok->pa.value()))) << key;
        } else {
          const auto& f = std::get<mmu::PageFault>(qu.outcome);
          EXPECT_TRUE(contains(key, "error code " + mmu::pf::describe(f.error_code))) << key;
        }
      }
    }
  }
  EXPECT_GT(oks, 40u);
  EXPECT_GT(faults, 40u);
  // Not-present, reserved-bit and rights faults of user and supervisor accesses all occur.
  for (const u32 code : {0x4u, 0x5u, 0x7u, 0xdu}) EXPECT_TRUE(codes.count(code)) << code;
  EXPECT_GE(codes.size(), 8u);
}

TEST(Quiz, TlbAnswersMatchAFreshCpu) {
  unsigned l2_hits = 0;
  for (u64 seed = 1; seed <= 20; ++seed) {
    const Quiz q = make(seed, {QuizKind::kTlb});
    const QuizExercise& ex = q.exercises[0];
    auto mem = testing::make_mem(kQuizRam);
    ASSERT_TRUE(load_quiz_machine(*mem, ex.machine).ok());
    mmu::Mmu cpu(*mem, mmu::Profile::sdm(), mmu::TlbShape::teaching());
    ASSERT_TRUE(cpu.set_state(ex.machine.state).ok());
    unsigned walks = 0;
    for (const QuizQuestion& qu : ex.questions) {
      const mmu::Translation t = cpu.translate(qu.va, qu.access);
      EXPECT_EQ(t.source, qu.source) << "seed " << seed << " va " << std::hex << qu.va.value();
      EXPECT_TRUE(std::holds_alternative<mmu::Ok>(t.outcome));
      if (t.source == mmu::TranslationSource::kL2Hit) ++l2_hits;
      if (t.source == mmu::TranslationSource::kWalk ||
          t.source == mmu::TranslationSource::kPscWalk) {
        ++walks;
      }
    }
    EXPECT_EQ(cpu.stats().psc_walks + cpu.stats().full_walks, walks);
    const std::string key = quiz_answers_text(q);
    EXPECT_TRUE(contains(key, fmt::format("{} page walk", walks))) << key;
  }
  EXPECT_GT(l2_hits, 10u);  // the sequences exercise the second level
}

}  // namespace
}  // namespace pagesim::wl
