// The `pte`, `explain`, `dump` and `quiz` commands as a user runs them: help, golden output,
// exit status 2 with a message for bad input, the output formats, and explain running after
// the replay without changing what the replay checked.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "cli/cli_harness.h"
#include "workloads/explain.h"
#include "workloads/json.h"
#include "workloads/replay.h"

namespace pagesim {
namespace {

using testing::contains;
using testing::run_pagesim;

TEST(TeachingCli, HelpNamesEveryCommandAndOption) {
  const auto top = run_pagesim({"--help"});
  EXPECT_EQ(top.status, 0);
  for (const char* c : {"explain", "pte", "dump", "quiz"}) {
    EXPECT_TRUE(contains(top.out, std::string("  ") + c)) << top.out;
  }
  const std::vector<std::pair<std::vector<std::string>, std::string>> helps{
      {{"pte", "--help"}, "--maxphyaddr"},        {{"pte", "decode", "--help"}, "--nxe"},
      {{"pte", "encode", "--help"}, "--ignored"}, {{"explain", "--help"}, "--no-shootdown"},
      {{"dump", "--help"}, "--expand"},           {{"quiz", "--help"}, "--answers-only"}};
  for (const auto& [args, option] : helps) {
    const auto r = run_pagesim(args);
    EXPECT_EQ(r.status, 0) << args[0];
    EXPECT_TRUE(contains(r.out, "Usage: pagesim")) << r.out;
    EXPECT_TRUE(contains(r.out, option)) << r.out;
  }
}

TEST(TeachingCli, PteDecodeAndEncodeGolden) {
  const auto d = run_pagesim({"pte", "decode", "0x8000000123400087", "--level", "2"});
  EXPECT_EQ(d.status, 0) << d.err;
  testing::expect_golden("cli_pte_decode_pde_2m.txt", d.out);
  const auto amd = run_pagesim({"pte", "decode", "0x107", "--level", "pml4e", "--profile", "amd"});
  EXPECT_TRUE(contains(amd.out, "Reserved bits set: 0x100 (bit 8): R7")) << amd.out;
  const auto qemu =
      run_pagesim({"pte", "decode", "0x4001234567007", "--level", "1", "--profile", "qemu"});
  // QEMU's profile: MAXPHYADDR 40, and reserved-bit faults without P (Q1).
  EXPECT_TRUE(contains(qemu.out, "MAXPHYADDR 40, profile qemu-7.2")) << qemu.out;
  EXPECT_TRUE(contains(qemu.out, "RSVD=1 and P=0 (this profile, Q1)")) << qemu.out;
  const std::vector<std::pair<std::vector<std::string>, std::string>> encodes{
      {{"--level", "1", "--addr", "0x1234567000", "--p", "--rw", "--us"}, "0x0000001234567007\n"},
      {{"--level", "pde", "--ps", "--addr", "0x123400000", "--p", "--rw", "--pat", "--pcd",
        "--pwt"},
       "0x000000012340109b\n"},
      {{"--level", "3", "--ps", "--addr", "0x40c0000000", "--p", "--rw", "--a", "--d", "--g"},
       "0x00000040c00001e3\n"},
      {{"--level", "4", "--addr", "0x2000", "--p", "--rw", "--us", "--xd", "--ignored", "0xe00"},
       "0x8000000000002e07\n"}};
  for (auto [args, value] : encodes) {
    args.insert(args.begin(), {"pte", "encode"});
    const auto e = run_pagesim(args);
    EXPECT_EQ(e.status, 0) << e.err;
    EXPECT_EQ(e.out, value);
  }
}

// decode prints the encode command that gives the value back; run it.
TEST(TeachingCli, PteRoundTripThroughTheBinary) {
  for (const char* v : {"0x8000000123400087", "0x7ff0001234567e67", "0x00000040c00021e3", "0x2000",
                        "0x1800001234567f07"}) {
    for (const char* level : {"1", "2", "3", "4"}) {
      const auto d = run_pagesim({"pte", "decode", v, "--level", level});
      const size_t at = d.out.find("Encode: pagesim ");
      if (at == std::string::npos) {
        EXPECT_TRUE(contains(d.out, "Reserved bits set")) << d.out;  // no round trip then
        continue;
      }
      const std::string cmd = d.out.substr(at + 16, d.out.find('\n', at) - at - 16);
      std::vector<std::string> args;
      std::istringstream in(cmd);
      for (std::string w; in >> w;) args.push_back(w);
      const auto e = run_pagesim(args);
      EXPECT_EQ(e.status, 0) << cmd << "\n" << e.err;
      EXPECT_EQ(std::stoull(e.out, nullptr, 16), std::stoull(v, nullptr, 16)) << cmd;
    }
  }
}

TEST(TeachingCli, BadInputExitsTwoWithAMessage) {
  const std::string t = "traces/teaching/01-first-walk.trace";
  const std::vector<std::vector<std::string>> bad{
      {"pte"},
      {"pte", "frobnicate"},
      {"pte", "decode"},
      {"pte", "decode", "zz"},
      {"pte", "decode", "0x1", "--level", "7"},
      {"pte", "decode", "0x1", "--nxe", "2"},
      {"pte", "decode", "0x1", "--maxphyaddr", "60"},
      {"pte", "decode", "0x1", "--profile", "arm"},
      {"pte", "encode", "--p"},
      {"pte", "encode", "--level", "1", "--ps"},
      {"pte", "encode", "--level", "1", "--pkey", "16"},
      {"pte", "encode", "--level", "1", "--addr", "0x1001"},
      {"pte", "encode", "--level", "1", "--bogus"},
      {"explain", "--va", "0x1000"},
      {"explain", t},
      {"explain", t, "--va", "zz"},
      {"explain", t, "--va", "0x1000", "--access", "jump"},
      {"explain", t, "--va", "0x1000", "--cpl", "4"},
      {"explain", t, "--va", "0x1000", "--ac", "2"},
      {"explain", t, "--va", "0x1000", "--cpu", "5"},
      {"explain", t, "--va", "0x1000", "--line", "0"},
      {"explain", t, "--va", "0x1000", "--color", "purple"},
      {"explain", t, "--va", "0x1000", "--access", "fetch", "--implicit"},
      {"explain", "traces/teaching/no-such.trace", "--va", "0x1000"},
      {"dump"},
      {"dump", t, "--format", "gif"},
      {"dump", t, "--space", "9"},
      {"dump", t, "--space", "foo"},
      {"quiz"},
      {"quiz", "--seed", "1", "--kind", "essay"},
      {"quiz", "--seed", "1", "--count", "0"},
      {"quiz", "--seed", "1", "--answers", "/tmp/x", "--answers-only"}};
  for (const auto& args : bad) {
    const auto r = run_pagesim(args);
    std::string cmd;
    for (const auto& a : args) cmd += a + " ";
    EXPECT_EQ(r.status, 2) << cmd << "\n" << r.out << r.err;
    EXPECT_TRUE(contains(r.err, "pagesim")) << cmd << ": no message on stderr";
    EXPECT_TRUE(r.out.empty()) << cmd << ": results on stdout for bad input:\n" << r.out;
  }
  // A trace error names the file, line and column.
  const auto r = run_pagesim({"explain", "traces/teaching/no-such.trace", "--va", "0x1000"});
  EXPECT_TRUE(contains(r.err, "traces/teaching/no-such.trace")) << r.err;
}

TEST(TeachingCli, ExplainColourAndExitStatus) {
  const std::vector<std::string> base{
      "explain", "traces/teaching/01-first-walk.trace", "--va", "0x400123", "--cpl", "3"};
  auto args = base;
  const auto plain = run_pagesim(args);  // stdout is a file: no colour by default
  EXPECT_EQ(plain.status, 0);
  EXPECT_FALSE(contains(plain.out, "\x1b[")) << plain.out;
  args.insert(args.end(), {"--color", "always"});
  const auto colour = run_pagesim(args);
  EXPECT_TRUE(contains(colour.out, "\x1b[1m")) << colour.out;
  // A replay with mismatches: the explanation is printed, status 1, a note on stderr.
  const auto stale = run_pagesim({"explain", "traces/teaching/10-stale-tlb.trace", "--no-shootdown",
                                  "--cpu", "1", "--va", "0x400000", "--cpl", "3"});
  EXPECT_EQ(stale.status, 1) << stale.err;
  EXPECT_TRUE(contains(stale.err, "found 2 mismatches")) << stale.err;
  EXPECT_TRUE(contains(stale.out, "STALE TRANSLATION")) << stale.out;
}

TEST(TeachingCli, DumpFormats) {
  const std::string t = "traces/teaching/02-huge-pages.trace";
  const auto json = run_pagesim({"dump", t, "--format", "json"});
  ASSERT_EQ(json.status, 0) << json.err;
  auto v = json::parse(json.out);
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(*v.value().find("pages")->as_u64(), 3u);
  const auto dot = run_pagesim({"dump", t, "--format", "dot"});
  EXPECT_TRUE(contains(dot.out, "digraph pagetable {")) << dot.out;
  const auto kernel = run_pagesim({"dump", t, "--space", "kernel", "--expand"});
  EXPECT_EQ(kernel.status, 0);
  EXPECT_TRUE(contains(kernel.out, "Page table of the kernel")) << kernel.out;
  // Without Graphviz on the PATH, svg and png say how to install it.
  for (const char* f : {"svg", "png"}) {
    const auto r = run_pagesim({"dump", t, "--format", f, "-o", "/tmp/pagesim-x"}, "/nonexistent");
    EXPECT_EQ(r.status, 2);
    EXPECT_TRUE(contains(r.err, "make graphviz-deps")) << r.err;
  }
  if (std::system("command -v dot >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "Graphviz 'dot' is not installed (make graphviz-deps): SVG/PNG not rendered";
  }
  const std::string dir = ::testing::TempDir();
  const auto svg = run_pagesim({"dump", t, "--format", "svg", "-o", dir + "/pt.svg"});
  EXPECT_EQ(svg.status, 0) << svg.err;
  EXPECT_TRUE(contains(testing::read_file(dir + "/pt.svg"), "<svg"));
  const auto png = run_pagesim({"dump", t, "--format", "png", "-o", dir + "/pt.png"});
  EXPECT_EQ(png.status, 0) << png.err;
  EXPECT_EQ(testing::read_file(dir + "/pt.png").substr(1, 3), "PNG");
}

TEST(TeachingCli, QuizAnswerFile) {
  const std::string key = ::testing::TempDir() + "/pagesim-quiz-key.txt";
  const auto sheet = run_pagesim({"quiz", "--seed", "11", "--answers", key});
  EXPECT_EQ(sheet.status, 0) << sheet.err;
  const auto only = run_pagesim({"quiz", "--seed", "11", "--answers-only"});
  const auto plain = run_pagesim({"quiz", "--seed", "11"});
  EXPECT_EQ(testing::read_file(key), only.out);
  EXPECT_EQ(sheet.out, plain.out);
  EXPECT_TRUE(contains(plain.out, "Exercise 3 — TLB hits and misses")) << plain.out;
  EXPECT_TRUE(contains(only.out, "Answer key")) << only.out;
}

// explain runs after the replay: the replay's verdict, checks and reports are those of a
// replay without it. (The MMU counters in ReplayResult::stats are read after the inspect
// callback, so they do include explain's own translation; `pagesim explain` never prints them.)
TEST(TeachingCli, ExplainDoesNotChangeWhatTheReplayChecked) {
  for (const char* name : {"traces/teaching/08-tlb.trace", "traces/teaching/10-stale-tlb.trace"}) {
    const std::string path = testing::kSourceDir + "/" + name;
    wl::ReplayOptions plain;
    plain.overrides.shootdown = false;
    const wl::ReplayResult a = wl::replay_file(path, plain);
    wl::ReplayOptions looked = plain;
    std::string text;
    looked.inspect = [&text](wl::MachineView& m) {
      for (mmu::Mmu* cpu : m.cpus) {
        text += wl::explain_access(m.mem, *cpu, VAddr(0x400000), mmu::Access::read(3), {},
                                   wl::Color::kOff);
      }
    };
    const wl::ReplayResult b = wl::replay_file(path, looked);
    EXPECT_FALSE(text.empty());
    EXPECT_EQ(a.verdict, b.verdict) << name;
    EXPECT_EQ(a.mismatch_count, b.mismatch_count) << name;
    ASSERT_EQ(a.stats.cpus.size(), b.stats.cpus.size());
    for (size_t i = 0; i < a.stats.cpus.size(); ++i) {
      EXPECT_EQ(a.stats.cpus[i].reads, b.stats.cpus[i].reads) << name;
      EXPECT_EQ(a.stats.cpus[i].faults, b.stats.cpus[i].faults) << name;
      EXPECT_EQ(a.stats.cpus[i].entries_checked, b.stats.cpus[i].entries_checked) << name;
      EXPECT_EQ(a.stats.cpus[i].pins_checked, b.stats.cpus[i].pins_checked) << name;
      EXPECT_EQ(a.stats.cpus[i].mismatches, b.stats.cpus[i].mismatches) << name;
    }
  }
}

}  // namespace
}  // namespace pagesim
