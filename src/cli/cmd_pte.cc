// `pagesim pte decode VALUE` and `pagesim pte encode --level N ...`: one paging-structure entry
// from its 64-bit value to named fields and back (src/workloads/pte_format.h).
#include <boost/program_options.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cli/app.h"
#include "cli/command_line.h"
#include "mmu/profile.h"
#include "workloads/number.h"
#include "workloads/pte_format.h"

namespace po = boost::program_options;

namespace pagesim::cli {

namespace {

constexpr const char* kPteUsage =
    "Usage: pagesim pte decode VALUE [--level N] [--maxphyaddr M] [--profile sdm|amd|qemu]\n"
    "                          [--nxe 0|1] [--json]\n"
    "       pagesim pte encode --level N [--addr PA] [--p] [--rw] [--us] [--pwt] [--pcd] [--a]\n"
    "                          [--d] [--ps] [--pat] [--g] [--pkey K] [--ignored MASK] [--xd]\n"
    "                          [--maxphyaddr M] [--profile sdm|amd|qemu]\n"
    "\n"
    "decode names every field of an x86-64 paging-structure entry as the hardware reads it at\n"
    "level N (1 = PTE, 2 = PDE, 3 = PDPTE, 4 = PML4E, 5 = PML5E; PS decides at levels 2 and 3\n"
    "whether the entry maps a page): P, R/W, U/S, PWT, PCD, A, D, PS or PAT, G, the ignored\n"
    "bits, the address, the protection key and XD, and flags every reserved bit that is set with\n"
    "the rule of docs/spec/x86-64-paging.md that reserves it (R2 above MAXPHYADDR, R3 PS in a\n"
    "PML4E, R4 XD while EFER.NXE=0, R5 large-page alignment, R6, R7 AMD). Without --level it\n"
    "shows how the value reads at each level.\n"
    "\n"
    "encode builds the value from named fields: each flag option sets one bit, --addr the\n"
    "next-table or frame address (aligned to 4 KiB, 2 MiB with --ps at level 2, 1 GiB with --ps\n"
    "at level 3), --pkey bits 62:59 of a leaf, --ignored MASK the bits the hardware ignores (in\n"
    "place: 0xe00 is bits 11:9). A field that does not exist at that level is an error. decode\n"
    "prints the encode command that gives its value back.\n"
    "\n"
    "Numbers are decimal or 0x-hexadecimal, '_' allowed between digits. Exit status: 0, or 2\n"
    "for bad input.\n";

// Boost's default style guesses abbreviations (--p would match --pat); exact names only.
std::optional<mmu::Level> parse_level(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "1" || s == "pte") return mmu::Level::kPte;
  if (s == "2" || s == "pde") return mmu::Level::kPde;
  if (s == "3" || s == "pdpte") return mmu::Level::kPdpte;
  if (s == "4" || s == "pml4e") return mmu::Level::kPml4e;
  if (s == "5" || s == "pml5e") return mmu::Level::kPml5e;
  return std::nullopt;
}

// Builds the decoding context from --profile, --maxphyaddr and --nxe; prints the error and
// returns nullopt on bad input.
std::optional<wl::PteContext> make_context(std::string_view prog, const po::variables_map& vm) {
  const std::string name = vm.count("profile") ? vm["profile"].as<std::string>() : "sdm";
  auto profile = mmu::Profile::named(name);
  if (!profile.ok()) {
    fmt::print(stderr, "{}: --profile: {}\n", prog, profile.error());
    return std::nullopt;
  }
  mmu::Profile p = profile.value();
  if (vm.count("maxphyaddr")) {
    const unsigned m = vm["maxphyaddr"].as<unsigned>();
    if (m < 32 || m > 52) {
      fmt::print(stderr, "{}: --maxphyaddr must be 32 to 52 (M1), not {}\n", prog, m);
      return std::nullopt;
    }
    p.maxphyaddr = m;
  }
  mmu::Support nxe = mmu::Support::kYes;
  if (vm.count("nxe")) {
    const std::string v = vm["nxe"].as<std::string>();
    if (v != "0" && v != "1") {
      fmt::print(stderr, "{}: --nxe must be 0 or 1, not '{}'\n", prog, v);
      return std::nullopt;
    }
    nxe = v == "1" ? mmu::Support::kYes : mmu::Support::kNo;
  }
  return wl::PteContext::from(p, nxe);
}

std::optional<u64> parse_value(std::string_view prog, std::string_view what, const std::string& s) {
  auto v = wl::parse_number(s);
  if (!v) {
    fmt::print(stderr,
               "{}: {} must be a number (decimal or 0x-hexadecimal, at most 64 bits), not '{}'\n",
               prog, what, s);
  }
  return v;
}

// --level as a level, or nullopt after reporting what was wrong with it.
std::optional<mmu::Level> level_option(std::string_view prog, const po::variables_map& vm) {
  const std::string& text = vm["level"].as<std::string>();
  const auto level = parse_level(text);
  if (!level) {
    fmt::print(stderr, "{}: --level must be 1 to 5 (or pte, pde, pdpte, pml4e, pml5e), not '{}'\n",
               prog, text);
  }
  return level;
}

void add_context_options(po::options_description& opts) {
  // clang-format off
  opts.add_options()
      ("maxphyaddr", po::value<unsigned>(),
       "MAXPHYADDR, 32 to 52 (default: the profile's, 46 for sdm and amd, 40 for qemu)")
      ("profile", po::value<std::string>(),
       "hardware profile: sdm (default), amd (bit 8 of PML4E/PML5E reserved, R7) or qemu");
  // clang-format on
}

int decode_main(int argc, char** argv) {
  constexpr std::string_view prog = "pagesim pte decode";
  po::options_description opts("Options");
  // clang-format off
  opts.add_options()
      ("help,h", "show this help")
      ("level", po::value<std::string>(),
       "the level the entry is read at: 1-5 or pte, pde, pdpte, pml4e, pml5e (default: every "
       "level)")
      ("nxe", po::value<std::string>(), "EFER.NXE: 1 (default) or 0 (XD is then reserved, R4)")
      ("json", "print JSON");
  // clang-format on
  add_context_options(opts);
  CommandLine cl(prog, "pagesim pte", kPteUsage);
  if (auto done = cl.parse(argc, argv, opts, "value")) return *done;
  const po::variables_map& vm = cl.vm();
  const std::vector<std::string> values = cl.positionals();
  if (values.size() != 1) return cl.bad("give exactly one VALUE");
  const auto value = parse_value(prog, "VALUE", values[0]);
  if (!value) return kExitBadInput;
  const auto ctx = make_context(prog, vm);
  if (!ctx) return kExitBadInput;
  const bool json = vm.count("json") != 0;
  if (vm.count("level")) {
    const auto level = level_option(prog, vm);
    if (!level) return kExitBadInput;
    const wl::DecodedEntry d = wl::decode(*value, *level, *ctx);
    fmt::print("{}", json ? wl::decoded_json(d) + "\n" : wl::format_decoded(d));
    return kExitOk;
  }
  if (json) {
    std::string o = "[";
    for (int n = 1; n <= mmu::kMaxLevels; ++n) {
      if (n > 1) o += ",\n ";
      o += wl::decoded_json(wl::decode(*value, mmu::level_from_number(n), *ctx));
    }
    fmt::print("{}]\n", o);
  } else {
    fmt::print("{}", wl::format_every_level(*value, *ctx));
  }
  return kExitOk;
}

int encode_main(int argc, char** argv) {
  constexpr std::string_view prog = "pagesim pte encode";
  po::options_description opts("Options");
  wl::PteFields f;
  // clang-format off
  opts.add_options()
      ("help,h", "show this help")
      ("level", po::value<std::string>(),
       "the level of the entry (required): 1-5 or pte, pde, pdpte, pml4e, pml5e")
      ("addr", po::value<std::string>(), "next-table or frame address (W4, W5)")
      ("p", po::bool_switch(&f.p), "bit 0 P: present")
      ("rw", po::bool_switch(&f.rw), "bit 1 R/W: writable")
      ("us", po::bool_switch(&f.us), "bit 2 U/S: user")
      ("pwt", po::bool_switch(&f.pwt), "bit 3 PWT: write-through")
      ("pcd", po::bool_switch(&f.pcd), "bit 4 PCD: cache disable")
      ("a", po::bool_switch(&f.a), "bit 5 A: accessed")
      ("d", po::bool_switch(&f.d), "bit 6 D: dirty (leaves only)")
      ("ps", po::bool_switch(&f.ps), "bit 7 PS: the PDE/PDPTE maps a 2 MiB / 1 GiB page")
      ("pat", po::bool_switch(&f.pat), "PAT: bit 7 of a PTE, bit 12 of a 2 MiB / 1 GiB leaf")
      ("g", po::bool_switch(&f.g), "bit 8 G: global (leaves only)")
      ("pkey", po::value<unsigned>(), "protection key 0-15, bits 62:59 (leaves only)")
      ("ignored", po::value<std::string>(), "the bits the hardware ignores, in place (E6)")
      ("xd", po::bool_switch(&f.xd), "bit 63 XD: execute-disable");
  // clang-format on
  add_context_options(opts);
  CommandLine cl(prog, "pagesim pte", kPteUsage);
  if (auto done = cl.parse(argc, argv, opts)) return *done;
  const po::variables_map& vm = cl.vm();
  if (!vm.count("level")) return cl.bad("--level is required");
  const auto level = level_option(prog, vm);
  if (!level) return kExitBadInput;
  f.level = *level;
  if (vm.count("addr")) {
    const auto a = parse_value(prog, "--addr", vm["addr"].as<std::string>());
    if (!a) return kExitBadInput;
    f.addr = *a;
  }
  if (vm.count("ignored")) {
    const auto m = parse_value(prog, "--ignored", vm["ignored"].as<std::string>());
    if (!m) return kExitBadInput;
    f.ignored = *m;
  }
  if (vm.count("pkey")) {
    const unsigned k = vm["pkey"].as<unsigned>();
    if (k > 15) {
      fmt::print(stderr, "{}: --pkey must be 0 to 15, not {}\n", prog, k);
      return kExitBadInput;
    }
    f.pkey = static_cast<u8>(k);
  }
  const auto ctx = make_context(prog, vm);
  if (!ctx) return kExitBadInput;
  auto v = wl::encode(f, *ctx);
  if (!v.ok()) {
    fmt::print(stderr, "{}: {}\n", prog, v.error());
    return kExitBadInput;
  }
  fmt::print("{:#018x}\n", v.value());
  return kExitOk;
}

}  // namespace

int pte_main(int argc, char** argv) {
  if (argc >= 2) {
    const std::string_view sub = argv[1];
    // The sub-subcommand sees "pagesim pte <sub>" as its program name.
    if (sub == "decode" || sub == "encode") {
      std::string prog = fmt::format("pagesim pte {}", sub);
      std::vector<char*> args{prog.data()};
      for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
      const int n = static_cast<int>(args.size());
      return sub == "decode" ? decode_main(n, args.data()) : encode_main(n, args.data());
    }
    if (sub == "--help" || sub == "-h" || sub == "help") {
      std::cout << kPteUsage;
      return kExitOk;
    }
    fmt::print(stderr, "pagesim pte: unknown subcommand '{}': decode or encode\n", sub);
    return kExitBadInput;
  }
  std::cerr << kPteUsage;
  return kExitBadInput;
}

}  // namespace pagesim::cli
