// A located error in a trace: file, line, column and what was expected.
#pragma once

#include <fmt/format.h>

#include <string>

#include "sim/types.h"

namespace pagesim::wl {

struct TraceError {
  std::string file;
  u64 line = 0;    // 0: not tied to a line (e.g. the file cannot be opened)
  u64 column = 0;  // 0: the whole line
  std::string message;

  std::string to_string() const {
    if (line == 0) return fmt::format("{}: {}", file, message);
    if (column == 0) return fmt::format("{}:{}: {}", file, line, message);
    return fmt::format("{}:{}:{}: {}", file, line, column, message);
  }
};

}  // namespace pagesim::wl
