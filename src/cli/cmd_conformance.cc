// `pagesim conformance FILE...`: runs recorded x86-64 paging vectors against the walker and the
// TLB (src/workloads/conformance.h) and prints pass/fail per vector, bit-level diffs and a
// summary. Exit status: 0 every vector passed, 1 a mismatch, 2 bad input or usage.
#include <boost/program_options.hpp>
#include <fmt/format.h>

#include <string>
#include <vector>

#include "cli/app.h"
#include "cli/command_line.h"
#include "mmu/profile.h"
#include "mmu/tlb_shape.h"
#include "workloads/conformance.h"
#include "workloads/number.h"

namespace pagesim::cli {

namespace {

namespace po = boost::program_options;
using workloads::CaseResult;
using workloads::ConformanceOptions;
using workloads::FileReport;
using workloads::ProfileChoice;

constexpr std::string_view kDescription = R"(Usage: pagesim conformance [options] FILE...

Runs recorded x86-64 paging vectors against pagesim's page walker and TLB, and
prints PASS or FAIL per vector, a bit-level diff of every difference, and a
summary per file.

Two formats are read (detected from the content):

  Recorded scenarios, JSON lines (tests/conformance/qemu-*.jsonl): one scenario
    a line, {"scenario": {...}, "result": {...}}, recorded on an x86-64
    implementation (QEMU 7.2 TCG for the bundled files; see
    tests/conformance/README.md). pagesim builds the scenario's memory (writes,
    fill pattern, harness entry), loads the recorded control registers, adopts
    the recording CPU's facts (MAXPHYADDR, linear-address bits, features), and
    for each access flushes the TLB if asked, translates, performs the read,
    write or fetch, and compares: outcome (ok/pf/gp), error code, CR2, the
    physical address and value reached, and every entries_after word.

  Spec vectors (tests/conformance/x86-64-paging.vectors.json, format
    "pagesim-spec-vectors/1"):
    single accesses with each entry's value before and after, run under both
    A-bit policies (a_on_fault=progressive: "after"; none:
    "after_if_a_on_fault_none"), and TLB scenarios whose access steps list the
    allowed outcomes and pagesim's default one. With the spec's TLB (no --tlb)
    and default TLB knobs, the default outcome is required exactly; otherwise
    any allowed outcome passes.

Record your own vectors on an emulator or on hardware in the JSON-lines format
(docs/mmu.md says how) and run them here with --profile sdm, or with the
profile and --knob values that describe your CPU.

Exit status: 0 every vector passed, 1 at least one mismatch, 2 bad input or
usage (the message names the file, line and column).

Options)";

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string json_strings(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ", ";
    out += json_string(v[i]);
  }
  return out + "]";
}

// What is printed per vector: failures only, a PASS/FAIL line for every vector (the default),
// or every vector with each of its accesses or steps.
enum class Verbosity : u8 { kFailures, kEveryVector, kEverything };

void print_case(const CaseResult& c, Verbosity verbosity) {
  if (c.passed() && verbosity == Verbosity::kFailures) return;
  const bool verbose = verbosity == Verbosity::kEverything;
  fmt::print("{} {}{}{}\n", c.passed() ? "PASS" : "FAIL", c.id, c.title.empty() ? "" : "  ",
             c.title);
  if (verbose) {
    for (const std::string& t : c.trace) fmt::print("       {}\n", t);
  }
  for (const std::string& d : c.diffs) fmt::print("    - {}\n", d);
  if (!c.passed() || verbose) {
    for (const std::string& n : c.notes) fmt::print("    ({})\n", n);
  }
}

std::string_view format_name(workloads::VectorFormat f) {
  return f == workloads::VectorFormat::kSpecVectors ? "spec vectors" : "recorded scenarios";
}

}  // namespace

int conformance_main(int argc, char** argv) {
  std::string profile_text = "auto";
  std::vector<std::string> knobs;
  std::string tlb_text;
  std::string ram_text = "2G";

  po::options_description opts{"Options", 100, 50};
  // clang-format off
  opts.add_options()
      ("help,h", "print this help")
      ("profile", po::value(&profile_text)->default_value("auto"),
       "sdm | qemu | auto: the machine profile. auto picks qemu (QEMU 7.2, every deviation Q1-Q8 "
       "of the spec) for recorded JSON lines and sdm (the Intel SDM) for spec vectors. With sdm, "
       "a recording's expected_sdm outcomes are the reference when present.")
      ("knob", po::value(&knobs)->composing(),
       "NAME=VALUE: set one profile knob on top of the profile and the recording's CPU facts "
       "(repeatable; --list-knobs shows them), e.g. --knob a_on_fault=none")
      ("tlb", po::value(&tlb_text),
       "a TLB preset (intel, amd, teaching, ideal, none) or a TLB config file for TLB scenarios "
       "and recordings (default: the spec's TLB, 'ideal')")
      ("ram", po::value(&ram_text)->default_value("2G"),
       "simulated RAM size for recordings (e.g. 2G, 512M, 0x80000000); tables or data beyond it "
       "follow the profile's unbacked_memory knob")
      ("verbose,v", "also print each vector's accesses or steps and their outcomes")
      ("failures-only", "print only the vectors that fail (and the summary)")
      ("json", "print a JSON report on stdout instead of text")
      ("list-knobs", "list the profile knobs and their values in each preset, then exit");
  // clang-format on
  CommandLine cl("pagesim conformance", "pagesim conformance", kDescription);
  if (auto done = cl.parse(argc, argv, opts, "file")) return *done;
  const po::variables_map& vm = cl.vm();
  const std::vector<std::string> files = cl.positionals();
  if (vm.count("list-knobs")) {
    for (std::string_view name : mmu::Profile::preset_names()) {
      auto p = mmu::Profile::named(name);
      fmt::print("profile {}:\n", name);
      for (const std::string& kv : p.value().knob_values()) fmt::print("  {}\n", kv);
    }
    fmt::print("also accepted: qemu_compat=true (every QEMU deviation at once)\n");
    return kExitOk;
  }
  if (files.empty()) {
    return cl.bad("no FILE given");
  }

  ConformanceOptions options;
  if (profile_text == "auto") {
    options.profile = ProfileChoice::kAuto;
  } else if (profile_text == "sdm" || profile_text == "intel") {
    options.profile = ProfileChoice::kSdm;
  } else if (profile_text == "qemu" || profile_text == "qemu-7.2") {
    options.profile = ProfileChoice::kQemu;
  } else {
    return cl.bad(fmt::format("--profile must be sdm, qemu or auto, not '{}'", profile_text));
  }
  for (const std::string& k : knobs) {
    const auto eq = k.find('=');
    if (eq == std::string::npos || eq == 0) {
      return cl.bad(fmt::format("--knob expects NAME=VALUE, not '{}'", k));
    }
    mmu::Profile probe;
    if (auto r = probe.set_knob(k.substr(0, eq), k.substr(eq + 1)); !r.ok()) {
      return cl.bad(fmt::format("--knob {}: {}", k, r.error()));
    }
    options.knobs.emplace_back(k.substr(0, eq), k.substr(eq + 1));
  }
  if (!tlb_text.empty()) {
    auto shape = mmu::TlbShape::named_or_file(tlb_text);
    if (!shape.ok()) {
      return cl.bad(fmt::format("--tlb: {}", shape.error()));
    }
    options.tlb = std::move(shape.value());
  }
  const std::optional<u64> ram = wl::parse_number(ram_text);
  if (!ram || *ram < 16 * MiB || *ram % kFrameSize != 0) {
    return cl.bad(
        fmt::format("--ram '{}' is not a size of at least 16M in whole 4 KiB frames", ram_text));
  }
  options.ram_bytes = *ram;

  const bool json = vm.count("json") != 0;
  const Verbosity verbosity = vm.count("verbose")         ? Verbosity::kEverything
                              : vm.count("failures-only") ? Verbosity::kFailures
                                                          : Verbosity::kEveryVector;
  bool bad_input = false;
  u64 vectors = 0, passed = 0, failed = 0, accesses = 0;
  std::vector<std::string> json_files;
  for (const std::string& file : files) {
    ConformanceOptions o = options;
    auto report = workloads::run_conformance_file(file, o, [&](const CaseResult& c) {
      if (!json) print_case(c, verbosity);
    });
    if (!report.ok()) {
      fmt::print(stderr, "pagesim conformance: {}\n", report.error().describe());
      bad_input = true;
      if (json) {
        json_files.push_back(fmt::format("{{\"path\": {}, \"error\": {}}}", json_string(file),
                                         json_string(report.error().describe())));
      }
      continue;
    }
    const FileReport& r = report.value();
    vectors += r.vectors;
    passed += r.passed;
    failed += r.failed;
    accesses += r.accesses;
    if (json) {
      std::string cases;
      for (const CaseResult& c : r.cases) {
        if (!cases.empty()) cases += ", ";
        cases += fmt::format(
            "{{\"id\": {}, \"title\": {}, \"passed\": {}, \"checks\": {}, "
            "\"diffs\": {}, \"notes\": {}}}",
            json_string(c.id), json_string(c.title), c.passed(), c.checks, json_strings(c.diffs),
            json_strings(c.notes));
      }
      json_files.push_back(fmt::format(
          "{{\"path\": {}, \"format\": {}, \"profile\": {}, \"vectors\": {}, \"passed\": {}, "
          "\"failed\": {}, \"accesses\": {}, \"cases\": [{}]}}",
          json_string(r.path), json_string(format_name(r.format)), json_string(r.profile),
          r.vectors, r.passed, r.failed, r.accesses, cases));
    } else {
      std::string detail;
      if (r.format == workloads::VectorFormat::kSpecVectors) {
        detail = fmt::format(" ({} single-access vectors, {} TLB scenarios; {} runs)",
                             r.single_vectors, r.tlb_scenarios, r.accesses);
      } else {
        detail = fmt::format(" ({} accesses)", r.accesses);
      }
      fmt::print("{}: {}, profile {}: {} vectors{}: {} passed, {} failed\n", r.path,
                 format_name(r.format), r.profile, r.vectors, detail, r.passed, r.failed);
    }
  }
  if (json) {
    std::string all;
    for (const std::string& f : json_files) {
      if (!all.empty()) all += ", ";
      all += f;
    }
    fmt::print(
        "{{\"files\": [{}], \"vectors\": {}, \"passed\": {}, \"failed\": {}, \"accesses\": "
        "{}, \"bad_input\": {}}}\n",
        all, vectors, passed, failed, accesses, bad_input);
  } else if (files.size() > 1) {
    fmt::print("total: {} vectors ({} accesses) in {} files: {} passed, {} failed\n", vectors,
               accesses, files.size(), passed, failed);
  }
  if (bad_input) return kExitBadInput;
  return failed ? kExitMismatch : kExitOk;
}

}  // namespace pagesim::cli
