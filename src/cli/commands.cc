#include <array>

#include "cli/command.h"

namespace pagesim::cli {

std::span<const Command> commands() {
  static const std::array<Command, 0> kCommands{};
  return kCommands;
}

}  // namespace pagesim::cli
