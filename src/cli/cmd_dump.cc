// `pagesim dump TRACE`: an address space's page table after a trace, as a text tree, JSON,
// Graphviz DOT, or SVG/PNG rendered by Graphviz's `dot` (src/workloads/dump.h).
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "cli/app.h"
#include "cli/command_line.h"
#include "cli/machine_at_line.h"
#include "workloads/dump.h"
#include "workloads/number.h"

extern char** environ;

namespace po = boost::program_options;

namespace pagesim::cli {

namespace {

constexpr const char* kUsage =
    "Usage: pagesim dump TRACE [--line N] [--space N|kernel] [--format text|json|dot|svg|png]\n"
    "                    [-o FILE] [--expand]\n"
    "\n"
    "Replays TRACE (or its lines up to N) and prints an address space's page table as the\n"
    "hardware finds it in simulated memory: every table, every present entry, the pages with\n"
    "their frames and rights (user/supervisor, r w x, global, key, A and D). Runs of 3 or more\n"
    "similar consecutive entries (same flags, any frames) are collapsed into one row, e.g.\n"
    "'[0x010–0x1ff] 496 × 4K page → frames 0x…–0x… consecutive, user rw-'; --expand shows\n"
    "every entry. A user address space shares the kernel half with the kernel page table: it\n"
    "is summarised in one row (see it with --space kernel).\n"
    "\n"
    "--space defaults to the space loaded on CPU 0 at that point. Formats: text (a tree), json,\n"
    "dot (Graphviz source), svg and png (rendered by Graphviz's 'dot', which must be\n"
    "installed: 'make graphviz-deps' or 'apt-get install graphviz'). Output goes to stdout or\n"
    "to FILE with -o (png needs -o when stdout is a terminal).\n"
    "\n"
    "Exit status: 0; 1 if the replayed part of the trace had mismatches (the table is still\n"
    "printed; a note goes to stderr); 2 for bad input or a missing 'dot'.\n";

// The path of `dot` on PATH, if any.
std::optional<std::string> find_dot() {
  const char* path = std::getenv("PATH");
  std::string_view rest = path ? path : "/usr/bin:/bin";
  while (true) {
    const size_t colon = rest.find(':');
    const std::string dir(rest.substr(0, colon));
    if (!dir.empty()) {
      const std::string candidate = dir + "/dot";
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

// Runs `dot -T<format> [-o out]` with `source` on its stdin; returns its exit status, or -1 if
// it could not be started.
int run_dot(const std::string& dot, const std::string& format, const std::string& out,
            const std::string& source) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[0], STDIN_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::string t = fmt::format("-T{}", format);
  std::vector<std::string> args{dot, t};
  if (!out.empty()) {
    args.push_back("-o");
    args.push_back(out);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, dot.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[0]);
  if (rc != 0) {
    close(fds[1]);
    return -1;
  }
  size_t done = 0;
  while (done < source.size()) {
    const ssize_t n = write(fds[1], source.data() + done, source.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(fds[1]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

}  // namespace

int dump_main(int argc, char** argv) {
  constexpr std::string_view prog = "pagesim dump";
  po::options_description opts("Options");
  // clang-format off
  opts.add_options()
      ("help,h", "show this help")
      ("line", po::value<u64>(), "replay the trace up to this line only (default: all of it)")
      ("space", po::value<std::string>(), "a user address space number, or 'kernel'")
      ("format", po::value<std::string>()->default_value("text"), "text, json, dot, svg or png")
      ("output,o", po::value<std::string>(), "write to FILE instead of stdout")
      ("expand", "show every entry (no collapsed runs)");
  // clang-format on
  CommandLine cl(prog, "pagesim dump", kUsage);
  if (auto done = cl.parse(argc, argv, opts, "trace")) return *done;
  const po::variables_map& vm = cl.vm();
  const std::vector<std::string> traces = cl.positionals();
  if (traces.size() != 1) return cl.bad("give exactly one TRACE");
  const std::string format = vm["format"].as<std::string>();
  if (format != "text" && format != "json" && format != "dot" && format != "svg" &&
      format != "png") {
    return cl.bad(fmt::format("--format must be text, json, dot, svg or png, not '{}'", format));
  }
  const std::string out = vm.count("output") ? vm["output"].as<std::string>() : "";
  std::optional<std::string> dot;
  if (format == "svg" || format == "png") {
    dot = find_dot();
    if (!dot) {
      fmt::print(stderr,
                 "{}: --format {} needs Graphviz's 'dot', which is not installed.\n"
                 "Install it with 'make graphviz-deps' (or 'apt-get install graphviz'), or use "
                 "--format dot and render the file elsewhere.\n",
                 prog, format);
      return kExitBadInput;
    }
    if (format == "png" && out.empty() && isatty(STDOUT_FILENO)) {
      return cl.bad("--format png writes binary data: give -o FILE");
    }
  }
  std::optional<i64> space;
  if (vm.count("space")) {
    const std::string s = vm["space"].as<std::string>();
    if (s == "kernel") {
      space = wl::kSpaceKernel;
    } else {
      const auto n = wl::parse_number(s);
      if (!n || *n < 1 || *n > 65535) {
        return cl.bad(
            fmt::format("--space must be a user space number (1-65535) or 'kernel', not "
                        "'{}'",
                        s));
      }
      space = static_cast<i64>(*n);
    }
  }
  MachineAtLine what;
  what.trace = traces[0];
  if (vm.count("line")) {
    what.line = vm["line"].as<u64>();
    if (what.line == 0) return cl.bad("--line counts from 1");
  }
  const wl::Collapse collapse = vm.count("expand") ? wl::Collapse::kNone : wl::Collapse::kRuns;

  return with_machine_at_line(prog, what, [&](wl::MachineView& m) {
    const i64 s = space.value_or(m.current_space.empty() ? wl::kSpaceKernel : m.current_space[0]);
    if (s != wl::kSpaceKernel && std::find(m.spaces.begin(), m.spaces.end(), s) == m.spaces.end()) {
      std::string known;
      for (const i64 k : m.spaces) known += fmt::format("{}{}", known.empty() ? "" : ", ", k);
      fmt::print(stderr, "{}: the trace has no user space {} at that point (it has: {})\n", prog, s,
                 known.empty() ? "none" : known);
      return kExitBadInput;
    }
    wl::DumpRequest req;
    req.root = m.root(s);
    req.levels = m.machine.levels;
    req.maxphyaddr = m.profile.maxphyaddr;
    req.half = s == wl::kSpaceKernel ? wl::DumpHalf::kAll : wl::DumpHalf::kUserHalf;
    req.collapse = collapse;
    req.title = fmt::format("Page table of {} {}",
                            s == wl::kSpaceKernel ? "the kernel" : fmt::format("user space {}", s),
                            describe_point(what));
    const wl::PageTableDump d = wl::read_page_table(m.mem, req);
    std::string text;
    if (format == "text") {
      text = wl::dump_text(d);
    } else if (format == "json") {
      text = wl::dump_json(d);
    } else {
      text = wl::dump_dot(d);
    }
    if (dot) {
      std::fflush(stdout);  // nothing buffered may follow dot's output
      const int rc = run_dot(*dot, format, out, text);
      if (rc != 0) {
        fmt::print(stderr, "{}: '{} -T{}' failed (status {})\n", prog, *dot, format, rc);
        return kExitBadInput;
      }
      return kExitOk;
    }
    if (out.empty()) {
      fmt::print("{}", text);
      return kExitOk;
    }
    std::ofstream f(out, std::ios::binary);
    f << text;
    if (!f.flush()) {
      fmt::print(stderr, "{}: cannot write {}: {}\n", prog, out, std::strerror(errno));
      return kExitBadInput;
    }
    return kExitOk;
  });
}

}  // namespace pagesim::cli
