#include "mmu/tlb.h"

#include <algorithm>

namespace pagesim::mmu {

namespace {

constexpr u64 kTagMask = 0x1fff;
constexpr u64 kVpnMask = (u64{1} << 48) - 1;
constexpr PageSize key_size(u64 key) { return static_cast<PageSize>((key >> 61) & 3); }
constexpr u64 key_vpn(u64 key) { return (key >> 13) & kVpnMask; }
constexpr u16 key_tag(u64 key) { return static_cast<u16>(key & kTagMask); }

// Key of a PSC entry of level `l`: valid | VA[56:shift(l)] << 12 | PCID (T11; never global).
constexpr u64 psc_prefix(VAddr va, Level l) {
  return (va.value() & ((u64{1} << 57) - 1)) >> level_shift(l);
}
constexpr u64 psc_key(u64 prefix, u16 pcid) { return kKeyValid | (prefix << 12) | pcid; }
constexpr u16 psc_key_pcid(u64 key) { return static_cast<u16>(key & 0xfff); }

// Whether an existing entry with tag `tag` could match some address together with a new entry
// tagged `new_tag` (global entries carry kGlobalTag).
constexpr bool co_matches(u16 tag, u16 new_tag) {
  return new_tag == Tlb::kGlobalTag || tag == Tlb::kGlobalTag || tag == new_tag;
}

constexpr Level kPscLookupOrder[] = {Level::kPde, Level::kPdpte, Level::kPml4e, Level::kPml5e};

}  // namespace

Tlb::Tlb(TlbShape shape) : shape_(std::move(shape)) {
  const auto valid = shape_.validate();
  PAGESIM_ASSERT(valid.ok(), "invalid TLB shape: {}", valid.ok() ? "" : valid.error());
  for (auto& per_port : l1_fill_) per_port.fill(-1);
  for (auto& per_port : l2_fill_) per_port.fill(-1);
  arrays_.reserve(shape_.arrays.size());
  for (std::size_t i = 0; i < shape_.arrays.size(); ++i) {
    const TlbArrayShape& s = shape_.arrays[i];
    arrays_.push_back(Array{s, SetAssoc<TlbPayload>(s.sets, s.ways, s.replacement)});
    for (Port port : {Port::kInstruction, Port::kData}) {
      if (!serves(arrays_.back(), port)) continue;
      const int p = static_cast<int>(port);
      for (PageSize size : kAllPageSizes) {
        if (!s.holds(size)) continue;
        const Probe probe{.store = nullptr, .array = static_cast<u8>(i), .size = size};
        if (s.level == TlbLevel::kL1) {
          l1_probes_[p].push_back(probe);
          l1_fill_[p][size_index(size)] = static_cast<int>(i);
        } else {
          l2_probes_[p].push_back(probe);
          l2_fill_[p][size_index(size)] = static_cast<int>(i);
        }
      }
    }
  }
  // The probes of one array are adjacent (so a lookup counts one hit or miss per array), small
  // pages first within an array: they are the most frequent.
  for (auto* lists : {&l1_probes_, &l2_probes_}) {
    for (auto& list : *lists) {
      std::stable_sort(list.begin(), list.end(), [](const Probe& a, const Probe& b) {
        return a.array != b.array ? a.array < b.array : size_index(a.size) < size_index(b.size);
      });
      for (std::size_t k = 0; k < list.size(); ++k) {
        list[k].store = &arrays_[list[k].array].store;  // arrays_ no longer grows
        list[k].last_of_array = k + 1 == list.size() || list[k + 1].array != list[k].array;
      }
    }
  }
  for (Port port : {Port::kInstruction, Port::kData}) {
    for (const Array& a : arrays_) {
      if (!serves(a, port)) has_foreign_arrays_[static_cast<int>(port)] = true;
    }
  }
  for (const PscShape& c : shape_.psc) {
    psc_[level_number(c.level)].emplace(c.sets, c.ways, c.replacement);
  }
  stats_.arrays.resize(arrays_.size());
}

bool Tlb::serves(const Array& a, Port port) const {
  switch (a.shape.ports) {
    case TlbPorts::kUnified:
      return true;
    case TlbPorts::kInstruction:
      return port == Port::kInstruction;
    case TlbPorts::kData:
      return port == Port::kData;
  }
  return false;
}

TlbHit Tlb::lookup_l2(VAddr va, int p, u16 pcid) {
  for (const Probe& probe : l2_probes_[p]) {
    SetAssoc<TlbPayload>& store = *probe.store;
    if (store.valid_count_of_class(size_index(probe.size)) == 0) {  // no entry of this size
      if (probe.last_of_array) ++stats_.arrays[probe.array].misses;
      continue;
    }
    const u64 vpn = vpn_of(va, probe.size);
    const u32 set = store.set_of(vpn);
    const int way =
        store.find(set, tlb_key(probe.size, vpn, pcid), tlb_key(probe.size, vpn, kGlobalTag));
    if (way != SetAssoc<TlbPayload>::kNoWay) {
      store.touch(set, static_cast<u32>(way));
      ++stats_.arrays[probe.array].hits;
      ++stats_.l2_hits;
      const TlbPayload& entry = store.payload(set, static_cast<u32>(way));
      // Copy into the first level of this port (the same entry: same sequence number). The
      // copy goes to another array, so `entry` stays valid.
      const int l1 = l1_fill_[p][size_index(probe.size)];
      if (l1 >= 0)
        insert(l1, va, probe.size, key_tag(store.key(set, static_cast<u32>(way))), entry);
      return TlbHit{&entry, TlbLevel::kL2, probe.size, probe.array, 0, set, static_cast<u32>(way)};
    }
    if (probe.last_of_array) ++stats_.arrays[probe.array].misses;
  }
  if (!l2_probes_[p].empty()) ++stats_.l2_misses;
  return TlbHit{};
}

void Tlb::insert(int array_index, VAddr va, PageSize size, u16 tag, const TlbPayload& p) {
  ++generation_;
  Array& a = arrays_[static_cast<std::size_t>(array_index)];
  const u64 vpn = vpn_of(va, size);
  bool evicted = false;
  a.store.insert(a.store.set_of(vpn), tlb_key(size, vpn, tag), p, evicted);
  StructureStats& st = stats_.arrays[static_cast<std::size_t>(array_index)];
  ++st.fills;
  if (evicted) ++st.evictions;
}

void Tlb::drop_overlaps(VAddr va, PageSize size, u16 tag, Global global, Port port,
                        FillContext ctx) {
  // The common case: a non-global 4 KiB fill after a miss can only overlap entries of arrays
  // that do not serve this port.
  if (ctx == FillContext::kAfterMiss && global == Global::kNo && size == PageSize::k4K &&
      !has_foreign_arrays_[static_cast<int>(port)]) {
    return;
  }
  for (std::size_t i = 0; i < arrays_.size(); ++i) {
    Array& a = arrays_[i];
    if (a.store.valid_count() == 0) continue;
    // After a miss for this port and PCID, this port's arrays hold no entry containing va that
    // matches under the PCID, which are exactly the entries that co-match a non-global fill.
    const bool known_clean =
        ctx == FillContext::kAfterMiss && global == Global::kNo && serves(a, port);
    u64 dropped = 0;
    for (PageSize s : kAllPageSizes) {
      if (!a.shape.holds(s)) continue;
      if (size_index(s) >= size_index(size)) {
        if (known_clean) continue;
        // Larger or equal entries containing va.
        const u64 vpn = vpn_of(va, s);
        dropped += a.store.drop_if_in_set(a.store.set_of(vpn), [&](u32, u32, u64 k, const auto&) {
          return key_size(k) == s && key_vpn(k) == vpn && co_matches(key_tag(k), tag);
        });
      } else {
        // Smaller entries inside the new page.
        const u64 first = vpn_of(VAddr(va.value() & ~(page_bytes(size) - 1)), s);
        const u64 count = u64{1} << (page_shift(size) - page_shift(s));
        auto inside = [&](u32, u32, u64 k, const auto&) {
          return key_size(k) == s && key_vpn(k) - first < count && co_matches(key_tag(k), tag);
        };
        if (count >= a.store.sets()) {
          dropped += a.store.drop_if(inside);
        } else {
          for (u64 n = 0; n < count; ++n) {
            dropped += a.store.drop_if_in_set(a.store.set_of(first + n), inside);
          }
        }
      }
    }
    stats_.arrays[i].invalidated += dropped;
  }
}

void Tlb::fill_no_overlaps(VAddr va, const Ok& ok, Port port, u16 pcid) {
  ++generation_;
  const TlbPayload p{.frame = ok.pa.value() & ~(kFrameSize - 1),
                     .seq = ++seq_,
                     .rights = ok.attrs.rights,
                     .global = Global::kNo,
                     .dirty = ok.attrs.dirty,
                     .pkey = ok.attrs.pkey,
                     .pat_index = ok.attrs.pat_index};
  const int pi = static_cast<int>(port);
  const int k4 = size_index(PageSize::k4K);
  if (const int l1 = l1_fill_[pi][k4]; l1 >= 0) insert(l1, va, PageSize::k4K, pcid, p);
  if (const int l2 = l2_fill_[pi][k4]; l2 >= 0) insert(l2, va, PageSize::k4K, pcid, p);
}

void Tlb::fill_general(VAddr va, const Ok& ok, Port port, u16 pcid, FillContext ctx) {
  ++generation_;
  const PageSize size = ok.page_size;
  const bool global = ok.attrs.global == Global::kYes;
  const u16 tag = global ? kGlobalTag : pcid;
  const TlbPayload p{.frame = ok.pa.value() & ~(page_bytes(size) - 1),
                     .seq = ++seq_,
                     .rights = ok.attrs.rights,
                     .global = ok.attrs.global,
                     .dirty = ok.attrs.dirty,
                     .pkey = ok.attrs.pkey,
                     .pat_index = ok.attrs.pat_index};
  drop_overlaps(va, size, tag, ok.attrs.global, port, ctx);
  const int pi = static_cast<int>(port);
  if (const int l1 = l1_fill_[pi][size_index(size)]; l1 >= 0) insert(l1, va, size, tag, p);
  if (const int l2 = l2_fill_[pi][size_index(size)]; l2 >= 0) insert(l2, va, size, tag, p);
}

void Tlb::drop(VAddr va, const TlbHit& hit) {
  ++generation_;
  const u64 seq = hit.entry->seq;  // read before any copy is dropped
  for (std::size_t i = 0; i < arrays_.size(); ++i) {
    Array& a = arrays_[i];
    if (!a.shape.holds(hit.size) || a.store.valid_count() == 0) continue;
    const u64 vpn = vpn_of(va, hit.size);
    stats_.arrays[i].invalidated +=
        a.store.drop_if_in_set(a.store.set_of(vpn), [&](u32, u32, u64 k, const TlbPayload& p) {
          return key_size(k) == hit.size && key_vpn(k) == vpn && p.seq == seq;
        });
  }
}

std::optional<WalkStart> Tlb::psc_lookup(VAddr va, u16 pcid, int levels) {
  for (Level l : kPscLookupOrder) {
    if (level_number(l) > levels) break;  // no PML5E cache with 4-level paging
    auto& cache = psc_[level_number(l)];
    if (!cache) continue;
    const u64 prefix = psc_prefix(va, l);
    const u32 set = cache->set_of(prefix);
    const int way = cache->find(set, psc_key(prefix, pcid));
    if (way == SetAssoc<PscPayload>::kNoWay) {
      ++stats_.psc[level_number(l)].misses;
      continue;
    }
    cache->touch(set, static_cast<u32>(way));
    ++stats_.psc[level_number(l)].hits;
    const PscPayload& p = cache->payload(set, static_cast<u32>(way));
    return WalkStart{.level = level_from_number(level_number(l) - 1),
                     .table = p.next_table,
                     .rights = p.rights,
                     .table_pat_index = p.next_pat,
                     .psc_entry_address = p.entry_address,
                     .psc_entry_value = p.entry_value};
  }
  return std::nullopt;
}

void Tlb::psc_fill(VAddr va, u16 pcid, const NonLeafStep& step) {
  auto& cache = psc_[level_number(step.level)];
  if (!cache) return;
  const u64 prefix = psc_prefix(va, step.level);
  const u32 set = cache->set_of(prefix);
  const u64 key = psc_key(prefix, pcid);
  const PscPayload p{.next_table = step.next_table,
                     .entry_address = step.entry_address,
                     .entry_value = step.value,
                     .rights = step.rights,
                     .next_pat = step.next_table_pat};
  StructureStats& st = stats_.psc[level_number(step.level)];
  if (const int way = cache->find(set, key); way != SetAssoc<PscPayload>::kNoWay) {
    cache->payload(set, static_cast<u32>(way)) = p;
    cache->touch(set, static_cast<u32>(way));
    ++st.fills;
    return;
  }
  bool evicted = false;
  cache->insert(set, key, p, evicted);
  ++st.fills;
  if (evicted) ++st.evictions;
}

void Tlb::invalidate_page(VAddr va, u16 pcid, Globals globals) {
  ++generation_;
  for (std::size_t i = 0; i < arrays_.size(); ++i) {
    Array& a = arrays_[i];
    if (a.store.valid_count() == 0) continue;
    for (PageSize s : kAllPageSizes) {
      if (!a.shape.holds(s)) continue;
      const u64 vpn = vpn_of(va, s);
      stats_.arrays[i].invalidated +=
          a.store.drop_if_in_set(a.store.set_of(vpn), [&](u32, u32, u64 k, const auto&) {
            if (key_size(k) != s || key_vpn(k) != vpn) return false;
            const u16 tag = key_tag(k);
            return tag == pcid || (tag == kGlobalTag && globals == Globals::kDrop);
          });
    }
  }
}

void Tlb::invalidate_pcid(u16 pcid, Globals globals) {
  ++generation_;
  for (std::size_t i = 0; i < arrays_.size(); ++i) {
    stats_.arrays[i].invalidated += arrays_[i].store.drop_if([&](u32, u32, u64 k, const auto&) {
      const u16 tag = key_tag(k);
      return tag == pcid || (tag == kGlobalTag && globals == Globals::kDrop);
    });
  }
}

void Tlb::invalidate_non_global() {
  ++generation_;
  for (std::size_t i = 0; i < arrays_.size(); ++i) {
    stats_.arrays[i].invalidated += arrays_[i].store.drop_if(
        [&](u32, u32, u64 k, const auto&) { return key_tag(k) != kGlobalTag; });
  }
}

void Tlb::invalidate_all() {
  ++generation_;
  for (std::size_t i = 0; i < arrays_.size(); ++i) {
    stats_.arrays[i].invalidated += arrays_[i].store.clear();
  }
  psc_invalidate_all();
}

void Tlb::psc_invalidate_pcid(u16 pcid) {
  for (int l = 2; l <= kMaxLevels; ++l) {
    if (!psc_[l]) continue;
    stats_.psc[l].invalidated +=
        psc_[l]->drop_if([&](u32, u32, u64 k, const auto&) { return psc_key_pcid(k) == pcid; });
  }
}

void Tlb::psc_invalidate_all() {
  for (int l = 2; l <= kMaxLevels; ++l) {
    if (psc_[l]) stats_.psc[l].invalidated += psc_[l]->clear();
  }
}

void Tlb::psc_invalidate_path(VAddr va, u16 pcid) {
  for (int l = 2; l <= kMaxLevels; ++l) {
    if (!psc_[l]) continue;
    const u64 prefix = psc_prefix(va, level_from_number(l));
    const u64 key = psc_key(prefix, pcid);
    stats_.psc[l].invalidated += psc_[l]->drop_if_in_set(
        psc_[l]->set_of(prefix), [&](u32, u32, u64 k, const auto&) { return k == key; });
  }
}

u64 Tlb::valid_entries() const {
  u64 n = 0;
  for (const Array& a : arrays_) n += a.store.valid_count();
  return n;
}

u64 Tlb::valid_psc_entries() const {
  u64 n = 0;
  for (int l = 2; l <= kMaxLevels; ++l) {
    if (psc_[l]) n += psc_[l]->valid_count();
  }
  return n;
}

void Tlb::reset_stats() {
  const std::size_t n = stats_.arrays.size();
  stats_ = TlbStats{};
  stats_.arrays.resize(n);
}

}  // namespace pagesim::mmu
