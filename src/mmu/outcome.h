// The outcome of translating one access (spec section 0): exactly one of Ok, PageFault,
// NonCanonical and WalkBusError.
#pragma once

#include <string>
#include <variant>

#include "mmu/level.h"
#include "mmu/memory_type.h"
#include "mmu/rights.h"
#include "sim/addr.h"

namespace pagesim::mmu {

// T2: a translation is global iff the leaf has G=1 and CR4.PGE=1 when it is made.
enum class Global : u8 { kNo, kYes };

// What a successful translation says about its page, besides the address.
struct PageAttrs {
  Rights rights;  // D3
  Global global = Global::kNo;
  u8 pat_index = 0;                          // MT1
  MemoryType memory_type = MemoryType::kWb;  // MT2: IA32_PAT field pat_index
  u8 pkey = 0;                               // PK1: leaf bits 62:59
  Dirty dirty = Dirty::kNo;                  // the leaf's D after the access
  constexpr bool operator==(const PageAttrs&) const = default;
};

struct Ok {
  PAddr pa;  // W6: frame | offset
  PageSize page_size = PageSize::k4K;
  PageAttrs attrs;
  constexpr bool operator==(const Ok&) const = default;
};

struct PageFault {
  u32 error_code = 0;  // section 5
  VAddr cr2;           // PF9: the faulting linear address
  constexpr bool operator==(const PageFault&) const = default;
};

// L3: #GP(0) or #SS(0); no walk, no A/D update, CR2 unchanged.
enum class NcVector : u8 { kGp, kSs };
struct NonCanonical {
  NcVector vector = NcVector::kGp;
  constexpr bool operator==(const NonCanonical&) const = default;
};

// Section 0: a paging-structure entry lies outside simulated RAM (pagesim only; never produced
// for in-RAM tables).
struct WalkBusError {
  Level level = Level::kPml4e;
  PAddr entry_address;
  constexpr bool operator==(const WalkBusError&) const = default;
};

using Outcome = std::variant<Ok, PageFault, NonCanonical, WalkBusError>;

// "OK pa:0x1234567567 (4 KiB, WB, key 0)", "#PF 0x0007 (P|W/R|U/S) cr2 va:0x…",
// "#GP(0) non-canonical", "bus error: PDE at pa:0x… is outside simulated RAM".
std::string describe(const Outcome& o);

}  // namespace pagesim::mmu
