// What a page-table entry points to, as owned values (the seed's `Child`): nothing, a child
// table (a counted reference to its node), a tracked page (a counted Frame handle), or an
// untracked physical address.
#pragma once

#include <variant>

#include "pagetable/raw_node.h"
#include "sim/frame.h"

namespace pagesim::pt {

struct ChildNone {};
struct ChildUntracked {
  PAddr pa;
};

template <PageTableEntryTrait E, PagingConstsTrait C>
using Child = std::variant<ChildNone, RawPageTableNode<E, C>, Frame, ChildUntracked>;

// A child taken out of (or replaced in) an entry, with the entry's last value: its accessed
// and dirty bits are the final ones, since the entry was swapped out atomically.
template <PageTableEntryTrait E, PagingConstsTrait C>
struct TakenChild {
  Child<E, C> child;
  E pte;
};

}  // namespace pagesim::pt
