// Every conformance vector of the project (tests/conformance/): the QEMU 7.2 recordings under
// the QEMU profile and the spec's vectors under the SDM profile must all pass, and the number
// run must be the number in the files. Plus the runner's own behaviour: diffs, knobs, bad input,
// and the `pagesim conformance` command's exit codes.
#include "workloads/conformance.h"

#include <sys/wait.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "workloads/json.h"

namespace pagesim::workloads {
namespace {

const std::string kDir = std::string(PAGESIM_SOURCE_DIR) + "/tests/conformance/";
const std::string kHand = kDir + "qemu-hand.jsonl";
const std::string kRandom = kDir + "qemu-random-seed1.jsonl";
const std::string kSpec = kDir + "x86-64-paging.vectors.json";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Counts scenarios and accesses straight from a JSON-lines file, independently of the runner.
std::pair<u64, u64> count_recordings(const std::string& path) {
  std::istringstream in(read_file(path));
  std::string line;
  u64 scenarios = 0, accesses = 0;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto v = json::parse(line);
    EXPECT_TRUE(v.ok());
    ++scenarios;
    accesses += v.value().find("result")->find("accesses")->items().size();
  }
  return {scenarios, accesses};
}

FileReport run(const std::string& path, ConformanceOptions o = {}) {
  auto r = run_conformance_file(path, o);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
  return r.ok() ? r.value() : FileReport{};
}

std::string first_failures(const FileReport& r) {
  std::string out;
  int shown = 0;
  for (const CaseResult& c : r.cases) {
    if (c.passed() || shown++ > 5) continue;
    out += c.id + " " + c.title + "\n";
    for (const std::string& d : c.diffs) out += "  " + d + "\n";
  }
  return out;
}

TEST(Conformance, EveryQemuRecordingPassesUnderTheQemuProfile) {
  const FileReport hand = run(kHand);
  const FileReport random = run(kRandom);
  EXPECT_EQ(hand.profile, "qemu-7.2");
  EXPECT_EQ(hand.failed, 0u) << first_failures(hand);
  EXPECT_EQ(random.failed, 0u) << first_failures(random);
  // The counts the files hold, and the totals of the issue: 420 scenarios, 5,446 accesses.
  EXPECT_EQ(std::make_pair(hand.vectors, hand.accesses), count_recordings(kHand));
  EXPECT_EQ(std::make_pair(random.vectors, random.accesses), count_recordings(kRandom));
  EXPECT_EQ(hand.vectors, 20u);
  EXPECT_EQ(hand.accesses, 106u);
  EXPECT_EQ(random.vectors, 400u);
  EXPECT_EQ(random.accesses, 5340u);
  EXPECT_EQ(hand.vectors + random.vectors, 420u);
  EXPECT_EQ(hand.accesses + random.accesses, 5446u);
  EXPECT_EQ(hand.passed + random.passed, 420u);
}

TEST(Conformance, EverySpecVectorPassesUnderTheSdmProfile) {
  const FileReport spec = run(kSpec);
  EXPECT_EQ(spec.format, VectorFormat::kSpecVectors);
  EXPECT_EQ(spec.profile, "sdm");
  EXPECT_EQ(spec.failed, 0u) << first_failures(spec);
  auto doc = json::parse(read_file(kSpec));
  ASSERT_TRUE(doc.ok());
  const u64 in_file = doc.value().find("vectors")->items().size();
  const u64 scenarios_in_file = doc.value().find("scenarios")->items().size();
  EXPECT_EQ(spec.single_vectors, in_file);
  EXPECT_EQ(spec.tlb_scenarios, scenarios_in_file);
  EXPECT_EQ(spec.single_vectors, 76u);
  EXPECT_EQ(spec.tlb_scenarios, 11u);
  EXPECT_EQ(spec.vectors, 87u);
  EXPECT_EQ(spec.passed, 87u);
  // Each single vector ran under both A-bit policies; each scenario step was checked.
  u64 steps = 0;
  for (const auto& s : doc.value().find("scenarios")->items())
    steps += s.find("steps")->items().size();
  EXPECT_EQ(spec.accesses, 2 * 76 + steps);
}

TEST(Conformance, HandRecordingsMatchTheirSdmExpectationsUnderTheSdmProfile) {
  ConformanceOptions o;
  o.profile = ProfileChoice::kSdm;
  const FileReport hand = run(kHand, o);
  EXPECT_EQ(hand.profile, "sdm");
  EXPECT_EQ(hand.vectors, 20u);
  EXPECT_EQ(hand.failed, 0u) << first_failures(hand);
}

TEST(Conformance, DifferencesAreReportedBitByBit) {
  // The SDM profile against recordings without expected_sdm shows QEMU's deviations Q1 and Q2.
  ConformanceOptions o;
  o.profile = ProfileChoice::kSdm;
  const FileReport r = run(kRandom, o);
  EXPECT_GT(r.failed, 0u);
  bool saw_p = false, saw_a = false;
  for (const CaseResult& c : r.cases) {
    for (const std::string& d : c.diffs) {
      saw_p |= d.find("error code") != std::string::npos &&
               d.find("bit 0 P expected 0 got 1") != std::string::npos;
      saw_a |= d.find("bit 5 A (accessed) expected 1 got 0") != std::string::npos;
    }
  }
  EXPECT_TRUE(saw_p);  // Q1: RSVD faults with P
  EXPECT_TRUE(saw_a);  // Q2: A in a faulting 1 GiB leaf
  // A knob that breaks the QEMU profile's A policy is caught in the entries.
  o = {};
  o.knobs = {{"a_on_fault", "none"}};
  const FileReport none = run(kHand, o);
  EXPECT_GT(none.failed, 0u);
  // The spec vectors under the QEMU profile fail exactly where the spec says QEMU differs, and
  // the failure carries the vector's QEMU note.
  o = {};
  o.profile = ProfileChoice::kQemu;
  const FileReport q = run(kSpec, o);
  bool v22 = false;
  for (const CaseResult& c : q.cases) {
    if (c.id == "V22") {
      v22 = true;
      EXPECT_FALSE(c.passed());
      ASSERT_FALSE(c.notes.empty());
      EXPECT_NE(c.notes[0].find("QEMU sets A in a PDPTE"), std::string::npos);
    }
    if (c.id == "V01" || c.id == "V77") {
      EXPECT_TRUE(c.passed()) << c.id;
    }
  }
  EXPECT_TRUE(v22);
}

TEST(Conformance, TlbScenariosUnderOtherShapesAcceptAnyAllowedOutcome) {
  for (const char* shape : {"intel", "teaching"}) {
    ConformanceOptions o;
    o.tlb = mmu::TlbShape::named(shape).value();
    const FileReport r = run(kSpec, o);
    EXPECT_EQ(r.failed, 0u) << shape << "\n" << first_failures(r);
  }
  ConformanceOptions o;
  o.knobs = {{"tlb_deny_policy", "spurious_fault"}};
  const FileReport r = run(kSpec, o);
  EXPECT_EQ(r.failed, 0u) << first_failures(r);
  bool noted = false;
  for (const CaseResult& c : r.cases) {
    for (const std::string& n : c.notes)
      noted |= n.find("differs from pagesim's default") != std::string::npos;
  }
  EXPECT_TRUE(noted);  // V86: the spurious fault is allowed but not the default
}

// A recording from another CPU model: MAXPHYADDR 46 (bit 44 is an address bit, reserved under
// QEMU's 40) and no 1 GiB pages. The recording's facts decide, not the profile's defaults.
TEST(Conformance, RecordingsFromOtherCpuModelsUseTheirFacts) {
  const std::string line =
      R"({"scenario": {"name": "m46", "paging": "4level", "root": "0x1000000", "cr0_wp": 1, )"
      R"("cr4": {}, "efer_nxe": 1, "writes": [{"paddr": "0x1000000", "value": "0x1001007"}, )"
      R"({"paddr": "0x1001000", "value": "0x1002007"}, {"paddr": "0x1002000", "value": )"
      R"("0x1003007"}, {"paddr": "0x1003000", "value": "0x100001400007"}], "fill": )"
      R"([["0x1400000", "0x1401000"]]}, "result": {"cpu": {"maxphyaddr": 46, )"
      R"("features": {"page1gb": false}}, "accesses": [{"va": "0x0", "kind": "write", "cpl": 3, )"
      R"("wvalue": "0x1", "outcome": "ok", "entries_after": {"0x1003000": "0x100001400067"}}]}})"
      "\n";
  auto r = run_conformance_text(line, "m46.jsonl", {});
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r.value().failed, 0u) << first_failures(r.value());
  // The same line claiming MAXPHYADDR 40 must fail: bit 44 is then reserved.
  std::string m40 = line;
  m40.replace(m40.find("\"maxphyaddr\": 46"), 16, "\"maxphyaddr\": 40");
  auto f = run_conformance_text(m40, "m40.jsonl", {});
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f.value().failed, 1u);
  EXPECT_NE(f.value().cases[0].diffs[0].find("outcome: expected ok"), std::string::npos);
}

TEST(Conformance, BadInputNamesFileLineColumnAndWhatWasExpected) {
  struct Case {
    std::string text;
    std::string message;
  };
  const std::string good_head = R"({"scenario": {"paging": "4level", "root": "0x1000000", )";
  const std::vector<Case> cases = {
      {"{\"scenario\": {\"paging\": \"4level\"}, \"result\": {\"accesses\": []}}\n",
       "x.jsonl:1:14: scenario: missing field 'root'"},
      {good_head + R"("writes": []}, "result": {"accesses": [ }})"
                   "\n",
       "x.jsonl:1:"},
      {good_head + R"("writes": [{"paddr": "zz", "value": "0x1"}]}, "result": {"accesses": []}})"
                   "\n",
       "scenario.writes[0].paddr: expected a 64-bit number"},
      {good_head +
           R"("writes": [{"paddr": "0x1001", "value": "0x1"}]}, "result": {"accesses": []}})"
           "\n",
       "is not an 8-byte-aligned address"},
      {good_head + R"("writes": []}, "result": {"accesses": [{"va": "0x0", "kind": "jump", )"
                   R"("cpl": 0, "outcome": "ok"}]}})"
                   "\n",
       "result.accesses[0].kind: expected \"read\""},
      {good_head + R"("writes": []}, "result": {"accesses": [{"va": "0x0", "kind": "read", )"
                   R"("cpl": 0, "outcome": "pf"}]}})"
                   "\n",
       "a page fault needs 'error_code' and 'cr2'"},
      {good_head + R"("writes": []}, "result": {"status": "timeout", "accesses": []}})"
                   "\n",
       "result.status is \"timeout\""},
      {"{\"format\": \"pagesim-spec-vectors/2\", \"vectors\": []}", "is not supported"},
      {"{\"format\": \"pagesim-spec-vectors/1\"}", "the file: missing field 'vectors'"},
      {"[1, 2]", "expected a spec-vectors document"},
      {"", "the file is empty"},
  };
  for (const Case& c : cases) {
    auto r = run_conformance_text(c.text, "x.jsonl", {});
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(r.error().describe().find(c.message), std::string::npos) << r.error().describe();
  }
  // A broken spec vector deep in a real file: the line of the offending value.
  std::string spec = read_file(kSpec);
  const auto at = spec.find("\"kind\": \"ok\"");
  ASSERT_NE(at, std::string::npos);
  spec.replace(at, 12, "\"kind\": \"okay\"");
  auto r = run_conformance_text(spec, "spec.json", {});
  ASSERT_FALSE(r.ok());
  const u32 line =
      static_cast<u32>(std::count(spec.begin(), spec.begin() + static_cast<long>(at), '\n') + 1);
  EXPECT_EQ(r.error().line, line);
  EXPECT_NE(r.error().message.find("expected \"ok\", \"page_fault\" or \"non_canonical\""),
            std::string::npos);
  EXPECT_FALSE(run_conformance_file("/nonexistent/file.jsonl", {}).ok());
}

int run_cli(const std::string& args, std::string* out = nullptr) {
  const std::string cmd = std::string(PAGESIM_BINARY) + " conformance " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  std::string text;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  const int status = pclose(p);
  if (out) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ConformanceCli, ExitCodesAndOutput) {
  std::string out;
  EXPECT_EQ(run_cli(kHand + " " + kRandom + " " + kSpec, &out), 0) << out.substr(0, 2000);
  EXPECT_NE(out.find("total: 507 vectors"), std::string::npos);
  EXPECT_NE(out.find("PASS qemu-random-seed1.jsonl:400"), std::string::npos);
  EXPECT_NE(out.find("PASS V01  4 KiB user read, all A/D clear"), std::string::npos);
  EXPECT_EQ(run_cli("--failures-only " + kSpec, &out), 0);
  EXPECT_EQ(out.find("PASS"), std::string::npos);
  EXPECT_EQ(run_cli("--knob rsvd_sets_p=true " + kHand, &out), 1);
  EXPECT_NE(out.find("FAIL qemu-hand.jsonl:6"), std::string::npos) << out;
  EXPECT_NE(out.find("bit 0 P expected 0 got 1"), std::string::npos) << out;
  EXPECT_EQ(run_cli("/nonexistent.jsonl", &out), 2);
  EXPECT_EQ(run_cli("--profile xyz " + kHand, &out), 2);
  EXPECT_EQ(run_cli("--knob nope=1 " + kHand, &out), 2);
  EXPECT_EQ(run_cli("", &out), 2);
  EXPECT_EQ(run_cli("--help", &out), 0);
  EXPECT_NE(out.find("--profile"), std::string::npos);
  EXPECT_EQ(run_cli("--json " + kSpec, &out), 0);
  auto doc = json::parse(out);
  ASSERT_TRUE(doc.ok()) << out.substr(0, 200);
  EXPECT_EQ(doc.value().find("vectors")->as_u64(), 87u);
  EXPECT_EQ(doc.value().find("failed")->as_u64(), 0u);
  EXPECT_EQ(run_cli("--tlb teaching --verbose " + kSpec, &out), 0);
  EXPECT_NE(out.find("PASS V87"), std::string::npos);
}

}  // namespace
}  // namespace pagesim::workloads
