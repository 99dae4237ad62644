// `pagesim dump` (src/workloads/dump.h): the tree read from hand-built tables, runs collapsed,
// and each output format (JSON parsed back; DOT parsed by Graphviz's `dot` when installed).
#include "workloads/dump.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>

#include "cli/cli_harness.h"
#include "workloads/json.h"

namespace pagesim::wl {
namespace {

using mmu::Level;
using testing::contains;
namespace e = mmu::entry;

constexpr u64 kUserRw = e::kP | e::kRw | e::kUs | e::kXd;

// A user address space with: 496 consecutive 4 KiB pages at PT indexes 0x010-0x1ff (frames
// consecutive from 0x1000000), two isolated pages with other rights, a 2 MiB page, a
// not-present entry with software bits, an empty page table, and a kernel half of two
// entries. Tables: root 0x1000, then 0x2000, ...
struct Sample {
  std::unique_ptr<PhysMem> mem = testing::make_mem();
  testing::HandTables t{*mem, 4, 0x1000, 0x2000};

  Sample() {
    for (u64 i = 0x10; i < 0x200; ++i) {
      t.map(0x400000 + (i << 12), (0x1000000 + ((i - 0x10) << 12)) | kUserRw | e::kA);
    }
    t.map(0x400000, 0x0000000000777000 | e::kP | e::kUs);           // user r-x
    t.map(0x402000, 0x0000000000888000 | e::kP | e::kRw | e::kXd);  // supervisor rw-
    t.map(0x403000, 0x0000000000999000 | e::kRw);                   // P=0, software bits
    t.map(0x40000000, 0x0000000000a00000 | kUserRw | e::kPs | e::kA | e::kD, Level::kPde);
    t.map(0x80000000, 0, Level::kPte);              // a page table with nothing in it
    t.set(0x1000 + 8 * 0x100, 0x0000000000050003);  // kernel half: two present entries
    t.set(0x1000 + 8 * 0x1ff, 0x0000000000051003);
  }
  PageTableDump dump(Collapse c, DumpHalf h = DumpHalf::kUserHalf) {
    DumpRequest q;
    q.root = PAddr(0x1000);
    q.levels = 4;
    q.maxphyaddr = 46;
    q.half = h;
    q.collapse = c;
    q.title = "sample";
    return read_page_table(*mem, q);
  }
};

TEST(Dump, TextTreeCollapsesRuns) {
  Sample s;
  const PageTableDump d = s.dump(Collapse::kRuns);
  EXPECT_EQ(d.pages, 496u + 2 + 1);
  const std::string text = dump_text(d);
  EXPECT_TRUE(contains(text,
                       "[0x010–0x1ff] va 0x0000000000410000–0x00000000005fffff  496 × 4K "
                       "page → frames 0x1000000–0x11ef000 (consecutive), user rw-, A"))
      << text;
  EXPECT_TRUE(contains(text, "[0x000] va 0x0000000000400000  4K page → frame 0x777000, user r-x"))
      << text;
  EXPECT_TRUE(contains(text,
                       "[0x002] va 0x0000000000402000  4K page → frame 0x888000, "
                       "supervisor rw-"))
      << text;
  EXPECT_TRUE(contains(text,
                       "[0x003] va 0x0000000000403000  not present, value "
                       "0x0000000000999002"))
      << text;
  EXPECT_TRUE(contains(text, "2M page → frame 0xa00000, user rw-, A, D")) << text;
  EXPECT_TRUE(contains(text, ", empty  (P RW US)")) << text;
  EXPECT_TRUE(contains(text, "[0x100–0x1ff] kernel half: 2 present entries shared")) << text;
  testing::expect_golden("dump_sample.txt", text);
}

TEST(Dump, ExpandShowsEveryEntry) {
  Sample s;
  const std::string text = dump_text(s.dump(Collapse::kNone));
  EXPECT_FALSE(contains(text, "496 ×")) << text;
  EXPECT_TRUE(contains(text, "[0x1ff] va 0x00000000005ff000  4K page → frame 0x11ef000")) << text;
  size_t rows = 0;
  for (size_t p = text.find("4K page"); p != std::string::npos; p = text.find("4K page", p + 1)) {
    ++rows;
  }
  EXPECT_EQ(rows, 498u);
}

TEST(Dump, RunsAreSplitWhereFlagsOrContiguityChange) {
  auto mem = testing::make_mem();
  testing::HandTables t(*mem, 4, 0x1000, 0x2000);
  // Five user pages, the third read-only; then four more after a gap; frames not consecutive.
  for (u64 i = 0; i < 5; ++i) {
    t.map(0x400000 + (i << 12), (0x900000 - (i << 12)) | e::kP | e::kUs | (i == 2 ? 0 : e::kRw));
  }
  for (u64 i = 8; i < 12; ++i) t.map(0x400000 + (i << 12), (0x800000 + (i << 13)) | kUserRw);
  DumpRequest q{.root = PAddr(0x1000), .levels = 4, .maxphyaddr = 46};
  const std::string text = dump_text(read_page_table(*mem, q));
  // 0 and 1 stay single rows (a run of two), 2 differs, 3 and 4 single; 8-11 one run.
  EXPECT_TRUE(contains(text, "[0x000] va")) << text;
  EXPECT_TRUE(contains(text, "[0x001] va")) << text;
  EXPECT_TRUE(contains(text, "[0x002] va 0x0000000000402000  4K page → frame 0x8fe000, user r-x"))
      << text;
  EXPECT_TRUE(contains(text, "[0x008–0x00b]")) << text;
  EXPECT_TRUE(contains(text, "4 × 4K page → frames 0x810000 … 0x816000 (not consecutive)")) << text;
}

TEST(Dump, KernelHalfOfTheKernelTable) {
  Sample s;
  const std::string text = dump_text(s.dump(Collapse::kRuns, DumpHalf::kAll));
  EXPECT_FALSE(contains(text, "kernel half:")) << text;
  EXPECT_TRUE(contains(text, "[0x100] va 0xffff800000000000  → PDPT @ 0x50000, empty")) << text;
  EXPECT_TRUE(contains(text, "[0x1ff] va 0xffffff8000000000  → PDPT @ 0x51000, empty")) << text;
}

TEST(Dump, JsonDescribesTheSameTree) {
  Sample s;
  const std::string text = dump_json(s.dump(Collapse::kRuns));
  auto v = json::parse(text);
  ASSERT_TRUE(v.ok()) << v.error().message << "\n" << text;
  EXPECT_EQ(*v.value().find("pages")->as_u64(), 499u);
  // Sum the leaf entries over every row of every table: each page counted once.
  u64 pages = 0;
  u64 runs = 0;
  std::function<void(const json::Value&)> walk = [&](const json::Value& table) {
    for (const json::Value& row : table.find("rows")->items()) {
      const std::string kind = row.find("kind")->text();
      if (kind == "page") {
        pages += *row.find("count")->as_u64();
        if (*row.find("count")->as_u64() > 1) ++runs;
      }
      const json::Value* child = row.find("child");
      if (child && child->is_object()) walk(*child);
    }
  };
  walk(*v.value().find("table"));
  EXPECT_EQ(pages, 499u);
  EXPECT_EQ(runs, 1u);
}

// Runs `dot -Tsvg` on `source`; nullopt when Graphviz is not installed.
std::optional<int> run_dot(const std::string& source) {
  if (std::system("command -v dot >/dev/null 2>&1") != 0) return std::nullopt;
  const std::string path = ::testing::TempDir() + "/pagesim-dump-test.dot";
  std::ofstream(path) << source;
  return std::system(("dot -Tsvg " + path + " -o /dev/null 2>/dev/null").c_str());
}

TEST(Dump, DotIsParsedByGraphviz) {
  Sample s;
  const std::string dot = dump_dot(s.dump(Collapse::kRuns));
  EXPECT_TRUE(contains(dot, "digraph pagetable {")) << dot;
  EXPECT_TRUE(contains(dot, "t1000:r0 -> t2000;")) << dot;
  const auto rc = run_dot(dot);
  if (!rc) GTEST_SKIP() << "Graphviz 'dot' is not installed (make graphviz-deps): not parsed";
  EXPECT_EQ(*rc, 0) << dot;
}

}  // namespace
}  // namespace pagesim::wl
