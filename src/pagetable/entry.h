// The x86-64 page-table entry, OS view: how the simulated kernel builds an entry from a
// PageProperty and reads one back (the seed's `PageTableEntryTrait` and its x86 implementation).
//
// This is the only place on the OS side that knows the bit layout (STYLE.md lesson 3). The MMU
// has its own, independent reading of the same bits (src/mmu/); keep the two apart on purpose
// (DESIGN.md). Encoding, seed era (seed/BEHAVIOURS.md, "Entry encoding"; bit positions from
// spec §2.4 E1–E5):
//   leaf:  P, R/W if writable, U/S if user, PWT for write-through, PCD for uncacheable,
//          A / D from the property, PS (bit 7) only above level 1, G if global, XD if not
//          executable; address bits 51:12.
//   table: P | R/W | U/S (the most permissive: rights are decided at the leaf) | child address.
// At level 1, bit 7 is PAT to the hardware; the seed never sets it.
#pragma once

#include <concepts>

#include "pagetable/page_property.h"
#include "pagetable/paging_consts.h"

namespace pagesim::pt {

// What generic page-table code needs of an entry type (the seed's `PageTableEntryTrait`).
// clang-format off (clang-format 14 mangles requires-expressions)
template <class E>
concept PageTableEntryTrait = requires(E e, const E ce, PAddr pa, PagingLevel level,
                                       PageProperty prop, u64 raw) {
  { E::new_absent() } -> std::same_as<E>;
  { E::new_page(pa, level, prop) } -> std::same_as<E>;
  { E::new_pt(pa) } -> std::same_as<E>;
  { E::from_raw(raw) } -> std::same_as<E>;
  { ce.raw() } -> std::same_as<u64>;
  { ce.is_present() } -> std::same_as<bool>;
  { ce.paddr() } -> std::same_as<PAddr>;
  { ce.prop() } -> std::same_as<PageProperty>;
  { ce.is_last(level) } -> std::same_as<bool>;
  {e.set_prop(prop)};
  // Whether a property can be encoded at all (the seed-era x86 entry has no PAT support).
  { E::can_encode(prop) } -> std::same_as<bool>;
  // The hardware-owned status bits (accessed / dirty) of a raw value: protect and unmap must
  // preserve what hardware sets concurrently (DESIGN.md, "Concurrency with the hardware").
  { E::kHardwareStatusBits } -> std::convertible_to<u64>;
};
// clang-format on

class X86PageTableEntry {
 public:
  static constexpr u64 kPresent = u64{1} << 0;
  static constexpr u64 kWritable = u64{1} << 1;
  static constexpr u64 kUser = u64{1} << 2;
  static constexpr u64 kWriteThrough = u64{1} << 3;
  static constexpr u64 kNoCache = u64{1} << 4;
  static constexpr u64 kAccessed = u64{1} << 5;
  static constexpr u64 kDirty = u64{1} << 6;
  static constexpr u64 kHuge = u64{1} << 7;  // PS above level 1
  static constexpr u64 kGlobal = u64{1} << 8;
  static constexpr u64 kNoExecute = u64{1} << 63;
  static constexpr u64 kPhysAddrMask = 0x000F'FFFF'FFFF'F000ull;  // bits 51:12
  static constexpr u64 kHardwareStatusBits = kAccessed | kDirty;

  constexpr X86PageTableEntry() = default;
  static constexpr X86PageTableEntry from_raw(u64 raw) { return X86PageTableEntry(raw); }
  static constexpr X86PageTableEntry new_absent() { return X86PageTableEntry(0); }

  static constexpr X86PageTableEntry new_page(PAddr pa, PagingLevel level, PageProperty prop) {
    X86PageTableEntry e((pa.value() & kPhysAddrMask) | (level > 1 ? kHuge : 0));
    e.set_prop(prop);
    return e;
  }

  static constexpr X86PageTableEntry new_pt(PAddr pa) {
    return X86PageTableEntry((pa.value() & kPhysAddrMask) | kPresent | kWritable | kUser);
  }

  static constexpr bool can_encode(PageProperty prop) {
    return prop.cache == CachePolicy::Writeback || prop.cache == CachePolicy::Writethrough ||
           prop.cache == CachePolicy::Uncacheable;
  }

  constexpr u64 raw() const { return raw_; }
  constexpr bool is_present() const { return (raw_ & kPresent) != 0; }
  constexpr PAddr paddr() const { return PAddr(raw_ & kPhysAddrMask); }
  constexpr bool is_last(PagingLevel level) const { return level == 1 || (raw_ & kHuge) != 0; }

  constexpr PageProperty prop() const {
    PageFlags flags;
    if (is_present()) flags |= PageFlag::R;
    if (raw_ & kWritable) flags |= PageFlag::W;
    if (!(raw_ & kNoExecute)) flags |= PageFlag::X;
    if (raw_ & kAccessed) flags |= PageFlag::ACCESSED;
    if (raw_ & kDirty) flags |= PageFlag::DIRTY;
    PrivFlags priv;
    if (raw_ & kUser) priv |= PrivFlag::USER;
    if (raw_ & kGlobal) priv |= PrivFlag::GLOBAL;
    CachePolicy cache = (raw_ & kNoCache)        ? CachePolicy::Uncacheable
                        : (raw_ & kWriteThrough) ? CachePolicy::Writethrough
                                                 : CachePolicy::Writeback;
    return PageProperty{flags, cache, priv};
  }

  // Replaces every property bit, keeping the address and PS. `prop` must be encodable.
  constexpr void set_prop(PageProperty prop) {
    u64 bits = kPresent;
    if (prop.flags.contains(PageFlag::W)) bits |= kWritable;
    if (!prop.flags.contains(PageFlag::X)) bits |= kNoExecute;
    if (prop.flags.contains(PageFlag::ACCESSED)) bits |= kAccessed;
    if (prop.flags.contains(PageFlag::DIRTY)) bits |= kDirty;
    if (prop.priv_flags.contains(PrivFlag::USER)) bits |= kUser;
    if (prop.priv_flags.contains(PrivFlag::GLOBAL)) bits |= kGlobal;
    if (prop.cache == CachePolicy::Writethrough) bits |= kWriteThrough;
    if (prop.cache == CachePolicy::Uncacheable) bits |= kNoCache;
    raw_ = (raw_ & (kPhysAddrMask | kHuge)) | bits;
  }

  constexpr bool operator==(const X86PageTableEntry&) const = default;

 private:
  constexpr explicit X86PageTableEntry(u64 raw) : raw_(raw) {}
  u64 raw_ = 0;
};
static_assert(PageTableEntryTrait<X86PageTableEntry>);

}  // namespace pagesim::pt
