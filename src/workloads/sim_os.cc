#include "workloads/sim_os.h"

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "pagetable/page_table.h"

namespace pagesim::wl {

namespace {

using pt::PageFlag;
using pt::PageProperty;
using pt::PrivFlag;

template <pt::PagingConstsTrait C>
struct GarbageOf final : Garbage {
  std::vector<Frame> frames;
  std::vector<pt::RawPageTableNode<pt::X86PageTableEntry, C>> tables;
};

OsError from(const pt::PageTableError& e) { return OsError{e.message()}; }

template <pt::PagingConstsTrait C>
class SimOsImpl final : public SimOs {
  using E = pt::X86PageTableEntry;
  using KernelPt = pt::PageTable<pt::KernelMode, E, C>;
  using UserPt = pt::PageTable<pt::UserMode, E, C>;
  static constexpr u64 page_size_of(pt::PagingLevel l) { return pt::page_size<C>(l); }
  static constexpr u64 kGiB = pt::page_size<C>(3);

 public:
  explicit SimOsImpl(FrameAllocator& a, KernelPt kernel) : alloc_(a), kernel_(std::move(kernel)) {}

  Result<void, OsError> new_space(i64 id) override {
    auto upt = kernel_.create_user_page_table();
    if (!upt.ok()) return Err{from(upt.error())};
    std::lock_guard g(mu_);
    spaces_.emplace(id, std::make_unique<UserPt>(std::move(upt).value()));
    return {};
  }

  PAddr root(i64 space) const override {
    if (space == kSpaceKernel) return kernel_.root_paddr();
    return user(space).root_paddr();
  }

  u8 levels() const override { return C::NR_LEVELS; }

  u64 frames_in_use() const override { return alloc_.in_use(); }

  Result<Effects, OsError> map(i64 space, VAddr va, u64 len, u64 page_size, PageProperty prop,
                               const BeforeMap& before) override {
    if (va.value() >> 63) return do_map(kernel_, va, len, page_size, prop, before);
    return do_map(user(space), va, len, page_size, prop, before);
  }

  Result<Effects, OsError> map_pa(VAddr va, PAddr pa, u64 len, PageProperty prop) override {
    // The cursor claims the whole 1 GiB regions around the range, so its guard node sits above
    // any page map_pa may choose and the page sizes follow the alignment alone (docs/replay.md).
    const VRange claim = claim_range(pt::KernelMode::vaddr_range<C>(), VRange{va, va + len}, kGiB);
    auto cursor = kernel_.cursor_mut(claim);
    if (!cursor.ok()) return Err{from(cursor.error())};
    if (auto j = cursor->jump(va); !j.ok()) return Err{from(j.error())};
    auto out = cursor->map_pa(PRange{pa, pa + len}, prop);
    if (!out.ok()) return Err{from(out.error())};
    Effects fx;
    auto garbage = std::make_unique<GarbageOf<C>>();
    if (out->replaced_leaves != 0 || !out->detached.empty()) fx.full_flush = true;
    for (auto& t : out->detached) garbage->tables.push_back(std::move(t));
    fx.garbage = std::move(garbage);
    return fx;
  }

  Result<Effects, OsError> unmap(i64 space, VRange r) override {
    if (r.start.value() >> 63) return do_unmap(kernel_, r);
    return do_unmap(user(space), r);
  }

  Result<Effects, OsError> protect(i64 space, VRange r, u8 prot,
                                   std::optional<pt::CachePolicy> cache, u8 clear) override {
    if (r.start.value() >> 63) return do_protect(kernel_, r, prot, cache, clear);
    return do_protect(user(space), r, prot, cache, clear);
  }

 private:
  UserPt& user(i64 space) const {
    std::lock_guard g(mu_);
    auto it = spaces_.find(space);
    PAGESIM_ASSERT(it != spaces_.end(), "address space {} does not exist", space);
    return *it->second;
  }

  // The range a cursor claims for an operation on `r`: `r` widened to `align` (within the
  // mode), so the cursor's guard node is above every page the operation may map.
  static VRange claim_range(VRange mode, VRange r, u64 align) {
    VAddr start = std::max(mode.start, r.start.align_down(align));
    VAddr end = r.end;
    if (!end.is_aligned(align)) {
      const u64 up = end.align_down(align).value() + align;
      end = up < end.value() ? mode.end : std::min(mode.end, VAddr(up));
    }
    return VRange{start, end};
  }

  template <class Pt>
  Result<Effects, OsError> do_map(Pt& table, VAddr va, u64 len, u64 page_size, PageProperty prop,
                                  const BeforeMap& before) {
    using Mode = typename Pt::Mode;
    const VRange r{va, va + len};
    // Claim around the largest page this map may use (see map_pa).
    const u64 largest = page_size != 0 ? page_size : largest_page(va, len);
    const u64 align =
        std::min<u64>(largest == kGiB ? kGiB * 512 : largest * 512, page_size_of(C::NR_LEVELS));
    auto cursor = table.cursor_mut(claim_range(Mode::template vaddr_range<C>(), r, align));
    if (!cursor.ok()) return Err{from(cursor.error())};
    if (auto j = cursor->jump(va); !j.ok()) return Err{from(j.error())};
    Effects fx;
    auto garbage = std::make_unique<GarbageOf<C>>();
    for (VAddr at = va; at < r.end;) {
      const u64 size = page_size != 0 ? page_size : largest_page(at, r.end - at);
      const unsigned order = static_cast<unsigned>(std::countr_zero(size) - 12);
      auto frame = Frame::alloc(alloc_, order);
      if (!frame.ok()) {
        return Err{OsError{fmt::format("at {:#x}: {}", at.value(), frame.error().message())}};
      }
      if (before) before(at, size, frame->paddr());
      auto out = cursor->map(std::move(frame).value(), prop);
      if (!out.ok()) return Err{from(out.error())};
      if (out->replaced) {
        fx.add_page(at, size);
        if (auto* m = std::get_if<pt::Mapped>(&*out->replaced)) {
          garbage->frames.push_back(std::move(m->page));
        }
      }
      if (out->detached) {
        fx.full_flush = true;  // every page of the detached table may be cached
        garbage->tables.push_back(std::move(*out->detached));
      }
      at = at + size;
    }
    fx.garbage = std::move(garbage);
    return fx;
  }

  // The largest page size the alignment of `va` and the remaining `len` allow.
  static u64 largest_page(VAddr va, u64 len) {
    for (pt::PagingLevel l = C::HIGHEST_TRANSLATION_LEVEL; l > 1; --l) {
      const u64 s = page_size_of(l);
      if (va.is_aligned(s) && len >= s) return s;
    }
    return page_size_of(1);
  }

  template <class Pt>
  Result<Effects, OsError> do_unmap(Pt& table, VRange r) {
    auto cursor = table.cursor_mut(r);
    if (!cursor.ok()) return Err{from(cursor.error())};
    Effects fx;
    auto garbage = std::make_unique<GarbageOf<C>>();
    for (;;) {
      auto item = cursor->take_next(r.end - cursor->virt_addr());
      if (!item.ok()) return Err{from(item.error())};
      if (auto* m = std::get_if<pt::Mapped>(&*item)) {
        fx.add_page(m->va, m->page.size());
        garbage->frames.push_back(std::move(m->page));
      } else if (auto* u = std::get_if<pt::MappedUntracked>(&*item)) {
        fx.add_page(u->va, u->len);
      } else {
        break;  // NotMapped: nothing left
      }
      if (cursor->virt_addr() >= r.end) break;
    }
    fx.garbage = std::move(garbage);
    return fx;
  }

  template <class Pt>
  Result<Effects, OsError> do_protect(Pt& table, VRange r, u8 prot,
                                      std::optional<pt::CachePolicy> cache, u8 clear) {
    auto cursor = table.cursor_mut(r);
    if (!cursor.ok()) return Err{from(cursor.error())};
    Effects fx;
    for (;;) {
      bool weakened = false;
      auto op = [&](PageProperty& p) {
        PageProperty before = p;
        p.flags -= PageFlag::W | PageFlag::X;
        if (prot & kProtW) p.flags |= PageFlag::W;
        if (prot & kProtX) p.flags |= PageFlag::X;
        if (cache) p.cache = *cache;
        if (clear & kClearA) p.flags -= PageFlag::ACCESSED;
        if (clear & kClearD) p.flags -= PageFlag::DIRTY;
        // Removing W or X, clearing A/D or changing the memory type must reach every TLB:
        // stale entries would allow what is now forbidden, or keep A/D from being set again.
        weakened = (before.flags.contains(PageFlag::W) && !p.flags.contains(PageFlag::W)) ||
                   (before.flags.contains(PageFlag::X) && !p.flags.contains(PageFlag::X)) ||
                   clear != 0 || before.cache != p.cache;
      };
      auto done = cursor->protect_next(r.end - cursor->virt_addr(), op);
      if (!done.ok()) return Err{from(done.error())};
      if (!*done) break;
      if (weakened) fx.add_page((*done)->start, (*done)->size());
      if (cursor->virt_addr() >= r.end) break;
    }
    return fx;
  }

  FrameAllocator& alloc_;
  KernelPt kernel_;
  mutable std::mutex mu_;  // guards spaces_ (the tables themselves have their node locks)
  std::unordered_map<i64, std::unique_ptr<UserPt>> spaces_;
};

}  // namespace

pt::PageProperty to_property(u8 prot, bool user, bool global, CacheMode cache, bool accessed,
                             bool dirty) {
  pt::PageFlags f = PageFlag::R;
  if (prot & kProtW) f |= PageFlag::W;
  if (prot & kProtX) f |= PageFlag::X;
  if (accessed) f |= PageFlag::ACCESSED;
  if (dirty) f |= PageFlag::DIRTY;
  pt::PrivFlags priv;
  if (user) priv |= PrivFlag::USER;
  if (global) priv |= PrivFlag::GLOBAL;
  const pt::CachePolicy c = cache == CacheMode::kWt   ? pt::CachePolicy::Writethrough
                            : cache == CacheMode::kUc ? pt::CachePolicy::Uncacheable
                                                      : pt::CachePolicy::Writeback;
  return PageProperty{f, c, priv};
}

Result<std::unique_ptr<SimOs>, OsError> make_sim_os(FrameAllocator& alloc, u8 levels) {
  auto make = [&]<class C>() -> Result<std::unique_ptr<SimOs>, OsError> {
    auto k = pt::PageTable<pt::KernelMode, pt::X86PageTableEntry, C>::new_kernel(alloc);
    if (!k.ok()) return Err{from(k.error())};
    return std::unique_ptr<SimOs>(new SimOsImpl<C>(alloc, std::move(k).value()));
  };
  if (levels == 5) return make.template operator()<pt::PagingConsts5>();
  return make.template operator()<pt::PagingConsts4>();
}

}  // namespace pagesim::wl
