// The seeded randomised model test: at least 100,000 random map / map_pa / unmap / protect
// operations (and some queries) on ranges from 4 KiB to 1 GiB, each checked step by step against
// the independent model of model.h, and the whole machine compared with the model after every
// batch of 1,000 operations and at the end: full iteration of both tables (cursor and raw walk),
// properties, frame reference counts, the allocator's in-use count.
//
// The operations run on a kernel page table and a user table sharing its kernel half:
//   user window      [504 GiB, 520 GiB)              tracked pages of 4 KiB, 2 MiB, 1 GiB
//   kernel linear    [end of linear map − 8 GiB, end)  untracked map_pa
//   kernel tracked   [end of linear map, + 8 GiB)       tracked pages of 4 KiB, 2 MiB, 1 GiB
// Both windows cross a root-slot boundary, and unmap / protect in the kernel may cross from the
// linear mapping into the tracked range. A few operations are mistakes on purpose (a tracked page
// in the linear map, map_pa in a tracked range, unencodable cache policies, parts of tracked huge
// pages): the model predicts those errors too.
//
// PAGESIM_MODEL_SEED and PAGESIM_MODEL_OPS override the seed and the count; the sanitizer builds
// (PAGESIM_SANITIZED=1) run 10,000 operations.
#include "model.h"

#include <gtest/gtest.h>

#include <chrono>

namespace pagesim::pt::testing {
namespace {

constexpr VRange kUserWindow{VAddr(504 * k1G), VAddr(520 * k1G)};
constexpr VRange kLinearWindow{kLinearEnd - 8 * k1G, kLinearEnd};
constexpr VRange kTrackedWindow{kLinearEnd, kLinearEnd + 8 * k1G};
constexpr VRange kKernelWindow{kLinearWindow.start, kTrackedWindow.end};

u64 env_or(const char* name, u64 fallback) {
  const char* s = std::getenv(name);
  return s != nullptr ? std::strtoull(s, nullptr, 0) : fallback;
}

class ModelTest : public ::testing::Test {
 protected:
  Machine m_{32 * GiB};
};

TEST_F(ModelTest, RandomOperationsMatchTheModel) {
  const u64 seed = env_or("PAGESIM_MODEL_SEED", 20240827);
  const u64 nr_ops = env_or("PAGESIM_MODEL_OPS", sanitized() ? 10'000 : 100'000);
  const u64 batch = 1'000;
  SCOPED_TRACE(fmt::format("seed {} (PAGESIM_MODEL_SEED)", seed));
  const auto t0 = std::chrono::steady_clock::now();

  auto kpt = PT_UNWRAP(KPT4::new_kernel(m_.alloc));
  auto upt = PT_UNWRAP(kpt.create_user_page_table());
  FrameBook book;
  Model<KPT4> kmodel(m_, kpt, book, CheckFrees::kYes);
  Model<UPT4> umodel(m_, upt, book, CheckFrees::kYes);
  Generator g(seed);

  struct Counts {
    u64 map = 0, map_pa = 0, unmap = 0, protect = 0, query = 0, mistakes = 0;
  } counts;

  // Fresh frames, or clones of frames already mapped (shared pages), of one order.
  auto pages_for = [&](unsigned order, u64 n) {
    std::vector<Frame> pages;
    for (u64 i = 0; i < n; ++i) {
      if (g.chance(0.15) && !book.frames.empty()) {
        auto it = book.frames.lower_bound(g.below(m_.alloc.nr_frames()));
        if (it == book.frames.end()) it = book.frames.begin();
        if (it->second.order == order) {
          Frame::inc_ref(m_.alloc, Pfn(it->first));
          pages.push_back(Frame::from_raw(m_.alloc, Pfn(it->first)));
          continue;
        }
      }
      auto f = Frame::alloc(m_.alloc, order);
      if (!f.ok()) break;  // the machine is fragmented: fewer pages this time
      pages.push_back(std::move(f).value());
    }
    return pages;
  };
  auto gig_pages = [&] {
    u64 n = 0;
    for (const auto& [pfn, r] : book.frames) n += r.order == 18;
    return n;
  };

  for (u64 op = 0; op < nr_ops; ++op) {
    SCOPED_TRACE(fmt::format("operation {}", op));
    const u64 kind = g.below(100);
    const bool user = g.chance(0.5);
    if (kind < 33) {
      // map of tracked pages; now and then into the linear map by mistake
      ++counts.map;
      const bool mistake = !user && g.chance(0.04);
      counts.mistakes += mistake;
      const VRange w = mistake ? kLinearWindow : user ? kUserWindow : kTrackedWindow;
      const u64 r = g.below(100);
      const unsigned order = r < 70 ? 0 : (r < 96 || gig_pages() >= 6) ? 9 : 18;
      const u64 size = kFrameSize << order;
      const u64 n = order == 0   ? 1 + (g.chance(0.1) ? g.below(768) : g.below(64))
                    : order == 9 ? 1 + g.below(4)
                                 : 1;
      const VAddr va = g.start(w, n * size, size, k4K);
      auto pages = pages_for(order, n);
      if (pages.empty()) continue;
      const VAddr end = va + pages.size() * size;
      const VRange cr = g.cursor_range(w, va, end, /*need_slack=*/true);
      const PageProperty prop = g.prop(user);
      const Tracked region = mistake ? Tracked::kNo : Tracked::kYes;
      if (user) {
        umodel.do_map(cr, va, std::move(pages), prop, region);
      } else {
        kmodel.do_map(cr, va, std::move(pages), prop, region);
      }
    } else if (kind < 53) {
      // map_pa in the linear map; now and then in a tracked range by mistake
      ++counts.map_pa;
      const bool mistake = g.chance(0.02);
      counts.mistakes += mistake;
      const VRange w = mistake ? kTrackedWindow : kLinearWindow;
      const bool congruent = g.chance(0.6);
      // Incongruent addresses allow only 4 KiB pages: keep those ranges short (the model keeps
      // one record per leaf).
      const u64 len = g.length(congruent ? k1G : 2 * MiB);
      const VAddr va = g.start(w, len, k4K, k4K);
      u64 pa = g.below(u64{1} << 28) * k4K;  // below 1 TiB
      if (congruent) pa = align_down(pa, k2M) + va.offset_in(k2M);
      const VRange cr = g.cursor_range(w, va, va + len, /*need_slack=*/true);
      kmodel.do_map_pa(cr, va, {PAddr(pa), PAddr(pa + len)}, g.prop(false),
                       mistake ? Tracked::kYes : Tracked::kNo);
    } else if (kind < 75) {
      ++counts.unmap;
      const VRange w = user ? kUserWindow : kKernelWindow;
      const u64 len = g.length();
      const VAddr va = g.start(w, len, k4K);
      const VRange cr = g.cursor_range(w, va, va + len, /*need_slack=*/false);
      if (user) {
        umodel.do_unmap(cr, va, len);
      } else {
        kmodel.do_unmap(cr, va, len);
      }
    } else if (kind < 96) {
      ++counts.protect;
      const VRange w = user ? kUserWindow : kKernelWindow;
      const u64 len = g.length();
      const VAddr va = g.start(w, len, k4K);
      const VRange cr = g.cursor_range(w, va, va + len, /*need_slack=*/false);
      const CachePolicy caches[] = {CachePolicy::Writeback, CachePolicy::Writethrough,
                                    CachePolicy::Uncacheable};
      const ProtectOp pop{static_cast<u8>(g.below(6)), caches[g.below(3)]};
      if (user) {
        umodel.do_protect(cr, va, len, pop);
      } else {
        kmodel.do_protect(cr, va, len, pop);
      }
    } else {
      ++counts.query;
      // Mostly at mapped addresses.
      const auto& leaves = user ? umodel.leaves() : kmodel.leaves();
      VAddr va = g.start(user ? kUserWindow : kKernelWindow, k4K, k4K);
      if (!leaves.empty() && g.chance(0.8)) {
        auto it = leaves.lower_bound(va.value());
        if (it == leaves.end()) it = leaves.begin();
        va = VAddr(it->first + align_down(g.below(it->second.size), k4K));
      }
      if (user) {
        umodel.do_query(va);
      } else {
        kmodel.do_query(va);
      }
    }
    if (::testing::Test::HasFatalFailure() || ::testing::Test::HasNonfatalFailure()) {
      FAIL() << "stopping at the first mismatch (operation " << op << ", seed " << seed << ")";
    }
    if ((op + 1) % batch == 0 || op + 1 == nr_ops) {
      ASSERT_TRUE(MatchesModels(m_, kpt, kmodel, kKernelAll, upt, umodel, kUserAll, book))
          << "after operation " << op;
    }
  }

  // The model test must have exercised what it claims to.
  EXPECT_GE(counts.map + counts.map_pa + counts.unmap + counts.protect, nr_ops * 9 / 10);
  EXPECT_GT(counts.mistakes, nr_ops / 1000);
  // Unmap everything; then every frame is back and only nodes remain.
  umodel.do_unmap(kUserWindow, kUserWindow.start, kUserWindow.size());
  kmodel.do_unmap(kKernelWindow, kKernelWindow.start, kKernelWindow.size());
  EXPECT_TRUE(book.frames.empty());
  EXPECT_TRUE(MatchesModels(m_, kpt, kmodel, kKernelAll, upt, umodel, kUserAll, book));
  Census c;
  sweep(m_, kpt, c);
  sweep(m_, upt, c);
  EXPECT_EQ(c.tracked_leaves + c.untracked_leaves, 0u);
  EXPECT_EQ(m_.alloc.in_use(), c.nodes);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "[ model    ] %llu operations (map %llu, map_pa %llu, unmap %llu, protect %llu, "
      "query %llu; %llu deliberate mistakes) in %.1f s; %llu nodes at the end\n",
      static_cast<unsigned long long>(nr_ops), static_cast<unsigned long long>(counts.map),
      static_cast<unsigned long long>(counts.map_pa), static_cast<unsigned long long>(counts.unmap),
      static_cast<unsigned long long>(counts.protect),
      static_cast<unsigned long long>(counts.query),
      static_cast<unsigned long long>(counts.mistakes), secs,
      static_cast<unsigned long long>(c.nodes));
}

}  // namespace
}  // namespace pagesim::pt::testing
