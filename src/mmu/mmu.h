// One simulated CPU's MMU: its paging registers (CpuState), its TLBs and paging-structure caches
// (Tlb) and its page walker (Walker).
//
// translate() looks in the TLB, then walks (from a paging-structure-cache entry when one
// matches) and fills; it reports where the answer came from, because explanations and the
// replay checker need it. Register writes and invalidation instructions go through methods that
// apply the architectural checks (#GP/#UD) and the invalidations of spec section 8.4.
//
// Threading: an Mmu is one CPU and is used by that CPU's thread only. Other threads may change
// page-table entries in the shared PhysMem at any time (the walker copes, AD5); they never touch
// this CPU's TLB (invalidation is local, INV10: software shoots down by asking this CPU).
#pragma once

#include <array>
#include <optional>
#include <string>

#include "mmu/access.h"
#include "mmu/cpu_fault.h"
#include "mmu/outcome.h"
#include "mmu/profile.h"
#include "mmu/stats.h"
#include "mmu/tlb.h"
#include "mmu/tlb_shape.h"
#include "mmu/walk_record.h"
#include "mmu/walker.h"
#include "sim/cpu_state.h"
#include "sim/phys_mem.h"

namespace pagesim::mmu {

// Where a translation's outcome came from.
enum class TranslationSource : u8 {
  kNone,     // not translated: non-canonical address (L3: no TLB lookup, no walk)
  kL1Hit,    // a first-level TLB entry
  kL2Hit,    // a second-level TLB entry (copied into the first level)
  kPscWalk,  // a walk that started from a paging-structure-cache entry (T13)
  kWalk,     // a walk from CR3
};
std::string_view translation_source_name(TranslationSource s);

// Why a TLB hit was not used and the translation walked instead.
enum class Rewalk : u8 {
  kNo,
  kDirtyRule,  // T6: a write matched an entry whose cached D is 0
  kDeniedHit,  // T7 (tlb_deny_policy=rewalk): the cached rights denied the access
};

struct Translation {
  Outcome outcome;
  TranslationSource source = TranslationSource::kNone;
  Rewalk rewalk = Rewalk::kNo;
  // T7 (tlb_deny_policy=spurious_fault): the page fault was computed from a TLB entry's cached
  // rights, without a walk.
  enum class Spurious : u8 { kNo, kYes } spurious = Spurious::kNo;
};

// L5: an access of several bytes, translated page by page (at most two pages).
struct SpanTranslation {
  std::array<Translation, 2> pages;
  u8 count = 0;  // pages translated; the last one is the failing one if any failed
  const Outcome& last() const { return pages[count - 1].outcome; }
};

enum class InvpcidType : u8 {
  kIndividualAddress = 0,
  kSingleContext = 1,
  kAllContextsWithGlobals = 2,
  kAllContextsNoGlobals = 3,
};
// The 128-bit INVPCID descriptor: bits 11:0 PCID, bits 63:12 must be zero, bits 127:64 the
// linear address.
struct InvpcidDescriptor {
  u64 pcid_qword = 0;
  VAddr la;
};

class Mmu {
 public:
  // `profile` and `shape` must be valid (Profile::validate, TlbShape::validate). The CPU starts
  // in the baseline state of spec section 0 with CR3 = 0 and must be given its real state with
  // set_state() before use.
  Mmu(PhysMem& mem, const Profile& profile, const TlbShape& shape);

  const CpuState& state() const { return state_; }
  const Profile& profile() const { return profile_; }

  // Machine setup (not an instruction): loads a whole register state. Rejects, with a message,
  // a state the CPU model could not be in (C4: reserved CR3 bits; features the profile does not
  // support; anything but IA-32e paging). Drops every cached translation.
  Result<void, std::string> set_state(const CpuState& s);

  // Translates one access (the bytes of one page). `record`, if given, receives the walk (count
  // 0 when the TLB answered). Inline: a TLB hit that allows the access is the hot path.
  Translation translate(VAddr va, const Access& a, WalkRecord* record = nullptr) {
    // One named result, written in place by every path (so it is returned without a copy).
    Translation t;
    const unsigned cls = RightsMemo::access_class(a);
    if (record == nullptr && cls != RightsMemo::kNoClass && is_canonical(va, levels_)) [[likely]] {
      const HitMemo& m = memo_[(va.value() >> kFrameShift) & (kMemoSize - 1)];
      if (m.key == memo_key(va, cls) && m.tlb_generation == tlb_.generation()) {
        // The same first-level hit as last time, under the same TLB and registers.
        ++stats_.translations;
        ++stats_.l1_hits;
        tlb_.replay_l1_hit(m.port, m.probe, m.set, m.way);
        Ok& ok = t.outcome.emplace<Ok>();
        ok.pa = PAddr(m.pa_page | (va.value() & (kFrameSize - 1)));
        ok.page_size = m.size;
        ok.attrs = m.attrs;
        t.source = TranslationSource::kL1Hit;
        return t;
      }
    }
    translate_full(t, va, a, cls, record);
    return t;
  }

  // L5: translates the `size` bytes at `va` (1 <= size <= 4096), lower page first; a fault in
  // the second page reports that page's base address in CR2. The canonical test of both pages
  // precedes any translation.
  SpanTranslation translate_span(VAddr va, u64 size, const Access& a);

  // An access made by this CPU's current CPL and RFLAGS.AC.
  Access access(AccessKind k) const {
    return Access{.kind = k, .cpl = state_.cpl, .ac = state_.ac ? Ac::kSet : Ac::kClear};
  }

  // --- Instructions: architectural checks, then the state change and its invalidations. ---
  Result<void, CpuFault> mov_to_cr0(u64 value);                   // INV5
  Result<void, CpuFault> mov_to_cr3(u64 value);                   // C3, INV3
  Result<void, CpuFault> mov_to_cr4(u64 value);                   // L7, C2, INV4
  Result<void, CpuFault> write_efer(u64 value);                   // INV8
  Result<void, CpuFault> wrpkru(u32 value);                       // PK7, INV7
  Result<void, CpuFault> write_pkrs(u64 value);                   // PK7, INV7
  Result<void, CpuFault> write_pat(u64 value);                    // MT2
  Result<void, CpuFault> invlpg(VAddr va);                        // INV1
  Result<void, CpuFault> invpcid(u64 type, InvpcidDescriptor d);  // INV2
  void set_cpl(u8 cpl);  // privilege changes invalidate nothing
  void set_ac(Ac ac);    // STAC/CLAC/POPF: INV7

  // Drops every TLB and paging-structure-cache entry (a machine-level flush, as the conformance
  // recordings do before an access).
  void flush_all();

  const MmuStats& stats() const { return stats_; }
  const Tlb& tlb() const { return tlb_; }
  const Walker& walker() const { return walker_; }
  void reset_stats();
  // format_stats() of this CPU.
  std::string stats_report() const;

 private:
  void apply_state(const CpuState& s);  // state_ = s and digest it
  void invalidate_for_fault(VAddr va);  // INV6
  Result<void, CpuFault> require_cpl0(std::string_view what) const;
  // Everything but a memoized hit: the TLB lookup, then the walk. Writes its result into `t`.
  // `cls` is RightsMemo::access_class(a).
  void translate_full(Translation& t, VAddr va, const Access& a, unsigned cls, WalkRecord* record);
  // A hit that cannot complete the access: T6 (clean entry, write) or T7 (denied).
  void unusable_hit(Translation& t, VAddr va, const Access& a, unsigned cls, const TlbHit& hit,
                    RightsDecision d, WalkRecord* record);
  void walk_and_fill(Translation& t, VAddr va, const Access& a, unsigned cls, WalkRecord* record,
                     Rewalk why);

  // T8: the outcome of an allowed hit, written in place (a hit touches no memory).
  void served_by(Translation& t, const TlbHit& hit, VAddr va) {
    const TlbPayload& e = *hit.entry;
    Ok& ok = t.outcome.emplace<Ok>();
    ok.pa = PAddr(e.frame | (va.value() & (page_bytes(hit.size) - 1)));
    ok.page_size = hit.size;
    ok.attrs.rights = e.rights;
    ok.attrs.global = e.global;
    ok.attrs.pat_index = e.pat_index;
    ok.attrs.memory_type = pat_type(state_.pat, e.pat_index);
    ok.attrs.pkey = e.pkey;
    ok.attrs.dirty = e.dirty;
    if (hit.level == TlbLevel::kL1) {
      t.source = TranslationSource::kL1Hit;
      ++stats_.l1_hits;
    } else {
      t.source = TranslationSource::kL2Hit;
      ++stats_.l2_hits;
    }
  }

  Profile profile_;
  CpuState state_;
  Walker walker_;
  Tlb tlb_;
  bool has_psc_ = false;
  u16 pcid_ = 0;  // state_.pcid(), digested
  int levels_ = 4;
  MmuStats stats_;
  NonLeafSteps steps_;  // scratch for walks (kept to avoid building one per translation)

  // A direct-mapped memo of recent first-level TLB hits that allowed their access. It is an
  // implementation cache, invisible to the model: a memo entry is used only while the TLB's
  // generation is that of the hit it remembers (no entry added, replaced or removed, and no
  // register written: apply_state() bumps the generation too), for the same page and the same
  // class of access, and it replays that hit's replacement update and counters. Entries, LRU
  // order, statistics and outcomes are exactly what the full lookup would give.
  struct HitMemo {
    u64 key = 0;  // memo_key(); 0 = empty
    u64 tlb_generation = 0;
    u64 pa_page = 0;  // physical base of the 4 KiB page of the address
    PageAttrs attrs;
    PageSize size = PageSize::k4K;
    Port port = Port::kData;
    u8 probe = 0;
    u32 set = 0;
    u32 way = 0;
  };
  static constexpr std::size_t kMemoSize = 256;
  // The 4 KiB page number and the access class: everything of the access the rights decision
  // reads (D1, D2, AR9: kind, CPL, origin, AC; RightsMemo::access_class, never kNoClass here);
  // the segment only matters to non-canonical addresses.
  static u64 memo_key(VAddr va, unsigned cls) {
    const u64 vpn = (va.value() & ((u64{1} << 57) - 1)) >> kFrameShift;
    return (vpn << 9) | (u64{cls} << 1) | 1;
  }
  void remember(HitMemo& m, u64 key, const TlbHit& hit, Port port, const Ok& ok) {
    m = HitMemo{.key = key,
                .tlb_generation = tlb_.generation(),
                .pa_page = ok.pa.value() & ~(kFrameSize - 1),
                .attrs = ok.attrs,
                .size = ok.page_size,
                .port = port,
                .probe = hit.probe,
                .set = hit.set,
                .way = hit.way};
  }
  std::array<HitMemo, kMemoSize> memo_{};
};

}  // namespace pagesim::mmu
