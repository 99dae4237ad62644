// A page table: a root node and the cursor factories (the seed's `PageTable`, mod.rs of the
// same Asterinas commit).
//
// The page table knows nothing of TLBs (STYLE.md lesson 6): operations that remove or replace
// translations hand back what they removed; the simulated OS flushes the TLBs that may cache it
// and only then drops it.
#pragma once

#include <optional>
#include <utility>

#include "pagetable/cursor.h"

namespace pagesim::pt {

template <PageTableMode M, PageTableEntryTrait E = X86PageTableEntry,
          PagingConstsTrait C = PagingConsts4>
class PageTable {
 public:
  using Mode = M;
  using Entry = E;
  using Consts = C;
  static constexpr u64 kNrEntries = nr_subpage_per_huge<C>();

  // A new page table with an empty root (the seed's `empty`).
  static Result<PageTable, PageTableError> empty(FrameAllocator& a) {
    auto root = PageTableNode<E, C>::alloc(a, C::NR_LEVELS, Tracked::kYes);
    if (!root.ok()) {
      return Err{PageTableError{.code = PtErrc::kOutOfMemory, .alloc = root.error()}};
    }
    return PageTable(std::move(root).value().into_raw());
  }

  // A kernel page table whose whole kernel half has level NR−1 nodes, so every user page table
  // created from it shares the same kernel mappings (Asterinas `init_kernel_page_table` with
  // `make_shared_tables(256..512)`).
  // clang-format off
  static Result<PageTable, PageTableError> new_kernel(FrameAllocator& a)
    requires M::kIsKernel
  {
    // clang-format on
    PageTable pt = PAGESIM_TRY(empty(a));
    PAGESIM_TRY(pt.make_shared_tables(kNrEntries / 2, kNrEntries));
    return pt;
  }

  // Populates root slots [first, last) of the kernel half with empty level NR−1 nodes (the
  // seed's `make_shared_tables`).
  // clang-format off
  Result<void, PageTableError> make_shared_tables(u64 first, u64 last)
    requires M::kIsKernel
  {
    // clang-format on
    PAGESIM_ASSERT(first >= kNrEntries / 2 && first <= last && last <= kNrEntries,
                   "shared root slots [{}, {}) outside the kernel half", first, last);
    PageTableNode<E, C> root = root_.clone_shallow().lock();
    for (u64 i = first; i < last; ++i) {
      if (root.read_pte(i).is_present()) continue;
      const bool linear = i < kNrEntries * 3 / 4;
      const Tracked tracked = linear ? Tracked::kNo : Tracked::kYes;
      auto node = PageTableNode<E, C>::alloc(*alloc_, C::NR_LEVELS - 1, tracked);
      if (!node.ok()) {
        return Err{PageTableError{.code = PtErrc::kOutOfMemory, .alloc = node.error()}};
      }
      (void)root.set_child_pt(i, std::move(node).value().into_raw(), tracked);
    }
    return {};
  }

  // A user page table sharing this kernel table's top-level kernel nodes (the seed's
  // `create_user_page_table`: a root copy with slots 256–511 shared, 0–255 empty).
  // clang-format off
  Result<PageTable<UserMode, E, C>, PageTableError> create_user_page_table() const
    requires M::kIsKernel
  {
    // clang-format on
    PageTableNode<E, C> root = root_.clone_shallow().lock();
    auto copy = root.make_copy({0, 0}, {kNrEntries / 2, kNrEntries});
    if (!copy.ok()) return Err{PageTableError{.code = PtErrc::kOutOfMemory, .alloc = copy.error()}};
    return PageTable<UserMode, E, C>::from_root(std::move(copy).value().into_raw());
  }

  // Removes write permission from every user mapping and returns a copy sharing the pages and
  // the kernel half (the seed's `fork_copy_on_write`).
  // clang-format off
  Result<PageTable, PageTableError> fork_copy_on_write()
    requires(!M::kIsKernel)
  {
    // clang-format on
    const VRange all = M::template vaddr_range<C>();
    CursorMut<M, E, C> cursor = PAGESIM_TRY(cursor_mut(all));
    for (;;) {
      auto r = PAGESIM_TRY(cursor.protect_next(all.end - cursor.virt_addr(),
                                               [](PageProperty& p) { p.flags -= PageFlag::W; }));
      if (!r) break;
    }
    std::optional<PageTableNode<E, C>> root = std::move(cursor).leak_root_guard();
    PAGESIM_ASSERT(root.has_value(), "a whole-range cursor must hold the root");
    auto copy = root->make_copy({0, kNrEntries / 2}, {kNrEntries / 2, kNrEntries});
    if (!copy.ok()) return Err{PageTableError{.code = PtErrc::kOutOfMemory, .alloc = copy.error()}};
    return PageTable(std::move(copy).value().into_raw());
  }

  // The root's physical address: what CR3 holds while this table is active.
  PAddr root_paddr() const { return root_.paddr(); }
  const RawPageTableNode<E, C>& root() const { return root_; }
  FrameAllocator& allocator() const { return *alloc_; }

  Result<Cursor<M, E, C>, PageTableError> cursor(VRange range) const {
    return Cursor<M, E, C>::create(*this, range);
  }
  Result<CursorMut<M, E, C>, PageTableError> cursor_mut(VRange range) const {
    return CursorMut<M, E, C>::create(*this, range);
  }

  // The translation of one address, read without locks like a hardware walk (the seed's
  // `query` / `page_walk`). Concurrent cursors may make it stale, as for the hardware.
  std::optional<std::pair<PAddr, PageProperty>> query(VAddr va) const {
    PhysMem& mem = alloc_->mem();
    PAddr table = root_.paddr();
    for (PagingLevel level = C::NR_LEVELS; level >= 1; --level) {
      const E pte = E::from_raw(
          mem.entry(table + pte_index<C>(va, level) * C::PTE_SIZE).load(std::memory_order_acquire));
      if (!pte.is_present()) return std::nullopt;
      if (pte.is_last(level)) {
        return std::pair{pte.paddr() + va.offset_in(page_size<C>(level)), pte.prop()};
      }
      table = pte.paddr();
    }
    PAGESIM_UNREACHABLE("walk of {} went below level 1", va);
  }

  // Adopts a root node reference (used by the kernel table to make user tables).
  static PageTable from_root(RawPageTableNode<E, C> root) { return PageTable(std::move(root)); }

 private:
  explicit PageTable(RawPageTableNode<E, C> root)
      : alloc_(&root.allocator()), root_(std::move(root)) {}

  FrameAllocator* alloc_;
  RawPageTableNode<E, C> root_;
};

template <PagingConstsTrait C = PagingConsts4>
using KernelPageTable = PageTable<KernelMode, X86PageTableEntry, C>;
template <PagingConstsTrait C = PagingConsts4>
using UserPageTable = PageTable<UserMode, X86PageTableEntry, C>;

}  // namespace pagesim::pt
