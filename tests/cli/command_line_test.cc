// Every subcommand parses its command line the same way (src/cli/command_line.h): options are
// spelled out in full, and a usage error names the command, points at its --help and exits 2.
#include "cli/command_line.h"

#include <gtest/gtest.h>

#include "cli_harness.h"

namespace pagesim::cli {
namespace {

using testing::contains;
using testing::run_pagesim;

TEST(CommandLine, EveryCommandRefusesAbbreviationsAndPointsAtItsHelp) {
  // Each command with an abbreviation of one of its options (a prefix boost would accept if
  // guessing were on), and the --help its error must point at.
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"replay", "--cpu", "2", "traces/default.trace"}, "pagesim replay --help"},
      {{"conformance", "--prof", "sdm", "x.json"}, "pagesim conformance --help"},
      {{"pte", "decode", "--lev", "1", "0x1"}, "pagesim pte --help"},
      {{"pte", "encode", "--lev", "1"}, "pagesim pte --help"},
      {{"explain", "--acc", "read", "--va", "0x1000", "t.trace"}, "pagesim explain --help"},
      {{"dump", "--form", "json", "t.trace"}, "pagesim dump --help"},
      {{"quiz", "--se", "1"}, "pagesim quiz --help"}};
  for (const auto& [args, help] : cases) {
    const auto r = run_pagesim(args);
    EXPECT_EQ(r.status, 2) << args[0] << ": " << r.err;
    EXPECT_TRUE(contains(r.err, "unrecognised option")) << r.err;
    EXPECT_TRUE(contains(r.err, "(see '" + help + "')")) << r.err;
  }
}

TEST(CommandLine, UsageErrorsNameTheCommand) {
  const auto replay = run_pagesim({"replay"});
  EXPECT_EQ(replay.status, 2);
  EXPECT_EQ(replay.err, "pagesim replay: no trace given\n(see 'pagesim replay --help')\n");
  const auto ram = run_pagesim({"conformance", "--ram", "1M", "x.json"});
  EXPECT_EQ(ram.status, 2);
  EXPECT_TRUE(contains(ram.err, "pagesim conformance: --ram '1M' is not a size of at least 16M"))
      << ram.err;
  const auto decode = run_pagesim({"pte", "decode", "1", "2"});
  EXPECT_EQ(decode.status, 2);
  EXPECT_EQ(decode.err, "pagesim pte decode: give exactly one VALUE\n(see 'pagesim pte --help')\n");
}

}  // namespace
}  // namespace pagesim::cli
