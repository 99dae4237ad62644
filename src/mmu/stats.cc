#include "mmu/stats.h"

#include <fmt/format.h>

namespace pagesim::mmu {

std::string format_stats(const MmuStats& m, const WalkerStats& w, const TlbStats& t,
                         const TlbShape& shape) {
  std::string out;
  out += fmt::format(
      "translations {}: L1 hits {}, L2 hits {}, PSC-assisted walks {}, full walks "
      "{}, non-canonical {}\n",
      m.translations, m.l1_hits, m.l2_hits, m.psc_walks, m.full_walks, m.non_canonical);
  out += fmt::format(
      "faults: page faults {}, bus errors {}, spurious faults {}; re-walks: dirty "
      "rule {}, denied hit {}\n",
      m.page_faults, m.bus_errors, m.spurious_faults, m.dirty_rewalks, m.deny_rewalks);
  out += fmt::format("walker: walks {}, restarts {}, A/D writes {}, failed CAS {}; entry reads",
                     w.walks, w.restarts, w.ad_writes, w.cas_failures);
  for (int l = kMaxLevels; l >= 1; --l) {
    out += fmt::format(" {} {}", level_name(level_from_number(l)), w.entry_reads[l]);
  }
  out += '\n';
  out += fmt::format("TLB: L1 hits {} misses {}, L2 hits {} misses {}\n", t.l1_hits, t.l1_misses,
                     t.l2_hits, t.l2_misses);
  for (std::size_t i = 0; i < shape.arrays.size() && i < t.arrays.size(); ++i) {
    const StructureStats& s = t.arrays[i];
    const TlbArrayShape& a = shape.arrays[i];
    out += fmt::format(
        "  {:<14} {:>5} entries ({}x{}): hits {} misses {} fills {} evictions {} "
        "invalidated {}\n",
        a.name, a.entries(), a.sets, a.ways, s.hits, s.misses, s.fills, s.evictions, s.invalidated);
  }
  for (const PscShape& c : shape.psc) {
    const StructureStats& s = t.psc[level_number(c.level)];
    out += fmt::format(
        "  {:<5} cache {:>5} entries ({}x{}): hits {} misses {} fills {} "
        "evictions {} invalidated {}\n",
        level_name(c.level), c.sets * c.ways, c.sets, c.ways, s.hits, s.misses, s.fills,
        s.evictions, s.invalidated);
  }
  out += fmt::format(
      "invalidations: INVLPG {}, INVPCID {}/{}/{}/{}, CR3 loads {} (no-flush {}), "
      "full flushes {}, page-fault invalidations {}\n",
      m.invlpg, m.invpcid[0], m.invpcid[1], m.invpcid[2], m.invpcid[3], m.cr3_loads, m.cr3_no_flush,
      m.full_flushes, m.fault_invalidations);
  return out;
}

}  // namespace pagesim::mmu
