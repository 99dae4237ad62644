// Reserved bits of present paging-structure entries (spec section 3, R1-R8).
//
// A reserved-bit check is made only on a present entry (R1). The masks depend on MAXPHYADDR
// (R2), EFER.NXE (R4), the vendor (R7) and the level and kind of entry (R3, R5, R6); they are
// computed once per control-state change and the walker tests `entry & mask`.
#pragma once

#include <string_view>

#include "mmu/entry_bits.h"
#include "mmu/level.h"
#include "mmu/profile.h"

namespace pagesim::mmu {

// The rule that makes a bit reserved. A fault names the first rule, in this order, that
// explains one of the offending bits.
enum class ReservedRule : u8 {
  kNone,
  kR2AboveMaxPhyAddr,     // R2: bits 51:M
  kR3PsInTopLevel,        // R3: PS (bit 7) of a PML5E or PML4E
  kR4XdWithoutNxe,        // R4: XD (bit 63) while EFER.NXE=0
  kR5LargePageAlignment,  // R5: bits 20:13 of a 2 MiB leaf, 29:13 of a 1 GiB leaf
  kR6PsWithoutGbPages,    // R6: PS of a PDPTE on a model without 1 GiB pages
  kR7AmdBit8,             // R7: bit 8 of a PML5E/PML4E, AMD only
};

std::string_view reserved_rule_name(ReservedRule r);

struct ReservedMasks {
  u64 base = 0;                  // R2 | R4: every present entry
  u64 top = 0;                   // PML5E, PML4E: base | R3 | R7
  u64 pdpte_ps_unsupported = 0;  // PDPTE with PS=1 on a model without 1 GiB pages: base | R6
  u64 leaf_2m = 0;               // 2 MiB leaf: base | R5
  u64 leaf_1g = 0;               // 1 GiB leaf: base | R5
  u64 above_maxphyaddr = 0;      // R2 alone, for naming
  u64 xd_without_nxe = 0;        // R4 alone, for naming
  Vendor vendor = Vendor::kIntel;

  static ReservedMasks make(unsigned maxphyaddr, Support nxe, Vendor vendor);

  // The rule naming the reserved bits `bits` found in an entry of `level` (`leaf_size` is the
  // page size when the entry is a large leaf, else k4K).
  ReservedRule classify(u64 bits, Level level, PageSize leaf_size) const;
};

}  // namespace pagesim::mmu
