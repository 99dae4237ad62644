// Errors of the page-table API. The seed panics on caller mistakes; pagesim returns these
// values so a bad trace line gets a clear message, never an abort (DESIGN.md, "Where C++
// differs from Rust"). Cheap to construct: the message is built only when asked for.
#pragma once

#include <string>

#include "sim/addr.h"
#include "sim/frame_allocator.h"

namespace pagesim::pt {

enum class PtErrc : u8 {
  kInvalidVaddrRange,    // range empty, reversed or outside the mode (seed InvalidVaddrRange)
  kUnalignedVaddr,       // not aligned to the base page or to the page being mapped
  kUnalignedPaddr,       // physical address not aligned to the base page
  kInvalidVaddr,         // query / jump outside the cursor's locked range (seed InvalidVaddr)
  kBeyondCursorRange,    // an operation's range extends past the cursor's locked range
  kSmallPageInHugePage,  // mapping a smaller page inside an existing huge page
  kPartialHugeUnmap,     // removing part of a tracked huge page
  kPartialHugeProtect,   // protecting part of a tracked huge page
  kTrackedInUntracked,   // a tracked page mapped in an untracked range (kernel linear map)
  kUntrackedInTracked,   // a physical range mapped in a tracked range
  kBadPageSize,          // a page whose size this page table cannot map
  kUnsupportedProperty,  // a property the entry cannot encode (e.g. write-combining)
  kGuardNodeInTheWay,    // a huge page whose slot holds the child table the cursor is locked on
  kOutOfMemory,          // simulated memory exhausted (or an injected allocation failure)
};

struct PageTableError {
  PtErrc code = PtErrc::kInvalidVaddrRange;
  VAddr va;            // the address concerned (start of a range)
  VAddr va2;           // end of a range, where one is involved
  u64 size = 0;        // a page or block size, where one is involved
  AllocError alloc{};  // for kOutOfMemory

  std::string message() const;
  bool operator==(const PageTableError& o) const { return code == o.code && va == o.va; }
};

}  // namespace pagesim::pt
