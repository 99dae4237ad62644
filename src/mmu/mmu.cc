#include "mmu/mmu.h"

#include <fmt/format.h>

#include "mmu/entry_bits.h"
#include "mmu/memory_type.h"

namespace pagesim::mmu {

namespace {

constexpr u64 kCr4Pse = u64{1} << 4;
constexpr u64 kCr3ReservedLow = 0;  // CR3[11:0] is PCID or PWT/PCD/ignored: never reserved
constexpr u64 kEferSce = u64{1} << 0;
// EFER bits software may write: SCE, LME, LMA (read-only, ignored), NXE, SVME, LMSLE, FFXSR,
// TCE. Everything else is reserved.
constexpr u64 kEferDefined = kEferSce | reg::kEferLme | reg::kEferLma | reg::kEferNxe |
                             (u64{1} << 12) | (u64{1} << 13) | (u64{1} << 14) | (u64{1} << 15);

CpuFault gp(std::string reason) {
  return CpuFault{CpuFault::Kind::kGeneralProtection, std::move(reason)};
}

// C3: the bits of a CR3 value that are reserved: 63:M (bit 63 is the no-invalidate hint when
// CR4.PCIDE=1 and is handled by the caller).
constexpr u64 cr3_reserved(unsigned maxphyaddr) {
  return ~((u64{1} << maxphyaddr) - 1) | kCr3ReservedLow;
}

// The feature a CR4 bit needs from the CPU model, if any.
Result<void, std::string> check_cr4_features(u64 cr4, u64 cr0, const Profile& p) {
  auto need = [&](u64 bit, Support s, std::string_view what) -> Result<void, std::string> {
    if ((cr4 & bit) && s == Support::kNo) {
      return Err{
          fmt::format("CR4.{} is set but the CPU model ({}) does not support it", what, p.name)};
    }
    return {};
  };
  PAGESIM_TRY(need(reg::kCr4Pge, p.pge, "PGE"));
  PAGESIM_TRY(need(reg::kCr4La57, p.la57, "LA57"));
  PAGESIM_TRY(need(reg::kCr4Pcide, p.pcid, "PCIDE"));
  PAGESIM_TRY(need(reg::kCr4Smep, p.smep, "SMEP"));
  PAGESIM_TRY(need(reg::kCr4Smap, p.smap, "SMAP"));
  PAGESIM_TRY(need(reg::kCr4Pke, p.pku, "PKE"));
  PAGESIM_TRY(need(reg::kCr4Pks, p.pks, "PKS"));
  PAGESIM_TRY(need(reg::kCr4Cet, p.cet_ss, "CET"));
  if ((cr4 & reg::kCr4Cet) && !(cr0 & reg::kCr0Wp)) {
    return Err{std::string("CR4.CET requires CR0.WP=1")};
  }
  if (cr4 >> 32) return Err{fmt::format("CR4 bits 63:32 are reserved ({:#x})", cr4)};
  return {};
}

}  // namespace

std::string_view translation_source_name(TranslationSource s) {
  switch (s) {
    case TranslationSource::kNone:
      return "none";
    case TranslationSource::kL1Hit:
      return "L1 TLB hit";
    case TranslationSource::kL2Hit:
      return "L2 TLB hit";
    case TranslationSource::kPscWalk:
      return "PSC-assisted walk";
    case TranslationSource::kWalk:
      return "full walk";
  }
  return "?";
}

Mmu::Mmu(PhysMem& mem, const Profile& profile, const TlbShape& shape)
    : profile_(profile), walker_(mem, profile), tlb_(shape) {
  const auto valid = profile_.validate();
  PAGESIM_ASSERT(valid.ok(), "invalid profile: {}", valid.ok() ? "" : valid.error());
  has_psc_ = !shape.psc.empty();
  CpuState s;
  s.cr3 = 0;
  if (profile_.nx == Support::kNo) s.efer &= ~reg::kEferNxe;
  apply_state(s);
}

void Mmu::apply_state(const CpuState& s) {
  tlb_.bump_generation();  // every memoized hit was decided under the old registers
  state_ = s;
  pcid_ = s.pcid();
  levels_ = s.levels();
  walker_.configure(s);
}

Result<void, std::string> Mmu::set_state(const CpuState& s) {
  if (!(s.cr0 & reg::kCr0Pg) || !(s.cr0 & reg::kCr0Pe)) {
    return Err{
        fmt::format("CR0 {:#x}: pagesim models IA-32e paging, so CR0.PG and CR0.PE must be "
                    "1",
                    s.cr0)};
  }
  if (s.cr0 >> 32) return Err{fmt::format("CR0 bits 63:32 are reserved ({:#x})", s.cr0)};
  if (!(s.cr4 & reg::kCr4Pae)) {
    return Err{fmt::format("CR4 {:#x}: IA-32e paging needs CR4.PAE=1", s.cr4)};
  }
  if (!(s.efer & reg::kEferLme) || !(s.efer & reg::kEferLma)) {
    return Err{fmt::format("EFER {:#x}: IA-32e paging needs EFER.LME=LMA=1", s.efer)};
  }
  if (s.efer & ~kEferDefined) return Err{fmt::format("EFER {:#x} has reserved bits set", s.efer)};
  if ((s.efer & reg::kEferNxe) && profile_.nx == Support::kNo) {
    return Err{fmt::format("EFER.NXE is set but the CPU model ({}) has no NX", profile_.name)};
  }
  if (auto r = check_cr4_features(s.cr4, s.cr0, profile_); !r.ok()) return Err{r.error()};
  if (const u64 bad = s.cr3 & cr3_reserved(profile_.maxphyaddr)) {
    // C4: a state that sets CR3 directly with reserved bits is bad input, not a walk outcome.
    return Err{
        fmt::format("CR3 {:#x} has reserved bits {:#x} set (bits 63:{} with MAXPHYADDR "
                    "{}, C3/C4)",
                    s.cr3, bad, profile_.maxphyaddr, profile_.maxphyaddr)};
  }
  if (s.cpl > 3) return Err{fmt::format("CPL {} is not 0..3", s.cpl)};
  if (!valid_pat_msr(s.pat)) {
    return Err{fmt::format("IA32_PAT {:#x} has a reserved memory type (MT2)", s.pat)};
  }
  apply_state(s);
  tlb_.invalidate_all();
  ++stats_.full_flushes;
  return {};
}

void Mmu::invalidate_for_fault(VAddr va) {
  // INV6, PF10: entries usable for va under the current PCID, globals included, and the PSC
  // entries on va's path, so that a fault caused only by stale cached data happens at most once.
  tlb_.invalidate_page(va, pcid_, Globals::kDrop);
  if (has_psc_) tlb_.psc_invalidate_path(va, pcid_);
  ++stats_.fault_invalidations;
}

void Mmu::walk_and_fill(Translation& t, VAddr va, const Access& a, unsigned cls, WalkRecord* record,
                        Rewalk why) {
  t.rewalk = why;
  std::optional<WalkStart> start;
  if (has_psc_) start = tlb_.psc_lookup(va, pcid_, levels_);
  // The walker writes the outcome in place (a copy of a freshly written Ok would be read back
  // in wider loads than it was stored with, which stalls store forwarding).
  walker_.walk(va, a, cls, start ? &*start : nullptr, record,
               has_psc_ ? Walker::CollectSteps::kYes : Walker::CollectSteps::kNo, t.outcome,
               steps_);
  t.source = start ? TranslationSource::kPscWalk : TranslationSource::kWalk;
  if (start) {
    ++stats_.psc_walks;
  } else {
    ++stats_.full_walks;
  }
  if (const Ok* ok = std::get_if<Ok>(&t.outcome)) [[likely]] {
    // T1, T3: only a successful walk fills; its entries all have A=1 by now.
    tlb_.fill(va, *ok, a.port(), pcid_, FillContext::kAfterMiss);
    if (has_psc_) {
      for (u8 i = 0; i < steps_.count; ++i) {
        tlb_.psc_fill(va, pcid_, steps_.non_leaf[i]);  // T12
      }
    }
  } else if (std::holds_alternative<PageFault>(t.outcome)) {
    ++stats_.page_faults;
    invalidate_for_fault(va);
  } else if (std::holds_alternative<WalkBusError>(t.outcome)) {
    ++stats_.bus_errors;
  }
}

void Mmu::unusable_hit(Translation& t, VAddr va, const Access& a, unsigned cls, const TlbHit& hit,
                       RightsDecision d, WalkRecord* record) {
  Rewalk why = Rewalk::kNo;
  if (d.allowed()) {
    why = Rewalk::kDirtyRule;  // T6: a clean entry cannot complete a write
    ++stats_.dirty_rewalks;
  } else if (profile_.tlb_deny_policy == TlbDenyPolicy::kSpuriousFault) {
    // T7 spurious_fault: the fault the cached rights give, then INV6.
    ++stats_.spurious_faults;
    ++stats_.page_faults;
    t.outcome = PageFault{rights_error_code(a, walker_.rights_context(), d), va};
    t.source = hit.level == TlbLevel::kL1 ? TranslationSource::kL1Hit : TranslationSource::kL2Hit;
    t.spurious = Translation::Spurious::kYes;
    if (record) record->end = WalkEnd::kRightsDenied;
    invalidate_for_fault(va);
    return;
  } else {
    why = Rewalk::kDeniedHit;  // T7 rewalk
    ++stats_.deny_rewalks;
  }
  tlb_.drop(va, hit);
  walk_and_fill(t, va, a, cls, record, why);
}

void Mmu::translate_full(Translation& t, VAddr va, const Access& a, unsigned cls,
                         WalkRecord* record) {
  ++stats_.translations;
  if (!is_canonical(va, levels_)) [[unlikely]] {
    // L3: no TLB lookup, no walk; the walker builds the outcome and the record.
    ++stats_.non_canonical;
    walker_.walk(va, a, cls, nullptr, record, Walker::CollectSteps::kNo, t.outcome, steps_);
    return;
  }
  const TlbHit hit = tlb_.lookup(va, a.port(), pcid_);
  if (!hit) {
    walk_and_fill(t, va, a, cls, record, Rewalk::kNo);
    return;
  }
  const TlbPayload& e = *hit.entry;
  // T5, AR11, D4: rights from the cached values and the control state of this moment (an
  // allowed access from the rights memo; anything else, or a record, from the full decision).
  const bool usable = !(a.is_write() && e.dirty == Dirty::kNo);  // T6
  if (record == nullptr && usable && walker_.rights_allow(cls, e.rights, e.dirty, e.pkey, a))
      [[likely]] {
    served_by(t, hit, va);
    if (hit.level == TlbLevel::kL1) {
      remember(memo_[(va.value() >> kFrameShift) & (kMemoSize - 1)], memo_key(va, cls), hit,
               a.port(), std::get<Ok>(t.outcome));
    }
    return;
  }
  const RightsDecision d = evaluate_rights(e.rights, e.dirty, e.pkey, a, walker_.rights_context());
  if (record) {
    record->reset(va, a, levels_);
    record->rights = e.rights;
    record->rights_evaluated = RightsEvaluated::kYes;
    record->decision = d;
  }
  if (d.allowed() && usable) {
    served_by(t, hit, va);
    if (hit.level == TlbLevel::kL1 && cls != RightsMemo::kNoClass) {
      remember(memo_[(va.value() >> kFrameShift) & (kMemoSize - 1)], memo_key(va, cls), hit,
               a.port(), std::get<Ok>(t.outcome));
    }
    return;
  }
  unusable_hit(t, va, a, cls, hit, d, record);
}

SpanTranslation Mmu::translate_span(VAddr va, u64 size, const Access& a) {
  PAGESIM_ASSERT(size >= 1 && size <= kFrameSize, "translate_span of {} bytes", size);
  SpanTranslation out;
  const VAddr last = va + (size - 1);
  const bool straddles = (va.value() >> kFrameShift) != (last.value() >> kFrameShift);
  const VAddr second = last.align_down(kFrameSize);
  // L5: the canonical test of every byte (the first byte of each page suffices) precedes any
  // translation.
  const bool first_ok = is_canonical(va, levels_);
  if (!first_ok || (straddles && !is_canonical(second, levels_))) {
    ++stats_.translations;
    ++stats_.non_canonical;
    walker_.walk(first_ok ? second : va, a, RightsMemo::access_class(a), nullptr, nullptr,
                 Walker::CollectSteps::kNo, out.pages[0].outcome, steps_);
    out.count = 1;
    return out;
  }
  out.pages[out.count++] = translate(va, a);
  if (!straddles || !std::holds_alternative<Ok>(out.pages[0].outcome)) return out;
  // CR2 for a fault in the second page is that page's base (L5).
  out.pages[out.count++] = translate(second, a);
  return out;
}

Result<void, CpuFault> Mmu::require_cpl0(std::string_view what) const {
  if (state_.cpl != 0) return Err{gp(fmt::format("{} at CPL {} (needs CPL 0)", what, state_.cpl))};
  return {};
}

Result<void, CpuFault> Mmu::mov_to_cr0(u64 value) {
  PAGESIM_TRY(require_cpl0("MOV to CR0"));
  if (value >> 32) return Err{gp(fmt::format("CR0 bits 63:32 are reserved ({:#x})", value))};
  if ((value & reg::kCr0Pg) && !(value & reg::kCr0Pe)) {
    return Err{gp("CR0.PG=1 with CR0.PE=0")};
  }
  if (!(value & reg::kCr0Pg)) {
    return Err{CpuFault{CpuFault::Kind::kUnsupported,
                        "clearing CR0.PG leaves IA-32e paging, which pagesim does not model "
                        "(INV5 would flush every TLB)"}};
  }
  if (!(value & reg::kCr0Wp) && (state_.cr4 & reg::kCr4Cet)) {
    return Err{gp("clearing CR0.WP while CR4.CET=1")};
  }
  const u64 changed = state_.cr0 ^ value;
  CpuState s = state_;
  s.cr0 = value;
  apply_state(s);
  // INV5: changing CR0.WP invalidates nothing (rights are evaluated at every access, D4). Q8:
  // QEMU flushes its whole TLB on PG/PE/WP changes.
  if (profile_.flush_scope == FlushScope::kWholeTlb &&
      (changed & (reg::kCr0Pg | reg::kCr0Pe | reg::kCr0Wp))) {
    flush_all();
  }
  return {};
}

Result<void, CpuFault> Mmu::mov_to_cr3(u64 value) {
  PAGESIM_TRY(require_cpl0("MOV to CR3"));
  const bool pcide = state_.pcide();
  // C3: with PCIDE=1, bit 63 is the no-invalidate hint and is not stored.
  const bool no_flush = pcide && (value & reg::kCr3NoFlush);
  const u64 loaded = no_flush ? value & ~reg::kCr3NoFlush : value;
  if (const u64 bad = loaded & cr3_reserved(profile_.maxphyaddr)) {
    return Err{gp(fmt::format("C3: MOV to CR3 {:#x} sets reserved bits {:#x} (63:{}{})", value, bad,
                              profile_.maxphyaddr,
                              pcide ? "" : "; bit 63 is reserved while CR4.PCIDE=0"))};
  }
  CpuState s = state_;
  s.cr3 = loaded;
  apply_state(s);
  ++stats_.cr3_loads;
  if (profile_.flush_scope == FlushScope::kWholeTlb) {
    flush_all();  // Q8: QEMU flushes everything, globals included, on every CR3 write
    return {};
  }
  if (no_flush) {
    ++stats_.cr3_no_flush;  // INV3: nothing
    return {};
  }
  // INV3: the non-global entries and PSC entries of the PCID being loaded (000H if PCIDE=0).
  tlb_.invalidate_pcid(pcid_, Globals::kKeep);
  if (has_psc_) tlb_.psc_invalidate_pcid(pcid_);
  return {};
}

Result<void, CpuFault> Mmu::mov_to_cr4(u64 value) {
  PAGESIM_TRY(require_cpl0("MOV to CR4"));
  const u64 old = state_.cr4;
  const u64 changed = old ^ value;
  if (auto r = check_cr4_features(value, state_.cr0, profile_); !r.ok()) {
    return Err{gp(r.error())};
  }
  if (!(value & reg::kCr4Pae)) return Err{gp("clearing CR4.PAE while EFER.LMA=1")};
  if (changed & reg::kCr4La57) return Err{gp("L7: CR4.LA57 cannot change while EFER.LMA=1")};
  if (!(old & reg::kCr4Pcide) && (value & reg::kCr4Pcide) && (state_.cr3 & reg::kCr3PcidMask)) {
    return Err{gp(fmt::format("C2: setting CR4.PCIDE while CR3[11:0] = {:#x} is not 0",
                              state_.cr3 & reg::kCr3PcidMask))};
  }
  CpuState s = state_;
  s.cr4 = value;
  apply_state(s);
  // INV4.
  const bool pcide_cleared = (old & reg::kCr4Pcide) && !(value & reg::kCr4Pcide);
  const bool all = (changed & reg::kCr4Pge) || pcide_cleared;
  const bool smep_set = !(old & reg::kCr4Smep) && (value & reg::kCr4Smep);
  const u64 qemu_flush_bits =
      reg::kCr4Pge | reg::kCr4Pae | kCr4Pse | reg::kCr4Smep | reg::kCr4Smap | reg::kCr4La57;
  if (all || (profile_.flush_scope == FlushScope::kWholeTlb && (changed & qemu_flush_bits))) {
    flush_all();
  } else if (smep_set) {
    // Setting SMEP: the current PCID's entries; pagesim drops the global ones too (the SDM
    // does not say; the checker accepts either).
    tlb_.invalidate_pcid(pcid_, Globals::kDrop);
    if (has_psc_) tlb_.psc_invalidate_pcid(pcid_);
  }
  return {};
}

Result<void, CpuFault> Mmu::write_efer(u64 value) {
  PAGESIM_TRY(require_cpl0("WRMSR IA32_EFER"));
  if (value & ~kEferDefined) return Err{gp(fmt::format("EFER {:#x} sets reserved bits", value))};
  if ((value & reg::kEferNxe) && profile_.nx == Support::kNo) {
    return Err{gp("EFER.NXE on a CPU model without NX")};
  }
  if ((value ^ state_.efer) & reg::kEferLme) return Err{gp("changing EFER.LME while CR0.PG=1")};
  CpuState s = state_;
  s.efer = (value & ~reg::kEferLma) | (state_.efer & reg::kEferLma);  // LMA is read-only
  const bool nxe_changed = (s.efer ^ state_.efer) & reg::kEferNxe;
  apply_state(s);
  // INV8: not specified by the SDM; pagesim flushes everything (the checker accepts either).
  if (nxe_changed) flush_all();
  return {};
}

Result<void, CpuFault> Mmu::wrpkru(u32 value) {
  if (!state_.pke()) {
    return Err{CpuFault{CpuFault::Kind::kInvalidOpcode, "WRPKRU with CR4.PKE=0"}};
  }
  CpuState s = state_;
  s.pkru = value;
  apply_state(s);
  // PK7, INV7: nothing to invalidate. Q8: QEMU flushes (its TLB caches effective permissions).
  if (profile_.flush_scope == FlushScope::kWholeTlb) flush_all();
  return {};
}

Result<void, CpuFault> Mmu::write_pkrs(u64 value) {
  PAGESIM_TRY(require_cpl0("WRMSR IA32_PKRS"));
  if (profile_.pks == Support::kNo) return Err{gp("IA32_PKRS does not exist without PKS")};
  if (value >> 32) return Err{gp(fmt::format("IA32_PKRS bits 63:32 are reserved ({:#x})", value))};
  CpuState s = state_;
  s.pkrs = static_cast<u32>(value);
  apply_state(s);
  if (profile_.flush_scope == FlushScope::kWholeTlb) flush_all();  // Q8
  return {};
}

Result<void, CpuFault> Mmu::write_pat(u64 value) {
  PAGESIM_TRY(require_cpl0("WRMSR IA32_PAT"));
  if (!valid_pat_msr(value)) {
    return Err{gp(fmt::format("IA32_PAT {:#x} has a reserved memory type (MT2)", value))};
  }
  CpuState s = state_;
  s.pat = value;
  apply_state(s);
  // TLB entries keep the PAT index; the type is read from IA32_PAT at every use.
  return {};
}

Result<void, CpuFault> Mmu::invlpg(VAddr va) {
  PAGESIM_TRY(require_cpl0("INVLPG"));
  ++stats_.invlpg;
  if (!is_canonical(va, levels_)) return {};  // INV1: a no-op, no fault
  // INV1: every entry containing va (any size, global or current PCID) and all PSC entries of
  // the current PCID.
  tlb_.invalidate_page(va, pcid_, Globals::kDrop);
  if (has_psc_) tlb_.psc_invalidate_pcid(pcid_);
  return {};
}

Result<void, CpuFault> Mmu::invpcid(u64 type, InvpcidDescriptor d) {
  PAGESIM_TRY(require_cpl0("INVPCID"));
  if (profile_.pcid == Support::kNo) {
    return Err{CpuFault{CpuFault::Kind::kInvalidOpcode,
                        fmt::format("INVPCID on a CPU model without PCIDs ({})", profile_.name)}};
  }
  if (type > 3) return Err{gp(fmt::format("INVPCID type {} (only 0-3 exist)", type))};
  if (d.pcid_qword >> 12) {
    return Err{gp(fmt::format("INVPCID descriptor bits 63:12 are not 0 ({:#x})", d.pcid_qword))};
  }
  const u16 pcid = static_cast<u16>(d.pcid_qword);
  if (type == 0 && !is_canonical(d.la, levels_)) {
    return Err{gp(fmt::format("INVPCID type 0 with a non-canonical address {}", d.la))};
  }
  if (type <= 1 && !state_.pcide() && pcid != 0) {
    return Err{gp(fmt::format("INVPCID type {} for PCID {} while CR4.PCIDE=0", type, pcid))};
  }
  ++stats_.invpcid[type];
  switch (static_cast<InvpcidType>(type)) {
    case InvpcidType::kIndividualAddress:
      tlb_.invalidate_page(d.la, pcid, Globals::kKeep);
      if (has_psc_) tlb_.psc_invalidate_pcid(pcid);
      break;
    case InvpcidType::kSingleContext:
      tlb_.invalidate_pcid(pcid, Globals::kKeep);
      if (has_psc_) tlb_.psc_invalidate_pcid(pcid);
      break;
    case InvpcidType::kAllContextsWithGlobals:
      flush_all();
      break;
    case InvpcidType::kAllContextsNoGlobals:
      tlb_.invalidate_non_global();
      if (has_psc_) tlb_.psc_invalidate_all();
      break;
  }
  return {};
}

void Mmu::set_cpl(u8 cpl) {
  PAGESIM_ASSERT(cpl <= 3, "CPL {}", cpl);
  state_.cpl = cpl;
}

void Mmu::set_ac(Ac ac) { state_.ac = ac == Ac::kSet; }

void Mmu::flush_all() {
  tlb_.invalidate_all();
  ++stats_.full_flushes;
}

void Mmu::reset_stats() {
  stats_ = MmuStats{};
  walker_.reset_stats();
  tlb_.reset_stats();
}

std::string Mmu::stats_report() const {
  return format_stats(stats_, walker_.stats(), tlb_.stats(), tlb_.shape());
}

}  // namespace pagesim::mmu
