"""tracestat: summarises a pagesim trace, and plots a replay's --json statistics.

    tracestat TRACE [--json]             operations by kind and CPU, address ranges touched,
                                         page sizes, mapping-size histogram, pins
    tracestat plot STATS.json -o OUT.png plots `pagesim replay --json` statistics (matplotlib)

The trace is read as a stream through tracelib's validating parser: a trace that does not parse
is reported as FILE:LINE:COL: ... with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import tracelib

_HALF_NAMES = ("user", "kernel")


class Summary:
    """Counters filled statement by statement (constant memory per distinct key)."""

    def __init__(self, name):
        self.name = name
        self.lines = 0
        self.statements = 0
        self.machine = {}
        self.spaces = 0
        self.barriers = 0
        self.by_kind = {}
        self.by_cpu = {}            # cpu -> {kind: n}
        self.ranges = {"user": None, "kernel": None}     # [lowest, highest end]
        self.units = {"user": set(), "kernel": set()}    # 1 GiB units touched
        self.page_sizes = {}        # 'map page=4K' / 'map auto' / 'map_pa' / pinned sizes
        self.map_sizes = {}         # power-of-two bucket -> count
        self.mapped_bytes = {"map": 0, "map_pa": 0}
        self.accesses = {}          # 'read cpl=3' -> n
        self.pins = {"ok": 0, "pf": 0, "gp": 0, "ss": 0, "none": 0}
        self.pf_codes = {}
        self.expect_entries = 0

    # -- collection ------------------------------------------------------------------------

    def touch(self, va, end, geo):
        half = "user" if geo.is_user(va) else "kernel"
        r = self.ranges[half]
        if r is None:
            self.ranges[half] = [va, end]
        else:
            if va < r[0]:
                r[0] = va
            if end > r[1]:
                r[1] = end
        units = self.units[half]
        if len(units) < 1 << 16:
            u = va >> 30
            last = (end - 1) >> 30
            if last - u < 4096:
                units.update(range(u, last + 1))
            else:
                units.add(u)
                units.add(last)

    def add(self, st, geo):
        kind = st.kind
        self.statements += 1
        if kind == "pagesim-trace":
            return
        if kind == "machine":
            self.machine = dict(st.args)
            return
        if kind == "space":
            self.spaces += 1
            return
        if kind == "barrier":
            self.barriers += 1
            return
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
        per = self.by_cpu.get(st.cpu)
        if per is None:
            per = self.by_cpu[st.cpu] = {}
        per[kind] = per.get(kind, 0) + 1
        a = st.args
        if kind in ("read", "write", "fetch"):
            key = "%s cpl=%s" % (kind, a.get("cpl", "cur"))
            self.accesses[key] = self.accesses.get(key, 0) + 1
            va = a["va"]
            if geo.canonical(va):
                self.touch(va, va + 1, geo)
            e = a.get("expect")
            if e is None:
                self.pins["none"] += 1
            else:
                self.pins[e[0]] += 1
                if e[0] == "pf":
                    code = "0x%x" % e[1]
                    self.pf_codes[code] = self.pf_codes.get(code, 0) + 1
                elif e[0] == "ok" and e[2] is not None:
                    k = "pinned size=" + tracelib.PAGE_SIZE_NAMES[e[2]]
                    self.page_sizes[k] = self.page_sizes.get(k, 0) + 1
            return
        if kind in ("map", "map_pa", "unmap", "protect"):
            va, ln = a["va"], a["len"]
            self.touch(va, va + ln, geo)
            if kind in ("map", "map_pa"):
                self.mapped_bytes[kind] += ln
                if kind == "map":
                    p = a.get("page")
                    k = "map page=" + tracelib.PAGE_SIZE_NAMES[p] if p else "map (largest fit)"
                else:
                    k = "map_pa (largest fit)"
                self.page_sizes[k] = self.page_sizes.get(k, 0) + 1
                b = bucket(ln)
                self.map_sizes[b] = self.map_sizes.get(b, 0) + 1
            return
        if kind == "expect-entry":
            self.expect_entries += 1

    # -- output ----------------------------------------------------------------------------

    def as_dict(self):
        cpus = self.machine.get("cpus", 1)
        return {
            "file": self.name,
            "lines": self.lines,
            "statements": self.statements,
            "machine": {"levels": self.machine.get("levels", 4),
                        "ram": self.machine.get("ram", 4 << 30),
                        "cpus": cpus,
                        **{k: v for k, v in self.machine.items()
                           if k not in ("levels", "ram", "cpus")}},
            "spaces": self.spaces,
            "barriers": self.barriers,
            "operations": dict(sorted(self.by_kind.items())),
            "operations_by_cpu": {str(c): dict(sorted(v.items()))
                                  for c, v in sorted(self.by_cpu.items())},
            "address_ranges": {
                h: (None if self.ranges[h] is None else
                    {"lowest": "0x%x" % self.ranges[h][0],
                     "highest_end": "0x%x" % self.ranges[h][1],
                     "gib_regions_touched": len(self.units[h])})
                for h in _HALF_NAMES},
            "page_sizes": dict(sorted(self.page_sizes.items())),
            "mapped_bytes": self.mapped_bytes,
            "mapping_size_histogram": {label_of(b): n for b, n in sorted(self.map_sizes.items())},
            "accesses": dict(sorted(self.accesses.items())),
            "pins": self.pins,
            "page_fault_codes": dict(sorted(self.pf_codes.items(), key=lambda x: int(x[0], 16))),
            "expect_entries": self.expect_entries,
        }

    def text(self):
        d = self.as_dict()
        m = d["machine"]
        out = []
        w = out.append
        w("%s: %d lines, %d statements" % (self.name, d["lines"], d["statements"]))
        w("machine: %d-level paging, ram %s, %d cpu%s%s" % (
            m["levels"], tracelib.format_size(m["ram"]), m["cpus"], "" if m["cpus"] == 1 else "s",
            "".join(", %s=%s" % (k, v) for k, v in m.items() if k not in ("levels", "ram",
                                                                             "cpus"))))
        w("address spaces: %d   barriers: %d" % (d["spaces"], d["barriers"]))
        w("")
        kinds = list(d["operations"])
        if kinds:
            w("operations by kind and CPU:")
            cpus = list(d["operations_by_cpu"])
            width = max(8, max(len(k) for k in kinds) + 1)
            head = "  %-*s %10s" % (width, "kind", "total") + "".join(
                " %9s" % ("cpu" + c) for c in cpus[:16])
            w(head)
            for k in kinds:
                w("  %-*s %10d" % (width, k, d["operations"][k]) + "".join(
                    " %9d" % d["operations_by_cpu"][c].get(k, 0) for c in cpus[:16]))
            if len(cpus) > 16:
                w("  (%d more CPUs in --json)" % (len(cpus) - 16))
        else:
            w("operations: none")
        w("")
        w("address ranges touched:")
        for h in _HALF_NAMES:
            r = d["address_ranges"][h]
            if r is None:
                w("  %-6s none" % h)
            else:
                w("  %-6s [%s, %s)  %d GiB region%s" % (h, r["lowest"], r["highest_end"],
                                                     r["gib_regions_touched"],
                                                     "" if r["gib_regions_touched"] == 1
                                                     else "s"))
        if d["page_sizes"]:
            w("")
            w("page sizes:")
            for k, n in d["page_sizes"].items():
                w("  %-24s %10d" % (k, n))
        if d["mapping_size_histogram"]:
            w("")
            w("mapping sizes (map and map_pa lengths, power-of-two buckets):")
            top = max(d["mapping_size_histogram"].values())
            for k, n in d["mapping_size_histogram"].items():
                bar = "#" * max(1, round(40 * n / top))
                w("  %-14s %10d %s" % (k, n, bar))
            w("  mapped in total: map %s, map_pa %s" % (
                tracelib.human_size(d["mapped_bytes"]["map"]),
                tracelib.human_size(d["mapped_bytes"]["map_pa"])))
        if d["accesses"]:
            w("")
            w("accesses:")
            for k, n in d["accesses"].items():
                w("  %-14s %10d" % (k, n))
            p = d["pins"]
            w("  pinned: ok %d, pf %d, gp %d, ss %d; unpinned %d" % (
                p["ok"], p["pf"], p["gp"], p["ss"], p["none"]))
            if d["page_fault_codes"]:
                w("  pinned page-fault codes: " + ", ".join(
                    "%s x%d" % (c, n) for c, n in d["page_fault_codes"].items()))
        if d["expect_entries"]:
            w("expect-entry pins: %d" % d["expect_entries"])
        return "\n".join(out) + "\n"


def bucket(n):
    """The power-of-two bucket of a length: the exponent b with 2^b <= n < 2^(b+1)."""
    return n.bit_length() - 1


def label_of(b):
    """A bucket's label: [lo, 2*lo), or just the size for the 4K bucket of exact pages."""
    lo = 1 << b
    return "[%s, %s)" % (tracelib.format_size(lo), tracelib.format_size(2 * lo))


def summarize(path):
    name = path if path != "-" else "<stdin>"
    s = Summary(name)
    parser = tracelib.TraceParser(name)
    f = sys.stdin if path == "-" else open(path, encoding="utf-8", errors="surrogateescape")
    with f:
        lineno = 0
        parse = parser.parse_line
        add = s.add
        for lineno, text in enumerate(f, 1):
            st = parse(text, lineno)
            if st is not None:
                add(st, parser.geo)
        parser.finish(lineno)
    s.lines = lineno
    return s


# ---------------------------------------------------------------------------------------------
# plot
# ---------------------------------------------------------------------------------------------

INSTALL_HINT = ("tracestat plot needs matplotlib. Install Debian's python3-matplotlib with "
                "`make plot-deps` or `sh scripts/install-deps.sh plot` (as root: apt-get install "
                "python3-matplotlib).")


def import_pyplot():
    """matplotlib.pyplot with the Agg backend, or None. Debian's python3-matplotlib lives in
    /usr/lib/python3/dist-packages, which a Python other than /usr/bin/python3 (a pyenv or venv
    one of the same version) does not search: it is tried too."""
    try:
        import matplotlib
    except ImportError:
        deb = "/usr/lib/python3/dist-packages"
        if sys.version_info[:2] != (3, 11) or not os.path.isdir(os.path.join(deb, "matplotlib")):
            return None
        sys.path.append(deb)
        try:
            import matplotlib
        except ImportError:
            return None
    matplotlib.use("Agg")
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


# TLB series of the plot and the keys each may have in a replay's per-CPU "tlb" object (the
# first present is used): the provisional schema's l1d_* and the replay's l1_* names.
TLB_SERIES = (("L1 hits", ("l1d_hits", "l1_hits")), ("L1 misses", ("l1d_misses", "l1_misses")),
              ("L2 hits", ("l2_hits",)), ("L2 misses", ("l2_misses",)), ("walks", ("walks",)))


def _num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def plot_stats(stats, out_png, title=None):
    """Draws the provisional `pagesim replay --json` schema (docs/traces.md); every part is
    optional. Returns the number of panels drawn."""
    plt = import_pyplot()
    if plt is None:
        raise ImportError(INSTALL_HINT)
    panels = []
    ops = stats.get("operations")
    if isinstance(ops, dict):
        items = [(k, _num(v)) for k, v in ops.items() if _num(v) is not None]
        if items:
            panels.append(("operations", items))
    cpus = stats.get("cpus")
    tlb_keys = tuple(name for name, _ in TLB_SERIES)
    if isinstance(cpus, list) and cpus:
        rows = []
        for i, c in enumerate(cpus):
            if not isinstance(c, dict):
                continue
            label = "cpu%s" % c.get("cpu", i)
            tlb = c.get("tlb") if isinstance(c.get("tlb"), dict) else {}
            rows.append((label, {name: next((_num(tlb.get(k)) for k in keys
                                             if _num(tlb.get(k)) is not None), None)
                                 for name, keys in TLB_SERIES},
                         {k: _num(c.get(k)) for k in ("faults", "shootdowns_sent",
                                                      "shootdowns_received")}))
        if any(v is not None for _, t, _ in rows for v in t.values()):
            panels.append(("tlb", rows))
        if any(v is not None for _, _, o in rows for v in o.values()):
            panels.append(("events", rows))
    if not panels:
        raise ValueError("expected 'operations' or 'cpus' statistics, found neither")
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 3.2 * len(panels)), squeeze=False)
    for ax, (kind, data) in zip((a[0] for a in axes), panels):
        if kind == "operations":
            names = [k for k, _ in data]
            ax.bar(names, [v for _, v in data], color="#4477aa")
            ax.set_title("operations")
            ax.set_ylabel("count")
            ax.tick_params(axis="x", labelrotation=30)
        elif kind == "tlb":
            labels = [r[0] for r in data]
            width = 0.8 / len(tlb_keys)
            for j, k in enumerate(tlb_keys):
                vals = [r[1][k] or 0 for r in data]
                ax.bar([i + (j - len(tlb_keys) / 2 + 0.5) * width for i in range(len(data))],
                       vals, width, label=k)
            ax.set_xticks(range(len(data)), labels)
            ax.set_title("TLB per CPU")
            ax.set_ylabel("count")
            ax.legend(fontsize="small", ncol=len(tlb_keys))
        else:
            labels = [r[0] for r in data]
            keys = ("faults", "shootdowns_sent", "shootdowns_received")
            width = 0.8 / len(keys)
            for j, k in enumerate(keys):
                vals = [r[2][k] or 0 for r in data]
                ax.bar([i + (j - 1) * width for i in range(len(data))], vals, width,
                       label=k.replace("_", " "))
            ax.set_xticks(range(len(data)), labels)
            ax.set_title("faults and TLB shootdowns per CPU")
            ax.set_ylabel("count")
            ax.legend(fontsize="small", ncol=3)
    head = title or ("pagesim replay" + (" " + os.path.basename(stats["file"])
                                         if isinstance(stats.get("file"), str) else ""))
    verdict = stats.get("verdict")
    if isinstance(verdict, str):
        head += ": " + verdict
    mism = _num(stats.get("mismatches"))
    if mism is not None:
        head += " (%d mismatch%s)" % (mism, "" if mism == 1 else "es")
    fig.suptitle(head)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return len(panels)


def main_plot(argv):
    ap = argparse.ArgumentParser(
        prog="tracestat plot",
        description="Plot the statistics that `pagesim replay --json` prints, to a PNG. Needs "
                    "matplotlib (make plot-deps).")
    ap.add_argument("stats", help="statistics file ('-' for standard input)")
    ap.add_argument("-o", "--output", required=True, metavar="OUT.png", help="the PNG to write")
    ap.add_argument("--title", help="title of the figure (default: pagesim replay and the "
                                    "trace's file name)")
    ap.add_argument("--index", type=int, default=0, metavar="N",
                    help="with statistics of several traces (a JSON array), plot the N-th "
                         "(default 0, the first)")
    a = ap.parse_args(argv)
    name = a.stats if a.stats != "-" else "<stdin>"
    try:
        if a.stats == "-":
            stats = json.load(sys.stdin)
        else:
            with open(a.stats, encoding="utf-8") as f:
                stats = json.load(f)
    except OSError as e:
        tracelib.die("tracestat: %s: %s" % (name, e.strerror))
    except json.JSONDecodeError as e:
        tracelib.die("%s:%d:%d: expected JSON statistics (pagesim replay --json): %s"
                     % (name, e.lineno, e.colno, e.msg))
    if isinstance(stats, list):
        # `pagesim replay --json` with several traces prints an array of objects.
        if not 0 <= a.index < len(stats):
            tracelib.die("%s: expected --index from 0 to %d (the array has %d statistics), "
                         "found %d" % (name, len(stats) - 1, len(stats), a.index))
        stats = stats[a.index]
    if not isinstance(stats, dict):
        tracelib.die("%s:1:1: expected a JSON object of statistics (or an array of them), "
                     "found %s" % (name, type(stats).__name__))
    try:
        plot_stats(stats, a.output, a.title)
    except ImportError as e:
        tracelib.die("tracestat: %s" % e)
    except ValueError as e:
        tracelib.die("%s: %s" % (name, e))
    except OSError as e:
        tracelib.die("tracestat: %s: %s" % (a.output, e.strerror or e))
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "plot":
        return main_plot(argv[1:])
    ap = argparse.ArgumentParser(
        prog="tracestat",
        description="Summarise a pagesim trace: operations by kind and CPU, address ranges "
                    "touched, page sizes, a histogram of mapping sizes, pins. The trace is "
                    "checked as it is read.",
        epilog="Also: tracestat plot STATS.json -o OUT.png  (plots `pagesim replay --json` "
               "statistics; see tracestat plot --help)")
    ap.add_argument("trace", help="trace file ('-' for standard input)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of text")
    a = ap.parse_args(argv)
    try:
        s = summarize(a.trace)
    except tracelib.TraceError as e:
        tracelib.die(str(e))
    except OSError as e:
        tracelib.die("tracestat: %s: %s" % (a.trace, e.strerror))
    try:
        if a.json:
            json.dump(s.as_dict(), sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            sys.stdout.write(s.text())
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
