// One memory reference as the MMU sees it: its type (D1), its privilege (D2), RFLAGS.AC and the
// segment it goes through (L3). The control registers are not part of an access: the MMU reads
// them from its CPU state at the moment of the access (D4).
#pragma once

#include <string>
#include <string_view>

#include "sim/types.h"

namespace pagesim::mmu {

// D1: data read, data write (every write, including the write half of a read-modify-write),
// instruction fetch, CET shadow-stack read and write (section 4.4).
enum class AccessKind : u8 { kRead, kWrite, kFetch, kShadowStackRead, kShadowStackWrite };

// D2: how the privilege of the access is decided.
//  - kExplicit: an instruction's own data access or fetch; user-mode iff CPL = 3.
//  - kImplicitSupervisor: the processor's accesses to system structures (GDT/LDT/IDT/TSS, stacks
//    during event delivery); supervisor-mode at any CPL and never governed by RFLAGS.AC (AR9).
//  - kWruss: WRUSS, a user-mode shadow-stack access made at CPL 0.
enum class AccessOrigin : u8 { kExplicit, kImplicitSupervisor, kWruss };

// RFLAGS.AC in effect for the access (AR9). Not a bool: STYLE.md lesson 8.
enum class Ac : u8 { kClear, kSet };

// L3: the segment of the reference decides #GP(0) or #SS(0) for a non-canonical address.
enum class Segment : u8 { kDs, kSs };

// Which first-level TLB a reference looks in (T10): fetches use the instruction TLB, every other
// reference the data TLB.
enum class Port : u8 { kInstruction = 0, kData = 1 };

struct Access {
  AccessKind kind = AccessKind::kRead;
  u8 cpl = 0;
  AccessOrigin origin = AccessOrigin::kExplicit;
  Ac ac = Ac::kClear;
  Segment segment = Segment::kDs;

  // PF2: every data write and shadow-stack write is a write.
  constexpr bool is_write() const {
    return kind == AccessKind::kWrite || kind == AccessKind::kShadowStackWrite;
  }
  constexpr bool is_fetch() const { return kind == AccessKind::kFetch; }
  constexpr bool is_shadow_stack() const {
    return kind == AccessKind::kShadowStackRead || kind == AccessKind::kShadowStackWrite;
  }
  // Data accesses are everything but fetches (keys govern them, PK1-PK4).
  constexpr bool is_data() const { return kind != AccessKind::kFetch; }

  // D2: user-mode iff CPL = 3 and not implicit; WRUSS shadow-stack accesses are user-mode.
  constexpr bool is_user_mode() const {
    if (origin == AccessOrigin::kWruss) return is_shadow_stack() || cpl == 3;
    if (origin == AccessOrigin::kImplicitSupervisor) return false;
    return cpl == 3;
  }

  constexpr Port port() const { return is_fetch() ? Port::kInstruction : Port::kData; }

  // Convenience constructors for the common cases.
  static constexpr Access read(u8 cpl) { return Access{.kind = AccessKind::kRead, .cpl = cpl}; }
  static constexpr Access write(u8 cpl) { return Access{.kind = AccessKind::kWrite, .cpl = cpl}; }
  static constexpr Access fetch(u8 cpl) { return Access{.kind = AccessKind::kFetch, .cpl = cpl}; }
};

std::string_view access_kind_name(AccessKind k);
// "user write (CPL 3)", "implicit supervisor read (CPL 3, AC=1)", ...
std::string describe(const Access& a);

}  // namespace pagesim::mmu
