#include "sim/assert.h"

#include <cstdio>
#include <cstdlib>

namespace pagesim::detail {

void assert_fail(const char* expr, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "pagesim: internal invariant broken at %s:%d: %s: %s\n", file, line, expr,
               msg.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace pagesim::detail
