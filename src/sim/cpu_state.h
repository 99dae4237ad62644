// The architectural registers of one simulated CPU that take part in paging.
//
// Plain register values with named bits (Intel SDM Vol. 3A §2.5 and §4.1; spec section 0). This
// is machine state only: what the bits mean to a translation is the MMU's business (src/mmu/),
// and whether a register write is legal is checked where writes are made (src/mmu/ and the trace
// replay), not here.
#pragma once

#include "sim/addr.h"

namespace pagesim {

namespace reg {
inline constexpr u64 kCr0Pe = u64{1} << 0;
inline constexpr u64 kCr0Wp = u64{1} << 16;
inline constexpr u64 kCr0Pg = u64{1} << 31;

inline constexpr u64 kCr3Pwt = u64{1} << 3;
inline constexpr u64 kCr3Pcd = u64{1} << 4;
inline constexpr u64 kCr3PcidMask = 0xfff;
inline constexpr u64 kCr3NoFlush = u64{1} << 63;  // MOV to CR3 source bit, PCIDE=1 only

inline constexpr u64 kCr4Pae = u64{1} << 5;
inline constexpr u64 kCr4Pge = u64{1} << 7;
inline constexpr u64 kCr4La57 = u64{1} << 12;
inline constexpr u64 kCr4Pcide = u64{1} << 17;
inline constexpr u64 kCr4Smep = u64{1} << 20;
inline constexpr u64 kCr4Smap = u64{1} << 21;
inline constexpr u64 kCr4Pke = u64{1} << 22;
inline constexpr u64 kCr4Cet = u64{1} << 23;
inline constexpr u64 kCr4Pks = u64{1} << 24;

inline constexpr u64 kEferLme = u64{1} << 8;
inline constexpr u64 kEferLma = u64{1} << 10;
inline constexpr u64 kEferNxe = u64{1} << 11;

// Power-on IA32_PAT: WB, WT, UC-, UC, WB, WT, UC-, UC (spec MT2).
inline constexpr u64 kPatPowerOn = 0x0007040600070406ull;
}  // namespace reg

struct CpuState {
  u64 cr0 = reg::kCr0Pe | reg::kCr0Pg | reg::kCr0Wp;
  u64 cr3 = 0;
  u64 cr4 = reg::kCr4Pae;
  u64 efer = reg::kEferLme | reg::kEferLma | reg::kEferNxe;
  u32 pkru = 0;
  u32 pkrs = 0;  // IA32_PKRS
  u64 pat = reg::kPatPowerOn;
  u8 cpl = 0;
  bool ac = false;  // RFLAGS.AC

  bool wp() const { return (cr0 & reg::kCr0Wp) != 0; }
  bool pge() const { return (cr4 & reg::kCr4Pge) != 0; }
  bool la57() const { return (cr4 & reg::kCr4La57) != 0; }
  bool pcide() const { return (cr4 & reg::kCr4Pcide) != 0; }
  bool smep() const { return (cr4 & reg::kCr4Smep) != 0; }
  bool smap() const { return (cr4 & reg::kCr4Smap) != 0; }
  bool pke() const { return (cr4 & reg::kCr4Pke) != 0; }
  bool pks() const { return (cr4 & reg::kCr4Pks) != 0; }
  bool nxe() const { return (efer & reg::kEferNxe) != 0; }
  // The current PCID: CR3[11:0] when CR4.PCIDE=1, else 0 (spec C1, C2).
  u16 pcid() const { return pcide() ? static_cast<u16>(cr3 & reg::kCr3PcidMask) : 0; }
  int levels() const { return la57() ? 5 : 4; }
};

}  // namespace pagesim
