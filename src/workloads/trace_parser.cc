#include "workloads/trace_parser.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <span>

#include "workloads/number.h"

namespace pagesim::wl {

// One argument of a statement: positional (no key) or key=value.
struct ArgItem {
  std::string_view key;  // empty for positional
  std::string_view value;
  u32 col;
  bool used = false;
};

namespace {

constexpr size_t kBufferSize = 1 << 22;  // 4 MiB reads
constexpr size_t kMaxLine = 1 << 16;     // longer lines are an error, not a memory hog

// Character classes for the tokenizer: 0 a token character, 1 a separator, 2 a comment start.
constexpr std::array<u8, 256> kCharClass = [] {
  std::array<u8, 256> c{};
  c[static_cast<u8>(' ')] = 1;
  c[static_cast<u8>('\t')] = 1;
  c[static_cast<u8>('\r')] = 1;
  c[static_cast<u8>('#')] = 2;
  return c;
}();

// Splits `line` up to its comment into tokens with their 1-based columns.
template <class Token>
void tokenize(std::string_view line, std::vector<Token>& out) {
  out.clear();
  const char* const begin = line.data();
  const char* p = begin;
  const char* const end = begin + line.size();
  while (p != end) {
    while (p != end && kCharClass[static_cast<u8>(*p)] == 1) ++p;
    if (p == end || *p == '#') break;
    const char* q = p;
    while (q != end && kCharClass[static_cast<u8>(*q)] == 0) ++q;
    out.push_back(
        {std::string_view(p, static_cast<size_t>(q - p)), static_cast<u32>(p - begin + 1)});
    p = q;
  }
}

// Canonical for the paging depth (spec L1, L2): bits 63:(W-1) all equal.
bool canonical(u64 va, u8 levels) {
  const unsigned w = levels == 5 ? 57 : 48;
  const u64 top = va >> (w - 1);
  return top == 0 || top == (~u64{0} >> (w - 1));
}

u64 user_end(u8 levels) { return (u64{1} << ((levels == 5 ? 57 : 48) - 1)) - 4096; }
u64 kernel_start(u8 levels) { return ~u64{0} << ((levels == 5 ? 57 : 48) - 1); }
constexpr u64 kKernelEnd = 0xffff'ffff'ffff'0000ull;
u64 linear_end(u8 levels) {
  return kernel_start(levels) + (u64{1} << ((levels == 5 ? 57 : 48) - 2));
}

std::string join(std::initializer_list<std::string_view> names) {
  std::string s;
  for (auto n : names) {
    if (!s.empty()) s += ", ";
    s += n;
  }
  return s;
}

// The arguments of one statement: positional values, key=value pairs and bare flags, each
// checked against what the statement accepts.
class Args {
 public:
  using Item = ArgItem;
  // A view of the parser's reused storage: no allocation per line.
  explicit Args(std::vector<Item>& storage) : items(storage) { items.clear(); }
  std::vector<Item>& items;
};

}  // namespace

TraceParser::~TraceParser() {
  if (file_ != nullptr) std::fclose(file_);
}

Result<std::unique_ptr<TraceParser>, TraceError> TraceParser::open(const std::string& path) {
  std::unique_ptr<TraceParser> p(new TraceParser());
  p->name_ = path;
  auto slash = path.rfind('/');
  p->folder_ = slash == std::string::npos ? "." : path.substr(0, slash);
  p->file_ = std::fopen(path.c_str(), "rb");
  if (p->file_ == nullptr) {
    return Err{TraceError{path, 0, 0, fmt::format("cannot open: {}", std::strerror(errno))}};
  }
  p->buf_.resize(kBufferSize);
  return p;
}

std::unique_ptr<TraceParser> TraceParser::from_string(std::string name, std::string text) {
  std::unique_ptr<TraceParser> p(new TraceParser());
  p->name_ = std::move(name);
  p->folder_ = "";
  p->buf_ = std::move(text);
  p->end_ = p->buf_.size();
  p->eof_ = true;
  return p;
}

TraceError TraceParser::error_at(u32 col, std::string message) const {
  return TraceError{name_, line_no_, col, std::move(message)};
}

// Yields the next line (without its newline) from the buffer, refilling it from the file.
// A line is valid until the next call.
bool TraceParser::read_line(std::string_view& out) {
  for (;;) {
    const char* start = buf_.data() + pos_;
    const void* nl = std::memchr(start, '\n', end_ - pos_);
    if (nl != nullptr) {
      const size_t n = static_cast<const char*>(nl) - start;
      out = std::string_view(start, n);
      pos_ += n + 1;
      ++line_no_;
      if (sink_) sink_(line_no_, out);
      return true;
    }
    if (eof_) {
      if (pos_ == end_) return false;
      out = std::string_view(start, end_ - pos_);  // last line without newline
      pos_ = end_;
      ++line_no_;
      if (sink_) sink_(line_no_, out);
      return true;
    }
    // Move the partial line to the front and read more.
    const size_t rest = end_ - pos_;
    if (rest > kMaxLine) {
      out = std::string_view(start, kMaxLine);  // reported as too long by the caller
      pos_ = end_;
      eof_ = true;
      ++line_no_;
      return true;
    }
    std::memmove(buf_.data(), start, rest);
    pos_ = 0;
    end_ = rest;
    const size_t got = std::fread(buf_.data() + end_, 1, buf_.size() - end_, file_);
    end_ += got;
    if (got == 0) eof_ = true;
  }
}

Result<void, TraceError> TraceParser::read_preamble(const MachineOverrides& overrides) {
  PAGESIM_ASSERT(!preamble_done_, "read_preamble called twice");
  preamble_done_ = true;
  bool header = false;
  std::string_view line;
  while (read_line(line)) {
    if (line.size() >= kMaxLine) return Err{error_at(0, "line too long (64 KiB at most)")};
    tokenize(line, toks_);
    if (toks_.empty()) continue;
    if (!header) {
      if (toks_[0].text != "pagesim-trace") {
        return Err{error_at(toks_[0].col, fmt::format("expected the header 'pagesim-trace 1' as "
                                                      "the first statement, found '{}'",
                                                      toks_[0].text))};
      }
      if (toks_.size() != 2 || toks_[1].text != "1") {
        return Err{error_at(toks_.size() > 1 ? toks_[1].col : 0,
                            "unsupported trace format version: this pagesim reads "
                            "'pagesim-trace 1'")};
      }
      header = true;
      continue;
    }
    if (toks_[0].text == "machine") {
      PAGESIM_TRY(parse_machine(toks_));
      continue;
    }
    // The first real statement: keep it for next().
    have_pending_ = true;
    pending_line_ = line;
    break;
  }
  if (!header) {
    return Err{TraceError{name_, line_no_ == 0 ? 1 : line_no_, 0,
                          "empty trace: expected the header 'pagesim-trace 1'"}};
  }
  if (overrides.cpus) machine_.cpus = *overrides.cpus;
  if (overrides.tlb) machine_.tlb = *overrides.tlb;
  if (overrides.profile) machine_.profile = *overrides.profile;
  if (overrides.shootdown) machine_.shootdown = *overrides.shootdown;
  if (machine_.cpus < 1 || machine_.cpus > kMaxCpus) {
    return Err{TraceError{
        name_, 0, 0,
        fmt::format("{} CPUs requested; pagesim simulates 1 to {}", machine_.cpus, kMaxCpus)}};
  }
  return {};
}

Result<void, TraceError> TraceParser::parse_machine(const std::vector<Token>& toks) {
  std::array<bool, 7> seen{};
  for (size_t i = 1; i < toks.size(); ++i) {
    const Token& t = toks[i];
    auto eq = t.text.find('=');
    if (eq == std::string_view::npos) {
      return Err{
          error_at(t.col, fmt::format("expected key=value in 'machine', found '{}'", t.text))};
    }
    std::string_view key = t.text.substr(0, eq);
    std::string_view val = t.text.substr(eq + 1);
    const u32 vcol = t.col + static_cast<u32>(eq) + 1;
    static constexpr std::array<std::string_view, 7> kKeys = {
        "levels", "ram", "cpus", "tlb", "maxphyaddr", "profile", "shootdown"};
    auto it = std::find(kKeys.begin(), kKeys.end(), key);
    if (it == kKeys.end()) {
      return Err{error_at(t.col, fmt::format("unknown machine key '{}' (expected one of: levels, "
                                             "ram, cpus, tlb, maxphyaddr, profile, shootdown)",
                                             key))};
    }
    const size_t k = static_cast<size_t>(it - kKeys.begin());
    if (seen[k]) return Err{error_at(t.col, fmt::format("machine key '{}' given twice", key))};
    seen[k] = true;
    auto num = parse_number(val);
    switch (k) {
      case 0:
        if (!num || (*num != 4 && *num != 5)) {
          return Err{error_at(vcol, fmt::format("expected 4 or 5 for 'levels', found '{}'", val))};
        }
        machine_.levels = static_cast<u8>(*num);
        break;
      case 1:
        if (!num || *num == 0 || *num % 4096 != 0 || *num > (u64{1} << 52)) {
          return Err{error_at(vcol, fmt::format("expected a RAM size that is a non-zero multiple "
                                                "of 4K, at most 4P, for 'ram', found '{}'",
                                                val))};
        }
        machine_.ram = *num;
        break;
      case 2:
        if (!num || *num < 1 || *num > kMaxCpus) {
          return Err{error_at(
              vcol, fmt::format("expected 1 to {} for 'cpus', found '{}'", kMaxCpus, val))};
        }
        machine_.cpus = static_cast<u16>(*num);
        break;
      case 3:
        if (val.empty()) return Err{error_at(vcol, "expected a TLB preset or file for 'tlb'")};
        machine_.tlb = std::string(val);
        tlb_line_ = line_no_;
        tlb_column_ = vcol;
        break;
      case 4:
        if (!num || *num < 32 || *num > 52) {
          return Err{
              error_at(vcol, fmt::format("expected 32 to 52 for 'maxphyaddr', found '{}'", val))};
        }
        machine_.maxphyaddr = static_cast<u8>(*num);
        machine_.maxphyaddr_given = true;
        break;
      case 5:
        if (val != "sdm" && val != "amd" && val != "qemu") {
          return Err{error_at(vcol, fmt::format("expected sdm, amd or qemu for 'profile', found "
                                                "'{}'",
                                                val))};
        }
        machine_.profile = std::string(val);
        break;
      case 6:
        if (val != "on" && val != "off") {
          return Err{
              error_at(vcol, fmt::format("expected on or off for 'shootdown', found '{}'", val))};
        }
        machine_.shootdown = val == "on";
        break;
    }
  }
  if (machine_.ram > (u64{1} << machine_.maxphyaddr)) {
    return Err{error_at(0, fmt::format("ram={} exceeds 2^maxphyaddr ({} bits)",
                                       format_size(machine_.ram), machine_.maxphyaddr))};
  }
  return {};
}

Result<bool, TraceError> TraceParser::next(TraceOp& op) {
  PAGESIM_ASSERT(preamble_done_, "next() before read_preamble()");
  std::string_view line;
  for (;;) {
    if (have_pending_) {
      line = pending_line_;
      have_pending_ = false;
    } else if (!read_line(line)) {
      return false;
    }
    if (line.size() >= kMaxLine) return Err{error_at(0, "line too long (64 KiB at most)")};
    op = TraceOp{};
    if (fast_path_ == FastPath::kOn && parse_access_fast(line, op)) {
      line_text_ = line;
      return true;
    }
    op = TraceOp{};
    const bool got = PAGESIM_TRY(parse_line(line, op));
    if (got) {
      line_text_ = line;
      return true;
    }
  }
}

// --- The fast path for the commonest statement ----------------------------------------------
//
// Most lines of big traces are plain accesses: `[cpuN] read|write|fetch VA [cpl=C]`, optionally
// pinned with `-> ok`, `-> ok size=S` or `-> pf code=C`. This recognises exactly those shapes,
// valid, and fills `op` as parse_line would; anything else — another shape, a comment, an error
// — returns false and goes through parse_line, which owns every diagnostic. Keeping the two in
// step is checked by a test that parses every bundled trace both ways.
bool TraceParser::parse_access_fast(std::string_view line, TraceOp& op) {
  const char* p = line.data();
  const char* const end = p + line.size();
  // The next token, or an empty view when the line is over; a character the slow path treats
  // specially (a comment, a tab, a carriage return) makes us give up.
  auto token = [&](std::string_view& out) {
    while (p != end && *p == ' ') ++p;
    const char* q = p;
    while (q != end && kCharClass[static_cast<u8>(*q)] == 0) ++q;
    if (q != end && *q != ' ') return false;  // a tab, a carriage return or a comment
    out = std::string_view(p, static_cast<size_t>(q - p));
    p = q;
    return true;
  };
  // Plain hexadecimal ("0x" and at most 16 digits) inline; anything else through parse_number.
  auto address = [](std::string_view t) -> std::optional<u64> {
    if (t.size() > 2 && t.size() <= 18 && t[0] == '0' && t[1] == 'x') {
      u64 v = 0;
      for (size_t i = 2; i < t.size(); ++i) {
        const char c = t[i];
        u64 d;
        if (c >= '0' && c <= '9') {
          d = static_cast<u64>(c - '0');
        } else if (c >= 'a' && c <= 'f') {
          d = static_cast<u64>(c - 'a' + 10);
        } else {
          return parse_number(t);
        }
        v = (v << 4) | d;
      }
      return v;
    }
    return parse_number(t);
  };
  std::string_view t;
  if (!token(t) || t.empty()) return false;
  if (t.size() > 3 && t.starts_with("cpu")) {
    const std::string_view digits = t.substr(3);
    if (digits.size() > 1 && digits[0] == '0') return false;
    u64 n = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + static_cast<u64>(c - '0');
      if (n >= machine_.cpus) return false;
    }
    op.cpu = static_cast<u16>(n);
    if (!token(t)) return false;
  }
  if (t == "read") {
    op.access = AccessType::kRead;
  } else if (t == "write") {
    op.access = AccessType::kWrite;
  } else if (t == "fetch") {
    op.access = AccessType::kFetch;
  } else {
    return false;
  }
  if (!token(t) || t.empty()) return false;
  const auto va = address(t);
  if (!va) return false;
  op.va = VAddr(*va);
  if (!token(t)) return false;
  if (t.size() == 5 && t.starts_with("cpl=") && t[4] >= '0' && t[4] <= '3') {
    op.cpl = static_cast<i8>(t[4] - '0');
    if (!token(t)) return false;
  }
  if (t == "->") {
    if (!token(t)) return false;
    if (t == "ok") {
      op.expect.kind = ExpectAccess::Kind::kOk;
      if (!token(t)) return false;
      if (t.starts_with("size=")) {
        const auto s = parse_number(t.substr(5));
        if (!s || (*s != 4 * KiB && *s != 2 * MiB && *s != 1 * GiB)) return false;
        op.expect.size = *s;
        if (!token(t)) return false;
      }
    } else if (t == "pf") {
      op.expect.kind = ExpectAccess::Kind::kPf;
      if (!token(t) || !t.starts_with("code=")) return false;
      const auto c = parse_number(t.substr(5));
      if (!c || *c > 0xffff) return false;
      op.expect.code = static_cast<u16>(*c);
      if (!token(t)) return false;
    } else {
      return false;
    }
  }
  if (!t.empty()) return false;  // something more: the slow path decides
  op.kind = OpKind::kAccess;
  op.line = line_no_;
  return true;
}

// --- One statement ---------------------------------------------------------------------------

Result<bool, TraceError> TraceParser::parse_line(std::string_view line, TraceOp& op) {
  tokenize(line, toks_);
  if (toks_.empty()) return false;
  op.line = line_no_;
  const u8 levels = machine_.levels;

  size_t t = 0;
  bool cpu_given = false;
  if (toks_[0].text.starts_with("cpu") && toks_[0].text.size() > 3) {
    auto n = parse_number(toks_[0].text.substr(3));
    if (!n || (toks_[0].text[3] == '0' && toks_[0].text.size() > 4)) {
      return Err{error_at(toks_[0].col, fmt::format("expected a CPU prefix like 'cpu0', found "
                                                    "'{}'",
                                                    toks_[0].text))};
    }
    if (*n >= machine_.cpus) {
      return Err{
          error_at(toks_[0].col,
                   fmt::format("{} is beyond the machine's {} CPU{} (cpu0 to cpu{})", toks_[0].text,
                               machine_.cpus, machine_.cpus == 1 ? "" : "s", machine_.cpus - 1))};
    }
    op.cpu = static_cast<u16>(*n);
    cpu_given = true;
    ++t;
    if (t == toks_.size()) return Err{error_at(0, "expected an operation after the CPU prefix")};
  }
  const Token& name_tok = toks_[t];
  const std::string_view name = name_tok.text;
  ++t;

  // Split the rest into arguments and, for accesses, the expectation after "->".
  size_t arrow = toks_.size();
  for (size_t i = t; i < toks_.size(); ++i) {
    if (toks_[i].text == "->") {
      arrow = i;
      break;
    }
  }
  Args args(arg_storage_);
  for (size_t i = t; i < arrow; ++i) {
    auto eq = toks_[i].text.find('=');
    if (eq == std::string_view::npos) {
      args.items.push_back({{}, toks_[i].text, toks_[i].col});
    } else {
      args.items.push_back(
          {toks_[i].text.substr(0, eq), toks_[i].text.substr(eq + 1), toks_[i].col});
    }
  }

  // --- Helpers over the arguments of this statement. ---
  std::string_view op_name = name;
  auto err = [&](u32 col, std::string msg) { return Err{error_at(col, std::move(msg))}; };
  for (size_t i = 0; i < args.items.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (!args.items[i].key.empty() && args.items[j].key == args.items[i].key) {
        return err(args.items[i].col, fmt::format("key '{}' given twice", args.items[i].key));
      }
    }
  }
  // The next positional argument, in order.
  auto positional = [&](std::string_view what) -> Result<const Args::Item*, TraceError> {
    for (auto& it : args.items) {
      if (it.key.empty() && !it.used) {
        it.used = true;
        return &it;
      }
    }
    return err(0, fmt::format("'{}' needs {} (see docs/trace-format.md)", op_name, what));
  };
  auto find_key = [&](std::string_view key) -> Args::Item* {
    for (auto& it : args.items) {
      if (it.key == key) {
        it.used = true;
        return &it;
      }
    }
    return nullptr;
  };
  auto flag = [&](std::string_view word) {
    for (auto& it : args.items) {
      if (it.key.empty() && !it.used && it.value == word) {
        it.used = true;
        return true;
      }
    }
    return false;
  };
  auto number = [&](const Args::Item& it, std::string_view what) -> Result<u64, TraceError> {
    auto v = parse_number(it.value);
    if (!v) {
      const u32 col = it.key.empty() ? it.col : it.col + static_cast<u32>(it.key.size()) + 1;
      return err(col, fmt::format("expected {} for '{}', found '{}'", what,
                                  it.key.empty() ? op_name : it.key, it.value));
    }
    return *v;
  };
  auto value_col = [](const Args::Item& it) {
    return it.key.empty() ? it.col : it.col + static_cast<u32>(it.key.size()) + 1;
  };
  auto bool_key = [&](std::string_view key) -> Result<std::optional<bool>, TraceError> {
    Args::Item* it = find_key(key);
    if (it == nullptr) return std::optional<bool>();
    if (it->value != "0" && it->value != "1") {
      return err(value_col(*it),
                 fmt::format("expected 0 or 1 for '{}', found '{}'", key, it->value));
    }
    return std::optional<bool>(it->value == "1");
  };
  // Every argument must have been consumed, and no key given twice.
  auto finish = [&](std::initializer_list<std::string_view> keys,
                    std::initializer_list<std::string_view> flags) -> Result<void, TraceError> {
    for (const auto& it : args.items) {
      if (it.used) continue;
      if (!it.key.empty()) {
        return err(it.col, fmt::format("unknown key '{}' for '{}' (expected {})", it.key, op_name,
                                       keys.size() == 0 ? std::string("no keys")
                                                        : "one of: " + join(keys)));
      }
      return err(it.col,
                 fmt::format("unexpected '{}' in '{}'{}", it.value, op_name,
                             flags.size() == 0 ? std::string()
                                               : " (words it accepts: " + join(flags) + ")"));
    }
    return {};
  };
  auto vaddr_arg = [&](const Args::Item& it, bool must_be_canonical) -> Result<VAddr, TraceError> {
    const u64 v = PAGESIM_TRY(number(it, "a virtual address"));
    if (must_be_canonical && !canonical(v, levels)) {
      return err(value_col(it), fmt::format("virtual address {:#x} is not canonical for {}-level "
                                            "paging",
                                            v, levels));
    }
    return VAddr(v);
  };
  auto aligned4k = [&](const Args::Item& it, u64 v,
                       std::string_view what) -> Result<void, TraceError> {
    if (v % 4096 != 0) {
      return err(value_col(it), fmt::format("{} {:#x} is not 4K-aligned", what, v));
    }
    return {};
  };
  auto space_key = [&](bool allow_kernel) -> Result<i64, TraceError> {
    Args::Item* it = find_key("as");
    if (it == nullptr) return kSpaceCurrent;
    if (it->value == "kernel") {
      if (!allow_kernel) return err(value_col(*it), "'as=kernel' is not allowed here");
      return kSpaceKernel;
    }
    auto n = parse_number(it->value);
    if (!n || *n == 0 || *n >= spaces_.size() || !spaces_[*n]) {
      return err(value_col(*it), fmt::format("expected an existing address space (a number "
                                             "declared by 'space N', or 'kernel') for 'as', "
                                             "found '{}'",
                                             it->value));
    }
    return static_cast<i64>(*n);
  };
  // A memory-management range: canonical, 4K-aligned, non-empty, within one half.
  auto mm_range = [&](const Args::Item& va_it,
                      const Args::Item& len_it) -> Result<void, TraceError> {
    op.va = PAGESIM_TRY(vaddr_arg(va_it, true));
    op.len = PAGESIM_TRY(number(len_it, "a size"));
    PAGESIM_TRY(aligned4k(va_it, op.va.value(), "virtual address"));
    PAGESIM_TRY(aligned4k(len_it, op.len, "length"));
    if (op.len == 0) return err(value_col(len_it), "length must not be zero");
    const u64 va = op.va.value();
    u64 end;
    const bool overflow = __builtin_add_overflow(va, op.len, &end);
    const bool in_user = !overflow && end <= user_end(levels);
    const bool in_kernel = !overflow && va >= kernel_start(levels) && end <= kKernelEnd;
    if (!in_user && !in_kernel) {
      return err(value_col(va_it),
                 fmt::format("range [{:#x}, +{:#x}) is outside both the user half [0, {:#x}) and "
                             "the kernel half [{:#x}, {:#x})",
                             va, op.len, user_end(levels), kernel_start(levels), kKernelEnd));
    }
    return {};
  };
  auto prot_key = [&](bool required) -> Result<void, TraceError> {
    Args::Item* it = find_key("prot");
    if (it == nullptr) {
      if (required) return err(0, fmt::format("'{}' needs prot=", op_name));
      return {};
    }
    const auto v = it->value;
    const bool ok = v.size() == 3 && v[0] == 'r' && (v[1] == 'w' || v[1] == '-') &&
                    (v[2] == 'x' || v[2] == '-');
    if (!ok) {
      return err(value_col(*it),
                 fmt::format("expected rights like rw-, r-x or r-- for 'prot' (x86-64 mappings "
                             "are always readable), found '{}'",
                             v));
    }
    op.prot = static_cast<u8>(kProtR | (v[1] == 'w' ? kProtW : 0) | (v[2] == 'x' ? kProtX : 0));
    return {};
  };
  auto cache_key = [&]() -> Result<void, TraceError> {
    Args::Item* it = find_key("cache");
    if (it == nullptr) return {};
    if (it->value == "wb") {
      op.cache = CacheMode::kWb;
    } else if (it->value == "wt") {
      op.cache = CacheMode::kWt;
    } else if (it->value == "uc") {
      op.cache = CacheMode::kUc;
    } else {
      return err(value_col(*it),
                 fmt::format("expected wb, wt or uc for 'cache', found '{}'", it->value));
    }
    op.cache_given = true;
    return {};
  };
  auto machine_wide = [&]() -> Result<void, TraceError> {
    if (cpu_given) {
      return err(toks_[0].col,
                 fmt::format("'{}' is machine-wide: drop the '{}' prefix", op_name, toks_[0].text));
    }
    return {};
  };
  auto no_arrow = [&]() -> Result<void, TraceError> {
    if (arrow != toks_.size()) {
      return err(toks_[arrow].col,
                 fmt::format("'->' pins only read, write and fetch, not '{}'", op_name));
    }
    return {};
  };
  auto user_space_rules = [&]() -> Result<void, TraceError> {
    const bool kernel_va = op.va.value() >= kernel_start(levels);
    if (kernel_va && op.space > 0) {
      return err(0, fmt::format("{:#x} is a kernel address: it belongs to the kernel page table, "
                                "not to address space {}",
                                op.va.value(), op.space));
    }
    if (!kernel_va && op.space == kSpaceKernel) {
      return err(0, fmt::format("{:#x} is a user address: the kernel page table maps only the "
                                "upper half",
                                op.va.value()));
    }
    return {};
  };

  // --- Statements ---
  if (name == "space") {
    op.kind = OpKind::kSpace;
    PAGESIM_TRY(machine_wide());
    PAGESIM_TRY(no_arrow());
    const Args::Item* n = PAGESIM_TRY(positional("an address-space number"));
    const u64 v = PAGESIM_TRY(number(*n, "an address-space number (1 or more)"));
    if (v == 0 || v > 65535) {
      return err(n->col, fmt::format("expected an address-space number from 1 to 65535, found "
                                     "'{}'",
                                     n->value));
    }
    if (v < spaces_.size() && spaces_[v]) {
      return err(n->col, fmt::format("address space {} already exists", v));
    }
    if (v >= spaces_.size()) spaces_.resize(v + 1, false);
    spaces_[v] = true;
    op.value = v;
    PAGESIM_TRY(finish({}, {}));
    return true;
  }
  if (name == "barrier") {
    op.kind = OpKind::kBarrier;
    PAGESIM_TRY(machine_wide());
    PAGESIM_TRY(no_arrow());
    PAGESIM_TRY(finish({}, {}));
    return true;
  }
  if (name == "machine") {
    return err(name_tok.col,
               "'machine' must come right after the header, before any other "
               "statement");
  }
  if (name == "pagesim-trace") return err(name_tok.col, "the header may appear only once");

  if (name == "map") {
    op.kind = OpKind::kMap;
    PAGESIM_TRY(no_arrow());
    const Args::Item* va = PAGESIM_TRY(positional("a virtual address and a length"));
    const Args::Item* len = PAGESIM_TRY(positional("a length"));
    PAGESIM_TRY(mm_range(*va, *len));
    PAGESIM_TRY(prot_key(false));
    PAGESIM_TRY(cache_key());
    op.space = PAGESIM_TRY(space_key(true));
    if (Args::Item* p = find_key("page")) {
      const u64 s = PAGESIM_TRY(number(*p, "a page size (4K, 2M or 1G)"));
      if (s != 4 * KiB && s != 2 * MiB && s != 1 * GiB) {
        return err(value_col(*p),
                   fmt::format("expected 4K, 2M or 1G for 'page', found '{}'", p->value));
      }
      if (op.va.value() % s != 0 || op.len % s != 0) {
        return err(value_col(*p), fmt::format("with page={} the address and the length must be "
                                              "multiples of {}",
                                              p->value, p->value));
      }
      op.page_size = s;
    }
    op.user = flag("user");
    op.global = flag("global");
    op.accessed = flag("accessed");
    op.dirty = flag("dirty");
    PAGESIM_TRY(user_space_rules());
    const u64 va0 = op.va.value();
    if (va0 + op.len > kernel_start(levels) && va0 < linear_end(levels)) {
      return err(va->col, fmt::format("[{:#x}, +{:#x}) overlaps the kernel's linear-mapping range "
                                      "[{:#x}, {:#x}), which holds untracked mappings only: use "
                                      "map_pa",
                                      va0, op.len, kernel_start(levels), linear_end(levels)));
    }
    PAGESIM_TRY(finish({"prot", "cache", "page", "as"}, {"user", "global", "accessed", "dirty"}));
    return true;
  }
  if (name == "map_pa") {
    op.kind = OpKind::kMapPa;
    PAGESIM_TRY(no_arrow());
    const Args::Item* va =
        PAGESIM_TRY(positional("a virtual address, a physical address and a "
                               "length"));
    const Args::Item* pa = PAGESIM_TRY(positional("a physical address and a length"));
    const Args::Item* len = PAGESIM_TRY(positional("a length"));
    PAGESIM_TRY(mm_range(*va, *len));
    const u64 p = PAGESIM_TRY(number(*pa, "a physical address"));
    PAGESIM_TRY(aligned4k(*pa, p, "physical address"));
    u64 pend;
    if (__builtin_add_overflow(p, op.len, &pend) || pend > (u64{1} << machine_.maxphyaddr)) {
      return err(value_col(*pa), fmt::format("physical range [{:#x}, +{:#x}) reaches beyond "
                                             "MAXPHYADDR ({} bits)",
                                             p, op.len, machine_.maxphyaddr));
    }
    op.pa = PAddr(p);
    const u64 v = op.va.value();
    if (v < kernel_start(levels) || op.va.value() + op.len > linear_end(levels)) {
      return err(value_col(*va), fmt::format("map_pa works only in the kernel's linear-mapping "
                                             "range [{:#x}, {:#x})",
                                             kernel_start(levels), linear_end(levels)));
    }
    PAGESIM_TRY(prot_key(false));
    PAGESIM_TRY(cache_key());
    op.global = flag("global");
    op.accessed = flag("accessed");
    op.dirty = flag("dirty");
    PAGESIM_TRY(finish({"prot", "cache"}, {"global", "accessed", "dirty"}));
    return true;
  }
  if (name == "unmap" || name == "protect") {
    op.kind = name == "unmap" ? OpKind::kUnmap : OpKind::kProtect;
    PAGESIM_TRY(no_arrow());
    const Args::Item* va = PAGESIM_TRY(positional("a virtual address and a length"));
    const Args::Item* len = PAGESIM_TRY(positional("a length"));
    PAGESIM_TRY(mm_range(*va, *len));
    op.space = PAGESIM_TRY(space_key(true));
    PAGESIM_TRY(user_space_rules());
    if (op.kind == OpKind::kUnmap) {
      PAGESIM_TRY(finish({"as"}, {}));
      return true;
    }
    PAGESIM_TRY(prot_key(true));
    PAGESIM_TRY(cache_key());
    if (Args::Item* c = find_key("clear")) {
      if (c->value == "a") {
        op.clear = kClearA;
      } else if (c->value == "d") {
        op.clear = kClearD;
      } else if (c->value == "ad" || c->value == "da") {
        op.clear = kClearA | kClearD;
      } else {
        return err(value_col(*c),
                   fmt::format("expected a, d or ad for 'clear', found '{}'", c->value));
      }
    }
    PAGESIM_TRY(finish({"prot", "cache", "clear", "as"}, {}));
    return true;
  }
  if (name == "read" || name == "write" || name == "fetch") {
    op.kind = OpKind::kAccess;
    op.access = name == "read"    ? AccessType::kRead
                : name == "write" ? AccessType::kWrite
                                  : AccessType::kFetch;
    const Args::Item* va = PAGESIM_TRY(positional("a virtual address"));
    op.va = PAGESIM_TRY(vaddr_arg(*va, false));
    if (Args::Item* c = find_key("cpl")) {
      const u64 v = PAGESIM_TRY(number(*c, "0 to 3"));
      if (v > 3)
        return err(value_col(*c), fmt::format("expected 0 to 3 for 'cpl', found '{}'", c->value));
      op.cpl = static_cast<i8>(v);
    }
    if (op.access != AccessType::kFetch) {
      if (auto b = PAGESIM_TRY(bool_key("ac"))) op.ac = *b ? 1 : 0;
      op.implicit = flag("implicit");
      op.stack = flag("ss");
      PAGESIM_TRY(finish({"cpl", "ac"}, {"implicit", "ss"}));
    } else {
      PAGESIM_TRY(finish({"cpl"}, {}));
    }
    if (arrow != toks_.size()) {
      // The expectation.
      if (arrow + 1 == toks_.size()) {
        return err(toks_[arrow].col, "expected ok, pf, gp or ss after '->'");
      }
      const Token& k = toks_[arrow + 1];
      Args ex(expect_storage_);
      for (size_t i = arrow + 2; i < toks_.size(); ++i) {
        auto eq = toks_[i].text.find('=');
        if (eq == std::string_view::npos) {
          return err(toks_[i].col, fmt::format("expected key=value after '{}', found '{}'", k.text,
                                               toks_[i].text));
        }
        ex.items.push_back(
            {toks_[i].text.substr(0, eq), toks_[i].text.substr(eq + 1), toks_[i].col});
      }
      auto ex_num = [&](const Args::Item& it, std::string_view what) -> Result<u64, TraceError> {
        auto v = parse_number(it.value);
        if (!v) {
          return err(value_col(it),
                     fmt::format("expected {} for '{}', found '{}'", what, it.key, it.value));
        }
        return *v;
      };
      std::vector<std::string_view> seen_keys;
      auto check_key =
          [&](const Args::Item& it,
              std::initializer_list<std::string_view> allowed) -> Result<void, TraceError> {
        if (std::find(allowed.begin(), allowed.end(), it.key) == allowed.end()) {
          return err(it.col,
                     fmt::format("unknown key '{}' after '{}' (expected {})", it.key, k.text,
                                 allowed.size() == 0 ? std::string("nothing")
                                                     : "one of: " + join(allowed)));
        }
        if (std::find(seen_keys.begin(), seen_keys.end(), it.key) != seen_keys.end()) {
          return err(it.col, fmt::format("key '{}' given twice", it.key));
        }
        seen_keys.push_back(it.key);
        return {};
      };
      if (k.text == "ok") {
        op.expect.kind = ExpectAccess::Kind::kOk;
        for (auto& it : ex.items) {
          PAGESIM_TRY(check_key(it, {"pa", "size"}));
          if (it.key == "pa") {
            op.expect.pa = PAGESIM_TRY(ex_num(it, "a physical address"));
          } else {
            const u64 s = PAGESIM_TRY(ex_num(it, "a page size (4K, 2M or 1G)"));
            if (s != 4 * KiB && s != 2 * MiB && s != 1 * GiB) {
              return err(value_col(it), fmt::format("expected 4K, 2M or 1G for 'size', found "
                                                    "'{}'",
                                                    it.value));
            }
            op.expect.size = s;
          }
        }
      } else if (k.text == "pf") {
        op.expect.kind = ExpectAccess::Kind::kPf;
        bool have_code = false;
        for (auto& it : ex.items) {
          PAGESIM_TRY(check_key(it, {"code"}));
          const u64 c = PAGESIM_TRY(ex_num(it, "a page-fault error code"));
          if (c > 0xffff) {
            return err(value_col(it), fmt::format("page-fault error code {:#x} is too large", c));
          }
          op.expect.code = static_cast<u16>(c);
          have_code = true;
        }
        if (!have_code) return err(k.col, "expected code=ERROR_CODE after 'pf'");
      } else if (k.text == "gp" || k.text == "ss") {
        op.expect.kind = k.text == "gp" ? ExpectAccess::Kind::kGp : ExpectAccess::Kind::kSs;
        for (auto& it : ex.items) PAGESIM_TRY(check_key(it, {}));
      } else {
        return err(k.col, fmt::format("expected ok, pf, gp or ss after '->', found '{}'", k.text));
      }
    }
    return true;
  }
  if (name == "switch") {
    op.kind = OpKind::kSwitch;
    PAGESIM_TRY(no_arrow());
    Args::Item* as = find_key("as");
    if (as == nullptr) return err(0, "'switch' needs as=N or as=kernel");
    as->used = false;  // let space_key consume it
    op.space = PAGESIM_TRY(space_key(true));
    if (Args::Item* p = find_key("pcid")) {
      const u64 v = PAGESIM_TRY(number(*p, "a PCID (0 to 4095)"));
      if (v > 4095)
        return err(value_col(*p), fmt::format("expected 0 to 4095 for 'pcid', found "
                                              "'{}'",
                                              p->value));
      op.pcid = static_cast<u16>(v);
    }
    op.noflush = flag("noflush");
    PAGESIM_TRY(finish({"as", "pcid"}, {"noflush"}));
    return true;
  }
  if (name == "flush") {
    op.kind = OpKind::kFlush;
    PAGESIM_TRY(no_arrow());
    PAGESIM_TRY(finish({}, {}));
    return true;
  }
  if (name == "invlpg") {
    op.kind = OpKind::kInvlpg;
    PAGESIM_TRY(no_arrow());
    const Args::Item* va = PAGESIM_TRY(positional("a virtual address"));
    op.va = PAGESIM_TRY(vaddr_arg(*va, false));
    PAGESIM_TRY(finish({}, {}));
    return true;
  }
  if (name == "invpcid") {
    op.kind = OpKind::kInvpcid;
    PAGESIM_TRY(no_arrow());
    const Args::Item* ty = PAGESIM_TRY(positional("a type (0 to 3)"));
    const u64 v = PAGESIM_TRY(number(*ty, "an INVPCID type (0 to 3)"));
    if (v > 3)
      return err(ty->col, fmt::format("expected an INVPCID type 0 to 3, found '{}'", ty->value));
    op.invpcid_type = static_cast<u8>(v);
    if (Args::Item* p = find_key("pcid")) {
      const u64 n = PAGESIM_TRY(number(*p, "a PCID (0 to 4095)"));
      if (n > 4095)
        return err(value_col(*p), fmt::format("expected 0 to 4095 for 'pcid', found "
                                              "'{}'",
                                              p->value));
      op.pcid = static_cast<u16>(n);
    }
    if (Args::Item* a = find_key("va")) op.va = PAGESIM_TRY(vaddr_arg(*a, false));
    PAGESIM_TRY(finish({"pcid", "va"}, {}));
    return true;
  }
  if (name == "cr0" || name == "efer" || name == "cr4") {
    PAGESIM_TRY(no_arrow());
    struct Bit {
      std::string_view key;
      u64 bit;
    };
    static constexpr std::array<Bit, 1> kCr0 = {{{"wp", u64{1} << 16}}};
    static constexpr std::array<Bit, 1> kEfer = {{{"nxe", u64{1} << 11}}};
    static constexpr std::array<Bit, 6> kCr4 = {{{"pge", u64{1} << 7},
                                                 {"pcide", u64{1} << 17},
                                                 {"smep", u64{1} << 20},
                                                 {"smap", u64{1} << 21},
                                                 {"pke", u64{1} << 22},
                                                 {"pks", u64{1} << 24}}};
    std::span<const Bit> bits = name == "cr0"    ? std::span<const Bit>(kCr0)
                                : name == "efer" ? std::span<const Bit>(kEfer)
                                                 : std::span<const Bit>(kCr4);
    op.kind = name == "cr0" ? OpKind::kCr0 : name == "efer" ? OpKind::kEfer : OpKind::kCr4;
    for (const Bit& b : bits) {
      if (auto v = PAGESIM_TRY(bool_key(b.key))) {
        (*v ? op.set_bits : op.clear_bits) |= b.bit;
      }
    }
    if (op.set_bits == 0 && op.clear_bits == 0) {
      std::string keys;
      for (const Bit& b : bits) keys += (keys.empty() ? "" : ", ") + std::string(b.key) + "=0|1";
      return err(name_tok.col, fmt::format("'{}' needs at least one of: {}", name, keys));
    }
    if (name == "cr0") PAGESIM_TRY(finish({"wp"}, {}));
    if (name == "efer") PAGESIM_TRY(finish({"nxe"}, {}));
    if (name == "cr4") PAGESIM_TRY(finish({"pge", "pcide", "smep", "smap", "pke", "pks"}, {}));
    return true;
  }
  if (name == "pkru" || name == "pkrs") {
    op.kind = name == "pkru" ? OpKind::kPkru : OpKind::kPkrs;
    PAGESIM_TRY(no_arrow());
    const Args::Item* v = PAGESIM_TRY(positional("a 32-bit value"));
    op.value = PAGESIM_TRY(number(*v, "a 32-bit value"));
    if (op.value > 0xffffffffull) {
      return err(v->col,
                 fmt::format("expected a 32-bit value for '{}', found '{}'", name, v->value));
    }
    PAGESIM_TRY(finish({}, {}));
    return true;
  }
  if (name == "cpl" || name == "ac") {
    op.kind = name == "cpl" ? OpKind::kCpl : OpKind::kAc;
    PAGESIM_TRY(no_arrow());
    const Args::Item* v = PAGESIM_TRY(positional(name == "cpl" ? "0 to 3" : "0 or 1"));
    op.value = PAGESIM_TRY(number(*v, name == "cpl" ? "0 to 3" : "0 or 1"));
    if (op.value > (name == "cpl" ? 3u : 1u)) {
      return err(v->col, fmt::format("expected {} for '{}', found '{}'",
                                     name == "cpl" ? "0 to 3" : "0 or 1", name, v->value));
    }
    PAGESIM_TRY(finish({}, {}));
    return true;
  }
  if (name == "expect-entry") {
    op.kind = OpKind::kExpectEntry;
    PAGESIM_TRY(no_arrow());
    const Args::Item* va = PAGESIM_TRY(positional("a virtual address"));
    op.va = PAGESIM_TRY(vaddr_arg(*va, true));
    Args::Item* lv = find_key("level");
    if (lv == nullptr) return err(0, "'expect-entry' needs level=L");
    const u64 l = PAGESIM_TRY(number(*lv, fmt::format("a level from 1 to {}", levels)));
    if (l < 1 || l > levels) {
      return err(value_col(*lv), fmt::format("expected a level from 1 to {} for 'level', found "
                                             "'{}'",
                                             levels, lv->value));
    }
    op.level = static_cast<u8>(l);
    Args::Item* raw = find_key("raw");
    if (raw == nullptr) return err(0, "'expect-entry' needs raw=VALUE");
    op.raw = PAGESIM_TRY(number(*raw, "a 64-bit entry value"));
    if (Args::Item* m = find_key("mask")) op.mask = PAGESIM_TRY(number(*m, "a 64-bit mask"));
    op.space = PAGESIM_TRY(space_key(true));
    op.len = 4096;
    PAGESIM_TRY(user_space_rules());
    PAGESIM_TRY(finish({"level", "raw", "mask", "as"}, {}));
    return true;
  }
  return err(name_tok.col,
             fmt::format("unknown statement '{}' (expected one of: space, barrier, map, map_pa, "
                         "unmap, protect, read, write, fetch, switch, flush, invlpg, invpcid, cr0, "
                         "cr4, efer, pkru, pkrs, cpl, ac, expect-entry)",
                         name));
}

}  // namespace pagesim::wl
