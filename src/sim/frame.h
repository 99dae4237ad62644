// An owning, reference-counted handle to an allocated block of frames: the simulated
// counterpart of Asterinas's `Page` / `DynPage` handles for tracked pages.
//
// The count lives in the head frame's metadata. Cloning adds a reference; destroying the last
// handle returns the block to the allocator. `into_raw` / `from_raw` move one reference into and
// out of a plain frame number, which is how a page-table entry owns the page it maps.
#pragma once

#include <utility>

#include "sim/frame_allocator.h"

namespace pagesim {

class Frame {
 public:
  Frame() = default;
  // Allocates a block of 2^order frames for `use`, with one reference (this handle).
  static Result<Frame, AllocError> alloc(FrameAllocator& a, unsigned order = 0,
                                         FrameUse use = FrameUse::kData) {
    Pfn pfn = PAGESIM_TRY(a.alloc(use, order));
    return Frame(&a, pfn);
  }

  // Takes over one reference that was leaked with into_raw().
  static Frame from_raw(FrameAllocator& a, Pfn pfn) { return Frame(&a, pfn); }
  // Adds one reference to a live block named only by its head frame.
  static void inc_ref(FrameAllocator& a, Pfn pfn) {
    a.meta(pfn).refcount.fetch_add(1, std::memory_order_relaxed);
  }

  Frame(const Frame&) = delete;
  Frame& operator=(const Frame&) = delete;
  Frame(Frame&& o) noexcept : a_(std::exchange(o.a_, nullptr)), pfn_(o.pfn_) {}
  Frame& operator=(Frame&& o) noexcept {
    if (this != &o) {
      reset();
      a_ = std::exchange(o.a_, nullptr);
      pfn_ = o.pfn_;
    }
    return *this;
  }
  ~Frame() { reset(); }

  Frame clone() const {
    PAGESIM_ASSERT(a_ != nullptr, "clone of an empty frame handle");
    inc_ref(*a_, pfn_);
    return Frame(a_, pfn_);
  }

  // Gives up the handle without dropping its reference; the caller now owns it as a number.
  Pfn into_raw() && {
    PAGESIM_ASSERT(a_ != nullptr, "into_raw of an empty frame handle");
    a_ = nullptr;
    return pfn_;
  }

  bool valid() const { return a_ != nullptr; }
  Pfn pfn() const { return pfn_; }
  PAddr paddr() const { return pfn_.addr(); }
  unsigned order() const { return a_->meta(pfn_).order; }
  u64 size() const { return kFrameSize << order(); }
  u32 refcount() const { return a_->meta(pfn_).refcount.load(std::memory_order_relaxed); }
  FrameAllocator& allocator() const { return *a_; }

  void reset() {
    if (a_ == nullptr) return;
    FrameMeta& m = a_->meta(pfn_);
    // acq_rel: the thread that frees the block must see every write made through other
    // references before they were dropped.
    if (m.refcount.fetch_sub(1, std::memory_order_acq_rel) == 1) a_->free(pfn_, m.order);
    a_ = nullptr;
  }

 private:
  Frame(FrameAllocator* a, Pfn pfn) : a_(a), pfn_(pfn) {}
  FrameAllocator* a_ = nullptr;
  Pfn pfn_;
};

}  // namespace pagesim
