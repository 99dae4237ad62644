// The hardware's view of a 64-bit IA-32e paging-structure entry (spec section 2.4, E1-E7).
//
// Written from the spec, independently of the OS-side entry type in src/pagetable (DESIGN.md:
// the two views are deliberately duplicated so that the MMU judges what the OS side wrote).
// Only the walker, the reserved-bit masks and the explanations read these constants.
#pragma once

#include <string>

#include "mmu/level.h"
#include "sim/types.h"

namespace pagesim::mmu {

// Whether an entry maps a page (a leaf, W7) or references a table; kUnknown when the caller
// only has a raw word (a conformance diff). Bit 6, 7, 8 and 12 mean different things for each.
enum class EntryRole : u8 { kNonLeaf, kLeaf, kUnknown };

namespace entry {

// E1-E5: bits with the same meaning at every level.
inline constexpr u64 kP = u64{1} << 0;    // present
inline constexpr u64 kRw = u64{1} << 1;   // R/W: 0 may disallow writes (section 4)
inline constexpr u64 kUs = u64{1} << 2;   // U/S: 0 makes the region supervisor-only
inline constexpr u64 kPwt = u64{1} << 3;  // page-level write-through (MT1, MT3)
inline constexpr u64 kPcd = u64{1} << 4;  // page-level cache disable (MT1, MT3)
inline constexpr u64 kA = u64{1} << 5;    // accessed (AD1)
// E3-E5: dirty, meaningful in a leaf only; bit 6 of a non-leaf entry is ignored (E1, E2).
inline constexpr u64 kD = u64{1} << 6;
// E1-E4: PS in a PDPTE/PDE (1 = leaf); reserved in PML5E/PML4E (R3). In a PTE bit 7 is PAT.
inline constexpr u64 kPs = u64{1} << 7;
inline constexpr u64 kPatPte = u64{1} << 7;     // E5: PAT bit of a PTE
inline constexpr u64 kG = u64{1} << 8;          // E3-E5: global (leaf only, when CR4.PGE=1)
inline constexpr u64 kAmdMbz8 = u64{1} << 8;    // R7: must-be-zero in PML5E/PML4E on AMD
inline constexpr u64 kPatLarge = u64{1} << 12;  // E3, E4: PAT bit of a 2 MiB / 1 GiB leaf
inline constexpr u64 kXd = u64{1} << 63;        // execute-disable (reserved if EFER.NXE=0, R4)

// E3-E5: protection key, leaf bits 62:59 (PK1).
inline constexpr unsigned kPkeyShift = 59;
inline constexpr u64 kPkeyMask = u64{0xf} << kPkeyShift;

// M2: bits M-1:12, the address bits of a 4 KiB-aligned table or frame for MAXPHYADDR M.
constexpr u64 address_mask(unsigned maxphyaddr) {
  return ((u64{1} << maxphyaddr) - 1) & ~u64{0xfff};
}

// R2, M3: bits 51:M, reserved in every present entry (empty when M = 52).
constexpr u64 above_maxphyaddr_mask(unsigned maxphyaddr) {
  return ((u64{1} << 52) - 1) & ~((u64{1} << maxphyaddr) - 1);
}

// R5: the bits between the PAT bit (12) and the frame of a large leaf: 20:13 (2 MiB) or 29:13
// (1 GiB). Empty for a 4 KiB page.
constexpr u64 large_leaf_alignment_mask(PageSize s) {
  return s == PageSize::k4K ? 0 : (page_bytes(s) - 1) & ~u64{0x1fff};
}

// W5: the frame address of a leaf of size `s`: entry[M-1:12/21/30].
constexpr u64 leaf_frame(u64 e, PageSize s, unsigned maxphyaddr) {
  return e & address_mask(maxphyaddr) & ~(page_bytes(s) - 1);
}

constexpr unsigned pkey(u64 e) { return static_cast<unsigned>((e & kPkeyMask) >> kPkeyShift); }

// MT1: PAT index of a leaf: 4*PAT + 2*PCD + PWT, PAT being bit 7 (PTE) or bit 12 (large leaf).
constexpr unsigned leaf_pat_index(u64 e, PageSize s) {
  const u64 pat = s == PageSize::k4K ? kPatPte : kPatLarge;
  return ((e & pat) ? 4u : 0u) + ((e & kPcd) ? 2u : 0u) + ((e & kPwt) ? 1u : 0u);
}

// MT3: the PAT index (PAT bit 0) used to read the table an entry references: 2*PCD + PWT.
constexpr unsigned table_pat_index(u64 e) {
  return ((e & kPcd) ? 2u : 0u) + ((e & kPwt) ? 1u : 0u);
}

// What one bit of an entry of level `level` means to the hardware, for diffs and explanations
// ("5 A (accessed)", "7 PS (page size)", "45 reserved above MAXPHYADDR", ...). `leaf` says
// whether the entry maps a page (bit 7 is then PS in a PDE/PDPTE, PAT in a PTE).
std::string bit_name(unsigned bit, Level level, EntryRole role, unsigned maxphyaddr);

// A one-line decoding of an entry, e.g. "P RW US A | addr 0x1234000 | XD".
std::string describe(u64 e, Level level, EntryRole role, unsigned maxphyaddr);

}  // namespace entry
}  // namespace pagesim::mmu
