// libFuzzer target: the trace parser must turn any input into statements or a located error,
// never crash, hang or read outside its buffer. Build and run: docs/fuzzing.md.
#include <cstddef>
#include <cstdint>
#include <string>

#include "workloads/trace_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pagesim::wl;
  auto parser = TraceParser::from_string("fuzz.trace",
                                         std::string(reinterpret_cast<const char*>(data), size));
  if (!parser->read_preamble().ok()) return 0;
  TraceOp op;
  for (int i = 0; i < 100000; ++i) {
    auto r = parser->next(op);
    if (!r.ok()) {
      // Every error is located and explained.
      const TraceError& e = r.error();
      if (e.line == 0 || e.message.empty()) __builtin_trap();
      break;
    }
    if (!*r) break;
  }
  return 0;
}
