// `pagesim quiz --seed N`: paging exercises with a separate answer key (src/workloads/quiz.h).
#include <boost/program_options.hpp>
#include <fmt/core.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "cli/app.h"
#include "cli/command_line.h"
#include "workloads/quiz.h"

namespace po = boost::program_options;

namespace pagesim::cli {

namespace {

constexpr const char* kUsage =
    "Usage: pagesim quiz --seed N [--kind translate|faults|tlb|all] [--count K]\n"
    "                    [--answers FILE | --answers-only]\n"
    "\n"
    "Prints paging exercises in the style of OS-course homework:\n"
    "  translate  page tables given entry by entry; translate virtual addresses to physical\n"
    "             ones (or give the page-fault error code);\n"
    "  faults     pages with different rights and a control state (CR0.WP, SMEP, SMAP, keys);\n"
    "             which accesses fault, with which error code and by which rule;\n"
    "  tlb        a sequence of reads on the teaching TLB (4-entry L1 DTLB, 8-entry L2, LRU);\n"
    "             which hit L1, which hit L2, which walk, how many misses in all.\n"
    "The same seed gives the same exercises. Every answer is computed by pagesim's hardware\n"
    "model (its page walker and TLB), not by a separate answer generator.\n"
    "\n"
    "The exercises go to stdout; --answers FILE also writes the answer key to FILE, and\n"
    "--answers-only prints the key instead of the exercises. --count K makes K exercises of each\n"
    "kind (default 1). Exit status: 0, or 2 for bad input.\n";

}  // namespace

int quiz_main(int argc, char** argv) {
  constexpr std::string_view prog = "pagesim quiz";
  po::options_description opts("Options");
  // clang-format off
  opts.add_options()
      ("help,h", "show this help")
      ("seed", po::value<u64>(), "the seed (required): same seed, same quiz")
      ("kind", po::value<std::string>()->default_value("all"), "translate, faults, tlb or all")
      ("count", po::value<unsigned>()->default_value(1), "exercises of each kind, 1 to 20")
      ("answers", po::value<std::string>(), "also write the answer key to this file")
      ("answers-only", "print the answer key instead of the exercises");
  // clang-format on
  CommandLine cl(prog, "pagesim quiz", kUsage);
  if (auto done = cl.parse(argc, argv, opts)) return *done;
  const po::variables_map& vm = cl.vm();
  if (!vm.count("seed")) return cl.bad("--seed N is required (the same seed gives the same quiz)");
  wl::QuizOptions q;
  q.seed = vm["seed"].as<u64>();
  const std::string kind = vm["kind"].as<std::string>();
  if (kind == "translate") {
    q.kinds = {wl::QuizKind::kTranslate};
  } else if (kind == "faults") {
    q.kinds = {wl::QuizKind::kFaults};
  } else if (kind == "tlb") {
    q.kinds = {wl::QuizKind::kTlb};
  } else if (kind != "all") {
    return cl.bad(fmt::format("--kind must be translate, faults, tlb or all, not '{}'", kind));
  }
  q.count = vm["count"].as<unsigned>();
  if (q.count < 1 || q.count > 20)
    return cl.bad(fmt::format("--count must be 1 to 20, not {}", q.count));
  if (vm.count("answers") && vm.count("answers-only")) {
    return cl.bad("--answers FILE and --answers-only exclude each other");
  }
  auto quiz = wl::make_quiz(q);
  if (!quiz.ok()) {
    fmt::print(stderr, "{}: {}\n", prog, quiz.error());
    return kExitBadInput;
  }
  if (vm.count("answers-only")) {
    fmt::print("{}", wl::quiz_answers_text(quiz.value()));
    return kExitOk;
  }
  if (vm.count("answers")) {
    const std::string path = vm["answers"].as<std::string>();
    std::ofstream f(path);
    f << wl::quiz_answers_text(quiz.value());
    if (!f.flush()) {
      fmt::print(stderr, "{}: cannot write {}: {}\n", prog, path, std::strerror(errno));
      return kExitBadInput;
    }
  }
  fmt::print("{}", wl::quiz_questions_text(quiz.value()));
  return kExitOk;
}

}  // namespace pagesim::cli
