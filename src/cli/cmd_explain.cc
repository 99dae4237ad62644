// `pagesim explain TRACE --va ADDR`: replays a trace (or its prefix up to a line), then explains
// one access on one CPU step by step (src/workloads/explain.h).
#include <unistd.h>

#include <boost/program_options.hpp>
#include <fmt/core.h>

#include <optional>
#include <string>
#include <vector>

#include "cli/app.h"
#include "cli/command_line.h"
#include "cli/machine_at_line.h"
#include "workloads/explain.h"
#include "workloads/number.h"

namespace po = boost::program_options;

namespace pagesim::cli {

namespace {

constexpr const char* kUsage =
    "Usage: pagesim explain TRACE --va ADDR [--line N] [--access read|write|fetch] [--cpl N]\n"
    "                       [--ac 0|1] [--implicit] [--cpu K] [--color always|never|auto]\n"
    "                       [--brief] [--no-shootdown] [--tlb SHAPE] [--profile NAME]\n"
    "\n"
    "Replays TRACE (or its lines up to N, with --line) exactly as 'pagesim replay' does, then\n"
    "explains one more access on CPU K, step by step, with the rules of\n"
    "docs/spec/x86-64-paging.md:\n"
    "  1. the address split into its table indexes, bits shown (W2), and the canonical test;\n"
    "  2. the TLB lookup: hit or miss in each TLB structure, a paging-structure-cache start;\n"
    "  3. the walk from CR3: each entry's address (table + index x 8), its raw value decoded,\n"
    "     what the walker decided there (next table, leaf, not present, reserved bit) and the\n"
    "     rights accumulated level by level;\n"
    "  4. the rights check and the rule that decided it (AR1-AR10, PK2-PK6);\n"
    "  5. the outcome: the physical address, or the page fault with its error code explained.\n"
    "When the TLB answers, step 3 shows what a walk of the tables finds now, and a stale TLB\n"
    "entry (the tables changed, this CPU was not invalidated) is called out. --brief prints\n"
    "the TLB's answer, the walk path and the verdict only.\n"
    "\n"
    "The access is performed on the machine after the replay (it may fill the TLB and set\n"
    "A/D bits), so it never changes what the replay checked. --cpl and --ac default to the\n"
    "CPU's current CPL and RFLAGS.AC at that point of the trace. Colour is used when stdout is a\n"
    "terminal (--color auto).\n"
    "\n"
    "Exit status: 0; 1 if the replayed part of the trace had mismatches (the explanation is\n"
    "still printed; a note goes to stderr); 2 for bad input.\n";

}  // namespace

int explain_main(int argc, char** argv) {
  constexpr std::string_view prog = "pagesim explain";
  po::options_description opts("Options");
  // clang-format off
  opts.add_options()
      ("help,h", "show this help")
      ("va", po::value<std::string>(), "the virtual (linear) address to explain")
      ("line", po::value<u64>(), "replay the trace up to this line only (default: all of it)")
      ("access", po::value<std::string>()->default_value("read"), "read, write or fetch")
      ("cpl", po::value<unsigned>(), "privilege level 0-3 (default: the CPU's current CPL)")
      ("ac", po::value<std::string>(), "RFLAGS.AC, 0 or 1 (default: the CPU's current AC)")
      ("implicit",
       "an implicit supervisor access (descriptor tables, D2): supervisor-mode at any CPL")
      ("cpu", po::value<unsigned>()->default_value(0), "the CPU that accesses")
      ("color", po::value<std::string>()->default_value("auto"), "always, never or auto")
      ("brief", "a few lines: the TLB's answer, the walk path, the verdict")
      ("no-shootdown", "replay without TLB shootdowns (shows stale TLB entries)")
      ("tlb", po::value<std::string>(), "TLB shape, overriding the trace's machine tlb=")
      ("profile", po::value<std::string>(), "hardware profile, overriding the trace's");
  // clang-format on
  CommandLine cl(prog, "pagesim explain", kUsage);
  if (auto done = cl.parse(argc, argv, opts, "trace")) return *done;
  const po::variables_map& vm = cl.vm();
  const std::vector<std::string> traces = cl.positionals();
  if (traces.size() != 1) return cl.bad("give exactly one TRACE");
  if (!vm.count("va")) return cl.bad("--va ADDR is required");
  const auto va = wl::parse_number(vm["va"].as<std::string>());
  if (!va)
    return cl.bad(fmt::format("--va must be a number, not '{}'", vm["va"].as<std::string>()));

  mmu::Access access;
  const std::string kind = vm["access"].as<std::string>();
  if (kind == "read") {
    access.kind = mmu::AccessKind::kRead;
  } else if (kind == "write") {
    access.kind = mmu::AccessKind::kWrite;
  } else if (kind == "fetch") {
    access.kind = mmu::AccessKind::kFetch;
  } else {
    return cl.bad(fmt::format("--access must be read, write or fetch, not '{}'", kind));
  }
  std::optional<u8> cpl;
  if (vm.count("cpl")) {
    const unsigned c = vm["cpl"].as<unsigned>();
    if (c > 3) return cl.bad(fmt::format("--cpl must be 0 to 3, not {}", c));
    cpl = static_cast<u8>(c);
  }
  std::optional<mmu::Ac> ac;
  if (vm.count("ac")) {
    const std::string v = vm["ac"].as<std::string>();
    if (v != "0" && v != "1") return cl.bad(fmt::format("--ac must be 0 or 1, not '{}'", v));
    ac = v == "1" ? mmu::Ac::kSet : mmu::Ac::kClear;
  }
  if (vm.count("implicit")) {
    if (access.kind == mmu::AccessKind::kFetch)
      return cl.bad("--implicit applies to reads and writes");
    access.origin = mmu::AccessOrigin::kImplicitSupervisor;
  }
  const std::string color = vm["color"].as<std::string>();
  wl::Color paint = wl::Color::kOff;
  if (color == "always") {
    paint = wl::Color::kOn;
  } else if (color == "auto") {
    paint = isatty(STDOUT_FILENO) ? wl::Color::kOn : wl::Color::kOff;
  } else if (color != "never") {
    return cl.bad(fmt::format("--color must be always, never or auto, not '{}'", color));
  }

  MachineAtLine what;
  what.trace = traces[0];
  if (vm.count("line")) {
    what.line = vm["line"].as<u64>();
    if (what.line == 0) return cl.bad("--line counts from 1");
  }
  if (vm.count("no-shootdown")) what.overrides.shootdown = false;
  if (vm.count("tlb")) what.overrides.tlb = vm["tlb"].as<std::string>();
  if (vm.count("profile")) what.overrides.profile = vm["profile"].as<std::string>();
  const unsigned cpu = vm["cpu"].as<unsigned>();
  const wl::Detail detail = vm.count("brief") ? wl::Detail::kBrief : wl::Detail::kFull;

  return with_machine_at_line(prog, what, [&](wl::MachineView& m) {
    if (cpu >= m.cpus.size()) {
      fmt::print(stderr, "{}: --cpu {} is not a CPU of this machine (it has {})\n", prog, cpu,
                 m.cpus.size());
      return kExitBadInput;
    }
    mmu::Mmu& mmu = *m.cpus[cpu];
    mmu::Access a = access;
    a.cpl = cpl.value_or(mmu.state().cpl);
    a.ac = ac.value_or(mmu.state().ac ? mmu::Ac::kSet : mmu::Ac::kClear);
    wl::ExplainSubject who;
    who.cpu_name = fmt::format("CPU {}", cpu);
    const i64 space = m.current_space[cpu];
    who.space_name = space == wl::kSpaceKernel
                         ? fmt::format("the kernel page table (root {:#x})", m.root(space).value())
                         : fmt::format("user space {} (root {:#x})", space, m.root(space).value());
    if (detail == wl::Detail::kFull) {
      fmt::print("Machine {}: {}-level paging, {} CPU{}, TLB {}, profile {}, MAXPHYADDR {}\n",
                 describe_point(what), m.machine.levels, m.cpus.size(),
                 m.cpus.size() == 1 ? "" : "s", m.tlb.name, m.profile.name, m.profile.maxphyaddr);
    }
    fmt::print("{}", wl::explain_access(m.mem, mmu, VAddr(*va), a, who, paint, detail));
    return kExitOk;
  });
}

}  // namespace pagesim::cli
