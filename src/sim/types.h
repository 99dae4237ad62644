// Fixed-width integer aliases and the page-size constants shared by every layer.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pagesim {

using u8 = std::uint8_t;
using u16 = std::uint16_t;
using u32 = std::uint32_t;
using u64 = std::uint64_t;
using i8 = std::int8_t;
using i64 = std::int64_t;

// The base frame of the simulated machine. Every layer agrees on it; the x86-64 page sizes
// above it (2 MiB, 1 GiB) are paging concepts and live with the paging code.
inline constexpr u64 kFrameShift = 12;
inline constexpr u64 kFrameSize = u64{1} << kFrameShift;

inline constexpr u64 KiB = u64{1} << 10;
inline constexpr u64 MiB = u64{1} << 20;
inline constexpr u64 GiB = u64{1} << 30;
inline constexpr u64 TiB = u64{1} << 40;

constexpr bool is_pow2(u64 x) { return x != 0 && (x & (x - 1)) == 0; }
constexpr u64 align_down(u64 x, u64 a) { return x & ~(a - 1); }
constexpr bool is_aligned(u64 x, u64 a) { return (x & (a - 1)) == 0; }

}  // namespace pagesim
