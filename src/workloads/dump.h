// `pagesim dump`: an address space's page table, read from simulated memory entry by entry, as a
// text tree, JSON or Graphviz DOT, with runs of similar entries collapsed so that a large table
// stays readable ("[0x010–0x1ff] 496 × 4K page → frames 0x…–0x… consecutive, user rw-").
//
// The tables are read as the hardware would find them (raw 64-bit words, decoded with the
// hardware view of src/mmu and pte_format.h), not through the OS side's cursor: what is shown is
// what is in memory.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sim/phys_mem.h"
#include "workloads/pte_format.h"

namespace pagesim::wl {

// Which top-level entries to show. A user address space shares the kernel half with the kernel
// page table (Asterinas `create_user_page_table`): that half is summarised in one row.
enum class DumpHalf : u8 { kUserHalf, kAll };
// Whether runs of similar entries are collapsed into one row.
enum class Collapse : u8 { kRuns, kNone };

struct DumpRequest {
  PAddr root;
  int levels = 4;
  unsigned maxphyaddr = 46;
  DumpHalf half = DumpHalf::kAll;
  Collapse collapse = Collapse::kRuns;
  std::string title;  // first line of the text output, "name" of the JSON and DOT outputs
};

struct DumpTable;

// One row of a table: one entry, or a run of similar consecutive entries.
struct DumpRow {
  enum class Kind : u8 {
    kTable,       // references a table (child set), or a run of empty tables
    kPage,        // maps a page, or a run of pages with the same flags
    kNotPresent,  // P=0 but not zero (software bits)
    kOutsideRam,  // a table address outside simulated RAM (not followed)
    kSharedHalf,  // the kernel half of a user address space
  };
  Kind kind = Kind::kPage;
  unsigned first = 0;  // index range [first, last]
  unsigned last = 0;
  u64 va_first = 0;  // linear address the first entry covers
  u64 va_end = 0;    // last byte covered by the last entry
  u64 raw = 0;       // the first entry's value
  EntryForm form = EntryForm::kPage4K;
  u64 addr_first = 0;  // frame or table of the first entry
  u64 addr_last = 0;
  bool consecutive = true;           // addresses step by the entry's size (a run of pages)
  unsigned accessed = 0;             // entries of the run with A=1
  unsigned dirty = 0;                // entries of the run with D=1 (pages)
  unsigned present = 0;              // kSharedHalf: present entries in that half
  std::unique_ptr<DumpTable> child;  // kTable with a non-empty table below (count() == 1)

  unsigned count() const { return last - first + 1; }
};

struct DumpTable {
  mmu::Level level = mmu::Level::kPml4e;  // the level of its entries
  u64 pa = 0;
  std::vector<DumpRow> rows;
  bool empty() const { return rows.empty(); }
};

struct PageTableDump {
  DumpRequest request;
  DumpTable root;
  u64 tables = 0;  // tables read
  u64 pages = 0;   // leaf entries (pages of any size)
};

PageTableDump read_page_table(const PhysMem& mem, const DumpRequest& request);

std::string dump_text(const PageTableDump& d);
std::string dump_json(const PageTableDump& d);
std::string dump_dot(const PageTableDump& d);

}  // namespace pagesim::wl
