// Strong address types: a virtual address is not a physical one (STYLE.md lesson 1).
//
// No implicit conversion exists between VAddr, PAddr, Pfn and plain integers; arithmetic is
// limited to what is meaningful (address + byte offset, address - address = byte distance).
// fmt prints each with its kind ("va:0x…", "pa:0x…", "pfn:0x…") so a log line or error message
// never leaves the reader guessing which address space a number belongs to.
#pragma once

#include <fmt/format.h>

#include <compare>

#include "sim/types.h"

namespace pagesim {

namespace detail {
template <class Tag>
class Address {
 public:
  constexpr Address() = default;
  constexpr explicit Address(u64 v) : v_(v) {}
  constexpr u64 value() const { return v_; }

  constexpr Address operator+(u64 off) const { return Address(v_ + off); }
  constexpr Address operator-(u64 off) const { return Address(v_ - off); }
  constexpr Address& operator+=(u64 off) {
    v_ += off;
    return *this;
  }
  constexpr u64 operator-(Address o) const { return v_ - o.v_; }
  constexpr auto operator<=>(const Address&) const = default;

  constexpr Address align_down(u64 a) const { return Address(pagesim::align_down(v_, a)); }
  constexpr bool is_aligned(u64 a) const { return pagesim::is_aligned(v_, a); }
  constexpr u64 offset_in(u64 a) const { return v_ & (a - 1); }

 private:
  u64 v_ = 0;
};

template <class A>
struct Range {
  A start;
  A end;  // exclusive
  constexpr u64 size() const { return end - start; }
  constexpr bool empty() const { return !(start < end); }
  constexpr bool contains(A a) const { return start <= a && a < end; }
  constexpr bool covers(const Range& r) const { return start <= r.start && r.end <= end; }
  constexpr bool operator==(const Range&) const = default;
};
}  // namespace detail

struct VTag;
struct PTag;
using VAddr = detail::Address<VTag>;  // a linear (virtual) address
using PAddr = detail::Address<PTag>;  // a physical address in the simulated RAM's space
using VRange = detail::Range<VAddr>;  // half-open [start, end)
using PRange = detail::Range<PAddr>;

// A physical frame number: PAddr >> 12.
class Pfn {
 public:
  constexpr Pfn() = default;
  constexpr explicit Pfn(u64 n) : n_(n) {}
  static constexpr Pfn containing(PAddr pa) { return Pfn(pa.value() >> kFrameShift); }
  constexpr u64 value() const { return n_; }
  constexpr PAddr addr() const { return PAddr(n_ << kFrameShift); }
  constexpr Pfn operator+(u64 k) const { return Pfn(n_ + k); }
  constexpr auto operator<=>(const Pfn&) const = default;

 private:
  u64 n_ = 0;
};

}  // namespace pagesim

template <>
struct fmt::formatter<pagesim::VAddr> : fmt::formatter<std::string_view> {
  auto format(pagesim::VAddr a, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "va:{:#x}", a.value());
  }
};
template <>
struct fmt::formatter<pagesim::PAddr> : fmt::formatter<std::string_view> {
  auto format(pagesim::PAddr a, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "pa:{:#x}", a.value());
  }
};
template <>
struct fmt::formatter<pagesim::Pfn> : fmt::formatter<std::string_view> {
  auto format(pagesim::Pfn p, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "pfn:{:#x}", p.value());
  }
};
template <>
struct fmt::formatter<pagesim::VRange> : fmt::formatter<std::string_view> {
  auto format(const pagesim::VRange& r, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "va:[{:#x}, {:#x})", r.start.value(), r.end.value());
  }
};
template <>
struct fmt::formatter<pagesim::PRange> : fmt::formatter<std::string_view> {
  auto format(const pagesim::PRange& r, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "pa:[{:#x}, {:#x})", r.start.value(), r.end.value());
  }
};
