#include "mmu/access.h"

#include <fmt/format.h>

namespace pagesim::mmu {

std::string_view access_kind_name(AccessKind k) {
  switch (k) {
    case AccessKind::kRead:
      return "read";
    case AccessKind::kWrite:
      return "write";
    case AccessKind::kFetch:
      return "fetch";
    case AccessKind::kShadowStackRead:
      return "shadow-stack read";
    case AccessKind::kShadowStackWrite:
      return "shadow-stack write";
  }
  return "?";
}

std::string describe(const Access& a) {
  std::string_view who = a.is_user_mode() ? "user" : "supervisor";
  std::string_view origin;
  if (a.origin == AccessOrigin::kImplicitSupervisor) origin = "implicit ";
  if (a.origin == AccessOrigin::kWruss) origin = "WRUSS ";
  return fmt::format("{}{} {} (CPL {}, AC={}{})", origin, who, access_kind_name(a.kind), a.cpl,
                     a.ac == Ac::kSet ? 1 : 0, a.segment == Segment::kSs ? ", SS segment" : "");
}

}  // namespace pagesim::mmu
