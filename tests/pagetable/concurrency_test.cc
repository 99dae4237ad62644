// Concurrency (every suite name contains "Concurrency": the ThreadSanitizer build runs only
// those). Threads are released together from a barrier.
//   - The lock protocol: a cursor waits for the node another cursor holds, and only for it.
//   - Four threads doing random operations on disjoint ranges, each checked against its own model,
//     then four threads on overlapping ranges; afterwards every node's child count equals its
//     present entries, frames are accounted for, and dropping everything leaks nothing.
//   - A "hardware" thread setting accessed/dirty bits with compare-and-swap while the OS side
//     protects, splits and unmaps: no bit it set is lost.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <thread>

#include "model.h"

namespace pagesim::pt::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kThreads = 4;

u64 scaled(u64 release_count, u64 sanitized_count) {
  return sanitized() ? sanitized_count : release_count;
}

// Waits up to `limit` for `flag`; true if it was set.
bool wait_for(const std::atomic<bool>& flag, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!flag.load()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

class CursorConcurrency : public TwoTables4 {};

// --- The lock protocol between threads ----------------------------------------------------------

constexpr VAddr kX{0x0000'0040'0020'0000ull};  // 256 GiB + 2 MiB

// A cursor whose walk down needs the node another cursor holds waits until that cursor dies.
TEST_F(CursorConcurrency, ACursorWaitsForTheNodeAnotherCursorHolds) {
  Frame f = m_.frame();
  (void)map_at(*upt_, kX, f.clone(), kUserRW);
  std::atomic<bool> created{false}, mapped{false};
  std::optional<CursorMut<UserMode, E, C4>> holder;
  holder.emplace(PT_UNWRAP(upt_->cursor_mut({kX, kX + 2 * k4K})));
  ASSERT_EQ(holder->guard_level(), 1);
  std::thread t([&] {
    auto c = upt_->cursor_mut({kX + k4K, kX + 2 * k4K});  // needs the same leaf node
    created = true;
    ASSERT_TRUE(c.ok());
    auto r = c->map(m_.frame(), kUserRO);
    EXPECT_TRUE(r.ok());
    mapped = true;
  });
  EXPECT_FALSE(wait_for(created, 200ms)) << "the second cursor did not wait for the lock";
  // While waiting, the holder can still work in its node.
  auto item = PT_UNWRAP(holder->query());
  EXPECT_EQ(std::get<Mapped>(item).page.pfn(), f.pfn());
  EXPECT_FALSE(created.load());
  holder.reset();
  EXPECT_TRUE(wait_for(mapped, 10'000ms)) << "the second cursor never got the lock";
  t.join();
  (void)unmap_all(*upt_, {kX, kX + 2 * k4K});
}

// A cursor holding the level-2 node (its range spans two leaf nodes) blocks a cursor that needs
// to pass through that node, even for a range it does not overlap.
TEST_F(CursorConcurrency, ACursorOnAnUpperNodeBlocksEveryoneBelowIt) {
  (void)map_at(*upt_, kX, m_.frame(), kUserRW);
  std::atomic<bool> created{false};
  std::optional<CursorMut<UserMode, E, C4>> holder;
  holder.emplace(PT_UNWRAP(upt_->cursor_mut({kX + 4 * k2M, kX + 6 * k2M})));
  ASSERT_EQ(holder->guard_level(), 2);
  std::thread t([&] {
    auto c = upt_->cursor({kX, kX + k4K});
    created = c.ok();
  });
  EXPECT_FALSE(wait_for(created, 200ms));
  holder.reset();
  EXPECT_TRUE(wait_for(created, 10'000ms));
  t.join();
  (void)unmap_all(*upt_, {kX, kX + k4K});
}

// Cursors on different leaf nodes do not wait for each other: only the lowest covering node
// stays locked.
TEST_F(CursorConcurrency, CursorsOnDifferentLeafNodesProceedTogether) {
  (void)map_at(*upt_, kX, m_.frame(), kUserRW);
  (void)map_at(*upt_, kX + k2M, m_.frame(), kUserRW);
  auto holder = PT_UNWRAP(upt_->cursor_mut({kX, kX + k4K}));
  ASSERT_EQ(holder.guard_level(), 1);
  std::atomic<bool> done{false};
  std::thread t([&] {
    auto c = upt_->cursor_mut({kX + k2M, kX + k2M + k4K});
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->guard_level(), 1);
    auto item = c->take_next(k4K);
    EXPECT_TRUE(item.ok() && std::holds_alternative<Mapped>(*item));
    done = true;
  });
  EXPECT_TRUE(wait_for(done, 10'000ms)) << "blocked by a cursor on another leaf node";
  t.join();
  auto items = PT_UNWRAP(holder.take_next(k4K));
  EXPECT_TRUE(std::holds_alternative<Mapped>(items));
}

// --- Random operations ------------------------------------------------------------------------

// Each thread's windows: user [kUserBase + i·8 MiB, +8 MiB) and linear [kLinBase + i·8 MiB, +8
// MiB). All of them lie under one level-2 node per table, so cursors spanning several 2 MiB slots
// contend on that node while cursors inside one slot run in parallel.
constexpr VAddr kUserBase{0x0000'0010'0000'0000ull};
constexpr VAddr kLinBase = kLinearBase + 32 * k1G;
constexpr u64 kWindow = 8 * MiB;

// One random operation of a thread on its windows, checked against its models.
void random_op(Generator& g, Model<UPT4>& umodel, Model<KPT4>& kmodel, VRange uw, VRange lw,
               Machine& m) {
  const u64 kind = g.below(100);
  if (kind < 35) {
    const bool huge = g.chance(0.2);
    const u64 size = huge ? k2M : k4K;
    const u64 n = 1 + g.below(huge ? 2 : 32);
    const VAddr va = g.start(uw, n * size, size, k4K);
    std::vector<Frame> pages;
    for (u64 i = 0; i < n; ++i) pages.push_back(Frame::alloc(m.alloc, huge ? 9 : 0).value());
    umodel.do_map(g.cursor_range(uw, va, va + n * size, /*need_slack=*/true), va, std::move(pages),
                  g.prop(/*user=*/true), Tracked::kYes);
  } else if (kind < 50) {
    const u64 len = std::min<u64>(g.length(4 * MiB), kWindow - 2 * k4K);
    const VAddr va = g.start(lw, len, k4K, k4K);
    u64 pa = g.below(u64{1} << 20) * k4K;
    if (g.chance(0.6)) pa = align_down(pa, k2M) + va.offset_in(k2M);
    kmodel.do_map_pa(g.cursor_range(lw, va, va + len, /*need_slack=*/true), va,
                     {PAddr(pa), PAddr(pa + len)}, g.prop(/*user=*/false), Tracked::kNo);
  } else if (kind < 75) {
    const bool user = g.chance(0.5);
    const VRange w = user ? uw : lw;
    const u64 len = std::min<u64>(g.length(kWindow), kWindow);
    const VAddr va = g.start(w, len, k4K);
    const VRange cr = g.cursor_range(w, va, va + len, /*need_slack=*/false);
    if (user) {
      umodel.do_unmap(cr, va, len);
    } else {
      kmodel.do_unmap(cr, va, len);
    }
  } else if (kind < 95) {
    const bool user = g.chance(0.5);
    const VRange w = user ? uw : lw;
    const u64 len = std::min<u64>(g.length(kWindow), kWindow);
    const VAddr va = g.start(w, len, k4K);
    const VRange cr = g.cursor_range(w, va, va + len, /*need_slack=*/false);
    const ProtectOp op{static_cast<u8>(g.below(6)), CachePolicy::Writethrough};
    if (user) {
      umodel.do_protect(cr, va, len, op);
    } else {
      kmodel.do_protect(cr, va, len, op);
    }
  } else {
    const bool user = g.chance(0.5);
    const VAddr va = g.start(user ? uw : lw, k4K, k4K);
    if (user) {
      umodel.do_query(va);
    } else {
      kmodel.do_query(va);
    }
  }
}

TEST_F(CursorConcurrency, RandomOperationsOnDisjointRanges) {
  const u64 ops = scaled(6'000, 800);
  std::vector<FrameBook> books(kThreads);
  std::vector<std::unique_ptr<Model<UPT4>>> umodels;
  std::vector<std::unique_ptr<Model<KPT4>>> kmodels;
  for (int i = 0; i < kThreads; ++i) {
    umodels.push_back(std::make_unique<Model<UPT4>>(m_, *upt_, books[i], CheckFrees::kNo));
    kmodels.push_back(std::make_unique<Model<KPT4>>(m_, *kpt_, books[i], CheckFrees::kNo));
  }
  std::barrier start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      const VRange uw{kUserBase + i * kWindow, kUserBase + (i + 1) * kWindow};
      const VRange lw{kLinBase + i * kWindow, kLinBase + (i + 1) * kWindow};
      Generator g(1000 + i);
      start.arrive_and_wait();
      for (u64 op = 0; op < ops && !::testing::Test::HasFailure(); ++op) {
        random_op(g, *umodels[i], *kmodels[i], uw, lw, m_);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_FALSE(HasFailure());

  // Each window holds exactly what its thread's model says; the machine as a whole adds up.
  Census c;
  sweep(m_, *kpt_, c);
  sweep(m_, *upt_, c);
  ASSERT_TRUE(NoProblems(c));
  u64 frames = 0, mapped_leaves = 0;
  std::unordered_map<u64, u64> refs;
  for (int i = 0; i < kThreads; ++i) {
    const VRange uw{kUserBase + i * kWindow, kUserBase + (i + 1) * kWindow};
    const VRange lw{kLinBase + i * kWindow, kLinBase + (i + 1) * kWindow};
    EXPECT_TRUE(MappingsAre(m_, *upt_, uw, umodels[i]->expected(uw))) << "thread " << i;
    EXPECT_TRUE(MappingsAre(m_, *kpt_, lw, kmodels[i]->expected(lw))) << "thread " << i;
    frames += books[i].nr_frames();
    mapped_leaves += umodels[i]->leaves().size() + kmodels[i]->leaves().size();
    for (const auto& [pfn, r] : books[i].frames) refs[pfn] = r.mappings;
  }
  EXPECT_EQ(c.tracked_leaves + c.untracked_leaves, mapped_leaves);
  EXPECT_EQ(c.tracked_mappings, refs);
  for (const auto& [pfn, n] : refs) EXPECT_EQ(m_.alloc.meta(Pfn(pfn)).refcount.load(), n);
  EXPECT_EQ(m_.alloc.in_use(), c.nodes + frames);
  EXPECT_GT(mapped_leaves, 0u) << "the test left something to check";

  // Everything unmapped and dropped: nothing leaks (TearDown).
  (void)unmap_all(*upt_, {kUserBase, kUserBase + kThreads * kWindow});
  (void)unmap_all(*kpt_, {kLinBase, kLinBase + kThreads * kWindow});
}

// Four threads on the same ranges: no model can say who wins, so each thread checks what it can
// (results are well-formed; only the errors overlapping pages allow), and afterwards the table
// must be consistent and every frame accounted for.
TEST_F(CursorConcurrency, RandomOperationsOnOverlappingRanges) {
  const u64 ops = scaled(20'000, 2'000);
  const VRange uw{kUserBase, kUserBase + 16 * MiB};
  const VRange lw{kLinBase, kLinBase + 16 * MiB};
  std::barrier start(kThreads);
  std::atomic<u64> maps{0}, takes{0}, protects{0}, refused{0};
  auto allowed = [](const PageTableError& e) {
    return e.code == PtErrc::kSmallPageInHugePage || e.code == PtErrc::kPartialHugeUnmap ||
           e.code == PtErrc::kPartialHugeProtect || e.code == PtErrc::kGuardNodeInTheWay;
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      Generator g(77 + i);
      start.arrive_and_wait();
      for (u64 op = 0; op < ops; ++op) {
        const u64 kind = g.below(100);
        const bool user = g.chance(0.6);
        const VRange w = user ? uw : lw;
        const u64 len = std::min<u64>(g.length(4 * MiB), 4 * MiB);
        const VAddr va = g.start(w, len, k4K);
        const VRange cr = g.cursor_range(w, va, va + len, /*need_slack=*/false);
        if (kind < 40 && user) {
          const bool huge = g.chance(0.2) && va.is_aligned(k2M) && len >= k2M;
          auto c = upt_->cursor_mut(cr);
          ASSERT_TRUE(c.ok());
          ASSERT_TRUE(c->jump(va).ok());
          for (u64 done = 0; done + (huge ? k2M : k4K) <= len; done += huge ? k2M : k4K) {
            auto r = c->map(Frame::alloc(m_.alloc, huge ? 9 : 0).value(), g.valid_prop(true));
            if (!r.ok()) {
              ASSERT_TRUE(allowed(r.error())) << describe(r.error());
              ++refused;
              break;
            }
            ++maps;
            // A replaced page is well-formed and still ours until dropped.
            if (r->replaced) {
              const auto& old = std::get<Mapped>(*r->replaced);
              EXPECT_EQ(m_.alloc.meta(old.page.pfn()).use.load(), FrameUse::kData);
            }
            if (done > 64 * k4K) break;
          }
        } else if (kind < 40) {
          u64 pa = g.below(u64{1} << 20) * k4K;
          if (g.chance(0.6)) pa = align_down(pa, k2M) + va.offset_in(k2M);
          auto c = kpt_->cursor_mut(cr);
          ASSERT_TRUE(c.ok());
          ASSERT_TRUE(c->jump(va).ok());
          auto r = c->map_pa({PAddr(pa), PAddr(pa + std::min<u64>(len, k2M + 8 * k4K))},
                             g.valid_prop(false));
          ASSERT_TRUE(r.ok()) << describe(r.error());
          ++maps;
        } else if (kind < 70) {
          auto take = [&](auto& cur) {
            for (;;) {
              auto r = cur.take_next(va + len - cur.virt_addr());
              if (!r.ok()) {
                ASSERT_TRUE(allowed(r.error())) << describe(r.error());
                ++refused;
                return;
              }
              if (!is_mapped(*r)) return;
              ++takes;
              if (auto* p = std::get_if<Mapped>(&*r)) {
                EXPECT_TRUE(user);
                EXPECT_EQ(m_.alloc.meta(p->page.pfn()).use.load(), FrameUse::kData);
                EXPECT_GE(p->page.refcount(), 1u);
              } else {
                const auto& u = std::get<MappedUntracked>(*r);
                EXPECT_FALSE(user);
                EXPECT_TRUE(u.len == k4K || u.len == k2M);
                EXPECT_TRUE(u.pa.is_aligned(u.len));
              }
            }
          };
          if (user) {
            auto c = PT_UNWRAP(upt_->cursor_mut(cr));
            ASSERT_TRUE(c.jump(va).ok());
            take(c);
          } else {
            auto c = PT_UNWRAP(kpt_->cursor_mut(cr));
            ASSERT_TRUE(c.jump(va).ok());
            take(c);
          }
        } else if (kind < 90) {
          const ProtectOp pop{static_cast<u8>(g.below(6)), CachePolicy::Uncacheable};
          auto prot = [&](auto& cur) {
            for (;;) {
              auto r = cur.protect_next(va + len - cur.virt_addr(), pop);
              if (!r.ok()) {
                ASSERT_TRUE(allowed(r.error())) << describe(r.error());
                ++refused;
                return;
              }
              if (!r->has_value()) return;
              ++protects;
            }
          };
          if (user) {
            auto c = PT_UNWRAP(upt_->cursor_mut(cr));
            ASSERT_TRUE(c.jump(va).ok());
            prot(c);
          } else {
            auto c = PT_UNWRAP(kpt_->cursor_mut(cr));
            ASSERT_TRUE(c.jump(va).ok());
            prot(c);
          }
        } else {
          // Read-only iteration, and lockless walks.
          auto check = [&](auto& pt) {
            auto c = PT_UNWRAP(pt.cursor(cr));
            while (auto item = c.next()) {
              if (auto* p = std::get_if<Mapped>(&*item)) {
                EXPECT_EQ(m_.alloc.meta(p->page.pfn()).use.load(), FrameUse::kData);
              }
            }
            (void)pt.query(va);
          };
          if (user) {
            check(*upt_);
          } else {
            check(*kpt_);
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_FALSE(HasFailure());
  EXPECT_GT(maps.load(), 100u);
  EXPECT_GT(takes.load(), 100u);
  EXPECT_GT(protects.load(), 100u);
  // Every node's child count equals its present entries; every frame in use is a node or a
  // mapped page, with as many references as leaves mapping it.
  EXPECT_TRUE(FramesAccountedFor(m_, {}, *kpt_, *upt_));
  (void)unmap_all(*upt_, uw);
  (void)unmap_all(*kpt_, lw);
  Census c;
  sweep(m_, *kpt_, c);
  sweep(m_, *upt_, c);
  EXPECT_EQ(c.tracked_leaves + c.untracked_leaves, 0u);
  EXPECT_EQ(m_.alloc.in_use(), c.nodes) << "only nodes remain";
}

// --- The hardware's accessed/dirty bits ---------------------------------------------------------

// Busy-waits about `ns` nanoseconds (sleeping would hand the core away).
void spin_for(u64 ns) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(ns);
  while (std::chrono::steady_clock::now() < until) {
  }
}

// A "hardware" thread sets accessed and dirty bits with compare-and-swap, as a page walk does,
// while the OS thread harvests them: each protect records the A/D bits its operation sees and
// clears them (and flips W so the entry changes every time). The operation takes a few
// microseconds, so the hardware often sets a bit between the cursor's read of the entry and its
// write: those bits must survive. Each bit the hardware sets is then either harvested once or
// reported by the final unmap: for every page and bit, set-events = harvests + final. A protect
// that wrote back a stale value would lose events.
TEST_F(CursorConcurrency, HardwareAccessedDirtyBitsAreNeverLost) {
  const u64 nr_pages = 8;
  const u64 rounds = scaled(2'000, 300);
  const VAddr base = kUserBase;
  {
    auto c = PT_UNWRAP(upt_->cursor_mut({base, base + nr_pages * k4K}));
    for (u64 i = 0; i < nr_pages; ++i) (void)PT_UNWRAP(c.map(m_.frame(), kUserRW));
  }
  std::vector<PAddr> entries;
  for (u64 i = 0; i < nr_pages; ++i) entries.push_back(entry_addr(m_, *upt_, base + i * k4K, 1));

  // Per page: [0] accessed, [1] dirty.
  std::vector<std::array<u64, 2>> hw(nr_pages), harvested(nr_pages);
  std::atomic<bool> os_done{false};
  std::atomic<int> in_op{-1};  // the page whose protect operation is running, or -1
  std::atomic<u64> events{0};  // bits the hardware set
  std::atomic<u64> raced{0};   // bits the hardware set on a page while its operation ran
  std::barrier start(2);
  std::thread hardware([&] {
    std::mt19937_64 rng(5);
    start.arrive_and_wait();
    while (!os_done.load(std::memory_order_acquire)) {
      const u64 i = rng() % nr_pages;
      const u64 bit = rng() % 2 ? bits::kD : bits::kA;
      u64 v = m_.load(entries[i]);
      if (!(v & bits::kP) || (v & bit)) continue;
      if (m_.mem->cas_entry(entries[i], v, v | bit).value()) {
        ++hw[i][bit == bits::kD];
        events.fetch_add(1, std::memory_order_relaxed);
        if (in_op.load() == static_cast<int>(i)) raced.fetch_add(1, std::memory_order_relaxed);
      }
    }
  });
  start.arrive_and_wait();
  const VAddr end = base + nr_pages * k4K;
  // At least `rounds` rounds, and more until the hardware thread (which a loaded machine or a
  // sanitizer may starve) has set enough bits and raced with operations a few times.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  auto enough = [&] {
    return (events.load() > nr_pages * 10 && raced.load() >= 5) ||
           std::chrono::steady_clock::now() > deadline;
  };
  for (u64 r = 0; r < rounds || !enough(); ++r) {
    auto c = PT_UNWRAP(upt_->cursor_mut({base, end}));
    for (;;) {
      const u64 i = (c.virt_addr() - base) / k4K;  // every page is mapped: the next is this one
      auto p = PT_UNWRAP(c.protect_next(end - c.virt_addr(), [&](PageProperty& prop) {
        in_op.store(static_cast<int>(i));
        harvested[i][0] += prop.flags.contains(PageFlag::ACCESSED);
        harvested[i][1] += prop.flags.contains(PageFlag::DIRTY);
        prop.flags -= PageFlag::ACCESSED | PageFlag::DIRTY;
        if (prop.flags.contains(PageFlag::W)) {
          prop.flags -= PageFlag::W;
        } else {
          prop.flags |= PageFlag::W;
        }
        spin_for(2'000);
        in_op.store(-1);
      }));
      if (!p) break;
    }
  }
  auto items = unmap_all(*upt_, {base, end});
  os_done.store(true, std::memory_order_release);
  hardware.join();
  ASSERT_EQ(items.size(), nr_pages);
  for (u64 i = 0; i < nr_pages; ++i) {
    const auto& prop = std::get<Mapped>(items[i]).prop;
    const u64 final_bits[2] = {prop.flags.contains(PageFlag::ACCESSED),
                               prop.flags.contains(PageFlag::DIRTY)};
    for (int b = 0; b < 2; ++b) {
      EXPECT_EQ(hw[i][b], harvested[i][b] + final_bits[b])
          << "page " << i << (b ? " dirty" : " accessed") << ": set " << hw[i][b]
          << " times, harvested " << harvested[i][b] << ", left " << final_bits[b];
    }
  }
  EXPECT_GT(events.load(), nr_pages * 10);
  EXPECT_GE(raced.load(), 5u) << "the hardware seldom set a bit while an operation ran";
}

// The same while untracked 2 MiB pages are split by partial protects: the hardware targets the
// huge page about to be split and sets its bits at random moments around the split, so some land
// while the split builds the 512 smaller entries. Every bit it set on the huge page must reach
// all 512 of them.
TEST_F(CursorConcurrency, HardwareBitsSurviveSplittingHugePages) {
  const u64 nr_huge = scaled(256, 64);
  const VAddr base = kLinBase;
  (void)map_pa_at(*kpt_, base, {PAddr(0), PAddr(nr_huge * k2M)}, kKernRW);
  std::vector<PAddr> entries;
  for (u64 i = 0; i < nr_huge; ++i) entries.push_back(entry_addr(m_, *kpt_, base + i * k2M, 2));
  std::vector<u64> hw(nr_huge, 0);  // bits the hardware set on each huge page while it was one
  std::atomic<bool> os_done{false};
  std::atomic<i64> target{-1};  // the huge page about to be split
  std::atomic<i64> seen{-1};    // the target the hardware thread has picked up
  std::barrier start(2);
  std::thread hardware([&] {
    std::mt19937_64 rng(9);
    start.arrive_and_wait();
    i64 last = -1;
    while (!os_done.load(std::memory_order_acquire)) {
      const i64 i = target.load();
      if (i < 0 || i == last) continue;
      last = i;
      seen.store(i);
      for (u64 bit : {bits::kA, bits::kD}) {
        spin_for(rng() % 3'000);
        u64 v = m_.load(entries[i]);
        if (!(v & bits::kPS)) break;  // split already
        if (m_.mem->cas_entry(entries[i], v, v | bit).value()) hw[i] |= bit;
      }
    }
  });
  std::mt19937_64 rng(11);
  start.arrive_and_wait();
  for (u64 i = 0; i < nr_huge; ++i) {
    target.store(static_cast<i64>(i));
    // Split only once the hardware thread is running on this target (it may be descheduled).
    const auto deadline = std::chrono::steady_clock::now() + 1s;
    while (seen.load() != static_cast<i64>(i) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    spin_for(rng() % 3'000);
    const VAddr va = base + i * k2M + 7 * k4K;
    (void)protect_all(*kpt_, {va, va + k4K}, [](PageProperty& p) { p.flags -= PageFlag::W; });
    spin_for(3'000);
  }
  os_done.store(true, std::memory_order_release);
  hardware.join();
  u64 with_bits = 0;
  for (u64 i = 0; i < nr_huge; ++i) {
    with_bits += hw[i] != 0;
    for (u64 j = 0; j < 512; ++j) {
      const u64 e = entry_at(m_, *kpt_, base + i * k2M + j * k4K, 1);
      ASSERT_EQ(e & hw[i], hw[i]) << "huge page " << i << ", piece " << j;
      EXPECT_EQ(e & bits::kAddr, i * k2M + j * k4K);
      EXPECT_EQ((e & bits::kRW) == 0, j == 7);
    }
  }
  EXPECT_GT(with_bits, nr_huge / 4);
  (void)unmap_all(*kpt_, {base, base + nr_huge * k2M});
}

}  // namespace
}  // namespace pagesim::pt::testing
