// The shape of one CPU's translation caches: its TLB arrays and paging-structure caches (spec
// 8.1-8.3), from a preset or a small config file (format in docs/mmu.md).
//
// A TLB array is one set-associative structure: its level (1 or 2), the references it serves
// (instruction fetches, data references, or both), the page sizes it holds, sets, ways and
// replacement. A paging-structure cache (PSC) holds non-leaf entries of one level.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mmu/level.h"
#include "mmu/set_assoc.h"
#include "sim/result.h"

namespace pagesim::mmu {

enum class TlbLevel : u8 { kL1 = 1, kL2 = 2 };
// Which references an array serves: fetches, data references, or both (a unified array).
enum class TlbPorts : u8 { kInstruction, kData, kUnified };

constexpr u8 size_bit(PageSize s) { return static_cast<u8>(1u << size_index(s)); }

struct TlbArrayShape {
  std::string name;
  TlbLevel level = TlbLevel::kL1;
  TlbPorts ports = TlbPorts::kData;
  u8 sizes = size_bit(PageSize::k4K);  // size_bit() of each page size held
  u32 sets = 1;
  u32 ways = 1;
  Replacement replacement = Replacement::kLru;

  u32 entries() const { return sets * ways; }
  bool holds(PageSize s) const { return (sizes & size_bit(s)) != 0; }
};

struct PscShape {
  Level level = Level::kPde;  // the level of the cached entries: PML5E, PML4E, PDPTE or PDE
  u32 sets = 1;
  u32 ways = 1;
  Replacement replacement = Replacement::kLru;
};

struct TlbShape {
  std::string name;
  std::string source;  // where the figures come from (a document, "config file PATH", ...)
  std::vector<TlbArrayShape> arrays;
  std::vector<PscShape> psc;

  // A recent Intel core (Golden Cove) and a recent AMD core (Zen 4); sources in docs/mmu.md.
  static TlbShape intel_golden_cove();
  static TlbShape amd_zen4();
  // A tiny fully-associative TLB for teaching: 4-entry L1 I and D TLBs, an 8-entry L2, and
  // 2-entry paging-structure caches, all LRU.
  static TlbShape teaching();
  // The TLB of the spec's TLB vectors (section 10.2): keeps every entry (512 per port, fully
  // associative), no second level, no paging-structure caches.
  static TlbShape ideal();
  // No TLB and no PSC at all: every translation walks.
  static TlbShape none();

  // "intel", "golden-cove", "amd", "zen4", "teaching", "ideal", "none".
  static Result<TlbShape, std::string> named(std::string_view name);
  static std::vector<std::string_view> preset_names();

  // Parses the config-file format; errors read "FILE:LINE:COLUMN: expected ...".
  static Result<TlbShape, std::string> parse(std::string_view text, std::string_view file_name);
  static Result<TlbShape, std::string> load(const std::string& path);
  // A preset name, or else a config file path.
  static Result<TlbShape, std::string> named_or_file(const std::string& name_or_path);

  // The same shape in the config-file format (parse(to_config()) gives it back).
  std::string to_config() const;

  // Checks the shape can be built: power-of-two sets, ways >= 1, tree-PLRU with a power-of-two
  // number of ways <= 64, one array per (level, reference kind, page size), one PSC per level.
  Result<void, std::string> validate() const;
};

}  // namespace pagesim::mmu
