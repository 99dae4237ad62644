// Always-on assertions for internal invariants.
//
// Caller mistakes are error values at API boundaries (errors are values, STYLE.md lesson 7); an
// assertion firing means pagesim itself is broken, so it stops at once with the location and a
// message rather than continue on corrupted state. Assertions are never compiled out.
#pragma once

#include <fmt/core.h>

namespace pagesim::detail {
[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const std::string& msg);
}  // namespace pagesim::detail

#define PAGESIM_ASSERT(cond, ...)                                                            \
  do {                                                                                       \
    if (!(cond)) [[unlikely]] {                                                              \
      ::pagesim::detail::assert_fail(#cond, __FILE__, __LINE__, ::fmt::format(__VA_ARGS__)); \
    }                                                                                        \
  } while (0)

#define PAGESIM_UNREACHABLE(...) \
  ::pagesim::detail::assert_fail("unreachable", __FILE__, __LINE__, ::fmt::format(__VA_ARGS__))
