// A second, deliberately plain transcription of the spec's Appendix A (plus the profile knobs),
// written without reusing src/mmu's masks, rights evaluation or walker, for the randomized
// cross-check in random_test.cc. It reads the entries from the arena before the real walk and
// predicts the outcome and the value of every entry on the path afterwards.
#pragma once

#include <vector>

#include "mmu/access.h"
#include "mmu/outcome.h"
#include "mmu/profile.h"
#include "sim/cpu_state.h"
#include "sim/phys_mem.h"

namespace pagesim::mmu::testing {

struct ReferenceResult {
  Outcome outcome;
  std::vector<std::pair<u64, u64>> path;  // (entry address, value after the walk), root first
};

inline ReferenceResult reference_walk(const PhysMem& mem, const CpuState& s, const Profile& p,
                                      VAddr va, const Access& a) {
  ReferenceResult res;
  const u64 v = va.value();
  const int levels = (s.cr4 & reg::kCr4La57) ? 5 : 4;
  const int bits = levels == 5 ? 57 : 48;
  // L1, L2: sign extension of bit bits-1.
  const i64 sext = static_cast<i64>(v << (64 - bits)) >> (64 - bits);
  if (static_cast<u64>(sext) != v) {
    const bool ss = a.segment == Segment::kSs && p.non_canonical == NonCanonicalFault::kBySegment;
    res.outcome = NonCanonical{ss ? NcVector::kSs : NcVector::kGp};
    return res;
  }
  const bool nxe = s.efer & reg::kEferNxe;
  const bool wp = s.cr0 & reg::kCr0Wp;
  const bool smep = s.cr4 & reg::kCr4Smep;
  const bool smap = s.cr4 & reg::kCr4Smap;
  const bool pke = s.cr4 & reg::kCr4Pke;
  const bool pks = s.cr4 & reg::kCr4Pks;
  const unsigned m = p.maxphyaddr;
  const u64 addr_bits = ((u64{1} << m) - 1) & ~u64{0xfff};
  const u64 high_rsvd = ((u64{1} << 52) - 1) & ~((u64{1} << m) - 1);
  const bool gb_ok = p.gbpages == Support::kYes || p.gbpages_check == GbPagesCheck::kIgnore;

  const bool write = a.kind == AccessKind::kWrite || a.kind == AccessKind::kShadowStackWrite;
  const bool fetch = a.kind == AccessKind::kFetch;
  const bool shadow =
      a.kind == AccessKind::kShadowStackRead || a.kind == AccessKind::kShadowStackWrite;
  bool user_mode = a.cpl == 3;
  if (a.origin == AccessOrigin::kImplicitSupervisor) user_mode = false;
  if (a.origin == AccessOrigin::kWruss) user_mode = shadow || a.cpl == 3;

  u32 base_code = 0;  // PF2, PF3, PF5, PF7
  if (write) base_code |= 2;
  if (user_mode) base_code |= 4;
  if (fetch && (smep || nxe)) base_code |= 16;
  if (shadow) base_code |= 64;

  u64 table = s.cr3 & addr_bits;
  bool w_all = true, u_all = true, xd_any = false, w_nonleaf = true;
  u64 e = 0;
  u64 page = 0;
  int leaf_index = -1;
  for (int lvl = levels; lvl >= 1; --lvl) {
    const u64 addr = table + 8 * ((v >> (12 + 9 * (lvl - 1))) & 511);
    if (addr + 8 > mem.size()) {
      if (p.unbacked == UnbackedMemory::kBusError) {
        res.outcome = WalkBusError{level_from_number(lvl), PAddr(addr)};
        res.path.clear();
        return res;
      }
      e = 0;
    } else {
      e = mem.load_entry(PAddr(addr)).value();
      // Tables may alias: a level reads what an upper level of this walk has just written.
      for (const auto& [a_addr, a_value] : res.path) {
        if (a_addr == addr) e = a_value;
      }
    }
    if (!(e & 1)) {
      res.outcome = PageFault{base_code, va};
      return res;
    }
    const bool ps = e & 0x80;
    bool leaf = lvl == 1 || (lvl == 2 && ps) || (lvl == 3 && ps && gb_ok);
    u64 bad = e & high_rsvd;
    if (!nxe) bad |= e & (u64{1} << 63);
    if (lvl >= 4) {
      bad |= e & 0x80;
      if (p.vendor == Vendor::kAmd) bad |= e & 0x100;
    }
    if (lvl == 3 && ps && !gb_ok) bad |= 0x80;
    if (leaf && lvl == 2) bad |= e & 0x1FE000;
    if (leaf && lvl == 3) bad |= e & 0x3FFFE000;
    if (leaf && lvl == 3 && p.gb_leaf_accessed == GbLeafAccessed::kBeforeLeafChecks &&
        !(e & high_rsvd) && (nxe || !(e >> 63))) {
      e |= 0x20;  // Q2
    }
    if (bad) {
      res.path.push_back({addr, e});
      res.outcome = PageFault{base_code | 8u | (p.rsvd_fault_p == RsvdFaultP::kSet ? 1u : 0u), va};
      return res;
    }
    if (!leaf && p.a_on_fault == AOnFault::kProgressive) e |= 0x20;
    w_all = w_all && (e & 2);
    u_all = u_all && (e & 4);
    if (nxe && (e >> 63)) xd_any = true;
    if (!leaf) w_nonleaf = w_nonleaf && (e & 2);
    res.path.push_back({addr, e});
    if (leaf) {
      page = u64{1} << (12 + 9 * (lvl - 1));
      leaf_index = static_cast<int>(res.path.size()) - 1;
      break;
    }
    table = e & addr_bits;
  }

  // Section 4 once more, rule by rule.
  const bool dirty = e & 0x40;
  bool deny = false;
  bool pk = false;
  const bool smap_blocks =
      smap &&
      (a.origin == AccessOrigin::kImplicitSupervisor
           ? !(p.implicit_smap == ImplicitSmap::kHonourAcBelowCpl3 && a.cpl < 3 && a.ac == Ac::kSet)
           : a.ac == Ac::kClear);
  if (user_mode && !u_all) deny = true;  // AR1
  if (fetch) {
    if (!user_mode && u_all && smep) deny = true;  // AR7
    if (xd_any) deny = true;                       // AR6-AR8
  } else if (shadow) {
    const bool ss_page = w_nonleaf && !w_all && dirty;  // SS1
    if (!ss_page) deny = true;
    if (!user_mode && u_all) deny = true;  // SS2
  } else if (write) {
    if (user_mode && !w_all) deny = true;                 // AR2
    if (!user_mode && u_all && smap_blocks) deny = true;  // AR5/AR9
    if (!user_mode && wp && !w_all) deny = true;          // AR4/AR5
  } else if (!user_mode && u_all && smap_blocks) {
    deny = true;  // AR9
  }
  if (!fetch) {
    const bool skip =
        user_mode && !u_all && p.pk_user_to_supervisor == PkUserToSupervisor::kOmit;  // Q5
    const bool on = u_all ? pke : pks;
    if (on && !skip) {
      const u32 reg = u_all ? s.pkru : s.pkrs;
      const unsigned key = static_cast<unsigned>((e >> 59) & 0xF);
      if ((reg >> (2 * key)) & 1) pk = true;                                      // AD
      if (((reg >> (2 * key + 1)) & 1) && write && (user_mode || wp)) pk = true;  // WD
    }
  }
  if (deny || pk) {
    // The leaf is not written on a rights fault (AD4); drop a Q2 early A only if none was set.
    res.outcome = PageFault{base_code | 1u | (pk ? 32u : 0u), va};
    return res;
  }
  if (p.a_on_fault == AOnFault::kNone) {
    for (int i = 0; i < leaf_index; ++i) res.path[i].second |= 0x20;
  }
  e |= 0x20;
  if (write) e |= 0x40;
  res.path[leaf_index].second = e;
  Ok ok;
  ok.pa = PAddr((e & addr_bits & ~(page - 1)) | (v & (page - 1)));
  ok.page_size = page == 4096 ? PageSize::k4K : page == (2 << 20) ? PageSize::k2M : PageSize::k1G;
  res.outcome = ok;
  return res;
}

}  // namespace pagesim::mmu::testing
