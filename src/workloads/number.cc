#include "workloads/number.h"

#include <fmt/format.h>

#include <array>

namespace pagesim::wl {

namespace {
// Digit values: 0–15 for hexadecimal digits, 16 for '_', 255 for anything else.
constexpr std::array<u8, 256> kDigit = [] {
  std::array<u8, 256> d{};
  d.fill(255);
  for (int i = 0; i < 10; ++i) d['0' + i] = static_cast<u8>(i);
  for (int i = 0; i < 6; ++i) {
    d['a' + i] = static_cast<u8>(10 + i);
    d['A' + i] = static_cast<u8>(10 + i);
  }
  d['_'] = 16;
  return d;
}();
}  // namespace

std::optional<u64> parse_number(std::string_view t) {
  if (t.empty()) return std::nullopt;
  // A size suffix: K/M/G/T, optionally followed by "iB".
  unsigned shift = 0;
  if (t.size() > 3 && t.substr(t.size() - 2) == "iB") {
    const char unit = t[t.size() - 3];
    if (unit != 'K' && unit != 'M' && unit != 'G' && unit != 'T') return std::nullopt;
    t.remove_suffix(2);
  }
  switch (t.back()) {
    case 'K':
      shift = 10;
      break;
    case 'M':
      shift = 20;
      break;
    case 'G':
      shift = 30;
      break;
    case 'T':
      shift = 40;
      break;
    default:
      break;
  }
  if (shift != 0) t.remove_suffix(1);

  unsigned base = 10;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    base = 16;
    t.remove_prefix(2);
  }
  if (t.empty() || t.front() == '_' || t.back() == '_') return std::nullopt;
  u64 v = 0;
  if (base == 16) {
    for (char c : t) {
      const u8 d = kDigit[static_cast<u8>(c)];
      if (d == 16) continue;
      if (d > 15 || (v >> 60) != 0) return std::nullopt;  // not a digit, or overflow
      v = (v << 4) | d;
    }
  } else {
    for (char c : t) {
      const u8 d = kDigit[static_cast<u8>(c)];
      if (d == 16) continue;
      if (d > 9 || v > (~u64{0} - d) / 10) return std::nullopt;
      v = v * 10 + d;
    }
  }
  if (shift != 0) {
    if (v > (~u64{0} >> shift)) return std::nullopt;
    v <<= shift;
  }
  return v;
}

std::string format_size(u64 bytes) {
  if (bytes != 0) {
    if (bytes % (u64{1} << 40) == 0) return fmt::format("{}T", bytes >> 40);
    if (bytes % (u64{1} << 30) == 0) return fmt::format("{}G", bytes >> 30);
    if (bytes % (u64{1} << 20) == 0) return fmt::format("{}M", bytes >> 20);
    if (bytes % (u64{1} << 10) == 0) return fmt::format("{}K", bytes >> 10);
  }
  return fmt::format("{:#x}", bytes);
}

}  // namespace pagesim::wl
