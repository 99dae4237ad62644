// Runs recorded x86-64 paging vectors against the MMU (src/mmu) and reports, bit by bit, where
// pagesim differs from the recording. Two file formats (docs/mmu.md, tests/conformance/README.md):
//
//  - JSON lines recorded on an x86-64 implementation (tests/conformance/qemu-*.jsonl): one
//    scenario a line, {"scenario": ..., "result": ...}. Memory is built from the scenario's
//    writes and fill ranges, the CPU from the recorded control registers and the recording CPU's
//    facts (MAXPHYADDR, features); every access is translated and performed, and the outcome,
//    error code, CR2, physical address and value reached and every entries_after word are
//    compared. Default profile: QEMU 7.2.
//  - The spec's vectors (x86-64-paging.vectors.json, format "pagesim-spec-vectors/1"): single
//    accesses with the entries before and after (run twice: a_on_fault progressive and none),
//    and TLB scenarios whose steps list every allowed outcome and pagesim's default one.
//    Default profile: the SDM.
//
// This file depends on mmu and sim only (and the JSON reader next to it): the runner is a judge
// of the MMU against recordings, not of the OS side.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mmu/profile.h"
#include "mmu/tlb_shape.h"
#include "sim/result.h"
#include "sim/types.h"

namespace pagesim::workloads {

enum class ProfileChoice : u8 { kAuto, kSdm, kQemu };
enum class VectorFormat : u8 { kRecordedJsonLines, kSpecVectors };

struct ConformanceOptions {
  ProfileChoice profile = ProfileChoice::kAuto;
  // Knobs applied on top of the chosen profile (and of a recording's CPU facts), e.g.
  // {"a_on_fault", "none"}.
  std::vector<std::pair<std::string, std::string>> knobs;
  // The TLB for TLB scenarios and recordings. Unset: the spec's TLB (TlbShape::ideal()), under
  // which the spec's "pagesim default" outcomes are required exactly; with any other shape or
  // knobs that change TLB behaviour, any "allowed" outcome passes.
  std::optional<mmu::TlbShape> tlb;
  // Simulated RAM for recordings: the recorded machine's RAM ([16 MiB, 2 GiB) in
  // tests/conformance). Tables or data beyond it follow the profile's unbacked_memory knob.
  u64 ram_bytes = 2 * GiB;
};

// The result of one vector (a spec vector or TLB scenario, or one recorded scenario line).
struct CaseResult {
  std::string id;                  // "V22", "qemu-hand.jsonl:7"
  std::string title;               // the vector's title or the scenario's name
  u64 checks = 0;                  // accesses (or steps) checked
  std::vector<std::string> diffs;  // empty when the vector passed; one line per difference
  std::vector<std::string> notes;  // context: the vector's QEMU note, partial comparisons, ...
  std::vector<std::string> trace;  // one line per access or step (for --verbose)
  bool passed() const { return diffs.empty(); }
};

struct FileReport {
  std::string path;
  VectorFormat format = VectorFormat::kRecordedJsonLines;
  std::string profile;  // the profile's name
  u64 vectors = 0;      // scenarios (JSON lines) or vectors + TLB scenarios (spec)
  u64 passed = 0;
  u64 failed = 0;
  u64 accesses = 0;        // accesses performed (a spec vector counts once per A/D variant)
  u64 single_vectors = 0;  // spec: single-access vectors
  u64 tlb_scenarios = 0;   // spec: TLB scenarios
  std::vector<CaseResult> cases;
};

// Bad input: the file cannot be read, is not JSON, or lacks what the format requires.
struct InputError {
  std::string file;
  u32 line = 0;    // 0 when not known
  u32 column = 0;  // 0 when not known
  std::string message;
  std::string describe() const;  // "FILE:LINE:COLUMN: MESSAGE"
};

// Runs every vector of one file. `on_case` is called after each vector (for streaming output).
// Returns an InputError, and stops, at the first malformed vector.
Result<FileReport, InputError> run_conformance_file(
    const std::string& path, const ConformanceOptions& options,
    const std::function<void(const CaseResult&)>& on_case = {});

// The same on text already in memory; `name` is used in messages and ids.
Result<FileReport, InputError> run_conformance_text(
    std::string_view text, std::string_view name, const ConformanceOptions& options,
    const std::function<void(const CaseResult&)>& on_case = {});

}  // namespace pagesim::workloads
