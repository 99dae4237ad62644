#include "cli/command_line.h"

#include <fmt/core.h>

#include <iostream>

#include "cli/app.h"

namespace po = boost::program_options;

namespace pagesim::cli {

std::optional<int> CommandLine::parse(int argc, char** argv, const po::options_description& opts,
                                      const char* positional) {
  constexpr int kStyle =
      po::command_line_style::unix_style ^ po::command_line_style::allow_guessing;
  po::options_description all;
  all.add(opts);
  po::options_description hidden;
  po::positional_options_description pos;
  if (positional != nullptr) {
    positional_ = positional;
    hidden.add_options()(positional, po::value<std::vector<std::string>>(), "");
    all.add(hidden);
    pos.add(positional, -1);
  }
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).style(kStyle).run(),
              vm_);
    po::notify(vm_);
  } catch (const po::error& e) {
    return bad(e.what());
  }
  if (vm_.count("help")) {
    std::cout << usage_ << "\n" << opts << "\n";
    return kExitOk;
  }
  return std::nullopt;
}

std::vector<std::string> CommandLine::positionals() const {
  if (positional_.empty() || !vm_.count(positional_)) return {};
  return vm_[positional_].as<std::vector<std::string>>();
}

int CommandLine::bad(std::string_view message) const {
  fmt::print(stderr, "{}: {}\n(see '{} --help')\n", prog_, message, help_command_);
  return kExitBadInput;
}

}  // namespace pagesim::cli
