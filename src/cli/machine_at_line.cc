#include "cli/machine_at_line.h"

#include <fmt/core.h>

#include <algorithm>
#include <fstream>

#include "cli/app.h"

namespace pagesim::cli {

namespace {

// The text of line `n` of `path` without its leading blanks, or "".
std::string line_text(const std::string& path, u64 n) {
  std::ifstream in(path);
  std::string s;
  for (u64 i = 1; i <= n && std::getline(in, s); ++i) {
    if (i == n) {
      // The statement alone: no comment, no surrounding blanks.
      s = s.substr(0, s.find('#'));
      const auto first = s.find_first_not_of(" \t\r");
      if (first == std::string::npos) return {};
      const auto last = s.find_last_not_of(" \t\r");
      return s.substr(first, last - first + 1);
    }
  }
  return {};
}

}  // namespace

std::string describe_point(const MachineAtLine& what) {
  if (what.line == 0) return fmt::format("after {} (every line)", what.trace);
  const std::string text = line_text(what.trace, what.line);
  if (text.empty()) return fmt::format("after line {} of {}", what.line, what.trace);
  return fmt::format("after line {} of {} (`{}`)", what.line, what.trace, text);
}

int with_machine_at_line(std::string_view prog, const MachineAtLine& what,
                         const std::function<int(wl::MachineView&)>& look) {
  wl::ReplayOptions ro;
  ro.overrides = what.overrides;
  ro.progress = false;
  ro.stop_after_line = what.line;
  int code = kExitOk;
  bool looked = false;
  ro.inspect = [&](wl::MachineView& view) {
    looked = true;
    code = look(view);
  };
  const wl::ReplayResult r = wl::replay_file(what.trace, ro);
  if (r.verdict == wl::ReplayResult::Verdict::kBadInput) {
    fmt::print(stderr, "{}: {}\n", prog, r.error ? r.error->to_string() : "bad input");
    return kExitBadInput;
  }
  if (!looked) {
    fmt::print(stderr, "{}: the replay of {} stopped before the end\n", prog, what.trace);
    return kExitBadInput;
  }
  if (r.verdict == wl::ReplayResult::Verdict::kMismatch) {
    fmt::print(stderr,
               "{}: note: replaying {} found {} mismatch{} (see 'pagesim replay' for the "
               "reports)\n",
               prog, what.trace, r.mismatch_count, r.mismatch_count == 1 ? "" : "es");
    code = std::max(code, kExitMismatch);
  }
  return code;
}

}  // namespace pagesim::cli
