// Page-table modes: which part of the address space a page table manages (the seed's
// `PageTableMode`, `UserMode`, `KernelMode` and `covers`), and which mappings in it are
// tracked (frames owned and reference counted) or untracked (plain physical addresses).
//
// The ranges follow Asterinas of the seed's era, scaled to the address width:
//   user:    [0, 2^(W-1) − 4 KiB)                 (MAX_USERSPACE_VADDR)
//   kernel:  [−2^(W-1), 0xffff_ffff_ffff_0000)     (KERNEL_VADDR_RANGE; root slots 256–511)
//   linear:  [−2^(W-1), −2^(W-1) + 2^(W-2))        (LINEAR_MAPPING_VADDR_RANGE; slots 256–383)
// with W = 48 for 4-level and 57 for 5-level paging. Every user mapping is tracked; in the kernel,
// the linear mapping is untracked and everything else tracked (seed `in_tracked_range`).
#pragma once

#include <concepts>
#include <string_view>

#include "pagetable/paging_consts.h"

namespace pagesim::pt {

template <PagingConstsTrait C>
constexpr VAddr kernel_base() {
  return VAddr(~u64{0} << (C::ADDRESS_WIDTH - 1));
}

struct UserMode {
  static constexpr std::string_view kName = "user";
  static constexpr bool kIsKernel = false;
  template <PagingConstsTrait C>
  static constexpr VRange vaddr_range() {
    return {VAddr(0), VAddr((u64{1} << (C::ADDRESS_WIDTH - 1)) - C::BASE_PAGE_SIZE)};
  }
};

struct KernelMode {
  static constexpr std::string_view kName = "kernel";
  static constexpr bool kIsKernel = true;
  template <PagingConstsTrait C>
  static constexpr VRange vaddr_range() {
    return {kernel_base<C>(), VAddr(0xffff'ffff'ffff'0000ull)};
  }
  template <PagingConstsTrait C>
  static constexpr VRange linear_mapping_range() {
    return {kernel_base<C>(), kernel_base<C>() + (u64{1} << (C::ADDRESS_WIDTH - 2))};
  }
};

template <class M>
concept PageTableMode = std::same_as<M, UserMode> || std::same_as<M, KernelMode>;

// Whether the mode's range covers `r` (the seed's `covers`). Empty and reversed ranges are not
// covered: the seed's arithmetic misbehaves on them (BEHAVIOURS.md), pagesim refuses them.
template <PageTableMode M, PagingConstsTrait C>
constexpr bool covers(const VRange& r) {
  return !r.empty() && M::template vaddr_range<C>().covers(r);
}

// Whether a mapping at `va` is tracked (seed `in_tracked_range`).
template <PageTableMode M, PagingConstsTrait C>
constexpr bool in_tracked_range(VAddr va) {
  if constexpr (M::kIsKernel) {
    return !KernelMode::linear_mapping_range<C>().contains(va);
  } else {
    return true;
  }
}

enum class Tracked : u8 { kNo, kYes };

}  // namespace pagesim::pt
