#include "workloads/pte_format.h"

#include <fmt/format.h>

#include "mmu/entry_bits.h"
#include "mmu/memory_type.h"
#include "sim/cpu_state.h"
#include "workloads/json_out.h"

namespace pagesim::wl {

namespace {

using mmu::Level;

bool is_top(Level l) { return l == Level::kPml4e || l == Level::kPml5e; }

bool is_leaf(EntryForm f) { return f != EntryForm::kTable; }

// W4, W5: the alignment of the address an entry of this form holds.
u64 form_alignment(EntryForm f) {
  switch (f) {
    case EntryForm::kPage2M:
      return mmu::page_bytes(mmu::PageSize::k2M);
    case EntryForm::kPage1G:
      return mmu::page_bytes(mmu::PageSize::k1G);
    default:
      return mmu::page_bytes(mmu::PageSize::k4K);
  }
}

u64 address_field_mask(EntryForm f, unsigned maxphyaddr) {
  return mmu::entry::address_mask(maxphyaddr) & ~(form_alignment(f) - 1);
}

mmu::PageSize leaf_size(EntryForm f) {
  switch (f) {
    case EntryForm::kPage2M:
      return mmu::PageSize::k2M;
    case EntryForm::kPage1G:
      return mmu::PageSize::k1G;
    default:
      return mmu::PageSize::k4K;
  }
}

std::string bits_text(unsigned hi, unsigned lo) {
  return hi == lo ? fmt::format("{}", lo) : fmt::format("{}:{}", hi, lo);
}

// The bit numbers set in `mask`, as "13, 14, 20" (or "bits 13-20" when contiguous).
std::string bit_list(u64 mask) {
  std::string out;
  unsigned bit = 0;
  while (bit < 64) {
    if (!((mask >> bit) & 1)) {
      ++bit;
      continue;
    }
    unsigned end = bit;
    while (end + 1 < 64 && ((mask >> (end + 1)) & 1)) ++end;
    if (!out.empty()) out += ", ";
    out += end == bit ? fmt::format("{}", bit) : fmt::format("{}-{}", bit, end);
    bit = end + 1;
  }
  return out;
}

// The reserved mask the walker applies to an entry of this level and form (mirrors the
// walker's choice of mask; the masks themselves are the hardware model's).
u64 reserved_mask_for(Level level, EntryForm form, const PteContext& ctx) {
  const mmu::ReservedMasks m = mmu::ReservedMasks::make(ctx.maxphyaddr, ctx.nxe, ctx.vendor);
  if (is_top(level)) return m.top;  // R3, R7
  if (form == EntryForm::kPage1G) {
    return ctx.gbpages == mmu::Support::kYes ? m.leaf_1g : m.pdpte_ps_unsupported;  // R5, R6
  }
  if (form == EntryForm::kPage2M) return m.leaf_2m;  // R5
  return m.base;                                     // R2, R4
}

std::string flag_names(const PteFields& f) {
  std::string s;
  auto add = [&s](bool on, std::string_view name) {
    if (!on) return;
    if (!s.empty()) s += ' ';
    s += name;
  };
  add(f.p, "P");
  add(f.rw, "RW");
  add(f.us, "US");
  add(f.pwt, "PWT");
  add(f.pcd, "PCD");
  add(f.a, "A");
  add(f.d, "D");
  add(f.ps, "PS");
  add(f.g, "G");
  add(f.pat, "PAT");
  add(f.xd, "XD");
  return s.empty() ? "-" : s;
}

}  // namespace

EntryForm entry_form(u64 raw, Level level) {
  switch (level) {
    case Level::kPte:
      return EntryForm::kPage4K;
    case Level::kPde:
      return (raw & mmu::entry::kPs) ? EntryForm::kPage2M : EntryForm::kTable;
    case Level::kPdpte:
      return (raw & mmu::entry::kPs) ? EntryForm::kPage1G : EntryForm::kTable;
    default:
      return EntryForm::kTable;
  }
}

std::string_view entry_form_name(EntryForm f) {
  switch (f) {
    case EntryForm::kTable:
      return "table";
    case EntryForm::kPage4K:
      return "4 KiB page";
    case EntryForm::kPage2M:
      return "2 MiB page";
    case EntryForm::kPage1G:
      return "1 GiB page";
  }
  return "?";
}

PteContext PteContext::from(const mmu::Profile& p, mmu::Support nxe) {
  PteContext c;
  c.maxphyaddr = p.maxphyaddr;
  c.nxe = nxe;
  c.vendor = p.vendor;
  c.gbpages = (p.gbpages == mmu::Support::kNo && p.gbpages_check == mmu::GbPagesCheck::kEnforce)
                  ? mmu::Support::kNo
                  : mmu::Support::kYes;
  c.profile_name = p.name;
  c.rsvd_p = p.rsvd_fault_p;
  return c;
}

std::string_view table_name(Level level) {
  switch (level) {
    case Level::kPml5e:
      return "PML5";
    case Level::kPml4e:
      return "PML4";
    case Level::kPdpte:
      return "PDPT";
    case Level::kPde:
      return "PD";
    case Level::kPte:
      return "PT";
  }
  return "?";
}

std::string_view reserved_rule_id(mmu::ReservedRule r) {
  switch (r) {
    case mmu::ReservedRule::kNone:
      return "-";
    case mmu::ReservedRule::kR2AboveMaxPhyAddr:
      return "R2";
    case mmu::ReservedRule::kR3PsInTopLevel:
      return "R3";
    case mmu::ReservedRule::kR4XdWithoutNxe:
      return "R4";
    case mmu::ReservedRule::kR5LargePageAlignment:
      return "R5";
    case mmu::ReservedRule::kR6PsWithoutGbPages:
      return "R6";
    case mmu::ReservedRule::kR7AmdBit8:
      return "R7";
  }
  return "?";
}

std::vector<BitField> entry_layout(Level level, EntryForm form, const PteContext& ctx) {
  const unsigned m = ctx.maxphyaddr;
  const bool leaf = is_leaf(form);
  const bool top = is_top(level);
  std::vector<BitField> out;
  auto add = [&out](std::string name, unsigned lo, unsigned hi, FieldClass cls,
                    std::string meaning) {
    out.push_back(BitField{std::move(name), lo, hi, cls, std::move(meaning)});
  };
  // E1-E5, bit by bit.
  add("P", 0, 0, FieldClass::kFlag, "present (F1: P=0 ends the walk)");
  add("R/W", 1, 1, FieldClass::kFlag, "writes allowed, if every level allows them (D3)");
  add("U/S", 2, 2, FieldClass::kFlag,
      "user-mode accesses allowed, if every level allows them (D3)");
  add("PWT", 3, 3, FieldClass::kFlag,
      leaf ? "write-through: PAT index bit 0 (MT1)" : "write-through for the next table (MT3)");
  add("PCD", 4, 4, FieldClass::kFlag,
      leaf ? "cache disable: PAT index bit 1 (MT1)" : "cache disable for the next table (MT3)");
  add("A", 5, 5, FieldClass::kFlag, "accessed: set by the walker (AD1)");
  if (leaf) {
    add("D", 6, 6, FieldClass::kFlag, "dirty: set by the walker on a write (AD2)");
  } else {
    add("ignored", 6, 6, FieldClass::kIgnored, "ignored above a leaf (E1, E2)");
  }
  if (form == EntryForm::kPage4K) {
    add("PAT", 7, 7, FieldClass::kFlag, "PAT index bit 2 (MT1)");
  } else if (leaf) {
    add("PS", 7, 7, FieldClass::kFlag,
        fmt::format("page size: 1 = this entry maps a {} (W7)", entry_form_name(form)));
  } else if (top) {
    add("PS", 7, 7, FieldClass::kReserved, "must be 0 in a PML5E/PML4E (R3)");
  } else {
    add("PS", 7, 7, FieldClass::kFlag, "page size: 0 = this entry references a table (W7)");
  }
  if (leaf) {
    add("G", 8, 8, FieldClass::kFlag, "global: kept across CR3 loads when CR4.PGE=1 (T2)");
  } else if (top && ctx.vendor == mmu::Vendor::kAmd) {
    add("reserved", 8, 8, FieldClass::kReserved, "must be 0 on AMD (R7)");
  } else {
    add("ignored", 8, 8, FieldClass::kIgnored,
        top ? "ignored on Intel (must be 0 on AMD, R7)" : "ignored above a leaf (E2)");
  }
  add("ignored", 9, 11, FieldClass::kIgnored, "available to software (E6)");
  unsigned addr_lo = 12;
  if (form == EntryForm::kPage2M || form == EntryForm::kPage1G) {
    add("PAT", 12, 12, FieldClass::kFlag, "PAT index bit 2 (MT1)");
    addr_lo = form == EntryForm::kPage2M ? 21 : 30;
    add("reserved", 13, addr_lo - 1, FieldClass::kReserved,
        fmt::format("must be 0: the frame of a {} is aligned to its size (R5)",
                    entry_form_name(form)));
  }
  if (leaf) {
    add("frame", addr_lo, m - 1, FieldClass::kAddress, "physical address of the page (W5)");
  } else {
    add("address", addr_lo, m - 1, FieldClass::kAddress, "physical address of the next table (W4)");
  }
  if (m < 52) {
    add("reserved", m, 51, FieldClass::kReserved, fmt::format("above MAXPHYADDR {} (R2)", m));
  }
  if (leaf) {
    add("ignored", 52, 58, FieldClass::kIgnored, "available to software (E6)");
    add("PKEY", 59, 62, FieldClass::kKey, "protection key, used when CR4.PKE/PKS=1 (PK1)");
  } else {
    add("ignored", 52, 62, FieldClass::kIgnored,
        "available to software; no key above a leaf (PK1)");
  }
  add("XD", 63, 63, FieldClass::kFlag,
      ctx.nxe == mmu::Support::kYes ? "execute-disable (D3)"
                                    : "execute-disable; reserved while EFER.NXE=0 (R4)");
  return out;
}

u64 ignored_mask(Level level, EntryForm form, const PteContext& ctx) {
  u64 mask = 0;
  for (const BitField& f : entry_layout(level, form, ctx)) {
    if (f.cls == FieldClass::kIgnored) mask |= f.mask();
  }
  return mask;
}

PteFields fields_of(u64 raw, Level level, const PteContext& ctx) {
  namespace e = mmu::entry;
  const EntryForm form = entry_form(raw, level);
  PteFields f;
  f.level = level;
  f.p = raw & e::kP;
  f.rw = raw & e::kRw;
  f.us = raw & e::kUs;
  f.pwt = raw & e::kPwt;
  f.pcd = raw & e::kPcd;
  f.a = raw & e::kA;
  if (is_leaf(form)) {
    f.d = raw & e::kD;
    f.g = raw & e::kG;
    f.pkey = static_cast<u8>(e::pkey(raw));
  }
  if (form == EntryForm::kPage4K) f.pat = raw & e::kPatPte;
  if (form == EntryForm::kPage2M || form == EntryForm::kPage1G) {
    f.ps = true;
    f.pat = raw & e::kPatLarge;
  }
  f.xd = raw & e::kXd;
  f.addr = raw & address_field_mask(form, ctx.maxphyaddr);
  f.ignored = raw & ignored_mask(level, form, ctx);
  return f;
}

Result<u64, std::string> encode(const PteFields& f, const PteContext& ctx) {
  namespace e = mmu::entry;
  const Level level = f.level;
  const std::string_view entry = mmu::level_name(level);
  if (level == Level::kPte && f.ps) {
    return Err(
        std::string("bit 7 of a PTE is PAT, not PS (E5): a PTE always maps a 4 KiB page; "
                    "use --pat for bit 7"));
  }
  if (is_top(level) && f.ps) {
    return Err(fmt::format("PS is reserved in a {} (R3): it always references a table", entry));
  }
  EntryForm form = EntryForm::kTable;
  if (level == Level::kPte) form = EntryForm::kPage4K;
  if (level == Level::kPde && f.ps) form = EntryForm::kPage2M;
  if (level == Level::kPdpte && f.ps) form = EntryForm::kPage1G;
  if (!is_leaf(form)) {
    auto leaf_only = [&](std::string_view field, u64 bit) {
      return Err(fmt::format(
          "{} exists only in an entry that maps a page; in a {} that references a table bit {} "
          "is ignored (E1, E2){}",
          field, entry, bit,
          (ignored_mask(level, form, ctx) >> bit) & 1
              ? fmt::format(": to store it anyway, use --ignored {:#x}", u64{1} << bit)
              : ""));
    };
    if (f.d) return leaf_only("D (dirty)", 6);
    if (f.g) return leaf_only("G (global)", 8);
    if (f.pat) return leaf_only("PAT", 7);
    if (f.pkey) {
      return Err(fmt::format(
          "a protection key exists only in an entry that maps a page (PK1); bits 62:59 of a {} "
          "that references a table are ignored: use --ignored to store them",
          entry));
    }
  }
  if (f.pkey > 15) return Err(fmt::format("--pkey must be 0 to 15, not {}", f.pkey));
  const u64 align = form_alignment(form);
  if (f.addr & (align - 1)) {
    return Err(form == EntryForm::kTable
                   ? fmt::format("--addr {:#x} is not 4 KiB-aligned: a {} that references a "
                                 "table holds the table's 4 KiB-aligned address (W4)",
                                 f.addr, entry)
                   : fmt::format("--addr {:#x} is not aligned to {:#x}: a {} that maps a {} "
                                 "holds a frame aligned to the page size (W5, R5)",
                                 f.addr, align, entry, entry_form_name(form)));
  }
  if (f.addr >> ctx.maxphyaddr) {
    return Err(fmt::format("--addr {:#x} is above MAXPHYADDR {} (bits {}:{} are reserved, R2)",
                           f.addr, ctx.maxphyaddr, 51, ctx.maxphyaddr));
  }
  const u64 ign = ignored_mask(level, form, ctx);
  if (f.ignored & ~ign) {
    const u64 bad = f.ignored & ~ign;
    unsigned bit = 0;
    while (!((bad >> bit) & 1)) ++bit;
    std::string what;
    for (const BitField& b : entry_layout(level, form, ctx)) {
      if (b.lo <= bit && bit <= b.hi) what = b.name;
    }
    return Err(fmt::format(
        "--ignored {:#x} sets bit {}, which is not ignored in a {} that {} (it is {}); the "
        "ignored bits there are {}",
        f.ignored, bit, entry,
        form == EntryForm::kTable ? "references a table"
                                  : fmt::format("maps a {}", entry_form_name(form)),
        what, bit_list(ign)));
  }
  u64 v = f.addr | f.ignored | (u64{f.pkey} << e::kPkeyShift);
  if (f.p) v |= e::kP;
  if (f.rw) v |= e::kRw;
  if (f.us) v |= e::kUs;
  if (f.pwt) v |= e::kPwt;
  if (f.pcd) v |= e::kPcd;
  if (f.a) v |= e::kA;
  if (f.d) v |= e::kD;
  if (f.ps) v |= e::kPs;
  if (f.g) v |= e::kG;
  if (f.pat) v |= form == EntryForm::kPage4K ? e::kPatPte : e::kPatLarge;
  if (f.xd) v |= e::kXd;
  return v;
}

DecodedEntry decode(u64 raw, Level level, const PteContext& ctx) {
  DecodedEntry d;
  d.raw = raw;
  d.level = level;
  d.form = entry_form(raw, level);
  d.ctx = ctx;
  d.fields = fields_of(raw, level, ctx);
  d.layout = entry_layout(level, d.form, ctx);
  d.reserved_mask = reserved_mask_for(level, d.form, ctx);
  d.reserved_set = raw & d.reserved_mask;
  const mmu::ReservedMasks m = mmu::ReservedMasks::make(ctx.maxphyaddr, ctx.nxe, ctx.vendor);
  d.first_rule = m.classify(d.reserved_set, level, leaf_size(d.form));
  for (unsigned bit = 0; bit < 64; ++bit) {
    const u64 b = u64{1} << bit;
    if (d.reserved_set & b) d.hits.push_back({bit, m.classify(b, level, leaf_size(d.form))});
  }
  return d;
}

std::string summarize(const DecodedEntry& d) {
  if (!d.present()) return fmt::format("not present (P=0; the other bits are not looked at, R1)");
  std::string s = flag_names(d.fields);
  // PS of a PML5E/PML4E is in no field (it is reserved there, R3) but worth showing.
  if (!is_leaf(d.form) && (d.raw & mmu::entry::kPs)) s += " PS";
  if (is_leaf(d.form)) {
    s += fmt::format(" | frame {:#x}", d.fields.addr);
    if (d.fields.pkey) s += fmt::format(" | key {}", d.fields.pkey);
  } else {
    s += fmt::format(" | table {:#x}", d.fields.addr);
  }
  if (d.fields.ignored) s += fmt::format(" | ignored bits {:#x}", d.fields.ignored);
  return s;
}

std::string format_decoded(const DecodedEntry& d) {
  const PteContext& c = d.ctx;
  std::string o;
  o += fmt::format("{:#018x} as a {} (level {}): ", d.raw, mmu::level_name(d.level),
                   mmu::level_number(d.level));
  if (d.form == EntryForm::kTable) {
    o += d.level == Level::kPde || d.level == Level::kPdpte ? "references a page table (PS=0, E2)\n"
                                                            : "references a table (E1)\n";
  } else if (d.form == EntryForm::kPage4K) {
    o += "maps a 4 KiB page (E5)\n";
  } else {
    o += fmt::format("maps a {} (PS=1, {})\n", entry_form_name(d.form),
                     d.form == EntryForm::kPage2M ? "E4" : "E3");
  }
  o += fmt::format("MAXPHYADDR {}, profile {}, EFER.NXE={}\n", c.maxphyaddr, c.profile_name,
                   c.nxe == mmu::Support::kYes ? 1 : 0);
  if (!d.present()) {
    o += "P=0: not present. A walk stops here with a not-present page fault (F1) and looks at "
         "no other bit (R1);\nsoftware may keep anything in them. As they would read with P=1:\n";
  }
  o += "\n";
  o += fmt::format("  {:<6} {:<9} {:<20} {}\n", "bits", "field", "value", "meaning");
  for (const BitField& f : d.layout) {
    const u64 in_place = d.raw & f.mask();
    std::string value;
    if (f.cls == FieldClass::kKey) {
      value = fmt::format("{}", in_place >> f.lo);
    } else if (f.lo == f.hi) {
      value = fmt::format("{}", in_place ? 1 : 0);
    } else {
      value = fmt::format("{:#x}", in_place);
    }
    std::string line =
        fmt::format("  {:<6} {:<9} {:<20} {}", bits_text(f.hi, f.lo), f.name, value, f.meaning);
    const u64 set_here = d.reserved_set & f.mask();
    if (set_here) {
      line += fmt::format("  << RESERVED BIT{} SET", (set_here & (set_here - 1)) ? "S" : "");
    }
    o += line + "\n";
  }
  o += "\n";
  if (d.reserved_set == 0) {
    o += "No reserved bit is set.\n";
  } else {
    o += fmt::format("Reserved bits set: {:#x} (bit{} {}):", d.reserved_set,
                     d.hits.size() > 1 ? "s" : "", bit_list(d.reserved_set));
    // One clause per rule, in the order a walk names them.
    std::string rules;
    for (const ReservedHit& h : d.hits) {
      const std::string id(reserved_rule_id(h.rule));
      if (rules.find(id) == std::string::npos) {
        if (!rules.empty()) rules += ";";
        rules += fmt::format(" {}", mmu::reserved_rule_name(h.rule));
      }
    }
    o += rules + ".\n";
    if (d.present()) {
      o += fmt::format(
          "A walk through this entry ends with a reserved-bit page fault (F2): "
          "RSVD=1{} in the error code (PF1, PF4), rule {}.\n",
          c.rsvd_p == mmu::RsvdFaultP::kSet ? " and P=1" : " and P=0 (this profile, Q1)",
          reserved_rule_id(d.first_rule));
    } else {
      o += "They are not checked while P=0 (R1).\n";
    }
  }
  if (is_leaf(d.form)) {
    const unsigned pat = mmu::entry::leaf_pat_index(d.raw, leaf_size(d.form));
    o += fmt::format(
        "This entry allows: {}, {}, {} (a walk ANDs R/W and U/S and ORs XD over every level, "
        "D3).\n",
        d.fields.us ? "user and supervisor" : "supervisor only",
        d.fields.rw ? "read and write" : "read only", d.fields.xd ? "no execute" : "execute");
    o += fmt::format(
        "PAT index {} = 4*PAT + 2*PCD + PWT (MT1): {} with the power-on IA32_PAT "
        "(MT2); protection key {}.\n",
        pat, mmu::memory_type_name(mmu::pat_type(reg::kPatPowerOn, pat)), d.fields.pkey);
  }
  if (d.reserved_set == 0) o += fmt::format("Encode: {}\n", encode_command(d.fields, c));
  return o;
}

std::string format_every_level(u64 raw, const PteContext& ctx) {
  std::string o =
      fmt::format("{:#018x} at each level (MAXPHYADDR {}, profile {}, EFER.NXE={}):\n", raw,
                  ctx.maxphyaddr, ctx.profile_name, ctx.nxe == mmu::Support::kYes ? 1 : 0);
  for (int n = 1; n <= mmu::kMaxLevels; ++n) {
    const Level l = mmu::level_from_number(n);
    const DecodedEntry d = decode(raw, l, ctx);
    std::string line = fmt::format("  {:<5} (level {})  {:<10}  {}", mmu::level_name(l), n,
                                   d.present() ? entry_form_name(d.form) : "-", summarize(d));
    if (d.reserved_set && d.present()) {
      line += fmt::format("  RESERVED bits {:#x} set ({})", d.reserved_set,
                          reserved_rule_id(d.first_rule));
    }
    o += line + "\n";
  }
  o += "Give --level N to see every field of one level.\n";
  return o;
}

std::string decoded_json(const DecodedEntry& d) {
  const PteFields& f = d.fields;
  std::string o = "{";
  o += fmt::format("\"value\": {}, \"level\": {}, \"entry\": {}, \"form\": {}, ", jsonw::hex(d.raw),
                   mmu::level_number(d.level), jsonw::str(mmu::level_name(d.level)),
                   jsonw::str(entry_form_name(d.form)));
  o += fmt::format("\"maxphyaddr\": {}, \"profile\": {}, \"nxe\": {}, \"present\": {}, ",
                   d.ctx.maxphyaddr, jsonw::str(d.ctx.profile_name),
                   jsonw::boolean(d.ctx.nxe == mmu::Support::kYes), jsonw::boolean(d.present()));
  o += "\"fields\": {";
  o += fmt::format("\"p\": {}, \"rw\": {}, \"us\": {}, \"pwt\": {}, \"pcd\": {}, \"a\": {}",
                   f.p ? 1 : 0, f.rw ? 1 : 0, f.us ? 1 : 0, f.pwt ? 1 : 0, f.pcd ? 1 : 0,
                   f.a ? 1 : 0);
  if (is_leaf(d.form)) o += fmt::format(", \"d\": {}", f.d ? 1 : 0);
  if (d.level == Level::kPde || d.level == Level::kPdpte)
    o += fmt::format(", \"ps\": {}", f.ps ? 1 : 0);
  if (is_leaf(d.form)) {
    o += fmt::format(", \"g\": {}, \"pat\": {}, \"pkey\": {}", f.g ? 1 : 0, f.pat ? 1 : 0, f.pkey);
  }
  o += fmt::format(", \"xd\": {}, \"addr\": {}, \"ignored\": {}}}, ", f.xd ? 1 : 0,
                   jsonw::hex(f.addr), jsonw::hex(f.ignored));
  o += "\"layout\": [";
  for (size_t i = 0; i < d.layout.size(); ++i) {
    const BitField& b = d.layout[i];
    o += fmt::format("{}{{\"lo\": {}, \"hi\": {}, \"name\": {}, \"value\": {}, \"meaning\": {}}}",
                     i ? ", " : "", b.lo, b.hi, jsonw::str(b.name), jsonw::hex(d.raw & b.mask()),
                     jsonw::str(b.meaning));
  }
  o += "], ";
  o += fmt::format("\"reserved_mask\": {}, \"reserved_set\": {}, \"reserved\": [",
                   jsonw::hex(d.reserved_mask), jsonw::hex(d.reserved_set));
  for (size_t i = 0; i < d.hits.size(); ++i) {
    o += fmt::format("{}{{\"bit\": {}, \"rule\": {}}}", i ? ", " : "", d.hits[i].bit,
                     jsonw::str(reserved_rule_id(d.hits[i].rule)));
  }
  o += "]}";
  return o;
}

std::string encode_command(const PteFields& f, const PteContext& ctx) {
  std::string s = fmt::format("pagesim pte encode --level {}", mmu::level_number(f.level));
  if (ctx.maxphyaddr != 46) s += fmt::format(" --maxphyaddr {}", ctx.maxphyaddr);
  if (ctx.profile_name != "sdm") s += fmt::format(" --profile {}", ctx.profile_name);
  auto flag = [&s](bool on, std::string_view name) {
    if (on) s += fmt::format(" --{}", name);
  };
  flag(f.ps, "ps");
  if (f.addr) s += fmt::format(" --addr {:#x}", f.addr);
  flag(f.p, "p");
  flag(f.rw, "rw");
  flag(f.us, "us");
  flag(f.pwt, "pwt");
  flag(f.pcd, "pcd");
  flag(f.a, "a");
  flag(f.d, "d");
  flag(f.g, "g");
  flag(f.pat, "pat");
  if (f.pkey) s += fmt::format(" --pkey {}", f.pkey);
  if (f.ignored) s += fmt::format(" --ignored {:#x}", f.ignored);
  flag(f.xd, "xd");
  return s;
}

}  // namespace pagesim::wl
