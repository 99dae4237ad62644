#include <array>

#include "cli/command.h"

namespace pagesim::cli {

int replay_main(int argc, char** argv);
int conformance_main(int argc, char** argv);
int explain_main(int argc, char** argv);
int pte_main(int argc, char** argv);
int dump_main(int argc, char** argv);
int quiz_main(int argc, char** argv);

std::span<const Command> commands() {
  static const std::array<Command, 6> kCommands{{
      {"replay", "replay traces and check every translation bit-exactly", replay_main},
      {"conformance", "run recorded x86-64 paging vectors against the walker and TLB",
       conformance_main},
      {"explain", "explain one access step by step: indexes, entries, rights, TLB, outcome",
       explain_main},
      {"pte", "decode a paging-structure entry field by field, or encode one from fields",
       pte_main},
      {"dump", "draw an address space's page table after a trace (text, JSON, DOT, SVG, PNG)",
       dump_main},
      {"quiz", "paging exercises with an answer key, reproducible by seed", quiz_main},
  }};
  return kCommands;
}

}  // namespace pagesim::cli
