// One CPU's TLBs and paging-structure caches (spec section 8). Per CPU, never shared (T10):
// a Tlb is used by the thread of its CPU only.
//
// What an entry holds (T2): the page number, its size, the PCID tag or the global mark, the
// frame, the combined rights (D3), the key, the leaf's D after the fill and the PAT index.
// Only successful walks create entries (T1); rights are not decided here but by the Mmu from
// the cached values and the current control state at every hit (T5).
//
// T9: "if several entries match, pagesim uses the most recently filled one." A fill first
// removes every older entry that overlaps the new page and could match together with it under
// some PCID (an eviction, always allowed, T10). So at most one distinct entry ever matches an
// address; the copies of that entry in L1 and L2 share its fill sequence number, and dropping
// an entry (T6, T7) drops every copy.
#pragma once

#include <optional>
#include <vector>

#include "mmu/access.h"
#include "mmu/outcome.h"
#include "mmu/set_assoc.h"
#include "mmu/tlb_shape.h"
#include "mmu/walker.h"

namespace pagesim::mmu {

struct TlbPayload {
  u64 frame = 0;  // physical base address of the page
  u64 seq = 0;    // fill sequence number, shared by the copies of one entry (T9)
  Rights rights;
  Global global = Global::kNo;
  Dirty dirty = Dirty::kNo;
  u8 pkey = 0;
  u8 pat_index = 0;
};

// The result of a lookup: `entry` is null on a miss. On a hit it points into the TLB and stays
// valid until the TLB next changes (a fill, a drop, an invalidation).
struct TlbHit {
  const TlbPayload* entry = nullptr;
  TlbLevel level = TlbLevel::kL1;
  PageSize size = PageSize::k4K;
  u8 array = 0;  // index into shape().arrays
  u8 probe = 0;  // index of the first-level probe that hit (for replay_l1_hit)
  u32 set = 0;
  u32 way = 0;
  explicit operator bool() const { return entry != nullptr; }
};

struct StructureStats {
  u64 hits = 0;
  u64 misses = 0;
  u64 fills = 0;
  u64 evictions = 0;
  u64 invalidated = 0;
};

struct TlbStats {
  u64 l1_hits = 0;
  u64 l1_misses = 0;
  u64 l2_hits = 0;
  u64 l2_misses = 0;
  std::vector<StructureStats> arrays;              // by index into shape().arrays
  std::array<StructureStats, kMaxLevels + 1> psc;  // by level number (2..5)
};

// Whether a fill follows a lookup that missed for the same address, port and PCID (then the
// L1 and L2 arrays of that port are known to hold no entry that could match with the new one).
enum class FillContext : u8 { kAfterMiss, kUnchecked };
// Whether an invalidation by address also drops global entries.
enum class Globals : u8 { kKeep, kDrop };

class Tlb {
 public:
  // `shape` must have passed TlbShape::validate().
  explicit Tlb(TlbShape shape);

  const TlbShape& shape() const { return shape_; }

  // Key of a TLB entry: valid (63) | size (62:61) | page number (60:13) | tag (12:0), the tag
  // being the PCID (0..4095) or kGlobalTag. A 57-bit linear address has at most 45 page-number
  // bits, so the page number fits.
  static constexpr u16 kGlobalTag = 0x1000;
  static constexpr u64 vpn_of(VAddr va, PageSize s) {
    // Bits 63:57 of a canonical address are copies of bit 56 (or 47); they add nothing.
    return (va.value() & ((u64{1} << 57) - 1)) >> page_shift(s);
  }
  static constexpr u64 tlb_key(PageSize s, u64 vpn, u16 tag) {
    return kKeyValid | (u64(size_index(s)) << 61) | (vpn << 13) | tag;
  }

  // T5: the entry for `va` under PCID `pcid` (global entries match any PCID), looking in the
  // first-level arrays of `port`, then the second level; a second-level hit is copied into the
  // first level. Inline: the first level is the hot path of every translation.
  TlbHit lookup(VAddr va, Port port, u16 pcid) {
    const int p = static_cast<int>(port);
    const Probe* probes = l1_probes_[p].data();
    const std::size_t n = l1_probes_[p].size();
    for (std::size_t i = 0; i < n; ++i) {
      const Probe& probe = probes[i];
      SetAssoc<TlbPayload>& store = *probe.store;
      // An array that holds no entry of this size cannot hit: skip the search (the miss is
      // counted all the same).
      if (store.valid_count_of_class(size_index(probe.size)) != 0) {
        const u64 vpn = vpn_of(va, probe.size);
        const u32 set = store.set_of(vpn);
        const int way =
            store.find(set, tlb_key(probe.size, vpn, pcid), tlb_key(probe.size, vpn, kGlobalTag));
        if (way != SetAssoc<TlbPayload>::kNoWay) {
          store.touch(set, static_cast<u32>(way));
          ++stats_.arrays[probe.array].hits;
          ++stats_.l1_hits;
          return TlbHit{&store.payload(set, static_cast<u32>(way)),
                        TlbLevel::kL1,
                        probe.size,
                        probe.array,
                        static_cast<u8>(i),
                        set,
                        static_cast<u32>(way)};
        }
      }
      if (probe.last_of_array) ++stats_.arrays[probe.array].misses;
    }
    ++stats_.l1_misses;
    if (l2_probes_[p].empty()) return TlbHit{};  // no second level: nothing to count
    return lookup_l2(va, p, pcid);
  }

  // Makes every result remembered from a hit stale, as a change of the TLB does (the Mmu calls
  // it when a register changes, so its hit memo keys on one number).
  void bump_generation() { ++generation_; }

  // Changes whenever an entry is added, replaced or removed (not on LRU updates): a result
  // computed from a hit stays valid while the generation is unchanged.
  u64 generation() const { return generation_; }

  // Repeats exactly what lookup() does for a first-level hit of `port` at probe `probe`, set
  // `set`, way `way` (the replacement update and the counters), for a caller that remembers
  // that hit from an unchanged generation (Mmu's hit memo).
  void replay_l1_hit(Port port, u8 probe, u32 set, u32 way) {
    const Probe* probes = l1_probes_[static_cast<int>(port)].data();
    for (u8 j = 0; j < probe; ++j) {
      if (probes[j].last_of_array) ++stats_.arrays[probes[j].array].misses;
    }
    probes[probe].store->touch(set, way);
    ++stats_.arrays[probes[probe].array].hits;
    ++stats_.l1_hits;
  }

  // T1, T2, T9: caches the translation `ok` of `va` made by a successful walk.
  void fill(VAddr va, const Ok& ok, Port port, u16 pcid, FillContext ctx) {
    // T9: an older entry that could match together with the new one is dropped first. The
    // common case needs no search: a non-global 4 KiB fill after a miss can only overlap
    // entries of arrays that do not serve this port.
    if (ctx == FillContext::kAfterMiss && ok.attrs.global == Global::kNo &&
        ok.page_size == PageSize::k4K && !has_foreign_arrays_[static_cast<int>(port)]) [[likely]] {
      fill_no_overlaps(va, ok, port, pcid);
      return;
    }
    fill_general(va, ok, port, pcid, ctx);
  }

  // T6, T7, INV6: removes every copy of the entry `hit` (looked up for `va`).
  void drop(VAddr va, const TlbHit& hit);

  // T13: the deepest paging-structure-cache entry on the path of `va` for PCID `pcid`.
  std::optional<WalkStart> psc_lookup(VAddr va, u16 pcid, int levels);
  // T12: caches a non-leaf entry a successful walk read (P=1, no reserved bit, A set).
  void psc_fill(VAddr va, u16 pcid, const NonLeafStep& step);

  // Invalidation primitives; section 8.4 composes them (see Mmu).
  void invalidate_page(VAddr va, u16 pcid, Globals globals);  // entries containing va
  void invalidate_pcid(u16 pcid, Globals globals);            // tagged pcid (+ globals)
  void invalidate_non_global();                               // non-global, every PCID
  void invalidate_all();                                      // everything, globals included
  void psc_invalidate_pcid(u16 pcid);
  void psc_invalidate_all();
  void psc_invalidate_path(VAddr va, u16 pcid);  // the PSC entries on va's path (INV6)

  u64 valid_entries() const;      // TLB entries (copies counted), every array
  u64 valid_psc_entries() const;  // PSC entries, every level
  const TlbStats& stats() const { return stats_; }
  void reset_stats();

 private:
  struct Array {
    TlbArrayShape shape;
    SetAssoc<TlbPayload> store;
  };
  struct PscPayload {
    PAddr next_table;
    PAddr entry_address;
    u64 entry_value = 0;
    Rights rights;
    u8 next_pat = 0;
  };
  struct Probe {
    SetAssoc<TlbPayload>* store = nullptr;
    u8 array = 0;
    PageSize size = PageSize::k4K;
    bool last_of_array = false;  // a lookup counts one miss per array, after its last probe
  };

  TlbHit lookup_l2(VAddr va, int port, u16 pcid);
  void fill_no_overlaps(VAddr va, const Ok& ok, Port port, u16 pcid);
  void fill_general(VAddr va, const Ok& ok, Port port, u16 pcid, FillContext ctx);

  bool serves(const Array& a, Port port) const;
  void insert(int array_index, VAddr va, PageSize size, u16 tag, const TlbPayload& p);
  void drop_overlaps(VAddr va, PageSize size, u16 tag, Global global, Port port, FillContext ctx);

  TlbShape shape_;
  std::vector<Array> arrays_;
  std::array<std::vector<Probe>, 2> l1_probes_;  // by Port
  std::array<std::vector<Probe>, 2> l2_probes_;
  // By Port: whether some array does not serve that port (its entries must be checked when a
  // fill of that port could overlap them, T9).
  std::array<bool, 2> has_foreign_arrays_{};
  std::array<std::array<int, kNrPageSizes>, 2> l1_fill_{};  // array index or -1, by Port, size
  std::array<std::array<int, kNrPageSizes>, 2> l2_fill_{};
  std::array<std::optional<SetAssoc<PscPayload>>, kMaxLevels + 1> psc_;  // by level number
  u64 seq_ = 0;
  u64 generation_ = 0;
  TlbStats stats_;
};

}  // namespace pagesim::mmu
