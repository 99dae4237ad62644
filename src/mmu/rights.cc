#include "mmu/rights.h"

namespace pagesim::mmu {

std::string_view rights_rule_name(RightsRule r) {
  switch (r) {
    case RightsRule::kAllowed:
      return "allowed";
    case RightsRule::kAr1UserToSupervisor:
      return "AR1 user-mode access to a supervisor-mode address";
    case RightsRule::kAr2UserWriteReadOnly:
      return "AR2 user-mode write to a read-only page";
    case RightsRule::kAr4SupervisorWriteWp:
      return "AR4 supervisor write to a read-only supervisor page with CR0.WP=1";
    case RightsRule::kAr5SupervisorWriteUserWp:
      return "AR5 supervisor write to a read-only user page with CR0.WP=1";
    case RightsRule::kAr6SupervisorFetchXd:
      return "AR6 supervisor fetch from an execute-disable page";
    case RightsRule::kAr7Smep:
      return "AR7 SMEP: supervisor fetch from a user page";
    case RightsRule::kAr7SupervisorFetchUserXd:
      return "AR7 supervisor fetch from an execute-disable user page";
    case RightsRule::kAr8UserFetchXd:
      return "AR8 user fetch from an execute-disable page";
    case RightsRule::kAr9Smap:
      return "AR9 SMAP: supervisor data access to a user page";
    case RightsRule::kPk2AccessDisable:
      return "PK2 PKRU access-disable";
    case RightsRule::kPk3WriteDisable:
      return "PK3 PKRU write-disable";
    case RightsRule::kPk6AccessDisable:
      return "PK6 PKRS access-disable";
    case RightsRule::kPk6WriteDisable:
      return "PK6 PKRS write-disable";
    case RightsRule::kSs2NotShadowStackPage:
      return "SS2 shadow-stack access to a page that is not a shadow-stack page (SS1)";
    case RightsRule::kSs2SupervisorToUserPage:
      return "SS2 supervisor shadow-stack access to a user page";
  }
  return "?";
}

}  // namespace pagesim::mmu
