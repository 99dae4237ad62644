// The simulated OS: the kernel page table, user address spaces sharing its kernel half, and the
// memory-management operations a trace asks for, performed through the ported cursor.
//
// Following STYLE.md lesson 6, the OS layer separates "change the table" from "flush and free":
// every operation returns its Effects — the translations it removed or weakened, which the
// caller invalidates on every CPU that may cache them, and the garbage (frames, detached
// page-table nodes) that may be dropped only after that.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pagetable/error.h"
#include "pagetable/page_property.h"
#include "sim/frame_allocator.h"
#include "workloads/trace_op.h"

namespace pagesim::wl {

// Up to this many pages are invalidated one by one; more become a full flush (Asterinas'
// flusher batches up to 32 single-page invalidations per operation).
inline constexpr size_t kMaxPageInvalidations = 32;

// What must be freed after the shootdown. Dropping it releases frames and nodes.
struct Garbage {
  virtual ~Garbage() = default;
};

struct Effects {
  // Pages whose translations were removed, replaced or weakened: (address, page size).
  std::vector<std::pair<VAddr, u64>> pages;
  bool full_flush = false;  // too many pages, or a detached table: flush everything
  std::unique_ptr<Garbage> garbage;

  bool needs_invalidation() const { return full_flush || !pages.empty(); }
  void add_page(VAddr va, u64 size) {
    if (full_flush) return;
    if (pages.size() == kMaxPageInvalidations) {
      full_flush = true;
      pages.clear();
      return;
    }
    pages.emplace_back(va, size);
  }
};

// How an error of the OS layer is reported: the page-table error, or a message.
struct OsError {
  std::string message;
};

class SimOs {
 public:
  virtual ~SimOs() = default;

  // Creates user address space `id` sharing the kernel half.
  virtual Result<void, OsError> new_space(i64 id) = 0;
  // The root a CPU loads into CR3 for `space` (kSpaceKernel or a user space).
  virtual PAddr root(i64 space) const = 0;
  virtual u8 levels() const = 0;

  // Called for every page a `map` is about to map, before the page table changes.
  using BeforeMap = std::function<void(VAddr va, u64 size, PAddr frame)>;

  // Maps fresh tracked frames over [va, va+len): pages of `page_size`, or when 0 the largest
  // that the alignment and the remaining length allow.
  virtual Result<Effects, OsError> map(i64 space, VAddr va, u64 len, u64 page_size,
                                       pt::PageProperty prop, const BeforeMap& before) = 0;
  virtual Result<Effects, OsError> map_pa(VAddr va, PAddr pa, u64 len, pt::PageProperty prop) = 0;
  virtual Result<Effects, OsError> unmap(i64 space, VRange r) = 0;
  // Sets R/W/X (from `prot`), optionally the cache policy, and clears A/D as asked, for every
  // mapping in the range. Weakening a right (or clearing A/D) needs an invalidation.
  virtual Result<Effects, OsError> protect(i64 space, VRange r, u8 prot,
                                           std::optional<pt::CachePolicy> cache, u8 clear) = 0;

  // Frames and page-table nodes the OS holds (for leak checks at the end of a replay).
  virtual u64 frames_in_use() const = 0;
};

// The OS for a machine of `levels` (4 or 5) paging levels, on `alloc`.
Result<std::unique_ptr<SimOs>, OsError> make_sim_os(FrameAllocator& alloc, u8 levels);

// The trace's property words, as a page-table property.
pt::PageProperty to_property(u8 prot, bool user, bool global, CacheMode cache, bool accessed,
                             bool dirty);

}  // namespace pagesim::wl
