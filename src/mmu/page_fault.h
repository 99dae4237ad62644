// The page-fault error code (spec section 5, PF1-PF8).
#pragma once

#include <string>

#include "sim/types.h"

namespace pagesim::mmu::pf {

inline constexpr u32 kP = 1u << 0;     // PF1: 0 not-present, 1 reserved bit or rights violation
inline constexpr u32 kW = 1u << 1;     // PF2: the access was a write
inline constexpr u32 kU = 1u << 2;     // PF3: the access was a user-mode access (D2)
inline constexpr u32 kRsvd = 1u << 3;  // PF4: reserved-bit fault
inline constexpr u32 kId = 1u << 4;    // PF5: instruction fetch with CR4.SMEP=1 or EFER.NXE=1
inline constexpr u32 kPk = 1u << 5;    // PF6, PK5: protection-key violation
inline constexpr u32 kSs = 1u << 6;    // PF7, SS4: shadow-stack access

// The name of bit `bit` of an error code ("P", "W/R", "U/S", "RSVD", "I/D", "PK", "SS", or
// "bit N" for the bits pagesim never sets, PF8).
std::string bit_name(unsigned bit);

// "0x0007 (P|W/R|U/S)"; "0x0000 (not present, read, supervisor)" for zero.
std::string describe(u32 error_code);

}  // namespace pagesim::mmu::pf
