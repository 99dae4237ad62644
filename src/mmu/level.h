// Paging levels, page sizes and the index arithmetic of an IA-32e walk (spec section 2.2).
//
// This is the hardware side's own copy of the x86-64 paging geometry (DESIGN.md: mmu and
// pagetable never include each other). Index and page-size math live here and nowhere else in
// src/mmu (STYLE.md lesson 2): every other file asks these functions.
#pragma once

#include <array>
#include <string_view>

#include "sim/addr.h"
#include "sim/types.h"

namespace pagesim::mmu {

// A paging-structure level, numbered as in the spec (section 0): the PTE is level 1, the PML5E
// level 5. The numeric value is the level number.
enum class Level : u8 { kPte = 1, kPde = 2, kPdpte = 3, kPml4e = 4, kPml5e = 5 };

inline constexpr int kMaxLevels = 5;

constexpr int level_number(Level l) { return static_cast<int>(l); }
constexpr Level level_from_number(int n) { return static_cast<Level>(n); }

// W2: the linear-address bit where a level's 9-bit index starts (PTE 12, PDE 21, PDPTE 30,
// PML4E 39, PML5E 48). It is also the log2 of the bytes one entry of that level covers.
constexpr unsigned level_shift(Level l) { return 12 + 9 * (level_number(l) - 1); }

// W2: the index of `va` in the table of level `l`.
constexpr unsigned level_index(VAddr va, Level l) {
  return static_cast<unsigned>((va.value() >> level_shift(l)) & 0x1ff);
}

// Spec section 0 names: "PML5E", "PML4E", "PDPTE", "PDE", "PTE".
constexpr std::string_view level_name(Level l) {
  constexpr std::array<std::string_view, 6> kNames{"?", "PTE", "PDE", "PDPTE", "PML4E", "PML5E"};
  return kNames[static_cast<unsigned>(l) <= 5 ? static_cast<unsigned>(l) : 0];
}

// The three page sizes of IA-32e paging (W5, W7). The numeric value doubles as an array index.
enum class PageSize : u8 { k4K = 0, k2M = 1, k1G = 2 };
inline constexpr int kNrPageSizes = 3;
inline constexpr std::array<PageSize, kNrPageSizes> kAllPageSizes{PageSize::k4K, PageSize::k2M,
                                                                  PageSize::k1G};

constexpr unsigned page_shift(PageSize s) { return 12 + 9 * static_cast<unsigned>(s); }
constexpr u64 page_bytes(PageSize s) { return u64{1} << page_shift(s); }
constexpr int size_index(PageSize s) { return static_cast<int>(s); }

// The level whose entry maps a page of this size (W7): PTE for 4 KiB, PDE for 2 MiB, PDPTE for
// 1 GiB.
constexpr Level leaf_level(PageSize s) { return level_from_number(static_cast<int>(s) + 1); }
constexpr PageSize page_size_of_leaf(Level l) { return static_cast<PageSize>(level_number(l) - 1); }

constexpr std::string_view page_size_name(PageSize s) {
  constexpr std::array<std::string_view, 3> kNames{"4 KiB", "2 MiB", "1 GiB"};
  return kNames[static_cast<unsigned>(s)];
}

// L1, L2: the number of linear-address bits that take part in a walk of `levels` levels.
constexpr unsigned linear_address_bits(int levels) { return levels == 5 ? 57 : 48; }

// L1, L2: canonical iff bits 63:(bits-1) are all equal (a sign extension of bit bits-1).
constexpr bool is_canonical(VAddr va, int levels) {
  const unsigned bits = linear_address_bits(levels);
  const u64 v = va.value();
  const u64 top = v >> (bits - 1);  // bits 63:(bits-1)
  return top == 0 || top == (~u64{0} >> (bits - 1));
}

}  // namespace pagesim::mmu
