#include "mmu/reserved_bits.h"

namespace pagesim::mmu {

std::string_view reserved_rule_name(ReservedRule r) {
  switch (r) {
    case ReservedRule::kNone:
      return "none";
    case ReservedRule::kR2AboveMaxPhyAddr:
      return "R2 bits 51:MAXPHYADDR";
    case ReservedRule::kR3PsInTopLevel:
      return "R3 PS in a PML5E/PML4E";
    case ReservedRule::kR4XdWithoutNxe:
      return "R4 XD while EFER.NXE=0";
    case ReservedRule::kR5LargePageAlignment:
      return "R5 large-page alignment bits";
    case ReservedRule::kR6PsWithoutGbPages:
      return "R6 PDPTE.PS without 1 GiB-page support";
    case ReservedRule::kR7AmdBit8:
      return "R7 bit 8 of a PML5E/PML4E (AMD)";
  }
  return "?";
}

ReservedMasks ReservedMasks::make(unsigned maxphyaddr, Support nxe, Vendor vendor) {
  ReservedMasks m;
  m.vendor = vendor;
  m.above_maxphyaddr = entry::above_maxphyaddr_mask(maxphyaddr);  // R2
  m.xd_without_nxe = nxe == Support::kYes ? 0 : entry::kXd;       // R4
  m.base = m.above_maxphyaddr | m.xd_without_nxe;
  m.top = m.base | entry::kPs | (vendor == Vendor::kAmd ? entry::kAmdMbz8 : 0);  // R3, R7
  m.pdpte_ps_unsupported = m.base | entry::kPs;                                  // R6
  m.leaf_2m = m.base | entry::large_leaf_alignment_mask(PageSize::k2M);          // R5
  m.leaf_1g = m.base | entry::large_leaf_alignment_mask(PageSize::k1G);          // R5
  return m;
}

ReservedRule ReservedMasks::classify(u64 bits, Level level, PageSize leaf_size) const {
  const bool top = level == Level::kPml4e || level == Level::kPml5e;
  if (bits & above_maxphyaddr) return ReservedRule::kR2AboveMaxPhyAddr;
  if (top && (bits & entry::kPs)) return ReservedRule::kR3PsInTopLevel;
  if (bits & xd_without_nxe) return ReservedRule::kR4XdWithoutNxe;
  if (bits & entry::large_leaf_alignment_mask(leaf_size)) {
    return ReservedRule::kR5LargePageAlignment;
  }
  if (level == Level::kPdpte && (bits & entry::kPs)) return ReservedRule::kR6PsWithoutGbPages;
  if (top && vendor == Vendor::kAmd && (bits & entry::kAmdMbz8)) return ReservedRule::kR7AmdBit8;
  return ReservedRule::kNone;
}

}  // namespace pagesim::mmu
