// Writing JSON for the teaching tools' `--json` / `--format json` outputs (`pte decode`, `dump`,
// `quiz`). json.h is the project's reader; this is the matching minimal writer: string escaping
// and hexadecimal numbers written as strings (64-bit values do not survive JSON numbers in many
// readers, so addresses and entries are "0x…" strings).
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "sim/types.h"

namespace pagesim::wl::jsonw {

// `s` as a JSON string literal, quotes included (RFC 8259 section 7).
inline std::string str(std::string_view s) {
  std::string o = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (c == '\n') {
      o += "\\n";
    } else if (u < 0x20) {
      o += fmt::format("\\u{:04x}", static_cast<unsigned>(u));
    } else {
      o += c;
    }
  }
  o += '"';
  return o;
}

// A 64-bit value as a "0x…" JSON string.
inline std::string hex(u64 v) { return fmt::format("\"{:#x}\"", v); }

inline std::string_view boolean(bool b) { return b ? "true" : "false"; }

}  // namespace pagesim::wl::jsonw
