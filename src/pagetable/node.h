// A locked page-table node: the guard through which the OS side reads and writes a node's
// entries (the seed's `PageTableNode`, node.rs of the same Asterinas commit).
//
// Holding a PageTableNode means holding the node's lock (in its frame metadata) and one
// reference to it. Destroying the guard unlocks, then drops the reference. The lock makes the
// node's entries and `nr_children` exclusive among OS-side cursors; the simulated hardware
// still reads entries without any lock, and sets accessed/dirty bits with compare-and-swap.
// Hence, on the OS side:
//   - entries are published with release stores, so a walker that reads a child-table pointer
//     (acquire) sees the child's zeroed or filled entries;
//   - an entry that is present is only ever changed by an atomic exchange or compare-and-swap,
//     so accessed/dirty bits a walker sets meanwhile are never lost: unmap and replace return
//     the entry's final value, protect keeps bits set after the value it started from.
#pragma once

#include <utility>

#include "pagetable/child.h"
#include "pagetable/raw_node.h"
#include "sim/frame.h"

namespace pagesim::pt {

template <PageTableEntryTrait E, PagingConstsTrait C>
class PageTableNode {
 public:
  static constexpr u64 kNrEntries = nr_subpage_per_huge<C>();

  // Allocates an empty (zeroed) node at `level`, returned locked (as the seed's `alloc`: the
  // new node is exclusive, and it stays locked until the cursor that made it moves on).
  static Result<PageTableNode, AllocError> alloc(FrameAllocator& a, PagingLevel level,
                                                 Tracked tracked) {
    Pfn pfn = PAGESIM_TRY(a.alloc(FrameUse::kPageTable, 0));
    a.mem().zero_frame(pfn);
    FrameMeta& m = a.meta(pfn);
    m.level = level;
    m.untracked = tracked == Tracked::kNo ? 1 : 0;
    m.nr_children = 0;
    m.lock.lock();  // uncontended by construction
    return PageTableNode(&a, pfn);
  }

  PageTableNode(const PageTableNode&) = delete;
  PageTableNode& operator=(const PageTableNode&) = delete;
  PageTableNode(PageTableNode&& o) noexcept : a_(std::exchange(o.a_, nullptr)), pfn_(o.pfn_) {}
  PageTableNode& operator=(PageTableNode&& o) noexcept {
    if (this != &o) {
      reset();
      a_ = std::exchange(o.a_, nullptr);
      pfn_ = o.pfn_;
    }
    return *this;
  }
  ~PageTableNode() { reset(); }

  PagingLevel level() const { return meta().level; }
  u16 nr_children() const { return meta().nr_children; }
  bool tracked() const { return meta().untracked == 0; }
  Pfn pfn() const { return pfn_; }
  PAddr paddr() const { return pfn_.addr(); }
  FrameAllocator& allocator() const { return *a_; }

  // Unlocks and keeps the reference as an unlocked handle (the seed's `into_raw`).
  RawPageTableNode<E, C> into_raw() && {
    meta().lock.unlock();
    return RawPageTableNode<E, C>::adopt(*std::exchange(a_, nullptr), pfn_);
  }

  // A new unlocked reference, keeping this guard (the seed's `clone_raw`).
  RawPageTableNode<E, C> clone_raw() const {
    meta().refcount.fetch_add(1, std::memory_order_relaxed);
    return RawPageTableNode<E, C>::adopt(*a_, pfn_);
  }

  E read_pte(u64 idx) const { return E::from_raw(entry(idx).load(std::memory_order_acquire)); }

  // Another reference to what entry `idx` points to (the seed's `child`).
  Child<E, C> child(u64 idx, Tracked tracked) const {
    E pte = read_pte(idx);
    if (!pte.is_present()) return ChildNone{};
    Pfn target = Pfn::containing(pte.paddr());
    if (!pte.is_last(level())) {
      a_->meta(target).refcount.fetch_add(1, std::memory_order_relaxed);
      return RawPageTableNode<E, C>::adopt(*a_, target);
    }
    if (tracked == Tracked::kYes) {
      Frame::inc_ref(*a_, target);
      return Frame::from_raw(*a_, target);
    }
    return ChildUntracked{pte.paddr()};
  }

  // Removes entry `idx` and returns what it owned, with its final value (the seed's
  // `take_child`).
  TakenChild<E, C> take_child(u64 idx, Tracked tracked) {
    return swap_entry(idx, E::new_absent(), tracked);
  }

  // Points entry `idx` at a child table, taking over the reference. Returns what the entry held.
  TakenChild<E, C> set_child_pt(u64 idx, RawPageTableNode<E, C> pt, Tracked tracked) {
    const PAddr pa = pt.paddr();
    (void)std::move(pt).into_raw();  // the entry owns the reference now
    return swap_entry(idx, E::new_pt(pa), tracked);
  }

  // Maps a tracked page at entry `idx`, taking over the handle's reference.
  TakenChild<E, C> set_child_page(u64 idx, Frame page, PageProperty prop) {
    const PAddr pa = page.paddr();
    (void)std::move(page).into_raw();
    return swap_entry(idx, E::new_page(pa, level(), prop), Tracked::kYes);
  }

  // Maps an untracked physical address at entry `idx`.
  TakenChild<E, C> set_child_untracked(u64 idx, PAddr pa, PageProperty prop) {
    return swap_entry(idx, E::new_page(pa, level(), prop), Tracked::kNo);
  }

  // Replaces the untracked huge page at `idx` by a child table of next-level pages with the same
  // property (the seed's `split_untracked_huge`). The swap is a compare-and-swap against the
  // value the pages were built from: if a walker set accessed or dirty meanwhile, the child
  // entries are rebuilt from the new value, so no status bit is lost.
  Result<void, AllocError> split_untracked_huge(u64 idx) {
    const PagingLevel lvl = level();
    PAGESIM_ASSERT(lvl > 1, "split of a level-1 entry");
    E cur = read_pte(idx);
    PAGESIM_ASSERT(cur.is_present() && cur.is_last(lvl) && !tracked(),
                   "split of entry {} which is not an untracked huge page", idx);
    PageTableNode child = PAGESIM_TRY(alloc(*a_, lvl - 1, Tracked::kNo));
    const u64 small = page_size<C>(lvl - 1);
    for (;;) {
      const PageProperty prop = cur.prop();
      for (u64 i = 0; i < kNrEntries; ++i) {
        child.entry(i).store(E::new_page(cur.paddr() + i * small, lvl - 1, prop).raw(),
                             std::memory_order_relaxed);
      }
      child.meta().nr_children = static_cast<u16>(kNrEntries);
      u64 expected = cur.raw();
      // acq_rel publishes the child's entries before the pointer to it.
      if (entry(idx).compare_exchange_strong(expected, E::new_pt(child.paddr()).raw(),
                                             std::memory_order_acq_rel,
                                             std::memory_order_acquire)) {
        break;
      }
      cur = E::from_raw(expected);
    }
    (void)std::move(child).into_raw().into_raw();  // the entry owns the reference now
    return {};
  }

  // Sets the property of the present leaf at `idx` to `prop`, where `prop` was derived from the
  // entry value `seen`. Accessed/dirty bits that hardware set after `seen` are kept (a lost
  // dirty bit is lost data). Returns the value written.
  E protect(u64 idx, PageProperty prop, E seen) {
    u64 cur = seen.raw();
    for (;;) {
      E want = E::from_raw(cur);
      want.set_prop(prop);
      const u64 set_since = cur & ~seen.raw() & E::kHardwareStatusBits;
      const u64 desired = want.raw() | set_since;
      if (entry(idx).compare_exchange_weak(cur, desired, std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
        return E::from_raw(desired);
      }
      // Under the node lock only hardware changes the entry, and only its status bits.
      PAGESIM_ASSERT((cur & ~E::kHardwareStatusBits) == (seen.raw() & ~E::kHardwareStatusBits),
                     "entry {} changed under the node lock", idx);
    }
  }

  // Makes a copy of this node (the seed's `make_copy`): children at indexes in `deep` are copied
  // recursively (tracked pages get another reference), children in `shallow` are shared (another
  // reference to the same child table; root level only). The ranges must be disjoint.
  Result<PageTableNode, AllocError> make_copy(std::pair<u64, u64> deep,
                                              std::pair<u64, u64> shallow) const {
    PAGESIM_ASSERT(deep.second <= kNrEntries && shallow.second <= kNrEntries &&
                       (deep.second <= shallow.first || deep.first >= shallow.second),
                   "bad make_copy ranges");
    PageTableNode copy = PAGESIM_TRY(alloc(*a_, level(), tracked() ? Tracked::kYes : Tracked::kNo));
    for (u64 i = deep.first; i < deep.second; ++i) {
      Child<E, C> c = child(i, Tracked::kYes);
      if (auto* pt = std::get_if<RawPageTableNode<E, C>>(&c)) {
        PageTableNode guard = std::move(*pt).lock();
        PageTableNode sub = PAGESIM_TRY(guard.make_copy({0, kNrEntries}, {0, 0}));
        (void)copy.set_child_pt(i, std::move(sub).into_raw(), Tracked::kYes);
      } else if (auto* page = std::get_if<Frame>(&c)) {
        (void)copy.set_child_page(i, std::move(*page), read_pte(i).prop());
      } else {
        PAGESIM_ASSERT(std::holds_alternative<ChildNone>(c),
                       "deep copy of an untracked mapping at entry {}", i);
      }
    }
    for (u64 i = shallow.first; i < shallow.second; ++i) {
      PAGESIM_ASSERT(level() == C::NR_LEVELS, "shallow copy below the root");
      Child<E, C> c = child(i, Tracked::kYes);
      if (auto* pt = std::get_if<RawPageTableNode<E, C>>(&c)) {
        (void)copy.set_child_pt(i, std::move(*pt), Tracked::kYes);
      } else {
        PAGESIM_ASSERT(std::holds_alternative<ChildNone>(c),
                       "shallow copy of a mapped page at root entry {}", i);
      }
    }
    return copy;
  }

 private:
  template <PageTableEntryTrait, PagingConstsTrait>
  friend class RawPageTableNode;
  PageTableNode(FrameAllocator* a, Pfn pfn) : a_(a), pfn_(pfn) {}

  FrameMeta& meta() const { return a_->meta(pfn_); }
  std::atomic_ref<u64> entry(u64 idx) const {
    PAGESIM_ASSERT(idx < kNrEntries, "entry index {} out of the node", idx);
    return a_->mem().entry(pfn_.addr() + idx * C::PTE_SIZE);
  }

  // Atomically replaces entry `idx` with `pte` and turns the old value into an owned child,
  // keeping `nr_children` equal to the number of present entries (the seed's `overwrite_pte`,
  // except that the old child is handed back rather than dropped at once: the caller frees it
  // only after the TLBs that may cache it are flushed).
  TakenChild<E, C> swap_entry(u64 idx, E pte, Tracked tracked) {
    E old = E::from_raw(entry(idx).exchange(pte.raw(), std::memory_order_acq_rel));
    FrameMeta& m = meta();
    if (old.is_present() && !pte.is_present()) --m.nr_children;
    if (!old.is_present() && pte.is_present()) ++m.nr_children;
    if (!old.is_present()) return {ChildNone{}, old};
    Pfn target = Pfn::containing(old.paddr());
    if (!old.is_last(level())) return {RawPageTableNode<E, C>::adopt(*a_, target), old};
    if (tracked == Tracked::kYes) return {Frame::from_raw(*a_, target), old};
    return {ChildUntracked{old.paddr()}, old};
  }

  // g++ 12 reports a moved-from guard's `a_` (always set: nullptr after a move) as maybe
  // uninitialized when a cursor holding guards in std::optional is moved and destroyed (a known
  // false positive of its std::optional analysis); it breaks -Werror builds of every user of
  // CursorMut, so it is silenced here, where it is reported.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
  void reset() {
    if (a_ == nullptr) return;
    meta().lock.unlock();
    detail::release_node<E, C>(*std::exchange(a_, nullptr), pfn_);
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

  FrameAllocator* a_ = nullptr;
  Pfn pfn_;
};

template <PageTableEntryTrait E, PagingConstsTrait C>
PageTableNode<E, C> RawPageTableNode<E, C>::lock() && {
  a_->meta(pfn_).lock.lock();
  return PageTableNode<E, C>(std::exchange(a_, nullptr), pfn_);
}

}  // namespace pagesim::pt
