// An independent model of what a page table maps, for the randomised model test and the
// disjoint-range concurrency test: a sorted list of leaves (virtual address → size, physical
// address, property, tracked or not) and, for tracked pages, how many leaves map each frame.
//
// It knows nothing of nodes. It predicts, from the seed's rules stated in BEHAVIOURS.md and the
// cursor's documented contract, the outcome of every operation — including the page sizes map_pa
// picks, the huge pages it, take_next and protect_next split, and the errors — and each `do_*`
// runs the operation on the real table through a fresh cursor and checks it against the
// prediction step by step, then updates the model.
//
// Preconditions the drivers respect so that the prediction needs no knowledge of nodes:
// - the cursor's range is larger than the operated range by at least one page on one side when
//   a huge page may be mapped, so the cursor never sits on the very child table of the slot it
//   must replace (kGuardNodeInTheWay, and map_pa's small-pages-into-the-guard case, are tested
//   on their own);
// - tracked and untracked ranges never share a 1 GiB slot (they are the user table, the
//   kernel's non-linear range, and the kernel's linear mapping).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "harness.h"

namespace pagesim::pt::testing {

struct ModelLeaf {
  u64 size = 0;
  PAddr pa;
  PageProperty prop;
  Tracked tracked = Tracked::kYes;
};

// Tracked frames the model knows: head pfn → (order, number of leaves mapping it).
struct FrameBook {
  struct Rec {
    unsigned order = 0;
    u64 mappings = 0;
  };
  std::map<u64, Rec> frames;
  u64 nr_frames() const {
    u64 n = 0;
    for (const auto& [pfn, r] : frames) n += u64{1} << r.order;
    return n;
  }
};

// Whether the model may check, right after a drop, that a frame went back to the allocator
// (only when no other thread allocates meanwhile).
enum class CheckFrees : u8 { kNo, kYes };

template <class PT>
class Model {
 public:
  using C = typename PT::Consts;
  using Leaves = std::map<u64, ModelLeaf>;

  Model(Machine& m, const PT& pt, FrameBook& book, CheckFrees check_frees)
      : m_(m), pt_(pt), book_(book), check_frees_(check_frees) {}

  const Leaves& leaves() const { return leaves_; }

  // The mappings the model expects in [range], as the oracle lists them.
  std::vector<Mapping> expected(VRange range) const {
    std::vector<Mapping> out;
    out.reserve(leaves_.size());
    for (auto it = leaves_.lower_bound(range.start.value());
         it != leaves_.end() && it->first < range.end.value(); ++it) {
      out.push_back(
          {VAddr(it->first), it->second.size, it->second.pa, it->second.prop, it->second.tracked});
    }
    return out;
  }

  // The largest untracked page map_pa may use: below the kernel's shared nodes (levels
  // NR_LEVELS − 1 and up) and at most the highest translation level.
  static constexpr u64 max_untracked_size() {
    const int level = std::min<int>(C::HIGHEST_TRANSLATION_LEVEL, C::NR_LEVELS - 2);
    return level_size(level);
  }

  // --- map: `pages` in order from `va`, through one cursor over `range` ----------------------
  void do_map(VRange range, VAddr va, std::vector<Frame> pages, PageProperty prop, Tracked region) {
    // Frames released while pages not yet mapped still hold references to them are checked once
    // those references are gone too.
    std::vector<u64> recheck;
    struct AtExit {
      Model& model;
      std::vector<Frame>& pages;
      std::vector<u64>& recheck;
      ~AtExit() {
        pages.clear();
        for (u64 pfn : recheck) {
          if (!model.book_.frames.contains(pfn) && model.check_frees_ == CheckFrees::kYes) {
            EXPECT_TRUE(model.m_.freed(Pfn(pfn))) << "frame " << pfn << " was not released";
          }
        }
      }
    } at_exit{*this, pages, recheck};
    auto c = pt_.cursor_mut(range);
    ASSERT_TRUE(c.ok()) << describe(c.error());
    if (va != range.start) PT_ASSERT_OK(c->jump(va));
    for (Frame& page : pages) {
      const u64 size = page.size();
      const u64 pfn = page.pfn().value();
      // Predict.
      std::optional<PtErrc> err;
      if (region == Tracked::kNo) {
        err = PtErrc::kTrackedInUntracked;
      } else if (!E::can_encode(prop)) {
        err = PtErrc::kUnsupportedProperty;
      } else if (auto it = containing(va.value()); it != leaves_.end() && it->second.size > size) {
        err = PtErrc::kSmallPageInHugePage;
      }
      auto r = c->map(std::move(page), prop);
      if (err) {
        ASSERT_TRUE(IsErr(r, *err)) << "map at " << va.value();
        ASSERT_EQ(c->virt_addr(), va) << "a refused map does not move the cursor";
        const bool other_handles = std::any_of(pages.begin(), pages.end(), [&](const Frame& f) {
          return f.valid() && f.pfn().value() == pfn;
        });
        if (check_frees_ == CheckFrees::kYes && !book_.frames.contains(pfn) && !other_handles) {
          EXPECT_TRUE(m_.freed(Pfn(pfn))) << "the refused page was not released";
        }
        return;
      }
      ASSERT_TRUE(r.ok()) << "map at " << va.value() << ": " << describe(r.error());
      ASSERT_EQ(c->virt_addr(), va + size);
      MapOutcome<E, C> out = std::move(r).value();
      // What was there: the same-size leaf is replaced; smaller leaves go with a detached table.
      std::vector<std::pair<u64, ModelLeaf>> gone = take_range(va.value(), size);
      if (gone.size() == 1 && gone[0].first == va.value() && gone[0].second.size == size) {
        EXPECT_FALSE(out.detached.has_value());
        ASSERT_TRUE(out.replaced.has_value()) << "map at " << va.value() << " replaced nothing";
        auto* old = std::get_if<Mapped>(&*out.replaced);
        ASSERT_NE(old, nullptr);
        EXPECT_EQ(old->va, va);
        EXPECT_EQ(old->page.paddr(), gone[0].second.pa);
        EXPECT_EQ(old->prop, gone[0].second.prop);
      } else {
        EXPECT_FALSE(out.replaced.has_value()) << "map at " << va.value();
        if (!gone.empty()) {
          EXPECT_TRUE(out.detached.has_value()) << "map at " << va.value();
        }
        if (out.detached.has_value()) expect_detached(out.detached->paddr(), va, gone);
      }
      leaves_[va.value()] = ModelLeaf{size, PAddr(pfn << kFrameShift), prop, Tracked::kYes};
      ++book_.frames[pfn].mappings;
      book_.frames[pfn].order = static_cast<unsigned>(std::countr_zero(size) - kFrameShift);
      out = {};  // the caller's TLB flush would come first; then the old pages are released
      release(gone, &pages, &recheck);
      va += size;
    }
  }

  // --- map_pa of [pa] at `va` through one cursor over `range` --------------------------------
  void do_map_pa(VRange range, VAddr va, PRange pa, PageProperty prop, Tracked region) {
    auto c = pt_.cursor_mut(range);
    ASSERT_TRUE(c.ok()) << describe(c.error());
    if (va != range.start) PT_ASSERT_OK(c->jump(va));
    auto r = c->map_pa(pa, prop);
    if (region == Tracked::kYes) {
      ASSERT_TRUE(IsErr(r, PtErrc::kUntrackedInTracked));
      return;
    }
    if (!E::can_encode(prop)) {
      ASSERT_TRUE(IsErr(r, PtErrc::kUnsupportedProperty));
      return;
    }
    ASSERT_TRUE(r.ok()) << "map_pa at " << va.value() << ": " << describe(r.error());
    ASSERT_EQ(c->virt_addr(), va + pa.size());
    MapPaOutcome<E, C> out = std::move(r).value();
    u64 replaced = 0;
    std::vector<std::pair<u64, ModelLeaf>> detached_leaves;
    const u64 end = va.value() + pa.size();
    u64 v = va.value();
    PAddr p = pa.start;
    while (v < end) {
      u64 s = max_untracked_size();
      while (s > k4K && !(is_aligned(v, s) && p.is_aligned(s) && end - v >= s)) s /= 512;
      // A larger leaf where this one goes is split first, down to this size.
      for (auto it = containing(v); it != leaves_.end() && it->second.size > s;
           it = containing(v)) {
        split(it);
      }
      auto gone = take_range(v, s);
      if (gone.size() == 1 && gone[0].first == v && gone[0].second.size == s) {
        ++replaced;
      } else {
        detached_leaves.insert(detached_leaves.end(), gone.begin(), gone.end());
      }
      leaves_[v] = ModelLeaf{s, p, prop, Tracked::kNo};
      v += s;
      p += s;
    }
    EXPECT_EQ(out.replaced_leaves, replaced) << "map_pa at " << va.value();
    Census census;
    for (const auto& node : out.detached) {
      sweep_subtree(m_, node.paddr(), std::nullopt, C::NR_LEVELS, C::HIGHEST_TRANSLATION_LEVEL,
                    census);
    }
    EXPECT_TRUE(NoProblems(census));
    EXPECT_EQ(census.untracked_leaves, detached_leaves.size()) << "map_pa at " << va.value();
    EXPECT_EQ(census.tracked_leaves, 0u);
  }

  // --- take_next over [start, start + len) until nothing is left --------------------------------
  void do_unmap(VRange range, VAddr start, u64 len) {
    auto c = pt_.cursor_mut(range);
    ASSERT_TRUE(c.ok()) << describe(c.error());
    if (start != range.start) PT_ASSERT_OK(c->jump(start));
    const u64 end = start.value() + len;
    std::vector<std::pair<u64, ModelLeaf>> taken;
    for (;;) {
      auto next = next_in(c->virt_addr().value(), end);
      const VAddr before = c->virt_addr();
      auto r = c->take_next(end - before.value());
      if (next == leaves_.end()) {
        ASSERT_TRUE(r.ok()) << describe(r.error());
        auto* nm = std::get_if<NotMapped>(&*r);
        ASSERT_NE(nm, nullptr) << "took something at " << item_va(*r).value()
                               << " that the model does not have";
        EXPECT_EQ(nm->va, before);
        EXPECT_EQ(nm->len, end - before.value());
        EXPECT_EQ(c->virt_addr(), VAddr(end));
        break;
      }
      const u64 lva = next->first;
      const ModelLeaf leaf = next->second;
      if (lva < before.value() || lva + leaf.size > end) {
        ASSERT_TRUE(leaf.tracked == Tracked::kYes) << "next_in splits untracked leaves";
        ASSERT_TRUE(IsErr(r, PtErrc::kPartialHugeUnmap)) << "at " << lva;
        EXPECT_EQ(r.error().va, VAddr(lva));
        EXPECT_EQ(r.error().size, leaf.size);
        break;
      }
      ASSERT_TRUE(r.ok()) << "take_next expected " << lva << ": " << describe(r.error());
      expect_item(*r, lva, leaf);
      EXPECT_EQ(c->virt_addr(), VAddr(lva + leaf.size));
      taken.emplace_back(lva, leaf);
      leaves_.erase(next);
    }  // each item is dropped at the end of its iteration (after the TLB flush, in an OS)
    release(taken);
  }

  // --- protect_next over [start, start + len) until nothing is left -----------------------------
  template <class Op>
  void do_protect(VRange range, VAddr start, u64 len, Op op) {
    auto c = pt_.cursor_mut(range);
    ASSERT_TRUE(c.ok()) << describe(c.error());
    if (start != range.start) PT_ASSERT_OK(c->jump(start));
    const u64 end = start.value() + len;
    for (;;) {
      auto next = next_in(c->virt_addr().value(), end);
      const VAddr before = c->virt_addr();
      auto r = c->protect_next(end - before.value(), op);
      if (next == leaves_.end()) {
        ASSERT_TRUE(r.ok()) << describe(r.error());
        EXPECT_FALSE(r->has_value())
            << "protected " << (*r)->start.value() << " which the model does not have";
        EXPECT_EQ(c->virt_addr(), VAddr(end));
        break;
      }
      const u64 lva = next->first;
      ModelLeaf& leaf = next->second;
      if (lva < before.value() || lva + leaf.size > end) {
        ASSERT_TRUE(IsErr(r, PtErrc::kPartialHugeProtect)) << "at " << lva;
        EXPECT_EQ(r.error().va, VAddr(lva));
        EXPECT_EQ(r.error().size, leaf.size);
        break;
      }
      ASSERT_TRUE(r.ok()) << "protect_next expected " << lva << ": " << describe(r.error());
      ASSERT_TRUE(r->has_value()) << "protect_next missed " << lva;
      EXPECT_EQ(**r, (VRange{VAddr(lva), VAddr(lva + leaf.size)}));
      op(leaf.prop);
      EXPECT_EQ(c->virt_addr(), VAddr(lva + leaf.size));
    }
  }

  // --- query at `va` (a cursor's and the lockless walk's) ------------------------------------
  void do_query(VAddr va) {
    auto c = pt_.cursor({va, va + k4K});
    ASSERT_TRUE(c.ok());
    auto r = c->query();
    ASSERT_TRUE(r.ok());
    auto it = containing(va.value());
    auto walk = pt_.query(va + 0x123);
    if (it == leaves_.end()) {
      EXPECT_TRUE(std::holds_alternative<NotMapped>(*r)) << "at " << va.value();
      EXPECT_FALSE(walk.has_value());
      return;
    }
    const ModelLeaf& leaf = it->second;
    const PAddr pa = leaf.pa + (va.value() - it->first);
    if (leaf.tracked == Tracked::kYes) {
      auto* p = std::get_if<Mapped>(&*r);
      ASSERT_NE(p, nullptr) << "at " << va.value();
      EXPECT_EQ(p->va, va);
      EXPECT_EQ(p->page.paddr(), leaf.pa);
      EXPECT_EQ(p->prop, leaf.prop);
    } else {
      auto* u = std::get_if<MappedUntracked>(&*r);
      ASSERT_NE(u, nullptr) << "at " << va.value();
      EXPECT_EQ(u->va, va);
      EXPECT_EQ(u->pa, leaf.pa);
      EXPECT_EQ(u->len, leaf.size);
      EXPECT_EQ(u->prop, leaf.prop);
    }
    ASSERT_TRUE(walk.has_value());
    EXPECT_EQ(walk->first, pa + 0x123);
    EXPECT_EQ(walk->second, leaf.prop);
  }

  // The leaf containing `va`, or end().
  typename Leaves::iterator containing(u64 va) {
    auto it = leaves_.upper_bound(va);
    if (it == leaves_.begin()) return leaves_.end();
    --it;
    return va - it->first < it->second.size ? it : leaves_.end();
  }

 private:
  // The first leaf overlapping [cur, end) after splitting the untracked leaves covered in part
  // (as take_next and protect_next do); a tracked leaf covered in part is returned as is.
  typename Leaves::iterator next_in(u64 cur, u64 end) {
    for (;;) {
      auto it = containing(cur);
      if (it == leaves_.end()) it = leaves_.lower_bound(cur);
      if (it == leaves_.end() || it->first >= end) return leaves_.end();
      const bool partial = it->first < cur || it->first + it->second.size > end;
      if (!partial || it->second.tracked == Tracked::kYes) return it;
      split(it);
    }
  }

  // Splits an untracked leaf into 512 leaves of the next size, as split_untracked_huge does.
  void split(typename Leaves::iterator it) {
    ASSERT_TRUE(it->second.tracked == Tracked::kNo) << "split of a tracked leaf";
    const u64 va = it->first;
    const ModelLeaf l = it->second;
    leaves_.erase(it);
    const u64 small = l.size / 512;
    for (u64 i = 0; i < 512; ++i) {
      leaves_[va + i * small] = ModelLeaf{small, l.pa + i * small, l.prop, Tracked::kNo};
    }
  }

  // Removes and returns the leaves inside [va, va + size).
  std::vector<std::pair<u64, ModelLeaf>> take_range(u64 va, u64 size) {
    std::vector<std::pair<u64, ModelLeaf>> out;
    auto it = leaves_.lower_bound(va);
    while (it != leaves_.end() && it->first < va + size) {
      out.emplace_back(*it);
      it = leaves_.erase(it);
    }
    return out;
  }

  // A detached subtree holds exactly the leaves the model says were under the new page.
  void expect_detached(PAddr node, VAddr base, const std::vector<std::pair<u64, ModelLeaf>>& gone) {
    Census census;
    sweep_subtree(m_, node, base, C::NR_LEVELS, C::HIGHEST_TRANSLATION_LEVEL, census);
    EXPECT_TRUE(NoProblems(census));
    ASSERT_EQ(census.leaves.size(), gone.size()) << "detached at " << base.value();
    for (size_t i = 0; i < gone.size(); ++i) {
      EXPECT_EQ(census.leaves[i].va, VAddr(gone[i].first));
      EXPECT_EQ(PAddr(census.leaves[i].raw & bits::kAddr), gone[i].second.pa);
      EXPECT_EQ(level_size(census.leaves[i].level), gone[i].second.size);
    }
  }

  void expect_item(const PageTableItem& item, u64 va, const ModelLeaf& leaf) {
    if (leaf.tracked == Tracked::kYes) {
      auto* p = std::get_if<Mapped>(&item);
      ASSERT_NE(p, nullptr) << "at " << va;
      EXPECT_EQ(p->va, VAddr(va));
      EXPECT_EQ(p->page.paddr(), leaf.pa);
      EXPECT_EQ(p->page.size(), leaf.size);
      EXPECT_EQ(p->prop, leaf.prop);
    } else {
      auto* u = std::get_if<MappedUntracked>(&item);
      ASSERT_NE(u, nullptr) << "at " << va;
      EXPECT_EQ(u->va, VAddr(va));
      EXPECT_EQ(u->pa, leaf.pa);
      EXPECT_EQ(u->len, leaf.size);
      EXPECT_EQ(u->prop, leaf.prop);
    }
  }

  // Leaves that left the table (their handles already dropped): tracked frames lose a mapping;
  // a frame nothing maps any more must be back in the allocator, unless `pending` handles still
  // name it (then it goes to `recheck`).
  void release(const std::vector<std::pair<u64, ModelLeaf>>& gone,
               const std::vector<Frame>* pending = nullptr, std::vector<u64>* recheck = nullptr) {
    for (const auto& [va, leaf] : gone) {
      if (leaf.tracked == Tracked::kNo) continue;
      const u64 pfn = Pfn::containing(leaf.pa).value();
      auto it = book_.frames.find(pfn);
      ASSERT_TRUE(it != book_.frames.end()) << "unknown frame " << pfn;
      if (--it->second.mappings == 0) {
        book_.frames.erase(it);
        const bool held = pending != nullptr &&
                          std::any_of(pending->begin(), pending->end(), [&](const Frame& f) {
                            return f.valid() && f.pfn().value() == pfn;
                          });
        if (held) {
          recheck->push_back(pfn);
        } else if (check_frees_ == CheckFrees::kYes) {
          EXPECT_TRUE(m_.freed(Pfn(pfn)))
              << "frame " << pfn << " unmapped everywhere, not freed: refcount "
              << m_.alloc.meta(Pfn(pfn)).refcount.load() << " use "
              << to_string(m_.alloc.meta(Pfn(pfn)).use.load()) << " at " << va;
        }
      }
    }
  }

  Machine& m_;
  const PT& pt_;
  FrameBook& book_;
  CheckFrees check_frees_;
  Leaves leaves_;
};

// The whole-machine check after a batch: each table maps exactly what its model says (cursor
// iteration and raw walk), every invariant holds, every tracked frame's reference count is the
// number of leaves mapping it, and the allocator's in-use count is the nodes plus those frames.
template <class KPT, class UPT>
::testing::AssertionResult MatchesModels(const Machine& m, const KPT& kpt, const Model<KPT>& kmodel,
                                         VRange kernel_range, const UPT& upt,
                                         const Model<UPT>& umodel, VRange user_range,
                                         const FrameBook& book) {
  Census c;
  sweep(m, kpt, c);
  sweep(m, upt, c);
  if (!c.problems.empty()) return NoProblems(c);
  const auto kwant = kmodel.expected(kernel_range);
  const auto uwant = umodel.expected(user_range);
  if (auto r = SameMappings("kernel table, cursor", mappings_via_cursor(kpt, kernel_range), kwant);
      !r) {
    return r;
  }
  if (auto r = SameMappings("kernel table, raw walk", mappings_in(m, c, kernel_range), kwant); !r) {
    return r;
  }
  if (auto r = SameMappings("user table, cursor", mappings_via_cursor(upt, user_range), uwant);
      !r) {
    return r;
  }
  if (auto r = SameMappings("user table, raw walk", mappings_in(m, c, user_range), uwant); !r) {
    return r;
  }
  for (const auto& [pfn, rec] : book.frames) {
    auto it = c.tracked_mappings.find(pfn);
    const u64 found = it == c.tracked_mappings.end() ? 0 : it->second;
    const u32 rc = m.alloc.meta(Pfn(pfn)).refcount.load();
    if (found != rec.mappings || rc != rec.mappings) {
      return ::testing::AssertionFailure()
             << fmt::format("{}: model says {} mappings; the tables have {}, refcount {}", Pfn(pfn),
                            rec.mappings, found, rc);
    }
  }
  if (c.tracked_mappings.size() != book.frames.size()) {
    return ::testing::AssertionFailure() << "the tables map " << c.tracked_mappings.size()
                                         << " frames, the model " << book.frames.size();
  }
  if (m.alloc.in_use() != c.nodes + book.nr_frames()) {
    return ::testing::AssertionFailure() << "in_use " << m.alloc.in_use() << " != nodes " << c.nodes
                                         << " + model frames " << book.nr_frames();
  }
  return ::testing::AssertionSuccess();
}

// --- Random operations ---------------------------------------------------------------------

class Generator {
 public:
  explicit Generator(u64 seed) : rng_(seed) {}

  u64 below(u64 n) { return std::uniform_int_distribution<u64>(0, n - 1)(rng_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  // A length from 4 KiB to 1 GiB, log-uniform, a multiple of 4 KiB.
  u64 length(u64 max = k1G) {
    const unsigned e = 12 + static_cast<unsigned>(below(19));  // 2^12 .. 2^30
    u64 len = (u64{1} << e) + below(u64{1} << e);
    len = std::min(align_down(len, k4K), max);
    return std::max(len, k4K);
  }

  // A start in `w` for a range of `len`, aligned to `align`, often further aligned to 2 MiB or
  // 1 GiB, leaving `margin` free on both sides inside the window.
  VAddr start(VRange w, u64 len, u64 align, u64 margin = 0) {
    u64 a = align;
    if (chance(0.3)) a = std::max(a, k2M);
    if (chance(0.1)) a = std::max(a, k1G);
    const u64 lo = w.start.value() + margin;
    const u64 hi = w.end.value() - margin - len;  // inclusive
    const u64 first = (lo + a - 1) & ~(a - 1);
    if (first > hi) return VAddr(lo + (align - lo % align) % align);
    return VAddr(first + below((hi - first) / a + 1) * a);
  }

  // The cursor's range around [start, end): sometimes exactly it, sometimes with slack, always
  // inside the window. `need_slack` asks for at least one page of slack (see model.h).
  VRange cursor_range(VRange w, VAddr start, VAddr end, bool need_slack) {
    u64 lo = chance(0.5) ? 0 : (chance(0.5) ? k4K : below(1024) * k4K);
    u64 hi = chance(0.5) ? 0 : (chance(0.5) ? k4K : below(1024) * k4K);
    lo = std::min(lo, start - w.start);
    hi = std::min(hi, w.end - end);
    if (need_slack && lo == 0 && hi == 0) {
      if (start > w.start) {
        lo = k4K;
      } else {
        hi = k4K;
      }
    }
    return {start - lo, end + hi};
  }

  PageProperty prop(bool user) {
    PageFlags f = PageFlag::R;
    if (chance(0.6)) f |= PageFlag::W;
    if (chance(0.4)) f |= PageFlag::X;
    if (chance(0.2)) f |= PageFlag::ACCESSED;
    if (chance(0.1)) f |= PageFlag::DIRTY;
    PrivFlags p;
    if (user) p |= PrivFlag::USER;
    if (chance(0.2)) p |= PrivFlag::GLOBAL;
    CachePolicy c = CachePolicy::Writeback;
    const u64 r = below(100);
    if (r < 10) {
      c = CachePolicy::Writethrough;
    } else if (r < 20) {
      c = CachePolicy::Uncacheable;
    } else if (r < 22) {
      c = chance(0.5) ? CachePolicy::WriteCombining : CachePolicy::WriteProtected;
    }
    return PageProperty::make(f, c, p);
  }
  // A property the entry can encode (no deliberate mistake).
  PageProperty valid_prop(bool user) {
    for (;;) {
      const PageProperty p = prop(user);
      if (E::can_encode(p)) return p;
    }
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  std::mt19937_64 rng_;
};

// A protect operation: a deterministic change of the property, so the model can apply it too.
struct ProtectOp {
  u8 kind = 0;
  CachePolicy cache = CachePolicy::Writeback;
  void operator()(PageProperty& p) const {
    switch (kind) {
      case 0:
        p.flags -= PageFlag::W;
        break;
      case 1:
        p.flags |= PageFlag::W;
        break;
      case 2:
        if (p.flags.contains(PageFlag::X)) {
          p.flags -= PageFlag::X;
        } else {
          p.flags |= PageFlag::X;
        }
        break;
      case 3:
        p.cache = cache;
        break;
      case 4:
        if (p.priv_flags.contains(PrivFlag::GLOBAL)) {
          p.priv_flags -= PrivFlag::GLOBAL;
        } else {
          p.priv_flags |= PrivFlag::GLOBAL;
        }
        break;
      default:
        p.flags -= PageFlag::ACCESSED | PageFlag::DIRTY;
        break;
    }
  }
};

}  // namespace pagesim::pt::testing
