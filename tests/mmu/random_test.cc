// Seeded randomized tests: random raw entries (valid or not, inside RAM or not) and random
// accesses under random control states and profile knobs, millions of them overall. Each
// outcome and every entry on the walk's path afterwards is compared with an independent
// transcription of the spec (reference_walker.h); an entry address outside the arena must give
// WalkBusError (no read outside the arena, spec section 0) and nothing may crash. Run under
// ASan+UBSan by `make test` with PAGESIM_SANITIZED=1, which makes the iteration counts smaller.
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>

#include "mmu/mmu.h"
#include "page_tables.h"
#include "reference_walker.h"

namespace pagesim::mmu {
namespace {

using testing::reference_walk;

bool sanitized() {
  const char* v = std::getenv("PAGESIM_SANITIZED");
  return v && std::string_view(v) == "1";
}

constexpr u64 kRam = 8 * MiB;
constexpr u64 kPool = 1 * MiB;  // table frames: kPool .. kPool + kPoolFrames * 4 KiB
constexpr unsigned kPoolFrames = 32;
constexpr unsigned kHot = 4;  // hot indexes per level: walks go deep

class RandomMachine {
 public:
  explicit RandomMachine(u64 seed) : rng_(seed) {}

  std::mt19937_64& rng() { return rng_; }
  bool chance(unsigned percent) { return rng_() % 100 < percent; }
  u64 bits(unsigned n) { return n >= 64 ? rng_() : rng_() & ((u64{1} << n) - 1); }

  // New hot indexes and fresh random tables in the pool; returns the number of entries written.
  u64 regenerate(PhysMem& mem, unsigned maxphyaddr) {
    for (auto& level : hot_) {
      for (auto& i : level) i = static_cast<unsigned>(rng_() % 512);
    }
    for (unsigned f = 0; f < kPoolFrames; ++f) mem.zero_frame(Pfn::containing(PAddr(kPool)) + f);
    u64 written = 0;
    for (unsigned f = 0; f < kPoolFrames; ++f) {
      const u64 table = kPool + f * kFrameSize;
      for (unsigned k = 0; k < 24; ++k) {
        const unsigned slot =
            k < 20 ? hot_[k % 5][(k / 5) % kHot] : static_cast<unsigned>(rng_() % 512);
        EXPECT_TRUE(mem.store_entry(PAddr(table + 8 * slot), random_entry(maxphyaddr)).ok());
        ++written;
      }
    }
    return written;
  }

  u64 random_entry(unsigned maxphyaddr) {
    u64 addr;
    const unsigned r = static_cast<unsigned>(rng_() % 100);
    if (r < 80) {
      addr = kPool + (rng_() % kPoolFrames) * kFrameSize;  // another table of the pool
    } else if (r < 92) {
      addr = (rng_() % (kRam / kFrameSize)) * kFrameSize;  // anywhere in RAM
    } else if (r < 97) {
      addr = bits(maxphyaddr) & ~u64{0xfff};  // anywhere below MAXPHYADDR, mostly outside RAM
    } else {
      addr = bits(52) & ~u64{0xfff};  // maybe reserved bits 51:M
    }
    if (chance(15)) addr |= bits(21) & ~u64{0xfff};  // junk below a large page's frame
    u64 e = addr;
    if (chance(96)) e |= entry::kP;
    if (chance(75)) e |= entry::kRw;
    if (chance(75)) e |= entry::kUs;
    e |= bits(2) << 3;  // PWT, PCD
    if (chance(50)) e |= entry::kA;
    if (chance(50)) e |= entry::kD;
    if (chance(10)) e |= entry::kPs;
    if (chance(30)) e |= entry::kG;
    if (chance(30)) e |= bits(3) << 9;   // ignored 11:9
    if (chance(20)) e |= bits(7) << 52;  // ignored 58:52
    if (chance(40)) e |= bits(4) << 59;  // key
    if (chance(15)) e |= entry::kXd;
    if (chance(2)) e |= bits(52) & ~((u64{1} << maxphyaddr) - 1);  // reserved 51:M
    return e;
  }

  VAddr random_va(int levels) {
    if (chance(5)) return VAddr(rng_());  // mostly non-canonical
    u64 v = 0;
    for (int l = levels; l >= 1; --l) {
      const unsigned idx =
          chance(90) ? hot_[l - 1][rng_() % kHot] : static_cast<unsigned>(rng_() % 512);
      v |= u64{idx} << (12 + 9 * (l - 1));
    }
    v |= rng_() & 0xfff;
    const unsigned bits = levels == 5 ? 57 : 48;
    return VAddr(static_cast<u64>(static_cast<i64>(v << (64 - bits)) >> (64 - bits)));
  }

  Access random_access() {
    Access a;
    a.kind = static_cast<AccessKind>(rng_() % 5);
    a.cpl = chance(50) ? 3 : 0;
    const unsigned o = static_cast<unsigned>(rng_() % 10);
    a.origin = o < 7   ? AccessOrigin::kExplicit
               : o < 9 ? AccessOrigin::kImplicitSupervisor
                       : AccessOrigin::kWruss;
    a.ac = chance(50) ? Ac::kSet : Ac::kClear;
    a.segment = chance(20) ? Segment::kSs : Segment::kDs;
    return a;
  }

  Profile random_profile() {
    Profile p = chance(30) ? Profile::qemu72() : Profile::sdm();
    constexpr unsigned kM[] = {36, 39, 40, 46, 48, 52};
    p.maxphyaddr = kM[rng_() % 6];
    p.vendor = chance(20) ? Vendor::kAmd : Vendor::kIntel;
    p.a_on_fault = chance(50) ? AOnFault::kNone : AOnFault::kProgressive;
    p.rsvd_fault_p = chance(50) ? RsvdFaultP::kClear : RsvdFaultP::kSet;
    p.pk_user_to_supervisor = chance(50) ? PkUserToSupervisor::kOmit : PkUserToSupervisor::kReport;
    p.gb_leaf_accessed =
        chance(50) ? GbLeafAccessed::kBeforeLeafChecks : GbLeafAccessed::kOnSuccess;
    p.gbpages = chance(20) ? Support::kNo : Support::kYes;
    p.gbpages_check = chance(30) ? GbPagesCheck::kIgnore : GbPagesCheck::kEnforce;
    p.implicit_smap = chance(50) ? ImplicitSmap::kHonourAcBelowCpl3 : ImplicitSmap::kIgnoreAc;
    p.non_canonical = chance(50) ? NonCanonicalFault::kAlwaysGp : NonCanonicalFault::kBySegment;
    p.unbacked = chance(30) ? UnbackedMemory::kReadsZero : UnbackedMemory::kBusError;
    p.tlb_deny_policy = chance(50) ? TlbDenyPolicy::kSpuriousFault : TlbDenyPolicy::kRewalk;
    p.pcid = Support::kYes;
    p.pks = Support::kYes;
    return p;
  }

  CpuState random_state(int levels) {
    CpuState s = testing::baseline_state(levels);
    s.cr3 = kPool + (rng_() % kPoolFrames) * kFrameSize;
    if (chance(50)) s.cr0 &= ~reg::kCr0Wp;
    if (chance(30)) s.cr4 |= reg::kCr4Smep;
    if (chance(30)) s.cr4 |= reg::kCr4Smap;
    if (chance(40)) s.cr4 |= reg::kCr4Pke;
    if (chance(40)) s.cr4 |= reg::kCr4Pks;
    if (chance(40)) s.cr4 |= reg::kCr4Pge;
    if (chance(30)) s.efer &= ~reg::kEferNxe;
    s.pkru = static_cast<u32>(chance(50) ? rng_() : 0);
    s.pkrs = static_cast<u32>(chance(50) ? rng_() : 0);
    s.pat = 0x0007040600070406;
    return s;
  }

 private:
  std::mt19937_64 rng_;
  std::array<std::array<unsigned, kHot>, 5> hot_{};
};

std::string context(const CpuState& s, const Profile& p, VAddr va, const Access& a) {
  return fmt::format(
      "va {} {} cr0 {:#x} cr3 {:#x} cr4 {:#x} efer {:#x} pkru {:#x} pkrs {:#x} "
      "profile {}",
      va, describe(a), s.cr0, s.cr3, s.cr4, s.efer, s.pkru, s.pkrs,
      fmt::join(p.knob_values(), " "));
}

// The value of each entry on the reference's path after the walk. With aliased tables an
// address can appear at several levels; its last occurrence holds every bit the walk set.
std::map<u64, u64> final_values(const testing::ReferenceResult& ref) {
  std::map<u64, u64> out;
  for (const auto& [addr, value] : ref.path) out[addr] = value;
  return out;
}

// Outcomes agree: kind, and the parts the reference computes.
bool same(const Outcome& ref, const Outcome& got) {
  if (ref.index() != got.index()) return false;
  if (const auto* r = std::get_if<Ok>(&ref)) {
    const auto& g = std::get<Ok>(got);
    return r->pa == g.pa && r->page_size == g.page_size;
  }
  return ref == got;
}

TEST(RandomWalks, WalkerAgreesWithTheReferenceOnRandomEntries) {
  const u64 rounds = sanitized() ? 500 : 2500;
  const u64 per_round = 1000;
  RandomMachine r(0x5eed0001);
  auto mem = testing::make_mem(kRam);
  u64 entries = 0, accesses = 0, bus_errors = 0, oks = 0, faults = 0;
  for (u64 round = 0; round < rounds; ++round) {
    const int levels = r.chance(30) ? 5 : 4;
    const Profile profile = r.random_profile();
    const CpuState state = r.random_state(levels);
    entries += r.regenerate(*mem, profile.maxphyaddr);
    Walker w(*mem, profile);
    w.configure(state);
    for (u64 i = 0; i < per_round; ++i) {
      const VAddr va = r.random_va(levels);
      const Access a = r.random_access();
      const testing::ReferenceResult ref = reference_walk(*mem, state, profile, va, a);
      WalkRecord rec;
      const WalkResult got = w.walk(va, a, nullptr, &rec);
      ++accesses;
      ASSERT_TRUE(same(ref.outcome, got.outcome)) << "reference " << describe(ref.outcome)
                                                  << "\nwalker    " << describe(got.outcome) << "\n"
                                                  << context(state, profile, va, a) << "\n"
                                                  << rec.explain(profile.maxphyaddr);
      for (const auto& [addr, value] : final_values(ref)) {
        ASSERT_EQ(mem->load_entry(PAddr(addr)).value(), value)
            << fmt::format("entry @{:#x} after the walk\n", addr) << context(state, profile, va, a)
            << "\n"
            << rec.explain(profile.maxphyaddr);
      }
      if (std::holds_alternative<WalkBusError>(got.outcome)) {
        ++bus_errors;
        const auto& b = std::get<WalkBusError>(got.outcome);
        ASSERT_FALSE(mem->contains(b.entry_address, 8));
      }
      oks += std::holds_alternative<Ok>(got.outcome);
      faults += std::holds_alternative<PageFault>(got.outcome);
    }
  }
  // The generator must reach every kind of outcome, or the test proves little.
  EXPECT_GT(oks, accesses / 50);
  EXPECT_GT(faults, accesses / 50);
  EXPECT_GT(bus_errors, 0u);
  RecordProperty("entries", std::to_string(entries));
  RecordProperty("accesses", std::to_string(accesses));
  if (!sanitized()) {
    EXPECT_GE(entries + accesses, 4'000'000u);  // millions overall
  }
}

// With a TLB and paging-structure caches, and memory changed only by the MMU itself (A/D),
// no translation can be stale, so every outcome must equal a fresh walk's, whatever is cached,
// evicted, re-walked (T6, T7) or invalidated in between. TLB hits must not write memory (T8).
TEST(RandomWalks, TlbAndCachesAgreeWithTheReference) {
  const u64 rounds = sanitized() ? 60 : 600;
  const u64 per_round = 1000;
  RandomMachine r(0x5eed0002);
  auto mem = testing::make_mem(kRam);
  const TlbShape shapes[] = {TlbShape::teaching(), TlbShape::intel_golden_cove(),
                             TlbShape::amd_zen4(),
                             TlbShape::parse("tlb d level=1 ports=unified sizes=4K,2M,1G sets=2 "
                                             "ways=2 replacement=plru\n"
                                             "psc PDE sets=2 ways=2 replacement=plru\n",
                                             "tiny")
                                 .value()};
  u64 hits = 0;
  MmuStats total;
  for (u64 round = 0; round < rounds; ++round) {
    const int levels = r.chance(30) ? 5 : 4;
    Profile profile = r.random_profile();
    profile.flush_scope = r.chance(50) ? FlushScope::kWholeTlb : FlushScope::kArchitectural;
    CpuState state = r.random_state(levels);
    if (r.chance(50)) {
      state.cr4 |= reg::kCr4Pcide;
      state.cr3 |= r.rng()() % 4;
    }
    r.regenerate(*mem, profile.maxphyaddr);
    Mmu cpu(*mem, profile, shapes[round % 4]);
    std::array<VAddr, 8> recent;
    for (VAddr& v : recent) v = r.random_va(levels).align_down(kFrameSize);
    u64 next_recent = 0;
    ASSERT_TRUE(cpu.set_state(state).ok());
    for (u64 i = 0; i < per_round; ++i) {
      // Now and then an invalidation, a CR3 reload or a PCID switch: none may change outcomes.
      switch (r.rng()() % 40) {
        case 0:
          ASSERT_TRUE(cpu.invlpg(r.random_va(levels)).ok());
          break;
        case 1:
          ASSERT_TRUE(cpu.mov_to_cr3(cpu.state().cr3).ok());
          break;
        case 2:
          if (cpu.state().pcide()) {
            ASSERT_TRUE(
                cpu.mov_to_cr3(reg::kCr3NoFlush | (cpu.state().cr3 & ~u64{0xfff}) | (r.rng()() % 4))
                    .ok());
          }
          break;
        case 3:
          ASSERT_TRUE(
              cpu.invpcid(r.rng()() % 4, {.pcid_qword = cpu.state().pcid(), .la = VAddr(0)}).ok());
          break;
        default:
          break;
      }
      // Locality: most accesses go back to a page that translated recently, as programs do.
      VAddr va = r.random_va(levels);
      if (r.chance(70)) va = recent[r.rng()() % recent.size()] + (r.rng()() & 0xff8);
      Access a = r.random_access();
      if (r.chance(60)) a.kind = r.chance(70) ? AccessKind::kRead : AccessKind::kWrite;
      const testing::ReferenceResult ref = reference_walk(*mem, cpu.state(), profile, va, a);
      const std::map<u64, u64> after = final_values(ref);
      std::map<u64, u64> before;
      for (const auto& [addr, value] : after) before[addr] = mem->load_entry(PAddr(addr)).value();
      const Translation t = cpu.translate(va, a);
      ASSERT_TRUE(same(ref.outcome, t.outcome))
          << "reference " << describe(ref.outcome) << "\nmmu       " << describe(t.outcome) << " ["
          << translation_source_name(t.source) << "]\n"
          << context(cpu.state(), profile, va, a);
      const bool hit =
          t.source == TranslationSource::kL1Hit || t.source == TranslationSource::kL2Hit;
      if (std::holds_alternative<Ok>(t.outcome))
        recent[next_recent++ % recent.size()] = va.align_down(kFrameSize);
      hits += hit;
      for (const auto& [addr, value] : after) {
        const u64 now = mem->load_entry(PAddr(addr)).value();
        ASSERT_EQ(now, hit ? before[addr] : value)
            << fmt::format("entry @{:#x} after a {}\n", addr, translation_source_name(t.source))
            << context(cpu.state(), profile, va, a);
      }
    }
    total.psc_walks += cpu.stats().psc_walks;
    total.dirty_rewalks += cpu.stats().dirty_rewalks;
    total.deny_rewalks += cpu.stats().deny_rewalks;
    total.spurious_faults += cpu.stats().spurious_faults;
    total.l2_hits += cpu.stats().l2_hits;
  }
  // Every path of the TLB was exercised.
  EXPECT_GT(hits, rounds * per_round / 20);
  EXPECT_GT(total.l2_hits, 0u);
  EXPECT_GT(total.psc_walks, 0u);
  EXPECT_GT(total.dirty_rewalks, 0u);
  EXPECT_GT(total.deny_rewalks, 0u);
  EXPECT_GT(total.spurious_faults, 0u);
}

}  // namespace
}  // namespace pagesim::mmu
