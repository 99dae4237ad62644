"""tracegen: seeded synthetic workloads for `pagesim replay` (trace format v1).

Every trace is correct by construction: the generator keeps its own model of what each CPU has
mapped, with which rights and page size, and pins only outcomes it knows exactly:

- an access to a page it mapped: `ok size=S` (and `pa=` for kernel linear maps, whose physical
  address it chose), or the exact rights fault (docs/spec/x86-64-paging.md section 5);
- an access to a guard page it never maps: the not-present fault;
- an access that races, within one barrier epoch, with another CPU's map, unmap or protect of
  the same region (the contended pattern): no pin at all; the checker decides.

It sets the control state its pins rely on explicitly on every CPU (CR0.WP=1, EFER.NXE=1,
CR4.SMEP=SMAP=PKE=PKS=0) and gives every access its CPL. Output is streamed in chunks: a trace
of tens of millions of lines is never held in memory.
"""

from __future__ import annotations

import argparse
import os
import random
import sys

import tracelib
from tracelib import G1, K4, M2

_POOL = 1 << 16
_CHUNK = 2048  # lines per write: small enough to stay below malloc's mmap threshold
PATTERNS = ("seq", "random", "strided", "huge", "kernel", "mixed")

# Access keys: kind letter + CPL digit; 'n' prefix = the not-present guard page.
_KIND_WORD = {"r": "read", "w": "write", "x": "fetch"}

# Error codes (spec PF1-PF5) under the control state the generator sets: WP=1, NXE=1, SMEP=0,
# SMAP=0, PKE=PKS=0.
NOT_PRESENT_CODE = {"r3": 0x4, "w3": 0x6, "x3": 0x14, "r0": 0x0, "w0": 0x2, "x0": 0x10}


def rights_outcome(key: str, prot: str, user_page: bool):
    """None if the access is allowed, else the page-fault error code (spec AR1-AR9, PF1-PF5)."""
    kind, cpl = key[0], key[1]
    if cpl == "3":
        if not user_page:
            return {"r": 0x5, "w": 0x7, "x": 0x15}[kind]      # AR1: P|U (+W, +I/D)
        if kind == "w" and prot[1] != "w":
            return 0x7                                          # AR2: P|W|U
        if kind == "x" and prot[2] != "x":
            return 0x15                                         # AR8 with XD: P|U|I/D
        return None
    if kind == "w" and prot[1] != "w":
        return 0x3                                              # AR4/AR5, WP=1: P|W
    if kind == "x" and prot[2] != "x":
        return 0x11                                             # AR6/AR7, XD: P|I/D
    return None                                                 # SMAP=0, SMEP=0


class Region:
    __slots__ = ("base", "length", "prot", "page", "kernel", "pa", "slot", "tmpl", "guard")

    def __init__(self, base, length, prot, page, kernel=False, pa=None, slot=None):
        self.base = base
        self.length = length
        self.prot = prot
        self.page = page
        self.kernel = kernel
        self.pa = pa
        self.slot = slot
        self.tmpl = None
        self.guard = base + length      # first byte past the region: never mapped


def access_templates(prefix: str, region: Region, pins: bool, keys):
    """Line templates per access key for `region`: user regions take (va,), kernel regions
    (va, pa)."""
    out = {}
    size = tracelib.PAGE_SIZE_NAMES[region.page]
    for key in keys:
        word = _KIND_WORD[key[0]]
        head = "%s%s 0x%%x cpl=%s" % (prefix, word, key[1])
        if not pins:
            out[key] = head if not region.kernel else head + "%.0s"
            continue
        code = rights_outcome(key, region.prot, not region.kernel)
        if code is not None:
            out[key] = head + (" -> pf code=0x%x" % code) + ("%.0s" if region.kernel else "")
        elif region.kernel:
            out[key] = head + " -> ok pa=0x%x size=" + size
        else:
            out[key] = head + " -> ok size=" + size
    return out


def next_pow2(n: int) -> int:
    p = 1
    while p < n:
        p <<= 1
    return p


class Generator:
    def __init__(self, args):
        self.a = args
        self.rng = random.Random(args.seed)
        self.geo = tracelib.GEOMETRY[args.levels]
        self.cpus = args.cpus
        self.pins = not args.no_pins
        # Access keys and weights from --mix and --cpl.
        r, w, x = args.mix
        cpls = {"3": ("3",), "0": ("0",), "mixed": ("3", "0")}[args.cpl]
        self.keys = []
        self.weights = []
        for kind, weight in (("r", r), ("w", w), ("x", x)):
            for c in cpls:
                if weight > 0:
                    self.keys.append(kind + c)
                    self.weights.append(weight)
        if not self.keys:
            tracelib.die("tracegen: --mix gives every access kind a weight of 0")
        self.cum_weights = []
        total = 0
        for wt in self.weights:
            total += wt
            self.cum_weights.append(total)
        self.prefixes = ["cpu%d " % c if c else "" for c in range(self.cpus)]
        # A pool of access keys drawn once by --mix; each batch of accesses takes a slice at a
        # random start (drawing each key anew costs more than writing its line).
        self.key_pool = self.rng.choices(self.keys, cum_weights=self.cum_weights, k=_POOL)
        self.region_len = max(K4, args.region & ~(K4 - 1))
        self.lines = 0
        self._plan()

    # -- layout ----------------------------------------------------------------------------

    def _plan(self):
        """Windows, slots and the RAM the trace needs.

        Each window (one per CPU, or one shared by all with --share contended) holds three
        sub-windows, one per region kind: 4K-page regions at its start, 2M-page regions from
        its middle, 1G-page regions from three quarters on. A slot holds one region followed by
        a guard that is never mapped."""
        a = self.a
        five = a.levels == 5
        contended = a.share == "contended" and self.cpus > 1
        user_base = (1 << 52) if five else (16 << 40)
        if contended:
            wsize = (1 << 50) if five else (64 << 40)
        else:
            wsize = (1 << 44) if five else (1 << 40)
        self.live_total = self.live = max(1, a.live)
        if contended:
            self.live_total = self.live * self.cpus
        self.nslots = 2 * self.live_total
        self.slot_small = self.region_len + K4
        self.len_2m = (max(M2, self.region_len) + M2 - 1) // M2 * M2
        self.slot_2m = self.len_2m + M2
        self.slot_1g = 2 * G1
        for span, room, what in ((self.nslots * self.slot_small, wsize // 2, "4K"),
                                 (self.nslots * self.slot_2m, wsize // 4, "2M"),
                                 (self.nslots * self.slot_1g, wsize // 4, "1G")):
            if span > room:
                tracelib.die("tracegen: %d slots of %s regions do not fit the address range"
                                 " of a window; lower --live or --region" % (self.nslots, what))
        nwin = 1 if contended else self.cpus
        self.user_window = [user_base + (0 if contended else c) * wsize
                            for c in range(self.cpus)]
        self.sub_2m = wsize // 2
        self.sub_1g = 3 * wsize // 4
        kbase = tracelib.GEOMETRY[a.levels].kernel_base
        kwin = (1 << 44) if five else (1 << 40)
        self.kernel_len_4k = self.region_len
        self.kernel_len_2m = self.len_2m
        self.kslot = 2 * max(self.region_len, self.len_2m)
        self.kernel_window = [kbase + (0 if contended else c) * kwin for c in range(self.cpus)]
        if self.nslots * self.kslot > kwin:
            tracelib.die("tracegen: the kernel slots do not fit a window; lower --live or "
                             "--region")
        # 1 GiB pages: at most one live per window.
        self.live_1g = [0] * self.cpus
        # RAM: a frame per tracked 4K page and per page-table node, worst case, doubled (an
        # operation's old frames wait for its shootdown; huge pages need contiguous blocks).
        kinds = self._kinds()
        frames = 0
        nodes = 8
        region_frames = 0
        if "small" in kinds:
            region_frames = self.region_len // K4
            span = self.nslots * self.slot_small
            nodes += nwin * (span // M2 + span // G1 + 4)
        if "huge" in kinds:
            region_frames = max(region_frames, self.len_2m // K4)
            frames += nwin * (G1 // K4)
            span = self.nslots * self.slot_2m
            nodes += nwin * (span // G1 + 4 + 4)
        if "kernel" in kinds:
            span = self.nslots * self.kslot
            nodes += nwin * (span // M2 + span // G1 + 4)
        frames += (self.live_total + self.cpus) * region_frames * (1 if contended else nwin)
        ram = next_pow2(2 * (frames + nodes) * K4 + (64 << 20))
        ram = max(ram, 1 << 30)
        if "kernel" in kinds:
            ram = max(ram, next_pow2(4 * (self.kernel_len_2m + M2)))
        if a.ram is not None:
            if a.ram < ram:
                tracelib.die("tracegen: --ram %s is below what this workload may use (%s)"
                                 % (tracelib.format_size(a.ram), tracelib.format_size(ram)))
            ram = a.ram
        self.ram = ram

    def _kinds(self):
        p = self.a.pattern
        if p == "huge":
            return {"huge"}
        if p == "kernel":
            return {"kernel"}
        if p == "mixed":
            return {"small", "huge", "kernel"}
        return {"small"}

    # -- output ----------------------------------------------------------------------------

    def header(self, w):
        a = self.a
        w.line("pagesim-trace 1")
        w.line("machine levels=%d ram=%s cpus=%d" % (a.levels, tracelib.format_size(self.ram),
                                                     self.cpus))
        w.line("# tracegen --pattern %s --cpus %d --share %s --lines %d --seed %d --mix %s,%s,%s"
               % (a.pattern, a.cpus, a.share, a.lines, a.seed, a.mix[0], a.mix[1], a.mix[2]))
        w.line("#   --cpl %s --region %s --live %d --accesses %d --stride %s --faults %g "
               "--levels %d --ram %s%s"
               % (a.cpl, tracelib.format_size(self.region_len), a.live, a.accesses,
                  tracelib.format_size(a.stride), a.faults, a.levels,
                  tracelib.format_size(self.ram), " --no-pins" if a.no_pins else ""))
        w.line("space 1")
        for c in range(self.cpus):
            p = self.prefixes[c]
            w.line(p + "switch as=1")
            # The control state every pin below relies on, stated rather than assumed.
            w.line(p + "cr0 wp=1")
            w.line(p + "efer nxe=1")
            w.line(p + "cr4 smep=0 smap=0 pke=0 pks=0")
        w.line("barrier")

    def run(self, out):
        """Writes the trace to `out` (a text stream) in chunks."""
        a = self.a
        self.out = out
        self.buf = []
        hw = _HeaderWriter(self.buf)
        self.header(hw)
        if a.verify:
            self.verifier = tracelib.TraceParser("<tracegen>")
            self.verified = 0
        else:
            self.verifier = None
        self.lines = len(self.buf)
        if self.a.share == "contended" and self.cpus > 1:
            self._contended()
        else:
            self._disjoint()
        self._flush()

    def _flush(self):
        buf = self.buf
        if not buf:
            return
        if self.verifier is not None:
            p = self.verifier
            n = self.verified
            for t in buf:
                n += 1
                p.parse_line(t, n)
            self.verified = n
        buf.append("")
        self.out.write("\n".join(buf))
        self.buf = []

    def emit(self, lines):
        self.buf.extend(lines)
        self.lines += len(lines)
        if len(self.buf) >= _CHUNK:
            self._flush()

    # -- regions ---------------------------------------------------------------------------

    def _choose_kind(self):
        kinds = self._kinds()
        if len(kinds) == 1:
            return next(iter(kinds))
        x = self.rng.random()
        return "small" if x < 0.6 else ("huge" if x < 0.8 else "kernel")

    def _choose_prot(self):
        x = self.rng.random()
        return "rw-" if x < 0.7 else ("r--" if x < 0.85 else "r-x")

    def new_region(self, cpu, slot, kind):
        """A region for `slot` of `cpu`'s window (not yet mapped)."""
        rng = self.rng
        prot = self._choose_prot()
        if kind == "small":
            base = self.user_window[cpu] + slot * self.slot_small
            return Region(base, self.region_len, prot, K4, slot=slot)
        if kind == "huge":
            if self.live_1g[cpu] == 0 and rng.random() < 0.1:
                self.live_1g[cpu] += 1
                base = self.user_window[cpu] + self.sub_1g + slot * self.slot_1g
                return Region(base, G1, prot, G1, slot=slot)
            base = self.user_window[cpu] + self.sub_2m + slot * self.slot_2m
            return Region(base, self.len_2m, prot, M2, slot=slot)
        # Kernel linear map: physical addresses chosen so that exactly one page size fits
        # (VA - PA not a multiple of 2M: 4K pages only; not a multiple of 1G: 2M at most).
        va = self.kernel_window[cpu] + slot * self.kslot
        half = self.ram // 2
        if rng.random() < 0.5:
            ln = self.kernel_len_4k
            pa = (int(rng.random() * (half - ln - M2)) & ~(M2 - 1)) + K4
            return Region(va, ln, prot, K4, kernel=True, pa=pa, slot=slot)
        ln = self.kernel_len_2m
        pa = int(rng.random() * (half - ln - M2)) & ~(M2 - 1)
        if (va - pa) % G1 == 0:
            pa += M2
        return Region(va, ln, prot, M2, kernel=True, pa=pa, slot=slot)

    def retire(self, cpu, r: Region):
        if r.page == G1:
            self.live_1g[cpu] -= 1

    def map_line(self, cpu, r: Region):
        p = self.prefixes[cpu]
        if r.kernel:
            glob = " global" if self.rng.random() < 0.3 else ""
            return "%smap_pa 0x%x 0x%x %s prot=%s%s" % (p, r.base, r.pa, tracelib.len_text(r.length),
                                                     r.prot, glob)
        return "%smap 0x%x %s prot=%s user page=%s" % (p, r.base, tracelib.len_text(r.length),
                                                      r.prot, tracelib.PAGE_SIZE_NAMES[r.page])

    def unmap_line(self, cpu, r: Region):
        return "%sunmap 0x%x %s" % (self.prefixes[cpu], r.base, tracelib.len_text(r.length))

    def protect_line(self, cpu, r: Region, prot):
        return "%sprotect 0x%x %s prot=%s" % (self.prefixes[cpu], r.base,
                                             tracelib.len_text(r.length), prot)

    # -- accesses --------------------------------------------------------------------------

    def offsets(self, r: Region, n: int, state):
        """n byte offsets into r, 8-byte aligned (an access never straddles a page)."""
        pat = self.a.pattern
        ln = r.length
        if pat == "mixed":
            pat = ("seq", "random", "strided")[int(self.rng.random() * 3)]
        if pat in ("random", "huge", "kernel"):
            rnd = self.rng.random
            return [int(rnd() * ln) & ~7 for _ in range(n)]
        if pat == "strided":
            stride = self.a.stride
            start = state.get(r.base, 0)
            state[r.base] = (start + n * stride) % ln
            return [((start + j * stride) % ln) & ~7 for j in range(n)]
        # seq: walk the region 64 bytes at a time, a page per step, wrapping.
        start = state.get(r.base, 0)
        state[r.base] = start + n
        npages = ln // K4
        return [(((start + j) % npages) << 12) | (((start + j) * 64) & 0xFC0)
                for j in range(n)]

    def accesses(self, cpu, r: Region, n, state, pinned=True):
        if r.tmpl is None:
            r.tmpl = {}
        tkey = (cpu, pinned)
        tmpl = r.tmpl.get(tkey)
        if tmpl is None:
            tmpl = r.tmpl[tkey] = access_templates(self.prefixes[cpu], r, pinned and self.pins,
                                                   self.keys)
        if n <= _POOL // 4:
            start = int(self.rng.random() * (_POOL - n))
            keys = self.key_pool[start:start + n]
        else:
            keys = self.rng.choices(self.keys, cum_weights=self.cum_weights, k=n)
        offs = self.offsets(r, n, state)
        base = r.base
        if r.kernel:
            pa = r.pa
            lines = [tmpl[k] % (base + o, pa + o) for k, o in zip(keys, offs)]
        else:
            lines = [tmpl[k] % (base + o) for k, o in zip(keys, offs)]
        faults = self.a.faults
        if faults > 0 and n:
            nf = int(n * faults / 100.0 + self.rng.random())
            if nf:
                p = self.prefixes[cpu]
                pins = self.pins
                for _ in range(nf):
                    key = keys[int(self.rng.random() * n)]
                    va = r.guard + (int(self.rng.random() * K4) & ~7)
                    text = "%s%s 0x%x cpl=%s" % (p, _KIND_WORD[key[0]], va, key[1])
                    if pins:
                        text += " -> pf code=0x%x" % NOT_PRESENT_CODE[key]
                    lines.insert(int(self.rng.random() * (len(lines) + 1)), text)
        return lines

    # -- disjoint: each CPU in its own window -------------------------------------------------

    def _disjoint(self):
        a = self.a
        rng = self.rng
        target = a.lines
        per_round = a.accesses
        cpus = range(self.cpus)
        live = [[] for _ in cpus]          # per CPU: live regions, oldest first
        free = [list(range(self.nslots)) for _ in cpus]
        state = [{} for _ in cpus]
        cursor = [0] * self.cpus           # seq/strided: next slot in order
        rounds = 0
        while self.lines < target:
            for c in cpus:
                out = []
                lv = live[c]
                if len(lv) >= self.live:
                    # Retire a region: the oldest (seq, strided) or a random one.
                    idx = 0 if a.pattern in ("seq", "strided") else int(rng.random() * len(lv))
                    old = lv.pop(idx)
                    self.retire(c, old)
                    out.append(self.unmap_line(c, old))
                    state[c].pop(old.base, None)
                    free[c].append(old.slot)
                    if self.pins:
                        # Probe the unmapped region: now not present.
                        key = "r" + self.keys[0][1]
                        out.append("%sread 0x%x cpl=%s -> pf code=0x%x"
                                   % (self.prefixes[c], old.base, key[1], NOT_PRESENT_CODE[key]))
                fr = free[c]
                if a.pattern in ("seq", "strided"):
                    # Slots in address order, wrapping: a sequential mmap-like pattern.
                    want = cursor[c] % self.nslots
                    j = fr.index(want) if want in fr else 0
                    cursor[c] = fr[j] + 1
                else:
                    j = int(rng.random() * len(fr))
                slot = fr.pop(j)
                r = self.new_region(c, slot, self._choose_kind())
                out.append(self.map_line(c, r))
                lv.append(r)
                # Sometimes change the rights of, or remap, a live region.
                x = rng.random()
                if x < 0.1 and lv:
                    t = lv[int(rng.random() * len(lv))]
                    prot = self._choose_prot()
                    out.append(self.protect_line(c, t, prot))
                    t.prot = prot
                    t.tmpl = None
                elif x < 0.13:
                    t = lv[int(rng.random() * len(lv))]
                    if not t.kernel:
                        t.prot = self._choose_prot()
                        t.tmpl = None
                        out.append(self.map_line(c, t))      # a map over a live mapping
                # Accesses: mostly to the new region, some to older live ones.
                n_new = per_round // 2 if len(lv) > 1 else per_round
                out.extend(self.accesses(c, r, n_new, state[c]))
                rest = per_round - n_new
                while rest > 0:
                    t = lv[int(rng.random() * len(lv))]
                    k = min(rest, max(1, per_round // 4))
                    out.extend(self.accesses(c, t, k, state[c]))
                    rest -= k
                self.emit(out)
            rounds += 1
            if self.cpus > 1 and rounds % 16 == 0:
                self.emit(["barrier"])

    # -- contended: all CPUs in one window, epochs separated by barriers ---------------------

    def _contended(self):
        a = self.a
        rng = self.rng
        target = a.lines
        per_round = a.accesses
        live = {}                      # slot -> Region (mapped by some CPU in an earlier epoch)
        state = {}
        nslots = self.nslots
        while self.lines < target:
            changed = {}               # slot -> CPU that changes it in this epoch
            plans = []
            free_slots = [s for s in range(nslots) if s not in live]
            busy = list(live)
            for c in range(self.cpus):
                plan = []
                x = rng.random()
                if (x < 0.45 or not busy) and free_slots and len(live) < self.live_total:
                    s = free_slots.pop(int(rng.random() * len(free_slots)))
                    r = self.new_region(0, s, self._choose_kind())
                    plan.append(("map", s, r))
                    changed[s] = c
                elif x < 0.75 and busy:
                    s = busy.pop(int(rng.random() * len(busy)))
                    plan.append(("unmap", s, live[s]))
                    changed[s] = c
                elif busy:
                    s = busy.pop(int(rng.random() * len(busy)))
                    plan.append(("protect", s, live[s], self._choose_prot()))
                    changed[s] = c
                plans.append(plan)
            for c in range(self.cpus):
                out = []
                mine = {}              # slot -> region as this CPU sees it after its change
                for step in plans[c]:
                    if step[0] == "map":
                        _, s, r = step
                        out.append(self.map_line(c, r))
                        mine[s] = r
                    elif step[0] == "unmap":
                        _, s, r = step
                        out.append(self.unmap_line(c, r))
                        mine[s] = None
                    else:
                        _, s, r, prot = step
                        out.append(self.protect_line(c, r, prot))
                        nr = Region(r.base, r.length, prot, r.page, r.kernel, r.pa, s)
                        mine[s] = nr
                # Targets: every live slot and every slot mapped in this epoch.
                targets = list(live) + [s for s in changed if s not in live]
                if not targets:
                    continue
                nb = max(1, per_round // 32)
                k = per_round // nb
                for _ in range(nb):
                    s = targets[int(rng.random() * len(targets))]
                    if s in mine:
                        r = mine[s]
                        if r is None:
                            continue
                        out.extend(self.accesses(c, r, k, state, pinned=True))
                    elif s in changed:
                        # Another CPU changes this slot in this epoch: race, no pin.
                        r = live.get(s) or next(st[2] for p in plans for st in p if st[1] == s)
                        out.extend(self.accesses(c, r, k, state, pinned=False))
                    else:
                        out.extend(self.accesses(c, live[s], k, state, pinned=True))
                self.emit(out)
            self.emit(["barrier"])
            # Apply the epoch's changes.
            for plan in plans:
                for step in plan:
                    if step[0] == "map":
                        live[step[1]] = step[2]
                        step[2].tmpl = None
                    elif step[0] == "unmap":
                        del live[step[1]]
                        state.pop(step[2].base, None)
                        self.retire(0, step[2])
                    else:
                        step[2].prot = step[3]
                        step[2].tmpl = None


class _HeaderWriter:
    def __init__(self, buf):
        self.buf = buf

    def line(self, text):
        self.buf.append(text)


def parse_mix(text):
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3 or any(p < 0 for p in parts):
        raise argparse.ArgumentTypeError(
            "expected three non-negative weights READ,WRITE,FETCH (e.g. 70,25,5), found %r"
            % text)
    return tuple(int(p) if p == int(p) else p for p in parts)


def build_parser():
    ap = argparse.ArgumentParser(
        prog="tracegen",
        description="Generate a seeded synthetic pagesim trace (format v1), correct by "
                    "construction: it pins only outcomes it knows exactly.",
        epilog="Examples:\n"
               "  tracegen --pattern seq --lines 1000 -o seq.trace\n"
               "  tracegen --pattern random --cpus 4 --share contended --seed 7 -o c.trace\n"
               "  tracegen --pattern huge --lines 5M | pagesim replay -\n"
               "  tracegen --pattern kernel --cpl mixed --mix 50,40,10\n"
               "Patterns: seq (regions mapped in address order, accessed page by page), random "
               "(regions at random slots, random accesses), strided (accesses --stride bytes "
               "apart), huge (2M and 1G tracked pages), kernel (untracked map_pa in the kernel "
               "linear map, pinned physical addresses), mixed (all of them).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pattern", choices=PATTERNS, default="seq",
                    help="workload pattern (default seq)")
    ap.add_argument("--cpus", type=int, default=1, metavar="N",
                    help="simulated CPUs, one thread each, 1-64 (default 1)")
    ap.add_argument("--share", choices=("disjoint", "contended"), default="disjoint",
                    help="disjoint: each CPU in its own address range; contended: all CPUs map,"
                         " unmap, protect and access one range, epochs split by barriers "
                         "(default disjoint)")
    ap.add_argument("--lines", type=tracelib.parse_size_arg, default=10000, metavar="N",
                    help="stop at the first round boundary at or past N lines (suffixes: 5M "
                         "means 5*2^20; default 10000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--mix", type=parse_mix, default=(70, 25, 5), metavar="R,W,X",
                    help="weights of reads, writes and fetches (default 70,25,5)")
    ap.add_argument("--cpl", choices=("3", "0", "mixed"), default="3",
                    help="CPL of the accesses (default 3)")
    ap.add_argument("--region", type=tracelib.parse_size_arg, default=256 << 10, metavar="SIZE",
                    help="size of one mapping (default 256K; huge regions round up to 2M)")
    ap.add_argument("--live", type=int, default=16, metavar="N",
                    help="mappings each CPU keeps at once before unmapping (default 16)")
    ap.add_argument("--accesses", type=int, default=64, metavar="N",
                    help="accesses per round (default 64)")
    ap.add_argument("--stride", type=tracelib.parse_size_arg, default=4096 + 64, metavar="BYTES",
                    help="stride of the strided pattern (default 4160)")
    ap.add_argument("--faults", type=float, default=2.0, metavar="PERCENT",
                    help="share of accesses aimed at never-mapped guard pages, pinned as "
                         "not-present faults (default 2)")
    ap.add_argument("--levels", type=int, choices=(4, 5), default=4,
                    help="paging levels (default 4)")
    ap.add_argument("--ram", type=tracelib.parse_size_arg, default=None, metavar="SIZE",
                    help="simulated RAM (default: computed from the workload)")
    ap.add_argument("--no-pins", action="store_true",
                    help="emit no '-> EXPECT' pins (the checker still checks every access)")
    ap.add_argument("--verify", action="store_true",
                    help="parse every emitted line with the trace parser (slower)")
    ap.add_argument("-o", "--output", metavar="FILE", help="output file (default stdout)")
    return ap


def main(argv=None):
    ap = build_parser()
    a = ap.parse_args(argv)
    if not 1 <= a.cpus <= 64:
        ap.error("--cpus must be 1 to 64, found %d" % a.cpus)
    if a.live < 1 or a.accesses < 0:
        ap.error("--live must be at least 1 and --accesses at least 0")
    if not 0 <= a.faults <= 100:
        ap.error("--faults must be 0 to 100")
    if a.stride == 0:
        ap.error("--stride must not be 0")
    if a.region > 1 << 36:
        ap.error("--region must be at most 64G")
    gen = Generator(a)
    try:
        if a.output and a.output != "-":
            with open(a.output, "w", buffering=1 << 20) as f:
                gen.run(f)
        else:
            gen.run(sys.stdout)
            sys.stdout.flush()
    except tracelib.TraceError as e:
        tracelib.die("tracegen: internal error, generated an invalid line: %s" % e, 3)
    except BrokenPipeError:
        # The reader went away (e.g. `tracegen | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
