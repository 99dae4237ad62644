#include "mmu/tlb_shape.h"

#include <fmt/format.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace pagesim::mmu {

namespace {

TlbArrayShape array(std::string name, TlbLevel level, TlbPorts ports, u8 sizes, u32 entries,
                    u32 ways, Replacement r = Replacement::kLru) {
  return TlbArrayShape{.name = std::move(name),
                       .level = level,
                       .ports = ports,
                       .sizes = sizes,
                       .sets = entries / ways,
                       .ways = ways,
                       .replacement = r};
}

PscShape psc_cache(Level level, u32 entries, u32 ways) {
  return PscShape{.level = level, .sets = entries / ways, .ways = ways};
}

constexpr u8 k4K = size_bit(PageSize::k4K);
constexpr u8 k2M = size_bit(PageSize::k2M);
constexpr u8 k1G = size_bit(PageSize::k1G);

std::string_view ports_name(TlbPorts p) {
  switch (p) {
    case TlbPorts::kInstruction:
      return "instruction";
    case TlbPorts::kData:
      return "data";
    case TlbPorts::kUnified:
      return "unified";
  }
  return "?";
}

std::string sizes_text(u8 sizes) {
  std::string out;
  constexpr std::array<std::string_view, 3> kNames{"4K", "2M", "1G"};
  for (PageSize s : kAllPageSizes) {
    if (!(sizes & size_bit(s))) continue;
    if (!out.empty()) out += ',';
    out += kNames[size_index(s)];
  }
  return out;
}

// One whitespace-separated token of a config line, with its 1-based column.
struct Token {
  std::string_view text;
  unsigned column = 0;
};

std::vector<Token> tokenize(std::string_view line) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    if (i >= line.size() || line[i] == '#') break;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r' &&
           line[i] != '#') {
      ++i;
    }
    out.push_back(Token{line.substr(start, i - start), static_cast<unsigned>(start + 1)});
  }
  return out;
}

class LineParser {
 public:
  LineParser(std::string_view file, unsigned line) : file_(file), line_(line) {}

  std::string error(unsigned column, std::string_view what) const {
    return fmt::format("{}:{}:{}: {}", file_, line_, column, what);
  }

  Result<u32, std::string> number(const Token& t, std::string_view key, std::string_view value) {
    u32 v = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc{} || end != value.data() + value.size() || v == 0) {
      return Err{
          error(t.column, fmt::format("expected {}=<positive integer>, found '{}'", key, t.text))};
    }
    return v;
  }

  // Parses key=value options into the geometry (sets/ways/entries/replacement) shared by TLB
  // arrays and PSCs; other keys are handed to `other`.
  template <class Other>
  Result<void, std::string> options(const std::vector<Token>& toks, std::size_t first, u32& sets,
                                    u32& ways, Replacement& repl, Other&& other) {
    u32 entries = 0;
    bool have_sets = false, have_ways = false;
    const unsigned line_column = toks.empty() ? 1 : toks[0].column;
    unsigned sets_column = 0, ways_column = 0, entries_column = 0;
    for (std::size_t i = first; i < toks.size(); ++i) {
      const Token& t = toks[i];
      const auto eq = t.text.find('=');
      if (eq == std::string_view::npos || eq == 0 || eq + 1 == t.text.size()) {
        return Err{error(t.column, fmt::format("expected key=value, found '{}'", t.text))};
      }
      const std::string_view key = t.text.substr(0, eq);
      const std::string_view value = t.text.substr(eq + 1);
      if (key == "sets") {
        sets = PAGESIM_TRY(number(t, key, value));
        have_sets = true;
        sets_column = t.column;
      } else if (key == "ways") {
        ways = PAGESIM_TRY(number(t, key, value));
        have_ways = true;
        ways_column = t.column;
      } else if (key == "entries") {
        entries = PAGESIM_TRY(number(t, key, value));
        entries_column = t.column;
      } else if (key == "replacement") {
        if (value == "lru") {
          repl = Replacement::kLru;
        } else if (value == "plru" || value == "tree-plru") {
          repl = Replacement::kTreePlru;
        } else {
          return Err{error(t.column, fmt::format("expected replacement=lru or replacement=plru, "
                                                 "found '{}'",
                                                 t.text))};
        }
      } else {
        PAGESIM_TRY(other(t, key, value));
      }
    }
    if (entries != 0) {
      if (have_sets && have_ways && sets * ways != entries) {
        return Err{error(entries_column, fmt::format("entries={} does not equal sets={} x ways={}",
                                                     entries, sets, ways))};
      }
      if (!have_ways) ways = have_sets ? entries / sets : entries;  // fully associative
      if (entries % ways != 0) {
        return Err{error(entries_column,
                         fmt::format("entries={} is not a multiple of ways={}", entries, ways))};
      }
      sets = entries / ways;
      if (!have_sets) sets_column = entries_column;
    } else if (!have_sets || !have_ways) {
      return Err{error(line_column, "expected sets=N and ways=N, or entries=N [ways=N]")};
    }
    if (!is_pow2(sets)) {
      return Err{
          error(sets_column, fmt::format("the number of sets ({}) must be a power of two", sets))};
    }
    if (repl == Replacement::kTreePlru && (!is_pow2(ways) || ways > 64)) {
      return Err{
          error(ways_column ? ways_column : entries_column,
                fmt::format("tree-PLRU needs a power-of-two number of ways <= 64, not {}", ways))};
    }
    return {};
  }

 private:
  std::string_view file_;
  unsigned line_;
};

Result<Level, std::string> psc_level(std::string_view text) {
  if (text == "PML5E" || text == "pml5e") return Level::kPml5e;
  if (text == "PML4E" || text == "pml4e") return Level::kPml4e;
  if (text == "PDPTE" || text == "pdpte") return Level::kPdpte;
  if (text == "PDE" || text == "pde") return Level::kPde;
  return Err{std::string("expected a PSC level: PML5E, PML4E, PDPTE or PDE")};
}

}  // namespace

TlbShape TlbShape::intel_golden_cove() {
  TlbShape s;
  s.name = "intel-golden-cove";
  s.source =
      "Intel 64 and IA-32 Architectures Optimization Reference Manual (248966), Golden Cove TLB "
      "table; PSC sizes as reported by Bhattacharjee, MICRO 2013 (not documented by Intel)";
  const auto kI = TlbPorts::kInstruction;
  const auto kD = TlbPorts::kData;
  s.arrays = {
      array("L1 ITLB 4K", TlbLevel::kL1, kI, k4K, 256, 8),
      array("L1 ITLB 2M", TlbLevel::kL1, kI, k2M, 32, 8),
      array("L1 DTLB 4K", TlbLevel::kL1, kD, k4K, 96, 6),
      array("L1 DTLB 2M", TlbLevel::kL1, kD, k2M, 32, 4),
      array("L1 DTLB 1G", TlbLevel::kL1, kD, k1G, 8, 8),
      array("STLB 4K/2M", TlbLevel::kL2, TlbPorts::kUnified, k4K | k2M, 2048, 16),
      array("STLB 1G", TlbLevel::kL2, TlbPorts::kUnified, k1G, 1024, 8),
  };
  s.psc = {psc_cache(Level::kPml5e, 2, 2), psc_cache(Level::kPml4e, 2, 2),
           psc_cache(Level::kPdpte, 4, 4), psc_cache(Level::kPde, 32, 32)};
  return s;
}

TlbShape TlbShape::amd_zen4() {
  TlbShape s;
  s.name = "amd-zen4";
  s.source =
      "Software Optimization Guide for the AMD Zen4 Microarchitecture (57647), TLB section; "
      "1 GiB pages are held in the L1 TLBs only (AMD smashes them in the L2 TLBs); PSC sizes "
      "are an assumption (AMD keeps PDEs in the L2 DTLB without documenting a count)";
  s.arrays = {
      array("L1 ITLB", TlbLevel::kL1, TlbPorts::kInstruction, k4K | k2M | k1G, 64, 64),
      array("L2 ITLB", TlbLevel::kL2, TlbPorts::kInstruction, k4K | k2M, 512, 8),
      array("L1 DTLB", TlbLevel::kL1, TlbPorts::kData, k4K | k2M | k1G, 72, 72),
      array("L2 DTLB", TlbLevel::kL2, TlbPorts::kData, k4K | k2M, 3072, 24),
  };
  s.psc = {psc_cache(Level::kPml5e, 4, 4), psc_cache(Level::kPml4e, 4, 4),
           psc_cache(Level::kPdpte, 8, 8), psc_cache(Level::kPde, 32, 8)};
  return s;
}

TlbShape TlbShape::teaching() {
  TlbShape s;
  s.name = "teaching";
  s.source = "pagesim teaching shape (tiny, fully associative, LRU)";
  s.arrays = {
      array("L1 ITLB", TlbLevel::kL1, TlbPorts::kInstruction, k4K | k2M | k1G, 4, 4),
      array("L1 DTLB", TlbLevel::kL1, TlbPorts::kData, k4K | k2M | k1G, 4, 4),
      array("L2 TLB", TlbLevel::kL2, TlbPorts::kUnified, k4K | k2M | k1G, 8, 8),
  };
  s.psc = {psc_cache(Level::kPml5e, 2, 2), psc_cache(Level::kPml4e, 2, 2),
           psc_cache(Level::kPdpte, 2, 2), psc_cache(Level::kPde, 2, 2)};
  return s;
}

TlbShape TlbShape::ideal() {
  TlbShape s;
  s.name = "ideal";
  s.source = "spec section 10.2: a TLB that keeps every entry, no paging-structure caches";
  s.arrays = {
      array("ITLB", TlbLevel::kL1, TlbPorts::kInstruction, k4K | k2M | k1G, 512, 512),
      array("DTLB", TlbLevel::kL1, TlbPorts::kData, k4K | k2M | k1G, 512, 512),
  };
  return s;
}

TlbShape TlbShape::none() {
  TlbShape s;
  s.name = "none";
  s.source = "no translation caches";
  return s;
}

Result<TlbShape, std::string> TlbShape::named(std::string_view name) {
  if (name == "intel" || name == "golden-cove" || name == "intel-golden-cove") {
    return intel_golden_cove();
  }
  if (name == "amd" || name == "zen4" || name == "amd-zen4") return amd_zen4();
  if (name == "teaching") return teaching();
  if (name == "ideal") return ideal();
  if (name == "none") return none();
  return Err{
      fmt::format("unknown TLB preset '{}' (expected intel, amd, teaching, ideal or none)", name)};
}

std::vector<std::string_view> TlbShape::preset_names() {
  return {"intel-golden-cove", "amd-zen4", "teaching", "ideal", "none"};
}

Result<TlbShape, std::string> TlbShape::parse(std::string_view text, std::string_view file) {
  TlbShape s;
  s.source = fmt::format("config file {}", file);
  unsigned line_no = 0;
  std::size_t pos = 0;
  bool have_name = false;
  while (pos <= text.size()) {
    const std::size_t nl = text.find('\n', pos);
    const std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    LineParser p(file, line_no);
    const std::vector<Token> toks = tokenize(line);
    if (toks.empty()) continue;
    const Token& kw = toks[0];
    if (kw.text == "name") {
      if (toks.size() != 2) return Err{p.error(kw.column, "expected 'name <word>'")};
      s.name = std::string(toks[1].text);
      have_name = true;
    } else if (kw.text == "source") {
      const std::size_t at = line.find("source") + 6;
      std::string_view rest = line.substr(at);
      while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
      s.source = std::string(rest);
    } else if (kw.text == "tlb") {
      if (toks.size() < 2 || toks[1].text.find('=') != std::string_view::npos) {
        return Err{p.error(kw.column,
                           "expected 'tlb <name> level=1|2 ports=instruction|data|"
                           "unified sizes=4K[,2M][,1G] sets=N ways=N [replacement=lru|"
                           "plru]'")};
      }
      TlbArrayShape a;
      a.name = std::string(toks[1].text);
      a.sizes = 0;
      bool have_level = false, have_ports = false;
      auto other = [&](const Token& t, std::string_view key,
                       std::string_view value) -> Result<void, std::string> {
        if (key == "level") {
          if (value == "1") {
            a.level = TlbLevel::kL1;
          } else if (value == "2") {
            a.level = TlbLevel::kL2;
          } else {
            return Err{
                p.error(t.column, fmt::format("expected level=1 or level=2, found '{}'", t.text))};
          }
          have_level = true;
        } else if (key == "ports" || key == "port") {
          if (value == "instruction" || value == "i") {
            a.ports = TlbPorts::kInstruction;
          } else if (value == "data" || value == "d") {
            a.ports = TlbPorts::kData;
          } else if (value == "unified") {
            a.ports = TlbPorts::kUnified;
          } else {
            return Err{p.error(t.column, fmt::format("expected ports=instruction, data or "
                                                     "unified, found '{}'",
                                                     t.text))};
          }
          have_ports = true;
        } else if (key == "sizes") {
          std::size_t start = 0;
          while (start <= value.size()) {
            const std::size_t comma = value.find(',', start);
            const std::string_view one = value.substr(
                start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
            if (one == "4K" || one == "4k") {
              a.sizes |= k4K;
            } else if (one == "2M" || one == "2m") {
              a.sizes |= k2M;
            } else if (one == "1G" || one == "1g") {
              a.sizes |= k1G;
            } else {
              return Err{p.error(t.column, fmt::format("expected sizes=4K,2M,1G (any of them, "
                                                       "comma-separated), found '{}'",
                                                       t.text))};
            }
            if (comma == std::string_view::npos) break;
            start = comma + 1;
          }
        } else {
          return Err{p.error(t.column, fmt::format("unknown option '{}' for a tlb line (expected "
                                                   "level, ports, sizes, sets, ways, entries, "
                                                   "replacement)",
                                                   key))};
        }
        return {};
      };
      PAGESIM_TRY(p.options(toks, 2, a.sets, a.ways, a.replacement, other));
      if (!have_level) return Err{p.error(kw.column, "missing level=1 or level=2")};
      if (!have_ports) return Err{p.error(kw.column, "missing ports=instruction|data|unified")};
      if (a.sizes == 0) return Err{p.error(kw.column, "missing sizes=4K[,2M][,1G]")};
      s.arrays.push_back(std::move(a));
      if (auto v = s.validate(); !v.ok()) return Err{p.error(kw.column, v.error())};
    } else if (kw.text == "psc") {
      if (toks.size() < 2) {
        return Err{p.error(kw.column, "expected 'psc PML5E|PML4E|PDPTE|PDE sets=N ways=N'")};
      }
      auto level = psc_level(toks[1].text);
      if (!level.ok()) {
        return Err{
            p.error(toks[1].column, fmt::format("{}, found '{}'", level.error(), toks[1].text))};
      }
      PscShape c;
      c.level = level.value();
      auto other = [&](const Token& t, std::string_view key,
                       std::string_view) -> Result<void, std::string> {
        return Err{p.error(t.column, fmt::format("unknown option '{}' for a psc line (expected "
                                                 "sets, ways, entries, replacement)",
                                                 key))};
      };
      PAGESIM_TRY(p.options(toks, 2, c.sets, c.ways, c.replacement, other));
      s.psc.push_back(c);
      if (auto v = s.validate(); !v.ok()) return Err{p.error(kw.column, v.error())};
    } else {
      return Err{p.error(kw.column, fmt::format("expected 'name', 'source', 'tlb' or 'psc', found "
                                                "'{}'",
                                                kw.text))};
    }
  }
  if (!have_name) s.name = std::string(file);
  PAGESIM_TRY(s.validate());
  return s;
}

Result<TlbShape, std::string> TlbShape::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Err{fmt::format("{}: cannot open the TLB config file", path)};
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

Result<TlbShape, std::string> TlbShape::named_or_file(const std::string& name_or_path) {
  auto preset = named(name_or_path);
  if (preset.ok()) return preset;
  if (name_or_path.find('/') == std::string::npos && name_or_path.find('.') == std::string::npos) {
    return preset;  // looks like a preset name: report the unknown preset
  }
  return load(name_or_path);
}

std::string TlbShape::to_config() const {
  std::string out = fmt::format("name {}\n", name);
  if (!source.empty()) out += fmt::format("source {}\n", source);
  for (const TlbArrayShape& a : arrays) {
    std::string n = a.name;
    for (char& c : n) {
      if (c == ' ' || c == '\t' || c == '#') c = '_';
    }
    out += fmt::format("tlb {} level={} ports={} sizes={} sets={} ways={} replacement={}\n", n,
                       static_cast<int>(a.level), ports_name(a.ports), sizes_text(a.sizes), a.sets,
                       a.ways, replacement_name(a.replacement));
  }
  for (const PscShape& c : psc) {
    out += fmt::format("psc {} sets={} ways={} replacement={}\n", level_name(c.level), c.sets,
                       c.ways, replacement_name(c.replacement));
  }
  return out;
}

Result<void, std::string> TlbShape::validate() const {
  if (arrays.size() > 64) {
    return Err{fmt::format("{} TLB arrays: at most 64 are supported", arrays.size())};
  }
  for (std::size_t i = 0; i < arrays.size(); ++i) {
    const TlbArrayShape& a = arrays[i];
    if (a.sizes == 0) return Err{fmt::format("TLB array '{}' holds no page size", a.name)};
    if (!is_pow2(a.sets)) {
      return Err{fmt::format("TLB array '{}': the number of sets ({}) must be a power of two",
                             a.name, a.sets)};
    }
    if (a.ways == 0) return Err{fmt::format("TLB array '{}' has no ways", a.name)};
    if (a.replacement == Replacement::kTreePlru && (!is_pow2(a.ways) || a.ways > 64)) {
      return Err{
          fmt::format("TLB array '{}': tree-PLRU needs a power-of-two number of ways "
                      "<= 64, not {}",
                      a.name, a.ways)};
    }
    // One array per (level, reference kind, page size): a fill must know where to go.
    for (std::size_t j = 0; j < i; ++j) {
      const TlbArrayShape& b = arrays[j];
      if (a.level != b.level || (a.sizes & b.sizes) == 0) continue;
      const bool overlap =
          a.ports == TlbPorts::kUnified || b.ports == TlbPorts::kUnified || a.ports == b.ports;
      if (overlap) {
        return Err{
            fmt::format("TLB arrays '{}' and '{}' both hold {} pages for the same "
                        "references at level {}",
                        b.name, a.name, sizes_text(a.sizes & b.sizes), static_cast<int>(a.level))};
      }
    }
  }
  for (std::size_t i = 0; i < psc.size(); ++i) {
    const PscShape& c = psc[i];
    if (c.level == Level::kPte) {
      return Err{std::string("a paging-structure cache holds PML5E, PML4E, PDPTE or PDE entries")};
    }
    if (!is_pow2(c.sets) || c.ways == 0) {
      return Err{fmt::format("{} cache: sets must be a power of two and ways at least 1",
                             level_name(c.level))};
    }
    if (c.replacement == Replacement::kTreePlru && (!is_pow2(c.ways) || c.ways > 64)) {
      return Err{fmt::format("{} cache: tree-PLRU needs a power-of-two number of ways <= 64",
                             level_name(c.level))};
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (psc[j].level == c.level) {
        return Err{fmt::format("two {} caches", level_name(c.level))};
      }
    }
  }
  return {};
}

}  // namespace pagesim::mmu
