#include "mmu/page_fault.h"

#include <fmt/format.h>

namespace pagesim::mmu::pf {

std::string bit_name(unsigned bit) {
  switch (bit) {
    case 0:
      return "P";
    case 1:
      return "W/R";
    case 2:
      return "U/S";
    case 3:
      return "RSVD";
    case 4:
      return "I/D";
    case 5:
      return "PK";
    case 6:
      return "SS";
    case 7:
      return "HLAT";
    case 15:
      return "SGX";
    default:
      return fmt::format("bit {}", bit);
  }
}

std::string describe(u32 error_code) {
  if (error_code == 0) return "0x0000 (not present, read, supervisor)";
  std::string names;
  for (unsigned bit = 0; bit < 32; ++bit) {
    if (!(error_code & (1u << bit))) continue;
    if (!names.empty()) names += '|';
    names += bit_name(bit);
  }
  return fmt::format("{:#06x} ({})", error_code, names);
}

}  // namespace pagesim::mmu::pf
