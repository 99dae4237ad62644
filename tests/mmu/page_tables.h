// Test helper: builds IA-32e page tables in a PhysMem out of raw entries, so the MMU tests state
// exactly which bits each entry holds. Independent of src/pagetable (the MMU judges it).
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <memory>

#include "mmu/entry_bits.h"
#include "mmu/level.h"
#include "sim/cpu_state.h"
#include "sim/phys_mem.h"

namespace pagesim::mmu::testing {

inline constexpr u64 kP = entry::kP;
inline constexpr u64 kRw = entry::kRw;
inline constexpr u64 kUs = entry::kUs;
inline constexpr u64 kPwt = entry::kPwt;
inline constexpr u64 kPcd = entry::kPcd;
inline constexpr u64 kA = entry::kA;
inline constexpr u64 kD = entry::kD;
inline constexpr u64 kPs = entry::kPs;
inline constexpr u64 kG = entry::kG;
inline constexpr u64 kXd = entry::kXd;
inline constexpr u64 kUser = kP | kRw | kUs;  // a present, writable, user entry

// The spec's baseline control state (section 0): CR0.PG=WP=1, CR4.PAE=1, EFER.LME=LMA=NXE=1,
// CR3 = 0x1000, everything else 0.
inline CpuState baseline_state(int levels = 4) {
  CpuState s;
  s.cr0 = reg::kCr0Pe | reg::kCr0Pg | reg::kCr0Wp;
  s.cr4 = reg::kCr4Pae | (levels == 5 ? reg::kCr4La57 : 0);
  s.efer = reg::kEferLme | reg::kEferLma | reg::kEferNxe;
  s.cr3 = 0x1000;
  return s;
}

inline std::unique_ptr<PhysMem> make_mem(u64 size = 64 * MiB) {
  auto m = PhysMem::create(size);
  EXPECT_TRUE(m.ok());
  return std::move(m.value());
}

class PageTables {
 public:
  // Tables are allocated from `next_table` upwards; the root table is at `root`.
  PageTables(PhysMem& mem, int levels, u64 root = 0x1000, u64 next_table = 0x100000)
      : mem_(mem), levels_(levels), root_(root), next_(next_table) {}

  u64 root() const { return root_; }
  int levels() const { return levels_; }

  // Maps `va` to frame `pa` with a leaf at `leaf` holding `leaf_flags` (the address bits are
  // added), every entry above it holding `table_flags`. Missing tables are created; existing
  // table entries on the path are rewritten with `table_flags`. Returns the leaf's address.
  u64 map(VAddr va, u64 pa, u64 leaf_flags, Level leaf = Level::kPte, u64 table_flags = kUser) {
    u64 table = root_;
    for (int n = levels_; n > level_number(leaf); --n) {
      const Level l = level_from_number(n);
      const u64 addr = table + 8 * level_index(va, l);
      u64 e = get(addr);
      u64 next = e & entry::address_mask(52);
      const bool large_leaf = (l == Level::kPdpte || l == Level::kPde) && (e & kPs);
      if (!(e & kP) || next == 0 || large_leaf) {
        next = next_;
        next_ += kFrameSize;
      }
      set(addr, next | table_flags);
      table = next;
    }
    const u64 addr = table + 8 * level_index(va, leaf);
    set(addr, pa | leaf_flags);
    return addr;
  }

  // The address of the entry of level `l` on the path of `va` (the tables above must exist).
  u64 entry_addr(VAddr va, Level l) const {
    u64 table = root_;
    for (int n = levels_; n > level_number(l); --n) {
      const u64 e = get(table + 8 * level_index(va, level_from_number(n)));
      table = e & entry::address_mask(52);
    }
    return table + 8 * level_index(va, l);
  }
  u64 entry(VAddr va, Level l) const { return get(entry_addr(va, l)); }
  void set_entry(VAddr va, Level l, u64 v) { set(entry_addr(va, l), v); }

  u64 get(u64 addr) const { return mem_.load_entry(PAddr(addr)).value(); }
  void set(u64 addr, u64 v) { EXPECT_TRUE(mem_.store_entry(PAddr(addr), v).ok()); }

 private:
  PhysMem& mem_;
  int levels_;
  u64 root_;
  u64 next_;
};

}  // namespace pagesim::mmu::testing
