// The machine after a trace, or after a prefix of it: what `pagesim explain` and `pagesim dump`
// look at. Runs the replay (with its checks, unchanged) and hands the finished machine to a
// callback (wl::ReplayOptions::inspect); reports bad input on stderr.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "workloads/replay.h"

namespace pagesim::cli {

struct MachineAtLine {
  std::string trace;
  u64 line = 0;  // 0: the whole trace
  wl::MachineOverrides overrides;
};

// Replays `what.trace` up to `what.line` and calls `look` with the machine; `look` returns an
// exit code. Returns kExitBadInput (message on stderr, prefixed with `prog`) for a trace that
// does not replay, else the larger of `look`'s code and kExitMismatch if the replay found
// mismatches (they are summarised on stderr: the replay itself is `pagesim replay`'s business).
int with_machine_at_line(std::string_view prog, const MachineAtLine& what,
                         const std::function<int(wl::MachineView&)>& look);

// "after line 12 of traces/x.trace (`cpu1 read 0x400000 cpl=3`)" or "after traces/x.trace
// (every line)": how the commands name the state they show.
std::string describe_point(const MachineAtLine& what);

}  // namespace pagesim::cli
