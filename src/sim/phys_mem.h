// The simulated physical memory: one host reservation for the whole RAM.
//
// The arena is a single anonymous MAP_NORESERVE mapping, so a machine of a terabyte costs host
// memory only for the frames that are touched (DESIGN.md, "sim"). Every access through the
// checked interface is bounds-checked and returns an error value for an address outside RAM: no
// input, however bad, makes pagesim read or write host memory outside the arena.
//
// Entry-sized (8-byte) accesses are 64-bit atomics on the arena, because the simulated hardware
// walks page tables without locks while the simulated OS changes them (DESIGN.md, "Concurrency
// with the hardware"). Callers choose the memory order; the defaults are the ones the design asks
// for: stores release, loads acquire.
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <string>

#include "sim/addr.h"
#include "sim/result.h"

namespace pagesim {

struct MemError {
  enum class Kind : u8 { kOutOfRange, kMisaligned, kBadSize };
  Kind kind = Kind::kOutOfRange;
  PAddr addr;
  u64 len = 0;
  std::string message() const;
};

class PhysMem {
 public:
  static constexpr u64 kDefaultSize = 4 * GiB;
  // The largest arena pagesim accepts: 2^52 bytes is the x86-64 architectural limit.
  static constexpr u64 kMaxSize = u64{1} << 52;

  // Reserves `size` bytes (a non-zero multiple of 4 KiB, at most kMaxSize). Fails with a
  // message when the size is invalid or the host refuses the reservation.
  static Result<std::unique_ptr<PhysMem>, std::string> create(u64 size = kDefaultSize);

  ~PhysMem();
  PhysMem(const PhysMem&) = delete;
  PhysMem& operator=(const PhysMem&) = delete;

  u64 size() const { return size_; }
  u64 nr_frames() const { return size_ >> kFrameShift; }

  // True iff [pa, pa + len) lies inside RAM (without overflow).
  bool contains(PAddr pa, u64 len = 1) const { return len <= size_ && pa.value() <= size_ - len; }

  // --- Checked entry access: for addresses that come from outside (page walks, traces). ---
  Result<u64, MemError> load_entry(PAddr pa,
                                   std::memory_order order = std::memory_order_acquire) const;
  Result<void, MemError> store_entry(PAddr pa, u64 value,
                                     std::memory_order order = std::memory_order_release);
  // Compare-and-swap of one entry. On failure `expected` receives the current value.
  Result<bool, MemError> cas_entry(PAddr pa, u64& expected, u64 desired);

  // --- Owned entry access: for frames the caller owns (page-table nodes it allocated). ---
  // The address must be inside RAM and 8-byte aligned; anything else is a broken invariant.
  std::atomic_ref<u64> entry(PAddr pa) const {
    PAGESIM_ASSERT(contains(pa, 8) && pa.is_aligned(8), "entry access outside RAM at {}", pa);
    return std::atomic_ref<u64>(*reinterpret_cast<u64*>(base_ + pa.value()));
  }

  // --- Byte access (data reads and writes of the simulated machine). ---
  Result<void, MemError> read(PAddr pa, std::span<std::byte> out) const;
  Result<void, MemError> write(PAddr pa, std::span<const std::byte> in);

  // Zeroes one frame the caller owns.
  void zero_frame(Pfn pfn);

  // Gives the host back the pages of [pa, pa + len) (they read as zero afterwards). Used when a
  // simulation resets its machine, so host memory does not grow with history.
  void discard(PAddr pa, u64 len);

 private:
  PhysMem(std::byte* base, u64 size) : base_(base), size_(size) {}
  Result<void, MemError> check(PAddr pa, u64 len, u64 align) const;

  std::byte* base_;
  u64 size_;
};

}  // namespace pagesim
