// Per-frame metadata: the simulated counterpart of Asterinas's per-frame metadata slots.
//
// One 16-byte record per 4 KiB frame of simulated RAM, kept in its own MAP_NORESERVE table so a
// terabyte machine pays host memory only for the records of frames it touches. Every record is
// zero at start: reference count 0, use kFree.
//
// Who writes what:
// - `refcount` and `use` are atomics: handles on several threads clone and drop references.
// - `order` is written by the allocator while the frame is not shared (allocation, free).
// - For page-table nodes, `level` and `untracked` are written once when the node is created,
//   before it is published; `nr_children` is read and written only by the holder of `lock`.
#pragma once

#include <atomic>
#include <string_view>

#include "sim/frame_lock.h"
#include "sim/types.h"

namespace pagesim {

enum class FrameUse : u8 {
  kFree = 0,       // free, or parked in an allocator cache
  kFreeBlock = 1,  // head of a free buddy block (allocator bookkeeping)
  kPageTable = 2,  // a page-table node
  kData = 3,       // a tracked data page (head frame of the block)
};

constexpr std::string_view to_string(FrameUse u) {
  switch (u) {
    case FrameUse::kFree:
      return "free";
    case FrameUse::kFreeBlock:
      return "free-block";
    case FrameUse::kPageTable:
      return "page-table";
    case FrameUse::kData:
      return "data";
  }
  return "?";
}

struct FrameMeta {
  std::atomic<u32> refcount{0};
  std::atomic<FrameUse> use{FrameUse::kFree};
  u8 order = 0;         // block order of an allocated head or free-block head (0 = 4 KiB)
  u8 level = 0;         // page-table node: its level (1 = leaf table)
  u8 untracked = 0;     // page-table node: its leaves are untracked physical addresses
  FrameLock lock;       // page-table node: the node lock of the seed's protocol
  u16 nr_children = 0;  // page-table node: number of present entries, guarded by `lock`
  u16 reserved_ = 0;
};
static_assert(sizeof(FrameMeta) == 16, "frame metadata must stay one 16-byte record per frame");

}  // namespace pagesim
