// `pagesim replay FILE...`: replays traces on the simulated machine and checks them.
#include <unistd.h>

#include <boost/program_options.hpp>
#include <fmt/core.h>

#include <string>
#include <vector>

#include "cli/app.h"
#include "cli/command_line.h"
#include "sim/log.h"
#include "workloads/replay.h"

namespace po = boost::program_options;

namespace pagesim::cli {

namespace {

constexpr const char* kUsage =
    "Usage: pagesim replay [options] FILE...\n"
    "\n"
    "Replays each trace (docs/trace-format.md) on a simulated x86-64 machine: one host thread\n"
    "per simulated CPU, the ported Asterinas page table as the OS, a TLB and page walker per CPU\n"
    "as the hardware. Every access is checked against an independent reference model of the\n"
    "x86-64 rules (physical address, page size, page-fault error code, accessed/dirty bits), and\n"
    "every leaf entry an operation changes is compared with the model's own encoding.\n"
    "\n"
    "Prints a summary table per trace on stdout (or JSON with --json), mismatch reports with the\n"
    "trace line, CPU and address, and exits 0 if everything matched, 1 if something did not,\n"
    "2 on bad input (the message names file:line:column).\n";

}  // namespace

int replay_main(int argc, char** argv) {
  po::options_description opts("Options");
  std::string check = "full";
  std::string shootdown;
  // clang-format off
  opts.add_options()
      ("help,h", "show this help")
      ("cpus", po::value<unsigned>(), "simulated CPUs (overrides the trace's machine cpus=)")
      ("tlb", po::value<std::string>(),
       "TLB shape: intel, amd, teaching, ideal, none, or a config file (docs/mmu.md)")
      ("profile", po::value<std::string>(), "hardware profile: sdm (default), amd or qemu")
      ("shootdown", po::value<std::string>(&shootdown),
       "on or off: whether the OS shoots down other CPUs' TLBs (off shows stale-TLB bugs)")
      ("no-shootdown", "same as --shootdown off")
      ("check", po::value<std::string>(&check)->default_value("full"),
       "full: judge every access and every changed leaf entry; sample: judge every access and one "
       "changed entry in --sample; access: accesses only; none: replay (and pins) only")
      ("sample", po::value<u64>()->default_value(64), "sampling period for --check sample")
      ("seed", po::value<u64>()->default_value(1), "seed for sampling")
      ("json", "print statistics as JSON instead of tables")
      ("record", po::value<std::string>(),
       "write the trace back to this file with every access's outcome pinned (one FILE only)")
      ("max-reports", po::value<size_t>()->default_value(20),
       "mismatch reports printed in full (the count is always exact)")
      ("no-progress", "no progress display on stderr")
      ("verbose,v", "log what the replay does on stderr");
  // clang-format on
  CommandLine cl("pagesim replay", "pagesim replay", kUsage);
  if (auto done = cl.parse(argc, argv, opts, "file")) return *done;
  const po::variables_map& vm = cl.vm();
  const std::vector<std::string> files = cl.positionals();
  if (files.empty()) return cl.bad("no trace given");
  if (vm.count("verbose")) log::set_level(spdlog::level::debug);

  wl::ReplayOptions ro;
  if (vm.count("cpus")) {
    const unsigned n = vm["cpus"].as<unsigned>();
    if (n < 1 || n > wl::kMaxCpus) {
      return cl.bad(fmt::format("--cpus must be 1 to {}, not {}", wl::kMaxCpus, n));
    }
    ro.overrides.cpus = static_cast<u16>(n);
  }
  if (vm.count("tlb")) ro.overrides.tlb = vm["tlb"].as<std::string>();
  if (vm.count("profile")) ro.overrides.profile = vm["profile"].as<std::string>();
  if (vm.count("no-shootdown")) shootdown = "off";
  if (!shootdown.empty()) {
    if (shootdown != "on" && shootdown != "off") {
      return cl.bad(fmt::format("--shootdown must be on or off, not '{}'", shootdown));
    }
    ro.overrides.shootdown = shootdown == "on";
  }
  if (check == "full") {
    ro.check = wl::CheckLevel::kFull;
  } else if (check == "sample") {
    ro.check = wl::CheckLevel::kSample;
  } else if (check == "access") {
    ro.check = wl::CheckLevel::kAccess;
  } else if (check == "none") {
    ro.check = wl::CheckLevel::kNone;
  } else {
    return cl.bad(fmt::format("--check must be full, sample, access or none, not '{}'", check));
  }
  ro.sample_every = std::max<u64>(1, vm["sample"].as<u64>());
  ro.seed = vm["seed"].as<u64>();
  ro.max_reports = vm["max-reports"].as<size_t>();
  ro.progress = !vm.count("no-progress");
  if (vm.count("record")) {
    if (files.size() != 1) {
      return cl.bad("--record takes exactly one trace");
    }
    ro.record_path = vm["record"].as<std::string>();
  }
  const bool json = vm.count("json") != 0;

  int exit_code = kExitOk;
  std::vector<std::string> jsons;
  for (const std::string& f : files) {
    wl::ReplayResult r = wl::replay_file(f, ro);
    std::string_view verdict = r.verdict == wl::ReplayResult::Verdict::kMatched    ? "MATCHED"
                               : r.verdict == wl::ReplayResult::Verdict::kMismatch ? "MISMATCH"
                                                                                   : "BAD INPUT";
    if (r.verdict == wl::ReplayResult::Verdict::kBadInput) {
      fmt::print(stderr, "pagesim replay: {}\n", r.error->to_string());
      exit_code = kExitBadInput;
      if (json) {
        jsons.push_back(fmt::format("{{\"file\": \"{}\", \"verdict\": \"BAD INPUT\"}}", f));
      }
      continue;
    }
    if (r.verdict == wl::ReplayResult::Verdict::kMismatch && exit_code == kExitOk) {
      exit_code = kExitMismatch;
    }
    if (json) {
      jsons.push_back(r.stats.json(verdict, r.mismatch_count));
    } else {
      for (const auto& m : r.mismatches) fmt::print("{}\n", m.to_string());
      if (r.mismatch_count > r.mismatches.size()) {
        fmt::print("... and {} more mismatches\n", r.mismatch_count - r.mismatches.size());
      }
      fmt::print("{}", r.stats.table(verdict));
    }
  }
  if (json) {
    if (jsons.size() == 1) {
      fmt::print("{}\n", jsons[0]);
    } else {
      fmt::print("[");
      for (size_t i = 0; i < jsons.size(); ++i) fmt::print("{}{}", i ? ",\n " : "", jsons[i]);
      fmt::print("]\n");
    }
  }
  return exit_code;
}

}  // namespace pagesim::cli
