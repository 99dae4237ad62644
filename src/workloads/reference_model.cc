#include "workloads/reference_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>

namespace pagesim::wl {

namespace {

// The model's own reading of the x86-64 entry bits it needs (spec §2.4, E3–E5).
constexpr u64 kP = 1, kRW = 2, kUS = 4, kPWT = 8, kPCD = 16, kA = 32, kD = 64, kPS = 128, kG = 256,
              kXD = u64{1} << 63;
constexpr u64 kAddrBits = 0x000F'FFFF'FFFF'F000ull;

// Page-fault error code bits (spec §5).
constexpr u16 kErrP = 1, kErrW = 2, kErrU = 4, kErrRsvd = 8, kErrId = 16, kErrPk = 32;

u8 shift_index(u8 shift) { return static_cast<u8>((shift - 12) / 9); }

}  // namespace

ReferenceModel::ReferenceModel(ModelParams p) : p_(p) {
  va_mask_ = (u64{1} << (p.levels == 5 ? 57 : 48)) - 1;
}

std::unique_lock<std::mutex> ReferenceModel::lock() const {
  // With one CPU there is no other thread: skip the lock on the hot path.
  return p_.cpus > 1 ? std::unique_lock<std::mutex>(mu_) : std::unique_lock<std::mutex>();
}

u8 ReferenceModel::max_untracked_level() const {
  // The seed never maps in the kernel's shared top-level nodes (levels ≥ NR−1), and x86-64's
  // highest translation level is 3 (1 GiB).
  return static_cast<u8>(std::min<int>(3, p_.levels - 2));
}

bool ReferenceModel::canonical(VAddr va) const {
  const unsigned w = p_.levels == 5 ? 57 : 48;
  const u64 top = va.value() >> (w - 1);
  return top == 0 || top == (~u64{0} >> (w - 1));
}

u64 ReferenceModel::key(i64 space, u8 shift, VAddr va) const {
  // space (16 bits) | size index (2 bits) | page number (45 bits): never the reserved ~0.
  return (static_cast<u64>(space) << 47) | (u64{shift_index(shift)} << 45) |
         ((va.value() & va_mask_) >> 12);
}

u64 ReferenceModel::nr_mappings() const {
  auto g = lock();
  return maps_[0].size() + maps_[1].size() + maps_[2].size();
}

// --- Encoding and rules ------------------------------------------------------------------------

u64 ReferenceModel::encode_leaf(const ModelMapping& m) const {
  u64 e = kP | (m.frame & kAddrBits);
  if (m.prot & kProtW) e |= kRW;
  if (m.user) e |= kUS;
  if (m.cache == CacheMode::kWt) e |= kPWT;
  if (m.cache == CacheMode::kUc) e |= kPCD;
  if (m.accessed) e |= kA;
  if (m.dirty) e |= kD;
  if (m.shift > 12) e |= kPS;
  if (m.global) e |= kG;
  if (!(m.prot & kProtX)) e |= kXD;
  return e;
}

ModelOutcome ReferenceModel::evaluate(const ModelMapping* m, const ModelCpu& c,
                                      const ModelAccess& a) const {
  ModelOutcome o;
  if (!canonical(a.va)) {
    o.kind = a.stack && !p_.profile.stack_gp ? ModelOutcome::Kind::kSs : ModelOutcome::Kind::kGp;
    return o;
  }
  const bool write = a.type == AccessType::kWrite;
  const bool fetch = a.type == AccessType::kFetch;
  const bool user_access = a.cpl == 3 && !a.implicit;
  u16 code = 0;
  if (write) code |= kErrW;
  if (user_access) code |= kErrU;
  if (fetch && (c.nxe || c.smep)) code |= kErrId;
  o.kind = ModelOutcome::Kind::kPf;
  if (m == nullptr) {
    o.code = code;  // not present (F1)
    return o;
  }
  // Reserved bits (F2): the OS side's non-leaf entries are P|RW|US with in-RAM addresses, so only
  // the leaf can carry them: address bits at or above MAXPHYADDR (R2), XD with NXE=0 (R4).
  // (The encoder puts the frame in bits 51:12 and XD exactly when the page is not executable.)
  const u64 above_m = kAddrBits & ~((u64{1} << p_.maxphyaddr) - 1);
  if ((m->frame & above_m) != 0 || (!c.nxe && !(m->prot & kProtX))) {
    o.code = static_cast<u16>(code | kErrRsvd | (p_.profile.rsvd_sets_p ? kErrP : 0));
    return o;
  }
  // Rights (D3): non-leaf entries grant everything, so the leaf decides.
  const bool w = (m->prot & kProtW) != 0;
  const bool u = m->user;
  const bool xd = c.nxe && !(m->prot & kProtX);
  bool deny = false;
  if (user_access) {
    if (!u)
      deny = true;  // AR1
    else if (write && !w)
      deny = true;  // AR2
    else if (fetch && xd)
      deny = true;  // AR8
  } else if (fetch) {
    if (u && c.smep)
      deny = true;  // AR7
    else if (xd)
      deny = true;  // AR6, AR7
  } else {
    // Supervisor data access.
    const bool smap_applies =
        u && c.smap &&
        (a.implicit ? !(p_.profile.implicit_smap_honours_ac && a.cpl < 3 && a.ac) : !a.ac);
    if (smap_applies)
      deny = true;  // AR9
    else if (write && !w && c.wp)
      deny = true;  // AR4, AR5
  }
  // Protection keys (PK1–PK6): the OS side never sets key bits, so the key is 0.
  bool pk = false;
  if (!fetch) {
    if (u && c.pke) {
      const bool ad = c.pkru & 1, wd = (c.pkru >> 1) & 1;
      if (ad || (write && wd && (user_access || c.wp))) pk = true;
    }
    if (!u && c.pks) {
      const bool ad = c.pkrs & 1, wd = (c.pkrs >> 1) & 1;
      if (ad || (write && wd && c.wp)) {
        // A user access to a supervisor page is denied by U/S anyway; whether PK is reported too
        // is the profile's choice (PK5, Q5).
        if (!(user_access && p_.profile.pks_user_no_pk)) pk = true;
      }
    }
  }
  if (deny || pk) {
    o.code = static_cast<u16>(code | kErrP | (pk ? kErrPk : 0));
    return o;
  }
  o.kind = ModelOutcome::Kind::kOk;
  o.size = m->size();
  o.pa = m->frame + (a.va.value() & (m->size() - 1));
  return o;
}

// --- State ---------------------------------------------------------------------------------

const ModelMapping* ReferenceModel::covering(i64 space, VAddr va, u8* shift_out) const {
  const i64 s = va.value() >> 63 ? kSpaceKernel : space;
  for (u8 i = 0; i < 3; ++i) {
    if (const ModelMapping* m = maps_[i].find(key_at(s, i, va))) {
      if (shift_out != nullptr) *shift_out = static_cast<u8>(12 + 9 * i);
      return m;
    }
  }
  return nullptr;
}

ModelMapping* ReferenceModel::covering_mut(i64 space, VAddr va) {
  return const_cast<ModelMapping*>(covering(space, va));
}

void ReferenceModel::count(i64 space, VAddr base, u8 shift, int delta) {
  const u64 k1 = key(space, 30, base.align_down(GiB));
  u32* c1 = occupied_1g_.find(k1);
  const u32 v1 = (c1 != nullptr ? *c1 : 0) + delta;
  if (v1 == 0)
    occupied_1g_.erase(k1);
  else
    occupied_1g_.put(k1, v1);
  if (shift < 30) {
    const u64 k2 = key(space, 21, base.align_down(2 * MiB));
    u32* c2 = occupied_2m_.find(k2);
    const u32 v2 = (c2 != nullptr ? *c2 : 0) + delta;
    if (v2 == 0)
      occupied_2m_.erase(k2);
    else
      occupied_2m_.put(k2, v2);
  }
}

void ReferenceModel::set(u16 cpu, u64 line, i64 space, VAddr base, u8 shift,
                         std::optional<ModelMapping> m, Record record) {
  const u64 k = key(space, shift, base);
  FlatMap<ModelMapping>& map = maps_[shift_index(shift)];
  ModelMapping* old = map.find(k);
  if (p_.cpus > 1) {
    History& h = history(k);  // captures the epoch's base before the first change
    if (record == Record::kOp) {
      Op op;
      op.kind = m ? Op::Kind::kSet : Op::Kind::kClear;
      op.cpu = cpu;
      op.line = line;
      if (m) op.m = *m;
      h.ops.push_back(op);
    }
  }
  // The graveyard remembers who removed or replaced a mapping, for stale-TLB reports.
  auto bury = [&](ModelMapping dead) {
    dead.cpu = cpu;
    dead.line = line;
    removed_.put(k, dead);
  };
  if (old != nullptr && !m) {
    if (p_.remember_removed) bury(*old);
    map.erase(k);
    count(space, base, shift, -1);
  } else if (old == nullptr && m) {
    map.put(k, *m);
    count(space, base, shift, +1);
  } else if (m) {
    if (p_.remember_removed) bury(*old);
    *old = *m;
  }
}

template <class F>
void ReferenceModel::for_each_overlapping(i64 space, VRange r, F&& f) {
  // Visits (base, shift) of every mapping overlapping r, coarse regions first so empty space is
  // skipped quickly. Collects first: `f` may change the maps. Region ends are computed so that
  // the top of the address space (where base + size wraps to 0) is handled.
  auto end_of = [&](VAddr start, u64 size) {
    const u64 e = start.value() + size;
    return e < start.value() ? r.end : std::min(VAddr(e), r.end);
  };
  std::vector<std::pair<VAddr, u8>> found;
  for (VAddr g = r.start.align_down(GiB);;) {
    if (occupied_1g_.find(key(space, 30, g)) != nullptr) {
      if (maps_[2].find(key(space, 30, g)) != nullptr) found.push_back({g, 30});
      const VAddr hi = end_of(g, GiB);
      for (VAddr m2 = std::max(g, r.start.align_down(2 * MiB)); m2 < hi;) {
        if (occupied_2m_.find(key(space, 21, m2)) != nullptr) {
          if (maps_[1].find(key(space, 21, m2)) != nullptr) found.push_back({m2, 21});
          const VAddr hi4 = end_of(m2, 2 * MiB);
          for (VAddr p = std::max(m2, r.start); p < hi4; p = p + 4 * KiB) {
            if (maps_[0].find(key(space, 12, p)) != nullptr) found.push_back({p, 12});
          }
        }
        const VAddr next = m2 + 2 * MiB;
        if (next < m2) break;
        m2 = next;
      }
    }
    const VAddr next = g + GiB;
    if (next < g || next >= r.end) break;
    g = next;
  }
  for (auto [base, shift] : found) f(base, shift);
}

void ReferenceModel::split(u16 cpu, u64 line, i64 space, VAddr base, ModelMapping m) {
  // The OS replaces an untracked huge page by a table of next-level pages with the same
  // property, accessed/dirty included (seed `split_untracked_huge`).
  const u8 small = static_cast<u8>(m.shift - 9);
  set(cpu, line, space, base, m.shift, std::nullopt);
  for (u64 i = 0; i < 512; ++i) {
    ModelMapping piece = m;
    piece.shift = small;
    piece.frame = m.frame + (i << small);
    set(cpu, line, space, base + (i << small), small, piece);
  }
}

void ReferenceModel::remove_inside(u16 cpu, u64 line, i64 space, VAddr va, u64 size) {
  for_each_overlapping(space, VRange{va, va + size}, [&](VAddr base, u8 shift) {
    if (base >= va && (u64{1} << shift) <= size) set(cpu, line, space, base, shift, std::nullopt);
  });
}

void ReferenceModel::map_page(u16 cpu, u64 line, i64 space, VAddr va, ModelMapping m) {
  auto g = lock();
  m.cpu = cpu;
  m.line = line;
  // Mapping over smaller mappings detaches their table; over a same-size one, replaces it.
  remove_inside(cpu, line, space, va, m.size());
  set(cpu, line, space, va, m.shift, m);
}

void ReferenceModel::map_pa(u16 cpu, u64 line, VAddr va, PAddr pa, u64 len, ModelMapping proto) {
  auto g = lock();
  proto.cpu = cpu;
  proto.line = line;
  proto.tracked = false;
  const VAddr end = va + len;
  u64 p = pa.value();
  while (va < end) {
    // The largest page both addresses are aligned to and the rest of the range holds.
    u8 level = max_untracked_level();
    while (level > 1) {
      const u64 s = level_size(level);
      if (va.is_aligned(s) && p % s == 0 && end - va >= s) break;
      --level;
    }
    const u64 s = level_size(level);
    // A larger untracked page covering this one is split first (seed `level_down_split`).
    for (;;) {
      u8 shift = 0;
      const ModelMapping* c = covering(kSpaceKernel, va, &shift);
      if (c == nullptr || shift <= 12 + 9 * (level - 1)) break;
      const ModelMapping big = *c;
      split(cpu, line, kSpaceKernel, va.align_down(u64{1} << shift), big);
    }
    ModelMapping m = proto;
    m.shift = static_cast<u8>(12 + 9 * (level - 1));
    m.frame = p;
    remove_inside(cpu, line, kSpaceKernel, va, s);
    set(cpu, line, kSpaceKernel, va, m.shift, m);
    va = va + s;
    p += s;
  }
}

void ReferenceModel::split_partial(u16 cpu, u64 line, i64 space, VRange r) {
  // Splits untracked huge pages that r covers only in part, until every mapping overlapping r
  // lies inside it — or is part of a tracked huge page, which the OS refuses (the replay then
  // stops with the OS's error).
  for (bool again = true; again;) {
    again = false;
    for_each_overlapping(space, r, [&](VAddr base, u8 shift) {
      const ModelMapping* m = maps_[shift_index(shift)].find(key(space, shift, base));
      if (m == nullptr || r.covers(VRange{base, base + (u64{1} << shift)})) return;
      if (!m->tracked && shift > 12) {
        split(cpu, line, space, base, *m);
        again = true;
      }
    });
  }
}

void ReferenceModel::unmap(u16 cpu, u64 line, i64 space, VRange r) {
  auto g = lock();
  split_partial(cpu, line, space, r);
  for_each_overlapping(space, r, [&](VAddr base, u8 shift) {
    if (r.covers(VRange{base, base + (u64{1} << shift)})) {
      set(cpu, line, space, base, shift, std::nullopt, Record::kBaseOnly);
    }
  });
  if (p_.cpus > 1) {
    Op op;
    op.kind = Op::Kind::kClear;
    op.cpu = cpu;
    op.line = line;
    add_range_op(op, space, r);
  }
}

void ReferenceModel::add_range_op(const Op& op, i64 space, VRange r) {
  const u32 idx = static_cast<u32>(range_ops_.size());
  range_ops_.push_back(RangeOp{op, space, r});
  // Indexed under the finest of three grains that needs at most kRangeIndexFanout entries: the
  // 4 KiB pages of a small range, the 2 MiB regions of a medium one, the 1 GiB regions of a
  // large one. ops_of() looks a key up at its own grain and the coarser ones, so the unmaps and
  // protects of a long epoch (a trace without barriers) are not all scanned for every key.
  u64 grain = GiB;
  for (const u64 g : {u64{4096}, 2 * MiB}) {
    if ((r.end - r.start.align_down(g) + g - 1) / g <= kRangeIndexFanout) {
      grain = g;
      break;
    }
  }
  const u8 shift = static_cast<u8>(std::countr_zero(grain));
  for (VAddr g = r.start.align_down(grain); g < r.end; g = g + grain) {
    const u64 rk = key(space, shift, g);
    std::vector<u32>* list = range_index_.find(rk);
    if (list == nullptr) list = &range_index_.put(rk, {});
    list->push_back(idx);
    if (g + grain < g) break;
  }
}

u64 ReferenceModel::key_at(i64 space, u8 i, VAddr va) const {
  const u8 shift = static_cast<u8>(12 + 9 * i);
  return key(space, shift, va.align_down(u64{1} << shift));
}

VRange ReferenceModel::key_range(u64 k) const {
  const i64 space = static_cast<i64>(k >> 47);
  const u8 idx = static_cast<u8>((k >> 45) & 3);
  u64 va = (k & ((u64{1} << 45) - 1)) << 12;
  if (space == kSpaceKernel) va |= ~va_mask_;
  return VRange{VAddr(va), VAddr(va) + (u64{1} << (12 + 9 * idx))};
}

std::vector<ReferenceModel::Op> ReferenceModel::ops_of(u64 k, const History& h) const {
  std::vector<Op> ops = h.ops;
  const i64 space = static_cast<i64>(k >> 47);
  const VRange kr = key_range(k);
  // A range that covers the key is indexed at the key's grain or a coarser one (add_range_op).
  std::vector<u32> found;
  for (const u8 shift : {u8{12}, u8{21}, u8{30}}) {
    if ((u64{1} << shift) < kr.size()) continue;
    const std::vector<u32>* list =
        range_index_.find(key(space, shift, kr.start.align_down(u64{1} << shift)));
    if (list == nullptr) continue;
    for (u32 i : *list) {
      const RangeOp& ro = range_ops_[i];
      if (ro.space == space && ro.r.covers(kr)) found.push_back(i);
    }
  }
  std::sort(found.begin(), found.end());  // registration order
  for (u32 i : found) ops.push_back(range_ops_[i].op);
  return ops;
}

ModelMapping ReferenceModel::apply_protect(ModelMapping m, const Op& p) {
  m.prot = p.prot;
  if (p.cache) m.cache = *p.cache;
  if (p.clear & kClearA) m.accessed = false;
  if (p.clear & kClearD) m.dirty = false;
  m.cpu = p.cpu;
  m.line = p.line;
  return m;
}

ReferenceModel::History& ReferenceModel::history(u64 k) {
  if (History* h = epoch_.find(k)) return *h;
  const ModelMapping* now = maps_[(k >> 45) & 3].find(k);
  return epoch_.put(k,
                    History{now != nullptr ? std::optional<ModelMapping>(*now) : std::nullopt, {}});
}

void ReferenceModel::protect(u16 cpu, u64 line, i64 space, VRange r, u8 prot,
                             std::optional<CacheMode> cache, u8 clear) {
  auto g = lock();
  Op op;
  op.kind = Op::Kind::kProtect;
  op.cpu = cpu;
  op.line = line;
  op.prot = prot;
  op.cache = cache;
  op.clear = clear;
  split_partial(cpu, line, space, r);
  for_each_overlapping(space, r, [&](VAddr base, u8 shift) {
    if (!r.covers(VRange{base, base + (u64{1} << shift)})) return;
    const u64 k = key(space, shift, base);
    if (p_.cpus > 1) (void)history(k);  // the epoch's base is the state before this protect
    ModelMapping* m = maps_[shift_index(shift)].find(k);
    *m = apply_protect(*m, op);
  });
  if (p_.cpus > 1) add_range_op(op, space, r);
}

std::vector<std::optional<ModelMapping>> ReferenceModel::candidates(
    const std::optional<ModelMapping>& base, const std::vector<Op>& ops, u16 cpu, Cut cut) const {
  // An "anchor" is what decided the mapping last (the base, a Set or a Clear); protects after it
  // change its rights, and the last one wins. Ordering rules: each CPU's operations stay in
  // program order; different CPUs' operations interleave freely.
  using Kind = Op::Kind;
  auto last_line = [&](u16 c, bool anchors) {
    u64 l = 0;
    for (const Op& o : ops) {
      if (o.cpu == c && (o.kind != Kind::kProtect) == anchors) l = o.line;
    }
    return l;
  };
  std::vector<const Op*> anchors;
  bool base_ok;
  if (cut == Cut::kFinal) {
    // The last anchor overall is some CPU's last anchor.
    for (const Op& o : ops) {
      if (o.kind != Kind::kProtect && o.line == last_line(o.cpu, true)) anchors.push_back(&o);
    }
    base_ok = anchors.empty();
  } else {
    // The observer's own last anchor, or any other CPU's anchor; the base only if the observer
    // made no anchor yet.
    const u64 own = last_line(cpu, true);
    for (const Op& o : ops) {
      if (o.kind == Kind::kProtect) continue;
      if (o.cpu != cpu || o.line == own) anchors.push_back(&o);
    }
    base_ok = own == 0;
  }
  std::vector<std::optional<ModelMapping>> out;
  auto with_protects = [&](std::optional<ModelMapping> m, const Op* anchor) {
    out.push_back(m);  // no protect after the anchor (or the anchor maps nothing)
    if (!m) return;
    for (const Op& p : ops) {
      if (p.kind != Kind::kProtect) continue;
      // A protect of the anchor's own CPU must come after the anchor in program order.
      if (anchor != nullptr && p.cpu == anchor->cpu && p.line < anchor->line) continue;
      if (cut == Cut::kFinal && p.line != last_line(p.cpu, false)) continue;
      if (cut == Cut::kObserver && p.cpu == cpu && p.line != last_line(cpu, false)) continue;
      out.push_back(apply_protect(*m, p));
    }
  };
  if (base_ok) with_protects(base, nullptr);
  for (const Op* a : anchors) {
    with_protects(a->kind == Kind::kSet ? std::optional<ModelMapping>(a->m) : std::nullopt, a);
  }
  return out;
}

// --- Judging ---------------------------------------------------------------------------------

ModelOutcome ReferenceModel::expect(u16, const ModelCpu& c, const ModelAccess& a) const {
  auto g = lock();
  return evaluate(covering(c.space, a.va), c, a);
}

bool ReferenceModel::judge(u16 cpu, const ModelCpu& c, const ModelAccess& a,
                           const ModelOutcome& actual) {
  auto g = lock();
  const i64 space = a.va.value() >> 63 ? kSpaceKernel : c.space;
  ModelMapping* cur = covering_mut(space, a.va);
  const ModelOutcome want = evaluate(cur, c, a);
  if (want == actual) {
    if (cur != nullptr && actual.kind == ModelOutcome::Kind::kOk) {
      cur->accessed = true;
      if (a.type == AccessType::kWrite) cur->dirty = true;
    } else if (cur != nullptr && p_.profile.a_on_faulting_1g_leaf && cur->shift == 30 &&
               actual.kind == ModelOutcome::Kind::kPf && !(actual.code & kErrRsvd)) {
      cur->accessed = true;  // Q2
    }
    return true;
  }
  if (p_.cpus == 1 || epoch_.size() == 0 || !canonical(a.va)) return false;
  // Racing: try every combination of the states some order allows for the three keys that
  // cover the address.
  std::vector<std::optional<ModelMapping>> options[3];
  bool any_history = false;
  for (u8 i = 0; i < 3; ++i) {
    const u64 k = key_at(space, i, a.va);
    if (const History* h = epoch_.find(k)) {
      any_history = true;
      options[i] = candidates(h->base, ops_of(k, *h), cpu, Cut::kObserver);
    } else {
      const ModelMapping* now = maps_[i].find(k);
      options[i].push_back(now != nullptr ? std::optional<ModelMapping>(*now) : std::nullopt);
    }
  }
  if (!any_history) return false;
  for (const auto& o1g : options[2]) {
    for (const auto& o2m : options[1]) {
      for (const auto& o4k : options[0]) {
        // The walk meets the largest present leaf first.
        const ModelMapping* m = o1g ? &*o1g : o2m ? &*o2m : o4k ? &*o4k : nullptr;
        if (evaluate(m, c, a) == actual) return true;
      }
    }
  }
  return false;
}

ExpectedEntry ReferenceModel::expected_entry(i64 space, VAddr va) const {
  auto g = lock();
  ExpectedEntry e;
  u8 shift = 0;
  if (const ModelMapping* m = covering(space, va, &shift)) {
    e.present = true;
    e.level = static_cast<u8>((shift - 12) / 9 + 1);
    e.raw = encode_leaf(*m);
    e.mapping = *m;
  }
  return e;
}

std::vector<ExpectedEntry> ReferenceModel::allowed_entries(u16 cpu, i64 space, VAddr va) const {
  std::vector<ExpectedEntry> out;
  out.push_back(expected_entry(space, va));
  if (p_.cpus == 1) return out;
  auto g = lock();
  for (u8 i = 0; i < 3; ++i) {
    const u64 k = key_at(space, i, va);
    const History* h = epoch_.find(k);
    if (h == nullptr) continue;
    for (const auto& m : candidates(h->base, ops_of(k, *h), cpu, Cut::kObserver)) {
      ExpectedEntry e;
      if (m) {
        e.present = true;
        e.level = static_cast<u8>(i + 1);
        e.raw = encode_leaf(*m);
        e.mapping = *m;
      }
      out.push_back(e);
    }
  }
  return out;
}

std::optional<ModelMapping> ReferenceModel::removed_mapping(i64 space, VAddr va) const {
  auto g = lock();
  const i64 s = va.value() >> 63 ? kSpaceKernel : space;
  for (u8 i = 0; i < 3; ++i) {
    if (const ModelMapping* m = removed_.find(key_at(s, i, va))) {
      return *m;
    }
  }
  return std::nullopt;
}

bool ReferenceModel::racing(u16 cpu, i64 space, VAddr va) const {
  if (p_.cpus == 1) return false;
  auto g = lock();
  for (u8 i = 0; i < 3; ++i) {
    const u64 k = key_at(space, i, va);
    const History* h = epoch_.find(k);
    if (h == nullptr) continue;
    for (const Op& o : ops_of(k, *h)) {
      if (o.cpu != cpu) return true;
    }
  }
  return false;
}

bool ReferenceModel::epoch_touched(i64 space, VAddr va) const {
  if (p_.cpus == 1) return false;
  auto g = lock();
  for (u8 i = 0; i < 3; ++i) {
    if (epoch_.find(key_at(space, i, va)) != nullptr) return true;
  }
  return false;
}

void ReferenceModel::adopt_status(i64 space, VAddr va, bool accessed, bool dirty) {
  auto g = lock();
  if (ModelMapping* m = covering_mut(space, va)) {
    m->accessed = accessed;
    m->dirty = dirty;
  }
}

void ReferenceModel::end_epoch(const std::function<RawLeaf(i64, VAddr, u8)>& read_leaf,
                               const std::function<void(std::string)>& mismatch) {
  auto g = lock();
  std::vector<std::pair<u64, History>> changed;
  epoch_.for_each([&](u64 k, const History& h) {
    History full = h;
    full.ops = ops_of(k, h);
    changed.push_back({k, std::move(full)});
  });
  epoch_.clear();
  range_ops_.clear();
  range_index_.clear();
  for (auto& [k, h] : changed) {
    // One CPU only: program order, and the registration order was that order.
    bool several = false;
    for (const Op& o : h.ops) several |= o.cpu != h.ops.front().cpu;
    if (!several) continue;
    const std::vector<std::optional<ModelMapping>> finals =
        candidates(h.base, h.ops, 0, Cut::kFinal);
    const i64 space = static_cast<i64>(k >> 47);
    const u8 idx = static_cast<u8>((k >> 45) & 3);
    const u8 shift = static_cast<u8>(12 + 9 * idx);
    u64 vpn = k & ((u64{1} << 45) - 1);
    u64 va = vpn << 12;
    if (space == kSpaceKernel) va |= ~va_mask_;  // sign-extend the kernel half
    const VAddr base(va);
    const u8 level = static_cast<u8>(idx + 1);
    const RawLeaf leaf = read_leaf(space, base, level);
    const bool leaf_here = leaf.found && leaf.level == level;
    const std::optional<ModelMapping>* match = nullptr;
    for (const auto& f : finals) {
      if (!f ? !leaf_here : leaf_here && ((encode_leaf(*f) ^ leaf.raw) & ~(kA | kD)) == 0) {
        match = &f;
        break;
      }
    }
    if (match == nullptr) {
      std::string lines;
      for (const Op& o : h.ops) lines += fmt::format(", cpu{} line {}", o.cpu, o.line);
      mismatch(
          fmt::format("racing operations on the {} page at {:#x} left {} in memory, which no "
                      "order of them ({}) produces",
                      shift == 12   ? "4K"
                      : shift == 21 ? "2M"
                                    : "1G",
                      base.value(),
                      leaf_here ? fmt::format("entry {:#018x}", leaf.raw) : std::string("no leaf"),
                      lines.substr(2)));
      continue;
    }
    FlatMap<ModelMapping>& map = maps_[idx];
    ModelMapping* cur = map.find(k);
    if (*match) {
      ModelMapping m = **match;
      m.accessed = (leaf.raw & kA) != 0;
      m.dirty = (leaf.raw & kD) != 0;
      if (cur == nullptr) {
        map.put(k, m);
        count(space, base, shift, +1);
      } else {
        *cur = m;
      }
    } else if (cur != nullptr) {
      map.erase(k);
      count(space, base, shift, -1);
    }
  }
}

RawLeaf ReferenceModel::read_leaf(const PhysMem& mem, PAddr root, u8 levels, VAddr va,
                                  u8 stop_level) {
  RawLeaf r;
  PAddr table = root;
  for (u8 level = levels; level >= 1; --level) {
    const u64 idx = (va.value() >> (12 + 9 * (level - 1))) & 511;
    const PAddr at = table + idx * 8;
    r.level = level;
    r.entry_addr = at;
    if (!mem.contains(at, 8)) return r;  // outside RAM: nothing the OS made
    r.raw = mem.entry(at).load(std::memory_order_acquire);
    if (!(r.raw & kP)) return r;
    if (level == 1 || (r.raw & kPS) != 0 || level == stop_level) {
      r.found = level == 1 || (r.raw & kPS) != 0;
      return r;
    }
    table = PAddr(r.raw & kAddrBits);
  }
  return r;
}

// --- Reports -----------------------------------------------------------------------------------

std::string describe_error_code(u16 code) {
  std::string s;
  auto add = [&](u16 bit, const char* on, const char* off) {
    if (!s.empty()) s += ' ';
    s += (code & bit) ? on : off;
  };
  add(kErrP, "P=1 (protection)", "P=0 (not present)");
  add(kErrW, "W/R=1 (write)", "W/R=0 (read)");
  add(kErrU, "U/S=1 (user)", "U/S=0 (supervisor)");
  if (code & kErrRsvd) add(kErrRsvd, "RSVD=1", "");
  if (code & kErrId) add(kErrId, "I/D=1 (fetch)", "");
  if (code & kErrPk) add(kErrPk, "PK=1", "");
  if (code & 64) s += " SS=1";
  return s;
}

std::string describe(const ModelOutcome& o) {
  switch (o.kind) {
    case ModelOutcome::Kind::kOk:
      return fmt::format("ok pa={:#x} size={}", o.pa,
                         o.size == 4096      ? "4K"
                         : o.size == 2 * MiB ? "2M"
                                             : "1G");
    case ModelOutcome::Kind::kPf:
      return fmt::format("pf code={:#x} [{}]", o.code, describe_error_code(o.code));
    case ModelOutcome::Kind::kGp:
      return "gp (non-canonical)";
    case ModelOutcome::Kind::kSs:
      return "ss (non-canonical stack access)";
  }
  return "?";
}

std::string diff_entry_bits(u64 expected, u64 actual, u64 mask) {
  static constexpr struct {
    u64 bit;
    const char* name;
  } kBits[] = {{kP, "P"}, {kRW, "R/W"}, {kUS, "U/S"},    {kPWT, "PWT"}, {kPCD, "PCD"},
               {kA, "A"}, {kD, "D"},    {kPS, "PS/PAT"}, {kG, "G"},     {kXD, "XD"}};
  std::string s;
  const u64 diff = (expected ^ actual) & mask;
  for (const auto& b : kBits) {
    if (diff & b.bit) {
      s += fmt::format("{}{}: expected {}, found {}", s.empty() ? "" : "; ", b.name,
                       (expected & b.bit) ? 1 : 0, (actual & b.bit) ? 1 : 0);
    }
  }
  if (diff & kAddrBits) {
    s += fmt::format("{}address: expected {:#x}, found {:#x}", s.empty() ? "" : "; ",
                     expected & kAddrBits, actual & kAddrBits);
  }
  const u64 other = diff & ~(kAddrBits | kP | kRW | kUS | kPWT | kPCD | kA | kD | kPS | kG | kXD);
  if (other) s += fmt::format("{}other bits {:#x}", s.empty() ? "" : "; ", other);
  return s;
}

}  // namespace pagesim::wl
