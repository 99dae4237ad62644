// A counted, unlocked reference to a page-table node (the seed's `RawPageTableNode`).
//
// A node's frame is reference counted in its metadata. References are held by the parent's
// entry (or the PageTable for the root), by handles like this one, and by locked guards
// (PageTableNode). Dropping the last reference frees the node and drops what its entries own:
// child tables recursively, and tracked pages (untracked leaves own nothing).
//
// Only a guard reaches a node's entries (STYLE.md lesson 5); this handle can only be locked,
// cloned, or dropped.
#pragma once

#include <utility>

#include "pagetable/entry.h"
#include "sim/frame.h"

namespace pagesim::pt {

template <PageTableEntryTrait E, PagingConstsTrait C>
class PageTableNode;

namespace detail {

// Drops one reference to the node at `pfn`; the last one frees it and everything it owns.
// Precondition for the last reference: no other party can reach the node any more (no parent
// entry, no handle, no CPU walking through it), so its entries are read without the lock.
template <PageTableEntryTrait E, PagingConstsTrait C>
void release_node(FrameAllocator& a, Pfn pfn) {
  FrameMeta& m = a.meta(pfn);
  // acq_rel: the freeing thread must see every entry written through other references.
  if (m.refcount.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  PAGESIM_ASSERT(m.use.load(std::memory_order_relaxed) == FrameUse::kPageTable,
                 "{} released as a page-table node but used as {}", pfn, to_string(m.use.load()));
  const PagingLevel level = m.level;
  const bool untracked = m.untracked != 0;
  PhysMem& mem = a.mem();
  for (u64 i = 0; i < nr_subpage_per_huge<C>(); ++i) {
    E pte = E::from_raw(mem.entry(pfn.addr() + i * C::PTE_SIZE).load(std::memory_order_acquire));
    if (!pte.is_present()) continue;
    if (!pte.is_last(level)) {
      release_node<E, C>(a, Pfn::containing(pte.paddr()));
    } else if (!untracked) {
      Frame::from_raw(a, Pfn::containing(pte.paddr())).reset();
    }
  }
  a.free(pfn, 0);
}

}  // namespace detail

template <PageTableEntryTrait E, PagingConstsTrait C>
class RawPageTableNode {
 public:
  RawPageTableNode() = default;
  // Adopts one existing reference to the node at `pfn` (the seed's `from_raw`).
  static RawPageTableNode adopt(FrameAllocator& a, Pfn pfn) { return RawPageTableNode(&a, pfn); }

  RawPageTableNode(const RawPageTableNode&) = delete;
  RawPageTableNode& operator=(const RawPageTableNode&) = delete;
  RawPageTableNode(RawPageTableNode&& o) noexcept
      : a_(std::exchange(o.a_, nullptr)), pfn_(o.pfn_) {}
  RawPageTableNode& operator=(RawPageTableNode&& o) noexcept {
    if (this != &o) {
      reset();
      a_ = std::exchange(o.a_, nullptr);
      pfn_ = o.pfn_;
    }
    return *this;
  }
  ~RawPageTableNode() { reset(); }

  bool valid() const { return a_ != nullptr; }
  Pfn pfn() const { return pfn_; }
  PAddr paddr() const { return pfn_.addr(); }
  FrameAllocator& allocator() const { return *a_; }
  PagingLevel level() const { return a_->meta(pfn_).level; }

  // Another reference to the same node (the seed's `clone_shallow`).
  RawPageTableNode clone_shallow() const {
    a_->meta(pfn_).refcount.fetch_add(1, std::memory_order_relaxed);
    return RawPageTableNode(a_, pfn_);
  }

  // Acquires the node's lock; the reference moves into the guard (the seed's `lock`).
  PageTableNode<E, C> lock() &&;

  // Gives the reference up as a plain frame number, e.g. to store it in an entry.
  Pfn into_raw() && {
    a_ = nullptr;
    return pfn_;
  }

  void reset() {
    if (a_ != nullptr) detail::release_node<E, C>(*std::exchange(a_, nullptr), pfn_);
  }

 private:
  RawPageTableNode(FrameAllocator* a, Pfn pfn) : a_(a), pfn_(pfn) {}
  FrameAllocator* a_ = nullptr;
  Pfn pfn_;
};

}  // namespace pagesim::pt
