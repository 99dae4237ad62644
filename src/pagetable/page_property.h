// The properties of a mapping, independent of the entry encoding (the seed's `PageProperty`,
// `PageFlags`, `PrivilegedPageFlags` and `CachePolicy`). Generic page-table code speaks only in
// these terms; the entry type alone knows the bits (STYLE.md lesson 3).
#pragma once

#include <fmt/format.h>

#include <string>
#include <type_traits>

#include "sim/types.h"

namespace pagesim::pt {

// A small type-safe bit set over an enum whose enumerators are single bits.
template <class Enum>
class Flags {
 public:
  using U = std::underlying_type_t<Enum>;
  constexpr Flags() = default;
  constexpr Flags(Enum e) : bits_(static_cast<U>(e)) {}  // NOLINT: implicit by design
  static constexpr Flags from_bits(U b) {
    Flags f;
    f.bits_ = b;
    return f;
  }
  constexpr U bits() const { return bits_; }
  constexpr bool contains(Flags o) const { return (bits_ & o.bits_) == o.bits_; }
  constexpr bool intersects(Flags o) const { return (bits_ & o.bits_) != 0; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr Flags operator|(Flags o) const { return from_bits(bits_ | o.bits_); }
  constexpr Flags operator&(Flags o) const { return from_bits(bits_ & o.bits_); }
  constexpr Flags operator-(Flags o) const { return from_bits(bits_ & ~o.bits_); }
  constexpr Flags& operator|=(Flags o) { return *this = *this | o; }
  constexpr Flags& operator-=(Flags o) { return *this = *this - o; }
  constexpr bool operator==(const Flags&) const = default;

 private:
  U bits_ = 0;
};

enum class PageFlag : u8 {
  R = 1 << 0,
  W = 1 << 1,
  X = 1 << 2,
  ACCESSED = 1 << 3,  // set by hardware when the page is accessed
  DIRTY = 1 << 4,     // set by hardware when the page is written
};
using PageFlags = Flags<PageFlag>;
constexpr PageFlags operator|(PageFlag a, PageFlag b) { return PageFlags(a) | b; }

enum class PrivFlag : u8 {
  USER = 1 << 0,    // accessible from user mode
  GLOBAL = 1 << 1,  // survives address-space switches (with CR4.PGE)
};
using PrivFlags = Flags<PrivFlag>;
constexpr PrivFlags operator|(PrivFlag a, PrivFlag b) { return PrivFlags(a) | b; }

enum class CachePolicy : u8 {
  Writeback,
  Writethrough,
  Uncacheable,
  WriteCombining,  // not encodable by the seed-era x86 entry (needs PAT); refused
  WriteProtected,  // idem
};

struct PageProperty {
  PageFlags flags;
  CachePolicy cache = CachePolicy::Writeback;
  PrivFlags priv_flags;

  // The seed's `PageProperty::new(flags, cache)`: kernel-private, non-global.
  static constexpr PageProperty make(PageFlags flags, CachePolicy cache = CachePolicy::Writeback,
                                     PrivFlags priv = {}) {
    return PageProperty{flags, cache, priv};
  }
  // The seed's `new_absent()`: the property of nothing mapped.
  static constexpr PageProperty absent() { return PageProperty{}; }

  constexpr bool operator==(const PageProperty&) const = default;
};

std::string to_string(CachePolicy c);
std::string to_string(const PageProperty& p);

}  // namespace pagesim::pt

template <>
struct fmt::formatter<pagesim::pt::PageProperty> : fmt::formatter<std::string_view> {
  auto format(const pagesim::pt::PageProperty& p, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "{}", pagesim::pt::to_string(p));
  }
};
