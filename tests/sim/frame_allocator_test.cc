#include "sim/frame_allocator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "sim/frame.h"

namespace pagesim {
namespace {

struct Machine {
  explicit Machine(u64 size) : mem(std::move(PhysMem::create(size).value())), alloc(*mem) {}
  std::unique_ptr<PhysMem> mem;
  FrameAllocator alloc;
};

TEST(FrameAllocator, AllocatesDistinctFramesAndCountsThem) {
  Machine m(64 * MiB);
  EXPECT_EQ(m.alloc.nr_frames(), 64 * MiB / kFrameSize - 1);  // frame 0 reserved
  std::set<u64> seen;
  std::vector<Pfn> got;
  for (int i = 0; i < 1000; ++i) {
    auto r = m.alloc.alloc(FrameUse::kData);
    ASSERT_TRUE(r.ok());
    EXPECT_NE(r->value(), 0u) << "frame 0 is reserved";
    EXPECT_TRUE(seen.insert(r->value()).second) << "frame handed out twice";
    EXPECT_EQ(m.alloc.meta(*r).refcount.load(), 1u);
    EXPECT_EQ(m.alloc.meta(*r).use.load(), FrameUse::kData);
    got.push_back(*r);
  }
  EXPECT_EQ(m.alloc.in_use(), 1000u);
  for (Pfn p : got) {
    m.alloc.meta(p).refcount.store(0);
    m.alloc.free(p, 0);
  }
  EXPECT_EQ(m.alloc.in_use(), 0u);
}

TEST(FrameAllocator, HugeBlocksAreAlignedAndCoalesce) {
  Machine m(8 * GiB);
  auto a = m.alloc.alloc(FrameUse::kData, 18);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->addr().is_aligned(1 * GiB));
  auto b = m.alloc.alloc(FrameUse::kData, 9);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->addr().is_aligned(2 * MiB));
  EXPECT_EQ(m.alloc.in_use(), (u64{1} << 18) + 512);
  m.alloc.meta(*a).refcount.store(0);
  m.alloc.free(*a, 18);
  m.alloc.meta(*b).refcount.store(0);
  m.alloc.free(*b, 9);
  m.alloc.drain_thread_cache();
  EXPECT_EQ(m.alloc.in_use(), 0u);
  // After coalescing, every 1 GiB block of the 8 GiB machine except the first (whose frame 0
  // is reserved) can be allocated again.
  std::vector<Pfn> gigs;
  while (true) {
    auto r = m.alloc.alloc(FrameUse::kData, 18);
    if (!r.ok()) {
      EXPECT_EQ(r.error().kind, AllocError::Kind::kOutOfMemory);
      break;
    }
    gigs.push_back(*r);
  }
  EXPECT_EQ(gigs.size(), 7u);
}

TEST(FrameAllocator, ExhaustionIsAnErrorAndFreeingRecovers) {
  Machine m(1 * MiB);  // 255 usable frames, no thread caching at this size
  std::vector<Pfn> got;
  while (true) {
    auto r = m.alloc.alloc(FrameUse::kData);
    if (!r.ok()) {
      EXPECT_EQ(r.error().kind, AllocError::Kind::kOutOfMemory);
      EXPECT_NE(r.error().message().find("exhausted"), std::string::npos);
      break;
    }
    got.push_back(*r);
  }
  EXPECT_EQ(got.size(), 255u);
  EXPECT_EQ(m.alloc.in_use(), 255u);
  m.alloc.meta(got.back()).refcount.store(0);
  m.alloc.free(got.back(), 0);
  EXPECT_TRUE(m.alloc.alloc(FrameUse::kData).ok());
}

TEST(FrameAllocator, FailsTheNthAllocation) {
  Machine m(64 * MiB);
  m.alloc.fail_nth(3);
  EXPECT_TRUE(m.alloc.alloc(FrameUse::kData).ok());
  EXPECT_TRUE(m.alloc.alloc(FrameUse::kData).ok());
  auto r = m.alloc.alloc(FrameUse::kData);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, AllocError::Kind::kInjected);
  EXPECT_TRUE(m.alloc.alloc(FrameUse::kData).ok());
  EXPECT_EQ(m.alloc.injected_failures(), 1u);
  EXPECT_EQ(m.alloc.in_use(), 3u);
}

TEST(FrameAllocator, RandomFailuresAreReproducibleBySeed) {
  auto pattern = [](u64 seed) {
    Machine m(64 * MiB);
    m.alloc.fail_randomly(seed, 0.25);
    std::vector<bool> fails;
    for (int i = 0; i < 400; ++i) fails.push_back(!m.alloc.alloc(FrameUse::kData).ok());
    return fails;
  };
  auto a = pattern(7), b = pattern(7), c = pattern(8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  auto n = std::count(a.begin(), a.end(), true);
  EXPECT_GT(n, 60);
  EXPECT_LT(n, 140);
}

TEST(Frame, HandleReferenceCounting) {
  Machine m(64 * MiB);
  {
    auto f = Frame::alloc(m.alloc);
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(m.alloc.in_use(), 1u);
    Frame g = f->clone();
    EXPECT_EQ(g.refcount(), 2u);
    Pfn raw = std::move(g).into_raw();
    EXPECT_FALSE(g.valid());
    Frame back = Frame::from_raw(m.alloc, raw);
    EXPECT_EQ(back.refcount(), 2u);
  }
  EXPECT_EQ(m.alloc.in_use(), 0u);
  {
    auto huge = Frame::alloc(m.alloc, 9);
    ASSERT_TRUE(huge.ok());
    EXPECT_EQ(huge->size(), 2 * MiB);
    EXPECT_EQ(m.alloc.in_use(), 512u);
  }
  EXPECT_EQ(m.alloc.in_use(), 0u);
}

TEST(FrameAllocatorConcurrency, ThreadsAllocateAndFreeWithoutLossOrDuplication) {
  Machine m(4 * GiB);
  constexpr int kThreads = 4;
  constexpr int kRounds = 20000;
  std::vector<std::vector<u64>> kept(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      std::vector<Frame> live;
      for (int i = 0; i < kRounds; ++i) {
        if (live.empty() || rng() % 3 != 0) {
          auto f = Frame::alloc(m.alloc, rng() % 64 == 0 ? 9 : 0);
          ASSERT_TRUE(f.ok());
          live.push_back(std::move(*f));
        } else {
          std::swap(live[rng() % live.size()], live.back());
          live.pop_back();
        }
      }
      // The survivors are freed later by the main thread (cross-thread frees).
      for (auto& f : live) kept[t].push_back(std::move(f).into_raw().value());
    });
  }
  for (auto& t : ts) t.join();
  std::set<u64> all;
  u64 frames = 0;
  for (auto& v : kept) {
    for (u64 p : v) {
      EXPECT_TRUE(all.insert(p).second) << "frame " << p << " owned twice";
      frames += u64{1} << m.alloc.meta(Pfn(p)).order;
    }
  }
  EXPECT_EQ(m.alloc.in_use(), frames);
  for (auto& v : kept) {
    for (u64 p : v) Frame::from_raw(m.alloc, Pfn(p)).reset();
  }
  EXPECT_EQ(m.alloc.in_use(), 0u);
}

}  // namespace
}  // namespace pagesim
