// Architecture parameters of a page table, as a traits type checked by a concept
// (STYLE.md lesson 2; the seed's `PagingConstsTrait`). Index and page-size arithmetic are
// constexpr functions here and nowhere else.
//
// Levels are numbered as in the seed: 1 is the leaf table (4 KiB entries), NR_LEVELS the root.
#pragma once

#include <bit>
#include <concepts>

#include "sim/addr.h"

namespace pagesim::pt {

using PagingLevel = u8;

// clang-format off (clang-format 14 mangles requires-clauses)
template <class C>
concept PagingConstsTrait = requires {
  { C::BASE_PAGE_SIZE } -> std::convertible_to<u64>;
  { C::NR_LEVELS } -> std::convertible_to<PagingLevel>;
  { C::HIGHEST_TRANSLATION_LEVEL } -> std::convertible_to<PagingLevel>;
  { C::PTE_SIZE } -> std::convertible_to<u64>;
  { C::ADDRESS_WIDTH } -> std::convertible_to<unsigned>;
}
&&is_pow2(C::BASE_PAGE_SIZE) && C::HIGHEST_TRANSLATION_LEVEL <
                                    C::NR_LEVELS&& C::HIGHEST_TRANSLATION_LEVEL >= 1;

// x86-64 IA-32e paging: 4 KiB base pages, 512 eight-byte entries per node, 48-bit linear
// addresses with 4 levels and 57-bit with 5 (spec W1, W2). The highest translation level is 3:
// 1 GiB leaves (spec E3); a kernel that wants at most 2 MiB leaves uses HighestLevel = 2.
template <PagingLevel Levels, PagingLevel HighestLevel = 3>
requires(Levels == 4 || Levels == 5)
    // clang-format on
    struct X86PagingConsts {
  static constexpr u64 BASE_PAGE_SIZE = 4096;
  static constexpr PagingLevel NR_LEVELS = Levels;
  static constexpr PagingLevel HIGHEST_TRANSLATION_LEVEL = HighestLevel;
  static constexpr u64 PTE_SIZE = 8;
  static constexpr unsigned ADDRESS_WIDTH = Levels == 4 ? 48 : 57;
};

using PagingConsts4 = X86PagingConsts<4>;
using PagingConsts5 = X86PagingConsts<5>;
static_assert(PagingConstsTrait<PagingConsts4> && PagingConstsTrait<PagingConsts5>);

// Entries per node (512 on x86-64): a node is one base page of PTEs.
template <PagingConstsTrait C>
constexpr u64 nr_subpage_per_huge() {
  return C::BASE_PAGE_SIZE / C::PTE_SIZE;
}

template <PagingConstsTrait C>
constexpr unsigned nr_pte_index_bits() {
  return static_cast<unsigned>(std::countr_zero(nr_subpage_per_huge<C>()));
}

// The size of the range one entry at `level` maps: 4 KiB × 512^(level − 1). Valid for
// level ≤ NR_LEVELS + 1 (the latter is the whole address space a root node spans).
template <PagingConstsTrait C>
constexpr u64 page_size(PagingLevel level) {
  const unsigned shift = static_cast<unsigned>(std::countr_zero(C::BASE_PAGE_SIZE)) +
                         nr_pte_index_bits<C>() * (level - 1u);
  return shift >= 64 ? 0 : u64{1} << shift;  // 0 means 2^64 (never reached on x86-64)
}

// The index, within the node at `level`, of the entry that maps `va` (spec W2).
template <PagingConstsTrait C>
constexpr u64 pte_index(VAddr va, PagingLevel level) {
  const unsigned shift = static_cast<unsigned>(std::countr_zero(C::BASE_PAGE_SIZE)) +
                         nr_pte_index_bits<C>() * (level - 1u);
  return (va.value() >> shift) & (nr_subpage_per_huge<C>() - 1);
}

// Whether [va, va + size) fits below `end`, written so nothing overflows near the top of the
// address space (the seed's `va + page_size > end` wraps there; BEHAVIOURS.md).
constexpr bool fits_below(VAddr va, u64 size, VAddr end) { return va < end && end - va >= size; }

}  // namespace pagesim::pt
