// Shared test harness for the page table (STYLE.md lesson 12): a simulated machine, the one
// "expect these mappings" oracle, and the invariant sweep.
//
// The oracle and the sweep read simulated memory directly and decode entries with their own bit
// definitions (spec §2.4), not with entry.h: a test that reads the table back through the code
// under test alone could not see that code encode and decode the same wrong bits.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "pagetable/page_table.h"
#include "sim/frame.h"

namespace pagesim::pt::testing {

using E = X86PageTableEntry;
using C4 = PagingConsts4;
using C5 = PagingConsts5;
using KPT4 = KernelPageTable<C4>;
using UPT4 = UserPageTable<C4>;
using KPT5 = KernelPageTable<C5>;
using UPT5 = UserPageTable<C5>;

// --- x86-64 entry bits, from the spec (§2.4 E1–E5), independent of entry.h -------------------
namespace bits {
inline constexpr u64 kP = u64{1} << 0;                  // present
inline constexpr u64 kRW = u64{1} << 1;                 // writable
inline constexpr u64 kUS = u64{1} << 2;                 // user
inline constexpr u64 kPWT = u64{1} << 3;                // write-through
inline constexpr u64 kPCD = u64{1} << 4;                // cache disable
inline constexpr u64 kA = u64{1} << 5;                  // accessed
inline constexpr u64 kD = u64{1} << 6;                  // dirty (leaves)
inline constexpr u64 kPS = u64{1} << 7;                 // page size (levels 2, 3); PAT at level 1
inline constexpr u64 kG = u64{1} << 8;                  // global (leaves)
inline constexpr u64 kXD = u64{1} << 63;                // execute-disable
inline constexpr u64 kAddr = 0x000F'FFFF'FFFF'F000ull;  // bits 51:12
}  // namespace bits

// --- Address arithmetic written out independently of paging_consts.h --------------------------
inline constexpr u64 level_size(int level) { return u64{4096} << (9 * (level - 1)); }
inline constexpr u64 level_index(u64 va, int level) { return (va >> (12 + 9 * (level - 1))) & 511; }
inline constexpr unsigned address_width(int nr_levels) { return 12 + 9 * nr_levels; }
// Canonical form of a `width`-bit address: bits above width−1 copy bit width−1 (spec L1).
inline constexpr u64 sign_extend(u64 va, unsigned width) {
  return (va >> (width - 1)) & 1 ? va | (~u64{0} << width) : va & ~(~u64{0} << width);
}
// The kernel's linear-mapping range: the lower half of the kernel half (Asterinas of the seed's
// era: 0xffff_8000_0000_0000..0xffff_c000_0000_0000 with 4 levels).
inline constexpr VRange linear_range(int nr_levels) {
  const unsigned w = address_width(nr_levels);
  const u64 base = ~u64{0} << (w - 1);
  return {VAddr(base), VAddr(base + (u64{1} << (w - 2)))};
}

// 4-level address map, written out by hand.
inline constexpr VAddr kLinearBase{0xffff'8000'0000'0000ull};
inline constexpr VAddr kLinearEnd{0xffff'c000'0000'0000ull};
inline constexpr VAddr kKernelEnd{0xffff'ffff'ffff'0000ull};
inline constexpr VAddr kUserEnd{0x0000'7fff'ffff'f000ull};

inline constexpr VRange kUserAll{VAddr(0), kUserEnd};
inline constexpr VRange kKernelAll{kLinearBase, kKernelEnd};

inline constexpr u64 k4K = 4 * KiB;
inline constexpr u64 k2M = 2 * MiB;
inline constexpr u64 k1G = 1 * GiB;

// The property an entry encodes, decoded from the spec's bits (seed-era encoding: R is implied by
// P; PCD means uncacheable, else PWT write-through, else write-back).
inline PageProperty decode_prop(u64 raw) {
  PageFlags f;
  if (raw & bits::kP) f |= PageFlag::R;
  if (raw & bits::kRW) f |= PageFlag::W;
  if (!(raw & bits::kXD)) f |= PageFlag::X;
  if (raw & bits::kA) f |= PageFlag::ACCESSED;
  if (raw & bits::kD) f |= PageFlag::DIRTY;
  PrivFlags p;
  if (raw & bits::kUS) p |= PrivFlag::USER;
  if (raw & bits::kG) p |= PrivFlag::GLOBAL;
  const CachePolicy c = (raw & bits::kPCD)   ? CachePolicy::Uncacheable
                        : (raw & bits::kPWT) ? CachePolicy::Writethrough
                                             : CachePolicy::Writeback;
  return PageProperty{f, c, p};
}

// --- Common properties ----------------------------------------------------------------------
inline constexpr PageProperty kKernRW = PageProperty::make(PageFlag::R | PageFlag::W);
inline constexpr PageProperty kKernRO = PageProperty::make(PageFlag::R);
inline constexpr PageProperty kKernRX = PageProperty::make(PageFlag::R | PageFlag::X);
inline constexpr PageProperty kUserRW =
    PageProperty::make(PageFlag::R | PageFlag::W, CachePolicy::Writeback, PrivFlag::USER);
inline constexpr PageProperty kUserRO =
    PageProperty::make(PageFlag::R, CachePolicy::Writeback, PrivFlag::USER);
inline constexpr PageProperty kUserRX =
    PageProperty::make(PageFlag::R | PageFlag::X, CachePolicy::Writeback, PrivFlag::USER);

inline PageProperty without(PageProperty p, PageFlags f) {
  p.flags -= f;
  return p;
}
inline PageProperty with(PageProperty p, PageFlags f) {
  p.flags |= f;
  return p;
}

// --- Printing ---------------------------------------------------------------------------------
inline std::string_view errc_name(PtErrc c) {
  switch (c) {
    case PtErrc::kInvalidVaddrRange:
      return "InvalidVaddrRange";
    case PtErrc::kUnalignedVaddr:
      return "UnalignedVaddr";
    case PtErrc::kUnalignedPaddr:
      return "UnalignedPaddr";
    case PtErrc::kInvalidVaddr:
      return "InvalidVaddr";
    case PtErrc::kBeyondCursorRange:
      return "BeyondCursorRange";
    case PtErrc::kSmallPageInHugePage:
      return "SmallPageInHugePage";
    case PtErrc::kPartialHugeUnmap:
      return "PartialHugeUnmap";
    case PtErrc::kPartialHugeProtect:
      return "PartialHugeProtect";
    case PtErrc::kTrackedInUntracked:
      return "TrackedInUntracked";
    case PtErrc::kUntrackedInTracked:
      return "UntrackedInTracked";
    case PtErrc::kBadPageSize:
      return "BadPageSize";
    case PtErrc::kUnsupportedProperty:
      return "UnsupportedProperty";
    case PtErrc::kGuardNodeInTheWay:
      return "GuardNodeInTheWay";
    case PtErrc::kOutOfMemory:
      return "OutOfMemory";
  }
  return "?";
}
inline std::string describe(const PageTableError& e) {
  return fmt::format("{} ({})", errc_name(e.code), e.message());
}
inline std::string describe(const AllocError& e) { return e.message(); }
inline std::string describe(const std::string& e) { return e; }

// Unwraps a Result in a void function (a test body or a void helper), failing the test with the
// error's message instead of aborting on value() of an error.
#define PT_UNWRAP(expr)                                                                      \
  ({                                                                                         \
    auto&& pt_unwrap_r_ = (expr);                                                            \
    if (!pt_unwrap_r_.ok()) {                                                                \
      GTEST_FAIL() << #expr                                                                  \
                   << " failed: " << ::pagesim::pt::testing::describe(pt_unwrap_r_.error()); \
    }                                                                                        \
    std::move(pt_unwrap_r_).value();                                                         \
  })
#define PT_ASSERT_OK(expr)                                                            \
  do {                                                                                \
    auto&& pt_ok_r_ = (expr);                                                         \
    ASSERT_TRUE(pt_ok_r_.ok()) << #expr << " failed: "                                \
                               << ::pagesim::pt::testing::describe(pt_ok_r_.error()); \
  } while (0)

// An error result with the given code and a non-empty message.
template <class R>
::testing::AssertionResult IsErr(const R& r, PtErrc code) {
  if (r.ok()) return ::testing::AssertionFailure() << "succeeded; expected " << errc_name(code);
  if (r.error().code != code) {
    return ::testing::AssertionFailure()
           << "failed with " << describe(r.error()) << "; expected " << errc_name(code);
  }
  if (r.error().message().empty()) return ::testing::AssertionFailure() << "empty message";
  return ::testing::AssertionSuccess() << describe(r.error());
}

// Whether the sanitizer builds run us (they set PAGESIM_SANITIZED=1): long tests shrink.
inline bool sanitized() {
  const char* s = std::getenv("PAGESIM_SANITIZED");
  return s != nullptr && std::string_view(s) == "1";
}

// --- The machine --------------------------------------------------------------------------------
struct Machine {
  explicit Machine(u64 ram = 8 * GiB) : mem(std::move(PhysMem::create(ram).value())), alloc(*mem) {}
  std::unique_ptr<PhysMem> mem;
  FrameAllocator alloc;

  FrameMeta& meta(PAddr pa) const { return alloc.meta(Pfn::containing(pa)); }
  bool locked(PAddr node) const { return meta(node).lock.is_locked(); }
  // An entry of a page-table node (asserted inside RAM; nodes always are).
  u64 load(PAddr pa) const { return mem->entry(pa).load(std::memory_order_acquire); }
  Frame frame(unsigned order = 0) { return Frame::alloc(alloc, order).value(); }
  // Whether the block at `pfn` went back to the allocator (free, or part of a free block).
  bool freed(Pfn pfn) const {
    const FrameUse u = alloc.meta(pfn).use.load();
    return (u == FrameUse::kFree || u == FrameUse::kFreeBlock) &&
           alloc.meta(pfn).refcount.load() == 0;
  }
};

// --- Raw walks ----------------------------------------------------------------------------------

// The node at `level` on the path to `va`, found by reading entries from the root; nullopt if the
// path stops above it (absent entry or a leaf).
template <class PT>
std::optional<PAddr> node_at(const Machine& m, const PT& pt, VAddr va, int level) {
  constexpr int kNr = PT::Consts::NR_LEVELS;
  PAddr node = pt.root_paddr();
  for (int l = kNr; l > level; --l) {
    const u64 e = m.load(node + level_index(va.value(), l) * 8);
    if (!(e & bits::kP) || (e & bits::kPS)) return std::nullopt;
    node = PAddr(e & bits::kAddr);
  }
  return node;
}

// The address of the entry for `va` at `level` (its node must exist).
template <class PT>
PAddr entry_addr(const Machine& m, const PT& pt, VAddr va, int level) {
  auto node = node_at(m, pt, va, level);
  PAGESIM_ASSERT(node.has_value(), "no level-{} node on the path to {}", level, va);
  return *node + level_index(va.value(), level) * 8;
}
template <class PT>
u64 entry_at(const Machine& m, const PT& pt, VAddr va, int level) {
  return m.load(entry_addr(m, pt, va, level));
}

// --- Mappings: what the oracle compares ----------------------------------------------------------
struct Mapping {
  VAddr va;
  u64 len = 0;
  PAddr pa;
  PageProperty prop;
  Tracked tracked = Tracked::kYes;
  bool operator==(const Mapping&) const = default;
};

inline std::string to_string(const Mapping& m) {
  return fmt::format("{} +{:#x} -> {} [{}] {}", m.va, m.len, m.pa, to_string(m.prop),
                     m.tracked == Tracked::kYes ? "tracked" : "untracked");
}

// A leaf found by a raw walk.
struct Leaf {
  VAddr va;
  int level = 0;
  u64 raw = 0;
  PAddr entry;
};

// --- The invariant sweep ---------------------------------------------------------------------

// Whether the sweep must also find every node unlocked (no cursor alive).
enum class Quiet : u8 { kNo, kYes };

// What a sweep found. Sweeps over several page tables sharing nodes (a kernel table and its user
// tables) accumulate into one census and visit each shared node once.
struct Census {
  u64 nodes = 0;
  u64 tracked_leaves = 0;
  u64 untracked_leaves = 0;
  std::unordered_map<u64, u64> tracked_mappings;  // head pfn -> leaf entries that map it
  std::vector<Leaf> leaves;                       // every leaf, in address order within one table
  std::vector<std::string> problems;
  std::unordered_set<u64> seen;  // nodes visited

  // Frames owned by the tracked pages found (each distinct block counted once).
  u64 tracked_frames(const FrameAllocator& a) const {
    u64 n = 0;
    for (const auto& [pfn, count] : tracked_mappings) n += u64{1} << a.meta(Pfn(pfn)).order;
    return n;
  }
};

namespace detail {

template <class Fmt, class... Args>
void problem(Census& c, Fmt&& f, Args&&... args) {
  if (c.problems.size() < 20) c.problems.push_back(fmt::format(fmt::runtime(f), args...));
}

// Visits the node at `node` (level `level`, mapping from `base`), checking every invariant.
// `nr_levels` and `highest` are the table's parameters.
// `base_known` is false for a detached subtree whose slot is unknown: the checks that depend on
// the virtual address (tracked or not) are skipped, and leaf addresses are relative.
inline void sweep_node(const Machine& m, PAddr node, int level, u64 base, int nr_levels,
                       int highest, Quiet quiet, Census& c, bool base_known = true) {
  const unsigned width = address_width(nr_levels);
  const VRange linear = linear_range(nr_levels);
  FrameMeta& nm = m.meta(node);
  if (nm.use.load() != FrameUse::kPageTable) {
    problem(c, "node {} has use {}", node, to_string(nm.use.load()));
    return;
  }
  if (nm.level != level) problem(c, "node {} has level {}, expected {}", node, nm.level, level);
  if (nm.refcount.load() == 0) problem(c, "node {} has refcount 0", node);
  if (quiet == Quiet::kYes && nm.lock.is_locked()) problem(c, "node {} is still locked", node);
  if (!c.seen.insert(node.value()).second) return;  // a shared node, already swept
  ++c.nodes;
  u64 present = 0;
  for (u64 i = 0; i < 512; ++i) {
    const PAddr ea = node + i * 8;
    const u64 e = m.load(ea);
    if (!(e & bits::kP)) {
      if (e != 0) problem(c, "absent entry {} of node {} is {:#x}, not 0", i, node, e);
      continue;
    }
    ++present;
    const u64 va = sign_extend(base + i * level_size(level), width);
    const bool linear_va = linear.contains(VAddr(va));
    const PAddr target(e & bits::kAddr);
    if (level > 1 && !(e & bits::kPS)) {
      // A child-table pointer: P | R/W | U/S, nothing else but a hardware-set A.
      if ((e & ~bits::kAddr & ~bits::kA) != (bits::kP | bits::kRW | bits::kUS)) {
        problem(c, "table pointer {} of node {} is {:#x}", i, node, e);
      }
      FrameMeta& cm = m.meta(target);
      if (cm.use.load() != FrameUse::kPageTable) {
        problem(c, "entry {} of node {} points to {} used as {}", i, node, target,
                to_string(cm.use.load()));
        continue;
      }
      if (base_known && (cm.untracked != 0) != linear_va) {
        problem(c, "node {} for va {:#x} has untracked={}", target, va, cm.untracked);
      }
      if (cm.untracked != nm.untracked && level != nr_levels) {
        problem(c, "node {} (untracked={}) under node {} (untracked={})", target, cm.untracked,
                node, nm.untracked);
      }
      sweep_node(m, target, level - 1, va, nr_levels, highest, quiet, c, base_known);
      continue;
    }
    // A leaf.
    if (level > highest) problem(c, "leaf at level {} (va {:#x})", level, va);
    if (level == 1 && (e & bits::kPS)) problem(c, "PAT bit set in the 4 KiB leaf for {:#x}", va);
    if (!target.is_aligned(level_size(level))) {
      problem(c, "leaf for {:#x} maps unaligned {}", va, target);
    }
    if (nm.untracked != 0) {
      ++c.untracked_leaves;
      if (level >= nr_levels - 1) {
        problem(c, "untracked leaf for {:#x} in a kernel shared node (level {})", va, level);
      }
    } else {
      ++c.tracked_leaves;
      FrameMeta& fm = m.meta(target);
      if (fm.use.load() != FrameUse::kData) {
        problem(c, "tracked leaf for {:#x} maps {} used as {}", va, target,
                to_string(fm.use.load()));
      }
      if (fm.order != 9 * (level - 1)) {
        problem(c, "tracked leaf for {:#x} at level {} maps a block of order {}", va, level,
                fm.order);
      }
      ++c.tracked_mappings[Pfn::containing(target).value()];
    }
    c.leaves.push_back(Leaf{VAddr(va), level, e, ea});
  }
  if (present != nm.nr_children) {
    problem(c, "node {} (level {}) has {} present entries but nr_children {}", node, level, present,
            nm.nr_children);
  }
}

}  // namespace detail

// Sweeps every node reachable from the table's root.
template <class PT>
void sweep(const Machine& m, const PT& pt, Census& c, Quiet quiet = Quiet::kYes) {
  constexpr int kNr = PT::Consts::NR_LEVELS;
  detail::sweep_node(m, pt.root_paddr(), kNr, 0, kNr, PT::Consts::HIGHEST_TRANSLATION_LEVEL, quiet,
                     c);
}

// Sweeps a detached subtree (from a MapOutcome / MapPaOutcome) rooted at `node`, which mapped
// from `base` (nullopt: unknown; leaf addresses are then offsets in the subtree).
inline void sweep_subtree(const Machine& m, PAddr node, std::optional<VAddr> base, int nr_levels,
                          int highest, Census& c) {
  detail::sweep_node(m, node, m.meta(node).level, base ? base->value() : 0, nr_levels, highest,
                     Quiet::kNo, c, base.has_value());
}

inline ::testing::AssertionResult NoProblems(const Census& c) {
  if (c.problems.empty()) return ::testing::AssertionSuccess();
  auto r = ::testing::AssertionFailure() << c.problems.size() << " invariant violations:";
  for (const auto& p : c.problems) r << "\n  " << p;
  return r;
}

// Sweeps the tables and checks every structural invariant.
template <class... PTs>
::testing::AssertionResult Consistent(const Machine& m, const PTs&... pts) {
  Census c;
  (sweep(m, pts, c), ...);
  return NoProblems(c);
}

// Every frame in use is a node reachable from the tables, a frame their tracked leaves own, or a
// frame the test holds a handle to (`held`); every tracked page's reference count is the number
// of leaves that map it plus the test's handles to it. Assumes a machine that started empty.
template <class... PTs>
::testing::AssertionResult FramesAccountedFor(const Machine& m, std::vector<const Frame*> held,
                                              const PTs&... pts) {
  Census c;
  (sweep(m, pts, c), ...);
  if (!c.problems.empty()) return NoProblems(c);
  std::unordered_map<u64, u64> refs = c.tracked_mappings;
  u64 held_frames = 0;
  for (const Frame* f : held) {
    if (refs[f->pfn().value()]++ == 0 && !c.tracked_mappings.contains(f->pfn().value())) {
      held_frames += u64{1} << f->order();
    }
  }
  const u64 expected = c.nodes + c.tracked_frames(m.alloc) + held_frames;
  if (m.alloc.in_use() != expected) {
    return ::testing::AssertionFailure()
           << "in_use " << m.alloc.in_use() << " != nodes " << c.nodes << " + tracked frames "
           << c.tracked_frames(m.alloc) << " + frames only the test holds " << held_frames;
  }
  for (const auto& [pfn, count] : refs) {
    const u32 rc = m.alloc.meta(Pfn(pfn)).refcount.load();
    if (rc != count) {
      return ::testing::AssertionFailure()
             << fmt::format("{} has {} references (leaves and test handles) but refcount {}",
                            Pfn(pfn), count, rc);
    }
  }
  return ::testing::AssertionSuccess();
}

// Mappings of [range] found by iterating a cursor (the code under test's view).
template <class PT>
std::vector<Mapping> mappings_via_cursor(const PT& pt, VRange range) {
  auto cr = pt.cursor(range);
  PAGESIM_ASSERT(cr.ok(), "cursor for {}: {}", range, cr.ok() ? "" : cr.error().message());
  auto c = std::move(cr).value();
  std::vector<Mapping> out;
  while (auto item = c.next()) {
    if (auto* p = std::get_if<Mapped>(&*item)) {
      out.push_back({p->va, p->page.size(), p->page.paddr(), p->prop, Tracked::kYes});
    } else if (auto* u = std::get_if<MappedUntracked>(&*item)) {
      out.push_back({u->va, u->len, u->pa, u->prop, Tracked::kNo});
    }
  }
  return out;
}

// Mappings of [range] among the leaves a sweep found (the independent view). Only leaves that
// start inside the range are listed.
inline std::vector<Mapping> mappings_in(const Machine& m, const Census& c, VRange range) {
  std::vector<Mapping> out;
  out.reserve(c.leaves.size());
  for (const Leaf& l : c.leaves) {
    if (!range.contains(l.va)) continue;
    const bool untracked = m.meta(l.entry).untracked != 0;
    out.push_back({l.va, level_size(l.level), PAddr(l.raw & bits::kAddr), decode_prop(l.raw),
                   untracked ? Tracked::kNo : Tracked::kYes});
  }
  return out;
}

// Mappings of [range] found by a raw walk of one table.
template <class PT>
std::vector<Mapping> mappings_via_walk(const Machine& m, const PT& pt, VRange range) {
  Census c;
  sweep(m, pt, c, Quiet::kNo);
  return mappings_in(m, c, range);
}

inline ::testing::AssertionResult SameMappings(const char* what, const std::vector<Mapping>& got,
                                               const std::vector<Mapping>& want) {
  if (got == want) return ::testing::AssertionSuccess();
  auto r = ::testing::AssertionFailure()
           << what << ": " << got.size() << " mappings, expected " << want.size();
  const size_t n = std::max(got.size(), want.size());
  int shown = 0;
  for (size_t i = 0; i < n && shown < 8; ++i) {
    const bool same = i < got.size() && i < want.size() && got[i] == want[i];
    if (same) continue;
    ++shown;
    r << "\n  #" << i << " got:  " << (i < got.size() ? to_string(got[i]) : "(none)");
    r << "\n  #" << i << " want: " << (i < want.size() ? to_string(want[i]) : "(none)");
  }
  return r;
}

// The oracle: [range] maps exactly `want` (in address order), seen both by a cursor iterating the
// range and by a raw walk of simulated memory.
template <class PT>
::testing::AssertionResult MappingsAre(const Machine& m, const PT& pt, VRange range,
                                       const std::vector<Mapping>& want) {
  auto r = SameMappings("cursor iteration", mappings_via_cursor(pt, range), want);
  if (!r) return r;
  return SameMappings("raw walk", mappings_via_walk(m, pt, range), want);
}

// Mapping shorthands for expectations.
inline Mapping tracked(VAddr va, const Frame& f, PageProperty prop) {
  return {va, f.size(), f.paddr(), prop, Tracked::kYes};
}
inline Mapping untracked(VAddr va, u64 len, PAddr pa, PageProperty prop) {
  return {va, len, pa, prop, Tracked::kNo};
}

// --- A fixture: a kernel page table and a user page table sharing its kernel half ----------
// Set up on a fresh 16 GiB machine. At teardown both tables must be consistent (no node left
// locked, every count right), and dropping them must return every frame to the allocator.

template <class KPT, class UPT>
class TwoTablesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kpt_.emplace(PT_UNWRAP(KPT::new_kernel(m_.alloc)));
    upt_.emplace(PT_UNWRAP(kpt_->create_user_page_table()));
  }
  void TearDown() override {
    m_.alloc.clear_failures();
    // A test may have dropped the user table already (to watch what that frees).
    if (upt_) {
      EXPECT_TRUE(Consistent(m_, *kpt_, *upt_)) << "every node unlocked, counts right";
    } else {
      EXPECT_TRUE(Consistent(m_, *kpt_)) << "every node unlocked, counts right";
    }
    upt_.reset();
    kpt_.reset();
    EXPECT_EQ(m_.alloc.in_use(), 0u) << "dropping the page tables frees every node and page";
  }

  Machine m_{16 * GiB};
  std::optional<KPT> kpt_;
  std::optional<UPT> upt_;
};
using TwoTables4 = TwoTablesTest<KPT4, UPT4>;
using TwoTables5 = TwoTablesTest<KPT5, UPT5>;

// --- Operations through a fresh cursor ------------------------------------------------------
// Each creates a cursor over `range`, jumps to `va` if it is not the start, does one thing and
// drops the cursor (so its locks are gone when they return). A failure is a test failure.

// A cursor over `range`, at `va`; nullopt (and a test failure) if either step fails.
template <class PT>
auto cursor_mut_at(const PT& pt, VRange range, VAddr va)
    -> std::optional<std::remove_cvref_t<decltype(pt.cursor_mut(range).value())>> {
  auto c = pt.cursor_mut(range);
  if (!c.ok()) {
    ADD_FAILURE() << "cursor_mut: " << describe(c.error());
    return std::nullopt;
  }
  if (va != range.start) {
    if (auto j = c->jump(va); !j.ok()) {
      ADD_FAILURE() << "jump: " << describe(j.error());
      return std::nullopt;
    }
  }
  return std::move(c).value();
}

// What `op` returned, or {} (and a test failure naming `what` and `va`) if it failed.
template <class R>
auto value_or_fail(R r, const char* what, VAddr va) -> std::remove_cvref_t<decltype(r.value())> {
  if (!r.ok()) {
    ADD_FAILURE() << what << " at " << va.value() << ": " << describe(r.error());
    return {};
  }
  return std::move(r).value();
}

template <class PT>
MapOutcome<E, typename PT::Consts> map_at(const PT& pt, VRange range, VAddr va, Frame f,
                                          PageProperty prop) {
  auto c = cursor_mut_at(pt, range, va);
  if (!c) return {};
  return value_or_fail(c->map(std::move(f), prop), "map", va);
}
template <class PT>
MapOutcome<E, typename PT::Consts> map_at(const PT& pt, VAddr va, Frame f, PageProperty prop) {
  const u64 size = f.size();
  return map_at(pt, {va, va + size}, va, std::move(f), prop);
}

template <class PT>
MapPaOutcome<E, typename PT::Consts> map_pa_at(const PT& pt, VRange range, VAddr va, PRange pa,
                                               PageProperty prop) {
  auto c = cursor_mut_at(pt, range, va);
  if (!c) return {};
  return value_or_fail(c->map_pa(pa, prop), "map_pa", va);
}
template <class PT>
MapPaOutcome<E, typename PT::Consts> map_pa_at(const PT& pt, VAddr va, PRange pa,
                                               PageProperty prop) {
  return map_pa_at(pt, {va, va + pa.size()}, va, pa, prop);
}

// take_next over [range] until NotMapped; every item removed, in order.
template <class PT>
std::vector<PageTableItem> unmap_all(const PT& pt, VRange range) {
  std::vector<PageTableItem> out;
  auto c = pt.cursor_mut(range);
  if (!c.ok()) {
    ADD_FAILURE() << "cursor_mut: " << describe(c.error());
    return out;
  }
  for (;;) {
    auto r = c->take_next(range.end - c->virt_addr());
    if (!r.ok()) {
      ADD_FAILURE() << "take_next: " << describe(r.error());
      return out;
    }
    if (!is_mapped(*r)) {
      if (c->virt_addr() != range.end) ADD_FAILURE() << "take_next did not end at the end";
      return out;
    }
    out.push_back(std::move(r).value());
  }
}

// protect_next over [range] until nothing is left; every range protected, in order.
template <class PT, class Op>
std::vector<VRange> protect_all(const PT& pt, VRange range, Op op) {
  std::vector<VRange> out;
  auto c = pt.cursor_mut(range);
  if (!c.ok()) {
    ADD_FAILURE() << "cursor_mut: " << describe(c.error());
    return out;
  }
  for (;;) {
    auto r = c->protect_next(range.end - c->virt_addr(), op);
    if (!r.ok()) {
      ADD_FAILURE() << "protect_next: " << describe(r.error());
      return out;
    }
    if (!r->has_value()) {
      if (c->virt_addr() != range.end) ADD_FAILURE() << "protect_next did not end at the end";
      return out;
    }
    out.push_back(**r);
  }
}

// Releases every thread-cached frame of the calling thread, so the allocator sees them free.
inline void drain(Machine& m) { m.alloc.drain_thread_cache(); }

}  // namespace pagesim::pt::testing
