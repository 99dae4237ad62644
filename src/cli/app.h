// The `pagesim` command line: global options and subcommand dispatch.
#pragma once

namespace pagesim::cli {

// Exit codes (DESIGN.md, cli): 0 all matched, 1 mismatches found, 2 bad input or usage.
inline constexpr int kExitOk = 0;
inline constexpr int kExitMismatch = 1;
inline constexpr int kExitBadInput = 2;

int run(int argc, char** argv);

}  // namespace pagesim::cli
