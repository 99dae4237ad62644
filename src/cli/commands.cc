#include <array>

#include "cli/command.h"

namespace pagesim::cli {

int replay_main(int argc, char** argv);
int conformance_main(int argc, char** argv);

std::span<const Command> commands() {
  static const std::array<Command, 2> kCommands{{
      {"replay", "replay traces and check every translation bit-exactly", replay_main},
      {"conformance", "run recorded x86-64 paging vectors against the walker and TLB",
       conformance_main},
  }};
  return kCommands;
}

}  // namespace pagesim::cli
