// The streaming trace parser (docs/trace-format.md).
//
// Reads a trace a buffer at a time — a trace of ten million lines is never held whole — and
// yields one statement at a time. Everything that can be checked from the text alone is checked
// here, with file, line and column: syntax, unknown or repeated keys, number ranges, alignment,
// canonical addresses, ranges outside the user or kernel half, CPU numbers beyond the machine's,
// address spaces that do not exist. What depends on the state of the simulation (a small page
// inside a huge one, simulated RAM exhausted, …) is found by the replay, which reports it at the
// same location.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/result.h"
#include "workloads/trace_error.h"
#include "workloads/trace_op.h"

namespace pagesim::wl {

struct ArgItem;

// Values given on the command line, overriding the trace's `machine` statement.
struct MachineOverrides {
  std::optional<u16> cpus;
  std::optional<std::string> tlb;
  std::optional<std::string> profile;
  std::optional<bool> shootdown;
};

class TraceParser {
 public:
  // Opens a trace file. `name` is what error messages call it (defaults to the path).
  static Result<std::unique_ptr<TraceParser>, TraceError> open(const std::string& path);
  // Parses a trace held in memory (tests, `explain` of a prefix).
  static std::unique_ptr<TraceParser> from_string(std::string name, std::string text);

  ~TraceParser();
  TraceParser(const TraceParser&) = delete;
  TraceParser& operator=(const TraceParser&) = delete;

  // Reads the header and the optional `machine` statement and applies `overrides`. Must be
  // called once, before next().
  Result<void, TraceError> read_preamble(const MachineOverrides& overrides = {});
  const MachineConfig& machine() const { return machine_; }
  // The line and column of the `tlb=` value (for errors about the TLB file), 0 if not given.
  u64 tlb_line() const { return tlb_line_; }
  u64 tlb_column() const { return tlb_column_; }

  // Parses the next statement into `op`. Returns false at the end of the trace.
  Result<bool, TraceError> next(TraceOp& op);

  // The text of the line `next` returned last (without its newline).
  std::string_view line_text() const { return line_text_; }
  const std::string& name() const { return name_; }
  // Whether plain access lines take the fast path (the default) or the general one; both give
  // the same statements, which a test checks on every bundled trace.
  enum class FastPath : u8 { kOn, kOff };
  void set_fast_path(FastPath f) { fast_path_ = f; }

  // Called with every physical line as it is read (header, comments and blank lines included),
  // so `replay --record` can write the trace back whole. Set before read_preamble().
  void set_line_sink(std::function<void(u64 line, std::string_view text)> sink) {
    sink_ = std::move(sink);
  }
  // The folder of the trace file ("" for in-memory traces), for relative file names in it.
  const std::string& folder() const { return folder_; }
  u64 lines_read() const { return line_no_; }

 private:
  TraceParser() = default;

  struct Token {
    std::string_view text;
    u32 col;  // 1-based
  };

  bool read_line(std::string_view& out);
  bool parse_access_fast(std::string_view line, TraceOp& op);
  Result<bool, TraceError> parse_line(std::string_view line, TraceOp& op);
  Result<void, TraceError> parse_machine(const std::vector<Token>& toks);
  TraceError error_at(u32 col, std::string message) const;

  std::string name_;
  std::string folder_;
  std::FILE* file_ = nullptr;
  std::string buf_;
  size_t pos_ = 0;
  size_t end_ = 0;
  bool eof_ = false;
  u64 line_no_ = 0;
  std::string_view line_text_;

  MachineConfig machine_;
  u64 tlb_line_ = 0;
  u64 tlb_column_ = 0;
  bool preamble_done_ = false;
  bool have_pending_ = false;
  std::string_view pending_line_;
  std::vector<bool> spaces_;  // spaces_[n]: user space n exists
  std::vector<Token> toks_;
  std::vector<struct ArgItem> arg_storage_;  // reused for every line (no allocation)
  std::vector<struct ArgItem> expect_storage_;
  std::function<void(u64, std::string_view)> sink_;
  FastPath fast_path_ = FastPath::kOn;
};

}  // namespace pagesim::wl
