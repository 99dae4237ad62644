#include "mmu/profile.h"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <utility>

namespace pagesim::mmu {

namespace {

// A knob value spelled in text: the enum value and its name.
template <class E>
struct Spelling {
  E value;
  std::string_view name;
};

template <class E, std::size_t N>
Result<void, std::string> parse_enum(std::string_view knob, std::string_view text, E& out,
                                     const std::array<Spelling<E>, N>& spellings) {
  for (const auto& s : spellings) {
    if (s.name == text) {
      out = s.value;
      return {};
    }
  }
  std::string accepted;
  for (const auto& s : spellings) {
    if (!accepted.empty()) accepted += " | ";
    accepted += s.name;
  }
  return Err{fmt::format("knob '{}': '{}' is not one of {}", knob, text, accepted)};
}

template <class E, std::size_t N>
std::string_view enum_name(E v, const std::array<Spelling<E>, N>& spellings) {
  for (const auto& s : spellings) {
    if (s.value == v) return s.name;
  }
  return "?";
}

constexpr std::array<Spelling<Support>, 8> kSupport{{{Support::kYes, "true"},
                                                     {Support::kNo, "false"},
                                                     {Support::kYes, "yes"},
                                                     {Support::kNo, "no"},
                                                     {Support::kYes, "on"},
                                                     {Support::kNo, "off"},
                                                     {Support::kYes, "1"},
                                                     {Support::kNo, "0"}}};
constexpr std::array<Spelling<Vendor>, 2> kVendor{
    {{Vendor::kIntel, "intel"}, {Vendor::kAmd, "amd"}}};
constexpr std::array<Spelling<AOnFault>, 2> kAOnFault{
    {{AOnFault::kProgressive, "progressive"}, {AOnFault::kNone, "none"}}};
constexpr std::array<Spelling<TlbDenyPolicy>, 2> kDeny{
    {{TlbDenyPolicy::kRewalk, "rewalk"}, {TlbDenyPolicy::kSpuriousFault, "spurious_fault"}}};
constexpr std::array<Spelling<GbLeafAccessed>, 2> kGbLeafA{
    {{GbLeafAccessed::kOnSuccess, "on_success"},
     {GbLeafAccessed::kBeforeLeafChecks, "before_leaf_checks"}}};
constexpr std::array<Spelling<GbPagesCheck>, 2> kGbCheck{
    {{GbPagesCheck::kEnforce, "enforce"}, {GbPagesCheck::kIgnore, "ignore"}}};
constexpr std::array<Spelling<ImplicitSmap>, 2> kImplicitSmap{
    {{ImplicitSmap::kIgnoreAc, "ignore_ac"},
     {ImplicitSmap::kHonourAcBelowCpl3, "honour_ac_below_cpl3"}}};
constexpr std::array<Spelling<NonCanonicalFault>, 2> kNonCanonical{
    {{NonCanonicalFault::kBySegment, "by_segment"}, {NonCanonicalFault::kAlwaysGp, "always_gp"}}};
constexpr std::array<Spelling<AdUpdate>, 2> kAdUpdate{
    {{AdUpdate::kCas64RestartWalk, "cas64_restart_walk"},
     {AdUpdate::kCas32RestartLevel, "cas32_restart_level"}}};
constexpr std::array<Spelling<FlushScope>, 2> kFlush{
    {{FlushScope::kArchitectural, "architectural"}, {FlushScope::kWholeTlb, "whole_tlb"}}};
constexpr std::array<Spelling<UnbackedMemory>, 2> kUnbacked{
    {{UnbackedMemory::kBusError, "bus_error"}, {UnbackedMemory::kReadsZero, "reads_zero"}}};

constexpr std::array<std::string_view, 25> kKnobNames{"maxphyaddr",
                                                      "la57_supported",
                                                      "gbpages_supported",
                                                      "pku",
                                                      "pks",
                                                      "cet_ss",
                                                      "pcid",
                                                      "smep",
                                                      "smap",
                                                      "pge",
                                                      "nx",
                                                      "vendor",
                                                      "a_on_fault",
                                                      "rsvd_sets_p",
                                                      "pk_on_user_to_supervisor",
                                                      "tlb_deny_policy",
                                                      "gb_leaf_accessed",
                                                      "gbpages_check",
                                                      "implicit_smap",
                                                      "non_canonical",
                                                      "ad_update",
                                                      "flush_scope",
                                                      "unbacked_memory",
                                                      "qemu_compat",
                                                      "name"};

void apply_qemu_deviations(Profile& p) {
  p.rsvd_fault_p = RsvdFaultP::kClear;                     // Q1
  p.gb_leaf_accessed = GbLeafAccessed::kBeforeLeafChecks;  // Q2
  p.gbpages_check = GbPagesCheck::kIgnore;                 // Q3
  p.implicit_smap = ImplicitSmap::kHonourAcBelowCpl3;      // Q4
  p.pk_user_to_supervisor = PkUserToSupervisor::kOmit;     // Q5
  p.non_canonical = NonCanonicalFault::kAlwaysGp;          // Q6
  p.ad_update = AdUpdate::kCas32RestartLevel;              // Q7
  p.flush_scope = FlushScope::kWholeTlb;                   // Q8
  p.pcid = Support::kNo;                                   // Q8: no PCID in system-mode TCG
  p.a_on_fault = AOnFault::kProgressive;                   // AD4: QEMU sets A progressively
  p.tlb_deny_policy = TlbDenyPolicy::kRewalk;              // Q8: a permission miss re-walks
  p.cet_ss = Support::kNo;                                 // Q9
  p.vendor = Vendor::kIntel;                               // QEMU ignores R7
  // QEMU reads unassigned physical memory as 0 and drops writes to it (softmmu/memory.c,
  // unassigned_mem_read/_write in 7.2). The recordings in tests/conformance never walk through
  // a table outside RAM, so this is taken from the source, not from a recording.
  p.unbacked = UnbackedMemory::kReadsZero;
}

}  // namespace

Profile Profile::sdm() { return Profile{}; }

Profile Profile::amd() {
  Profile p;
  p.name = "amd";
  p.vendor = Vendor::kAmd;  // R7, A1
  p.pks = Support::kNo;     // A2
  return p;
}

Profile Profile::qemu72() {
  Profile p;
  p.name = "qemu-7.2";
  p.maxphyaddr = 40;  // README: QEMU 7.2 `-cpu max` reports MAXPHYADDR 40
  apply_qemu_deviations(p);
  return p;
}

Result<Profile, std::string> Profile::named(std::string_view name) {
  if (name == "sdm" || name == "intel") return sdm();
  if (name == "amd") return amd();
  if (name == "qemu" || name == "qemu-7.2") return qemu72();
  return Err{
      fmt::format("unknown profile '{}' (expected sdm, intel, amd, qemu or qemu-7.2)", name)};
}

std::vector<std::string_view> Profile::preset_names() { return {"sdm", "amd", "qemu-7.2"}; }

std::vector<std::string_view> Profile::knob_names() {
  return {kKnobNames.begin(), kKnobNames.end()};
}

Result<void, std::string> Profile::set_knob(std::string_view knob, std::string_view value) {
  if (knob == "maxphyaddr") {
    unsigned m = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), m);
    if (ec != std::errc{} || end != value.data() + value.size() || m < 32 || m > 52) {
      return Err{fmt::format("knob 'maxphyaddr': '{}' is not a number in 32..52 (M1)", value)};
    }
    maxphyaddr = m;
    return {};
  }
  if (knob == "la57_supported" || knob == "la57") return parse_enum(knob, value, la57, kSupport);
  if (knob == "gbpages_supported" || knob == "gbpages") {
    return parse_enum(knob, value, gbpages, kSupport);
  }
  if (knob == "pku") return parse_enum(knob, value, pku, kSupport);
  if (knob == "pks") return parse_enum(knob, value, pks, kSupport);
  if (knob == "cet_ss") return parse_enum(knob, value, cet_ss, kSupport);
  if (knob == "pcid") return parse_enum(knob, value, pcid, kSupport);
  if (knob == "smep") return parse_enum(knob, value, smep, kSupport);
  if (knob == "smap") return parse_enum(knob, value, smap, kSupport);
  if (knob == "pge") return parse_enum(knob, value, pge, kSupport);
  if (knob == "nx") return parse_enum(knob, value, nx, kSupport);
  if (knob == "vendor") return parse_enum(knob, value, vendor, kVendor);
  if (knob == "a_on_fault") return parse_enum(knob, value, a_on_fault, kAOnFault);
  if (knob == "rsvd_sets_p") {
    Support s = Support::kYes;
    PAGESIM_TRY(parse_enum(knob, value, s, kSupport));
    rsvd_fault_p = s == Support::kYes ? RsvdFaultP::kSet : RsvdFaultP::kClear;
    return {};
  }
  if (knob == "pk_on_user_to_supervisor") {
    Support s = Support::kYes;
    PAGESIM_TRY(parse_enum(knob, value, s, kSupport));
    pk_user_to_supervisor =
        s == Support::kYes ? PkUserToSupervisor::kReport : PkUserToSupervisor::kOmit;
    return {};
  }
  if (knob == "tlb_deny_policy") return parse_enum(knob, value, tlb_deny_policy, kDeny);
  if (knob == "gb_leaf_accessed") return parse_enum(knob, value, gb_leaf_accessed, kGbLeafA);
  if (knob == "gbpages_check") return parse_enum(knob, value, gbpages_check, kGbCheck);
  if (knob == "implicit_smap") return parse_enum(knob, value, implicit_smap, kImplicitSmap);
  if (knob == "non_canonical") return parse_enum(knob, value, non_canonical, kNonCanonical);
  if (knob == "ad_update") return parse_enum(knob, value, ad_update, kAdUpdate);
  if (knob == "flush_scope") return parse_enum(knob, value, flush_scope, kFlush);
  if (knob == "unbacked_memory") return parse_enum(knob, value, unbacked, kUnbacked);
  if (knob == "qemu_compat") {
    Support s = Support::kNo;
    PAGESIM_TRY(parse_enum(knob, value, s, kSupport));
    if (s == Support::kYes) apply_qemu_deviations(*this);
    return {};
  }
  if (knob == "name") {
    name = std::string(value);
    return {};
  }
  std::string known;
  for (auto k : kKnobNames) {
    if (!known.empty()) known += ", ";
    known += k;
  }
  return Err{fmt::format("unknown knob '{}' (known: {})", knob, known)};
}

std::vector<std::string> Profile::knob_values() const {
  auto yn = [](Support s) { return s == Support::kYes ? "true" : "false"; };
  return {
      fmt::format("name={}", name),
      fmt::format("maxphyaddr={}", maxphyaddr),
      fmt::format("la57_supported={}", yn(la57)),
      fmt::format("gbpages_supported={}", yn(gbpages)),
      fmt::format("pku={}", yn(pku)),
      fmt::format("pks={}", yn(pks)),
      fmt::format("cet_ss={}", yn(cet_ss)),
      fmt::format("pcid={}", yn(pcid)),
      fmt::format("smep={}", yn(smep)),
      fmt::format("smap={}", yn(smap)),
      fmt::format("pge={}", yn(pge)),
      fmt::format("nx={}", yn(nx)),
      fmt::format("vendor={}", enum_name(vendor, kVendor)),
      fmt::format("a_on_fault={}", enum_name(a_on_fault, kAOnFault)),
      fmt::format("rsvd_sets_p={}", rsvd_fault_p == RsvdFaultP::kSet ? "true" : "false"),
      fmt::format("pk_on_user_to_supervisor={}",
                  pk_user_to_supervisor == PkUserToSupervisor::kReport ? "true" : "false"),
      fmt::format("tlb_deny_policy={}", enum_name(tlb_deny_policy, kDeny)),
      fmt::format("gb_leaf_accessed={}", enum_name(gb_leaf_accessed, kGbLeafA)),
      fmt::format("gbpages_check={}", enum_name(gbpages_check, kGbCheck)),
      fmt::format("implicit_smap={}", enum_name(implicit_smap, kImplicitSmap)),
      fmt::format("non_canonical={}", enum_name(non_canonical, kNonCanonical)),
      fmt::format("ad_update={}", enum_name(ad_update, kAdUpdate)),
      fmt::format("flush_scope={}", enum_name(flush_scope, kFlush)),
      fmt::format("unbacked_memory={}", enum_name(unbacked, kUnbacked)),
  };
}

Result<void, std::string> Profile::validate() const {
  if (maxphyaddr < 32 || maxphyaddr > 52) {
    return Err{fmt::format("profile '{}': maxphyaddr {} is outside 32..52 (M1)", name, maxphyaddr)};
  }
  return {};
}

}  // namespace pagesim::mmu
