// TLBs and paging-structure caches through the Mmu: spec section 8 (T1-T16, INV1-INV10).
// Hit and miss counts of the teaching TLB are worked out by hand in the comments.
#include "mmu/tlb.h"

#include <gtest/gtest.h>

#include "mmu/mmu.h"
#include "page_tables.h"

namespace pagesim::mmu {
namespace {

using testing::baseline_state;
using testing::kD;
using testing::kG;
using testing::kP;
using testing::kPs;
using testing::kRw;
using testing::kUs;
using testing::kUser;
using testing::PageTables;

constexpr u64 kBase = 0x0000000040000000;  // user pages P0, P1, ... at kBase + n * 4 KiB
constexpr VAddr kVaK(0xFFFFF8A96782EABC);
constexpr u64 kKernelFrame = 0x0000000000ABC000;

VAddr page(unsigned n) { return VAddr(kBase + n * kFrameSize); }
u64 frame(unsigned n) { return 0x10000000 + n * kFrameSize; }

TlbShape parse_shape(std::string_view text) {
  auto s = TlbShape::parse(text, "test.tlb");
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error());
  return s.value();
}

class TlbTest : public ::testing::Test {
 protected:
  std::unique_ptr<Mmu> make(const TlbShape& shape, Profile profile = Profile::sdm(),
                            CpuState s = baseline_state()) {
    auto m = std::make_unique<Mmu>(*mem, profile, shape);
    auto r = m->set_state(s);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error());
    m->reset_stats();
    return m;
  }
  void map_pages(unsigned n, u64 flags = kUser) {
    for (unsigned i = 0; i < n; ++i) pt.map(page(i), frame(i), flags);
  }
  static Translation read(Mmu& m, VAddr va, u8 cpl = 3) {
    return m.translate(va, Access::read(cpl));
  }
  static PAddr pa_of(const Translation& t) {
    EXPECT_TRUE(std::holds_alternative<Ok>(t.outcome)) << describe(t.outcome);
    return std::holds_alternative<Ok>(t.outcome) ? std::get<Ok>(t.outcome).pa : PAddr(~u64{0});
  }
  static u32 fault_code(const Translation& t) {
    EXPECT_TRUE(std::holds_alternative<PageFault>(t.outcome)) << describe(t.outcome);
    return std::holds_alternative<PageFault>(t.outcome) ? std::get<PageFault>(t.outcome).error_code
                                                        : 0xdead;
  }

  std::unique_ptr<PhysMem> mem = testing::make_mem();
  PageTables pt{*mem, 4, 0x1000, 0x100000};
};

TEST_F(TlbTest, TeachingTlbKnownSequence) {  // T10, T11, T13: hand-computed counts
  map_pages(6);
  auto m = make(TlbShape::teaching());  // L1 I/D 4 entries, L2 8, PSCs 2, all LRU
  const TranslationSource expect[] = {
      TranslationSource::kWalk,     // 1 P0: everything misses; 4 entry reads; PSCs filled
      TranslationSource::kPscWalk,  // 2 P1: PDE-cache hit, 1 entry read
      TranslationSource::kPscWalk,  // 3 P2
      TranslationSource::kPscWalk,  // 4 P3: L1 D now P0 P1 P2 P3
      TranslationSource::kL1Hit,    // 5 P0: LRU order P1 P2 P3 P0
      TranslationSource::kPscWalk,  // 6 P4: evicts P1 from L1 (L2 keeps it)
      TranslationSource::kL2Hit,    // 7 P1: copied into L1, evicting P2
      TranslationSource::kL2Hit,    // 8 P2: evicting P3
      TranslationSource::kL1Hit,    // 9 P0
  };
  const unsigned order[] = {0, 1, 2, 3, 0, 4, 1, 2, 0};
  for (int i = 0; i < 9; ++i) {
    const Translation t = read(*m, page(order[i]));
    EXPECT_EQ(t.source, expect[i]) << "step " << i + 1;
    EXPECT_EQ(pa_of(t), PAddr(frame(order[i])));
  }
  const MmuStats& s = m->stats();
  EXPECT_EQ(s.translations, 9u);
  EXPECT_EQ(s.l1_hits, 2u);
  EXPECT_EQ(s.l2_hits, 2u);
  EXPECT_EQ(s.full_walks, 1u);
  EXPECT_EQ(s.psc_walks, 4u);
  const WalkerStats& w = m->walker().stats();
  EXPECT_EQ(w.entry_reads[4], 1u);
  EXPECT_EQ(w.entry_reads[3], 1u);
  EXPECT_EQ(w.entry_reads[2], 1u);
  EXPECT_EQ(w.entry_reads[1], 5u);
  const TlbStats& t = m->tlb().stats();
  EXPECT_EQ(t.l1_hits, 2u);
  EXPECT_EQ(t.l1_misses, 7u);
  EXPECT_EQ(t.l2_hits, 2u);
  EXPECT_EQ(t.l2_misses, 5u);
  const StructureStats& l1d = t.arrays[1];  // "L1 DTLB"
  EXPECT_EQ(l1d.hits, 2u);
  EXPECT_EQ(l1d.misses, 7u);
  EXPECT_EQ(l1d.fills, 7u);      // 5 walks + 2 copies from L2
  EXPECT_EQ(l1d.evictions, 3u);  // P1, P2, P3
  const StructureStats& l2 = t.arrays[2];
  EXPECT_EQ(l2.fills, 5u);
  EXPECT_EQ(l2.evictions, 0u);
  EXPECT_EQ(t.arrays[0].hits + t.arrays[0].misses, 0u);  // the ITLB saw no reference
  EXPECT_EQ(t.psc[2].hits, 4u);                          // PDE cache
  EXPECT_EQ(t.psc[2].misses, 1u);
  EXPECT_EQ(t.psc[3].misses, 1u);  // PDPTE and PML4E caches: only probed on step 1
  EXPECT_EQ(t.psc[4].misses, 1u);
  EXPECT_EQ(t.psc[2].fills + t.psc[3].fills + t.psc[4].fills, 3u);
  EXPECT_NE(m->stats_report().find("L1 DTLB"), std::string::npos);
}

TEST_F(TlbTest, SecondLevelIsSharedByFetchesAndData) {  // T10
  map_pages(1);
  auto m = make(TlbShape::teaching());
  EXPECT_EQ(m->translate(page(0), Access::fetch(3)).source, TranslationSource::kWalk);
  EXPECT_EQ(read(*m, page(0)).source, TranslationSource::kL2Hit);  // unified L2, then L1 D
  EXPECT_EQ(read(*m, page(0)).source, TranslationSource::kL1Hit);
  EXPECT_EQ(m->translate(page(0), Access::fetch(3)).source, TranslationSource::kL1Hit);
}

TEST_F(TlbTest, SetConflictsAndEvictionOrderLruVersusPlru) {  // T10
  // One 2-set, 4-way L1 DTLB: pages with an even page number share set 0.
  map_pages(12);
  for (const auto* policy : {"lru", "plru"}) {
    auto m =
        make(parse_shape(fmt::format("tlb D level=1 ports=data sizes=4K sets=2 ways=4 "
                                     "replacement={}\n",
                                     policy)));
    // A B C D fill set 0 (pages 0 2 4 6); page 1 goes to set 1 and disturbs nothing.
    for (unsigned n : {0u, 2u, 4u, 6u, 1u}) read(*m, page(n));
    EXPECT_EQ(read(*m, page(0)).source, TranslationSource::kL1Hit);  // touch A
    EXPECT_EQ(read(*m, page(8)).source, TranslationSource::kWalk);   // E: a conflict miss
    // LRU evicted B (page 2), the least recently used. Tree-PLRU evicted C (page 4): touching
    // A pointed the root at the other half (C, D), whose node pointed at C.
    const bool lru = std::string_view(policy) == "lru";
    EXPECT_EQ(read(*m, page(lru ? 4 : 2)).source, TranslationSource::kL1Hit) << policy;
    EXPECT_EQ(read(*m, page(1)).source, TranslationSource::kL1Hit) << policy;  // other set
    EXPECT_EQ(m->tlb().stats().arrays[0].evictions, 1u) << policy;
    EXPECT_EQ(read(*m, page(lru ? 2 : 4)).source, TranslationSource::kWalk) << policy;
  }
}

TEST(SetAssoc, VictimOrder) {  // T10: the replacement policies themselves
  SetAssoc<int> lru(1, 4, Replacement::kLru), plru(1, 4, Replacement::kTreePlru);
  for (SetAssoc<int>* s : {&lru, &plru}) {
    bool evicted = false;
    for (u64 k = 0; k < 4; ++k) s->insert(0, kKeyValid | k, 0, evicted);  // ways 0..3
    EXPECT_FALSE(evicted);
    EXPECT_EQ(s->victim(0), 0u);  // both: way 0 was used least recently
    s->touch(0, 0);
  }
  EXPECT_EQ(lru.victim(0), 1u);
  EXPECT_EQ(plru.victim(0), 2u);
  plru.touch(0, 2);
  EXPECT_EQ(plru.victim(0), 1u);  // root back to the left half, whose node points at way 1
  lru.touch(0, 1);
  EXPECT_EQ(lru.victim(0), 2u);
  lru.invalidate(0, 3);
  EXPECT_EQ(lru.victim(0), 3u);  // an invalid way is always taken first
  EXPECT_EQ(lru.valid_count(), 3u);
}

TEST_F(TlbTest, PcidsIsolateTranslations) {  // T5, C2, INV3
  map_pages(1);
  CpuState s = baseline_state();
  s.cr4 |= reg::kCr4Pcide;
  s.cr3 = 0x1000 | 1;
  auto m = make(TlbShape::teaching(), Profile::sdm(), s);
  EXPECT_EQ(read(*m, page(0)).source, TranslationSource::kWalk);
  ASSERT_TRUE(m->mov_to_cr3(reg::kCr3NoFlush | 0x1000 | 2).ok());
  EXPECT_EQ(m->state().cr3, 0x1002u);                             // C3: bit 63 is not stored
  EXPECT_EQ(read(*m, page(0)).source, TranslationSource::kWalk);  // PCID 2: TLB and PSC miss
  ASSERT_TRUE(m->mov_to_cr3(reg::kCr3NoFlush | 0x1000 | 1).ok());
  EXPECT_EQ(read(*m, page(0)).source, TranslationSource::kL1Hit);  // PCID 1 kept its entry
  ASSERT_TRUE(m->mov_to_cr3(0x1000 | 1).ok());  // INV3: flushes PCID 1 (the one loaded)
  EXPECT_EQ(read(*m, page(0)).source, TranslationSource::kWalk);
  ASSERT_TRUE(m->mov_to_cr3(reg::kCr3NoFlush | 0x1000 | 2).ok());
  EXPECT_EQ(read(*m, page(0)).source, TranslationSource::kL1Hit);  // PCID 2's entry survived
}

TEST_F(TlbTest, GlobalEntriesSurviveCr3Writes) {  // T5, INV3, INV4 (V82, V83)
  map_pages(1);
  pt.map(kVaK, kKernelFrame, kP | kRw | kG, Level::kPte, kP | kRw);
  CpuState s = baseline_state();
  s.cr4 |= reg::kCr4Pge;
  auto m = make(TlbShape::teaching(), Profile::sdm(), s);
  read(*m, page(0));
  read(*m, kVaK, 0);
  ASSERT_TRUE(m->mov_to_cr3(0x1000).ok());
  EXPECT_EQ(read(*m, kVaK, 0).source, TranslationSource::kL1Hit);  // global: kept
  EXPECT_NE(read(*m, page(0)).source, TranslationSource::kL1Hit);  // non-global: dropped
  // INV4: toggling PGE drops global entries too.
  ASSERT_TRUE(m->mov_to_cr4(s.cr4 & ~reg::kCr4Pge).ok());
  EXPECT_EQ(m->tlb().valid_entries(), 0u);
  EXPECT_EQ(read(*m, kVaK, 0).source, TranslationSource::kWalk);
  // Without PGE the G bit does not make an entry global (T2).
  ASSERT_TRUE(m->mov_to_cr3(0x1000).ok());
  EXPECT_EQ(read(*m, kVaK, 0).source, TranslationSource::kWalk);
}

TEST_F(TlbTest, StaleTranslationIsServedUntilInvalidated) {  // T14, INV1 (V77, V78)
  map_pages(2);
  auto m = make(TlbShape::teaching());
  EXPECT_EQ(pa_of(read(*m, page(0))), PAddr(frame(0)));
  pt.set_entry(page(0), Level::kPte, frame(7) | kUser | testing::kA);  // remap, no invalidation
  const Translation stale = read(*m, page(0));
  EXPECT_EQ(stale.source, TranslationSource::kL1Hit);
  EXPECT_EQ(pa_of(stale), PAddr(frame(0)));  // the old frame, as hardware may
  ASSERT_TRUE(m->invlpg(page(0)).ok());
  EXPECT_EQ(pa_of(read(*m, page(0))), PAddr(frame(7)));  // after INVLPG only memory counts

  // Unmapping (P 1->0) without invalidation: the stale translation may still be used (T15).
  EXPECT_EQ(pa_of(read(*m, page(1))), PAddr(frame(1)));
  pt.set_entry(page(1), Level::kPte, 0);
  EXPECT_EQ(pa_of(read(*m, page(1))), PAddr(frame(1)));
  ASSERT_TRUE(m->invlpg(page(1)).ok());
  EXPECT_EQ(fault_code(read(*m, page(1))), 0x4u);
  EXPECT_EQ(m->invlpg(VAddr(0x0000800000000000)).ok(), true);  // INV1: non-canonical, no-op
}

TEST_F(TlbTest, EachInvalidationKind) {  // INV1-INV8
  map_pages(2);
  pt.map(kVaK, kKernelFrame, kP | kRw | kG, Level::kPte, kP | kRw);
  CpuState s = baseline_state();
  s.cr4 |= reg::kCr4Pge | reg::kCr4Pcide;
  s.cr3 = 0x1000 | 1;
  auto m = make(TlbShape::teaching(), Profile::sdm(), s);
  auto fill_all = [&] {
    for (u16 pcid : {u16{2}, u16{1}}) {  // PCID 2's user pages, then PCID 1's and the global
      ASSERT_TRUE(m->mov_to_cr3(reg::kCr3NoFlush | 0x1000 | pcid).ok());
      read(*m, page(0));
      read(*m, page(1));
    }
    read(*m, kVaK, 0);
  };
  auto hits = [&](VAddr va, u8 cpl = 3) {
    const TranslationSource src = read(*m, va, cpl).source;
    return src == TranslationSource::kL1Hit || src == TranslationSource::kL2Hit;
  };
  auto in_pcid2 = [&](VAddr va) {
    EXPECT_TRUE(m->mov_to_cr3(reg::kCr3NoFlush | 0x1000 | 2).ok());
    const bool h = hits(va);
    EXPECT_TRUE(m->mov_to_cr3(reg::kCr3NoFlush | 0x1000 | 1).ok());
    return h;
  };

  // INV1: INVLPG drops that page in the current PCID and the global one, and every PSC entry
  // of the current PCID; other pages and other PCIDs stay.
  fill_all();
  ASSERT_TRUE(m->invlpg(page(0)).ok());
  EXPECT_FALSE(hits(page(0)));
  EXPECT_TRUE(hits(page(1)));
  EXPECT_TRUE(in_pcid2(page(0)));
  ASSERT_TRUE(m->invlpg(kVaK).ok());
  EXPECT_FALSE(hits(kVaK, 0));

  // INV2 type 0: that address in that PCID, not the globals.
  fill_all();
  ASSERT_TRUE(m->invpcid(0, {.pcid_qword = 2, .la = page(0)}).ok());
  EXPECT_FALSE(in_pcid2(page(0)));
  EXPECT_TRUE(in_pcid2(page(1)));
  EXPECT_TRUE(hits(page(0)));
  ASSERT_TRUE(m->invpcid(0, {.pcid_qword = 1, .la = kVaK}).ok());
  EXPECT_TRUE(hits(kVaK, 0));  // globals not required (V85)

  // Type 1: all of that PCID, not the globals.
  fill_all();
  ASSERT_TRUE(m->invpcid(1, {.pcid_qword = 1}).ok());
  EXPECT_FALSE(hits(page(0)));
  EXPECT_FALSE(hits(page(1)));
  EXPECT_TRUE(hits(kVaK, 0));
  EXPECT_TRUE(in_pcid2(page(1)));

  // Type 3: every PCID, not the globals.
  fill_all();
  ASSERT_TRUE(m->invpcid(3, {}).ok());
  EXPECT_EQ(m->tlb().valid_psc_entries(), 0u);
  EXPECT_FALSE(in_pcid2(page(0)));
  EXPECT_FALSE(hits(page(1)));
  EXPECT_TRUE(hits(kVaK, 0));

  // Type 2: everything.
  fill_all();
  ASSERT_TRUE(m->invpcid(2, {}).ok());
  EXPECT_EQ(m->tlb().valid_entries(), 0u);
  EXPECT_EQ(m->tlb().valid_psc_entries(), 0u);

  // INV4: setting SMEP drops the current PCID (pagesim: globals too); SMAP changes nothing.
  fill_all();
  ASSERT_TRUE(m->mov_to_cr4(m->state().cr4 | reg::kCr4Smap).ok());
  EXPECT_TRUE(hits(page(0)));
  ASSERT_TRUE(m->mov_to_cr4(m->state().cr4 | reg::kCr4Smep).ok());
  EXPECT_FALSE(hits(page(1)));
  EXPECT_FALSE(hits(kVaK, 0));
  EXPECT_TRUE(in_pcid2(page(1)));
  ASSERT_TRUE(m->mov_to_cr4(m->state().cr4 & ~reg::kCr4Smep).ok());  // clearing: nothing
  EXPECT_TRUE(in_pcid2(page(1)));

  // INV4: clearing PCIDE drops everything.
  fill_all();
  ASSERT_TRUE(m->mov_to_cr4(m->state().cr4 & ~reg::kCr4Pcide).ok());
  EXPECT_EQ(m->tlb().valid_entries(), 0u);

  // INV5: CR0.WP changes invalidate nothing; INV7: neither do PKRU, PKRS, AC.
  read(*m, page(0));
  ASSERT_TRUE(m->mov_to_cr0(m->state().cr0 & ~reg::kCr0Wp).ok());
  ASSERT_TRUE(m->mov_to_cr4(m->state().cr4 | reg::kCr4Pke).ok());
  ASSERT_TRUE(m->wrpkru(0x4).ok());
  ASSERT_TRUE(m->write_pkrs(0x4).ok());
  m->set_ac(Ac::kSet);
  EXPECT_TRUE(hits(page(0)));
  // INV8: an EFER.NXE change flushes everything (pagesim's choice).
  ASSERT_TRUE(m->write_efer(m->state().efer & ~reg::kEferNxe).ok());
  EXPECT_EQ(m->tlb().valid_entries(), 0u);
}

TEST_F(TlbTest, PagingStructureCachesCutEntryReads) {  // T11-T13
  map_pages(64);
  for (const TlbShape& shape : {TlbShape::intel_golden_cove(), parse_shape("name no-psc\n"
                                                                           "tlb D level=1 "
                                                                           "ports=data sizes=4K "
                                                                           "sets=1 ways=4\n")}) {
    auto m = make(shape);
    for (unsigned i = 0; i < 64; ++i) read(*m, page(i));
    const auto& reads = m->walker().stats().entry_reads;
    const u64 total = reads[1] + reads[2] + reads[3] + reads[4];
    if (shape.psc.empty()) {
      EXPECT_EQ(total, 64u * 4);  // every walk reads all four levels
    } else {
      EXPECT_EQ(total, 4u + 63);  // one full walk, then only the PTE
      EXPECT_EQ(m->stats().psc_walks, 63u);
    }
  }
}

TEST_F(TlbTest, StalePagingStructureCacheEntryIsUsedUntilInvalidated) {  // T13, T14, INV1
  map_pages(2);
  auto m = make(TlbShape::teaching());
  read(*m, page(0));
  // Point the PDE at a new page table without invalidation; page 1 walks from the stale PDE
  // cache entry and reads the old table.
  const u64 pde = pt.entry(page(0), Level::kPde);
  const u64 new_pt = 0x3000000;
  pt.set(new_pt + 8 * level_index(page(1), Level::kPte), frame(9) | kUser);
  pt.set_entry(page(0), Level::kPde, new_pt | (pde & 0xfff));
  const Translation t = read(*m, page(1));
  EXPECT_EQ(t.source, TranslationSource::kPscWalk);
  EXPECT_EQ(pa_of(t), PAddr(frame(1)));
  ASSERT_TRUE(m->invlpg(page(0)).ok());  // drops every PSC entry of the PCID
  ASSERT_TRUE(m->invlpg(page(1)).ok());
  EXPECT_EQ(pa_of(read(*m, page(1))), PAddr(frame(9)));
}

TEST_F(TlbTest, WriteThroughACleanEntryWalksAgain) {  // T6, AD7 (V79, V80)
  map_pages(1);
  auto m = make(TlbShape::teaching());
  read(*m, page(0));
  const u64 pte = pt.entry_addr(page(0), Level::kPte);
  EXPECT_EQ(pt.get(pte) & kD, 0u);
  const Translation w = m->translate(page(0), Access::write(3));
  EXPECT_EQ(w.rewalk, Rewalk::kDirtyRule);
  EXPECT_NE(w.source, TranslationSource::kL1Hit);
  EXPECT_EQ(pt.get(pte) & kD, kD);
  EXPECT_EQ(m->translate(page(0), Access::write(3)).source, TranslationSource::kL1Hit);
  EXPECT_EQ(m->stats().dirty_rewalks, 1u);
  // V80: if R/W was cleared meanwhile, the re-walk faults and D stays clear.
  ASSERT_TRUE(m->invlpg(page(0)).ok());
  pt.set(pte, frame(0) | kUser | testing::kA);
  read(*m, page(0));
  pt.set(pte, frame(0) | kP | kUs | testing::kA);
  EXPECT_EQ(fault_code(m->translate(page(0), Access::write(3))), 0x7u);
  EXPECT_EQ(pt.get(pte), frame(0) | kP | kUs | testing::kA);
  // AD7: a dirty entry completes writes without touching memory, even after D was cleared.
  pt.set(pte, frame(0) | kUser | testing::kA | kD);
  ASSERT_TRUE(m->invlpg(page(0)).ok());
  m->translate(page(0), Access::write(3));
  pt.set(pte, frame(0) | kUser | testing::kA);
  EXPECT_EQ(m->translate(page(0), Access::write(3)).source, TranslationSource::kL1Hit);
  EXPECT_EQ(pt.get(pte) & kD, 0u);
}

TEST_F(TlbTest, DeniedHitRewalksOrFaultsSpuriously) {  // T7, T15, INV6 (V86)
  map_pages(1);
  const u64 pte = pt.entry_addr(page(0), Level::kPte);
  for (TlbDenyPolicy policy : {TlbDenyPolicy::kRewalk, TlbDenyPolicy::kSpuriousFault}) {
    Profile p = Profile::sdm();
    p.tlb_deny_policy = policy;
    pt.set(pte, frame(0) | kP | kUs | testing::kA | kD);  // read-only, dirty
    auto m = make(TlbShape::teaching(), p);
    read(*m, page(0));
    pt.set(pte, frame(0) | kUser | testing::kA | kD);  // upgraded without invalidation
    const Translation first = m->translate(page(0), Access::write(3));
    if (policy == TlbDenyPolicy::kRewalk) {
      EXPECT_EQ(first.rewalk, Rewalk::kDeniedHit);
      EXPECT_EQ(pa_of(first), PAddr(frame(0)));
      EXPECT_EQ(m->stats().deny_rewalks, 1u);
    } else {
      EXPECT_EQ(fault_code(first), 0x7u);  // from the cached rights
      EXPECT_EQ(first.spurious, Translation::Spurious::kYes);
      EXPECT_EQ(m->stats().spurious_faults, 1u);
      EXPECT_EQ(pa_of(m->translate(page(0), Access::write(3))), PAddr(frame(0)));  // INV6
    }
  }
}

TEST_F(TlbTest, RightsAreEvaluatedAtEveryHit) {  // AR11, T5, D4, PK7
  map_pages(1);
  auto m = make(TlbShape::teaching());
  pt.set_entry(page(0), Level::kPte, frame(0) | kUser | (u64{3} << 59));
  read(*m, page(0));
  ASSERT_TRUE(m->mov_to_cr4(m->state().cr4 | reg::kCr4Smap | reg::kCr4Pke).ok());
  // SMAP now denies a supervisor read with AC=0, from the TLB entry's cached U bit.
  EXPECT_EQ(fault_code(read(*m, page(0), 0)), 0x1u);
  Access ac = Access::read(0);
  ac.ac = Ac::kSet;
  read(*m, page(0));  // refill after the fault's INV6
  EXPECT_EQ(m->translate(page(0), ac).source, TranslationSource::kL1Hit);
  ASSERT_TRUE(m->wrpkru(0x40).ok());  // PK7: key 3 access-disabled without invalidation
  EXPECT_EQ(fault_code(read(*m, page(0))), 0x25u);
}

TEST_F(TlbTest, MostRecentFillWins) {  // T9, T16 (V87)
  map_pages(2);
  auto m = make(TlbShape::teaching());
  EXPECT_EQ(pa_of(read(*m, page(0))), PAddr(frame(0)));  // a 4 KiB entry for page 0
  // Replace the page table by a 2 MiB page without invalidation, then touch page 1: its walk
  // (page 1 was never cached) fills a 2 MiB entry covering page 0 too, and removes the older
  // 4 KiB entry, so page 0 now uses the most recent translation.
  const u64 pde = pt.entry_addr(page(0), Level::kPde);
  pt.set(pde, 0x0000000123400000 | kUser | kPs);
  ASSERT_TRUE(m->invlpg(VAddr(0x7000000000)).ok());  // drops the PSC entries, nothing else
  EXPECT_EQ(pa_of(read(*m, page(1))), PAddr(0x0000000123401000));
  const Translation t = read(*m, page(0));
  EXPECT_EQ(t.source, TranslationSource::kL1Hit);
  EXPECT_EQ(pa_of(t), PAddr(0x0000000123400000));
  EXPECT_EQ(std::get<Ok>(t.outcome).page_size, PageSize::k2M);
  // INVLPG of any address in the large page drops it (INV1).
  ASSERT_TRUE(m->invlpg(page(1)).ok());
  EXPECT_NE(read(*m, page(0)).source, TranslationSource::kL1Hit);
}

TEST_F(TlbTest, PageFaultInvalidatesTheAddress) {  // INV6, PF10
  map_pages(1);
  // Separate I and D TLBs, no second level: a data fault must drop the ITLB entry too.
  auto m =
      make(parse_shape("tlb I level=1 ports=instruction sizes=4K,2M,1G entries=4\n"
                       "tlb D level=1 ports=data sizes=4K,2M,1G entries=4\n"));
  EXPECT_EQ(m->translate(page(0), Access::fetch(3)).source, TranslationSource::kWalk);
  pt.set_entry(page(0), Level::kPte, 0);
  EXPECT_EQ(fault_code(read(*m, page(0))), 0x4u);
  EXPECT_EQ(m->tlb().valid_entries(), 0u);
  EXPECT_EQ(fault_code(m->translate(page(0), Access::fetch(3))), 0x14u);
  EXPECT_EQ(m->stats().fault_invalidations, 2u);
}

TEST_F(TlbTest, OnlySuccessfulWalksFill) {  // T1, T4
  map_pages(1);
  auto m = make(TlbShape::teaching());
  pt.set_entry(page(0), Level::kPte, 0);
  fault_code(read(*m, page(0)));
  EXPECT_EQ(m->tlb().valid_entries(), 0u);
  pt.set_entry(page(0), Level::kPte, frame(0) | kUser);  // P 0->1 needs no invalidation
  EXPECT_EQ(pa_of(read(*m, page(0))), PAddr(frame(0)));
  pt.set_entry(page(0), Level::kPte, frame(0) | kP);  // supervisor page: a denied walk
  ASSERT_TRUE(m->invlpg(page(0)).ok());
  fault_code(read(*m, page(0)));
  EXPECT_EQ(m->tlb().valid_entries(), 0u);
}

TEST_F(TlbTest, QemuProfileFlushesEverythingOnCr3Writes) {  // Q8, INV9
  pt.map(kVaK, kKernelFrame, kP | kRw | kG, Level::kPte, kP | kRw);
  CpuState s = baseline_state();
  s.cr4 |= reg::kCr4Pge;
  Profile q = Profile::qemu72();
  auto m = make(TlbShape::teaching(), q, s);
  read(*m, kVaK, 0);
  ASSERT_TRUE(m->mov_to_cr3(0x1000).ok());
  EXPECT_EQ(read(*m, kVaK, 0).source, TranslationSource::kWalk);  // global dropped too
  ASSERT_TRUE(m->mov_to_cr4(s.cr4 | reg::kCr4Pke).ok());
  ASSERT_TRUE(m->wrpkru(0).ok());  // QEMU flushes on PKRU writes
  EXPECT_EQ(m->tlb().valid_entries(), 0u);
}

TEST_F(TlbTest, FiveLevelPagingWithThePml5eCache) {  // W1, T11, T13
  CpuState s = baseline_state(5);
  PageTables pt5(*mem, 5, 0x1000, 0x400000);
  const VAddr va(0x00AB7D6C987D4000);
  const VAddr other_pml4_slot = va + (u64{1} << 39);  // same PML5E, another PML4E
  pt5.map(va, frame(0), kUser);
  pt5.map(va + kFrameSize, frame(1), kUser);
  pt5.map(other_pml4_slot, frame(2), kUser);
  auto m = make(TlbShape::intel_golden_cove(), Profile::sdm(), s);
  const auto& reads = m->walker().stats().entry_reads;
  EXPECT_EQ(read(*m, va).source, TranslationSource::kWalk);
  EXPECT_EQ(reads[5], 1u);
  EXPECT_EQ(read(*m, va + kFrameSize).source, TranslationSource::kPscWalk);  // PDE cache
  EXPECT_EQ(reads[1], 2u);
  EXPECT_EQ(reads[4], 1u);
  const Translation t = read(*m, other_pml4_slot);  // PML5E cache: starts at the PML4 level
  EXPECT_EQ(t.source, TranslationSource::kPscWalk);
  EXPECT_EQ(pa_of(t), PAddr(frame(2)));
  EXPECT_EQ(reads[5], 1u);
  EXPECT_EQ(reads[4], 2u);
  EXPECT_EQ(m->tlb().stats().psc[5].hits, 1u);
}

}  // namespace
}  // namespace pagesim::mmu

namespace pagesim::mmu {
namespace {

// The Mmu remembers recent first-level hits to serve repeats faster; that must change nothing
// the model shows: the replacement order, the counters, and decisions after register changes.
TEST_F(TlbTest, RepeatedHitsKeepTheModelExact) {
  map_pages(12);
  auto m = make(parse_shape("tlb D level=1 ports=data sizes=4K sets=1 ways=4\n"));
  for (unsigned n : {0u, 1u, 2u, 3u}) read(*m, page(n));  // fills A B C D
  for (unsigned n : {0u, 1u, 2u, 3u}) {
    EXPECT_EQ(read(*m, page(n)).source, TranslationSource::kL1Hit);  // A..D, each remembered
  }
  EXPECT_EQ(read(*m, page(0)).source, TranslationSource::kL1Hit);  // A again: a repeat
  // The repeat made A the most recently used, so E evicts B.
  EXPECT_EQ(read(*m, page(4)).source, TranslationSource::kWalk);
  EXPECT_EQ(read(*m, page(0)).source, TranslationSource::kL1Hit);
  EXPECT_EQ(read(*m, page(1)).source, TranslationSource::kWalk);
  const TlbStats& t = m->tlb().stats();
  EXPECT_EQ(t.arrays[0].hits, 6u);
  EXPECT_EQ(t.l1_hits, 6u);
  EXPECT_EQ(m->stats().l1_hits, 6u);
  EXPECT_EQ(m->stats().translations, 12u);

  // A remembered hit is not reused after a register change: SMAP now denies it.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(pa_of(read(*m, page(0), 0)), PAddr(frame(0)));
  ASSERT_TRUE(m->mov_to_cr4(m->state().cr4 | reg::kCr4Smap).ok());
  EXPECT_EQ(fault_code(read(*m, page(0), 0)), 0x1u);
  // Nor after the TLB changed: a stale entry dropped by INVLPG.
  for (int i = 0; i < 3; ++i) read(*m, page(2));
  pt.set_entry(page(2), Level::kPte, 0);
  ASSERT_TRUE(m->invlpg(page(2)).ok());
  EXPECT_EQ(fault_code(read(*m, page(2))), 0x4u);
}

}  // namespace
}  // namespace pagesim::mmu
