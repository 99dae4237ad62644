#include "mmu/outcome.h"

#include <fmt/format.h>

#include "mmu/page_fault.h"

namespace pagesim::mmu {

std::string describe(const Outcome& o) {
  if (const auto* ok = std::get_if<Ok>(&o)) {
    const Rights r = ok->attrs.rights;
    return fmt::format(
        "OK {} ({} page, {}{}{}, PAT index {} = {}{}{})", ok->pa, page_size_name(ok->page_size),
        r.user() ? "user" : "supervisor", r.writable() ? ", writable" : ", read-only",
        r.xd() ? ", execute-disable" : "", ok->attrs.pat_index,
        memory_type_name(ok->attrs.memory_type), ok->attrs.global == Global::kYes ? ", global" : "",
        ok->attrs.pkey ? fmt::format(", key {}", ok->attrs.pkey) : "");
  }
  if (const auto* f = std::get_if<PageFault>(&o)) {
    return fmt::format("#PF error code {} cr2 {}", pf::describe(f->error_code), f->cr2);
  }
  if (const auto* nc = std::get_if<NonCanonical>(&o)) {
    return nc->vector == NcVector::kSs ? "#SS(0) non-canonical address"
                                       : "#GP(0) non-canonical address";
  }
  const auto& b = std::get<WalkBusError>(o);
  return fmt::format("bus error: the {} at {} is outside simulated RAM", level_name(b.level),
                     b.entry_address);
}

}  // namespace pagesim::mmu
