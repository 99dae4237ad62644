// The reference model: the third, independent side of every check (DESIGN.md, "workloads").
//
// It knows abstractly what the simulated OS mapped where, with which rights, and derives from
// the x86-64 rules (docs/spec/x86-64-paging.md) what each access must produce and what each leaf
// entry's 64-bit value must be. It shares no code with the page table (src/pagetable/) or the MMU
// (src/mmu/): its rule evaluator, its entry encoder and its raw table reader are its own.
//
// Races. Operations of different CPUs between two barriers (an epoch) may run in any order. The
// model records, per mapping key, every version the epoch's operations produced; an access is
// accepted if some combination of versions that an order of the operations allows explains it,
// and at the barrier the version that memory actually holds is taken as the new state — after
// checking that some order allows it. With one CPU none of this is recorded.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sim/phys_mem.h"
#include "workloads/flat_map.h"
#include "workloads/trace_op.h"

namespace pagesim::wl {

// A leaf mapping as the OS asked for it.
struct ModelMapping {
  u64 frame = 0;  // physical base of the page
  u8 shift = 12;  // log2 of the page size: 12, 21 or 30
  u8 prot = kProtR;
  bool user = false;
  bool global = false;
  CacheMode cache = CacheMode::kWb;
  bool tracked = true;
  bool accessed = false;  // expected A in memory
  bool dirty = false;     // expected D in memory
  u16 cpu = 0;            // provenance, for reports
  u64 line = 0;
  u64 size() const { return u64{1} << shift; }
};

// The model's own copy of a CPU's control state, kept from the trace's register operations.
struct ModelCpu {
  bool wp = true;
  bool smep = false;
  bool smap = false;
  bool pke = false;
  bool pks = false;
  bool nxe = true;
  u32 pkru = 0;
  u32 pkrs = 0;
  u8 cpl = 0;
  bool ac = false;
  i64 space = kSpaceKernel;  // the address space CR3 holds
};

struct ModelAccess {
  VAddr va;
  AccessType type = AccessType::kRead;
  u8 cpl = 0;
  bool ac = false;
  bool implicit = false;
  bool stack = false;
};

struct ModelOutcome {
  enum class Kind : u8 { kOk, kPf, kGp, kSs };
  Kind kind = Kind::kOk;
  u64 pa = 0;
  u64 size = 0;
  u16 code = 0;
  bool operator==(const ModelOutcome&) const = default;
};

// Documented deviations the hardware profile selects (spec §9.1), as the model must predict.
struct ModelProfile {
  bool rsvd_sets_p = true;                // Q1: false in the QEMU profile
  bool stack_gp = false;                  // Q6: #GP also for stack references
  bool implicit_smap_honours_ac = false;  // Q4
  bool pks_user_no_pk = false;            // Q5
  bool a_on_faulting_1g_leaf = false;     // Q2
};

struct ModelParams {
  u8 levels = 4;
  u8 maxphyaddr = 46;
  u16 cpus = 1;
  ModelProfile profile;
  // Keep the last mapping removed at each key, to name stale TLB hits (shootdowns off).
  bool remember_removed = false;
};

// What the model expects of one leaf entry: its value, and which bits are certain.
struct ExpectedEntry {
  bool present = false;
  u8 level = 0;        // level of the leaf (1 = 4 KiB)
  u64 raw = 0;         // the model's own encoding
  u64 mask = ~u64{0};  // bits compared (A/D left out where hardware may set them)
  ModelMapping mapping;
};

// Reading the OS's table from memory, as hardware would see it (the model's own minimal
// decoder: P, PS and the address bits only).
struct RawLeaf {
  bool found = false;  // a present leaf covers the address
  u8 level = 0;        // its level, or the level where the path ended
  u64 raw = 0;
  PAddr entry_addr;
};

class ReferenceModel {
 public:
  explicit ReferenceModel(ModelParams p);

  u8 max_untracked_level() const;  // largest level map_pa uses in the kernel
  static u64 level_size(u8 level) { return u64{1} << (12 + 9 * (level - 1)); }

  // --- Registration of the OS's operations, made before the OS performs them. ---
  // A tracked page (of its own size) at `va` in `space` (0 = kernel).
  void map_page(u16 cpu, u64 line, i64 space, VAddr va, ModelMapping m);
  // An untracked range, cut into pages the way the OS does (largest that fit both addresses).
  void map_pa(u16 cpu, u64 line, VAddr va, PAddr pa, u64 len, ModelMapping proto);
  void unmap(u16 cpu, u64 line, i64 space, VRange r);
  void protect(u16 cpu, u64 line, i64 space, VRange r, u8 prot, std::optional<CacheMode> cache,
               u8 clear);

  // --- Judging. ---
  // The outcome the rules give for `a` under the current mappings.
  ModelOutcome expect(u16 cpu, const ModelCpu& c, const ModelAccess& a) const;
  // Whether `actual` is allowed for this access (some order of the epoch's operations explains
  // it). If allowed and it matched the current state, records the A/D bits the access sets.
  bool judge(u16 cpu, const ModelCpu& c, const ModelAccess& a, const ModelOutcome& actual);
  // The expected leaf covering `va` in `space`.
  ExpectedEntry expected_entry(i64 space, VAddr va) const;
  // Every expected leaf value that some order allows (several when racing).
  std::vector<ExpectedEntry> allowed_entries(u16 cpu, i64 space, VAddr va) const;
  // A recently removed mapping that covered `va` (for naming stale TLB hits).
  std::optional<ModelMapping> removed_mapping(i64 space, VAddr va) const;
  // Whether another CPU changed a mapping covering `va` in this epoch.
  bool racing(u16 cpu, i64 space, VAddr va) const;
  // Whether any CPU changed or touched the page in this epoch (A/D may differ from the model).
  bool epoch_touched(i64 space, VAddr va) const;

  // Ends an epoch: for every key changed in it by more than one CPU, takes the version memory
  // holds (read with `read_leaf`), or reports through `mismatch` that no order allows it.
  void end_epoch(const std::function<RawLeaf(i64 space, VAddr va, u8 level)>& read_leaf,
                 const std::function<void(std::string)>& mismatch);

  // Adopts the A/D bits memory shows for `va` (after a racing epoch or a concurrent access).
  void adopt_status(i64 space, VAddr va, bool accessed, bool dirty);

  // --- The model's own x86 knowledge. ---
  u64 encode_leaf(const ModelMapping& m) const;
  ModelOutcome evaluate(const ModelMapping* m, const ModelCpu& c, const ModelAccess& a) const;
  bool canonical(VAddr va) const;
  static RawLeaf read_leaf(const PhysMem& mem, PAddr root, u8 levels, VAddr va, u8 stop_level);

  u64 nr_mappings() const;

 private:
  // One operation of the epoch on one mapping key. Set and Clear decide what the key maps (a
  // map, a split piece, an unmap); Protect changes the rights of whatever is mapped then.
  struct Op {
    enum class Kind : u8 { kSet, kClear, kProtect };
    Kind kind = Kind::kSet;
    u16 cpu = 0;
    u64 line = 0;
    ModelMapping m;  // kSet
    u8 prot = 0;     // kProtect
    std::optional<CacheMode> cache;
    u8 clear = 0;
  };
  struct History {
    std::optional<ModelMapping> base;  // at the start of the epoch
    std::vector<Op> ops;
  };
  // An unmap or protect of the epoch, kept for its whole range: it applies to whatever is mapped
  // in the range when the OS runs it, which with racing CPUs may be a key the model's
  // registration order had absent.
  struct RangeOp {
    Op op;
    i64 space;
    VRange r;
  };
  enum class Cut : u8 { kObserver, kFinal };
  // The states of a key some order of its epoch's operations `ops` allows: as seen by CPU `cpu`
  // after its own operations so far (kObserver), or at the end of the epoch (kFinal).
  std::vector<std::optional<ModelMapping>> candidates(const std::optional<ModelMapping>& base,
                                                      const std::vector<Op>& ops, u16 cpu,
                                                      Cut cut) const;
  // The key's own operations and the range operations covering it.
  std::vector<Op> ops_of(u64 k, const History& h) const;
  static ModelMapping apply_protect(ModelMapping m, const Op& p);
  History& history(u64 k);
  void add_range_op(const Op& op, i64 space, VRange r);
  VRange key_range(u64 k) const;

  u64 key(i64 space, u8 shift, VAddr va) const;
  // The key of the page of size index `i` (0: 4 KiB, 1: 2 MiB, 2: 1 GiB) that holds `va`.
  u64 key_at(i64 space, u8 i, VAddr va) const;
  const ModelMapping* covering(i64 space, VAddr va, u8* shift_out = nullptr) const;
  ModelMapping* covering_mut(i64 space, VAddr va);
  enum class Record : u8 { kOp, kBaseOnly };
  void set(u16 cpu, u64 line, i64 space, VAddr base, u8 shift, std::optional<ModelMapping> m,
           Record record = Record::kOp);
  void remove_inside(u16 cpu, u64 line, i64 space, VAddr va, u64 size);
  void split_partial(u16 cpu, u64 line, i64 space, VRange r);
  // Splits the untracked mapping `m` at `base` into next-level pages.
  void split(u16 cpu, u64 line, i64 space, VAddr base,
             ModelMapping m);  // by value: it erases m's slot
  template <class F>
  void for_each_overlapping(i64 space, VRange r, F&& f);
  void count(i64 space, VAddr base, u8 shift, int delta);
  std::unique_lock<std::mutex> lock() const;

  ModelParams p_;
  u64 va_mask_;
  FlatMap<ModelMapping> maps_[3];   // by size: 4K, 2M, 1G
  FlatMap<u32> occupied_1g_;        // mappings per (space, 1 GiB region)
  FlatMap<u32> occupied_2m_;        // mappings per (space, 2 MiB region)
  FlatMap<History> epoch_;          // per key changed in this epoch (several CPUs only)
  std::vector<RangeOp> range_ops_;  // this epoch's unmaps and protects (several CPUs only)
  // (space, 4 KiB page, 2 MiB or 1 GiB region) → indexes in range_ops_ (add_range_op).
  FlatMap<std::vector<u32>> range_index_;
  static constexpr u64 kRangeIndexFanout = 16;
  FlatMap<ModelMapping> removed_;  // last mapping removed per key
  mutable std::mutex mu_;
};

// Names the differing bits of two entries ("A: expected 1, found 0; address: …").
std::string diff_entry_bits(u64 expected, u64 actual, u64 mask);
// Names the bits of a page-fault error code ("P W U" …).
std::string describe_error_code(u16 code);
std::string describe(const ModelOutcome& o);

}  // namespace pagesim::wl
