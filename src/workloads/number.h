// Numbers in traces: decimal or 0x-hexadecimal, `_` between digits, optional binary size
// suffix (K/KiB, M/MiB, G/GiB, T/TiB). See docs/trace-format.md, "Lexical rules".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sim/types.h"

namespace pagesim::wl {

// Parses a whole token as a number; nullopt if it is not one or does not fit in 64 bits.
std::optional<u64> parse_number(std::string_view token);

// Formats a size the way a trace writes it: "4K", "2M", "1G", else hexadecimal.
std::string format_size(u64 bytes);

}  // namespace pagesim::wl
