#include "workloads/replay_stats.h"

#include <fmt/format.h>

#include "workloads/number.h"

namespace pagesim::wl {

std::string_view op_kind_name(OpKind k) {
  static constexpr std::array<std::string_view, kNrOpKinds> kNames = {
      "space",  "barrier", "map",    "map_pa",  "unmap",       "protect", "access",
      "switch", "flush",   "invlpg", "invpcid", "cr0",         "cr4",     "efer",
      "pkru",   "pkrs",    "cpl",    "ac",      "expect-entry"};
  return kNames[static_cast<size_t>(k)];
}

u64 ReplayStats::total_ops() const {
  u64 n = 0;
  for (const auto& c : cpus) {
    for (u64 v : c.ops) n += v;
  }
  return n;
}

namespace {
std::string esc(std::string_view s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      o += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      o += c;
    }
  }
  return o;
}
}  // namespace

std::string ReplayStats::table(std::string_view verdict) const {
  std::string s;
  s += fmt::format("{}: {}\n", file, verdict);
  s += fmt::format(
      "  machine: {}-level paging, {} RAM, {} CPU{}, TLB {}, profile {}, "
      "shootdowns {}\n",
      machine.levels, format_size(machine.ram), machine.cpus, machine.cpus == 1 ? "" : "s",
      machine.tlb, machine.profile, machine.shootdown ? "on" : "off");
  const double ops = static_cast<double>(total_ops());
  s += fmt::format(
      "  {} lines, {} operations in {:.3f} s ({:.2f} M ops/s); frames in use: peak "
      "{}, at end {}\n",
      lines, total_ops(), seconds, seconds > 0 ? ops / seconds / 1e6 : 0.0, peak_frames_in_use,
      frames_in_use_at_end);
  s += fmt::format("  {:>4} {:>10} {:>10} {:>8} {:>8} {:>10} {:>10} {:>9} {:>9} {:>11} {:>9}\n",
                   "cpu", "ops", "accesses", "faults", "mapped", "L1 hits", "L2 hits", "walks",
                   "entry rd", "shootdowns", "mismatch");
  CpuReplayStats tot;
  auto row = [&](std::string_view name, const CpuReplayStats& c) {
    u64 o = 0;
    for (u64 v : c.ops) o += v;
    u64 reads = 0;
    for (u64 v : c.walker.entry_reads) reads += v;
    s += fmt::format(
        "  {:>4} {:>10} {:>10} {:>8} {:>8} {:>10} {:>10} {:>9} {:>9} {:>5}/{:<5} "
        "{:>9}\n",
        name, o, c.reads + c.writes + c.fetches, c.faults + c.non_canonical, c.pages_mapped,
        c.mmu.l1_hits, c.mmu.l2_hits, c.mmu.psc_walks + c.mmu.full_walks, reads, c.shootdowns_sent,
        c.shootdowns_received, c.mismatches);
  };
  for (const auto& c : cpus) {
    row(fmt::format("{}", c.cpu), c);
    for (size_t i = 0; i < kNrOpKinds; ++i) tot.ops[i] += c.ops[i];
    tot.reads += c.reads;
    tot.writes += c.writes;
    tot.fetches += c.fetches;
    tot.faults += c.faults;
    tot.non_canonical += c.non_canonical;
    tot.pages_mapped += c.pages_mapped;
    tot.mmu.l1_hits += c.mmu.l1_hits;
    tot.mmu.l2_hits += c.mmu.l2_hits;
    tot.mmu.psc_walks += c.mmu.psc_walks;
    tot.mmu.full_walks += c.mmu.full_walks;
    for (size_t i = 0; i < c.walker.entry_reads.size(); ++i) {
      tot.walker.entry_reads[i] += c.walker.entry_reads[i];
    }
    tot.shootdowns_sent += c.shootdowns_sent;
    tot.shootdowns_received += c.shootdowns_received;
    tot.mismatches += c.mismatches;
    tot.entries_checked += c.entries_checked;
    tot.pins_checked += c.pins_checked;
  }
  if (cpus.size() > 1) row("all", tot);
  s += fmt::format("  checked: {} accesses, {} leaf entries, {} pins\n",
                   tot.reads + tot.writes + tot.fetches, tot.entries_checked, tot.pins_checked);
  return s;
}

std::string ReplayStats::json(std::string_view verdict, u64 mismatches) const {
  std::string s = "{";
  s += fmt::format("\"file\": \"{}\", \"verdict\": \"{}\", \"mismatches\": {}, ", esc(file),
                   verdict, mismatches);
  s += fmt::format(
      "\"machine\": {{\"levels\": {}, \"ram\": {}, \"cpus\": {}, \"tlb\": \"{}\", "
      "\"profile\": \"{}\", \"maxphyaddr\": {}, \"shootdown\": {}}}, ",
      machine.levels, machine.ram, machine.cpus, esc(machine.tlb), esc(machine.profile),
      machine.maxphyaddr, machine.shootdown);
  s += fmt::format(
      "\"lines\": {}, \"seconds\": {:.6f}, \"peak_frames_in_use\": {}, "
      "\"frames_in_use_at_end\": {}, ",
      lines, seconds, peak_frames_in_use, frames_in_use_at_end);
  std::array<u64, kNrOpKinds> ops{};
  for (const auto& c : cpus) {
    for (size_t i = 0; i < kNrOpKinds; ++i) ops[i] += c.ops[i];
  }
  s += "\"operations\": {";
  for (size_t i = 0; i < kNrOpKinds; ++i) {
    s += fmt::format("{}\"{}\": {}", i == 0 ? "" : ", ", op_kind_name(static_cast<OpKind>(i)),
                     ops[i]);
  }
  s += "}, \"cpus\": [";
  for (size_t k = 0; k < cpus.size(); ++k) {
    const auto& c = cpus[k];
    std::string reads;
    for (size_t l = 1; l < c.walker.entry_reads.size(); ++l) {
      reads += fmt::format("{}\"{}\": {}", l == 1 ? "" : ", ", l, c.walker.entry_reads[l]);
    }
    s += fmt::format(
        "{}{{\"cpu\": {}, \"reads\": {}, \"writes\": {}, \"fetches\": {}, \"faults\": {}, "
        "\"non_canonical\": {}, \"pages_mapped\": {}, \"pages_unmapped\": {}, "
        "\"pages_protected\": {}, \"shootdowns_sent\": {}, \"shootdowns_received\": {}, "
        "\"local_invalidations\": {}, \"entries_checked\": {}, \"pins_checked\": {}, "
        "\"mismatches\": {}, \"tlb\": {{\"translations\": {}, \"l1_hits\": {}, \"l1_misses\": {}, "
        "\"l2_hits\": {}, \"l2_misses\": {}, \"psc_walks\": {}, \"walks\": {}, "
        "\"dirty_rewalks\": {}, \"deny_rewalks\": {}}}, \"entry_reads_by_level\": {{{}}}}}",
        k == 0 ? "" : ", ", c.cpu, c.reads, c.writes, c.fetches, c.faults, c.non_canonical,
        c.pages_mapped, c.pages_unmapped, c.pages_protected, c.shootdowns_sent,
        c.shootdowns_received, c.local_invalidations, c.entries_checked, c.pins_checked,
        c.mismatches, c.mmu.translations, c.tlb.l1_hits, c.tlb.l1_misses, c.tlb.l2_hits,
        c.tlb.l2_misses, c.mmu.psc_walks, c.mmu.psc_walks + c.mmu.full_walks, c.mmu.dirty_rewalks,
        c.mmu.deny_rewalks, reads);
  }
  s += "]}";
  return s;
}

}  // namespace pagesim::wl
