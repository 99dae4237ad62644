#include "workloads/dump.h"

#include <fmt/format.h>

#include "mmu/entry_bits.h"
#include "workloads/json_out.h"

namespace pagesim::wl {

namespace {

using mmu::Level;

// Runs shorter than this stay as single rows: two similar entries read fine one by one.
constexpr unsigned kMinRun = 3;

u64 entry_span(Level level) { return u64{1} << mmu::level_shift(level); }

// The canonical form of a linear address built from indexes (L1, L2): bits above the top
// walked bit copy it.
u64 canonical(u64 va, int levels) {
  const unsigned top = mmu::linear_address_bits(levels) - 1;
  if ((va >> top) & 1) return va | ~((u64{1} << top) - 1);
  return va & ((u64{1} << (top + 1)) - 1);
}

std::string_view size_word(EntryForm f) {
  switch (f) {
    case EntryForm::kPage2M:
      return "2M";
    case EntryForm::kPage1G:
      return "1G";
    default:
      return "4K";
  }
}

u64 form_bytes(EntryForm f) {
  switch (f) {
    case EntryForm::kPage2M:
      return u64{2} << 20;
    case EntryForm::kPage1G:
      return u64{1} << 30;
    default:
      return u64{4} << 10;
  }
}

// What makes two entries "similar": every bit but the address and the A/D bits the walker sets.
u64 similarity_key(u64 raw, EntryForm form, unsigned maxphyaddr) {
  const u64 addr = mmu::entry::address_mask(maxphyaddr) & ~(form_bytes(form) - 1);
  return raw & ~addr & ~(mmu::entry::kA | mmu::entry::kD);
}

class Reader {
 public:
  Reader(const PhysMem& mem, const DumpRequest& req, PageTableDump& out)
      : mem_(mem), req_(req), out_(out) {}

  DumpTable read(u64 pa, Level level, u64 va_base) {
    ++out_.tables;
    DumpTable t;
    t.level = level;
    t.pa = pa;
    const bool top = mmu::level_number(level) == req_.levels;
    const unsigned end = top && req_.half == DumpHalf::kUserHalf ? 256 : 512;
    std::vector<DumpRow> single;
    for (unsigned i = 0; i < end; ++i) {
      const auto e = mem_.load_entry(PAddr(pa + 8 * u64{i}));
      if (!e.ok()) break;  // the caller checked the table is in RAM; cannot happen
      const u64 raw = e.value();
      if (raw == 0) continue;
      DumpRow row;
      row.first = row.last = i;
      row.raw = raw;
      row.va_first = canonical(va_base + u64{i} * entry_span(level), req_.levels);
      row.va_end = row.va_first + entry_span(level) - 1;
      if (!(raw & mmu::entry::kP)) {
        row.kind = DumpRow::Kind::kNotPresent;
        single.push_back(std::move(row));
        continue;
      }
      // PML5E/PML4E always reference a table (PS is reserved there, R3).
      row.form = top || level == Level::kPml4e ? EntryForm::kTable : entry_form(raw, level);
      if (row.form == EntryForm::kTable) {
        row.kind = DumpRow::Kind::kTable;
        row.addr_first = row.addr_last = raw & mmu::entry::address_mask(req_.maxphyaddr);
        if (!mem_.contains(PAddr(row.addr_first), kFrameSize)) {
          row.kind = DumpRow::Kind::kOutsideRam;
        } else {
          auto child = std::make_unique<DumpTable>(read(
              row.addr_first, mmu::level_from_number(mmu::level_number(level) - 1), row.va_first));
          if (!child->empty()) row.child = std::move(child);
        }
      } else {
        row.kind = DumpRow::Kind::kPage;
        row.addr_first = row.addr_last =
            raw & mmu::entry::address_mask(req_.maxphyaddr) & ~(form_bytes(row.form) - 1);
        ++out_.pages;
      }
      row.accessed = (raw & mmu::entry::kA) ? 1 : 0;
      row.dirty = row.kind == DumpRow::Kind::kPage && (raw & mmu::entry::kD) ? 1 : 0;
      single.push_back(std::move(row));
    }
    t.rows = req_.collapse == Collapse::kRuns ? collapse(std::move(single)) : std::move(single);
    if (top && req_.half == DumpHalf::kUserHalf) {
      DumpRow shared;
      shared.kind = DumpRow::Kind::kSharedHalf;
      shared.first = 256;
      shared.last = 511;
      shared.va_first = canonical(u64{256} * entry_span(level), req_.levels);
      shared.va_end = ~u64{0};
      for (unsigned i = 256; i < 512; ++i) {
        const auto e = mem_.load_entry(PAddr(pa + 8 * u64{i}));
        if (e.ok() && (e.value() & mmu::entry::kP)) ++shared.present;
      }
      t.rows.push_back(std::move(shared));
    }
    return t;
  }

 private:
  bool mergeable(const DumpRow& a, const DumpRow& b) const {
    if (b.first != a.last + 1 || a.kind != b.kind || a.form != b.form) return false;
    if (a.kind == DumpRow::Kind::kTable) {
      if (a.child || b.child) return false;  // only empty tables are collapsed
    } else if (a.kind != DumpRow::Kind::kPage) {
      return false;
    }
    return similarity_key(a.raw, a.form, req_.maxphyaddr) ==
           similarity_key(b.raw, b.form, req_.maxphyaddr);
  }

  std::vector<DumpRow> collapse(std::vector<DumpRow> rows) const {
    std::vector<DumpRow> out;
    size_t i = 0;
    while (i < rows.size()) {
      size_t j = i + 1;
      while (j < rows.size() && mergeable(rows[j - 1], rows[j])) ++j;
      if (j - i < kMinRun) {
        for (; i < j; ++i) out.push_back(std::move(rows[i]));
        continue;
      }
      DumpRow run = std::move(rows[i]);
      const u64 step = run.kind == DumpRow::Kind::kPage ? form_bytes(run.form) : kFrameSize;
      for (size_t k = i + 1; k < j; ++k) {
        const DumpRow& r = rows[k];
        if (r.addr_first != run.addr_first + (k - i) * step) run.consecutive = false;
        run.accessed += r.accessed;
        run.dirty += r.dirty;
      }
      run.last = rows[j - 1].last;
      run.va_end = rows[j - 1].va_end;
      run.addr_last = rows[j - 1].addr_last;
      out.push_back(std::move(run));
      i = j;
    }
    return out;
  }

  const PhysMem& mem_;
  const DumpRequest& req_;
  PageTableDump& out_;
};

std::string index_text(const DumpRow& r) {
  return r.count() == 1 ? fmt::format("[{:#05x}]", r.first)
                        : fmt::format("[{:#05x}–{:#05x}]", r.first, r.last);
}

std::string va_text(const DumpRow& r) {
  return r.count() == 1 ? fmt::format("va {:#018x}", r.va_first)
                        : fmt::format("va {:#018x}–{:#018x}", r.va_first, r.va_end);
}

// "P RW US A XD" for a table entry.
std::string table_flags(u64 raw) {
  namespace e = mmu::entry;
  std::string s = "P";
  if (raw & e::kRw) s += " RW";
  if (raw & e::kUs) s += " US";
  if (raw & e::kPwt) s += " PWT";
  if (raw & e::kPcd) s += " PCD";
  if (raw & e::kA) s += " A";
  if (raw & e::kXd) s += " XD";
  return s;
}

// "user rw-, global, key 3, A D" for a page row.
std::string page_attrs(const DumpRow& r) {
  namespace e = mmu::entry;
  const u64 raw = r.raw;
  std::string s = fmt::format("{} r{}{}", (raw & e::kUs) ? "user" : "supervisor",
                              (raw & e::kRw) ? 'w' : '-', (raw & e::kXd) ? '-' : 'x');
  if (raw & e::kG) s += ", global";
  const mmu::PageSize size = r.form == EntryForm::kPage2M   ? mmu::PageSize::k2M
                             : r.form == EntryForm::kPage1G ? mmu::PageSize::k1G
                                                            : mmu::PageSize::k4K;
  if (const unsigned pat = e::leaf_pat_index(raw, size)) s += fmt::format(", PAT index {}", pat);
  if (const unsigned key = e::pkey(raw)) s += fmt::format(", key {}", key);
  auto count = [&](unsigned n, std::string_view bit) -> std::string {
    if (n == 0) return "";
    if (n == r.count()) return fmt::format(", {}", bit);
    return fmt::format(", {} on {} of {}", bit, n, r.count());
  };
  s += count(r.accessed, "A");
  s += count(r.dirty, "D");
  return s;
}

// The addresses of a run: "0x1000–0x4000 (consecutive)" or "0x9000 … 0x2000 (not consecutive)".
std::string addr_range(const DumpRow& r) {
  return r.consecutive ? fmt::format("{:#x}–{:#x} (consecutive)", r.addr_first, r.addr_last)
                       : fmt::format("{:#x} … {:#x} (not consecutive)", r.addr_first, r.addr_last);
}

std::string row_text(const DumpRow& r, Level level) {
  const std::string_view below =
      level == Level::kPte ? "" : table_name(mmu::level_from_number(mmu::level_number(level) - 1));
  switch (r.kind) {
    case DumpRow::Kind::kTable:
      if (r.count() == 1) {
        return fmt::format("{} {}  → {} @ {:#x}{}  ({})", index_text(r), va_text(r), below,
                           r.addr_first, r.child ? "" : ", empty", table_flags(r.raw));
      }
      return fmt::format("{} {}  {} × → {}, all empty, at {}  ({})", index_text(r), va_text(r),
                         r.count(), below, addr_range(r), table_flags(r.raw));
    case DumpRow::Kind::kPage:
      if (r.count() == 1) {
        return fmt::format("{} {}  {} page → frame {:#x}, {}", index_text(r), va_text(r),
                           size_word(r.form), r.addr_first, page_attrs(r));
      }
      return fmt::format("{} {}  {} × {} page → frames {}, {}", index_text(r), va_text(r),
                         r.count(), size_word(r.form), addr_range(r), page_attrs(r));
    case DumpRow::Kind::kNotPresent:
      return fmt::format("{} {}  not present, value {:#018x} (software bits, P=0)", index_text(r),
                         va_text(r), r.raw);
    case DumpRow::Kind::kOutsideRam:
      return fmt::format("{} {}  → table @ {:#x}: outside simulated RAM, not followed",
                         index_text(r), va_text(r), r.addr_first);
    case DumpRow::Kind::kSharedHalf:
      return fmt::format(
          "{} kernel half: {} present entr{} shared with the kernel page table "
          "(pagesim dump --space kernel)",
          index_text(r), r.present, r.present == 1 ? "y" : "ies");
  }
  return "?";
}

void render_text(const DumpTable& t, const std::string& prefix, std::string& out) {
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const DumpRow& r = t.rows[i];
    const bool last = i + 1 == t.rows.size();
    out += prefix + (last ? "└─ " : "├─ ") + row_text(r, t.level) + "\n";
    if (r.child) render_text(*r.child, prefix + (last ? "   " : "│  "), out);
  }
}

std::string_view kind_name(DumpRow::Kind k) {
  switch (k) {
    case DumpRow::Kind::kTable:
      return "table";
    case DumpRow::Kind::kPage:
      return "page";
    case DumpRow::Kind::kNotPresent:
      return "not-present";
    case DumpRow::Kind::kOutsideRam:
      return "outside-ram";
    case DumpRow::Kind::kSharedHalf:
      return "shared-kernel-half";
  }
  return "?";
}

void render_json(const DumpTable& t, std::string& o) {
  o += fmt::format("{{\"level\": {}, \"name\": {}, \"pa\": {}, \"rows\": [",
                   mmu::level_number(t.level), jsonw::str(table_name(t.level)), jsonw::hex(t.pa));
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const DumpRow& r = t.rows[i];
    namespace e = mmu::entry;
    o += fmt::format("{}{{\"first\": {}, \"last\": {}, \"count\": {}, \"kind\": {}", i ? ", " : "",
                     r.first, r.last, r.count(), jsonw::str(kind_name(r.kind)));
    if (r.kind == DumpRow::Kind::kSharedHalf) {
      o += fmt::format(", \"present\": {}}}", r.present);
      continue;
    }
    o += fmt::format(", \"va\": {}, \"va_end\": {}, \"raw\": {}", jsonw::hex(r.va_first),
                     jsonw::hex(r.va_end), jsonw::hex(r.raw));
    if (r.kind == DumpRow::Kind::kPage) {
      o += fmt::format(
          ", \"size\": {}, \"frame\": {}, \"frame_last\": {}, \"consecutive\": {}, \"user\": {}, "
          "\"writable\": {}, \"executable\": {}, \"global\": {}, \"pkey\": {}, \"accessed\": {}, "
          "\"dirty\": {}",
          jsonw::str(size_word(r.form)), jsonw::hex(r.addr_first), jsonw::hex(r.addr_last),
          jsonw::boolean(r.consecutive), jsonw::boolean(r.raw & e::kUs),
          jsonw::boolean(r.raw & e::kRw), jsonw::boolean(!(r.raw & e::kXd)),
          jsonw::boolean(r.raw & e::kG), e::pkey(r.raw), r.accessed, r.dirty);
    } else if (r.kind == DumpRow::Kind::kTable || r.kind == DumpRow::Kind::kOutsideRam) {
      o += fmt::format(", \"table\": {}, \"table_last\": {}, \"child\": ", jsonw::hex(r.addr_first),
                       jsonw::hex(r.addr_last));
      if (r.child) {
        render_json(*r.child, o);
      } else {
        o += "null";
      }
    }
    o += "}";
  }
  o += "]}";
}

std::string html_escape(std::string_view s) {
  std::string o;
  for (const char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

// The inside of a DOT double-quoted string.
std::string dot_string(std::string_view s) {
  std::string o;
  for (const char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o;
}

void render_dot(const DumpTable& t, std::string& nodes, std::string& edges) {
  // This table's node first, complete; then the tables below it (a node per table).
  std::string node = fmt::format(
      "  t{:x} [label=<<TABLE BORDER=\"0\" CELLBORDER=\"1\" CELLSPACING=\"0\" CELLPADDING=\"3\">"
      "<TR><TD BGCOLOR=\"lightgrey\"><B>{} table @ {:#x}</B></TD></TR>",
      t.pa, table_name(t.level), t.pa);
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const DumpRow& r = t.rows[i];
    const std::string_view colour = r.kind == DumpRow::Kind::kPage         ? "#e8f4e8"
                                    : r.kind == DumpRow::Kind::kTable      ? "#e8eef8"
                                    : r.kind == DumpRow::Kind::kSharedHalf ? "#f4f4f4"
                                                                           : "#f8e8e8";
    node += fmt::format("<TR><TD PORT=\"r{}\" ALIGN=\"LEFT\" BGCOLOR=\"{}\">{}</TD></TR>", i,
                        colour, html_escape(row_text(r, t.level)));
    if (r.child) edges += fmt::format("  t{:x}:r{} -> t{:x};\n", t.pa, i, r.child->pa);
  }
  nodes += node + "</TABLE>>];\n";
  for (const DumpRow& r : t.rows) {
    if (r.child) render_dot(*r.child, nodes, edges);
  }
}

}  // namespace

PageTableDump read_page_table(const PhysMem& mem, const DumpRequest& request) {
  PageTableDump d;
  d.request = request;
  Reader reader(mem, d.request, d);
  if (mem.contains(request.root, kFrameSize)) {
    d.root = reader.read(request.root.value(), mmu::level_from_number(request.levels), 0);
  } else {
    d.root.level = mmu::level_from_number(request.levels);
    d.root.pa = request.root.value();
  }
  return d;
}

std::string dump_text(const PageTableDump& d) {
  const DumpRequest& q = d.request;
  std::string o;
  if (!q.title.empty()) o += q.title + "\n";
  o += fmt::format(
      "{}-level paging, MAXPHYADDR {}; {} table{} read, {} leaf entr{}{}\n", q.levels, q.maxphyaddr,
      d.tables, d.tables == 1 ? "" : "s", d.pages, d.pages == 1 ? "y" : "ies",
      q.collapse == Collapse::kRuns ? " (runs of 3 or more similar entries collapsed)" : "");
  o += fmt::format("{} table @ {:#x} (CR3)\n", table_name(d.root.level), d.root.pa);
  if (d.root.empty()) o += "   (no entry)\n";
  render_text(d.root, "", o);
  return o;
}

std::string dump_json(const PageTableDump& d) {
  const DumpRequest& q = d.request;
  std::string o = fmt::format(
      "{{\"title\": {}, \"levels\": {}, \"maxphyaddr\": {}, \"root\": {}, \"tables\": {}, "
      "\"pages\": {}, \"collapsed\": {}, \"table\": ",
      jsonw::str(q.title), q.levels, q.maxphyaddr, jsonw::hex(d.root.pa), d.tables, d.pages,
      jsonw::boolean(q.collapse == Collapse::kRuns));
  render_json(d.root, o);
  o += "}\n";
  return o;
}

std::string dump_dot(const PageTableDump& d) {
  std::string nodes;
  std::string edges;
  render_dot(d.root, nodes, edges);
  return fmt::format(
      "digraph pagetable {{\n"
      "  graph [rankdir=LR, fontname=\"monospace\", labelloc=t, label=\"{}\"];\n"
      "  node [shape=plaintext, fontname=\"monospace\", fontsize=10];\n"
      "{}{}}}\n",
      dot_string(d.request.title), nodes, edges);
}

}  // namespace pagesim::wl
