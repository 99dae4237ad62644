#include "mmu/walker.h"

#include "mmu/entry_bits.h"

namespace pagesim::mmu {

namespace {

constexpr Level lower(Level l) { return level_from_number(level_number(l) - 1); }

}  // namespace

Walker::Walker(PhysMem& mem, const Profile& profile) : mem_(mem), profile_(profile) {
  configure(CpuState{});
}

void Walker::configure(const CpuState& s) {
  levels_ = s.levels();                                   // W1
  addr_mask_ = entry::address_mask(profile_.maxphyaddr);  // M2
  root_ = PAddr(s.cr3 & addr_mask_);                      // C1, C2, C4: CR3[M-1:12]
  // MT3: the root table is read with CR3.PCD/PWT (bits 4 and 3, the same positions as in an
  // entry) when CR4.PCIDE=0, and with PAT index 0 when PCIDE=1.
  root_pat_ = s.pcide() ? 0 : static_cast<u8>(entry::table_pat_index(s.cr3));
  nxe_ = s.nxe() ? Support::kYes : Support::kNo;
  pge_ = s.pge() ? Support::kYes : Support::kNo;
  pat_msr_ = s.pat;
  rsvd_ = ReservedMasks::make(profile_.maxphyaddr, nxe_, profile_.vendor);
  rights_ = RightsContext::from(s, profile_);
  // W7, R6, Q3.
  gb_leaf_ok_ =
      profile_.gbpages == Support::kYes || profile_.gbpages_check == GbPagesCheck::kIgnore;
  // W7 and R2-R7 by level. A PTE is always a leaf; PS makes a PDE a 2 MiB leaf and a PDPTE a
  // 1 GiB leaf (or, without 1 GiB pages, a reserved bit: R6); PS is reserved in PML5E/PML4E.
  ps_leaf_ = {false, true, true, gb_leaf_ok_, false, false};
  leaf_mask_ = {0, rsvd_.base, rsvd_.leaf_2m, rsvd_.leaf_1g, 0, 0};
  table_mask_ = {0,          0,
                 rsvd_.base, gb_leaf_ok_ ? rsvd_.base : rsvd_.pdpte_ps_unsupported,
                 rsvd_.top,  rsvd_.top};
  for (int n = 2; n <= kMaxLevels; ++n) {
    fast_table_check_[n] = entry::kP | entry::kA | (ps_leaf_[n] ? entry::kPs : 0) | table_mask_[n];
  }
  entry_limit_ = mem_.size() - 8;  // RAM is a non-zero multiple of 4 KiB
  rights_memo_.set_context(rights_);
}

Walker::CasResult Walker::set_bits(PAddr pa, u64 seen, u64 bits) {
  // The entry was just loaded from `pa`, so it is inside RAM (an unbacked entry reads as 0, is
  // never present, and never reaches an A/D update).
  std::atomic_ref<u64> ref = mem_.entry(pa);
  if (profile_.ad_update == AdUpdate::kCas64RestartWalk) {
    // AD5: the whole entry must still hold the value the walk read; otherwise software changed
    // it and the walk must see the new value (a lost software store would be a lost unmap).
    u64 expected = seen;
    if (ref.compare_exchange_strong(expected, seen | bits, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
      ++stats_.ad_writes;
      return CasResult::kDone;
    }
    ++stats_.cas_failures;
    return CasResult::kFailed;
  }
  // Q7: QEMU's compare-and-swap covers bits 31:0 only (P, A and D live there). Emulated with a
  // 64-bit CAS loop that succeeds whenever bits 31:0 still equal those the walk read; a change
  // of bits 63:32 alone does not fail it.
  u64 cur = ref.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<u32>(cur) != static_cast<u32>(seen)) {
      ++stats_.cas_failures;
      return CasResult::kFailed;
    }
    if (ref.compare_exchange_weak(cur, cur | bits, std::memory_order_acq_rel,
                                  std::memory_order_acquire)) {
      ++stats_.ad_writes;
      return CasResult::kDone;
    }
  }
}

WalkResult Walker::walk(VAddr va, const Access& a, const WalkStart* start, WalkRecord* rec) {
  WalkResult out;
  walk(va, a, start, rec, CollectSteps::kYes, out);
  return out;
}

void Walker::walk(VAddr va, const Access& a, const WalkStart* start, WalkRecord* rec,
                  CollectSteps collect, WalkResult& out) {
  walk_to(va, a, RightsMemo::access_class(a), start, rec, collect, out.outcome, out.non_leaf.data(),
          out.non_leaf_count);
}

void Walker::walk(VAddr va, const Access& a, unsigned cls, const WalkStart* start, WalkRecord* rec,
                  CollectSteps collect, Outcome& out, NonLeafSteps& steps) {
  walk_to(va, a, cls, start, rec, collect, out, steps.non_leaf.data(), steps.count);
}

void Walker::walk_to(VAddr va, const Access& a, unsigned cls, const WalkStart* start,
                     WalkRecord* rec, CollectSteps collect, Outcome& out, NonLeafStep* steps,
                     u8& count) {
  if (rec) {
    walk_impl<Recording::kOn, CollectSteps::kYes>(va, a, start, rec, out, steps, count);
  } else if (collect == CollectSteps::kYes) {
    if (is_canonical(va, levels_) &&
        walk_fast<CollectSteps::kYes>(va, a, cls, start, out, steps, count)) [[likely]] {
      return;
    }
    walk_impl<Recording::kOff, CollectSteps::kYes>(va, a, start, nullptr, out, steps, count);
  } else {
    if (is_canonical(va, levels_) &&
        walk_fast<CollectSteps::kNo>(va, a, cls, start, out, steps, count)) [[likely]] {
      return;
    }
    walk_impl<Recording::kOff, CollectSteps::kNo>(va, a, start, nullptr, out, steps, count);
  }
}

template <Walker::CollectSteps C>
bool Walker::walk_fast(VAddr va, const Access& a, unsigned cls, const WalkStart* start,
                       Outcome& out, NonLeafStep* steps, u8& count) {
  constexpr bool kSteps = C == CollectSteps::kYes;
  // Copies of the digested state: the acquire loads below keep the compiler from reusing
  // members it read before them, locals it keeps in registers.
  const u64 v = va.value();
  const u64 limit = entry_limit_;
  const u64 amask = addr_mask_;
  PhysMem& mem = mem_;
  int n = levels_;
  u64 table = root_.value();
  u8 tpat = root_pat_;
  // D3 as bit masks: the AND of every entry (R/W, U/S), the AND of the non-leaf entries (R/W,
  // for SS1) and the OR of every entry (XD); folding is commutative, so this is Rights::fold.
  u64 and_all = ~u64{0}, and_table = ~u64{0}, or_all = 0;
  Rights acc;  // the running fold, for the steps only
  if (start) {
    // T13: the levels above start->level come from a paging-structure-cache entry.
    n = level_number(start->level);
    table = start->table.value();
    tpat = start->table_pat_index;
    acc = start->rights;
  }
  const int top = n;
  u8 nsteps = 0;
  u64 e = 0;
  u64 addr = 0;
  // Undoes the entry-read counts of levels top..first (walk_impl counts its own reads).
  auto give_up = [&](int first) {
    for (int k = first; k <= top; ++k) --stats_.entry_reads[k];
    return false;
  };
  for (;;) {
    addr = table + ((v >> (9 * n)) & 0xff8);  // W3: table + 8 * VA[12+9(n-1)+8 : 12+9(n-1)]
    // Section 0: an entry outside RAM is never read; walk_impl gives its outcome.
    if (addr > limit) [[unlikely]]
      return give_up(n + 1);
    e = mem.entry(PAddr(addr)).load(std::memory_order_acquire);  // W8
    ++stats_.entry_reads[n];
    if (n == 1 || ((e ^ (entry::kP | entry::kA)) & fast_table_check_[n])) break;
    // A present, accessed non-leaf entry without reserved bits (F1, F2, W7, AD4: nothing to
    // write).
    and_all &= e;
    and_table &= e;
    or_all |= e;
    const u64 next = e & amask;  // W4
    if constexpr (kSteps) {
      acc.fold(e, nxe_, EntryRole::kNonLeaf);
      const u8 next_pat = static_cast<u8>(entry::table_pat_index(e));
      NonLeafStep& step = steps[nsteps++];
      step.level = level_from_number(n);
      step.entry_address = PAddr(addr);
      step.value = e;
      step.next_table = PAddr(next);
      step.rights = acc;
      step.next_table_pat = next_pat;
      tpat = next_pat;
    }
    table = next;
    --n;
  }
  (void)tpat;

  // F1, R1: P=0 ends the walk whatever the other bits hold (nothing above it needed A).
  if (!(e & entry::kP)) [[unlikely]] {
    out.emplace<PageFault>(PageFault{not_present_error_code(a, rights_), va});
    count = 0;
    ++stats_.walks;
    return true;
  }
  // W7: the leaf, unless this is a non-leaf entry that needs A or has a reserved bit; R2-R7 of
  // the leaf; AD1: a leaf without A needs a compare-and-swap (and Q2 sets a 1 GiB leaf's A
  // before its checks). All of these are walk_impl's.
  const bool leaf = n == 1 || ((e & entry::kPs) && ps_leaf_[n]);
  if (!leaf || ((e ^ entry::kA) & (entry::kA | leaf_mask_[n]))) [[unlikely]] {
    return give_up(n);
  }
  and_all &= e;
  or_all |= e;
  Rights r = start ? start->rights : Rights{};
  if (!(and_all & entry::kRw)) r.bits &= static_cast<u8>(~Rights::kWrite);
  if (!(and_table & entry::kRw)) r.bits &= static_cast<u8>(~Rights::kNonLeafWrite);
  if (!(and_all & entry::kUs)) r.bits &= static_cast<u8>(~Rights::kUser);
  if (nxe_ == Support::kYes && (or_all & entry::kXd)) r.bits |= Rights::kXd;

  // Appendix A step 4, F3, D4: the rights, with the control state of this moment.
  const Dirty dirty = (e & entry::kD) ? Dirty::kYes : Dirty::kNo;
  const unsigned key = entry::pkey(e);
  if (!rights_memo_.allows(cls, r, dirty, key, a)) [[unlikely]] {
    // AD4: no A/D on a rights violation (and every A on the path is already set).
    const RightsDecision d = evaluate_rights(r, dirty, key, a, rights_);
    out.emplace<PageFault>(PageFault{rights_error_code(a, rights_, d), va});
    count = 0;
    ++stats_.walks;
    return true;
  }
  // AD2, AD3: a write through a leaf without D sets it by compare-and-swap: walk_impl's.
  if (a.is_write() && dirty == Dirty::kNo) [[unlikely]]
    return give_up(n);

  // W5, W6, MT1, MT2, T2: written in place (no temporary to copy).
  const PageSize size = page_size_of_leaf(level_from_number(n));
  const unsigned pat_index = entry::leaf_pat_index(e, size);
  Ok& ok = out.emplace<Ok>();
  ok.pa = PAddr((e & amask & ~(page_bytes(size) - 1)) | (v & (page_bytes(size) - 1)));
  ok.page_size = size;
  ok.attrs.rights = r;
  ok.attrs.global = (pge_ == Support::kYes && (e & entry::kG)) ? Global::kYes : Global::kNo;
  ok.attrs.pat_index = static_cast<u8>(pat_index);
  ok.attrs.memory_type = pat_type(pat_msr_, pat_index);
  ok.attrs.pkey = static_cast<u8>(key);
  ok.attrs.dirty = dirty;
  count = kSteps ? nsteps : 0;
  ++stats_.walks;
  return true;
}

template <Walker::Recording R>
Walker::AfterSetA Walker::set_accessed(PAddr addr, u64& e, WalkRecord* rec, LevelRecord* r) {
  constexpr bool kRec = R == Recording::kOn;
  if (set_bits(addr, e, entry::kA) == CasResult::kFailed) {
    ++stats_.restarts;
    if constexpr (kRec) ++rec->restarts;
    if (profile_.ad_update == AdUpdate::kCas32RestartLevel) {
      if constexpr (kRec) --rec->count;  // Q7: re-read this level only
      return AfterSetA::kRereadLevel;
    }
    return AfterSetA::kRestart;
  }
  e |= entry::kA;
  if constexpr (kRec) {
    r->raw_after = e;
    r->a_d_written |= static_cast<u8>(entry::kA);
  }
  return AfterSetA::kGoOn;
}

template <Walker::Recording R, Walker::CollectSteps C>
void Walker::walk_impl(VAddr va, const Access& a, const WalkStart* start, WalkRecord* rec,
                       Outcome& out, NonLeafStep* steps, u8& count) {
  constexpr bool kRec = R == Recording::kOn;
  constexpr bool kSteps = C == CollectSteps::kYes;
  if constexpr (kRec) rec->reset(va, a, levels_);
  count = 0;

  // L1-L4: the canonical test precedes every paging check; nothing is read or written.
  if (!is_canonical(va, levels_)) [[unlikely]] {
    const bool ss = profile_.non_canonical == NonCanonicalFault::kBySegment &&
                    a.segment == Segment::kSs;  // L3, Q6
    if constexpr (kRec) rec->end = WalkEnd::kNonCanonical;
    out.emplace<NonCanonical>(NonCanonical{ss ? NcVector::kSs : NcVector::kGp});
    return;
  }
  ++stats_.walks;
  const Level top = level_from_number(levels_);

  for (;;) {  // one attempt per iteration; a failed compare-and-swap restarts here (AD5)
    if constexpr (kRec) rec->count = 0;
    count = 0;
    Level lvl = top;
    PAddr table = root_;
    Rights acc;
    u8 tpat = root_pat_;
    if (start) {
      // T13: the levels above start->level come from a paging-structure-cache entry.
      if constexpr (kRec) {
        for (int n = levels_; n > level_number(start->level); --n) {
          LevelRecord& r = rec->push();
          r = LevelRecord{};
          r.level = level_from_number(n);
          r.index = static_cast<u16>(level_index(va, r.level));
          r.decision = LevelDecision::kCoveredByPsc;
          if (n == level_number(start->level) + 1) {
            r.source = EntrySource::kPscEntry;
            r.entry_address = start->psc_entry_address;
            r.raw = r.raw_after = start->psc_entry_value;
          } else {
            r.source = EntrySource::kAbovePscEntry;
          }
        }
      }
      lvl = start->level;
      table = start->table;
      acc = start->rights;
      tpat = start->table_pat_index;
    }

    u64 e = 0;
    PAddr addr;
    PageSize size = PageSize::k4K;
    LevelRecord* leaf_rec = nullptr;
    bool restart = false;

    for (;;) {  // Appendix A step 3: one level per iteration, root first
      addr = table + 8 * u64{level_index(va, lvl)};  // W3
      LevelRecord* r = nullptr;
      if constexpr (kRec) {
        r = &rec->push();
        *r = LevelRecord{};
        r->level = lvl;
        r->index = static_cast<u16>(level_index(va, lvl));
        r->entry_address = addr;
        r->table_pat_index = tpat;
      }

      // W8: one acquire load; an entry outside RAM is never read from host memory (section 0).
      if (!mem_.contains(addr, 8)) [[unlikely]] {
        if (profile_.unbacked == UnbackedMemory::kBusError) {
          if constexpr (kRec) {
            r->decision = LevelDecision::kBusError;
            rec->end = WalkEnd::kBusError;
          }
          out.emplace<WalkBusError>(WalkBusError{lvl, addr});
          count = 0;
          return;
        }
        e = 0;
        if constexpr (kRec) r->source = EntrySource::kUnbackedZero;
      } else {
        e = mem_.entry(addr).load(std::memory_order_acquire);
      }
      ++stats_.entry_reads[level_number(lvl)];
      if constexpr (kRec) r->raw = r->raw_after = e;

      // F1, R1: P=0 ends the walk whatever the other bits hold.
      if (!(e & entry::kP)) [[unlikely]] {
        if constexpr (kRec) {
          r->decision = LevelDecision::kNotPresent;
          rec->end = WalkEnd::kNotPresent;
        }
        out.emplace<PageFault>(PageFault{not_present_error_code(a, rights_), va});
        count = 0;
        return;
      }

      // W7: is this entry the leaf? And which reserved mask applies (R2-R7)?
      const int n = level_number(lvl);
      const bool leaf = lvl == Level::kPte || ((e & entry::kPs) && ps_leaf_[n]);
      const EntryRole role = leaf ? EntryRole::kLeaf : EntryRole::kNonLeaf;
      const u64 mask = leaf ? leaf_mask_[n] : table_mask_[n];
      if (leaf) size = page_size_of_leaf(lvl);

      // Q2: QEMU sets A in a 1 GiB leaf once bits 51:M and XD (R2, R4) are clean, before the
      // alignment bits (R5) and the rights are checked.
      if (role == EntryRole::kLeaf && size == PageSize::k1G &&
          profile_.gb_leaf_accessed == GbLeafAccessed::kBeforeLeafChecks && !(e & rsvd_.base) &&
          !(e & entry::kA)) {
        const AfterSetA next = set_accessed<R>(addr, e, rec, r);
        if (next == AfterSetA::kRereadLevel) continue;
        if (next == AfterSetA::kRestart) {
          restart = true;
          break;
        }
      }

      // F2, R9: the first present entry with a reserved bit ends the walk; it and the entries
      // below it are never written.
      if (const u64 bad = e & mask) [[unlikely]] {
        if constexpr (kRec) {
          r->decision = LevelDecision::kReserved;
          r->reserved_bits = bad;
          r->reserved_rule =
              rsvd_.classify(bad, lvl, role == EntryRole::kLeaf ? size : PageSize::k4K);
          rec->end = WalkEnd::kReserved;
        }
        out.emplace<PageFault>(PageFault{reserved_error_code(a, rights_), va});
        count = 0;
        return;
      }

      if (role == EntryRole::kLeaf) {
        acc.fold(e, nxe_, EntryRole::kLeaf);  // D3
        if constexpr (kRec) {
          r->decision = LevelDecision::kLeaf;
          leaf_rec = r;
        }
        break;
      }

      // AD4 progressive: A in a non-leaf entry that passed its checks, before the next level is
      // read; by compare-and-swap against the value read (AD5).
      if (profile_.a_on_fault == AOnFault::kProgressive && !(e & entry::kA)) {
        const AfterSetA next = set_accessed<R>(addr, e, rec, r);
        if (next == AfterSetA::kRereadLevel) continue;
        if (next == AfterSetA::kRestart) {
          restart = true;
          break;
        }
      }
      acc.fold(e, nxe_, EntryRole::kNonLeaf);  // D3
      if constexpr (kRec) r->decision = LevelDecision::kNonLeaf;
      const PAddr next(e & addr_mask_);  // W4
      const u8 next_pat = static_cast<u8>(entry::table_pat_index(e));
      if (kSteps || profile_.a_on_fault == AOnFault::kNone) {
        // Field by field into place: a temporary copied as a whole would be written in small
        // stores and read back in wide loads, which stalls store forwarding.
        NonLeafStep& step = steps[count++];
        step.level = lvl;
        step.entry_address = addr;
        step.value = e;
        step.next_table = next;
        step.rights = acc;
        step.next_table_pat = next_pat;
      }
      table = next;
      tpat = next_pat;
      lvl = lower(lvl);
    }
    if (restart) continue;

    // Appendix A step 4, F3: rights are evaluated only on a complete translation.
    const Dirty dirty = (e & entry::kD) ? Dirty::kYes : Dirty::kNo;
    const RightsDecision decision = evaluate_rights(acc, dirty, entry::pkey(e), a, rights_);
    if constexpr (kRec) {
      rec->rights = acc;
      rec->rights_evaluated = RightsEvaluated::kYes;
      rec->decision = decision;
    }
    if (!decision.allowed()) [[unlikely]] {
      // AD4: no A on the leaf for a rights violation, never D on a fault.
      if constexpr (kRec) rec->end = WalkEnd::kRightsDenied;
      out.emplace<PageFault>(PageFault{rights_error_code(a, rights_, decision), va});
      count = 0;
      return;
    }

    // Appendix A step 5. AD4 none: A in each non-leaf entry, top-down, only now.
    if (profile_.a_on_fault == AOnFault::kNone) {
      for (u8 i = 0; i < count; ++i) {
        NonLeafStep& s = steps[i];
        if (s.value & entry::kA) continue;
        if (set_bits(s.entry_address, s.value, entry::kA) == CasResult::kFailed) {
          restart = true;
          break;
        }
        s.value |= entry::kA;
        if constexpr (kRec) {
          for (u8 k = 0; k < rec->count; ++k) {
            LevelRecord& lr = rec->levels[k];
            if (lr.level == s.level && lr.source == EntrySource::kMemory) {
              lr.raw_after = s.value;
              lr.a_d_written |= static_cast<u8>(entry::kA);
            }
          }
        }
      }
      if (restart) {
        ++stats_.restarts;
        if constexpr (kRec) ++rec->restarts;
        continue;
      }
    }

    // AD1-AD3: A in the leaf, and D for a write, by one compare-and-swap if a bit changes.
    const u64 want = entry::kA | (a.is_write() ? entry::kD : 0);
    if ((e & want) != want) {
      if (set_bits(addr, e, want) == CasResult::kFailed) {
        ++stats_.restarts;
        if constexpr (kRec) ++rec->restarts;
        continue;
      }
      if constexpr (kRec) {
        leaf_rec->a_d_written |= static_cast<u8>(want & ~e);
        leaf_rec->raw_after = e | want;
      }
      e |= want;
    }

    // W5, W6, MT1, MT2, T2: written in place (no temporary to copy).
    const unsigned pat_index = entry::leaf_pat_index(e, size);
    Ok& ok = out.emplace<Ok>();
    ok.pa = PAddr(entry::leaf_frame(e, size, profile_.maxphyaddr) |
                  (va.value() & (page_bytes(size) - 1)));
    ok.page_size = size;
    ok.attrs.rights = acc;
    ok.attrs.global = (pge_ == Support::kYes && (e & entry::kG)) ? Global::kYes : Global::kNo;
    ok.attrs.pat_index = static_cast<u8>(pat_index);
    ok.attrs.memory_type = pat_type(pat_msr_, pat_index);
    ok.attrs.pkey = static_cast<u8>(entry::pkey(e));
    ok.attrs.dirty = (e & entry::kD) ? Dirty::kYes : Dirty::kNo;
    if constexpr (kRec) rec->end = WalkEnd::kTranslated;
    if constexpr (!kSteps) count = 0;
    return;
  }
}

}  // namespace pagesim::mmu
