#include "sim/frame_allocator.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <unordered_map>

namespace pagesim {

std::string AllocError::message() const {
  switch (kind) {
    case Kind::kOutOfMemory:
      return fmt::format("simulated memory exhausted (no free block of {} KiB)",
                         (kFrameSize << order) / KiB);
    case Kind::kInjected:
      return fmt::format("injected allocation failure (block of {} KiB)",
                         (kFrameSize << order) / KiB);
    case Kind::kBadOrder:
      return fmt::format("unsupported block order {}", order);
  }
  return "allocation error";
}

// --- Per-thread cache bookkeeping -----------------------------------------------------------
//
// A thread claims one of an allocator's caches the first time it allocates or frees through it
// and keeps the claim until it exits. Allocators are identified by a never-reused id, and a
// process-wide registry maps live ids to allocators, so a thread that exits after an allocator
// died does not touch freed memory, and a new allocator at the same address is not confused
// with the old one.

namespace {
std::mutex g_registry_mu;
std::unordered_map<u64, FrameAllocator*>& registry() {
  static auto* r = new std::unordered_map<u64, FrameAllocator*>();
  return *r;
}
std::atomic<u64> g_next_id{1};
}  // namespace

struct FrameAllocator::ThreadCaches {
  static constexpr int kSlots = 8;
  struct Slot {
    u64 id = 0;
    FrameAllocator::Cache* cache = nullptr;
  };
  std::array<Slot, kSlots> slots{};

  ~ThreadCaches() {
    std::lock_guard g(g_registry_mu);
    for (auto& s : slots) release_locked(s);
  }
  static void release_locked(Slot& s) {
    if (s.id != 0 && registry().contains(s.id)) {
      s.cache->claimed.store(false, std::memory_order_release);
    }
    s = Slot{};
  }
};

FrameAllocator::Cache* FrameAllocator::thread_cache() {
  static thread_local ThreadCaches tls_caches;
  auto& slots = tls_caches.slots;
  if (slots[0].id == id_) [[likely]]
    return slots[0].cache;
  for (int i = 1; i < ThreadCaches::kSlots; ++i) {
    if (slots[i].id == id_) {
      std::swap(slots[0], slots[i]);
      return slots[0].cache;
    }
  }
  if (cache_capacity_ == 0) return nullptr;
  // Slow path: claim a cache of this allocator, evicting a slot if the thread's table is full.
  std::lock_guard g(g_registry_mu);
  int free_slot = -1;
  for (int i = 0; i < ThreadCaches::kSlots; ++i) {
    if (slots[i].id != 0 && !registry().contains(slots[i].id)) slots[i] = {};
    if (slots[i].id == 0 && free_slot < 0) free_slot = i;
  }
  if (free_slot < 0) {
    free_slot = ThreadCaches::kSlots - 1;
    ThreadCaches::release_locked(slots[free_slot]);
  }
  for (auto& c : caches_) {
    bool expected = false;
    if (c.claimed.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      slots[free_slot] = {id_, &c};
      std::swap(slots[0], slots[free_slot]);
      return &c;
    }
  }
  return nullptr;  // more threads than caches: go to the shared pool directly
}

// --- Construction --------------------------------------------------------------------------

FrameAllocator::FrameAllocator(PhysMem& mem, FrameAllocatorOptions opts)
    : mem_(mem), lo_(std::min(opts.reserved_low_frames, mem.nr_frames())), hi_(mem.nr_frames()) {
  meta_bytes_ = align_down(hi_ * sizeof(FrameMeta) + kFrameSize - 1, kFrameSize);
  void* p = mmap(nullptr, meta_bytes_, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  PAGESIM_ASSERT(p != MAP_FAILED, "cannot reserve frame metadata ({} bytes)", meta_bytes_);
  meta_ = static_cast<FrameMeta*>(p);  // zero pages: every record starts {0, kFree, ...}

  // Small machines get small caches, so frames parked in caches never starve a test that
  // exhausts a tiny RAM on purpose.
  cache_capacity_ = static_cast<u32>(std::min<u64>(kCacheCapacity, (hi_ - lo_) / 1024));

  // Seed the free lists with the largest aligned blocks covering [lo, hi).
  u64 f = lo_;
  while (f < hi_) {
    unsigned order = kMaxOrder;
    while (order > 0 && (!is_aligned(f, u64{1} << order) || f + (u64{1} << order) > hi_)) --order;
    meta_[f].use.store(FrameUse::kFreeBlock, std::memory_order_relaxed);
    meta_[f].order = static_cast<u8>(order);
    free_lists_[order].push_back(f);
    f += u64{1} << order;
  }
  for (auto& l : free_lists_) std::reverse(l.begin(), l.end());  // low addresses first

  id_ = g_next_id.fetch_add(1);
  std::lock_guard g(g_registry_mu);
  registry()[id_] = this;
}

FrameAllocator::~FrameAllocator() {
  {
    std::lock_guard g(g_registry_mu);
    registry().erase(id_);
  }
  munmap(meta_, meta_bytes_);
}

// --- Buddy core (mu_ held) -----------------------------------------------------------------

Result<Pfn, AllocError> FrameAllocator::buddy_alloc_locked(unsigned order) {
  unsigned j = order;
  u64 head = 0;
  for (;; ++j) {
    if (j > kMaxOrder) return Err{AllocError{AllocError::Kind::kOutOfMemory, order}};
    auto& list = free_lists_[j];
    bool found = false;
    while (!list.empty()) {
      u64 f = list.back();
      list.pop_back();
      // Entries are removed lazily: a block merged into a larger one stays in its old list
      // until popped, and is recognised here by its metadata no longer naming it a free head.
      if (meta_[f].use.load(std::memory_order_relaxed) == FrameUse::kFreeBlock &&
          meta_[f].order == j) {
        head = f;
        found = true;
        break;
      }
    }
    if (found) break;
  }
  while (j > order) {
    --j;
    u64 buddy = head + (u64{1} << j);
    meta_[buddy].use.store(FrameUse::kFreeBlock, std::memory_order_relaxed);
    meta_[buddy].order = static_cast<u8>(j);
    free_lists_[j].push_back(buddy);
  }
  meta_[head].use.store(FrameUse::kFree, std::memory_order_relaxed);
  meta_[head].order = static_cast<u8>(order);
  return Pfn(head);
}

void FrameAllocator::buddy_free_locked(u64 f, unsigned order) {
  while (order < kMaxOrder) {
    u64 buddy = f ^ (u64{1} << order);
    if (buddy < lo_ || buddy >= hi_) break;
    FrameMeta& bm = meta_[buddy];
    if (bm.use.load(std::memory_order_relaxed) != FrameUse::kFreeBlock || bm.order != order) break;
    bm.use.store(FrameUse::kFree, std::memory_order_relaxed);  // now stale in its list
    f = std::min(f, buddy);
    ++order;
  }
  meta_[f].use.store(FrameUse::kFreeBlock, std::memory_order_relaxed);
  meta_[f].order = static_cast<u8>(order);
  free_lists_[order].push_back(f);
}

void FrameAllocator::refill(Cache& c) {
  std::lock_guard g(mu_);
  u32 want = cache_capacity_ / 2;
  while (c.count < want) {
    auto r = buddy_alloc_locked(0);
    if (!r) break;
    c.frames[c.count++] = r->value();
  }
}

void FrameAllocator::spill(Cache& c, u32 keep) {
  std::lock_guard g(mu_);
  while (c.count > keep) buddy_free_locked(c.frames[--c.count], 0);
}

void FrameAllocator::drain_thread_cache() {
  Cache* c = thread_cache();
  if (c != nullptr) spill(*c, 0);
}

// --- Public interface ----------------------------------------------------------------------

bool FrameAllocator::injected_failure() {
  u64 seq = inject_seq_.fetch_add(1, std::memory_order_relaxed) + 1;
  bool fail = false;
  switch (inject_.load(std::memory_order_acquire)) {
    case Inject::kNone:
      break;
    case Inject::kNth:
      fail = seq == inject_n_;
      break;
    case Inject::kRandom: {
      // splitmix64 of (seed, sequence number): deterministic per allocation order.
      u64 z = inject_seed_ + seq * 0x9E3779B97F4A7C15ull;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
      fail = z < inject_threshold_;
      break;
    }
  }
  if (fail) injected_.fetch_add(1, std::memory_order_relaxed);
  return fail;
}

Result<Pfn, AllocError> FrameAllocator::alloc(FrameUse use, unsigned order) {
  if (order > kMaxOrder) return Err{AllocError{AllocError::Kind::kBadOrder, order}};
  if (inject_.load(std::memory_order_relaxed) != Inject::kNone) [[unlikely]] {
    if (injected_failure()) return Err{AllocError{AllocError::Kind::kInjected, order}};
  }
  Pfn pfn;
  Cache* c = order == 0 ? thread_cache() : nullptr;
  if (c != nullptr) [[likely]] {
    if (c->count == 0) refill(*c);
    if (c->count == 0) return Err{AllocError{AllocError::Kind::kOutOfMemory, 0}};
    pfn = Pfn(c->frames[--c->count]);
    c->net.store(c->net.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  } else {
    {
      std::lock_guard g(mu_);
      pfn = PAGESIM_TRY(buddy_alloc_locked(order));
    }
    direct_net_.fetch_add(i64{1} << order, std::memory_order_relaxed);
  }
  FrameMeta& m = meta_[pfn.value()];
  m.order = static_cast<u8>(order);
  m.level = 0;
  m.untracked = 0;
  m.nr_children = 0;
  m.use.store(use, std::memory_order_relaxed);
  m.refcount.store(1, std::memory_order_relaxed);
  return pfn;
}

void FrameAllocator::free(Pfn head, unsigned order) {
  PAGESIM_ASSERT(head.value() >= lo_ && head.value() < hi_ && order <= kMaxOrder,
                 "free of {} order {} outside the allocator", head, order);
  FrameMeta& m = meta_[head.value()];
  PAGESIM_ASSERT(m.refcount.load(std::memory_order_relaxed) == 0,
                 "free of {} with {} references left", head, m.refcount.load());
  PAGESIM_ASSERT(m.use.load(std::memory_order_relaxed) != FrameUse::kFree &&
                     m.use.load(std::memory_order_relaxed) != FrameUse::kFreeBlock,
                 "double free of {}", head);
  m.use.store(FrameUse::kFree, std::memory_order_relaxed);
  Cache* c = order == 0 ? thread_cache() : nullptr;
  if (c != nullptr) [[likely]] {
    if (c->count == cache_capacity_) spill(*c, cache_capacity_ / 2);
    c->frames[c->count++] = head.value();
    c->net.store(c->net.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    return;
  }
  {
    std::lock_guard g(mu_);
    buddy_free_locked(head.value(), order);
  }
  direct_net_.fetch_sub(i64{1} << order, std::memory_order_relaxed);
}

u64 FrameAllocator::in_use() const {
  i64 n = direct_net_.load(std::memory_order_relaxed);
  for (const auto& c : caches_) n += c.net.load(std::memory_order_relaxed);
  // While other threads allocate and free, the sum of per-cache counters can be read mid-way
  // (a frame allocated through one cache and freed through another); it is exact when quiet.
  return n < 0 ? 0 : static_cast<u64>(n);
}

void FrameAllocator::fail_nth(u64 n) {
  inject_n_ = inject_seq_.load(std::memory_order_relaxed) + n;
  inject_.store(Inject::kNth, std::memory_order_release);
}

void FrameAllocator::fail_randomly(u64 seed, double probability) {
  inject_seed_ = seed;
  probability = std::clamp(probability, 0.0, 1.0);
  inject_threshold_ =
      probability >= 1.0 ? ~u64{0} : static_cast<u64>(probability * 18446744073709551616.0);
  inject_.store(Inject::kRandom, std::memory_order_release);
}

void FrameAllocator::clear_failures() { inject_.store(Inject::kNone, std::memory_order_release); }

}  // namespace pagesim
