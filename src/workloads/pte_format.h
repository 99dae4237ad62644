// Encoding and decoding of single IA-32e paging-structure entries for people: every field named,
// reserved bits flagged with the rule that reserves them (`pagesim pte decode`), and named
// fields turned back into the 64-bit value (`pagesim pte encode`).
//
// The field layout is the spec's (docs/spec/x86-64-paging.md, E1-E5); which bits are reserved
// is not decided here but by the hardware model's own masks (mmu::ReservedMasks, R2-R7), so a
// bit this file flags is exactly a bit the walker faults on. The OS-side encoder
// (src/pagetable/entry.h) is not used: this is a view of the bits, not of a PageProperty.
//
// Round trip (tested): fields_of(encode(f)) == f for every valid PteFields, and
// encode(fields_of(v)) == v for every value v with no bit in a reserved position.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mmu/level.h"
#include "mmu/profile.h"
#include "mmu/reserved_bits.h"
#include "sim/result.h"

namespace pagesim::wl {

// What an entry is, given its level and its PS bit (W7): a reference to the next table or a
// leaf of one of the three page sizes.
enum class EntryForm : u8 { kTable, kPage4K, kPage2M, kPage1G };

// W7: the form of `raw` at `level` (PS decides at levels 2 and 3; a PTE is always a 4 KiB leaf;
// PML5E/PML4E always reference a table, PS being reserved there).
EntryForm entry_form(u64 raw, mmu::Level level);
// "table", "4 KiB page", "2 MiB page", "1 GiB page".
std::string_view entry_form_name(EntryForm f);

// Everything besides the level that decides how the hardware reads an entry.
struct PteContext {
  unsigned maxphyaddr = 46;                  // M1, R2
  mmu::Support nxe = mmu::Support::kYes;     // R4: XD is reserved while EFER.NXE=0
  mmu::Vendor vendor = mmu::Vendor::kIntel;  // R7
  // R6: PDPTE.PS=1 is reserved on a model without 1 GiB pages (kNo) unless the profile ignores
  // that check (QEMU, Q3).
  mmu::Support gbpages = mmu::Support::kYes;
  std::string profile_name = "sdm";
  mmu::RsvdFaultP rsvd_p = mmu::RsvdFaultP::kSet;  // PF1, Q1: whether a reserved-bit fault sets P

  static PteContext from(const mmu::Profile& p, mmu::Support nxe);
};

// How a group of bits is used.
enum class FieldClass : u8 { kFlag, kAddress, kIgnored, kReserved, kKey };

// One field of the layout: bits hi:lo, its name and what it means at this level and form.
struct BitField {
  std::string name;  // "P", "R/W", "U/S", "PWT", "PCD", "A", "D", "PS", "PAT", "G", "ignored",
                     // "address", "frame", "reserved", "PKEY", "XD"
  unsigned lo = 0;
  unsigned hi = 0;
  FieldClass cls = FieldClass::kFlag;
  std::string meaning;

  u64 mask() const {
    return (hi == 63 ? ~u64{0} : ((u64{1} << (hi + 1)) - 1)) & ~((u64{1} << lo) - 1);
  }
};

// E1-E5: the fields of an entry of `level` and `form`, from bit 0 upwards, covering all 64 bits
// exactly once.
std::vector<BitField> entry_layout(mmu::Level level, EntryForm form, const PteContext& ctx);

// The bits of an entry of this level and form that the hardware ignores (E6): software may keep
// anything there.
u64 ignored_mask(mmu::Level level, EntryForm form, const PteContext& ctx);

// The named fields of one entry: what `pte encode` takes and `pte decode` gives back. A struct of
// flags, not parameters (STYLE.md lesson 8 is about parameters).
struct PteFields {
  mmu::Level level = mmu::Level::kPte;
  bool p = false;
  bool rw = false;
  bool us = false;
  bool pwt = false;
  bool pcd = false;
  bool a = false;
  bool d = false;    // leaves only (bit 6)
  bool ps = false;   // PDPTE/PDE only: the entry maps a page
  bool pat = false;  // leaves only: bit 7 of a PTE, bit 12 of a 2 MiB / 1 GiB leaf
  bool g = false;    // leaves only (bit 8)
  bool xd = false;
  u64 addr = 0;     // next-table or frame address, aligned to its size (W4, W5)
  u8 pkey = 0;      // leaves only, bits 62:59
  u64 ignored = 0;  // the ignored bits, in place (see ignored_mask)
  bool operator==(const PteFields&) const = default;
};

// The named fields of `raw` at `level`. Bits in reserved positions belong to no field and are
// dropped (decode() reports them).
PteFields fields_of(u64 raw, mmu::Level level, const PteContext& ctx);

// The 64-bit value of `f`, or a message saying which field is wrong for the level (a D bit in
// a table entry, an address that is not aligned or above MAXPHYADDR, a key above 15, an ignored
// mask with a bit that is not ignored, PS in a PTE or a PML4E).
Result<u64, std::string> encode(const PteFields& f, const PteContext& ctx);

// A reserved bit that is set, with the rule that reserves it.
struct ReservedHit {
  unsigned bit = 0;
  mmu::ReservedRule rule = mmu::ReservedRule::kNone;
};

struct DecodedEntry {
  u64 raw = 0;
  mmu::Level level = mmu::Level::kPte;
  EntryForm form = EntryForm::kPage4K;
  PteContext ctx;
  PteFields fields;
  std::vector<BitField> layout;
  u64 reserved_mask = 0;  // the hardware's reserved mask for this entry (R2-R7)
  u64 reserved_set = 0;   // raw & reserved_mask
  // The rule a walk would report (ReservedMasks::classify over every set bit), kNone if none.
  mmu::ReservedRule first_rule = mmu::ReservedRule::kNone;
  std::vector<ReservedHit> hits;  // every reserved bit that is set, low to high
  bool present() const { return (raw & 1) != 0; }
};

DecodedEntry decode(u64 raw, mmu::Level level, const PteContext& ctx);

// "PML5", "PML4", "PDPT", "PD", "PT": the table a level's entries live in (W2).
std::string_view table_name(mmu::Level level);
// The short id of a reserved rule: "R2" ... "R7".
std::string_view reserved_rule_id(mmu::ReservedRule r);

// "P RW US A D | 4 KiB page frame 0x1234567000 | key 3 | XD": one line.
std::string summarize(const DecodedEntry& d);
// The field table of `pte decode --level N`.
std::string format_decoded(const DecodedEntry& d);
// `pte decode` without --level: one line per level.
std::string format_every_level(u64 raw, const PteContext& ctx);
// The JSON object of one decoded entry.
std::string decoded_json(const DecodedEntry& d);
// The `pagesim pte encode` command line that gives `f` back.
std::string encode_command(const PteFields& f, const PteContext& ctx);

}  // namespace pagesim::wl
