// One parsed trace statement, and the machine a trace describes (docs/trace-format.md).
#pragma once

#include <optional>
#include <string>

#include "sim/addr.h"

namespace pagesim::wl {

enum class OpKind : u8 {
  kSpace,    // space N
  kBarrier,  // barrier
  kMap,
  kMapPa,
  kUnmap,
  kProtect,
  kAccess,  // read / write / fetch
  kSwitch,
  kFlush,
  kInvlpg,
  kInvpcid,
  kCr0,
  kCr4,
  kEfer,
  kPkru,
  kPkrs,
  kCpl,
  kAc,
  kExpectEntry,
};

enum class AccessType : u8 { kRead, kWrite, kFetch };

// Rights letters of `prot=`.
inline constexpr u8 kProtR = 1, kProtW = 2, kProtX = 4;
// `clear=` of protect.
inline constexpr u8 kClearA = 1, kClearD = 2;

enum class CacheMode : u8 { kWb, kWt, kUc };

// Address-space names: a user space N ≥ 1, the kernel page table, or "the CPU's current one".
inline constexpr i64 kSpaceCurrent = -1;
inline constexpr i64 kSpaceKernel = 0;

struct ExpectAccess {
  enum class Kind : u8 { kNone, kOk, kPf, kGp, kSs };
  Kind kind = Kind::kNone;
  std::optional<u64> pa;
  std::optional<u64> size;
  u16 code = 0;
  bool operator==(const ExpectAccess&) const = default;
};

struct TraceOp {
  OpKind kind = OpKind::kBarrier;
  u16 cpu = 0;
  u64 line = 0;  // 1-based line number in the trace file

  // Memory management.
  VAddr va;
  u64 len = 0;
  PAddr pa;
  u8 prot = kProtR | kProtW;
  bool user = false;
  bool global = false;
  bool accessed = false;
  bool dirty = false;
  CacheMode cache = CacheMode::kWb;
  bool cache_given = false;  // protect: leave the cache mode alone unless given
  u64 page_size = 0;         // map: 0 = largest that fits
  u8 clear = 0;              // protect: kClearA | kClearD
  i64 space = kSpaceCurrent;

  // Accesses.
  AccessType access = AccessType::kRead;
  i8 cpl = -1;  // -1: the CPU's current CPL
  i8 ac = -1;   // -1: the CPU's current RFLAGS.AC
  bool implicit = false;
  bool stack = false;
  ExpectAccess expect;

  // Control registers and invalidation.
  std::optional<u16> pcid;
  bool noflush = false;
  u8 invpcid_type = 0;
  u64 set_bits = 0;    // cr0 / cr4 / efer: bits to set
  u64 clear_bits = 0;  // and to clear
  u64 value = 0;       // space id, pkru, pkrs, cpl, ac

  // expect-entry.
  u8 level = 0;
  u64 raw = 0;
  u64 mask = ~u64{0};

  bool operator==(const TraceOp&) const = default;
};

struct MachineConfig {
  u8 levels = 4;
  u64 ram = 4 * GiB;
  u16 cpus = 1;
  std::string tlb = "intel";
  u8 maxphyaddr = 46;
  bool maxphyaddr_given = false;  // else the profile's (46 for sdm/amd, 40 for qemu)
  std::string profile = "sdm";
  bool shootdown = true;
};

inline constexpr u16 kMaxCpus = 64;

}  // namespace pagesim::wl
