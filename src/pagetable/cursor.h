// The page-table cursor for mapping and querying (the seed's cursor.rs, Asterinas 0c0159098),
// ported behaviour by behaviour.
//
// ## The lock protocol (the seed's, exactly)
//
// Every node has a lock in its frame metadata. A cursor is created for a virtual range and
// finds the lowest node that covers the whole range:
//
//   1. it locks the root;
//   2. while the range's first and last addresses fall in the same entry of the current node,
//      and that entry points to a child table, it locks the child and then unlocks the parent;
//   3. it ends holding exactly one lock, on the lowest node covering the range. That node is
//      the cursor's "guard level" and `barrier_va` is the range.
//
// Afterwards the cursor keeps guards from the guard-level node down to the node it is working
// in, one per level, in `guards_` (index i holds level i + 1). Going down locks the child while
// the parent stays locked; going up unlocks the lower node. The cursor never goes above its
// guard level and never locks a node that is not below a node it holds, so every thread takes
// locks in root-to-leaf order along one path: there is no cycle, hence no deadlock. When the
// cursor is destroyed it unlocks from the lowest level up, the reverse of acquisition.
//
// For example (the seed's picture), mapping the starred entries:
//
//     Top-level node                A
//                                  |
//                                 B
//                                / \  (B holds both C and D)
//     Last-level nodes          C   D
//     Last-level PTEs       ---**...**---
//
//   new:  lock(A), lock(B), unlock(A)               guards = [B]
//   map:  lock(C), map in C, unlock(C)              guards = [B, C] → [B]
//         lock(D), map in D, unlock(D)              guards = [B, D] → [B]
//
// What the protocol does not promise (the seed's "Validity"): two cursors may claim
// overlapping ranges (one covering the other). The larger one blocks when it needs a node the
// smaller holds; and if the larger one replaces the smaller one's ancestor entry, the smaller
// one's later changes land in a detached subtree and are not visible. Nodes are reference
// counted, so that is never a use-after-free. Hardware walkers take no lock at all.
//
// ## Where pagesim differs from the seed (seed/BEHAVIOURS.md, docs/pagetable.md)
// - Caller mistakes are error values (PageTableError), not panics: ranges outside the mode,
//   empty or unaligned; operations past the locked range; a small page inside a huge page;
//   part of a tracked huge page removed or protected; simulated memory exhausted.
// - Range arithmetic never overflows: "fits" is "end − va ≥ size".
// - `map` hands back what it replaced (the old page, or a whole child table when a huge page
//   is mapped over one) instead of freeing it: the caller frees it after the TLB shootdown.
// - `map` climbs back to the page's level when a query or jump left the cursor below it (the
//   seed asserts); when the cursor's guard is the very child table in the page's slot (a cursor
//   created for exactly the page's range), the map is refused with kGuardNodeInTheWay.
// - Absent slots are skipped by their slot end, not by `va + page size` (the seed's test skipped
//   the rest of the range when the cursor sat mid-slot); `protect_next` stops at the end of its
//   range like `take_next` does, as the seed's documentation says.
#pragma once

#include <array>
#include <functional>
#include <optional>

#include "pagetable/error.h"
#include "pagetable/item.h"
#include "pagetable/mode.h"
#include "pagetable/node.h"

namespace pagesim::pt {

template <PageTableMode M, PageTableEntryTrait E, PagingConstsTrait C>
class PageTable;

// The level whose pages have `size` bytes, or 0 if none does.
template <PagingConstsTrait C>
constexpr PagingLevel level_of_page_size(u64 size) {
  for (PagingLevel l = 1; l <= C::NR_LEVELS; ++l) {
    if (page_size<C>(l) == size) return l;
  }
  return 0;
}

// What a `map` replaced. Both parts must be kept until the TLBs that may cache the old
// translations are flushed, then dropped (dropping frees frames and nodes).
template <PageTableEntryTrait E, PagingConstsTrait C>
struct [[nodiscard]] MapOutcome {
  std::optional<PageTableItem> replaced;           // the leaf mapping that was there
  std::optional<RawPageTableNode<E, C>> detached;  // a child table that was there
  bool replaced_anything() const { return replaced.has_value() || detached.has_value(); }
};

// What a `map_pa` replaced: the number of leaf entries overwritten, and the child tables it
// detached (to drop after the TLB flush).
template <PageTableEntryTrait E, PagingConstsTrait C>
struct [[nodiscard]] MapPaOutcome {
  u64 replaced_leaves = 0;
  std::vector<RawPageTableNode<E, C>> detached;
  bool replaced_anything() const { return replaced_leaves != 0 || !detached.empty(); }
};

template <PageTableMode M, PageTableEntryTrait E, PagingConstsTrait C>
class Cursor {
 public:
  using Node = PageTableNode<E, C>;

  // Creates a cursor claiming `range` (the seed's `Cursor::new`); see the lock protocol above.
  static Result<Cursor, PageTableError> create(const PageTable<M, E, C>& pt, VRange range) {
    if (!covers<M, C>(range)) {
      return Err{
          PageTableError{.code = PtErrc::kInvalidVaddrRange, .va = range.start, .va2 = range.end}};
    }
    if (!range.start.is_aligned(C::BASE_PAGE_SIZE) || !range.end.is_aligned(C::BASE_PAGE_SIZE)) {
      const VAddr bad = range.start.is_aligned(C::BASE_PAGE_SIZE) ? range.end : range.start;
      return Err{
          PageTableError{.code = PtErrc::kUnalignedVaddr, .va = bad, .size = C::BASE_PAGE_SIZE}};
    }
    Cursor c(pt.allocator(), range);
    c.guards_[C::NR_LEVELS - 1] = pt.root().clone_shallow().lock();
    for (;;) {
      const bool level_too_high =
          pte_index<C>(range.start, c.level_) == pte_index<C>(range.end - 1, c.level_);
      if (!level_too_high) break;
      const E pte = c.read_cur_pte();
      if (!pte.is_present() || pte.is_last(c.level_)) break;
      c.level_down();
      c.guards_[c.level_].reset();  // release the guard of the upper level
      c.guard_level_ -= 1;
    }
    return c;
  }

  Cursor(Cursor&&) noexcept = default;
  Cursor& operator=(Cursor&&) noexcept = default;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  // Unlocks from the lowest level up: the reverse of the order of acquisition.
  ~Cursor() {
    for (auto& g : guards_) g.reset();
  }

  // The slot at the current address (the seed's `query`): NotMapped with the slot's size,
  // Mapped (an extra reference to the page), or MappedUntracked. Descends into child tables.
  Result<PageTableItem, PageTableError> query() {
    if (va_ >= barrier_va_.end) {
      return Err{
          PageTableError{.code = PtErrc::kInvalidVaddr, .va = va_, .va2 = barrier_va_.start}};
    }
    for (;;) {
      const E pte = read_cur_pte();
      if (!pte.is_present()) return PageTableItem{NotMapped{va_, page_size<C>(level_)}};
      if (!pte.is_last(level_)) {
        level_down();
        continue;
      }
      Child<E, C> c = cur_child();
      if (auto* page = std::get_if<Frame>(&c)) {
        return PageTableItem{Mapped{va_, std::move(*page), pte.prop()}};
      }
      auto* u = std::get_if<ChildUntracked>(&c);
      PAGESIM_ASSERT(u != nullptr, "present leaf at {} is neither a page nor untracked", va_);
      return PageTableItem{MappedUntracked{va_, u->pa, page_size<C>(level_), pte.prop()}};
    }
  }

  // Moves to the next slot of the current level, climbing while it crosses a node boundary but
  // never above the guard level (the seed's `move_forward`).
  void move_forward() {
    const u64 size = page_size<C>(level_);
    u64 next;
    if (__builtin_add_overflow(va_.align_down(size).value(), size, &next)) {
      va_ = barrier_va_.end;  // past the top of the address space: past the range too
      return;
    }
    while (level_ < guard_level_ && pte_index<C>(VAddr(next), level_) == 0) level_up();
    va_ = VAddr(next);
  }

  // Moves to `va` inside the locked range (the seed's `jump`), climbing as needed.
  Result<void, PageTableError> jump(VAddr va) {
    if (!va.is_aligned(C::BASE_PAGE_SIZE)) {
      return Err{
          PageTableError{.code = PtErrc::kUnalignedVaddr, .va = va, .size = C::BASE_PAGE_SIZE}};
    }
    if (!barrier_va_.contains(va)) {
      return Err{PageTableError{.code = PtErrc::kInvalidVaddr, .va = va, .va2 = barrier_va_.start}};
    }
    for (;;) {
      const u64 node_size = page_size<C>(level_ + 1);
      const VAddr node_start = va_.align_down(node_size);
      // If the address is within the current node, jump directly.
      if (va >= node_start && va - node_start < node_size) {
        va_ = va;
        return {};
      }
      // The corner case: the cursor is depleted, sitting past its range at the guard level,
      // where the next node is not locked because its parent is not.
      if (va_ >= barrier_va_.end && level_ == guard_level_) {
        va_ = va;
        return {};
      }
      PAGESIM_ASSERT(level_ < guard_level_, "jump climbing above the guard level");
      level_up();
    }
  }

  VAddr virt_addr() const { return va_; }

  // Iteration (the seed's `Iterator::next`): the current slot, then move past it; nullopt once
  // the range is exhausted.
  std::optional<PageTableItem> next() {
    auto r = query();
    if (!r.ok()) return std::nullopt;
    move_forward();
    return std::move(r).value();
  }

  // --- Introspection (tests, `explain`, `dump`). ---
  PagingLevel level() const { return level_; }
  PagingLevel guard_level() const { return guard_level_; }
  VRange barrier_va() const { return barrier_va_; }
  // The node locked at `level`, if the cursor holds it.
  std::optional<PAddr> locked_node(PagingLevel level) const {
    if (level < 1 || level > C::NR_LEVELS || !guards_[level - 1]) return std::nullopt;
    return guards_[level - 1]->paddr();
  }

 protected:
  Cursor(FrameAllocator& a, VRange range)
      : alloc_(&a),
        level_(C::NR_LEVELS),
        guard_level_(C::NR_LEVELS),
        va_(range.start),
        barrier_va_(range) {}

  // Goes up a level, unlocking the current node (the seed's `level_up`).
  //
  // The seed's TODO — freeing nodes that became empty — would go here: docs/pagetable.md says
  // how the design is ready for it.
  void level_up() {
    guards_[level_ - 1].reset();
    level_ += 1;
  }

  // Goes down into the child table of the current slot, locking it (the seed's `level_down`).
  void level_down() {
    PAGESIM_ASSERT(level_ > 1, "level_down below level 1");
    Child<E, C> c = cur_child();
    auto* raw = std::get_if<RawPageTableNode<E, C>>(&c);
    PAGESIM_ASSERT(raw != nullptr, "level_down at {} where there is no child table", va_);
    Node locked = std::move(*raw).lock();
    level_ -= 1;
    PAGESIM_ASSERT(locked.level() == level_, "child table at level {} under level {}",
                   locked.level(), level_ + 1);
    guards_[level_ - 1] = std::move(locked);
  }

  Node& cur_node() {
    PAGESIM_ASSERT(guards_[level_ - 1].has_value(), "no guard at level {}", level_);
    return *guards_[level_ - 1];
  }
  u64 cur_idx() const { return pte_index<C>(va_, level_); }
  Child<E, C> cur_child() { return cur_node().child(cur_idx(), tracked()); }
  E read_cur_pte() { return cur_node().read_pte(cur_idx()); }
  // Whether the current address lies where mappings are tracked (the seed's
  // `in_tracked_range`).
  Tracked tracked() const { return in_tracked_range<M, C>(va_) ? Tracked::kYes : Tracked::kNo; }

  FrameAllocator* alloc_;
  std::array<std::optional<Node>, C::NR_LEVELS> guards_;
  PagingLevel level_;        // the level of the node the cursor points into
  PagingLevel guard_level_;  // from guard_level_ down to level_, the locks are held in guards_
  VAddr va_;                 // the current virtual address
  VRange barrier_va_;        // the locked range
};

// A cursor that can also map, unmap and protect (the seed's `CursorMut`).
template <PageTableMode M, PageTableEntryTrait E, PagingConstsTrait C>
class CursorMut : private Cursor<M, E, C> {
  using Base = Cursor<M, E, C>;

 public:
  static Result<CursorMut, PageTableError> create(const PageTable<M, E, C>& pt, VRange range) {
    Base base = PAGESIM_TRY(Base::create(pt, range));
    return CursorMut(std::move(base));
  }

  using Base::barrier_va;
  using Base::guard_level;
  using Base::jump;
  using Base::level;
  using Base::locked_node;
  using Base::query;
  using Base::virt_addr;

  // Maps `page` at the current address with `prop` and moves past it (the seed's `map`).
  // The page's size picks the level; child tables are created where absent. Mapping over an
  // existing mapping of that size replaces it; mapping over a child table detaches the table.
  // Both come back in the outcome, for the caller to drop after the TLB flush.
  // Errors: a page size the table cannot map, an address not aligned to the page, a page past
  // the locked range, a tracked page in the untracked linear map, a property the entry cannot
  // encode, a smaller page inside an existing huge page, a huge page whose slot holds the child
  // table this cursor is locked on, simulated memory exhausted (the table stays consistent; the
  // page is dropped).
  Result<MapOutcome<E, C>, PageTableError> map(Frame page, PageProperty prop) {
    const u64 size = page.size();
    const PagingLevel page_level = level_of_page_size<C>(size);
    if (page_level == 0 || page_level > C::HIGHEST_TRANSLATION_LEVEL) {
      return Err{PageTableError{.code = PtErrc::kBadPageSize, .va = this->va_, .size = size}};
    }
    if (!this->va_.is_aligned(size)) {
      return Err{PageTableError{.code = PtErrc::kUnalignedVaddr, .va = this->va_, .size = size}};
    }
    if (!fits_below(this->va_, size, this->barrier_va_.end)) {
      return Err{PageTableError{.code = PtErrc::kBeyondCursorRange,
                                .va = this->va_ + size,
                                .va2 = this->barrier_va_.end}};
    }
    if (this->tracked() == Tracked::kNo) {
      return Err{PageTableError{.code = PtErrc::kTrackedInUntracked, .va = this->va_}};
    }
    if (!E::can_encode(prop)) {
      return Err{PageTableError{.code = PtErrc::kUnsupportedProperty, .va = this->va_}};
    }
    const VAddr end = this->va_ + size;

    // A query or a jump may have left the cursor below the page's level, in a child table of the
    // page's slot: climb back (as later Asterinas does), releasing the lower nodes. The cursor
    // cannot climb above its guard: when the guard itself is below the page's level, the range is
    // exactly the page's slot, that slot holds the child table the cursor is locked on, and the
    // slot's own node is not locked by this cursor (the seed trips a debug assertion here).
    while (this->level_ < page_level && this->level_ < this->guard_level_) this->level_up();
    if (this->level_ < page_level) {
      return Err{PageTableError{.code = PtErrc::kGuardNodeInTheWay, .va = this->va_, .size = size}};
    }

    // Go down while this level cannot hold the page.
    while (this->level_ > C::HIGHEST_TRANSLATION_LEVEL ||
           !this->va_.is_aligned(page_size<C>(this->level_)) ||
           !fits_below(this->va_, page_size<C>(this->level_), end)) {
      const E pte = this->read_cur_pte();
      if (pte.is_present() && !pte.is_last(this->level_)) {
        this->level_down();
      } else if (!pte.is_present()) {
        PAGESIM_TRY(level_down_create());
      } else {
        return Err{
            PageTableError{.code = PtErrc::kSmallPageInHugePage, .va = this->va_, .size = size}};
      }
    }
    PAGESIM_ASSERT(this->level_ == page_level, "mapping a level-{} page at level {}", page_level,
                   this->level_);

    const VAddr va = this->va_;
    TakenChild<E, C> old = cur_node_mut().set_child_page(this->cur_idx(), std::move(page), prop);
    this->move_forward();
    return replaced_by_map(va, std::move(old));
  }

  // Maps the physical range `pa` at the current address with the largest pages that fit the
  // alignment of both addresses, splitting existing untracked huge pages where a smaller page
  // must go, never mapping in the kernel's shared top-level nodes (the seed's `map_pa`).
  // On simulated-memory exhaustion the error names the address reached: the pages before it
  // are mapped, the table is consistent.
  Result<MapPaOutcome<E, C>, PageTableError> map_pa(PRange pa, PageProperty prop) {
    if (pa.empty()) {
      return Err{
          PageTableError{.code = PtErrc::kInvalidVaddrRange, .va = this->va_, .va2 = this->va_}};
    }
    if (!pa.start.is_aligned(C::BASE_PAGE_SIZE) || !pa.end.is_aligned(C::BASE_PAGE_SIZE)) {
      const PAddr bad = pa.start.is_aligned(C::BASE_PAGE_SIZE) ? pa.end : pa.start;
      return Err{PageTableError{
          .code = PtErrc::kUnalignedPaddr, .va = VAddr(bad.value()), .size = C::BASE_PAGE_SIZE}};
    }
    const u64 len = pa.size();
    if (!fits_below(this->va_, len, this->barrier_va_.end)) {
      return Err{PageTableError{.code = PtErrc::kBeyondCursorRange,
                                .va = VAddr(this->va_.value() + len),
                                .va2 = this->barrier_va_.end}};
    }
    const VAddr end = this->va_ + len;
    // The linear-mapping range is contiguous, so both ends being untracked covers all of it.
    if (in_tracked_range<M, C>(this->va_) || in_tracked_range<M, C>(end - C::BASE_PAGE_SIZE)) {
      return Err{PageTableError{.code = PtErrc::kUntrackedInTracked, .va = this->va_}};
    }
    if (!E::can_encode(prop)) {
      return Err{PageTableError{.code = PtErrc::kUnsupportedProperty, .va = this->va_}};
    }

    MapPaOutcome<E, C> out;
    PAddr p = pa.start;
    while (this->va_ < end) {
      // Never map in (or release) the kernel's shared top-level nodes.
      const bool is_kernel_shared_node = M::kIsKernel && this->level_ >= C::NR_LEVELS - 1;
      const u64 size = page_size<C>(this->level_);
      if (this->level_ > C::HIGHEST_TRANSLATION_LEVEL || is_kernel_shared_node ||
          !this->va_.is_aligned(size) || !fits_below(this->va_, size, end) || !p.is_aligned(size)) {
        const E pte = this->read_cur_pte();
        if (pte.is_present() && !pte.is_last(this->level_)) {
          this->level_down();
        } else if (!pte.is_present()) {
          PAGESIM_TRY(level_down_create());
        } else {
          PAGESIM_TRY(level_down_split());
        }
        continue;
      }

      TakenChild<E, C> old = cur_node_mut().set_child_untracked(this->cur_idx(), p, prop);
      if (auto* t = std::get_if<RawPageTableNode<E, C>>(&old.child)) {
        out.detached.push_back(std::move(*t));
      } else if (!std::holds_alternative<ChildNone>(old.child)) {
        ++out.replaced_leaves;
      }
      p += size;
      this->move_forward();
    }
    return out;
  }

  // Removes the next mapped page in [va, va + len) and returns it, moving past it (the seed's
  // `take_next`). Skips absent entries and empty child tables; splits untracked huge pages the
  // range covers only in part. With nothing left it returns NotMapped{va, len} and leaves the
  // cursor at the end of the range. The returned item carries the entry's final accessed/dirty
  // bits; a tracked page's reference is the caller's, to drop after the TLB flush.
  // Errors: len unaligned, a range past the locked range, part of a tracked huge page,
  // simulated memory exhausted while splitting.
  Result<PageTableItem, PageTableError> take_next(u64 len) {
    const VAddr start = this->va_;
    const VAddr end = PAGESIM_TRY(range_end(len));
    while (this->va_ < end) {
      const E pte = this->read_cur_pte();
      const Tracked tracked = this->tracked();
      const u64 size = page_size<C>(this->level_);

      if (!pte.is_present()) {
        if (skip_absent_slot(end)) break;
        continue;
      }
      if (!pte.is_last(this->level_)) {
        descend_or_skip_empty();
        continue;
      }
      // Removing part of a huge page: split it if untracked.
      if (!this->va_.is_aligned(size) || !fits_below(this->va_, size, end)) {
        if (tracked == Tracked::kNo) {
          PAGESIM_TRY(level_down_split());
          continue;
        }
        return Err{PageTableError{
            .code = PtErrc::kPartialHugeUnmap, .va = this->va_.align_down(size), .size = size}};
      }

      const VAddr va = this->va_;
      TakenChild<E, C> taken = cur_node_mut().take_child(this->cur_idx(), tracked);
      this->move_forward();
      if (auto* page = std::get_if<Frame>(&taken.child)) {
        return PageTableItem{Mapped{va, std::move(*page), taken.pte.prop()}};
      }
      auto* u = std::get_if<ChildUntracked>(&taken.child);
      PAGESIM_ASSERT(u != nullptr, "took a leaf at {} that is neither page nor untracked", va);
      return PageTableItem{MappedUntracked{va, u->pa, size, taken.pte.prop()}};
    }
    if (this->va_ > end) this->va_ = end;
    return PageTableItem{NotMapped{start, len}};
  }

  // Applies `op` to the property of the next mapped page in [va, va + len) and returns the
  // range it protected, moving past it (the seed's `protect_next`); nullopt when nothing is
  // left, with the cursor at the end of the range. Splits untracked huge pages covered in part.
  // `op` receives the entry's current property; accessed/dirty bits that hardware sets while
  // it runs are kept. Errors: as take_next, plus a property the entry cannot encode.
  // clang-format off
  template <class Op>
    requires std::invocable<Op&, PageProperty&>
  Result<std::optional<VRange>, PageTableError> protect_next(u64 len, Op&& op) {
    // clang-format on
    const VAddr end = PAGESIM_TRY(range_end(len));
    while (this->va_ < end) {
      const E pte = this->read_cur_pte();
      const u64 size = page_size<C>(this->level_);
      if (!pte.is_present()) {
        if (skip_absent_slot(end)) break;
        continue;
      }
      if (!pte.is_last(this->level_)) {
        descend_or_skip_empty();
        continue;
      }
      if (!this->va_.is_aligned(size) || !fits_below(this->va_, size, end)) {
        if (this->tracked() == Tracked::kYes) {
          return Err{PageTableError{
              .code = PtErrc::kPartialHugeProtect, .va = this->va_.align_down(size), .size = size}};
        }
        PAGESIM_TRY(level_down_split());
        continue;
      }

      PageProperty prop = pte.prop();
      std::invoke(op, prop);
      if (!E::can_encode(prop)) {
        return Err{PageTableError{.code = PtErrc::kUnsupportedProperty, .va = this->va_}};
      }
      (void)cur_node_mut().protect(this->cur_idx(), prop, pte);
      const VRange protected_va{this->va_, this->va_ + size};
      this->move_forward();
      return std::optional<VRange>(protected_va);
    }
    if (this->va_ > end) this->va_ = end;
    return std::optional<VRange>();
  }

  // Hands the root's guard to the caller if this cursor locked the root (the seed's
  // `leak_root_guard`); the cursor is consumed.
  std::optional<PageTableNode<E, C>> leak_root_guard() && {
    if (this->guard_level_ != C::NR_LEVELS) {
      // Consumed without a root guard to hand over: release every lock now, lowest first, as
      // dropping the seed's cursor does (the caller's moved-from object must not keep them).
      for (auto& g : this->guards_) g.reset();
      return std::nullopt;
    }
    while (this->level_ < C::NR_LEVELS) this->level_up();
    std::optional<PageTableNode<E, C>> root = std::move(this->guards_[C::NR_LEVELS - 1]);
    this->guards_[C::NR_LEVELS - 1].reset();
    return root;
  }

  // Goes down a level where the current slot is absent, creating a child table (the seed's
  // `level_down_create`). On allocation failure nothing changes.
  Result<void, PageTableError> level_down_create() {
    PAGESIM_ASSERT(this->level_ > 1, "level_down_create at level 1");
    const Tracked tracked = this->tracked();
    auto node = PageTableNode<E, C>::alloc(*this->alloc_, this->level_ - 1, tracked);
    if (!node.ok()) {
      return Err{
          PageTableError{.code = PtErrc::kOutOfMemory, .va = this->va_, .alloc = node.error()}};
    }
    TakenChild<E, C> old = cur_node_mut().set_child_pt(this->cur_idx(), node->clone_raw(), tracked);
    PAGESIM_ASSERT(std::holds_alternative<ChildNone>(old.child),
                   "level_down_create over a present entry at {}", this->va_);
    this->level_ -= 1;
    this->guards_[this->level_ - 1] = std::move(node).value();
    return {};
  }

  // Goes down a level where the current slot is an untracked huge page, splitting it (the
  // seed's `level_down_split`). On allocation failure nothing changes.
  Result<void, PageTableError> level_down_split() {
    PAGESIM_ASSERT(this->level_ > 1 && this->tracked() == Tracked::kNo,
                   "level_down_split of a tracked or level-1 entry at {}", this->va_);
    auto r = cur_node_mut().split_untracked_huge(this->cur_idx());
    if (!r.ok()) {
      return Err{PageTableError{.code = PtErrc::kOutOfMemory, .va = this->va_, .alloc = r.error()}};
    }
    this->level_down();
    return {};
  }

 private:
  explicit CursorMut(Base&& base) : Base(std::move(base)) {}

  PageTableNode<E, C>& cur_node_mut() { return this->cur_node(); }

  // The end of [va, va + len), checked against the locked range.
  Result<VAddr, PageTableError> range_end(u64 len) const {
    if (!is_aligned(len, C::BASE_PAGE_SIZE)) {
      return Err{PageTableError{
          .code = PtErrc::kUnalignedVaddr, .va = VAddr(len), .size = C::BASE_PAGE_SIZE}};
    }
    if (len != 0 && !fits_below(this->va_, len, this->barrier_va_.end)) {
      return Err{PageTableError{.code = PtErrc::kBeyondCursorRange,
                                .va = VAddr(this->va_.value() + len),
                                .va2 = this->barrier_va_.end}};
    }
    return this->va_ + len;
  }

  // At an absent slot: moves past it, or to `end` if the slot reaches it. True when done.
  bool skip_absent_slot(VAddr end) {
    const u64 size = page_size<C>(this->level_);
    const VAddr slot_start = this->va_.align_down(size);
    if (!fits_below(slot_start, size, end)) {
      this->va_ = end;
      return true;
    }
    this->move_forward();
    return false;
  }

  // At a child-table slot: goes down; if the child has no present entry, comes back and moves
  // past it at once (the seed's fast skip of empty tables).
  void descend_or_skip_empty() {
    this->level_down();
    if (this->cur_node().nr_children() == 0) {
      this->level_up();
      this->move_forward();
    }
  }

  static MapOutcome<E, C> replaced_by_map(VAddr va, TakenChild<E, C> old) {
    MapOutcome<E, C> out;
    if (auto* page = std::get_if<Frame>(&old.child)) {
      out.replaced = PageTableItem{Mapped{va, std::move(*page), old.pte.prop()}};
    } else if (auto* t = std::get_if<RawPageTableNode<E, C>>(&old.child)) {
      out.detached = std::move(*t);
    } else {
      // `map` works in tracked ranges only, so the old leaf cannot be untracked.
      PAGESIM_ASSERT(std::holds_alternative<ChildNone>(old.child),
                     "map at {} replaced an untracked leaf", va);
    }
    return out;
  }
};

}  // namespace pagesim::pt
