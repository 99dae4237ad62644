// The frame allocator of the simulated machine.
//
// A binary buddy allocator over the frames of a PhysMem (blocks of 2^order frames, order 0 =
// 4 KiB up to order 18 = 1 GiB, so tracked huge pages get naturally aligned contiguous blocks),
// with per-thread caches of single frames in front of it (DESIGN.md: per-thread caches over a
// shared pool). The hot path — one 4 KiB frame allocated or freed by a thread that used this
// allocator before — takes no lock and performs no atomic read-modify-write.
//
// Accounting: `in_use()` counts frames handed to callers and not yet returned; frames parked in
// a thread cache are free. With T threads, up to T × cache-capacity free frames can sit in caches
// where other threads cannot see them; the capacity shrinks with small RAM so tests that exhaust
// a tiny machine see every frame.
//
// Fault injection (to test error paths): fail the Nth allocation from now, or each allocation
// with a probability drawn from a seeded generator; deterministic for a given allocation order.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sim/addr.h"
#include "sim/frame_meta.h"
#include "sim/phys_mem.h"
#include "sim/result.h"

namespace pagesim {

struct AllocError {
  enum class Kind : u8 { kOutOfMemory, kInjected, kBadOrder };
  Kind kind = Kind::kOutOfMemory;
  unsigned order = 0;
  std::string message() const;
};

struct FrameAllocatorOptions {
  // Frames [0, reserved_low_frames) are never handed out. Frame 0 stays unused by default so a
  // zero physical address never names a live page-table node.
  u64 reserved_low_frames = 1;
};

class FrameAllocator {
 public:
  static constexpr unsigned kMaxOrder = 18;  // 2^18 frames = 1 GiB
  static constexpr unsigned kNrCaches = 64;
  static constexpr unsigned kCacheCapacity = 64;

  explicit FrameAllocator(PhysMem& mem, FrameAllocatorOptions opts = {});
  ~FrameAllocator();
  FrameAllocator(const FrameAllocator&) = delete;
  FrameAllocator& operator=(const FrameAllocator&) = delete;

  // Allocates a naturally aligned block of 2^order frames. The head frame's metadata gets
  // refcount 1, the given use and the order. The frames' contents are unspecified.
  Result<Pfn, AllocError> alloc(FrameUse use, unsigned order = 0);

  // Returns a block obtained from alloc(). The head's refcount must already be 0.
  void free(Pfn head, unsigned order);

  // Frames handed out and not returned. Exact when no other thread is allocating meanwhile.
  u64 in_use() const;
  u64 nr_frames() const { return hi_ - lo_; }

  // --- Fault injection. ---
  void fail_nth(u64 n);  // the n-th allocation from now (1-based) fails
  void fail_randomly(u64 seed, double probability);
  void clear_failures();
  u64 injected_failures() const { return injected_.load(std::memory_order_relaxed); }

  FrameMeta& meta(Pfn pfn) const {
    PAGESIM_ASSERT(pfn.value() < mem_.nr_frames(), "metadata of {} outside RAM", pfn);
    return meta_[pfn.value()];
  }
  PhysMem& mem() const { return mem_; }

  // Moves the calling thread's cached frames back to the shared pool.
  void drain_thread_cache();

  // Implementation detail, public only so the thread-local table can name it.
  struct ThreadCaches;

 private:
  struct alignas(64) Cache {
    std::atomic<bool> claimed{false};
    // Frames handed out minus frames returned through this cache. Written only by the thread
    // that holds the claim (plain load + store, no RMW), read by in_use() from any thread.
    std::atomic<i64> net{0};
    u32 count = 0;
    std::array<u64, kCacheCapacity> frames{};
  };

  Cache* thread_cache();
  bool injected_failure();
  Result<Pfn, AllocError> buddy_alloc_locked(unsigned order);
  void buddy_free_locked(u64 pfn, unsigned order);
  void refill(Cache& c);
  void spill(Cache& c, u32 keep);

  PhysMem& mem_;
  FrameMeta* meta_;
  u64 meta_bytes_;
  u64 lo_, hi_;
  u32 cache_capacity_;
  u64 id_;

  std::mutex mu_;  // guards the buddy free lists
  std::array<std::vector<u64>, kMaxOrder + 1> free_lists_;
  std::atomic<i64> direct_net_{0};  // in-use frames not accounted in a cache

  std::array<Cache, kNrCaches> caches_;

  enum class Inject : u8 { kNone, kNth, kRandom };
  std::atomic<Inject> inject_{Inject::kNone};
  std::atomic<u64> inject_seq_{0};
  u64 inject_n_ = 0;
  u64 inject_seed_ = 0;
  u64 inject_threshold_ = 0;
  std::atomic<u64> injected_{0};
};

}  // namespace pagesim
