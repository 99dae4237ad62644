#include "pagetable/page_property.h"

namespace pagesim::pt {

std::string to_string(CachePolicy c) {
  switch (c) {
    case CachePolicy::Writeback:
      return "WB";
    case CachePolicy::Writethrough:
      return "WT";
    case CachePolicy::Uncacheable:
      return "UC";
    case CachePolicy::WriteCombining:
      return "WC";
    case CachePolicy::WriteProtected:
      return "WP";
  }
  return "?";
}

std::string to_string(const PageProperty& p) {
  auto bit = [](bool on, char c) { return on ? c : '-'; };
  std::string s;
  s += bit(p.flags.contains(PageFlag::R), 'r');
  s += bit(p.flags.contains(PageFlag::W), 'w');
  s += bit(p.flags.contains(PageFlag::X), 'x');
  s += ' ';
  s += bit(p.flags.contains(PageFlag::ACCESSED), 'A');
  s += bit(p.flags.contains(PageFlag::DIRTY), 'D');
  s += ' ';
  s += p.priv_flags.contains(PrivFlag::USER) ? "user" : "kernel";
  if (p.priv_flags.contains(PrivFlag::GLOBAL)) s += " global";
  s += ' ';
  s += to_string(p.cache);
  return s;
}

}  // namespace pagesim::pt
