#include "mmu/entry_bits.h"

#include <fmt/format.h>

namespace pagesim::mmu::entry {

namespace {

bool is_top_level(Level l) { return l == Level::kPml4e || l == Level::kPml5e; }

bool large_leaf(Level level, EntryRole role) {
  return role == EntryRole::kLeaf && (level == Level::kPde || level == Level::kPdpte);
}

}  // namespace

std::string bit_name(unsigned bit, Level level, EntryRole role, unsigned maxphyaddr) {
  const bool unknown = role == EntryRole::kUnknown;
  const bool leaf = role == EntryRole::kLeaf;
  switch (bit) {
    case 0:
      return "P (present)";
    case 1:
      return "R/W (writable)";
    case 2:
      return "U/S (user)";
    case 3:
      return "PWT (write-through)";
    case 4:
      return "PCD (cache disable)";
    case 5:
      return "A (accessed)";
    case 6:
      if (unknown) return "D (dirty in a leaf; ignored in a non-leaf entry)";
      return leaf ? "D (dirty)" : "ignored (bit 6 of a non-leaf entry)";
    case 7:
      if (unknown) return "PS (page size; PAT in a PTE)";
      if (level == Level::kPte) return "PAT (PTE)";
      if (is_top_level(level)) return "PS (reserved in a PML5E/PML4E, R3)";
      return "PS (page size)";
    case 8:
      if (unknown) return "G (global in a leaf; ignored or AMD-reserved otherwise)";
      if (leaf) return "G (global)";
      if (is_top_level(level)) return "ignored (must be zero on AMD, R7)";
      return "ignored";
    case 9:
    case 10:
    case 11:
      return "ignored";
    case 63:
      return "XD (execute-disable)";
    default:
      break;
  }
  if (bit == 12 && (unknown || large_leaf(level, role))) {
    if (unknown) return "address bit 12 (PAT in a 2 MiB / 1 GiB leaf)";
    return "PAT (large leaf)";
  }
  if (bit >= 12 && bit < maxphyaddr) {
    if (large_leaf(level, role)) {
      const PageSize s = page_size_of_leaf(level);
      if (bit < page_shift(s))
        return fmt::format("reserved (large-page alignment, R5), bit {}", bit);
    }
    return fmt::format("address bit {}", bit);
  }
  if (bit >= maxphyaddr && bit <= 51) {
    return fmt::format("reserved above MAXPHYADDR={} (R2), bit {}", maxphyaddr, bit);
  }
  if (bit >= 59 && bit <= 62) {
    if (unknown) return fmt::format("protection-key bit {} (leaf; ignored otherwise)", bit - 59);
    if (leaf) return fmt::format("protection-key bit {}", bit - 59);
    return "ignored";
  }
  return "ignored";
}

std::string describe(u64 e, Level level, EntryRole role, unsigned maxphyaddr) {
  if (!(e & kP)) return fmt::format("{:#018x} not present", e);
  std::string flags;
  auto add = [&flags](const char* name) {
    if (!flags.empty()) flags += ' ';
    flags += name;
  };
  add("P");
  if (e & kRw) add("RW");
  if (e & kUs) add("US");
  if (e & kPwt) add("PWT");
  if (e & kPcd) add("PCD");
  if (e & kA) add("A");
  const bool leaf = role == EntryRole::kLeaf;
  if ((e & kD) && leaf) add("D");
  if (e & kPs) add(level == Level::kPte ? "PAT" : "PS");
  if ((e & kG) && leaf) add("G");
  if ((e & kPatLarge) && leaf && level != Level::kPte) add("PAT");
  if (e & kXd) add("XD");
  u64 addr = e & address_mask(maxphyaddr);
  if (leaf && level != Level::kPte) addr = leaf_frame(e, page_size_of_leaf(level), maxphyaddr);
  std::string out = fmt::format("{:#018x} {} | {} {:#x}", e, flags, leaf ? "frame" : "table", addr);
  if (leaf && pkey(e) != 0) out += fmt::format(" | key {}", pkey(e));
  return out;
}

}  // namespace pagesim::mmu::entry
