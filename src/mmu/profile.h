// A machine profile: what the simulated CPU model supports (spec section 0) and which of the
// documented behaviours it shows where implementations differ (sections 0 and 9).
//
// The Intel SDM behaviour is the default. Every deviation is a named knob, so a profile is a set
// of knob values and `pagesim conformance` can say which knob explains a difference. The QEMU
// profile turns on every QEMU 7.2 deviation Q1-Q8 at once (spec 9.1 and
// tests/conformance/README.md).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sim/result.h"
#include "sim/types.h"

namespace pagesim::mmu {

// Whether the CPU model offers a feature (CPUID). Not a bool: STYLE.md lesson 8.
enum class Support : u8 { kNo, kYes };

// R7, A1: AMD makes bit 8 of PML5E/PML4E must-be-zero.
enum class Vendor : u8 { kIntel, kAmd };

// AD4: A bits on faulting walks. kProgressive sets A in each non-leaf entry that passed its
// checks before the next level is read (QEMU); kNone writes nothing until the translation has
// succeeded, then sets every A (top-down) and D (Bochs).
enum class AOnFault : u8 { kProgressive, kNone };

// PF1, Q1: whether a reserved-bit page fault reports P=1 (SDM) or only RSVD (QEMU >= 7.2).
enum class RsvdFaultP : u8 { kSet, kClear };

// PK5, Q5: the PK bit for a user-mode data access to a supervisor page whose PKRS bits deny it.
// kReport is the SDM-literal reading (and Bochs); kOmit is QEMU (U/S is checked before keys).
enum class PkUserToSupervisor : u8 { kReport, kOmit };

// T7: on a TLB hit that denies the access, walk again (QEMU, Bochs) or raise the fault computed
// from the cached rights (a "spurious" fault), then invalidate (INV6).
enum class TlbDenyPolicy : u8 { kRewalk, kSpuriousFault };

// Q2: QEMU sets A in a PDPTE that maps a 1 GiB page right after its present and bits-51:M / XD
// checks, before the 29:13 alignment check and the rights check, so a faulting 1 GiB leaf can
// gain A. kOnSuccess is the SDM (the leaf gets A only when the translation succeeds).
enum class GbLeafAccessed : u8 { kOnSuccess, kBeforeLeafChecks };

// R6, Q3: whether PDPTE.PS=1 faults (reserved bit) on a model without 1 GiB pages. QEMU never
// checks and always treats it as a 1 GiB page.
enum class GbPagesCheck : u8 { kEnforce, kIgnore };

// AR9, Q4: SMAP for implicit supervisor accesses. The SDM applies SMAP to them whatever AC is;
// QEMU lets them through when CPL < 3 and AC = 1.
enum class ImplicitSmap : u8 { kIgnoreAc, kHonourAcBelowCpl3 };

// L3, Q6: the fault for a non-canonical address: #SS(0) for SS-segment references, else #GP(0)
// (SDM); QEMU raises #GP(0) for every one.
enum class NonCanonicalFault : u8 { kBySegment, kAlwaysGp };

// AD5, Q7: A/D updates are a compare-and-swap of the whole entry against the value read, and a
// failure restarts the walk from the root (SDM reading); QEMU compares only bits 31:0 and, for a
// non-leaf entry, re-reads that level only.
enum class AdUpdate : u8 { kCas64RestartWalk, kCas32RestartLevel };

// INV1-INV9, Q8: invalidate what section 8.4 requires (kArchitectural), or flush the whole TLB
// and paging-structure caches, globals included, on every CR3 write, on CR0.PG/PE/WP and
// CR4.PGE/PAE/PSE/SMEP/SMAP/LA57 changes, on EFER.NXE changes and on PKRU/PKRS writes (QEMU).
enum class FlushScope : u8 { kArchitectural, kWholeTlb };

// Spec section 0: a paging-structure entry outside simulated RAM. kBusError is pagesim's own
// outcome WalkBusError{level, entry_address}. kReadsZero models an emulator that reads
// unassigned physical memory as 0 and drops writes to it (QEMU's unassigned-memory region):
// the entry is then not present and the walk ends with a not-present page fault. The same knob
// decides what a data access outside RAM reads in `pagesim conformance`.
enum class UnbackedMemory : u8 { kBusError, kReadsZero };

struct Profile {
  std::string name = "sdm";

  // --- What the CPU model supports (section 0; CPUID). ---
  unsigned maxphyaddr = 46;  // M1: 32..52
  Support la57 = Support::kYes;
  Support gbpages = Support::kYes;
  Support pku = Support::kYes;
  Support pks = Support::kYes;
  Support cet_ss = Support::kYes;
  Support pcid = Support::kYes;
  Support smep = Support::kYes;
  Support smap = Support::kYes;
  Support pge = Support::kYes;
  Support nx = Support::kYes;
  Vendor vendor = Vendor::kIntel;

  // --- Behaviour where implementations differ (sections 0 and 9). ---
  AOnFault a_on_fault = AOnFault::kProgressive;
  RsvdFaultP rsvd_fault_p = RsvdFaultP::kSet;
  PkUserToSupervisor pk_user_to_supervisor = PkUserToSupervisor::kReport;
  TlbDenyPolicy tlb_deny_policy = TlbDenyPolicy::kRewalk;
  GbLeafAccessed gb_leaf_accessed = GbLeafAccessed::kOnSuccess;
  GbPagesCheck gbpages_check = GbPagesCheck::kEnforce;
  ImplicitSmap implicit_smap = ImplicitSmap::kIgnoreAc;
  NonCanonicalFault non_canonical = NonCanonicalFault::kBySegment;
  AdUpdate ad_update = AdUpdate::kCas64RestartWalk;
  FlushScope flush_scope = FlushScope::kArchitectural;
  UnbackedMemory unbacked = UnbackedMemory::kBusError;

  // The Intel SDM, every default of spec section 0.
  static Profile sdm();
  // AMD: the AMD-only reserved bit (R7) and no PKS (A2); otherwise as the SDM.
  static Profile amd();
  // QEMU 7.2 TCG (`-cpu max`): every deviation Q1-Q8 on, MAXPHYADDR 40, no PCID, no CET.
  static Profile qemu72();
  // "sdm", "intel", "amd", "qemu", "qemu-7.2".
  static Result<Profile, std::string> named(std::string_view name);
  static std::vector<std::string_view> preset_names();

  // Sets one knob by its name in the spec (e.g. "a_on_fault", "rsvd_sets_p", "maxphyaddr",
  // "qemu_compat"), with a message naming the accepted values on error.
  Result<void, std::string> set_knob(std::string_view knob, std::string_view value);
  static std::vector<std::string_view> knob_names();

  // Every knob as "name=value", in a fixed order (for reports and `--help`).
  std::vector<std::string> knob_values() const;

  // Checks the values are coherent (M1: 32 <= maxphyaddr <= 52).
  Result<void, std::string> validate() const;
};

}  // namespace pagesim::mmu
