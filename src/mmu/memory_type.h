// Memory types, reported but not simulated (spec section 7, MT1-MT5).
#pragma once

#include <string_view>

#include "sim/types.h"

namespace pagesim::mmu {

// MT2: the type encodings of an IA32_PAT field (bits 2:0). 2 and 3 are reserved.
enum class MemoryType : u8 {
  kUc = 0,
  kWc = 1,
  kReserved2 = 2,
  kReserved3 = 3,
  kWt = 4,
  kWp = 5,
  kWb = 6,
  kUcMinus = 7,
};

// MT2: the type IA32_PAT gives PAT index `index` (field `index`, bits 2:0).
constexpr MemoryType pat_type(u64 ia32_pat, unsigned index) {
  return static_cast<MemoryType>((ia32_pat >> (8 * (index & 7))) & 7);
}

constexpr std::string_view memory_type_name(MemoryType t) {
  switch (t) {
    case MemoryType::kUc:
      return "UC";
    case MemoryType::kWc:
      return "WC";
    case MemoryType::kWt:
      return "WT";
    case MemoryType::kWp:
      return "WP";
    case MemoryType::kWb:
      return "WB";
    case MemoryType::kUcMinus:
      return "UC-";
    default:
      return "reserved";
  }
}

// WRMSR IA32_PAT raises #GP(0) if a field has a reserved type or any of bits 7:3 set.
constexpr bool valid_pat_msr(u64 v) {
  for (unsigned i = 0; i < 8; ++i) {
    const u64 field = (v >> (8 * i)) & 0xff;
    if (field > 7 || field == 2 || field == 3) return false;
  }
  return true;
}

}  // namespace pagesim::mmu
