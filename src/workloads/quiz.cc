#include "workloads/quiz.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <random>

#include "mmu/entry_bits.h"
#include "mmu/page_fault.h"
#include "mmu/tlb_shape.h"
#include "workloads/explain.h"
#include "workloads/pte_format.h"

namespace pagesim::wl {

namespace {

using mmu::Level;
namespace e = mmu::entry;

constexpr u64 kRoot = 0x1000;
constexpr u64 kTableFlags = e::kP | e::kRw | e::kUs;
constexpr unsigned kQuizMaxPhyAddr = 46;  // Profile::sdm()

// The seeded source of every choice. mt19937_64 is specified exactly by the standard, and the
// reduction below is ours, so a seed gives the same quiz on every platform (the standard
// distributions are implementation-defined).
class Rng {
 public:
  explicit Rng(u64 seed) : g_(seed) {}
  u64 below(u64 n) { return g_() % n; }
  bool chance(u64 one_in) { return below(one_in) == 0; }
  // `k` distinct values in [0, n), in random order.
  std::vector<unsigned> distinct(unsigned k, unsigned n) {
    std::vector<unsigned> all(n);
    for (unsigned i = 0; i < n; ++i) all[i] = i;
    for (unsigned i = 0; i < k; ++i) std::swap(all[i], all[i + below(n - i)]);
    all.resize(k);
    return all;
  }
  template <class T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

 private:
  std::mt19937_64 g_;
};

// Builds page tables entry by entry at small physical addresses (root 0x1000, then 0x2000, ...),
// as an exercise sheet would show them.
class TableBuilder {
 public:
  explicit TableBuilder(int levels) : levels_(levels) {
    tables_[kRoot] = mmu::level_from_number(levels);
  }

  // Writes `leaf_value` as the entry of level `leaf` on the path of `va`, creating the tables
  // above it with `table_flags` where they are missing. Returns the leaf entry's address.
  u64 map(u64 va, Level leaf, u64 leaf_value, u64 table_flags = kTableFlags) {
    u64 table = kRoot;
    for (int n = levels_; n > mmu::level_number(leaf); --n) {
      const Level l = mmu::level_from_number(n);
      const u64 addr = table + 8 * u64{mmu::level_index(VAddr(va), l)};
      auto it = entries_.find(addr);
      if (it == entries_.end()) {
        const u64 next = next_table_;
        next_table_ += kFrameSize;
        tables_[next] = mmu::level_from_number(n - 1);
        entries_[addr] = next | table_flags;
        table = next;
      } else {
        table = it->second & e::address_mask(kQuizMaxPhyAddr);
      }
    }
    const u64 addr = table + 8 * u64{mmu::level_index(VAddr(va), leaf)};
    entries_[addr] = leaf_value;
    return addr;
  }

  // Overwrites the entry of level `l` on the path of `va` (which must exist) keeping its
  // address bits: `flags` replaces every other bit.
  void set_table_flags(u64 va, Level l, u64 flags) {
    u64 table = kRoot;
    for (int n = levels_; n >= mmu::level_number(l); --n) {
      const Level cur = mmu::level_from_number(n);
      const u64 addr = table + 8 * u64{mmu::level_index(VAddr(va), cur)};
      const u64 v = entries_.at(addr);
      if (cur == l) {
        entries_[addr] = (v & e::address_mask(kQuizMaxPhyAddr)) | flags;
        return;
      }
      table = v & e::address_mask(kQuizMaxPhyAddr);
    }
  }

  std::vector<QuizTable> tables() const {
    std::vector<QuizTable> out;
    for (const auto& [pa, level] : tables_) {
      QuizTable t;
      t.pa = pa;
      t.level = level;
      for (auto it = entries_.lower_bound(pa); it != entries_.end() && it->first < pa + kFrameSize;
           ++it) {
        t.entries.emplace_back(static_cast<unsigned>((it->first - pa) / 8), it->second);
      }
      out.push_back(std::move(t));
    }
    return out;  // by address: the root (0x1000) first
  }

 private:
  int levels_;
  u64 next_table_ = kRoot + kFrameSize;
  std::map<u64, Level> tables_;
  std::map<u64, u64> entries_;  // entry address -> value
};

CpuState base_state(int levels) {
  CpuState s;
  s.cr3 = kRoot;
  if (levels == 5) s.cr4 |= reg::kCr4La57;
  return s;
}

// A user-half linear address from its indexes (root first) and an offset.
u64 va_of(int levels, const std::vector<unsigned>& idx, u64 offset) {
  u64 va = offset;
  for (int n = levels, i = 0; n >= 1 && i < static_cast<int>(idx.size()); --n, ++i) {
    va |= u64{idx[i]} << mmu::level_shift(mmu::level_from_number(n));
  }
  return va;
}

u64 frame_4k(Rng& r) { return (0x100 + r.below(0xff00)) << 12; }

std::string path_text(const mmu::WalkRecord& w) {
  std::string s;
  for (u8 i = 0; i < w.count; ++i) {
    const auto& l = w.levels[i];
    if (!s.empty()) s += " → ";
    s += fmt::format("{}[{:#05x}]", table_name(l.level), l.index);
  }
  return s;
}

std::string answer_reason(const mmu::Outcome& o, const mmu::WalkRecord& w, const CpuState& s) {
  if (const auto* ok = std::get_if<mmu::Ok>(&o)) {
    const u64 size = mmu::page_bytes(ok->page_size);
    return fmt::format("{}; {} page, frame {:#x} + offset {:#x}", path_text(w),
                       mmu::page_size_name(ok->page_size), ok->pa.value() & ~(size - 1),
                       ok->pa.value() & (size - 1));
  }
  if (std::holds_alternative<mmu::PageFault>(o)) {
    const FaultCause c = fault_cause(w, s);
    return fmt::format("{} ({})", c.text, c.rule);
  }
  return explain_verdict(o, w, s);
}

// Translates every question on a fresh CPU with this machine and records the answers.
Result<void, std::string> answer(QuizExercise& ex) {
  auto mem = PhysMem::create(kQuizRam);
  if (!mem.ok()) return Err(mem.error());
  if (auto r = load_quiz_machine(*mem.value(), ex.machine); !r.ok()) return r;
  auto shape = mmu::TlbShape::named(ex.machine.tlb);
  if (!shape.ok()) return Err(shape.error());
  mmu::Mmu cpu(*mem.value(), mmu::Profile::sdm(), shape.value());
  if (auto r = cpu.set_state(ex.machine.state); !r.ok()) return Err(r.error());
  for (QuizQuestion& q : ex.questions) {
    mmu::WalkRecord rec;
    const mmu::Translation t = cpu.translate(q.va, q.access, &rec);
    q.outcome = t.outcome;
    q.source = t.source;
    q.reason = answer_reason(t.outcome, rec, ex.machine.state);
  }
  return {};
}

QuizExercise make_translate(Rng& r, unsigned number) {
  QuizExercise ex;
  ex.kind = QuizKind::kTranslate;
  ex.number = number;
  const int levels = r.chance(4) ? 5 : 4;
  TableBuilder b(levels);
  const u64 accessed = r.chance(2) ? e::kA : 0;
  const u64 leaf_flags = e::kP | e::kRw | e::kUs | accessed;
  // Region 1: 4 KiB pages under one PT. The indexes above the PT, root first.
  std::vector<unsigned> top;
  top.push_back(static_cast<unsigned>(r.below(256)));  // user half
  for (int n = levels - 1; n > 2; --n) top.push_back(static_cast<unsigned>(r.below(512)));
  const std::vector<unsigned> pd_slots = r.distinct(2, 512);
  const std::vector<unsigned> pt_slots = r.distinct(4, 512);
  std::vector<u64> questions;
  auto with = [&](std::vector<unsigned> idx, unsigned a, unsigned b2) {
    idx.push_back(a);
    idx.push_back(b2);
    return idx;
  };
  for (int i = 0; i < 3; ++i) {
    const u64 va = va_of(levels, with(top, pd_slots[0], pt_slots[i]), 0);
    b.map(va, Level::kPte, frame_4k(r) | leaf_flags, kTableFlags | accessed);
    questions.push_back(va | r.below(kFrameSize));
  }
  // The fourth PT slot stays empty: a not-present PTE.
  questions.push_back(va_of(levels, with(top, pd_slots[0], pt_slots[3]), r.below(kFrameSize)));
  // Region 2: a 2 MiB page in the same PD.
  {
    std::vector<unsigned> idx = top;
    idx.push_back(pd_slots[1]);
    const u64 va = va_of(levels, idx, 0);
    b.map(va, Level::kPde, ((1 + r.below(0x1ff)) << 21) | leaf_flags | e::kPs,
          kTableFlags | accessed);
    questions.push_back(va | r.below(u64{2} << 20));
  }
  // Region 3: a 1 GiB page in the same PDPT, or a PDPT slot left empty.
  {
    std::vector<unsigned> idx(top.begin(), top.end() - 1);
    unsigned slot = static_cast<unsigned>(r.below(512));
    if (slot == top.back()) slot = (slot + 1) % 512;
    idx.push_back(slot);
    const u64 va = va_of(levels, idx, 0);
    if (r.chance(2)) {
      b.map(va, Level::kPdpte, ((1 + r.below(15)) << 30) | leaf_flags | e::kPs,
            kTableFlags | accessed);
    }
    questions.push_back(va | r.below(u64{1} << 30));
  }
  // A root slot with nothing below it.
  {
    unsigned slot = static_cast<unsigned>(r.below(256));
    if (slot == top[0]) slot = (slot + 1) % 256;
    std::vector<unsigned> idx{slot};
    questions.push_back(va_of(levels, idx, r.below(u64{1} << 30)));
  }
  r.shuffle(questions);
  ex.machine.state = base_state(levels);
  ex.machine.tables = b.tables();
  for (const u64 va : questions) {
    QuizQuestion q;
    q.va = VAddr(va);
    q.access = mmu::Access::read(3);
    ex.questions.push_back(q);
  }
  return ex;
}

QuizExercise make_faults(Rng& r, unsigned number) {
  QuizExercise ex;
  ex.kind = QuizKind::kFaults;
  ex.number = number;
  CpuState s = base_state(4);
  if (r.chance(3)) s.cr0 &= ~reg::kCr0Wp;
  if (!r.chance(3)) s.cr4 |= reg::kCr4Smep;
  if (!r.chance(3)) s.cr4 |= reg::kCr4Smap;
  const bool keys = r.chance(3);
  TableBuilder b(4);
  // PT A under a user PDE; PT B under a supervisor-only PDE (U/S=0 above a user PTE, D3).
  const u64 base = va_of(4,
                         {static_cast<unsigned>(r.below(256)), static_cast<unsigned>(r.below(512)),
                          static_cast<unsigned>(r.below(511))},
                         0);
  struct Kind {
    u64 flags;
    Level where;  // kPte: in PT A; kPde: in PT B
  };
  const u64 p = e::kP, rw = e::kRw, us = e::kUs, xd = e::kXd;
  std::vector<Kind> kinds{
      {p | rw | us | xd, Level::kPte},              // user data
      {p | us | xd, Level::kPte},                   // user read-only data
      {p | us, Level::kPte},                        // user code
      {p | rw | xd, Level::kPte},                   // kernel data
      {p, Level::kPte},                             // kernel code (read-only)
      {rw | us, Level::kPte},                       // not present (software bits left)
      {p | rw | us | (u64{1} << 51), Level::kPte},  // a reserved bit (R2, MAXPHYADDR 46)
      {p | rw | us, Level::kPde},                   // "user" page under a supervisor PDE
  };
  r.shuffle(kinds);
  kinds.resize(6);
  if (keys) {
    s.cr4 |= reg::kCr4Pke;
    const unsigned key = 1 + static_cast<unsigned>(r.below(3));
    s.pkru = (r.chance(2) ? 1u : 2u) << (2 * key);  // ADkey or WDkey
    kinds.push_back({p | rw | us | xd | (u64{key} << e::kPkeyShift), Level::kPte});
  }
  const std::vector<unsigned> slots = r.distinct(static_cast<unsigned>(kinds.size()), 512);
  std::vector<u64> pages;
  bool made_b = false;
  for (size_t i = 0; i < kinds.size(); ++i) {
    const u64 va =
        base + (kinds[i].where == Level::kPde ? (u64{2} << 20) : 0) + (u64{slots[i]} << 12);
    b.map(va, Level::kPte, frame_4k(r) | kinds[i].flags | e::kA);
    if (kinds[i].where == Level::kPde && !made_b) {
      b.set_table_flags(va, Level::kPde, e::kP | e::kRw | e::kA);
      made_b = true;
    }
    pages.push_back(va);
  }
  for (const u64 va : pages) {
    QuizQuestion q;
    q.va = VAddr(va | (r.below(kFrameSize) & ~u64{7}));
    q.access.kind = static_cast<mmu::AccessKind>(r.below(3));  // read, write or fetch
    q.access.cpl = r.chance(2) ? 3 : 0;
    if (q.access.cpl == 0 && !q.access.is_fetch() && (s.cr4 & reg::kCr4Smap) && r.chance(2)) {
      q.access.ac = mmu::Ac::kSet;
    }
    ex.questions.push_back(q);
  }
  ex.machine.state = s;
  ex.machine.tables = b.tables();
  return ex;
}

QuizExercise make_tlb(Rng& r, unsigned number) {
  QuizExercise ex;
  ex.kind = QuizKind::kTlb;
  ex.number = number;
  ex.machine.tlb = "teaching";
  TableBuilder b(4);
  const unsigned pml4 = static_cast<unsigned>(r.below(256));
  const unsigned pdpt = static_cast<unsigned>(r.below(512));
  const std::vector<unsigned> pds = r.distinct(3, 512);
  std::vector<u64> pages;  // base address of each page
  std::vector<u64> sizes;
  const unsigned n4k = 6 + static_cast<unsigned>(r.below(3));  // more pages than L1 holds
  const std::vector<unsigned> slots = r.distinct(n4k, 512);
  for (unsigned i = 0; i < n4k; ++i) {
    const u64 va = va_of(4, {pml4, pdpt, pds[i % 2], slots[i]}, 0);
    b.map(va, Level::kPte, frame_4k(r) | e::kP | e::kRw | e::kUs | e::kA);
    pages.push_back(va);
    sizes.push_back(kFrameSize);
  }
  std::sort(pages.begin(), pages.end());
  if (r.chance(2)) {
    const u64 va = va_of(4, {pml4, pdpt, pds[2]}, 0);
    b.map(va, Level::kPde, ((1 + r.below(0x1ff)) << 21) | e::kP | e::kRw | e::kUs | e::kA | e::kPs);
    pages.push_back(va);
    sizes.push_back(u64{2} << 20);
    ex.mapped.push_back(fmt::format("a 2 MiB page at {:#x}", va));
  }
  std::string list;
  for (unsigned i = 0; i < n4k; ++i) list += fmt::format("{}{:#x}", i ? ", " : "", pages[i]);
  ex.mapped.insert(ex.mapped.begin(), fmt::format("4 KiB pages at {}", list));
  // The sequence: first five distinct pages, then a mix of pages used very recently, pages used
  // a while ago and any page, so that L1 hits, L2 hits and walks all tend to occur. (Which one
  // each access is, the TLB decides when the answers are computed.)
  std::vector<size_t> by_use;  // pages in order of last use, most recent last
  auto touch = [&by_use](size_t page) {
    by_use.erase(std::remove(by_use.begin(), by_use.end(), page), by_use.end());
    by_use.push_back(page);
  };
  const std::vector<unsigned> first = r.distinct(5, static_cast<unsigned>(pages.size()));
  std::vector<size_t> sequence(first.begin(), first.end());
  for (const size_t p : sequence) touch(p);
  while (sequence.size() < 16) {
    size_t page = 0;
    const u64 pick = r.below(3);
    if (pick == 0) {  // one of the last four used
      page = by_use[by_use.size() - 1 - r.below(std::min<size_t>(4, by_use.size()))];
    } else if (pick == 1 && by_use.size() > 4) {  // used, but not among the last four
      page = by_use[r.below(by_use.size() - 4)];
    } else {
      page = r.below(pages.size());
    }
    sequence.push_back(page);
    touch(page);
  }
  for (const size_t page : sequence) {
    const u64 size = page < n4k ? kFrameSize : sizes.back();
    QuizQuestion q;
    q.va = VAddr(pages[page] | (r.below(size) & ~u64{7}));
    q.access = mmu::Access::read(3);
    ex.questions.push_back(q);
  }
  ex.machine.state = base_state(4);
  ex.machine.tables = b.tables();
  return ex;
}

std::string tables_text(const QuizMachine& m) {
  std::string o;
  for (const QuizTable& t : m.tables) {
    o += fmt::format("    {} table at {:#x}:\n", table_name(t.level), t.pa);
    for (const auto& [index, value] : t.entries) {
      o += fmt::format("      [{:#05x}] {:#018x}\n", index, value);
    }
  }
  return o;
}

std::string state_text(const CpuState& s) {
  return fmt::format("CR0.WP={}, CR4.SMEP={}, CR4.SMAP={}, CR4.PKE={}{}, EFER.NXE={}",
                     s.wp() ? 1 : 0, s.smep() ? 1 : 0, s.smap() ? 1 : 0, s.pke() ? 1 : 0,
                     s.pke() ? fmt::format(" (PKRU {:#x})", s.pkru) : "", s.nxe() ? 1 : 0);
}

char letter(size_t i) { return static_cast<char>('a' + i); }

std::string_view source_text(mmu::TranslationSource s) {
  switch (s) {
    case mmu::TranslationSource::kL1Hit:
      return "L1 hit";
    case mmu::TranslationSource::kL2Hit:
      return "L2 hit (L1 miss)";
    case mmu::TranslationSource::kPscWalk:
      return "miss: page walk (started from the paging-structure cache)";
    case mmu::TranslationSource::kWalk:
      return "miss: page walk";
    case mmu::TranslationSource::kNone:
      return "no translation";
  }
  return "?";
}

std::string command(const Quiz& q) {
  std::string kinds;
  if (q.options.kinds.size() == 3) {
    kinds = "all";
  } else {
    for (const QuizKind k : q.options.kinds) {
      kinds += fmt::format("{}{}", kinds.empty() ? "" : ",", quiz_kind_name(k));
    }
  }
  return fmt::format("pagesim quiz --seed {} --kind {} --count {}", q.options.seed, kinds,
                     q.options.count);
}

}  // namespace

std::string_view quiz_kind_name(QuizKind k) {
  switch (k) {
    case QuizKind::kTranslate:
      return "translate";
    case QuizKind::kFaults:
      return "faults";
    case QuizKind::kTlb:
      return "tlb";
  }
  return "?";
}

Result<void, std::string> load_quiz_machine(PhysMem& mem, const QuizMachine& m) {
  for (const QuizTable& t : m.tables) {
    for (const auto& [index, value] : t.entries) {
      if (auto r = mem.store_entry(PAddr(t.pa + 8 * u64{index}), value); !r.ok()) {
        return Err(r.error().message());
      }
    }
  }
  return {};
}

Result<Quiz, std::string> make_quiz(const QuizOptions& options) {
  Quiz quiz;
  quiz.options = options;
  Rng rng(options.seed);
  unsigned number = 0;
  for (unsigned i = 0; i < options.count; ++i) {
    for (const QuizKind k : options.kinds) {
      ++number;
      QuizExercise ex = k == QuizKind::kTranslate ? make_translate(rng, number)
                        : k == QuizKind::kFaults  ? make_faults(rng, number)
                                                  : make_tlb(rng, number);
      if (auto r = answer(ex); !r.ok()) return Err(r.error());
      quiz.exercises.push_back(std::move(ex));
    }
  }
  return quiz;
}

std::string quiz_questions_text(const Quiz& q) {
  std::string o =
      fmt::format("Paging exercises ({}; the answers: add --answers-only)\n", command(q));
  for (const QuizExercise& ex : q.exercises) {
    const CpuState& s = ex.machine.state;
    o += "\n";
    switch (ex.kind) {
      case QuizKind::kTranslate:
        o += fmt::format(
            "Exercise {} — translate addresses\n"
            "  A CPU uses {}-level paging with CR3 = {:#x} (MAXPHYADDR 46). These are the\n"
            "  non-zero entries of its page tables (entry i of a table is at table + 8 × i):\n",
            ex.number, s.levels(), s.cr3);
        o += tables_text(ex.machine);
        o += "  Each access below is a user-mode read (CPL 3). Give the physical address it\n"
             "  reaches, or the page-fault error code if it faults.\n";
        for (size_t i = 0; i < ex.questions.size(); ++i) {
          o += fmt::format("    {}) {:#018x}\n", letter(i), ex.questions[i].va.value());
        }
        break;
      case QuizKind::kFaults:
        o += fmt::format(
            "Exercise {} — which accesses fault?\n"
            "  A CPU uses 4-level paging with CR3 = {:#x} and MAXPHYADDR 46.\n"
            "  Control registers: {}.\n"
            "  Its page tables (non-zero entries; entry i at table + 8 × i; bits: 0 P, 1 R/W,\n"
            "  2 U/S, 5 A, 6 D, 7 PS, 62:59 protection key, 63 XD):\n",
            ex.number, s.cr3, state_text(s));
        o += tables_text(ex.machine);
        o += "  For each access: does it succeed? If it faults, give the error code and the "
             "rule.\n";
        for (size_t i = 0; i < ex.questions.size(); ++i) {
          o += fmt::format("    {}) {} of {:#018x}\n", letter(i),
                           mmu::describe(ex.questions[i].access), ex.questions[i].va.value());
        }
        break;
      case QuizKind::kTlb:
        o += fmt::format(
            "Exercise {} — TLB hits and misses\n"
            "  A CPU has the teaching TLB: a 4-entry L1 data TLB and an 8-entry L2 TLB, both\n"
            "  fully associative with LRU replacement and holding pages of every size. A walk\n"
            "  fills both; an L2 hit is copied into L1. Both start empty. Mapped (user, "
            "read/write):\n",
            ex.number);
        for (const std::string& m : ex.mapped) o += fmt::format("    {}\n", m);
        o += "  The program reads, in this order (CPL 3):\n";
        for (size_t i = 0; i < ex.questions.size(); ++i) {
          o += fmt::format("    {:>2}) {:#018x}\n", i + 1, ex.questions[i].va.value());
        }
        o += "  For each read: L1 hit, L2 hit, or a miss in both (a page walk)? How many L1\n"
             "  misses and how many page walks in all?\n";
        break;
    }
  }
  return o;
}

std::string quiz_answers_text(const Quiz& q) {
  std::string o = fmt::format("Answer key ({})\n", command(q));
  for (const QuizExercise& ex : q.exercises) {
    o += fmt::format("\nExercise {} — {}\n", ex.number, quiz_kind_name(ex.kind));
    if (ex.kind == QuizKind::kTlb) {
      unsigned l1_misses = 0;
      unsigned walks = 0;
      for (size_t i = 0; i < ex.questions.size(); ++i) {
        const QuizQuestion& qu = ex.questions[i];
        if (qu.source != mmu::TranslationSource::kL1Hit) ++l1_misses;
        if (qu.source == mmu::TranslationSource::kWalk ||
            qu.source == mmu::TranslationSource::kPscWalk) {
          ++walks;
        }
        o += fmt::format("  {:>2}) {:#018x}  {}\n", i + 1, qu.va.value(), source_text(qu.source));
      }
      auto n = [](size_t k, std::string_view what) {
        return fmt::format("{} {}{}", k, what, k == 1 ? "" : (what.back() == 's' ? "es" : "s"));
      };
      o +=
          fmt::format("  In all: {}, {}, {}, {}.\n", n(l1_misses, "L1 miss"), n(walks, "page walk"),
                      n(ex.questions.size() - l1_misses, "L1 hit"), n(l1_misses - walks, "L2 hit"));
      continue;
    }
    for (size_t i = 0; i < ex.questions.size(); ++i) {
      const QuizQuestion& qu = ex.questions[i];
      std::string head;
      if (const auto* ok = std::get_if<mmu::Ok>(&qu.outcome)) {
        head = fmt::format("→ {:#018x}", ok->pa.value());
      } else if (const auto* f = std::get_if<mmu::PageFault>(&qu.outcome)) {
        head = fmt::format("→ page fault, error code {}", mmu::pf::describe(f->error_code));
      } else {
        head = "→ no translation";
      }
      const std::string what =
          ex.kind == QuizKind::kFaults
              ? fmt::format("{} of {:#018x}", mmu::describe(qu.access), qu.va.value())
              : fmt::format("{:#018x}", qu.va.value());
      o += fmt::format("  {}) {} {}\n       {}\n", letter(i), what, head, qu.reason);
    }
  }
  return o;
}

}  // namespace pagesim::wl
