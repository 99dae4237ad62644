"""A small reference model of what a trace's accesses must produce, for checking the pins the
tools emit. Independent of the tools' own models: it replays a parsed trace's map / map_pa /
unmap / protect and control-register lines and derives each access's outcome from the x86
rules of docs/spec/x86-64-paging.md (section 4 and 5), for the subset the tools use: no
protection keys, no reserved bits, no shadow stacks, no A/D pins.

Multi-CPU traces are checked epoch by epoch (lines between barriers): each pinned access must
produce its pin both when every other CPU's operations of the epoch ran before the accessing
CPU's lines and when none did (the two extreme orders of disjoint work)."""

import copy

import tracelib
from tracelib import K4, M2, G1


class Mapping:
    __slots__ = ("start", "end", "prot", "user", "page", "pa", "pa_mode")

    def __init__(self, start, end, prot, user, page, pa=None, pa_mode=False):
        self.start, self.end, self.prot, self.user = start, end, prot, user
        self.page, self.pa, self.pa_mode = page, pa, pa_mode


class State:
    def __init__(self, levels, cpus):
        self.levels = levels
        self.geo = tracelib.GEOMETRY[levels]
        self.spaces = {"kernel": []}
        self.cur = ["kernel"] * cpus
        self.wp = [1] * cpus
        self.nxe = [1] * cpus
        self.smep = [0] * cpus
        self.smap = [0] * cpus
        self.cpl = [0] * cpus
        self.ac = [0] * cpus

    def table(self, cpu, va, args):
        if not self.geo.is_user(va):
            return self.spaces["kernel"]
        sid = args.get("as", self.cur[cpu])
        return self.spaces.setdefault(sid, [])

    @staticmethod
    def remove(table, a, b):
        out = []
        for m in table:
            if m.end <= a or m.start >= b:
                out.append(m)
                continue
            if m.start < a:
                left = copy.copy(m)
                left.end = a
                out.append(left)
            if m.end > b:
                right = copy.copy(m)
                if right.pa is not None:
                    right.pa += b - m.start
                right.start = b
                out.append(right)
        table[:] = out

    def apply(self, st):
        k, cpu, a = st.kind, st.cpu, st.args
        if k == "space":
            self.spaces.setdefault(a["n"], [])
        elif k == "switch":
            self.cur[cpu] = a["as"]
        elif k == "cr0":
            self.wp[cpu] = a["wp"]
        elif k == "efer":
            self.nxe[cpu] = a["nxe"]
        elif k == "cr4":
            self.smep[cpu] = a.get("smep", self.smep[cpu])
            self.smap[cpu] = a.get("smap", self.smap[cpu])
        elif k == "cpl":
            self.cpl[cpu] = a["value"]
        elif k == "ac":
            self.ac[cpu] = a["value"]
        elif k in ("map", "map_pa", "unmap", "protect"):
            va, ln = a["va"], a["len"]
            t = self.table(cpu, va, a)
            if k == "protect":
                for m in list(t):
                    if m.start < va + ln and va < m.end:
                        self.remove(t, max(va, m.start), min(va + ln, m.end))
                        nm = Mapping(max(va, m.start), min(va + ln, m.end), a["prot"], m.user,
                                     m.page, None if m.pa is None else
                                     m.pa + max(va, m.start) - m.start, m.pa_mode)
                        t.append(nm)
                return
            self.remove(t, va, va + ln)
            if k == "map":
                t.append(Mapping(va, va + ln, a.get("prot", "rw-"), bool(a.get("user")),
                                 a.get("page")))
            elif k == "map_pa":
                t.append(Mapping(va, va + ln, a.get("prot", "rw-"), False, None, a["pa"],
                                 True))

    def outcome(self, cpu, kind, va, args):
        """('ok', pa or None, size) or ('pf', code) or ('gp',) / ('ss',)."""
        cpl = args.get("cpl", self.cpl[cpu])
        if not self.geo.canonical(va):
            return ("ss",) if args.get("ss") else ("gp",)
        user_access = cpl == 3 and not args.get("implicit")
        fetch = kind == "fetch"
        write = kind == "write"
        base = (2 if write else 0) | (4 if user_access else 0) | \
            (0x10 if fetch and (self.nxe[cpu] or self.smep[cpu]) else 0)
        t = self.spaces["kernel"] if not self.geo.is_user(va) else \
            self.spaces.get(self.cur[cpu], []) if self.cur[cpu] != "kernel" else []
        m = next((m for m in t if m.start <= va < m.end), None)
        if m is None:
            return ("pf", base)
        prot = m.prot
        deny = False
        if user_access:
            if not m.user:
                deny = True
            elif write and prot[1] != "w":
                deny = True
            elif fetch and prot[2] != "x" and self.nxe[cpu]:
                deny = True
        else:
            if fetch:
                if m.user and self.smep[cpu]:
                    deny = True
                elif prot[2] != "x" and self.nxe[cpu]:
                    deny = True
            else:
                if m.user and self.smap[cpu] and (args.get("implicit") or
                                                 not args.get("ac", self.ac[cpu])):
                    deny = True
                elif write and prot[1] != "w" and self.wp[cpu]:
                    deny = True
        if deny:
            return ("pf", base | 1)
        if m.pa_mode:
            size = K4
            for s in ((G1,) if self.levels == 5 else ()) + (M2,):
                blk = va & ~(s - 1)
                if (m.start - m.pa) % s == 0 and blk >= m.start and blk + s <= m.end:
                    size = s
                    break
            return ("ok", m.pa + (va - m.start), size)
        return ("ok", None, m.page)


def matches(pin, got):
    if pin[0] != got[0]:
        return False
    if pin[0] == "pf":
        return pin[1] == got[1]
    if pin[0] == "ok":
        _, pa, size = pin
        if pa is not None and pa != got[1]:
            return False
        if size is not None and size != got[2]:
            return False
    return True


def check_pins(text, name="<trace>"):
    """Parses a whole trace and checks every pin against the reference model. Returns a list of
    mismatch descriptions (empty when all pins hold) and the number of pins checked."""
    parser = tracelib.TraceParser(name)
    stmts = [s for s in parser.parse_file(text.splitlines(keepends=True))]
    levels, cpus = parser.levels, parser.cpus
    state = State(levels, cpus)
    problems = []
    checked = 0
    epoch = []

    def run_epoch(epoch):
        nonlocal checked
        by_cpu = {}
        for st in epoch:
            by_cpu.setdefault(st.cpu, []).append(st)
        for cpu, mine in by_cpu.items():
            others = [s for s in epoch if s.cpu != cpu and s.kind in
                      ("map", "map_pa", "unmap", "protect")]
            schedules = [copy.deepcopy(state)]
            if others:
                s2 = copy.deepcopy(state)
                for o in others:
                    s2.apply(o)
                schedules.append(s2)
            for sch in schedules:
                for st in mine:
                    if st.kind in ("read", "write", "fetch"):
                        pin = st.args.get("expect")
                        if pin is not None:
                            got = sch.outcome(cpu, st.kind, st.args["va"], st.args)
                            if sch is schedules[0]:
                                checked += 1
                            if not matches(pin, got):
                                problems.append("line %d: cpu%d %s 0x%x pinned %r, model gives "
                                                "%r" % (st.line, cpu, st.kind, st.args["va"],
                                                        pin, got))
                    else:
                        sch.apply(st)
        for st in epoch:
            state.apply(st)

    for st in stmts:
        if st.kind == "barrier":
            run_epoch(epoch)
            epoch = []
        elif st.kind in ("space",):
            state.apply(st)
        elif st.cpu is not None:
            epoch.append(st)
    run_epoch(epoch)
    return problems, checked
