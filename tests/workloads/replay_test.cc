#include "workloads/replay.h"

#include <fmt/core.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "workloads/reference_model.h"

namespace pagesim::wl {
namespace {

ReplayResult run(const std::string& text, ReplayOptions opt = {}) {
  auto p = TraceParser::from_string("t.trace", text);
  opt.progress = false;
  return replay(*p, opt);
}

std::string reports(const ReplayResult& r) {
  std::string s;
  if (r.error) s += r.error->to_string() + "\n";
  for (const auto& m : r.mismatches) s += m.to_string() + "\n";
  return s;
}

// Entry bits the tests tamper with (x86-64 leaf, spec §2.4).
constexpr u64 kRW = 2, kPWT = 8;

// Points `fn` at the raw leaf entry that maps `va` in the space whose root is `root`.
void with_leaf(PhysMem& mem, PAddr root, VAddr va, const std::function<u64(u64)>& fn) {
  RawLeaf leaf = ReferenceModel::read_leaf(mem, root, 4, va, 0);
  ASSERT_TRUE(leaf.found);
  ASSERT_TRUE(mem.store_entry(leaf.entry_addr, fn(leaf.raw)).ok());
}

constexpr const char* kOneSpace =
    "pagesim-trace 1\n"
    "machine ram=256M cpus=1 tlb=teaching\n"
    "space 1\n"
    "switch as=1\n";

TEST(Replay, ASmallTraceMatches) {
  auto r = run(std::string(kOneSpace) +
               "map 0x400000 8K prot=rw- user\n"
               "read 0x400010 cpl=3 -> ok size=4K\n"
               "write 0x401000 cpl=3\n"
               "fetch 0x400000 cpl=3 -> pf code=0x15\n"
               "read 0x900000 cpl=3 -> pf code=0x4\n"
               "read 0x800000000000 -> gp\n"
               "read 0x800000000000 ss -> ss\n");
  EXPECT_EQ(r.verdict, ReplayResult::Verdict::kMatched) << reports(r);
  EXPECT_EQ(r.mismatch_count, 0u);
  ASSERT_EQ(r.stats.cpus.size(), 1u);
  EXPECT_EQ(r.stats.cpus[0].reads + r.stats.cpus[0].writes + r.stats.cpus[0].fetches, 6u);
  EXPECT_EQ(r.stats.cpus[0].pins_checked, 5u);
  EXPECT_GE(r.stats.cpus[0].entries_checked, 2u);
}

// --- The checker catches what it exists to catch. ---

TEST(Checker, CatchesAWrongPhysicalAddress) {
  ReplayOptions opt;
  opt.tamper = [](const TraceOp& op, PhysMem& mem, PAddr root) {
    if (op.kind == OpKind::kMap) {
      with_leaf(mem, root, op.va, [](u64 e) { return e ^ (u64{1} << 20); });  // another frame
    }
  };
  auto r = run(std::string(kOneSpace) +
                   "map 0x400000 4K prot=rw- user\n"
                   "read 0x400010 cpl=3\n",
               opt);
  ASSERT_EQ(r.verdict, ReplayResult::Verdict::kMismatch) << reports(r);
  ASSERT_EQ(r.mismatch_count, 2u) << reports(r);
  const Mismatch& entry = r.mismatches[0];
  EXPECT_EQ(entry.line, 5u);
  EXPECT_EQ(entry.what, "entry");
  EXPECT_EQ(entry.va, 0x400000u);
  EXPECT_NE(entry.detail.find("address: expected"), std::string::npos) << entry.detail;
  const Mismatch& access = r.mismatches[1];
  EXPECT_EQ(access.line, 6u);
  EXPECT_EQ(access.cpu, 0);
  EXPECT_EQ(access.what, "access");
  EXPECT_EQ(access.va, 0x400010u);
  // Expected and actual differ exactly in bit 20 of the physical address.
  u64 want = 0, got = 0;
  ASSERT_EQ(std::sscanf(access.expected.c_str(), "ok pa=%lx", &want), 1) << access.expected;
  ASSERT_EQ(std::sscanf(access.actual.c_str(), "ok pa=%lx", &got), 1) << access.actual;
  EXPECT_EQ(want ^ got, u64{1} << 20);
  EXPECT_NE(access.actual.find("size=4K (from full walk)"), std::string::npos);
}

TEST(Checker, CatchesWrongRights) {
  ReplayOptions opt;
  opt.tamper = [](const TraceOp& op, PhysMem& mem, PAddr root) {
    if (op.kind == OpKind::kMap) {
      with_leaf(mem, root, op.va, [](u64 e) { return e & ~kRW; });  // read-only behind its back
    }
  };
  auto r = run(std::string(kOneSpace) +
                   "map 0x400000 4K prot=rw- user\n"
                   "write 0x400010 cpl=3\n",
               opt);
  ASSERT_EQ(r.mismatch_count, 2u) << reports(r);
  EXPECT_EQ(r.mismatches[0].what, "entry");
  EXPECT_EQ(r.mismatches[0].detail, "R/W: expected 1, found 0");
  const Mismatch& m = r.mismatches[1];
  EXPECT_EQ(m.what, "access");
  EXPECT_EQ(m.line, 6u);
  EXPECT_EQ(m.actual, "pf code=0x7 [P=1 (protection) W/R=1 (write) U/S=1 (user)] (from full walk)");
  EXPECT_EQ(m.expected.rfind("ok pa=", 0), 0u) << m.expected;
}

TEST(Checker, CatchesAMissingFault) {
  // The OS "forgets" to unmap: the old entry is put back after the unmap.
  u64 saved = 0;
  ReplayOptions opt;
  opt.tamper = [&saved](const TraceOp& op, PhysMem& mem, PAddr root) {
    if (op.kind == OpKind::kMap) {
      RawLeaf leaf = ReferenceModel::read_leaf(mem, root, 4, op.va, 0);
      saved = leaf.raw;
    }
    if (op.kind == OpKind::kUnmap) {
      RawLeaf leaf = ReferenceModel::read_leaf(mem, root, 4, op.va, 1);
      ASSERT_EQ(leaf.level, 1);
      ASSERT_TRUE(mem.store_entry(leaf.entry_addr, saved).ok());
    }
  };
  auto r = run(std::string(kOneSpace) +
                   "map 0x400000 4K prot=rw- user\n"
                   "unmap 0x400000 4K\n"
                   "read 0x400000 cpl=3\n",
               opt);
  ASSERT_EQ(r.mismatch_count, 2u) << reports(r);
  EXPECT_EQ(r.mismatches[0].what, "entry");
  EXPECT_EQ(r.mismatches[0].expected, "no leaf mapping");
  const Mismatch& m = r.mismatches[1];
  EXPECT_EQ(m.what, "access");
  EXPECT_EQ(m.line, 7u);
  EXPECT_EQ(m.expected, "pf code=0x4 [P=0 (not present) W/R=0 (read) U/S=1 (user)]");
  EXPECT_EQ(m.actual.rfind("ok pa=", 0), 0u) << m.actual;
}

TEST(Checker, CatchesAWrongRawEntryThatChangesNoOutcome) {
  ReplayOptions opt;
  opt.tamper = [](const TraceOp& op, PhysMem& mem, PAddr root) {
    if (op.kind == OpKind::kProtect) {
      with_leaf(mem, root, op.va, [](u64 e) { return e | kPWT; });  // write-through, not asked
    }
  };
  auto r = run(std::string(kOneSpace) +
                   "map 0x400000 4K prot=rw- user\n"
                   "protect 0x400000 4K prot=r--\n"
                   "read 0x400000 cpl=3 -> ok\n",
               opt);
  ASSERT_EQ(r.mismatch_count, 1u) << reports(r);
  const Mismatch& m = r.mismatches[0];
  EXPECT_EQ(m.what, "entry");
  EXPECT_EQ(m.line, 6u);
  EXPECT_EQ(m.va, 0x400000u);
  EXPECT_EQ(m.detail, "PWT: expected 0, found 1");
}

TEST(Checker, ReportsStaleTlbHitsWhenShootdownsAreOff) {
  const std::string trace =
      "pagesim-trace 1\n"
      "machine ram=256M cpus=2 tlb=intel\n"
      "space 1\n"
      "cpu0 switch as=1\n"
      "cpu1 switch as=1\n"
      "cpu0 map 0x400000 4K prot=rw- user\n"
      "barrier\n"
      "cpu1 read 0x400000 cpl=3\n"  // cpu1 caches the translation
      "barrier\n"
      "cpu0 unmap 0x400000 4K\n"
      "barrier\n"
      "cpu1 read 0x400000 cpl=3\n";  // line 12
  auto on = run(trace);
  EXPECT_EQ(on.verdict, ReplayResult::Verdict::kMatched) << reports(on);
  EXPECT_EQ(on.stats.cpus[0].shootdowns_sent, 1u);
  EXPECT_EQ(on.stats.cpus[1].shootdowns_received, 1u);

  ReplayOptions opt;
  opt.overrides.shootdown = false;
  auto off = run(trace, opt);
  ASSERT_EQ(off.mismatch_count, 1u) << reports(off);
  const Mismatch& m = off.mismatches[0];
  EXPECT_EQ(m.what, "stale TLB hit");
  EXPECT_EQ(m.line, 12u);
  EXPECT_EQ(m.cpu, 1);
  EXPECT_EQ(m.expected, "pf code=0x4 [P=0 (not present) W/R=0 (read) U/S=1 (user)]");
  EXPECT_NE(m.actual.find("(from L1 TLB hit)"), std::string::npos) << m.actual;
  EXPECT_EQ(m.detail,
            "cpu1 used a translation that line 10 (cpu0) removed or changed; it was never "
            "invalidated on this CPU (shootdowns are off)");
}

TEST(Checker, PinsAreCheckedBitExactly) {
  auto r = run(std::string(kOneSpace) +
               "map 0x400000 4K prot=rw- user\n"
               "read 0x400000 cpl=3 -> ok size=2M\n"
               "write 0x400000 cpl=3 -> pf code=0x7\n");
  ASSERT_EQ(r.mismatch_count, 2u) << reports(r);
  EXPECT_EQ(r.mismatches[0].what, "pin");
  EXPECT_EQ(r.mismatches[0].line, 6u);
  EXPECT_EQ(r.mismatches[0].expected, "ok size=2M");
  EXPECT_EQ(r.mismatches[1].line, 7u);
  EXPECT_EQ(r.mismatches[1].expected, "pf code=0x7 [P=1 (protection) W/R=1 (write) U/S=1 (user)]");
  // Lines 8 and 9 match (A and D set by the write; the PDE is P|RW|US plus A); line 10's path
  // ends at the PML4E.
  r = run(std::string(kOneSpace) +
          "map 0x400000 4K prot=rw- user\n"
          "write 0x400000 cpl=3\n"
          "expect-entry 0x400000 level=1 raw=0x67 mask=0xfff\n"
          "expect-entry 0x400000 level=2 raw=0x27 mask=0xfff\n"
          "expect-entry 0x500000000 level=1 raw=0\n");
  ASSERT_EQ(r.mismatch_count, 1u) << reports(r);
  EXPECT_EQ(r.mismatches[0].line, 9u);
  EXPECT_NE(r.mismatches[0].actual.find("does not reach level 1"), std::string::npos);
}

// --- Bad input: a clear error with the location, never a crash. ---

TEST(Replay, SemanticErrorsNameTheLine) {
  struct Case {
    std::string body;
    u64 line;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"map 0x400000 2M page=2M prot=rw- user\nmap 0x401000 4K user\n", 6,
       "inside an existing huge page"},
      {"map 0x400000 2M page=2M user\nunmap 0x400000 4K\n", 6,
       "cannot unmap part of the "
       "tracked huge page"},
      {"map 0x400000 2M page=2M user\nprotect 0x401000 4K prot=r--\n", 6,
       "cannot protect part of the tracked huge page"},
      {"switch as=kernel\nmap 0x400000 4K\n", 6, "no user address space loaded"},
      {"map 0x400000 1G user\n", 5, "simulated memory exhausted"},
      {"switch as=1 pcid=3\n", 5, "needs CR4.PCIDE=1"},
      {"cpl 3\ninvlpg 0x1000\n", 6, "invlpg raises #GP(0)"},
  };
  for (const Case& c : cases) {
    auto r = run(std::string(kOneSpace) + c.body);
    ASSERT_EQ(r.verdict, ReplayResult::Verdict::kBadInput) << c.body;
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->file, "t.trace");
    EXPECT_EQ(r.error->line, c.line) << r.error->to_string();
    EXPECT_NE(r.error->message.find(c.says), std::string::npos) << r.error->to_string();
  }
  // A TLB file that does not exist names the machine line and column.
  auto r = run("pagesim-trace 1\nmachine tlb=nowhere.tlb\n");
  ASSERT_EQ(r.verdict, ReplayResult::Verdict::kBadInput);
  EXPECT_EQ(r.error->line, 2u);
  EXPECT_EQ(r.error->column, 13u);
}

TEST(Replay, RecordPinsEveryOutcomeAndTheRecordingReplaysClean) {
  const std::string dir = ::testing::TempDir();
  const std::string in = dir + "/rec-in.trace", out = dir + "/rec-out.trace";
  {
    std::ofstream f(in);
    f << kOneSpace
      << "map 0x400000 8K prot=r-- user  # two pages\n"
         "read 0x400010 cpl=3\n"
         "write 0x401000 cpl=3 -> pf code=0x7\n"
         "read 0x900000 cpl=3\n";
  }
  ReplayOptions opt;
  opt.progress = false;
  opt.record_path = out;
  auto r = replay_file(in, opt);
  ASSERT_EQ(r.verdict, ReplayResult::Verdict::kMatched) << reports(r);
  std::ifstream f(out);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string rec = ss.str();
  EXPECT_NE(rec.find("read 0x400010 cpl=3 -> ok pa="), std::string::npos) << rec;
  EXPECT_NE(rec.find("write 0x401000 cpl=3 -> pf code=0x7\n"), std::string::npos) << rec;
  EXPECT_NE(rec.find("read 0x900000 cpl=3 -> pf code=0x4\n"), std::string::npos) << rec;
  EXPECT_NE(rec.find("map 0x400000 8K prot=r-- user  # two pages\nexpect-entry 0x400000 level=1 "
                     "raw=0x8000"),
            std::string::npos)
      << rec;
  // The recording is itself a clean regression test, and recording it again changes nothing.
  opt.record_path = out + ".2";
  auto again = replay_file(out, opt);
  EXPECT_EQ(again.verdict, ReplayResult::Verdict::kMatched) << reports(again);
  EXPECT_EQ(again.stats.cpus[0].pins_checked, 4u);
  std::ifstream f2(out + ".2");
  std::stringstream ss2;
  ss2 << f2.rdbuf();
  EXPECT_EQ(ss2.str(), rec);
}

TEST(ReplayConcurrency, RacingOperationsAreJudgedByEveryOrder) {
  // Two CPUs map, protect, unmap and access the same pages within one epoch: whatever order the
  // threads take, the verdict must be "matched", run after run.
  std::string t =
      "pagesim-trace 1\n"
      "machine ram=512M cpus=4 tlb=intel\n"
      "space 1\n";
  for (int c = 0; c < 4; ++c) t += "cpu" + std::to_string(c) + " switch as=1\n";
  t += "barrier\n";
  for (int round = 0; round < 40; ++round) {
    const unsigned base = 0x400000 + (round % 4) * 0x1000;
    t += fmt::format(
        "cpu0 map {0:#x} 4K prot=rw- user\n"
        "cpu1 read {0:#x} cpl=3\n"
        "cpu2 protect {0:#x} 4K prot=r--\n"
        "cpu3 write {0:#x} cpl=3\n"
        "cpu1 unmap {0:#x} 4K\n"
        "cpu2 read {0:#x} cpl=3\n"
        "cpu3 map {0:#x} 4K prot=r-x user\n"
        "cpu0 fetch {0:#x} cpl=3\n",
        base);
    if (round % 5 == 4) t += "barrier\n";
  }
  for (int i = 0; i < 5; ++i) {
    auto r = run(t);
    ASSERT_EQ(r.verdict, ReplayResult::Verdict::kMatched) << reports(r);
  }
}

TEST(ReplayConcurrency, DisjointWorkOnEightCpusMatches) {
  std::string t =
      "pagesim-trace 1\n"
      "machine ram=1G cpus=8 tlb=intel\n"
      "space 1\nspace 2\n";
  for (int c = 0; c < 8; ++c)
    t += "cpu" + std::to_string(c) + " switch as=" + (c % 2 ? "2" : "1") + "\n";
  for (int round = 0; round < 30; ++round) {
    for (int c = 0; c < 8; ++c) {
      const unsigned long base = 0x10000000ul + c * 0x1000000ul + (round % 3) * 0x200000ul;
      t += fmt::format(
          "cpu{0} map {1:#x} 64K prot=rw- user\ncpu{0} write {2:#x} cpl=3\n"
          "cpu{0} protect {1:#x} 32K prot=r--\ncpu{0} write {1:#x} cpl=3 -> pf code=0x7\n"
          "cpu{0} unmap {1:#x} 64K\n",
          c, base, base + 0x1000);
    }
    if (round % 10 == 9) t += "barrier\n";
  }
  auto r = run(t);
  EXPECT_EQ(r.verdict, ReplayResult::Verdict::kMatched) << reports(r);
}

// The bundled multi-CPU traces, in the suite ThreadSanitizer runs: real threads racing on the
// page table, the TLB shootdowns and the checker.
TEST(ReplayConcurrency, BundledMultiCpuTracesMatch) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(PAGESIM_SOURCE_DIR) / "traces";
  const std::vector<std::string> traces = {"default.trace",        "ops/smp.trace",
                                           "ops/five-level.trace", "real/pthreads.trace",
                                           "real/sort.trace",      "stress/huge-2cpu.trace"};
  for (const std::string& t : traces) {
    ReplayOptions opt;
    opt.progress = false;
    auto r = replay_file((root / t).string(), opt);
    EXPECT_EQ(r.verdict, ReplayResult::Verdict::kMatched) << t << "\n" << reports(r);
    EXPECT_GT(r.stats.machine.cpus, 1) << t;
  }
}

// Every bundled trace replays with zero mismatches.
TEST(BundledTraces, AllReplayClean) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(PAGESIM_SOURCE_DIR) / "traces";
  ASSERT_TRUE(fs::exists(root));
  const bool sanitized = std::getenv("PAGESIM_SANITIZED") != nullptr;
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.path().extension() != ".trace") continue;
    // The large stress traces run in the Release build only (the sanitizer builds are slower).
    if (sanitized && e.file_size() > 2'000'000) continue;
    ReplayOptions opt;
    opt.progress = false;
    auto r = replay_file(e.path().string(), opt);
    EXPECT_EQ(r.verdict, ReplayResult::Verdict::kMatched) << e.path() << "\n" << reports(r);
    ++n;
  }
  EXPECT_GE(n, 5u);
}

}  // namespace
}  // namespace pagesim::wl
