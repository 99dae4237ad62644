// docs/tutorial.md cannot go stale: every `$ pagesim …` line of its ```console blocks is run
// (the binary of this build, in the repository root) and its output (stdout, then stderr)
// compared with the lines that follow it in the document.
//
// One thing is masked on both sides: `pagesim replay`'s elapsed time and speed ("in 0.012 s
// (0.00 M ops/s)"), which differ from run to run (the tutorial says so).
//
// The "Try:" commands in the comments of traces/teaching/*.trace are run too.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/cli_harness.h"

namespace pagesim {
namespace {

using testing::contains;
using testing::read_file;
using testing::run_pagesim;

struct TutorialCommand {
  size_t line = 0;  // in docs/tutorial.md
  std::string command;
  std::vector<std::string> args;
  std::string expected;
};

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

std::vector<TutorialCommand> parse_tutorial(const std::string& text) {
  std::vector<TutorialCommand> cmds;
  std::istringstream in(text);
  std::string line;
  size_t n = 0;
  bool in_block = false;
  TutorialCommand* cur = nullptr;
  while (std::getline(in, line)) {
    ++n;
    if (!in_block) {
      if (line.rfind("```console", 0) == 0) in_block = true;
      continue;
    }
    if (line.rfind("```", 0) == 0) {
      in_block = false;
      cur = nullptr;
      continue;
    }
    if (line.rfind("$ pagesim ", 0) == 0) {
      cmds.push_back({n, line, split_words(line.substr(10)), ""});
      cur = &cmds.back();
      continue;
    }
    EXPECT_NE(cur, nullptr) << "docs/tutorial.md:" << n << ": output before any command";
    if (cur) cur->expected += line + "\n";
  }
  EXPECT_FALSE(in_block) << "docs/tutorial.md: a ```console block is not closed";
  return cmds;
}

// Replaces "in 0.012 s (0.00 M ops/s)" by "in #.### s (#.## M ops/s)". (A hand-written scan:
// <regex> trips g++ 12's -Wmaybe-uninitialized in the sanitizer builds.)
std::string mask_timings(const std::string& s) {
  std::string out;
  size_t i = 0;
  auto number_at = [&s](size_t p) {  // the end of a "digits.digits" number at p, or p
    size_t q = p;
    while (q < s.size() && std::isdigit(static_cast<unsigned char>(s[q]))) ++q;
    if (q == p || q >= s.size() || s[q] != '.') return p;
    size_t r = q + 1;
    while (r < s.size() && std::isdigit(static_cast<unsigned char>(s[r]))) ++r;
    return r == q + 1 ? p : r;
  };
  while (i < s.size()) {
    if (s.compare(i, 3, "in ") == 0) {
      const size_t a = number_at(i + 3);
      if (a != i + 3 && s.compare(a, 4, " s (") == 0) {
        const size_t b = number_at(a + 4);
        if (b != a + 4 && s.compare(b, 9, " M ops/s)") == 0) {
          out += "in #.### s (#.## M ops/s)";
          i = b + 9;
          continue;
        }
      }
    }
    out += s[i++];
  }
  return out;
}

bool renders_with_dot(const std::vector<std::string>& args) {
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--format" && (args[i + 1] == "svg" || args[i + 1] == "png")) return true;
  }
  return false;
}

TEST(Tutorial, EveryCommandGivesTheOutputShown) {
  const std::string doc = read_file(testing::kSourceDir + "/docs/tutorial.md");
  ASSERT_FALSE(doc.empty()) << "docs/tutorial.md is missing";
  const std::vector<TutorialCommand> cmds = parse_tutorial(doc);
  ASSERT_GE(cmds.size(), 30u);
  const bool have_dot = std::system("command -v dot >/dev/null 2>&1") == 0;
  for (const TutorialCommand& c : cmds) {
    if (renders_with_dot(c.args) && !have_dot) {
      std::cout << "[ NOTE     ] docs/tutorial.md:" << c.line
                << ": Graphviz 'dot' is not installed; not run: " << c.command << "\n";
      continue;
    }
    const testing::RunResult r = run_pagesim(c.args);
    EXPECT_LE(r.status, 2) << c.command;
    EXPECT_EQ(mask_timings(r.out + r.err), mask_timings(c.expected))
        << "docs/tutorial.md:" << c.line << ": " << c.command
        << "\n(if the change is intended, rerun with PAGESIM_UPDATE_GOLDEN=1 to rewrite the "
           "outputs in docs/tutorial.md, and review the diff)";
  }
}

// PAGESIM_UPDATE_GOLDEN=1: rewrites the output lines of every command in docs/tutorial.md with
// what the commands print now (the prose is left alone). Review the diff before committing.
TEST(Tutorial, UpdateOnRequest) {
  if (!std::getenv("PAGESIM_UPDATE_GOLDEN")) GTEST_SKIP() << "PAGESIM_UPDATE_GOLDEN is not set";
  const std::string path = testing::kSourceDir + "/docs/tutorial.md";
  std::istringstream in(read_file(path));
  std::string out;
  std::string line;
  bool in_block = false;
  while (std::getline(in, line)) {
    if (!in_block) {
      out += line + "\n";
      in_block = line.rfind("```console", 0) == 0;
      continue;
    }
    if (line.rfind("```", 0) == 0) {
      out += line + "\n";
      in_block = false;
    } else if (line.rfind("$ pagesim ", 0) == 0) {
      const testing::RunResult r = run_pagesim(split_words(line.substr(10)));
      out += line + "\n" + r.out + r.err;
    }
  }
  std::ofstream(path, std::ios::binary) << out;
}

TEST(Tutorial, EveryTeachingTraceIsTaught) {
  const std::string doc = read_file(testing::kSourceDir + "/docs/tutorial.md");
  size_t n = 0;
  for (const auto& e :
       std::filesystem::directory_iterator(testing::kSourceDir + "/traces/teaching")) {
    if (e.path().extension() != ".trace") continue;
    ++n;
    EXPECT_TRUE(contains(doc, "traces/teaching/" + e.path().filename().string()))
        << e.path() << " is not in docs/tutorial.md";
  }
  EXPECT_EQ(n, 11u);
}

// Each teaching trace says, in its comments, what to try: those commands must work.
TEST(Tutorial, TeachingTraceCommandsRun) {
  size_t ran = 0;
  for (const auto& e :
       std::filesystem::directory_iterator(testing::kSourceDir + "/traces/teaching")) {
    if (e.path().extension() != ".trace") continue;
    std::istringstream in(read_file(e.path().string()));
    std::string line;
    while (std::getline(in, line)) {
      const std::string prefix = "#   pagesim ";
      if (line.rfind(prefix, 0) != 0) continue;
      const std::vector<std::string> args = split_words(line.substr(prefix.size()));
      const testing::RunResult r = run_pagesim(args);
      // A replay without shootdowns is expected to find the stale access (status 1).
      const bool stale_demo = args[0] == "replay" && contains(line, "--no-shootdown");
      EXPECT_EQ(r.status, stale_demo ? 1 : 0) << e.path() << ": " << line << "\n" << r.err;
      EXPECT_FALSE(r.out.empty()) << line;
      ++ran;
    }
  }
  EXPECT_GE(ran, 20u);
}

}  // namespace
}  // namespace pagesim
