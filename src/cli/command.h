// A pagesim subcommand: its name, a one-line summary for `pagesim --help`, and its entry point,
// which receives the arguments after the subcommand name (argv[0] is "pagesim <name>").
#pragma once

#include <span>
#include <string_view>

namespace pagesim::cli {

struct Command {
  std::string_view name;
  std::string_view summary;
  int (*main)(int argc, char** argv);
};

// Every subcommand, in the order `pagesim --help` lists them (defined in commands.cc).
std::span<const Command> commands();

}  // namespace pagesim::cli
