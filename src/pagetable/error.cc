#include "pagetable/error.h"

namespace pagesim::pt {

std::string PageTableError::message() const {
  switch (code) {
    case PtErrc::kInvalidVaddrRange:
      return fmt::format(
          "invalid virtual range [{:#x}, {:#x}): empty, reversed or outside the "
          "page table's mode",
          va.value(), va2.value());
    case PtErrc::kUnalignedVaddr:
      return fmt::format("virtual address {:#x} is not aligned to {:#x}", va.value(),
                         size == 0 ? 4096 : size);
    case PtErrc::kUnalignedPaddr:
      return fmt::format("physical address {:#x} is not aligned to {:#x}", va.value(),
                         size == 0 ? 4096 : size);
    case PtErrc::kInvalidVaddr:
      return fmt::format("virtual address {:#x} is outside the cursor's range [{:#x}, ...)",
                         va.value(), va2.value());
    case PtErrc::kBeyondCursorRange:
      return fmt::format("range ending at {:#x} extends past the cursor's range end {:#x}",
                         va.value(), va2.value());
    case PtErrc::kSmallPageInHugePage:
      return fmt::format(
          "cannot map a {:#x}-byte page at {:#x}: it lies inside an existing huge "
          "page (unmap the huge page first)",
          size, va.value());
    case PtErrc::kPartialHugeUnmap:
      return fmt::format(
          "cannot unmap part of the tracked huge page at {:#x} (size {:#x}): "
          "unmap all of it",
          va.value(), size);
    case PtErrc::kPartialHugeProtect:
      return fmt::format(
          "cannot protect part of the tracked huge page at {:#x} (size {:#x}): "
          "protect all of it",
          va.value(), size);
    case PtErrc::kTrackedInUntracked:
      return fmt::format(
          "cannot map a tracked page at {:#x}: the kernel's linear-mapping range "
          "holds untracked mappings only (use map_pa)",
          va.value());
    case PtErrc::kUntrackedInTracked:
      return fmt::format(
          "cannot map a physical range at {:#x}: untracked mappings belong only "
          "in the kernel's linear-mapping range",
          va.value());
    case PtErrc::kBadPageSize:
      return fmt::format("a page of {:#x} bytes cannot be mapped by this page table", size);
    case PtErrc::kUnsupportedProperty:
      return fmt::format(
          "the property at {:#x} cannot be encoded in an x86-64 entry of the "
          "seed's era (write-combining and write-protected need PAT)",
          va.value());
    case PtErrc::kGuardNodeInTheWay:
      return fmt::format(
          "cannot map a {:#x}-byte page at {:#x}: its slot holds a child table, "
          "and this cursor, created for exactly that range, holds only the child "
          "table's lock; create the cursor over a larger range to replace the table",
          size, va.value());
    case PtErrc::kOutOfMemory:
      return fmt::format("at {:#x}: {}", va.value(), alloc.message());
  }
  return "page-table error";
}

}  // namespace pagesim::pt
