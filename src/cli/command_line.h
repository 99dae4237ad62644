// The command-line handling every subcommand shares: the same parsing rules, --help, and the
// same shape of usage error (exit 2, naming the command and pointing at its --help).
#pragma once

#include <boost/program_options.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pagesim::cli {

class CommandLine {
 public:
  // `prog` prefixes every message ("pagesim pte decode"); `help_command` is the command whose
  // --help a message points at ("pagesim pte"); `usage` is printed above the options by --help.
  CommandLine(std::string_view prog, std::string_view help_command, std::string_view usage)
      : prog_(prog), help_command_(help_command), usage_(usage) {}

  // Parses argv with `opts` (shown by --help) and, if `positional` names one, a hidden
  // option that collects the positional arguments as strings. Options must be spelled out
  // (no abbreviations: a later option must not change what an old command line means).
  // Returns the exit status when the command is already done: --help printed (0) or a parse
  // error reported (2); nullopt when the command should run, with vm() filled.
  std::optional<int> parse(int argc, char** argv,
                           const boost::program_options::options_description& opts,
                           const char* positional = nullptr);

  const boost::program_options::variables_map& vm() const { return vm_; }

  // The positional arguments (empty if none were given).
  std::vector<std::string> positionals() const;

  // Reports a usage error on stderr and returns the exit status for it (2).
  int bad(std::string_view message) const;

 private:
  std::string prog_;
  std::string help_command_;
  std::string usage_;
  std::string positional_;
  boost::program_options::variables_map vm_;
};

}  // namespace pagesim::cli
