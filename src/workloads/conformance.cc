#include "workloads/conformance.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "mmu/entry_bits.h"
#include "mmu/mmu.h"
#include "mmu/page_fault.h"
#include "sim/phys_mem.h"
#include "workloads/json.h"

namespace pagesim::workloads {

namespace {

using json::Value;
using mmu::Access;
using mmu::AccessKind;
using mmu::Mmu;
using mmu::Outcome;
using mmu::Profile;

std::string_view base_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// ---------------------------------------------------------------------------------------------
// Reading fields, with errors that name the file, line, column and what was expected.

class Input {
 public:
  explicit Input(std::string_view file) : file_(file) {}

  Err<InputError> error(const Value* at, std::string message) const {
    return Err{InputError{std::string(file_), at ? at->pos().line : 0, at ? at->pos().column : 0,
                          std::move(message)}};
  }

  // A required member (present and not null).
  Result<const Value*, InputError> member(const Value& obj, std::string_view key,
                                          std::string_view where) const {
    if (!obj.is_object()) {
      return error(&obj, fmt::format("{}: expected an object, found {}", where, obj.type_name()));
    }
    const Value* v = obj.find(key);
    if (!v || v->is_null()) {
      return error(&obj, fmt::format("{}: missing field '{}'", where, key));
    }
    return v;
  }

  // An optional member (nullptr when absent or null).
  static const Value* optional(const Value& obj, std::string_view key) {
    const Value* v = obj.find(key);
    return (v && !v->is_null()) ? v : nullptr;
  }

  // A 64-bit value: a JSON integer, or a string holding hex ("0x1F") or decimal digits.
  Result<u64, InputError> number(const Value& v, std::string_view where) const {
    if (v.is_number()) {
      if (auto n = v.as_u64()) return *n;
      return error(
          &v, fmt::format("{}: expected a non-negative 64-bit integer, found {}", where, v.text()));
    }
    if (v.is_bool()) return v.as_bool() ? 1u : 0u;
    if (v.is_string()) {
      std::string_view t = v.text();
      int base = 10;
      if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
        t.remove_prefix(2);
        base = 16;
      }
      u64 n = 0;
      auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n, base);
      if (!t.empty() && ec == std::errc{} && end == t.data() + t.size()) return n;
    }
    return error(&v, fmt::format("{}: expected a 64-bit number (an integer, or a string such as "
                                 "\"0x1000\"), found {}{}",
                                 where, v.type_name(),
                                 v.is_string() ? fmt::format(" \"{}\"", v.text()) : ""));
  }

  Result<u64, InputError> number_member(const Value& obj, std::string_view key,
                                        std::string_view where) const {
    const Value* v = PAGESIM_TRY(member(obj, key, where));
    return number(*v, fmt::format("{}.{}", where, key));
  }

  Result<std::optional<u64>, InputError> optional_number(const Value& obj, std::string_view key,
                                                         std::string_view where) const {
    const Value* v = optional(obj, key);
    if (!v) return std::optional<u64>{};
    return std::optional<u64>{PAGESIM_TRY(number(*v, fmt::format("{}.{}", where, key)))};
  }

  // The string's text (owned by the document).
  Result<const std::string*, InputError> string_member(const Value& obj, std::string_view key,
                                                       std::string_view where) const {
    const Value* v = PAGESIM_TRY(member(obj, key, where));
    if (!v->is_string()) {
      return error(v,
                   fmt::format("{}.{}: expected a string, found {}", where, key, v->type_name()));
    }
    return &v->text();
  }

  Result<const Value*, InputError> array_member(const Value& obj, std::string_view key,
                                                std::string_view where) const {
    const Value* v = PAGESIM_TRY(member(obj, key, where));
    if (!v->is_array()) {
      return error(v,
                   fmt::format("{}.{}: expected an array, found {}", where, key, v->type_name()));
    }
    return v;
  }

  std::string_view file() const { return file_; }

 private:
  std::string_view file_;
};

// ---------------------------------------------------------------------------------------------
// Bit-level differences, named.

std::string entry_diff(u64 expected, u64 got, mmu::Level level, mmu::EntryRole role,
                       unsigned maxphyaddr) {
  std::string out;
  const u64 x = expected ^ got;
  for (unsigned bit = 0; bit < 64; ++bit) {
    if (!(x & (u64{1} << bit))) continue;
    out += fmt::format("; bit {} {} expected {} got {}", bit,
                       mmu::entry::bit_name(bit, level, role, maxphyaddr), (expected >> bit) & 1,
                       (got >> bit) & 1);
  }
  return out;
}

std::string error_code_diff(u64 expected, u64 got) {
  std::string out;
  const u64 x = expected ^ got;
  for (unsigned bit = 0; bit < 32; ++bit) {
    if (!(x & (u64{1} << bit))) continue;
    out += fmt::format("; bit {} {} expected {} got {}", bit, mmu::pf::bit_name(bit),
                       (expected >> bit) & 1, (got >> bit) & 1);
  }
  return out;
}

std::string address_diff(u64 expected, u64 got) {
  const u64 x = expected ^ got;
  if (x == 0) return "";
  const unsigned high = 63 - static_cast<unsigned>(__builtin_clzll(x));
  const unsigned low = static_cast<unsigned>(__builtin_ctzll(x));
  return fmt::format("; differing bits {:#x} (bits {}..{})", x, high, low);
}

std::string_view outcome_word(const Outcome& o) {
  if (std::holds_alternative<mmu::Ok>(o)) return "ok";
  if (std::holds_alternative<mmu::PageFault>(o)) return "pf";
  if (const auto* nc = std::get_if<mmu::NonCanonical>(&o)) {
    return nc->vector == mmu::NcVector::kSs ? "ss" : "gp";
  }
  return "bus_error";
}

// ---------------------------------------------------------------------------------------------
// Memory of a recorded scenario: the fill pattern and the cells a scenario changed.

// README: "Every 8-byte cell at physical address p holds 0x9080CD0000000000 | (p & 0xFFFFFFFF)
// << 8 | 0xB8" (mov eax, imm32; int 0x80; nop), so a value tells which address was reached.
constexpr u64 fill_value(u64 p) {
  return 0x9080CD0000000000ull | ((p & 0xFFFFFFFFull) << 8) | 0xB8;
}
constexpr bool is_fill_value(u64 v) { return (v & 0xff) == 0xB8 && (v >> 40) == 0x9080CD; }
constexpr u64 fill_cell(u64 v) { return (v >> 8) & 0xFFFFFFFFull; }

struct Range {
  u64 start = 0;
  u64 end = 0;
  bool operator==(const Range&) const = default;
};

class RecordingMemory {
 public:
  explicit RecordingMemory(u64 ram_bytes) : ram_bytes_(ram_bytes) {}

  Result<void, std::string> init() {
    if (mem_) return {};
    auto m = PhysMem::create(ram_bytes_);
    if (!m.ok()) return Err{m.error()};
    mem_ = std::move(m.value());
    return {};
  }
  PhysMem& mem() { return *mem_; }

  // Restores the cells the previous scenario changed, then makes the fill ranges `fills`.
  void reset(const std::vector<Range>& fills) {
    for (u64 cell : touched_) write_cell(cell, baseline(cell));
    touched_.clear();
    std::vector<Range> removed;
    for (const Range& r : filled_) {
      if (std::find(fills.begin(), fills.end(), r) == fills.end()) removed.push_back(r);
    }
    for (const Range& r : removed) zero(r);
    for (const Range& r : fills) {
      const bool had = std::find(filled_.begin(), filled_.end(), r) != filled_.end();
      const bool hit = std::any_of(removed.begin(), removed.end(), [&](const Range& x) {
        return x.start < r.end && r.start < x.end;
      });
      if (!had || hit) materialize(r);
    }
    filled_ = fills;
  }

  void touch(u64 pa) { touched_.push_back(pa & ~u64{7}); }

  std::optional<u64> read_cell(u64 pa) const {
    u64 v = 0;
    if (!mem_->read(PAddr(pa), std::as_writable_bytes(std::span<u64, 1>(&v, 1))).ok()) {
      return std::nullopt;
    }
    return v;
  }
  bool write_cell(u64 pa, u64 v) {
    return mem_->write(PAddr(pa), std::as_bytes(std::span<const u64, 1>(&v, 1))).ok();
  }

 private:
  u64 baseline(u64 cell) const {
    for (const Range& r : filled_) {
      if (cell >= r.start && cell < r.end) return fill_value(cell);
    }
    return 0;
  }
  void materialize(const Range& r) {
    std::array<u64, 512> buf;
    for (u64 p = r.start; p < r.end;) {
      const u64 n = std::min<u64>(buf.size(), (r.end - p) / 8);
      for (u64 k = 0; k < n; ++k) buf[k] = fill_value(p + 8 * k);
      (void)mem_->write(PAddr(p), std::as_bytes(std::span<const u64>(buf.data(), n)));
      p += 8 * n;
    }
  }
  void zero(const Range& r) {
    u64 p = r.start;
    const u64 page_start = (r.start + kFrameSize - 1) & ~(kFrameSize - 1);
    const u64 page_end = r.end & ~(kFrameSize - 1);
    if (page_start < page_end) {
      for (; p < page_start; p += 8) write_cell(p, 0);
      mem_->discard(PAddr(page_start), page_end - page_start);
      p = page_end;
    }
    for (; p < r.end; p += 8) write_cell(p, 0);
  }

  u64 ram_bytes_;
  std::unique_ptr<PhysMem> mem_;
  std::vector<Range> filled_;
  std::vector<u64> touched_;
};

// ---------------------------------------------------------------------------------------------
// Recorded scenarios (JSON lines).

struct Expected {
  std::string outcome;  // "ok", "pf", "gp", "ss"
  std::optional<u64> error_code;
  std::optional<u64> cr2;
  std::optional<u64> vector;
  std::optional<u64> value;
  std::optional<u64> cell_paddr;
  const Value* entries_after = nullptr;
  bool compare_data = true;  // value, physical address and entries (false: SDM vs a recording)
};

Result<AccessKind, InputError> access_kind(const Input& in, const Value& v,
                                           std::string_view where) {
  if (v.is_string()) {
    const std::string& k = v.text();
    if (k == "read") return AccessKind::kRead;
    if (k == "write") return AccessKind::kWrite;
    if (k == "fetch") return AccessKind::kFetch;
    if (k == "shadow_stack_read") return AccessKind::kShadowStackRead;
    if (k == "shadow_stack_write") return AccessKind::kShadowStackWrite;
  }
  return in.error(&v, fmt::format("{}: expected \"read\", \"write\", \"fetch\", "
                                  "\"shadow_stack_read\" or \"shadow_stack_write\"",
                                  where));
}

class RecordingRunner {
 public:
  RecordingRunner(const ConformanceOptions& options, std::string_view file)
      : options_(options), in_(file), memory_(options.ram_bytes) {}

  Result<CaseResult, InputError> run(const Value& root, u32 line_no);
  std::string profile_name;

 private:
  Result<Profile, InputError> profile_for(const Value& result);
  Result<CpuState, InputError> state_for(const Value& scenario, const Value& result,
                                         const Profile& p);

  const ConformanceOptions& options_;
  Input in_;
  RecordingMemory memory_;
};

Result<Profile, InputError> RecordingRunner::profile_for(const Value& result) {
  Profile p = options_.profile == ProfileChoice::kSdm ? Profile::sdm() : Profile::qemu72();
  // Honour the recording CPU's facts, so recordings from other CPU models run unchanged.
  if (const Value* cpu = Input::optional(result, "cpu")) {
    if (auto m = PAGESIM_TRY(in_.optional_number(*cpu, "maxphyaddr", "result.cpu"))) {
      if (*m < 32 || *m > 52) {
        return in_.error(cpu->find("maxphyaddr"),
                         fmt::format("result.cpu.maxphyaddr: expected 32..52, found {}", *m));
      }
      p.maxphyaddr = static_cast<unsigned>(*m);
    }
    if (auto bits = PAGESIM_TRY(in_.optional_number(*cpu, "linear_address_bits", "result.cpu"))) {
      p.la57 = *bits >= 57 ? mmu::Support::kYes : mmu::Support::kNo;
    }
    if (const Value* f = Input::optional(*cpu, "features")) {
      constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kFeatures{{
          {"smep", "smep"},
          {"smap", "smap"},
          {"pku", "pku"},
          {"pks", "pks"},
          {"la57", "la57_supported"},
          {"pcid", "pcid"},
          {"pge", "pge"},
          {"nx", "nx"},
          {"page1gb", "gbpages_supported"},
      }};
      for (const auto& [name, knob] : kFeatures) {
        const Value* v = Input::optional(*f, name);
        if (!v) continue;
        const u64 on = PAGESIM_TRY(in_.number(*v, fmt::format("result.cpu.features.{}", name)));
        (void)p.set_knob(knob, on ? "true" : "false");
      }
    }
  }
  for (const auto& [knob, value] : options_.knobs) {
    if (auto r = p.set_knob(knob, value); !r.ok()) return in_.error(nullptr, r.error());
  }
  if (auto v = p.validate(); !v.ok()) return in_.error(nullptr, v.error());
  return p;
}

Result<CpuState, InputError> RecordingRunner::state_for(const Value& sc, const Value& result,
                                                        const Profile&) {
  CpuState s;
  const std::string paging = *PAGESIM_TRY(in_.string_member(sc, "paging", "scenario"));
  if (paging != "4level" && paging != "la57") {
    return in_.error(
        sc.find("paging"),
        fmt::format("scenario.paging: expected \"4level\" or \"la57\", found \"{}\"", paging));
  }
  if (const Value* ctl = Input::optional(result, "control")) {
    // The registers the recording CPU actually had.
    s.cr0 = PAGESIM_TRY(in_.number_member(*ctl, "cr0", "result.control"));
    s.cr3 = PAGESIM_TRY(in_.number_member(*ctl, "cr3", "result.control"));
    s.cr4 = PAGESIM_TRY(in_.number_member(*ctl, "cr4", "result.control"));
    s.efer = PAGESIM_TRY(in_.number_member(*ctl, "efer", "result.control"));
    s.pkru = static_cast<u32>(
        PAGESIM_TRY(in_.optional_number(*ctl, "pkru", "result.control")).value_or(0));
    if (((s.cr4 & reg::kCr4La57) != 0) != (paging == "la57")) {
      return in_.error(ctl, fmt::format("result.control.cr4 {:#x} disagrees with "
                                        "scenario.paging \"{}\" about CR4.LA57",
                                        s.cr4, paging));
    }
  } else {
    // The scenario's description (README: "Scenario").
    const u64 wp = PAGESIM_TRY(in_.optional_number(sc, "cr0_wp", "scenario")).value_or(1);
    s.cr0 = reg::kCr0Pe | reg::kCr0Pg | (wp ? reg::kCr0Wp : 0);
    s.cr4 = reg::kCr4Pae | (paging == "la57" ? reg::kCr4La57 : 0);
    if (const Value* cr4 = Input::optional(sc, "cr4")) {
      constexpr std::array<std::pair<std::string_view, u64>, 5> kBits{{{"smep", reg::kCr4Smep},
                                                                       {"smap", reg::kCr4Smap},
                                                                       {"pke", reg::kCr4Pke},
                                                                       {"pge", reg::kCr4Pge},
                                                                       {"pcide", reg::kCr4Pcide}}};
      for (const auto& [name, bit] : kBits) {
        if (PAGESIM_TRY(in_.optional_number(*cr4, name, "scenario.cr4")).value_or(0)) s.cr4 |= bit;
      }
    }
    const u64 nxe = PAGESIM_TRY(in_.optional_number(sc, "efer_nxe", "scenario")).value_or(1);
    s.efer = reg::kEferLme | reg::kEferLma | (nxe ? reg::kEferNxe : 0);
    const u64 root = PAGESIM_TRY(in_.number_member(sc, "root", "scenario"));
    const u64 flags = PAGESIM_TRY(in_.optional_number(sc, "cr3_flags", "scenario")).value_or(0);
    s.cr3 = root | (flags & 0xfff);
    if (s.cr4 & reg::kCr4Pke) {
      s.pkru =
          static_cast<u32>(PAGESIM_TRY(in_.optional_number(sc, "pkru", "scenario")).value_or(0));
    }
  }
  s.cpl = 0;
  return s;
}

Result<CaseResult, InputError> RecordingRunner::run(const Value& root, u32 line_no) {
  CaseResult cr;
  cr.id = fmt::format("{}:{}", base_name(in_.file()), line_no);
  if (!root.is_object()) {
    return in_.error(&root, fmt::format("line {}: expected a JSON object {{\"scenario\": ..., "
                                        "\"result\": ...}}, found {}",
                                        line_no, root.type_name()));
  }
  const Value& sc = *PAGESIM_TRY(in_.member(root, "scenario", "the line"));
  const Value& result = *PAGESIM_TRY(in_.member(root, "result", "the line"));
  if (const Value* name = Input::optional(sc, "name"); name && name->is_string()) {
    cr.title = name->text();
  }
  if (const Value* status = Input::optional(result, "status");
      status && status->is_string() && status->text() != "ok") {
    return in_.error(status, fmt::format("result.status is \"{}\": the recording of this scenario "
                                         "failed and has no outcomes to compare",
                                         status->text()));
  }

  const Profile profile = PAGESIM_TRY(profile_for(result));
  profile_name = profile.name;
  const CpuState state = PAGESIM_TRY(state_for(sc, result, profile));

  // Memory: fill ranges, then the writes in order, then the harness entry (README).
  if (auto r = memory_.init(); !r.ok()) return in_.error(nullptr, r.error());
  const u64 ram = memory_.mem().size();
  std::vector<Range> fills;
  const Value* fill = Input::optional(sc, "fill");
  if (!fill) fill = Input::optional(result, "fill");
  if (fill) {
    if (!fill->is_array())
      return in_.error(fill, "scenario.fill: expected an array of [start, end)");
    for (std::size_t i = 0; i < fill->items().size(); ++i) {
      const Value& r = fill->items()[i];
      const std::string where = fmt::format("scenario.fill[{}]", i);
      if (!r.is_array() || r.items().size() != 2) {
        return in_.error(&r, fmt::format("{}: expected [start, end)", where));
      }
      const u64 start = PAGESIM_TRY(in_.number(r.items()[0], where + "[0]"));
      const u64 end = PAGESIM_TRY(in_.number(r.items()[1], where + "[1]"));
      if (start >= end || (start | end) & 7 || end > ram) {
        return in_.error(&r, fmt::format("{}: expected an 8-byte-aligned range inside the "
                                         "simulated RAM [0, {:#x}), found [{:#x}, {:#x})",
                                         where, ram, start, end));
      }
      fills.push_back(Range{start, end});
    }
  }
  memory_.reset(fills);

  auto store = [&](const Value& at, u64 paddr, u64 value,
                   std::string_view where) -> Result<void, InputError> {
    if ((paddr & 7) || paddr > ram - 8) {
      return in_.error(&at, fmt::format("{}: paddr {:#x} is not an 8-byte-aligned address inside "
                                        "the simulated RAM [0, {:#x}) (see --ram)",
                                        where, paddr, ram));
    }
    memory_.touch(paddr);
    memory_.write_cell(paddr, value);
    return {};
  };
  const Value& writes = *PAGESIM_TRY(in_.array_member(sc, "writes", "scenario"));
  for (std::size_t i = 0; i < writes.items().size(); ++i) {
    const Value& w = writes.items()[i];
    const std::string where = fmt::format("scenario.writes[{}]", i);
    const u64 paddr = PAGESIM_TRY(in_.number_member(w, "paddr", where));
    const u64 value = PAGESIM_TRY(in_.number_member(w, "value", where));
    PAGESIM_TRY(store(w, paddr, value, where));
  }
  if (const Value* h = Input::optional(result, "harness_entry")) {
    const u64 paddr = PAGESIM_TRY(in_.number_member(*h, "paddr", "result.harness_entry"));
    const u64 value = PAGESIM_TRY(in_.number_member(*h, "value", "result.harness_entry"));
    PAGESIM_TRY(store(*h, paddr, value, "result.harness_entry"));
  }

  // Names for entry bits in diffs: what the walks of this scenario saw at each address.
  std::map<u64, std::pair<mmu::Level, mmu::EntryRole>> roles;
  auto compare_entries = [&](const Value& obj, std::string_view where,
                             std::string_view prefix) -> Result<void, InputError> {
    if (!obj.is_object()) {
      return in_.error(&obj,
                       fmt::format("{}: expected an object {{\"0xADDR\": \"0xVALUE\"}}", where));
    }
    for (const auto& [key, val] : obj.members()) {
      u64 addr = 0;
      {
        std::string_view t = key;
        int base = 10;
        if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
          t.remove_prefix(2);
          base = 16;
        }
        auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), addr, base);
        if (t.empty() || ec != std::errc{} || end != t.data() + t.size()) {
          return in_.error(&val, fmt::format("{}: key \"{}\" is not a physical address such as "
                                             "\"0x1000\"",
                                             where, key));
        }
      }
      const u64 expected = PAGESIM_TRY(in_.number(val, fmt::format("{}[\"{}\"]", where, key)));
      const std::optional<u64> got = memory_.read_cell(addr);
      if (!got) {
        cr.diffs.push_back(
            fmt::format("{}entry @{:#x} is outside the simulated RAM (expected "
                        "{:#x})",
                        prefix, addr, expected));
        continue;
      }
      if (*got != expected) {
        auto it = roles.find(addr);
        const auto [level, role] =
            it != roles.end() ? it->second : std::pair{mmu::Level::kPte, mmu::EntryRole::kUnknown};
        cr.diffs.push_back(
            fmt::format("{}entry @{:#x}: expected {:#x}, got {:#x}{}", prefix, addr, expected, *got,
                        entry_diff(expected, *got, level, role, profile.maxphyaddr)));
      }
    }
    return {};
  };
  if (const Value* init = Input::optional(result, "entries_initial")) {
    PAGESIM_TRY(compare_entries(*init, "result.entries_initial", "set-up: "));
  }

  mmu::TlbShape shape = options_.tlb ? *options_.tlb : mmu::TlbShape::ideal();
  Mmu cpu(memory_.mem(), profile, shape);
  if (auto r = cpu.set_state(state); !r.ok()) {
    return in_.error(&result, fmt::format("the recorded CPU state is impossible for the profile "
                                          "'{}' with the recording's CPU facts: {}",
                                          profile.name, r.error()));
  }

  const Value& accesses = *PAGESIM_TRY(in_.array_member(result, "accesses", "result"));
  const Value* sc_accesses = Input::optional(sc, "accesses");
  if (sc_accesses &&
      (!sc_accesses->is_array() || sc_accesses->items().size() != accesses.items().size())) {
    return in_.error(sc_accesses, fmt::format("scenario.accesses: expected an array of {} "
                                              "accesses, like result.accesses",
                                              accesses.items().size()));
  }
  const Value* expected_sdm = Input::optional(root, "expected_sdm");
  const bool use_sdm = options_.profile == ProfileChoice::kSdm && expected_sdm;
  if (use_sdm &&
      (!expected_sdm->is_array() || expected_sdm->items().size() != accesses.items().size())) {
    return in_.error(expected_sdm, fmt::format("expected_sdm: expected an array of {} outcomes",
                                               accesses.items().size()));
  }
  if (options_.profile == ProfileChoice::kSdm) {
    cr.notes.push_back(use_sdm ? "SDM profile against a recording: outcomes are compared with "
                                 "expected_sdm; values and entries only where the recording "
                                 "agrees with it"
                               : "SDM profile against a recording without expected_sdm: every "
                                 "difference from the recorded CPU is reported");
  }
  const u64 default_ac = PAGESIM_TRY(in_.optional_number(sc, "rflags_ac", "scenario")).value_or(0);

  for (std::size_t i = 0; i < accesses.items().size(); ++i) {
    const Value& ra = accesses.items()[i];
    const Value* sa = sc_accesses ? &sc_accesses->items()[i] : nullptr;
    const std::string where = fmt::format("result.accesses[{}]", i);
    auto field = [&](std::string_view key) -> const Value* {
      if (const Value* v = Input::optional(ra, key)) return v;
      return sa ? Input::optional(*sa, key) : nullptr;
    };
    const Value* va_v = field("va");
    const Value* kind_v = field("kind");
    if (!va_v || !kind_v)
      return in_.error(&ra, fmt::format("{}: missing field 'va' or 'kind'", where));
    const u64 va = PAGESIM_TRY(in_.number(*va_v, where + ".va"));
    const AccessKind kind = PAGESIM_TRY(access_kind(in_, *kind_v, where + ".kind"));
    const Value* cpl_v = field("cpl");
    const u64 cpl = cpl_v ? PAGESIM_TRY(in_.number(*cpl_v, where + ".cpl")) : 0;
    if (cpl > 3)
      return in_.error(cpl_v, fmt::format("{}.cpl: expected 0..3, found {}", where, cpl));
    const Value* ac_v = field("ac");
    const u64 ac = ac_v ? PAGESIM_TRY(in_.number(*ac_v, where + ".ac")) : default_ac;
    const Value* flush_v = Input::optional(ra, "flush");
    const u64 flush = flush_v ? PAGESIM_TRY(in_.number(*flush_v, where + ".flush")) : 1;

    // What is expected.
    Expected exp;
    exp.outcome = *PAGESIM_TRY(in_.string_member(ra, "outcome", where));
    if (exp.outcome != "ok" && exp.outcome != "pf" && exp.outcome != "gp" && exp.outcome != "ss") {
      return in_.error(ra.find("outcome"), fmt::format("{}.outcome: expected \"ok\", \"pf\", "
                                                       "\"gp\" or \"ss\", found \"{}\"",
                                                       where, exp.outcome));
    }
    exp.error_code = PAGESIM_TRY(in_.optional_number(ra, "error_code", where));
    exp.cr2 = PAGESIM_TRY(in_.optional_number(ra, "cr2", where));
    exp.vector = PAGESIM_TRY(in_.optional_number(ra, "vector", where));
    exp.value = PAGESIM_TRY(in_.optional_number(ra, "value", where));
    exp.cell_paddr = PAGESIM_TRY(in_.optional_number(ra, "cell_paddr", where));
    exp.entries_after = Input::optional(ra, "entries_after");
    if (exp.outcome == "pf" && (!exp.error_code || !exp.cr2)) {
      return in_.error(&ra, fmt::format("{}: a page fault needs 'error_code' and 'cr2'", where));
    }
    if (use_sdm) {
      const Value& es = expected_sdm->items()[i];
      const std::string ew = fmt::format("expected_sdm[{}]", i);
      const std::string sdm_outcome = *PAGESIM_TRY(in_.string_member(es, "outcome", ew));
      const auto sdm_ec = PAGESIM_TRY(in_.optional_number(es, "error_code", ew));
      const bool agrees = sdm_outcome == exp.outcome && sdm_ec == exp.error_code;
      exp.outcome = sdm_outcome;
      exp.error_code = sdm_ec;
      exp.cr2 = PAGESIM_TRY(in_.optional_number(es, "cr2", ew));
      exp.vector.reset();
      exp.compare_data = agrees;
    }

    // Perform the access.
    const Access acc{
        .kind = kind, .cpl = static_cast<u8>(cpl), .ac = ac ? mmu::Ac::kSet : mmu::Ac::kClear};
    if (flush) cpu.flush_all();
    mmu::WalkRecord rec;
    const mmu::Translation t = cpu.translate(VAddr(va), acc, &rec);
    for (u8 k = 0; k < rec.count; ++k) {
      const mmu::LevelRecord& lr = rec.levels[k];
      if (lr.source != mmu::EntrySource::kMemory) continue;
      roles[lr.entry_address.value()] = {lr.level, lr.decision == mmu::LevelDecision::kLeaf
                                                       ? mmu::EntryRole::kLeaf
                                                       : mmu::EntryRole::kNonLeaf};
      if (lr.a_d_written) memory_.touch(lr.entry_address.value());
    }
    const std::string prefix = fmt::format("access {} ({} va:{:#x} CPL {}{}): ", i,
                                           mmu::access_kind_name(kind), va, cpl, ac ? " AC=1" : "");
    std::optional<u64> value;
    std::optional<u64> pa;
    std::string data_error;
    if (const auto* ok = std::get_if<mmu::Ok>(&t.outcome)) {
      pa = ok->pa.value();
      const bool backed = ok->pa.value() <= ram - 8;
      const bool zero = profile.unbacked == mmu::UnbackedMemory::kReadsZero;
      if (kind == AccessKind::kWrite || kind == AccessKind::kShadowStackWrite) {
        const Value* wv = field("wvalue");
        if (!wv) return in_.error(&ra, fmt::format("{}: a write needs 'wvalue'", where));
        const u64 w = PAGESIM_TRY(in_.number(*wv, where + ".wvalue"));
        if (backed) {
          memory_.touch(*pa);
          if (*pa & 7) memory_.touch(*pa + 8);
          memory_.write_cell(*pa, w);
        } else if (!zero) {
          data_error = fmt::format("the write at pa:{:#x} is outside the simulated RAM", *pa);
        }
      } else {
        std::optional<u64> cell = backed ? memory_.read_cell(*pa) : std::nullopt;
        if (!cell && zero) cell = 0;
        if (!cell) {
          data_error = fmt::format("the read at pa:{:#x} is outside the simulated RAM", *pa);
        } else if (kind == AccessKind::kFetch) {
          // The fetched cell's code is `mov eax, imm32`: what it loads is the cell's address.
          if (is_fill_value(*cell))
            value = fill_cell(*cell);
          else
            data_error = fmt::format(
                "the fetched cell at pa:{:#x} holds {:#x}, not fill-pattern "
                "code, so the recorded fetch value cannot be predicted",
                *pa, *cell);
        } else {
          value = *cell;
        }
      }
    }
    cr.trace.push_back(fmt::format("{}{} [{}]{}", prefix, mmu::describe(t.outcome),
                                   mmu::translation_source_name(t.source),
                                   value ? fmt::format(" value {:#x}", *value) : ""));
    ++cr.checks;

    // Compare.
    const std::string_view got_word = outcome_word(t.outcome);
    if (got_word != exp.outcome) {
      cr.diffs.push_back(fmt::format(
          "{}outcome: expected {}{}, got {}", prefix, exp.outcome,
          exp.error_code && exp.outcome == "pf"
              ? fmt::format(" error code {}", mmu::pf::describe(static_cast<u32>(*exp.error_code)))
              : "",
          mmu::describe(t.outcome)));
    } else if (const auto* f = std::get_if<mmu::PageFault>(&t.outcome)) {
      if (exp.error_code && *exp.error_code != f->error_code) {
        cr.diffs.push_back(fmt::format("{}error code: expected {}, got {}{}", prefix,
                                       mmu::pf::describe(static_cast<u32>(*exp.error_code)),
                                       mmu::pf::describe(f->error_code),
                                       error_code_diff(*exp.error_code, f->error_code)));
      }
      if (exp.cr2 && *exp.cr2 != f->cr2.value()) {
        cr.diffs.push_back(fmt::format("{}CR2: expected {:#x}, got {:#x}{}", prefix, *exp.cr2,
                                       f->cr2.value(), address_diff(*exp.cr2, f->cr2.value())));
      }
      if (exp.vector && *exp.vector != 14) {
        cr.diffs.push_back(fmt::format("{}vector: expected {}, got 14 (#PF)", prefix, *exp.vector));
      }
    } else if (std::holds_alternative<mmu::NonCanonical>(t.outcome)) {
      const u64 vec = got_word == "ss" ? 12 : 13;
      if (exp.vector && *exp.vector != vec) {
        cr.diffs.push_back(fmt::format("{}vector: expected {}, got {}", prefix, *exp.vector, vec));
      }
      if (exp.error_code && *exp.error_code != 0) {
        cr.diffs.push_back(
            fmt::format("{}error code: expected {:#x}, got 0", prefix, *exp.error_code));
      }
      if (exp.cr2) {
        cr.diffs.push_back(
            fmt::format("{}CR2: expected {:#x}, got unchanged (L3: a non-canonical "
                        "address does not write CR2)",
                        prefix, *exp.cr2));
      }
    } else if (got_word == "ok" && exp.compare_data) {
      if (!data_error.empty()) {
        cr.diffs.push_back(prefix + data_error);
      } else {
        if (exp.value && (!value || *value != *exp.value)) {
          cr.diffs.push_back(fmt::format("{}value: expected {:#x}, got {}{}", prefix, *exp.value,
                                         value ? fmt::format("{:#x}", *value) : "nothing",
                                         value ? address_diff(*exp.value, *value) : ""));
        }
        if (exp.cell_paddr && pa && (*pa & ~u64{7}) != *exp.cell_paddr) {
          cr.diffs.push_back(fmt::format(
              "{}physical address reached: expected {:#x} (cell_paddr), "
              "got {:#x}{}",
              prefix, *exp.cell_paddr, *pa, address_diff(*exp.cell_paddr, *pa & ~u64{7})));
        }
      }
    }
    if (exp.entries_after && exp.compare_data) {
      PAGESIM_TRY(compare_entries(*exp.entries_after, where + ".entries_after", prefix));
    }
  }
  return cr;
}

// ---------------------------------------------------------------------------------------------
// The spec's vectors.

// A spec vector's outcome object: {"kind": "ok", "pa", "page_size", "pat_index", "pat_type"} |
// {"kind": "page_fault", "error_code", "cr2"} | {"kind": "non_canonical", "vector"}.
Result<std::vector<std::string>, InputError> compare_spec_outcome(const Input& in, const Value& exp,
                                                                  const Outcome& got,
                                                                  std::string_view where) {
  std::vector<std::string> diffs;
  const std::string kind = *PAGESIM_TRY(in.string_member(exp, "kind", where));
  if (kind == "ok") {
    const auto* ok = std::get_if<mmu::Ok>(&got);
    if (!ok) {
      diffs.push_back(fmt::format("outcome: expected OK, got {}", mmu::describe(got)));
      return diffs;
    }
    const u64 pa = PAGESIM_TRY(in.number_member(exp, "pa", where));
    if (pa != ok->pa.value()) {
      diffs.push_back(fmt::format("physical address: expected {:#x}, got {:#x}{}", pa,
                                  ok->pa.value(), address_diff(pa, ok->pa.value())));
    }
    if (auto size = PAGESIM_TRY(in.optional_number(exp, "page_size", where))) {
      if (*size != mmu::page_bytes(ok->page_size)) {
        diffs.push_back(fmt::format("page size: expected {:#x}, got {}", *size,
                                    mmu::page_size_name(ok->page_size)));
      }
    }
    if (auto idx = PAGESIM_TRY(in.optional_number(exp, "pat_index", where))) {
      if (*idx != ok->attrs.pat_index) {
        diffs.push_back(fmt::format("PAT index: expected {}, got {}{}", *idx, ok->attrs.pat_index,
                                    address_diff(*idx, ok->attrs.pat_index)));
      }
    }
    if (auto type = PAGESIM_TRY(in.optional_number(exp, "pat_type", where))) {
      if (*type != static_cast<u64>(ok->attrs.memory_type)) {
        diffs.push_back(fmt::format("memory type: expected {}, got {} ({})", *type,
                                    static_cast<unsigned>(ok->attrs.memory_type),
                                    mmu::memory_type_name(ok->attrs.memory_type)));
      }
    }
    return diffs;
  }
  if (kind == "page_fault") {
    const auto* f = std::get_if<mmu::PageFault>(&got);
    const u64 ec = PAGESIM_TRY(in.number_member(exp, "error_code", where));
    if (!f) {
      diffs.push_back(fmt::format("outcome: expected #PF {}, got {}",
                                  mmu::pf::describe(static_cast<u32>(ec)), mmu::describe(got)));
      return diffs;
    }
    if (ec != f->error_code) {
      diffs.push_back(
          fmt::format("error code: expected {}, got {}{}", mmu::pf::describe(static_cast<u32>(ec)),
                      mmu::pf::describe(f->error_code), error_code_diff(ec, f->error_code)));
    }
    if (auto cr2 = PAGESIM_TRY(in.optional_number(exp, "cr2", where))) {
      if (*cr2 != f->cr2.value()) {
        diffs.push_back(fmt::format("CR2: expected {:#x}, got {:#x}{}", *cr2, f->cr2.value(),
                                    address_diff(*cr2, f->cr2.value())));
      }
    }
    return diffs;
  }
  if (kind == "non_canonical") {
    const std::string vec = *PAGESIM_TRY(in.string_member(exp, "vector", where));
    if (vec != "#GP(0)" && vec != "#SS(0)") {
      return in.error(exp.find("vector"), fmt::format("{}.vector: expected \"#GP(0)\" or "
                                                      "\"#SS(0)\", found \"{}\"",
                                                      where, vec));
    }
    const auto* nc = std::get_if<mmu::NonCanonical>(&got);
    const std::string got_vec =
        nc ? (nc->vector == mmu::NcVector::kSs ? "#SS(0)" : "#GP(0)") : std::string();
    if (got_vec != vec) {
      diffs.push_back(
          fmt::format("outcome: expected {} (non-canonical), got {}", vec, mmu::describe(got)));
    }
    return diffs;
  }
  return in.error(exp.find("kind"), fmt::format("{}.kind: expected \"ok\", \"page_fault\" or "
                                                "\"non_canonical\", found \"{}\"",
                                                where, kind));
}

class SpecRunner {
 public:
  SpecRunner(const ConformanceOptions& options, std::string_view file)
      : options_(options), in_(file) {}

  Result<CaseResult, InputError> vector(const Value& v, std::string_view where);
  Result<CaseResult, InputError> scenario(const Value& s, std::string_view where);
  std::string profile_name;

 private:
  struct Machine {
    Profile profile;
    CpuState state;
  };
  Result<Machine, InputError> machine(const Value& owner, std::string_view where);
  Result<Access, InputError> access(const Value& a, std::string_view where);
  static Result<std::unique_ptr<PhysMem>, InputError> memory(const Input& in);

  const ConformanceOptions& options_;
  Input in_;
};

Result<std::unique_ptr<PhysMem>, InputError> SpecRunner::memory(const Input& in) {
  // The vectors' tables live in the first 64 KiB; 16 MiB leaves room for any table they point
  // to (MAP_NORESERVE: only touched frames cost host memory).
  auto m = PhysMem::create(16 * MiB);
  if (!m.ok()) return in.error(nullptr, m.error());
  return std::move(m.value());
}

Result<SpecRunner::Machine, InputError> SpecRunner::machine(const Value& owner,
                                                            std::string_view where) {
  const std::string w = fmt::format("{}.state", where);
  const Value& st = *PAGESIM_TRY(in_.member(owner, "state", where));
  Machine m;
  m.profile = options_.profile == ProfileChoice::kQemu ? Profile::qemu72() : Profile::sdm();
  auto flag = [&](std::string_view key) -> Result<bool, InputError> {
    return PAGESIM_TRY(in_.optional_number(st, key, w)).value_or(0) != 0;
  };
  if (auto maxphy = PAGESIM_TRY(in_.optional_number(st, "maxphyaddr", w))) {
    if (auto r = m.profile.set_knob("maxphyaddr", std::to_string(*maxphy)); !r.ok()) {
      return in_.error(st.find("maxphyaddr"), fmt::format("{}: {}", w, r.error()));
    }
  }
  if (const Value* gb = Input::optional(st, "gbpages")) {
    const u64 on = PAGESIM_TRY(in_.number(*gb, w + ".gbpages"));
    m.profile.gbpages = on ? mmu::Support::kYes : mmu::Support::kNo;
  }
  if (const Value* vendor = Input::optional(st, "vendor")) {
    if (!vendor->is_string() || !m.profile.set_knob("vendor", vendor->text()).ok()) {
      return in_.error(vendor, fmt::format("{}.vendor: expected \"intel\" or \"amd\"", w));
    }
  }
  for (const auto& [knob, value] : options_.knobs) {
    if (auto r = m.profile.set_knob(knob, value); !r.ok()) return in_.error(nullptr, r.error());
  }
  CpuState& s = m.state;
  s.cr0 = reg::kCr0Pe | reg::kCr0Pg | (PAGESIM_TRY(flag("cr0_wp")) ? reg::kCr0Wp : 0);
  s.cr4 = reg::kCr4Pae;
  constexpr std::array<std::pair<std::string_view, u64>, 7> kCr4{{{"cr4_pge", reg::kCr4Pge},
                                                                  {"cr4_pcide", reg::kCr4Pcide},
                                                                  {"cr4_smep", reg::kCr4Smep},
                                                                  {"cr4_smap", reg::kCr4Smap},
                                                                  {"cr4_pke", reg::kCr4Pke},
                                                                  {"cr4_pks", reg::kCr4Pks},
                                                                  {"cr4_la57", reg::kCr4La57}}};
  for (const auto& [key, bit] : kCr4) {
    if (PAGESIM_TRY(flag(key))) s.cr4 |= bit;
  }
  s.efer = reg::kEferLme | reg::kEferLma | (PAGESIM_TRY(flag("efer_nxe")) ? reg::kEferNxe : 0);
  s.pkru = static_cast<u32>(PAGESIM_TRY(in_.optional_number(st, "pkru", w)).value_or(0));
  s.pkrs = static_cast<u32>(PAGESIM_TRY(in_.optional_number(st, "pkrs", w)).value_or(0));
  s.cr3 = PAGESIM_TRY(in_.number_member(st, "cr3", w));
  s.pat = PAGESIM_TRY(in_.optional_number(st, "ia32_pat", w)).value_or(reg::kPatPowerOn);
  s.cpl = 0;
  if (auto v = m.profile.validate(); !v.ok()) return in_.error(&st, v.error());
  profile_name = m.profile.name;
  return m;
}

Result<Access, InputError> SpecRunner::access(const Value& a, std::string_view where) {
  const Value& type = *PAGESIM_TRY(in_.member(a, "type", where));
  Access acc;
  acc.kind = PAGESIM_TRY(access_kind(in_, type, fmt::format("{}.type", where)));
  const u64 cpl = PAGESIM_TRY(in_.number_member(a, "cpl", where));
  if (cpl > 3) return in_.error(a.find("cpl"), fmt::format("{}.cpl: expected 0..3", where));
  acc.cpl = static_cast<u8>(cpl);
  acc.ac = PAGESIM_TRY(in_.optional_number(a, "rflags_ac", where)).value_or(0) ? mmu::Ac::kSet
                                                                               : mmu::Ac::kClear;
  if (PAGESIM_TRY(in_.optional_number(a, "implicit_supervisor", where)).value_or(0)) {
    acc.origin = mmu::AccessOrigin::kImplicitSupervisor;
  }
  if (const Value* seg = Input::optional(a, "segment")) {
    if (!seg->is_string() || (seg->text() != "DS" && seg->text() != "SS")) {
      return in_.error(seg, fmt::format("{}.segment: expected \"DS\" or \"SS\"", where));
    }
    acc.segment = seg->text() == "SS" ? mmu::Segment::kSs : mmu::Segment::kDs;
  }
  return acc;
}

Result<CaseResult, InputError> SpecRunner::vector(const Value& v, std::string_view where) {
  CaseResult cr;
  cr.id = *PAGESIM_TRY(in_.string_member(v, "id", where));
  if (const Value* t = Input::optional(v, "title"); t && t->is_string()) cr.title = t->text();
  const Machine m = PAGESIM_TRY(machine(v, where));
  const Value& entries = *PAGESIM_TRY(in_.array_member(v, "entries", where));
  const Value& acc_v = *PAGESIM_TRY(in_.member(v, "access", where));
  const Access acc = PAGESIM_TRY(access(acc_v, fmt::format("{}.access", where)));
  const u64 va = PAGESIM_TRY(in_.number_member(acc_v, "va", fmt::format("{}.access", where)));
  const Value& expected = *PAGESIM_TRY(in_.member(v, "expected", where));

  // Each vector runs under both A-bit policies of AD4: "after" is the progressive policy's
  // result, "after_if_a_on_fault_none" the none policy's.
  struct Variant {
    mmu::AOnFault policy;
    std::string_view after_key;
    std::string_view label;
  };
  constexpr std::array<Variant, 2> kVariants{
      {{mmu::AOnFault::kProgressive, "after", "a_on_fault=progressive"},
       {mmu::AOnFault::kNone, "after_if_a_on_fault_none", "a_on_fault=none"}}};
  for (const Variant& variant : kVariants) {
    Profile profile = m.profile;
    profile.a_on_fault = variant.policy;
    auto mem = PAGESIM_TRY(memory(in_));
    for (std::size_t i = 0; i < entries.items().size(); ++i) {
      const Value& e = entries.items()[i];
      const std::string ew = fmt::format("{}.entries[{}]", where, i);
      const u64 addr = PAGESIM_TRY(in_.number_member(e, "addr", ew));
      const u64 before = PAGESIM_TRY(in_.number_member(e, "before", ew));
      if (!mem->store_entry(PAddr(addr), before).ok()) {
        return in_.error(&e, fmt::format("{}.addr {:#x} is not an 8-byte-aligned address in the "
                                         "first 16 MiB",
                                         ew, addr));
      }
    }
    Mmu cpu(*mem, profile, options_.tlb ? *options_.tlb : mmu::TlbShape::ideal());
    const std::string prefix = fmt::format("[{}] ", variant.label);
    if (auto r = cpu.set_state(m.state); !r.ok()) {
      cr.diffs.push_back(prefix + "the profile cannot load this vector's state: " + r.error());
      continue;
    }
    mmu::WalkRecord rec;
    const mmu::Translation t = cpu.translate(VAddr(va), acc, &rec);
    ++cr.checks;
    cr.trace.push_back(
        fmt::format("{}{} {:#x}: {}", prefix, mmu::describe(acc), va, mmu::describe(t.outcome)));
    for (std::string& d : PAGESIM_TRY(
             compare_spec_outcome(in_, expected, t.outcome, fmt::format("{}.expected", where)))) {
      cr.diffs.push_back(prefix + d);
    }
    for (std::size_t i = 0; i < entries.items().size(); ++i) {
      const Value& e = entries.items()[i];
      const std::string ew = fmt::format("{}.entries[{}]", where, i);
      const u64 addr = PAGESIM_TRY(in_.number_member(e, "addr", ew));
      const u64 after = PAGESIM_TRY(in_.number_member(e, variant.after_key, ew));
      const u64 got = mem->load_entry(PAddr(addr)).value();
      if (got == after) continue;
      mmu::Level level = mmu::Level::kPte;
      mmu::EntryRole role = mmu::EntryRole::kUnknown;
      for (u8 k = 0; k < rec.count; ++k) {
        if (rec.levels[k].entry_address.value() == addr) {
          level = rec.levels[k].level;
          role = rec.levels[k].decision == mmu::LevelDecision::kLeaf ? mmu::EntryRole::kLeaf
                                                                     : mmu::EntryRole::kNonLeaf;
        }
      }
      std::string name = "entry";
      if (const Value* l = Input::optional(e, "level"); l && l->is_string()) name = l->text();
      cr.diffs.push_back(fmt::format("{}{} @{:#x} after the access: expected {:#x}, got {:#x}{}",
                                     prefix, name, addr, after, got,
                                     entry_diff(after, got, level, role, profile.maxphyaddr)));
    }
  }
  if (!cr.passed()) {
    if (const Value* q = Input::optional(v, "qemu_note"); q && q->is_string()) {
      cr.notes.push_back("QEMU: " + q->text());
    }
    if (const Value* n = Input::optional(v, "note"); n && n->is_string()) {
      cr.notes.push_back("note: " + n->text());
    }
  }
  return cr;
}

Result<CaseResult, InputError> SpecRunner::scenario(const Value& s, std::string_view where) {
  CaseResult cr;
  cr.id = *PAGESIM_TRY(in_.string_member(s, "id", where));
  if (const Value* t = Input::optional(s, "title"); t && t->is_string()) cr.title = t->text();
  const Machine m = PAGESIM_TRY(machine(s, where));
  auto mem = PAGESIM_TRY(memory(in_));
  const Value& init = *PAGESIM_TRY(in_.member(s, "initial_memory", where));
  if (!init.is_object())
    return in_.error(&init, fmt::format("{}.initial_memory: expected an object", where));
  for (const auto& [key, val] : init.members()) {
    const std::string kw = fmt::format("{}.initial_memory key \"{}\"", where, key);
    std::string_view t = key;
    u64 addr = 0;
    if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) t.remove_prefix(2);
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), addr, 16);
    if (t.empty() || ec != std::errc{} || end != t.data() + t.size()) {
      return in_.error(&val, kw + ": expected a hex physical address such as \"0x17D0\"");
    }
    const u64 value = PAGESIM_TRY(in_.number(val, kw));
    if (!mem->store_entry(PAddr(addr), value).ok()) {
      return in_.error(&val, kw + ": not an 8-byte-aligned address in the first 16 MiB");
    }
  }
  const mmu::TlbShape shape = options_.tlb ? *options_.tlb : mmu::TlbShape::ideal();
  // "pagesim default" is what pagesim must produce with tlb_deny_policy=rewalk, precise
  // invalidations and a TLB that keeps every entry (spec 10.2); otherwise any allowed outcome.
  const bool exact = shape.name == "ideal" &&
                     m.profile.tlb_deny_policy == mmu::TlbDenyPolicy::kRewalk &&
                     m.profile.flush_scope == mmu::FlushScope::kArchitectural;
  if (!exact) {
    cr.notes.push_back(
        "TLB shape or knobs differ from the spec's default TLB: any allowed "
        "outcome passes");
  }
  Mmu cpu(*mem, m.profile, shape);
  if (auto r = cpu.set_state(m.state); !r.ok()) {
    cr.diffs.push_back("the profile cannot load this scenario's state: " + r.error());
    return cr;
  }
  const Value& steps = *PAGESIM_TRY(in_.array_member(s, "steps", where));
  for (std::size_t i = 0; i < steps.items().size(); ++i) {
    const Value& st = steps.items()[i];
    const std::string sw = fmt::format("{}.steps[{}]", where, i);
    const std::string op = *PAGESIM_TRY(in_.string_member(st, "op", sw));
    const std::string prefix = fmt::format("step {} ({}): ", i + 1, op);
    ++cr.checks;
    auto fault = [&](const Result<void, mmu::CpuFault>& r) {
      if (!r.ok()) cr.diffs.push_back(prefix + "unexpected " + r.error().describe());
    };
    if (op == "access") {
      const Access acc = PAGESIM_TRY(access(st, sw));
      const u64 va = PAGESIM_TRY(in_.number_member(st, "va", sw));
      const mmu::Translation t = cpu.translate(VAddr(va), acc);
      cr.trace.push_back(fmt::format("{}{} {:#x}: {} [{}]", prefix, mmu::describe(acc), va,
                                     mmu::describe(t.outcome),
                                     mmu::translation_source_name(t.source)));
      const Value& allowed = *PAGESIM_TRY(in_.array_member(st, "allowed", sw));
      bool is_allowed = false;
      for (std::size_t k = 0; k < allowed.items().size(); ++k) {
        const auto d = PAGESIM_TRY(compare_spec_outcome(in_, allowed.items()[k], t.outcome,
                                                        fmt::format("{}.allowed[{}]", sw, k)));
        if (d.empty()) is_allowed = true;
      }
      const Value& def = *PAGESIM_TRY(in_.member(st, "pagesim_default", sw));
      const auto d =
          PAGESIM_TRY(compare_spec_outcome(in_, def, t.outcome, sw + ".pagesim_default"));
      if (!is_allowed) {
        cr.diffs.push_back(fmt::format("{}{} is not among the allowed outcomes", prefix,
                                       mmu::describe(t.outcome)));
      } else if (exact) {
        for (const std::string& x : d) cr.diffs.push_back(prefix + "pagesim default: " + x);
      } else if (!d.empty()) {
        cr.notes.push_back(
            fmt::format("{}allowed, but differs from pagesim's default: {}", prefix, d.front()));
      }
    } else if (op == "store") {
      const u64 addr = PAGESIM_TRY(in_.number_member(st, "addr", sw));
      const u64 value = PAGESIM_TRY(in_.number_member(st, "value", sw));
      if (!mem->store_entry(PAddr(addr), value).ok()) {
        return in_.error(&st, sw + ": addr is not an 8-byte-aligned address in the first 16 MiB");
      }
      cr.trace.push_back(fmt::format("{}@{:#x} := {:#x}", prefix, addr, value));
    } else if (op == "expect_entry") {
      const u64 addr = PAGESIM_TRY(in_.number_member(st, "addr", sw));
      const u64 value = PAGESIM_TRY(in_.number_member(st, "value", sw));
      const auto got = mem->load_entry(PAddr(addr));
      if (!got.ok()) return in_.error(&st, sw + ": addr is outside the first 16 MiB");
      if (got.value() != value) {
        cr.diffs.push_back(fmt::format("{}entry @{:#x}: expected {:#x}, got {:#x}{}", prefix, addr,
                                       value, got.value(),
                                       entry_diff(value, got.value(), mmu::Level::kPte,
                                                  mmu::EntryRole::kUnknown, m.profile.maxphyaddr)));
      }
    } else if (op == "invlpg") {
      fault(cpu.invlpg(VAddr(PAGESIM_TRY(in_.number_member(st, "va", sw)))));
    } else if (op == "invpcid") {
      const u64 type = PAGESIM_TRY(in_.number_member(st, "type", sw));
      const u64 pcid = PAGESIM_TRY(in_.optional_number(st, "pcid", sw)).value_or(0);
      const u64 la = PAGESIM_TRY(in_.optional_number(st, "la", sw)).value_or(0);
      fault(cpu.invpcid(type, mmu::InvpcidDescriptor{.pcid_qword = pcid, .la = VAddr(la)}));
    } else if (op == "mov_cr3") {
      fault(cpu.mov_to_cr3(PAGESIM_TRY(in_.number_member(st, "value", sw))));
    } else if (op == "mov_cr4_pge") {
      const u64 on = PAGESIM_TRY(in_.number_member(st, "value", sw));
      const u64 cr4 = (cpu.state().cr4 & ~reg::kCr4Pge) | (on ? reg::kCr4Pge : 0);
      fault(cpu.mov_to_cr4(cr4));
    } else {
      return in_.error(st.find("op"), fmt::format("{}.op: expected access, store, expect_entry, "
                                                  "invlpg, invpcid, mov_cr3 or mov_cr4_pge, "
                                                  "found \"{}\"",
                                                  sw, op));
    }
  }
  return cr;
}

// ---------------------------------------------------------------------------------------------

// Counts one vector's result in its file's report, tells the caller, and keeps it.
void add_case(FileReport& rep, CaseResult cr, const std::function<void(const CaseResult&)>& cb) {
  ++rep.vectors;
  rep.accesses += cr.checks;
  ++(cr.passed() ? rep.passed : rep.failed);
  if (cb) cb(cr);
  rep.cases.push_back(std::move(cr));
}

Result<FileReport, InputError> run_json_lines(std::string_view text, std::string_view name,
                                              const ConformanceOptions& options,
                                              const std::function<void(const CaseResult&)>& cb) {
  FileReport rep;
  rep.path = std::string(name);
  rep.format = VectorFormat::kRecordedJsonLines;
  RecordingRunner runner(options, name);
  u32 line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    const std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    auto parsed = json::parse(line, json::Pos{line_no, 1});
    if (!parsed.ok()) {
      const json::ParseError& e = parsed.error();
      return Err{InputError{std::string(name), e.pos.line, e.pos.column, e.message}};
    }
    add_case(rep, PAGESIM_TRY(runner.run(parsed.value(), line_no)), cb);
  }
  rep.profile = runner.profile_name.empty()
                    ? (options.profile == ProfileChoice::kSdm ? "sdm" : "qemu-7.2")
                    : runner.profile_name;
  return rep;
}

Result<FileReport, InputError> run_spec(const Value& root, std::string_view name,
                                        const ConformanceOptions& options,
                                        const std::function<void(const CaseResult&)>& cb) {
  Input in(name);
  FileReport rep;
  rep.path = std::string(name);
  rep.format = VectorFormat::kSpecVectors;
  SpecRunner runner(options, name);
  auto record = [&](CaseResult cr) { add_case(rep, std::move(cr), cb); };
  const Value& vectors = *PAGESIM_TRY(in.array_member(root, "vectors", "the file"));
  for (std::size_t i = 0; i < vectors.items().size(); ++i) {
    record(PAGESIM_TRY(runner.vector(vectors.items()[i], fmt::format("vectors[{}]", i))));
    ++rep.single_vectors;
  }
  if (const Value* scenarios = Input::optional(root, "scenarios")) {
    if (!scenarios->is_array()) return in.error(scenarios, "scenarios: expected an array");
    for (std::size_t i = 0; i < scenarios->items().size(); ++i) {
      record(PAGESIM_TRY(runner.scenario(scenarios->items()[i], fmt::format("scenarios[{}]", i))));
      ++rep.tlb_scenarios;
    }
  }
  rep.profile = runner.profile_name.empty()
                    ? (options.profile == ProfileChoice::kQemu ? "qemu-7.2" : "sdm")
                    : runner.profile_name;
  return rep;
}

}  // namespace

std::string InputError::describe() const {
  if (line == 0) return fmt::format("{}: {}", file, message);
  if (column == 0) return fmt::format("{}:{}: {}", file, line, message);
  return fmt::format("{}:{}:{}: {}", file, line, column, message);
}

Result<FileReport, InputError> run_conformance_text(
    std::string_view text, std::string_view name, const ConformanceOptions& options,
    const std::function<void(const CaseResult&)>& on_case) {
  // Format detection: a recording's first non-blank line is a complete JSON object with
  // "scenario"/"result"; otherwise the whole text must be one spec-vectors document.
  std::size_t start = 0;
  u32 first_line = 1;
  while (start < text.size()) {
    const std::size_t nl = text.find('\n', start);
    const std::string_view line =
        text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (line.find_first_not_of(" \t\r") != std::string_view::npos) {
      auto first = json::parse(line, json::Pos{first_line, 1});
      const bool recording =
          first.ok() ? first.value().is_object() &&
                           (first.value().find("scenario") || first.value().find("result"))
                     : line.find("\"scenario\"") != std::string_view::npos ||
                           line.find("\"result\"") != std::string_view::npos;
      // A broken first line that looks like a recording is reported as one (line and column).
      if (recording) return run_json_lines(text, name, options, on_case);
      break;
    }
    if (nl == std::string_view::npos) break;
    start = nl + 1;
    ++first_line;
  }
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Err{InputError{std::string(name), 0, 0,
                          "the file is empty: expected JSON lines of recorded scenarios or a "
                          "spec-vectors document"}};
  }
  auto doc = json::parse(text);
  if (!doc.ok()) {
    const json::ParseError& e = doc.error();
    return Err{InputError{std::string(name), e.pos.line, e.pos.column,
                          e.message + " (the file is neither JSON lines of recorded scenarios "
                                      "nor one spec-vectors JSON document)"}};
  }
  const Value& root = doc.value();
  const Value* format = root.is_object() ? root.find("format") : nullptr;
  if (!format || !format->is_string() || format->text().rfind("pagesim-spec-vectors/", 0) != 0) {
    return Err{InputError{std::string(name), root.pos().line, root.pos().column,
                          "expected a spec-vectors document ({\"format\": "
                          "\"pagesim-spec-vectors/1\", \"vectors\": [...]}) or JSON lines of "
                          "recorded scenarios ({\"scenario\": ..., \"result\": ...} per line)"}};
  }
  if (format->text() != "pagesim-spec-vectors/1") {
    return Err{InputError{std::string(name), format->pos().line, format->pos().column,
                          fmt::format("format \"{}\" is not supported (expected "
                                      "\"pagesim-spec-vectors/1\")",
                                      format->text())}};
  }
  return run_spec(root, name, options, on_case);
}

Result<FileReport, InputError> run_conformance_file(
    const std::string& path, const ConformanceOptions& options,
    const std::function<void(const CaseResult&)>& on_case) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Err{InputError{path, 0, 0, "cannot open the file"}};
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Err{InputError{path, 0, 0, "cannot read the file"}};
  return run_conformance_text(ss.str(), path, options, on_case);
}

}  // namespace pagesim::workloads
