// A fault raised by an instruction that writes a paging register or invalidates translations
// (MOV to CR0/CR3/CR4, WRMSR, WRPKRU, INVLPG, INVPCID): not a translation outcome, but the
// architectural refusal of the instruction, with the rule that refuses it.
#pragma once

#include <string>

#include "sim/types.h"

namespace pagesim::mmu {

struct CpuFault {
  enum class Kind : u8 {
    kGeneralProtection,  // #GP(0)
    kInvalidOpcode,      // #UD
    kUnsupported,        // architecturally legal, but outside pagesim's model (e.g. leaving
                         // IA-32e paging); reported so a trace can say so, never silently done
  };
  Kind kind = Kind::kGeneralProtection;
  std::string reason;  // e.g. "C3: CR3 bit 50 is reserved with MAXPHYADDR 46"

  std::string describe() const {
    switch (kind) {
      case Kind::kGeneralProtection:
        return "#GP(0): " + reason;
      case Kind::kInvalidOpcode:
        return "#UD: " + reason;
      case Kind::kUnsupported:
        return "not modelled: " + reason;
    }
    return reason;
  }
};

}  // namespace pagesim::mmu
