// What a cursor finds or removes at a slot (the seed's `PageTableItem`).
#pragma once

#include <variant>

#include "pagetable/page_property.h"
#include "sim/frame.h"

namespace pagesim::pt {

struct NotMapped {
  VAddr va;
  u64 len = 0;
};

// A tracked page. `page` is a counted handle: from `query` it is an extra reference; from
// `take_next` it is the reference the page table held, which the caller must keep until the
// TLBs that may cache the translation are flushed, and only then drop (STYLE.md lesson 6).
struct Mapped {
  VAddr va;
  Frame page;
  PageProperty prop;  // from `take_next`: the entry's final accessed/dirty bits
};

struct MappedUntracked {
  VAddr va;
  PAddr pa;
  u64 len = 0;
  PageProperty prop;
};

using PageTableItem = std::variant<NotMapped, Mapped, MappedUntracked>;

inline VAddr item_va(const PageTableItem& item) {
  return std::visit([](const auto& i) { return i.va; }, item);
}

inline bool is_mapped(const PageTableItem& item) {
  return !std::holds_alternative<NotMapped>(item);
}

}  // namespace pagesim::pt
