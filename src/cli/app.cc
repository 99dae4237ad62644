#include "cli/app.h"

#include <fmt/core.h>

#include <string>
#include <string_view>
#include <vector>

#include "cli/command.h"
#include "version.h"

namespace pagesim::cli {

namespace {

void print_help() {
  fmt::print(
      "pagesim {} — an x86-64 paging-hardware simulator and MMU emulator\n"
      "\n"
      "Usage: pagesim <command> [options] [arguments]\n"
      "       pagesim --help | --version\n"
      "\n",
      PAGESIM_VERSION);
  if (commands().empty()) {
    fmt::print("No subcommands are available in this build yet.\n");
  } else {
    fmt::print("Commands:\n");
    for (const Command& c : commands()) fmt::print("  {:<14}{}\n", c.name, c.summary);
    fmt::print("\nRun 'pagesim <command> --help' for a command's options.\n");
  }
  fmt::print(
      "\n"
      "Exit status: 0 everything matched, 1 mismatches found, 2 bad input or usage.\n"
      "Results go to stdout, diagnostics to stderr.\n");
}

}  // namespace

int run(int argc, char** argv) {
  if (argc < 2) {
    print_help();
    return kExitBadInput;
  }
  std::string_view first = argv[1];
  if (first == "--help" || first == "-h" || first == "help") {
    print_help();
    return kExitOk;
  }
  if (first == "--version" || first == "-V") {
    fmt::print("pagesim {}\n", PAGESIM_VERSION);
    return kExitOk;
  }
  for (const Command& c : commands()) {
    if (c.name == first) {
      // The subcommand sees "pagesim <name>" as its program name.
      std::string prog = fmt::format("pagesim {}", c.name);
      std::vector<char*> args;
      args.push_back(prog.data());
      for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
      return c.main(static_cast<int>(args.size()), args.data());
    }
  }
  fmt::print(stderr, "pagesim: unknown command '{}' (see 'pagesim --help')\n", first);
  return kExitBadInput;
}

}  // namespace pagesim::cli
