"""strace2trace: converts what `strace -f` prints for a real program into a pagesim trace.

What it converts, for the traced process (the first one in the log, or --pid):
- mmap / mmap2, munmap, mprotect / pkey_mprotect, brk and mremap, into `map` / `unmap` /
  `protect` in one user address space (`space 1`), 4 KiB pages, PROT_READ/WRITE/EXEC as prot=
  (x86-64 cannot map a page that is not readable, so every mapping gets `r`; PROT_NONE is no
  mapping at all);
- each thread (clone / clone3 with CLONE_VM, vfork) on its own simulated CPU, reused after the
  thread exits (more than --max-cpus live threads are folded onto CPUs, with a message);
- after each change, accesses at CPL 3 to the first and last page of the range with pinned
  outcomes the converter knows exactly from its own model of the address space: reads, writes
  on writable pages, fetches on executable ones (ok size=4K); after an mprotect also the write
  or fetch the new rights deny (pf code=0x7 / 0x15); on pages no longer mapped a read
  (pf code=0x4);
- effects in the order the kernel applied them (removals at a call's start, creations at its
  end: see Converter.push), and `barrier`s wherever two threads touch the same memory between
  barriers and before a new thread's first operation, so every pin holds in any order the
  replay runs one epoch's lines in.

Pages mapped by execve (the program image, the stack, the vDSO) are invisible to strace; a
successful mprotect on such pages proves they exist, so it maps them with the new rights.

What it cannot convert it reports on stderr as `FILE:LINE: ...`; it never emits a trace that
fails to parse: every line goes through tracelib's checks as it is written.
"""

from __future__ import annotations

import argparse
import bisect
import codecs
import heapq
import io
import os
import re
import shutil
import sys
import tempfile

import tracelib
from tracelib import K4

_bisect_right = bisect.bisect_right

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
_PROT_NAMES = {"PROT_NONE": 0, "PROT_READ": 1, "PROT_WRITE": 2, "PROT_EXEC": 4,
               "PROT_SEM": 8, "PROT_GROWSDOWN": 0x01000000, "PROT_GROWSUP": 0x02000000}
MAP_FIXED = 0x10
MAP_FIXED_NOREPLACE = 0x100000
MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP = 1, 2, 4
_MAP_NAMES = {"MAP_SHARED": 0x1, "MAP_PRIVATE": 0x2, "MAP_SHARED_VALIDATE": 0x3,
              "MAP_FIXED": MAP_FIXED, "MAP_ANONYMOUS": 0x20, "MAP_ANON": 0x20,
              "MAP_32BIT": 0x40, "MAP_GROWSDOWN": 0x100, "MAP_DENYWRITE": 0x800,
              "MAP_EXECUTABLE": 0x1000, "MAP_LOCKED": 0x2000, "MAP_NORESERVE": 0x4000,
              "MAP_POPULATE": 0x8000, "MAP_NONBLOCK": 0x10000, "MAP_STACK": 0x20000,
              "MAP_HUGETLB": 0x40000, "MAP_SYNC": 0x80000,
              "MAP_FIXED_NOREPLACE": MAP_FIXED_NOREPLACE, "MAP_UNINITIALIZED": 0x4000000,
              "MAP_FILE": 0}
_MREMAP_NAMES = {"MREMAP_MAYMOVE": 1, "MREMAP_FIXED": 2, "MREMAP_DONTUNMAP": 4}
CLONE_VM, CLONE_VFORK, CLONE_THREAD = 0x100, 0x4000, 0x10000

# x86 page-fault error codes of a CPL-3 access (docs/spec/x86-64-paging.md section 5) under
# the control state the trace sets on every CPU (CR0.WP=1, EFER.NXE=1).
NOT_PRESENT = {"read": 0x4, "write": 0x6, "fetch": 0x14}
CODE_WRITE_RO = 0x7          # P|W|U
CODE_FETCH_XD = 0x15         # P|U|I/D

# Syscalls that change the memory map or the set of tasks.
MEMORY_CALLS = {"mmap", "mmap2", "old_mmap", "munmap", "mprotect", "pkey_mprotect", "brk",
                "mremap", "shmat", "shmdt"}
TASK_CALLS = {"clone", "clone2", "clone3", "fork", "vfork", "execve", "execveat"}
RELEVANT = MEMORY_CALLS | TASK_CALLS
_CLONES = ("clone", "clone2", "clone3", "fork", "vfork")
# memory_call's kinds: 0 mmap, 1 munmap, 2 mprotect.
_MEMORY_KIND = {"mmap": 0, "mmap2": 0, "old_mmap": 0, "munmap": 1, "mprotect": 2,
                "pkey_mprotect": 2}
_PREPARSED = ("mmap", "munmap", "mprotect")     # read when they are queued (see syscall)
_REMOVALS = ("munmap", "mprotect", "pkey_mprotect", "shmdt")
_EPOCH_LIMIT = 256     # ranges remembered between barriers before a barrier is forced

# Optional pid prefix ("[pid  123] " or "123 " as with -f -o), optional timestamp (-t, -tt,
# -ttt, -r), then the body.
_LINE_RE = re.compile(r"\s*(?:\[pid\s+(\d+)\]\s*|(\d+)\s+)?"
                      r"(?:(?:\d\d:\d\d:\d\d|\d+)(?:\.\d+)?\s+)?(.*)")
# A complete mmap / munmap / mprotect / brk (see Converter.feed). Its arguments are characters
# other than ()<> and <...> pieces (-y file names): written "unrolled" ([^()<>]*(?:<...>[^()<>]*)*,
# the same language and the same groups as (?:[^()<>]|<[^<>]*>)*, without a branch per character).
_FAST_RE = re.compile(r"\s*(?:\[pid\s+(\d+)\]\s*|(\d+)\s+)?"
                      r"(?:(?:\d\d:\d\d:\d\d|\d+)(?:\.\d+)?\s+)?"
                      r"(mmap|munmap|mprotect|brk)\(([^()<>]*(?:<[^<>]*>[^()<>]*)*)\)\s+=\s+"
                      r"(0x[0-9a-f]+|\d+)(?:\s+<\d+(?:\.\d+)?>)?\s*\Z")
# The commonest lines of all (Converter.run): a complete mmap / munmap / mprotect / brk as
# `strace -f -o` prints it (the pid first, then -t / -tt / -ttt / -r times if any), its
# arguments in the shapes strace prints by default, the result, -T's time. Such a line is one
# _FAST_RE matches with the same pid, name, arguments and result (each part here is a subset of
# _FAST_RE's: [0-9] for \d, spaces for \s, possessive repeats where giving characters back can
# never lead to a match, a result without leading zeros), provided mmap's last arguments
# (group 4) hold no ( < > but in <...> pieces (checked by the caller with _REST_RE). Numbers
# are decimal without a leading zero or lower-case 0x-hex, so int(x, 0) reads them as _number
# does. Groups: 1 pid; mmap 2 length, 3 prot, 4 the arguments after prot; munmap 5 address,
# 6 length; mprotect 7 address, 8 length, 9 prot; brk 10 argument; 11 the result.
_HOT_RE = re.compile(
    r"([0-9]++) ++(?:[0-9][0-9]:[0-9][0-9]:[0-9][0-9](?:\.[0-9]++|) ++|[0-9]++(?:\.[0-9]++|) ++|)"
    r"(?:mmap\((?:NULL|0x[0-9a-f]++), (0|[1-9][0-9]*+), ([A-Z_|]++), ([^)]*+)"
    r"|munmap\((0x[0-9a-f]++|0), (0|[1-9][0-9]*+)"
    r"|mprotect\((0x[0-9a-f]++|0), (0|[1-9][0-9]*+), ([A-Z_|]++|0x[0-9a-f]++|0)"
    r"|brk\((NULL|0x[0-9a-f]++)"
    r")\) ++= (0x[0-9a-f]++|0|[1-9][0-9]*+)(?: <[0-9]++(?:\.[0-9]++|)>|)\n?\Z")
# mmap's last arguments (group 4 of _HOT_RE, without a ')') as _FAST_RE takes them: no ( < >
# but in <...> pieces (-y file names).
_REST_RE = re.compile(r"[^(<>]*+(?:<[^<>]*+>[^(<>]*+)*+\Z")
# Any other line, read once (Converter.run): _LINE_RE's prefix (rewritten, X? as (?:X|): the
# same parses in the same order), then, in order:
# - '<... NAME resumed>REST', as _RESUMED_RE reads the body, and the result RET if REST is
#   just ') = RET' (and -T's time): then syscall reads RET as the result and what the call's
#   first line held as its arguments;
# - 'NAME(REST', a call (complete or unfinished);
# - anything else.
# The last alternative always matches, so the prefix is always parsed as _LINE_RE parses it,
# and (with .rstrip()) REST and the last alternative are what _general would see as what
# follows the body's first '(' or as the body. Which alternative matched is m.lastindex (the
# group that closed last).
_ANY_RE = re.compile(
    r"\s*(?:\[pid\s+(\d+)\]\s*|(\d+)\s+|)"
    r"(?:\d\d:\d\d:\d\d(?:\.\d+|)\s+|\d+(?:\.\d+|)\s+|)"
    r"(?:<\.\.\. (?P<res_name>[A-Za-z0-9_?]+) resumed>"
    r"(?P<res_rest>(?:\) ++= (?P<res_ret>0x[0-9a-f]++|0|[1-9][0-9]*+)"
    r"(?: <[0-9]++(?:\.[0-9]++|)>|)(?=\n?\Z))?+.*)"
    r"|(?P<call_name>[A-Za-z0-9_]+)\((?P<call_rest>.*)"
    r"|(?P<body>.*))")
_GI = _ANY_RE.groupindex
_K_RESUMED, _K_CALL, _K_BODY = _GI["res_rest"], _GI["call_rest"], _GI["body"]
_G_RES_NAME, _G_RES_RET, _G_CALL_NAME = _GI["res_name"], _GI["res_ret"], _GI["call_name"]
_FAST_NAMES = ("mmap", "munmap", "mprotect", "brk")      # the calls _FAST_RE takes
_RESUMED_RE = re.compile(r"<\.\.\. ([A-Za-z0-9_?]+) resumed>(.*)")
_ATTACHED_RE = re.compile(r"strace: Process (\d+) (attached|detached|suspended)")
_FLAGS_RE = re.compile(r"flags=([A-Za-z0-9_|]+)")
_EXIT_RE = re.compile(r"\+\+\+ (exited with|killed by|superseded by)")
_DURATION_RE = re.compile(r"\s*<\d+(?:\.\d+)?>\s*$")


def _merge(plan):
    """Joins adjacent (start, end, value) pieces of equal value."""
    out = []
    for a, b, v in plan:
        if out and out[-1][1] == a and out[-1][2] == v:
            out[-1] = (out[-1][0], b, v)
        else:
            out.append((a, b, v))
    return out


_END = 1 << 64


def page_up(n: int) -> int:
    return (n + K4 - 1) & ~(K4 - 1)


def prot_text(p: int) -> str:
    """prot= of a mapping with PROT_* bits p (not 0): x86-64 pages are always readable."""
    return "r" + ("w" if p & PROT_WRITE else "-") + ("x" if p & PROT_EXEC else "-")


# prot= text and option tails by PROT_* bits (1-7).
_PROT_TEXT = {p: prot_text(p) for p in range(1, 8)}
_MAP_TAIL = {p: "prot=%s user page=4K" % _PROT_TEXT[p] for p in range(1, 8)}
_PROTECT_TAIL = {p: "prot=%s" % _PROT_TEXT[p] for p in range(1, 8)}


_RUN_RE = re.compile(b"\x01+")
_FIRST_LINES = {p: 1 + bool(p & PROT_WRITE) + bool(p & PROT_EXEC) for p in range(1, 8)}
_USER_END = tracelib.GEOMETRY[4].user_end
_LEN_TEXT = {}                  # len_text by length (bounded cache)


def _len_text(n):
    text = tracelib.len_text(n)
    if len(_LEN_TEXT) < 4096:
        _LEN_TEXT[n] = text
    return text


class _Formats:
    """A CPU's line templates (see Converter._make_formats): access templates `tm` (as
    Converter._make_templates), `map` / `protect` by PROT bits, `unmap`, and, joined from them,
    the block of lines an mmap emits (`map_first`: the map and the accesses to its first page;
    `map_first_last`: and a read of its last page), the accesses after an mprotect (`rights`;
    `map_rights` and `protect_rights` after a map or protect line), and an unmap with the read
    of its first page (`unmap_absent`)."""
    __slots__ = ("tm", "map", "protect", "unmap", "unmap_absent", "map_first", "map_first_last",
                 "rights", "map_rights", "protect_rights")


class ConvertError(Exception):
    """A line that cannot be converted (reported, not fatal)."""


def _number(text: str) -> int:
    text = text.strip()
    if text == "NULL":
        return 0
    if "/*" in text:                         # -X verbose: 0x3 /* PROT_READ|PROT_WRITE */
        text = text.split("/*", 1)[0].strip()
    try:
        return int(text, 0)
    except ValueError:
        raise ConvertError("expected a number, found %r" % text) from None


_flag_cache = {}


def _flags(text: str, names) -> int:
    """PROT_READ|PROT_WRITE, 0x3, 0x3 /* PROT_READ|PROT_WRITE */, MAP_PRIVATE|0x40000."""
    key = (id(names), text)
    v = _flag_cache.get(key)
    if v is not None:
        return v
    t = text.strip()
    if "/*" in t:
        t = t.split("/*", 1)[0].strip()
    v = 0
    for part in t.split("|"):
        part = part.strip()
        if part in names:
            v |= names[part]
        else:
            try:
                v |= int(part, 0)
            except ValueError:
                raise ConvertError("unknown flag %r" % part) from None
    if len(_flag_cache) > 4096:
        _flag_cache.clear()
    _flag_cache[key] = v
    return v


# ---------------------------------------------------------------------------------------------
# The address-space model
# ---------------------------------------------------------------------------------------------

class AddressSpace:
    """What the converter knows of a process's memory map, by 4 KiB page: an interval map from
    address to PROT_* bits; 0 is a PROT_NONE reservation, None unknown or unmapped. Only pages
    with bits != 0 (and not None) are mapped in the simulated machine."""

    __slots__ = ("starts", "vals", "brk", "mapped_pages")

    def __init__(self):
        self.starts = [0]
        self.vals = [None]
        self.brk = None
        self.mapped_pages = 0       # pages mapped in the simulator (bits non-zero)

    def copy(self):
        s = AddressSpace()
        s.starts = list(self.starts)
        s.vals = list(self.vals)
        s.brk = self.brk
        s.mapped_pages = self.mapped_pages
        return s

    def pieces(self, a: int, b: int):
        """[(start, end, value)] covering [a, b)."""
        starts, vals = self.starts, self.vals
        i = bisect.bisect_right(starts, a) - 1
        out = []
        n = len(starts)
        while a < b:
            end = starts[i + 1] if i + 1 < n else 1 << 64
            e = end if end < b else b
            out.append((a, e, vals[i]))
            a = e
            i += 1
        return out

    def value_at(self, a: int):
        return self.vals[bisect.bisect_right(self.starts, a) - 1]

    def assign(self, a: int, b: int, v):
        """Sets [a, b) to v, keeping the count of simulator-mapped pages."""
        self.take(a, b, v, False)

    def take(self, a: int, b: int, v, want=True):
        """Sets [a, b) to v like `assign` and returns what `pieces(a, b)` gave before (None if
        not `want`). The map stays canonical: no two neighbouring pieces have equal values."""
        starts, vals = self.starts, self.vals
        i = _bisect_right(starts, a) - 1
        if i < 0:
            raise ValueError("address 0x%x below the address space (_check_range admits none)" % a)
        try:
            end_i = starts[i + 1]
        except IndexError:
            end_i = _END
        if b <= end_i:
            # [a, b) lies in piece i (the common case).
            vi = vals[i]
            if vi == v:
                return [(a, b, vi)] if want else None       # nothing changes
            if v:
                if not vi:
                    self.mapped_pages += (b - a) >> 12
            elif vi:
                self.mapped_pages -= (b - a) >> 12
            n = len(starts)
            if starts[i] < a:
                if b < end_i:                               # vi | v | vi
                    starts[i + 1:i + 1] = (a, b)
                    vals[i + 1:i + 1] = (v, vi)
                elif i + 1 < n and vals[i + 1] == v:        # vi | v joins the next piece
                    starts[i + 1] = a
                else:                                       # vi | v
                    starts.insert(i + 1, a)
                    vals.insert(i + 1, v)
            elif b < end_i:
                if i > 0 and vals[i - 1] == v:              # the previous piece grows | vi
                    starts[i] = b
                else:                                       # v | vi
                    starts.insert(i + 1, b)
                    vals.insert(i + 1, vi)
                    vals[i] = v
            else:                                           # the whole piece becomes v
                left = i > 0 and vals[i - 1] == v
                if i + 1 < n and vals[i + 1] == v:
                    if left:
                        del starts[i:i + 2]
                        del vals[i:i + 2]
                    else:
                        del starts[i + 1]
                        del vals[i + 1]
                        vals[i] = v
                elif left:
                    del starts[i]
                    del vals[i]
                else:
                    vals[i] = v
            return [(a, b, vi)] if want else None
        n = len(starts)
        j = _bisect_right(starts, b - 1, i) - 1            # the piece holding b - 1
        si = starts[i]
        end_j = starts[j + 1] if j + 1 < n else _END
        vi = vals[i]
        removed = 0
        out = [] if want else None
        s = a
        for k in range(i, j + 1):
            e = starts[k + 1] if k < j else b
            old = vals[k]
            if old:
                removed += (e - s) >> 12
            if want:
                out.append((s, e, old))
            s = e
        vj = vals[j]
        self.mapped_pages += ((b - a) >> 12 if v else 0) - removed
        # Replace pieces i..j by: the part of piece i before a (unless it has the value v),
        # [a, b) = v (unless it joins the piece before), the part of piece j after b (unless it
        # has the value v); and drop piece j + 1's start if it has the value v and starts at b.
        if si < a:
            if vi == v:
                new_s, new_v = [si], [v]
            else:
                new_s, new_v = [si, a], [vi, v]
        elif i > 0 and vals[i - 1] == v:
            new_s, new_v = [], []
        else:
            new_s, new_v = [a], [v]
        hi = j + 1
        if end_j > b:
            if vj != v:
                new_s.append(b)
                new_v.append(vj)
        elif hi < n and vals[hi] == v:
            hi += 1
        starts[i:hi] = new_s
        vals[i:hi] = new_v
        return out

    def mapped_runs(self):
        """[(start, end)] of the runs of mapped pieces (neighbours merged, whatever their
        rights), in address order."""
        starts = self.starts
        n = len(starts)
        out = []
        for m in _RUN_RE.finditer(bytes(map(bool, self.vals))):
            i, j = m.span()
            out.append((starts[i], starts[j] if j < n else _END))
        return out

    def mapped_intervals(self):
        return [(self.starts[i], self.starts[i + 1] if i + 1 < len(self.starts) else 1 << 64,
                 v) for i, v in enumerate(self.vals) if v]


class Task:
    __slots__ = ("pid", "space", "cpu", "alive", "fresh", "pending", "vm_child")

    def __init__(self, pid, space):
        self.pid = pid
        self.space = space
        self.cpu = None
        self.alive = True
        self.fresh = True
        self.pending = None        # (name, text so far, line) of an unfinished call
        self.vm_child = False      # a process sharing its parent's memory (vfork, CLONE_VM
        #                            without CLONE_THREAD) until it calls execve


class Space:
    """A process's address space: its model and whether it is the one converted."""
    __slots__ = ("model", "converted", "users", "leader")

    def __init__(self, model, converted, leader):
        self.model = model
        self.converted = converted
        self.users = 0
        self.leader = leader


# ---------------------------------------------------------------------------------------------
# The converter
# ---------------------------------------------------------------------------------------------

class Converter:
    def __init__(self, args, filename, body_out):
        self.a = args
        self.filename = filename
        self.max_cpus = args.max_cpus
        self.probe_pages = args.probe_pages
        # The body is written to a spool file while converting (the machine line, which needs
        # the CPU count and the peak of mapped memory, is known only at the end). It is checked
        # against a provisional machine of 64 CPUs, every CPU in space 1.
        # Chunks of 1024 blocks (a few hundred KiB): the allocator reuses their memory instead
        # of mapping fresh pages for every chunk.
        self.w = tracelib.TraceWriter(body_out, filename="<strace2trace output>",
                                      verify=args.verify, chunk_lines=1024)
        self.w.parser.parse_line("pagesim-trace 1", 0)
        self.w.parser.parse_line("machine cpus=64 ram=64T", 0)
        self.w.parser.parse_line("space 1", 0)
        for c in range(64):
            self.w.parser.parse_line("cpu%d switch as=1" % c, 0)
        self.w.lineno = 0
        self.tasks = {}
        self.root = None            # pid of the first task (None until known)
        self.target_pid = args.pid
        self.cpu_owner = []         # per CPU: the live task on it, or None
        self.cpus_used = 0
        self.attached = set()
        self.reports = 0
        self.reported_kinds = {}
        self.other_calls = {}       # pid of a process not converted -> [count, first line]
        self.stats = {"lines": 0, "syscalls": 0, "converted": 0, "failed": 0, "threads": 0,
                      "folded": 0}
        self.peak_pages = 0
        self.units = set()          # 2 MiB units ever mapped (page-table estimate)
        self.extra_nodes = 0
        self.epoch = []             # (start, end, CPU) touched since the last barrier
        self.epoch_any = False
        self.partial = None         # a line cut by a "strace: Process N attached" message
        self.templates = {}         # CPU -> checked access-line templates (see probe)
        self.fmt = [None] * 64      # per CPU: its _Formats (see _make_formats)
        self.epoch_cpu = None       # the CPU of every range in self.epoch (None: no range,
        #                             -1: ranges of several CPUs)
        self.prot_bits = {}         # prot= argument text -> PROT bits (the hot path's cache)
        self.lineno = 0             # the line being converted (see run)
        self.heap = []              # effects waiting for their turn (see push)
        self.seq = 0
        self.pending_start = {}     # task -> start line of its unfinished call
        self.saw_clone_lines = False
        self.converted_space = None
        self.max_cpu_seen = 0

    # -- reports ---------------------------------------------------------------------------

    def report(self, lineno, message):
        self.reports += 1
        if self.reports <= self.a.max_reports:
            sys.stderr.write("%s:%d: %s\n" % (self.filename, lineno, message))

    # -- tasks and CPUs --------------------------------------------------------------------

    def _new_space(self, model, leader):
        converted = False
        if self.converted_space is None and (self.target_pid is None
                                             or self.target_pid == leader):
            converted = True
        sp = Space(model, converted, leader)
        if converted:
            self.converted_space = sp
        return sp

    def task(self, pid, lineno, resumed=None):
        """The task of a line's pid (None: a line without a pid prefix). `resumed` names the
        call a '<... NAME resumed>' line resumes."""
        t = self.tasks.get(pid)
        if t is not None:
            return t
        if pid is None:
            if self.root is not None:
                return self.tasks[self.root]
            return self._first_task(None, lineno)
        first = self.tasks.get(None)
        if self.root is None:
            if first is None:
                return self._first_task(pid, lineno)
            # Lines without a pid prefix came from the first task; strace prefixes every line
            # once a second task is attached. Is this pid the first task or a new child?
            p = first.pending
            cloning = p is not None and p[0] in _CLONES
            if (resumed is not None and p is not None and p[0] == resumed) or \
                    (not cloning and pid not in self.attached):
                del self.tasks[None]
                first.pid = pid
                self.tasks[pid] = first
                self.root = pid
                if first.space.leader is None:
                    first.space.leader = pid
                return first
        # A pid never seen: a child whose clone has not returned yet, or a task attached
        # without a clone line (e.g. -e trace without clone, or strace -p).
        for cand in self.tasks.values():
            p = cand.pending
            if p is not None and p[0] in _CLONES:
                return self._child(cand, pid, self._clone_flags(p[0], p[1]), lineno)
        root = self.tasks.get(self.root) or next(iter(self.tasks.values()))
        if not self.saw_clone_lines:
            self._note_once("no-clone", lineno,
                            "pid %d appears without a clone that created it: taken as a thread "
                            "of the traced process (record with -e trace=%%memory,%%process to "
                            "tell threads from processes)" % pid)
        else:
            self.report(lineno, "pid %d appears without a clone that created it: taken as a "
                                "thread of the traced process" % pid)
        t = Task(pid, root.space)
        root.space.users += 1
        self.tasks[pid] = t
        self._assign_cpu(t, lineno)
        return t

    def _first_task(self, pid, lineno):
        sp = self._new_space(AddressSpace(), pid)
        t = Task(pid, sp)
        sp.users += 1
        self.tasks[pid] = t
        if pid is not None:
            self.root = pid
        self._assign_cpu(t, lineno)
        return t

    def _note_once(self, kind, lineno, message):
        if kind not in self.reported_kinds:
            self.reported_kinds[kind] = lineno
            self.report(lineno, message)

    def _assign_cpu(self, t, lineno):
        if not t.space.converted:
            return
        self.stats["threads"] += 1
        owners = self.cpu_owner
        for c, o in enumerate(owners):
            if o is None:
                owners[c] = t
                t.cpu = c
                return
        if len(owners) < self.max_cpus:
            owners.append(t)
            t.cpu = len(owners) - 1
            self.cpus_used = len(owners)
            return
        # Fold: more live threads than CPUs. The folded thread shares a CPU, whose lines run in
        # file order, so the trace stays correct; only the parallelism is lost.
        c = self.stats["threads"] % self.max_cpus
        t.cpu = c
        self.stats["folded"] += 1
        self.report(lineno, "thread %s: more than %d live threads, folded onto cpu%d"
                    % (t.pid, self.max_cpus, c))

    def _release_cpu(self, t):
        if t.cpu is not None and t.cpu < len(self.cpu_owner) and self.cpu_owner[t.cpu] is t:
            self.cpu_owner[t.cpu] = None

    def _child(self, parent, pid, flags, lineno):
        t = self.tasks.get(pid)
        if t is not None and t.alive:
            return t                       # created when its first line came before the clone
        if flags & CLONE_VM:
            sp = parent.space
        else:
            sp = self._new_space(parent.space.model.copy(), pid)
        t = Task(pid, sp)
        t.vm_child = bool(flags & CLONE_VM) and not flags & CLONE_THREAD
        sp.users += 1
        self.tasks[pid] = t
        self._assign_cpu(t, lineno)
        if sp.converted and sp is not parent.space:
            # The converted process was forked: it starts with its parent's mappings.
            self.push(lineno, self._inherit, t, lineno)
        return t

    def _inherit(self, t, lineno):
        for a, b, v in t.space.model.mapped_intervals():
            self.begin(t, a, b)
            self.w.mm(t.cpu, "map", a, b - a, "prot=%s user page=4K" % prot_text(v))
        self._account(t.space)

    @staticmethod
    def _clone_flags(name, text):
        if name == "fork":
            return 0
        if name == "vfork":
            return CLONE_VM | CLONE_VFORK
        m = _FLAGS_RE.search(text)
        if m is None:
            return 0
        try:
            return _flags(m.group(1), _CLONE_NAMES)
        except ConvertError:
            return 0

    # -- ordering between threads ----------------------------------------------------------

    def begin(self, t, a, b):
        """Before emitting t's operations on [a, b): a barrier if another CPU touched that range
        since the last barrier, or if t is a new thread (its first operation follows the clone
        that created it). So every pinned outcome holds in any order the replay may run one
        epoch's lines of different CPUs in."""
        if len(self.cpu_owner) <= 1:
            t.fresh = False
            self.epoch_any = True
            return
        cpu = t.cpu
        epoch = self.epoch
        if t.fresh:
            t.fresh = False
            conflict = self.epoch_any
        elif len(epoch) >= _EPOCH_LIMIT:
            conflict = True
        elif self.epoch_cpu == cpu or not epoch:
            conflict = False                 # nothing in this epoch from another CPU
        else:
            conflict = False
            for s, e, c in epoch:
                if c != cpu and s < b and a < e:
                    conflict = True
                    break
        if conflict:
            self.w.fixed("barrier")
            epoch.clear()
        epoch.append((a, b, cpu))
        # The CPU of every range in the epoch if they are all one CPU's, else -1.
        if len(epoch) == 1:
            self.epoch_cpu = cpu
        elif self.epoch_cpu != cpu:
            self.epoch_cpu = -1
        self.epoch_any = True

    def _account(self, space):
        if space.model.mapped_pages > self.peak_pages:
            self.peak_pages = space.model.mapped_pages

    def _note_units(self, a, b):
        ua, ub = a >> 21, (b - 1) >> 21
        if ub - ua > 4096:
            self.extra_nodes += (ub - ua + 1) + ((b - a) >> 30) + 2
        else:
            self.units.update(range(ua, ub + 1))

    # -- emission --------------------------------------------------------------------------

    def emit_change(self, t, a, b, new, replace):
        """Brings the simulator's [a, b) to PROT bits `new` (0 or None: nothing mapped).
        replace=True: fresh pages (mmap, mremap destination, brk): one `map` over the range,
        replacing whatever was there. replace=False (mprotect): `protect` where pages stay
        mapped, `map` where they were not, `unmap` where they go."""
        model = t.space.model
        cpu = t.cpu
        f = self.fmt[cpu] or self._make_formats(cpu)
        out = []
        if replace and new:
            self._mm_line(out, f.map[new], cpu, "map", _MAP_TAIL[new], a, b)
            ua, ub = a >> 21, (b - 1) >> 21
            if ua == ub:
                self.units.add(ua)
            else:
                self._note_units(a, b)
            model.take(a, b, new, False)
        elif not new:
            self._unmap_lines(out, f, cpu, model.take(a, b, new))
        else:
            self._change_lines(out, f, cpu, model.take(a, b, new), new)
        if out:
            self.w.put_many(out)
        if model.mapped_pages > self.peak_pages:
            self.peak_pages = model.mapped_pages

    # Lines are made from per-CPU templates checked once by the writer (TraceWriter.mm_template
    # and .template), in blocks of lines (put_block / put_many). A map / unmap / protect line
    # is filled only with a range the template takes as it is (4 KiB-aligned, not empty, in the
    # user half: see _mm_line); the converter's ranges always are (_check_range), and anything
    # else goes through TraceWriter.mm and its checks. Accesses are at most 8 bytes past or
    # before a page of such a range, so they are valid addresses too.

    def _mm_line(self, out, fmt, cpu, kind, tail, s, e):
        """Appends the `kind` line of [s, e) made from template `fmt` to `out`."""
        if s < 0 or (s | e) & 0xFFF or e <= s or e > _USER_END:
            # Not a range the template takes: the writer's own checks say what is wrong.
            if out:
                self.w.put_many(out)
                out.clear()
            self.w.mm(cpu, kind, s, e - s, tail)
            return
        n = e - s
        lt = _LEN_TEXT.get(n)
        if lt is None:
            lt = _len_text(n)
        out.append(fmt % (s, lt))

    def _unmap_lines(self, out, f, cpu, pieces):
        """One `unmap` per run of mapped pages in `pieces`, whatever their rights."""
        rs = re_ = None
        for s, e, old in pieces:
            if old:
                if rs is not None and re_ == s:
                    re_ = e
                    continue
                if rs is not None:
                    self._mm_line(out, f.unmap, cpu, "unmap", "", rs, re_)
                rs, re_ = s, e
        if rs is not None:
            self._mm_line(out, f.unmap, cpu, "unmap", "", rs, re_)

    def _change_lines(self, out, f, cpu, pieces, new):
        """`map` where pages were not mapped, `protect` where their rights change (new != 0)."""
        text = _PROT_TEXT[new]
        for s, e, old in pieces:
            if not old:
                self._mm_line(out, f.map[new], cpu, "map", _MAP_TAIL[new], s, e)
                self._note_units(s, e)
            elif _PROT_TEXT[old] != text:
                self._mm_line(out, f.protect[new], cpu, "protect", _PROTECT_TAIL[new], s, e)

    # -- the common calls, each as begin + emit_change + probe in one block ----------------

    def _put(self, text, n):
        """Writes a block of n lines made from checked templates (TraceWriter.put_block)."""
        w = self.w
        if w.verify:
            w.put_block(text, n)
            return
        buf = w.buf
        buf.append(text)
        w.lineno += n
        if len(buf) >= w.chunk_lines:
            w.flush()

    def mmap_effect(self, t, a, b, prot):
        """mmap of [a, b) with PROT bits `prot`: begin(t, a, b), emit_change(t, a, b, prot,
        replace=True), probe(t, a, b). [a, b) is what memory_call lets through (the result,
        0 or more, and its length rounded up to pages, checked by _check_range), so the map
        line made from the template is valid."""
        self.begin(t, a, b)
        cpu = t.cpu
        n = self.probe_pages
        ln = b - a
        if n > 2 and ln > K4:
            self.emit_change(t, a, b, prot, replace=True)
            self.probe(t, a, b)
            return
        f = self.fmt[cpu] or self._make_formats(cpu)
        if not prot:
            # A PROT_NONE reservation: an unmap of what was mapped there, and the probed pages
            # (not mapped now) each get a read pinned as the not-present fault.
            model = t.space.model
            out = []
            self._unmap_lines(out, f, cpu, model.take(a, b, 0))
            if model.mapped_pages > self.peak_pages:
                self.peak_pages = model.mapped_pages
            if n > 0:
                out.append(f.tm[5] % (a + 8))
                if n == 2 and ln > K4:
                    out.append(f.tm[5] % (b - 8))
            if out:
                self.w.put_many(out)
            return
        lt = _LEN_TEXT.get(ln)
        if lt is None:
            lt = _len_text(ln)
        ua = a >> 21
        if ua == (b - 1) >> 21:
            self.units.add(ua)
        else:
            self._note_units(a, b)
        model = t.space.model
        # model.take(a, b, prot, False), with its commonest case here: [a, b) in a piece, not at
        # its start.
        starts = model.starts
        i = _bisect_right(starts, a) - 1
        if i + 1 < len(starts) and starts[i + 1] >= b and starts[i] < a:
            vals = model.vals
            vi = vals[i]
            if vi != prot:
                if starts[i + 1] > b:
                    starts[i + 1:i + 1] = (a, b)
                    vals[i + 1:i + 1] = (prot, vi)
                elif vals[i + 1] == prot:
                    starts[i + 1] = a              # joins the next piece
                else:
                    starts.insert(i + 1, a)
                    vals.insert(i + 1, prot)
                if not vi:
                    model.mapped_pages += ln >> 12
        else:
            model.take(a, b, prot, False)
        if model.mapped_pages > self.peak_pages:
            self.peak_pages = model.mapped_pages
        # The probed pages all have `prot` now: a read on the first (plus a write if writable,
        # a fetch if executable) and, with --probe-pages 2, a read on the last.
        if n == 0:
            text = f.map[prot] % (a, lt)
            nl = 1
        else:
            k = _FIRST_LINES[prot]
            va = a + 8
            if n == 2 and ln > K4:
                fmt = f.map_first_last[prot]
                if k == 1:
                    text = fmt % (a, lt, va, b - 8)
                elif k == 2:
                    text = fmt % (a, lt, va, va, b - 8)
                else:
                    text = fmt % (a, lt, va, va, va, b - 8)
                nl = k + 2
            else:
                fmt = f.map_first[prot]
                if k == 1:
                    text = fmt % (a, lt, va)
                elif k == 2:
                    text = fmt % (a, lt, va, va)
                else:
                    text = fmt % (a, lt, va, va, va)
                nl = k + 1
        self._put(text, nl)

    def munmap_effect(self, t, a, b):
        """munmap of [a, b) (checked by _check_range): begin(t, a, b), emit_change(t, a, b, None,
        replace=False), probe(t, a, a + K4)."""
        self.begin(t, a, b)
        cpu = t.cpu
        f = self.fmt[cpu] or self._make_formats(cpu)
        model = t.space.model
        pieces = model.take(a, b, None)
        if model.mapped_pages > self.peak_pages:
            self.peak_pages = model.mapped_pages
        if len(pieces) == 1 and self.probe_pages > 0:
            # [a, b) was one piece (a valid range: a >= 0, or take has raised); the read of the
            # first page (not mapped now).
            if pieces[0][2]:
                ln = b - a
                text = f.unmap_absent % (a, _LEN_TEXT.get(ln) or _len_text(ln), a + 8)
                n = 2
            else:
                text = f.tm[5] % (a + 8)
                n = 1
            self._put(text, n)
            return
        out = []
        self._unmap_lines(out, f, cpu, pieces)
        if self.probe_pages > 0:
            out.append(f.tm[5] % (a + 8))          # the first page is not mapped now
        if out:
            self.w.put_many(out)

    def mprotect_effect(self, t, a, b, prot):
        """mprotect of [a, b) (checked by _check_range): begin(t, a, b), emit_change(t, a, b,
        prot, replace=False), probe(t, a, a + K4, rights=True)."""
        self.begin(t, a, b)
        cpu = t.cpu
        f = self.fmt[cpu] or self._make_formats(cpu)
        model = t.space.model
        pieces = model.take(a, b, prot)
        if len(pieces) == 1 and prot and self.probe_pages > 0:
            # [a, b) was one piece (a valid range: a >= 0, or take has raised); the first page
            # has `prot` now: a read, a write and a fetch, each ok or the fault.
            old = pieces[0][2]
            va = a + 8
            if not old:
                ln = b - a
                text = f.map_rights[prot] % (a, _LEN_TEXT.get(ln) or _len_text(ln), va, va, va)
                n = 4
                self._note_units(a, b)
            elif _PROT_TEXT[old] != _PROT_TEXT[prot]:
                ln = b - a
                text = f.protect_rights[prot] % (a, _LEN_TEXT.get(ln) or _len_text(ln), va, va,
                                                 va)
                n = 4
            else:
                text = f.rights[prot] % (va, va, va)
                n = 3
            if model.mapped_pages > self.peak_pages:
                self.peak_pages = model.mapped_pages
            self._put(text, n)
            return
        out = []
        if prot:
            self._change_lines(out, f, cpu, pieces, prot)
        else:
            self._unmap_lines(out, f, cpu, pieces)
        if model.mapped_pages > self.peak_pages:
            self.peak_pages = model.mapped_pages
        if self.probe_pages > 0:
            va = a + 8                             # the first page has `prot` now
            if prot:
                out.append(f.rights[prot] % (va, va, va))
                self._put("\n".join(out), len(out) + 2)
                return
            out.append(f.tm[5] % va)
        if out:
            self.w.put_many(out)

    def probe(self, t, a, b, rights=False):
        """Accesses to the first and last pages of [a, b) (--probe-pages) with their known
        outcomes. On the first page: a read, plus a write if the page is writable and a fetch if
        it is executable; with `rights` (after mprotect) a write and a fetch whatever the rights,
        pinned as a fault where they are denied. On the other pages a read. A page that is not
        mapped gets a read pinned as the not-present fault. [a, b) lies in the user half
        (checked by _check_range), so every address is valid in an access line."""
        n = self.probe_pages
        if n <= 0:
            return
        model = t.space.model
        npages = (b - a) >> 12
        if n == 1 or npages == 1:
            pages = (a,)
        elif n == 2:
            pages = (a, b - K4)
        elif npages <= n:
            pages = [a + i * K4 for i in range(npages)]
        else:
            step = (npages - 1) / (n - 1)
            pages = sorted({a + int(round(i * step)) * K4 for i in range(n)})
        tm = self.templates.get(t.cpu)
        if tm is None:
            tm = self._make_templates(t.cpu)
        value_at = model.value_at
        v = value_at(pages[0])
        va = pages[0] + 8
        if v:
            out = [tm[0] % va]                             # read: ok
            if rights:
                out.append(tm[1 if v & PROT_WRITE else 2] % va)   # write: ok / pf 0x7
                out.append(tm[3 if v & PROT_EXEC else 4] % va)    # fetch: ok / pf 0x15
            else:
                if v & PROT_WRITE:
                    out.append(tm[1] % va)
                if v & PROT_EXEC:
                    out.append(tm[3] % va)
        else:
            out = [tm[5] % va]                             # read: not present
        for page in pages[1:]:
            out.append(tm[0 if value_at(page) else 5] % (page + K4 - 8))
        self.w.put_many(out)

    def _make_templates(self, cpu):
        tmpl = self.w.template
        tm = (tmpl(cpu, "read", "cpl=3 -> ok size=4K"),
              tmpl(cpu, "write", "cpl=3 -> ok size=4K"),
              tmpl(cpu, "write", "cpl=3 -> pf code=0x%x" % CODE_WRITE_RO),
              tmpl(cpu, "fetch", "cpl=3 -> ok size=4K"),
              tmpl(cpu, "fetch", "cpl=3 -> pf code=0x%x" % CODE_FETCH_XD),
              tmpl(cpu, "read", "cpl=3 -> pf code=0x%x" % NOT_PRESENT["read"]))
        self.templates[cpu] = tm
        return tm

    def _make_formats(self, cpu):
        f = _Formats()
        w = self.w
        tm = self.templates.get(cpu) or self._make_templates(cpu)
        f.tm = tm
        f.map = [None] + [w.mm_template(cpu, "map", _MAP_TAIL[p]) for p in range(1, 8)]
        f.protect = [None] + [w.mm_template(cpu, "protect", _PROTECT_TAIL[p])
                              for p in range(1, 8)]
        f.unmap = w.mm_template(cpu, "unmap")
        f.unmap_absent = f.unmap + "\n" + tm[5]
        f.map_first = [None]
        f.map_first_last = [None]
        f.rights = [None]
        f.map_rights = [None]
        f.protect_rights = [None]
        for p in range(1, 8):
            # After a map: a read, a write if writable, a fetch if executable (as probe).
            first = [tm[0]] + ([tm[1]] if p & PROT_WRITE else []) + \
                ([tm[3]] if p & PROT_EXEC else [])
            assert len(first) == _FIRST_LINES[p]
            f.map_first.append("\n".join([f.map[p]] + first))
            f.map_first_last.append("\n".join([f.map[p]] + first + [tm[0]]))
            # After an mprotect: a read, a write and a fetch, each ok or the fault.
            f.rights.append("\n".join((tm[0], tm[1 if p & PROT_WRITE else 2],
                                       tm[3 if p & PROT_EXEC else 4])))
            f.map_rights.append(f.map[p] + "\n" + f.rights[p])
            f.protect_rights.append(f.protect[p] + "\n" + f.rights[p])
        self.fmt[cpu] = f
        return f

    # -- input -----------------------------------------------------------------------------

    def run(self, src):
        """Converts the lines of `src` in order, exactly as feed(line, lineno) for each would
        (tests/test_strace2trace.py compares the two), with less work per line; returns the
        number of lines.
        - A line _HOT_RE reads (the commonest: a complete mmap / munmap / mprotect / brk) is one
          _FAST_RE reads the same way. If feed would take its fast path (the same conditions),
          it is converted here as feed -> memory_line -> memory_call would, from the values the
          match read (the numbers _number and _flags read from the same text), its effects
          written by mmap_effect, munmap_effect and mprotect_effect. Anything out of the ordinary (an unknown flag, a
          range _check_range refuses, a brk before any brk(NULL)) goes to memory_line itself.
          Otherwise the line takes feed's general path (_queue: as _call would).
        - Any other line is read once by _ANY_RE, which reads it as _LINE_RE (and _RESUMED_RE)
          would, and enters the general path where _body would take it: _resumed (or
          _resumed_memory, for a plain ') = RET'), _call, or _body itself. A call _FAST_RE may
          take goes to feed, a line the general path must see whole (after a line cut by a
          'strace: Process N attached' message, or holding 'strace: ') to _general."""
        hot = _HOT_RE.match
        match = _ANY_RE.match
        tasks = self.tasks
        prot_bits = self.prot_bits
        lens = {}                    # length text -> the length rounded up to pages
        pids = {}                    # pid text -> pid
        mmap_effect = self.mmap_effect
        nsys = nconv = 0             # added to stats at the end
        lineno = 0
        try:
            for lineno, text in enumerate(src, 1):
                m = hot(text)
                if m is not None:
                    (pid_s, mlen, mprot, mrest, uaddr, ulen, paddr, plen, pprot, barg,
                     ret_s) = m.groups()
                    if mlen is not None and ("(" in mrest or "<" in mrest or ">" in mrest) \
                            and _REST_RE.match(mrest) is None:
                        m = None                     # not _FAST_RE's reading: _ANY_RE's below
                if m is not None:
                    pid = pids.get(pid_s)
                    if pid is None:
                        pid = int(pid_s)
                        if len(pids) >= 4096:
                            pids.clear()
                        pids[pid_s] = pid
                    t = tasks.get(pid) if self.partial is None and not self.pending_start \
                        else None
                    if t is None or t.pending is not None or not t.space.converted:
                        # Not feed's fast path: its general path.
                        if self.partial is not None or "strace: " in text:
                            self._general(text, lineno)
                        else:
                            self._queue(pid, mlen, mprot, uaddr, ulen, paddr, plen, pprot,
                                        int(ret_s, 0), text, lineno)
                        continue
                    # feed's fast path (as below, from _ANY_RE's reading of the line).
                    nsys += 1
                    if mlen is not None:
                        ln = lens.get(mlen)
                        if ln is None:
                            ln = (int(mlen) + 4095) & -4096
                            if len(lens) < 4096:
                                lens[mlen] = ln
                        prot = prot_bits.get(mprot)
                        if prot is None:
                            prot = self._prot_bits(mprot)
                        a = int(ret_s, 0)
                        b = a + ln
                        if prot is None or a & 4095 or b > _USER_END or b <= a:
                            self.memory_line(t, "mmap", text[text.index("(") + 1:m.end(4)], a,
                                             lineno)
                            continue
                        nconv += 1
                        mmap_effect(t, a, b, prot)
                    elif ulen is not None:
                        ln = lens.get(ulen)
                        if ln is None:
                            ln = (int(ulen) + 4095) & -4096
                            if len(lens) < 4096:
                                lens[ulen] = ln
                        a = int(uaddr, 0)
                        b = a + ln
                        if not (a & 4095 or b > _USER_END or b <= a):
                            self.munmap_effect(t, a, b)
                            nconv += 1
                        else:
                            self.memory_line(t, "munmap", uaddr + ", " + ulen, int(ret_s, 0),
                                             lineno)
                    elif plen is not None:
                        ln = lens.get(plen)
                        if ln is None:
                            ln = (int(plen) + 4095) & -4096
                            if len(lens) < 4096:
                                lens[plen] = ln
                        prot = prot_bits.get(pprot)
                        if prot is None:
                            prot = self._prot_bits(pprot)
                        a = int(paddr, 0)
                        b = a + ln
                        if prot is not None and not (a & 4095 or b > _USER_END or b <= a):
                            self.mprotect_effect(t, a, b, prot)
                            nconv += 1
                        else:
                            self.memory_line(t, "mprotect", "%s, %s, %s" % (paddr, plen, pprot),
                                             int(ret_s, 0), lineno)
                    else:
                        # brk(): the heap's end moves from page_up(old break) to page_up(ret).
                        ret = int(ret_s, 0)
                        model = t.space.model
                        cur = model.brk
                        if cur is not None:
                            old_end = (cur + 4095) & -4096
                            new_end = (ret + 4095) & -4096
                            if new_end == old_end:
                                model.brk = ret
                                nconv += 1
                                continue
                            if old_end < new_end <= _USER_END:
                                model.brk = ret
                                mmap_effect(t, old_end, new_end, PROT_READ | PROT_WRITE)
                                nconv += 1
                                continue
                        self.memory_line(t, "brk", barg, ret, lineno)
                    continue
                m = match(text)
                kind = m.lastindex
                if kind == _K_CALL and "=" in text and m[_G_CALL_NAME] in _FAST_NAMES:
                    self.feed(text, lineno)              # _FAST_RE may take it
                    continue
                if self.partial is not None or "strace: " in text:
                    self._general(text, lineno)          # (as feed would)
                    continue
                if kind == _K_BODY:
                    self._body(m[2] or m[1], m[kind].rstrip(), lineno)
                    continue
                pid_s = m[2] or m[1]
                if pid_s is None:
                    pid = None
                else:
                    pid = pids.get(pid_s)
                    if pid is None:
                        pid = int(pid_s)
                        if len(pids) >= 4096:
                            pids.clear()
                        pids[pid_s] = pid
                if kind == _K_CALL:
                    name = m[_G_CALL_NAME]
                    if name in RELEVANT:
                        self._call(pid, name, m[kind].rstrip(), lineno)
                    else:
                        nsys += 1                        # as _call: counted, not converted
                else:
                    name = m[_G_RES_NAME]
                    ret_s = m[_G_RES_RET]
                    if ret_s is not None and name in _PREPARSED:
                        self._resumed_memory(pid, name, int(ret_s, 0), lineno)
                    else:
                        self._resumed(pid, name, m[kind].rstrip(), lineno)
        finally:
            self.lineno = lineno
            self.stats["syscalls"] += nsys
            self.stats["converted"] += nconv
        return lineno

    def _queue(self, pid, mlen, mprot, uaddr, ulen, paddr, plen, pprot, ret, text, lineno):
        """A complete mmap / munmap / mprotect / brk that _HOT_RE read, on the general path:
        _call(pid, name, what follows its '(') would give syscall the arguments and the result
        read here, and syscall would queue _mem_event with the values _parse_mem reads from
        them, which are these (a value out of the ordinary goes to _call itself)."""
        if mlen is not None:
            name = "mmap"
            a = ret
            b = a + page_up(int(mlen))
            v = self.prot_bits.get(mprot)
            if v is None:
                v = self._prot_bits(mprot)
        elif ulen is not None:
            name = "munmap"
            a = int(uaddr, 0)
            b = a + page_up(int(ulen))
            v = 0
        elif plen is not None:
            name = "mprotect"
            a = int(paddr, 0)
            b = a + page_up(int(plen))
            v = self.prot_bits.get(pprot)
            if v is None:
                v = self._prot_bits(pprot)
        else:
            name = "brk"
            v = None
        if v is None or a & 4095 or b > _USER_END or b <= a:
            self._call(pid, name, text[text.index("(") + 1:].rstrip(), lineno)
            return
        if name == "munmap":
            v = None
        self.stats["syscalls"] += 1
        t = self.tasks.get(pid)
        if t is None:
            t = self.task(pid, lineno)
        self.push(lineno, self._mem_event, t, name, a, b, v, lineno)
        if self.heap:
            self.drain()

    def _prot_bits(self, text):
        """PROT bits of a prot= argument (as memory_call reads it), None if it is not one."""
        try:
            v = _flags(text, _PROT_NAMES) & 7
        except ConvertError:
            return None
        if len(self.prot_bits) < 4096:
            self.prot_bits[text] = v
        return v

    def memory_line(self, t, name, args, ret, lineno):
        """A complete memory call of a task of the converted process, applied now."""
        try:
            self.memory_call(t, name, args, ret, lineno, True)
            self.stats["converted"] += 1
        except ConvertError as e:
            self.report(lineno, "%s: %s: not converted" % (name, e))

    def feed(self, text, lineno):
        """Converts one line (`run` converts them all, faster)."""
        # Fast path: a complete, successful mmap / munmap / mprotect / brk of a known task of
        # the converted process while no call is in flight (the common line of a memory-only
        # log). Everything else takes the general path.
        m = _FAST_RE.match(text) if ("map(" in text or "protect(" in text or "brk(" in text) \
            else None
        if m is not None and self.partial is None and not self.pending_start:
            pid_s = m.group(1) or m.group(2)
            t = self.tasks.get(int(pid_s) if pid_s is not None else self.root)
            if t is not None and t.pending is None and t.space.converted:
                self.stats["syscalls"] += 1
                self.memory_line(t, m.group(3), m.group(4), int(m.group(5), 0), lineno)
                return
        self._general(text, lineno)

    def _general(self, text, lineno):
        """feed's general path: any line."""
        if self.partial is not None:
            text = self.partial + text.lstrip("\n")
            self.partial = None
        if "strace: " in text:
            m = _ATTACHED_RE.search(text)
            if m is not None:
                self.attached.add(int(m.group(1)))
                before = text[:m.start()]
                after = text[m.end():].strip()
                if before.strip():
                    # A syscall line cut by the message: it goes on on the next line.
                    self.partial = before + after
                return
            if text.lstrip().startswith("strace: "):
                return
        m = _LINE_RE.match(text)
        self._body(m.group(1) or m.group(2), m.group(3).rstrip(), lineno)

    def _body(self, pid_s, body, lineno):
        """A line's body (what follows the pid and the time, right-stripped)."""
        if not body:
            return
        pid = int(pid_s) if pid_s is not None else None
        c = body[0]
        if c == "<":
            if body.startswith("<detached"):
                return
            mr = _RESUMED_RE.match(body)
            if mr is None:
                self.report(lineno, "cannot read this line: %.60s" % body)
                return
            self._resumed(pid, mr.group(1), mr.group(2), lineno)
            return
        if c == "-" and body.startswith("---"):
            return                       # a signal
        if c == "+" and body.startswith("+++"):
            if _EXIT_RE.match(body):
                t = self.tasks.get(pid if pid is not None else self.root)
                if t is None and pid is None:
                    t = self.tasks.get(None)
                if t is not None:
                    if t.pending is not None:
                        self.pending_start.pop(t, None)
                        if t.pending[0] in RELEVANT and t.space.converted:
                            self.report(t.pending[2], "%s never finished (the task ended): not "
                                                      "converted" % t.pending[0])
                        t.pending = None
                    self.push(lineno, self.exit_event, t)
                    self.drain()
            return
        if c == ">":
            return                       # a -k stack trace line
        i = body.find("(")
        if i <= 0:
            self.report(lineno, "cannot read this line: %.60s" % body)
            return
        self._call(pid, body[:i], body[i + 1:], lineno)

    def _resumed(self, pid, name, rest, lineno):
        """'<... NAME resumed>REST'."""
        if name not in RELEVANT:
            return
        t = self.tasks.get(pid)
        if t is None:
            t = self.task(pid, lineno, resumed=name)
        p = t.pending
        if p is None or p[0] != name:
            self.report(lineno, "'%s resumed' without its start: not converted" % name)
            return
        t.pending = None
        self.pending_start.pop(t, None)
        self.syscall(t, name, p[1] + rest, lineno, p[2])
        self.drain()

    def _resumed_memory(self, pid, name, ret, lineno):
        """'<... NAME resumed>) = RET' of an mmap / munmap / mprotect: as _resumed, where
        syscall reads the call's arguments from its first line and RET as its result."""
        t = self.tasks.get(pid)
        if t is None:
            t = self.task(pid, lineno, resumed=name)
        p = t.pending
        if p is None or p[0] != name:
            self.report(lineno, "'%s resumed' without its start: not converted" % name)
            return
        t.pending = None
        self.pending_start.pop(t, None)
        key = p[2] if name in _REMOVALS else lineno
        try:
            a, b, v = self._parse_mem(name, p[1], ret)
        except ConvertError:
            self.push(key, self.memory_event, t, name, (p[1], ret), lineno)
        else:
            self.push(key, self._mem_event, t, name, a, b, v, lineno)
        self.drain()

    def _call(self, pid, name, rest, lineno):
        """'NAME(REST' (REST: everything after the '(', right-stripped)."""
        self.stats["syscalls"] += 1
        if name not in RELEVANT:
            if not name.replace("_", "a").isalnum() and name != "???":
                self.report(lineno, "cannot read this line: %.60s" % (name + "(" + rest))
            return
        t = self.tasks.get(pid)
        if t is None:
            t = self.task(pid, lineno)
        if rest.endswith("<unfinished ...>"):
            t.pending = (name, rest[:-16].rstrip(), lineno)
            self.pending_start[t] = lineno
            if name in _CLONES:
                self.saw_clone_lines = True
            return
        self.syscall(t, name, rest, lineno, lineno)
        if self.heap:
            self.drain()

    # -- ordering of effects ---------------------------------------------------------------
    #
    # strace prints a call when it completes (or in two halves around other tasks' lines), but
    # the kernel applies it somewhere between its start and its end: a munmap still in flight
    # may already have freed the range that another thread's mmap gets back. Effects are
    # therefore ordered by a key: a call that removes or changes mappings (munmap, mprotect,
    # the source of a moving or shrinking mremap) takes effect at its start line, a call that
    # creates them (mmap, brk, the destination of mremap, clone) at its end line. Events wait
    # in a heap until no call that started earlier is still unfinished.

    def push(self, key, fn, *args):
        if not self.heap and not self.pending_start:
            fn(*args)                    # nothing can come before it: apply it now
            return
        heapq.heappush(self.heap, (key, self.seq, fn, args))
        self.seq += 1

    def drain(self, everything=False):
        heap = self.heap
        if not heap:
            return
        gate = min(self.pending_start.values()) if self.pending_start and not everything \
            else 1 << 62
        while heap and heap[0][0] < gate:
            _, _, fn, args = heapq.heappop(heap)
            fn(*args)

    def exit_event(self, t):
        if t.alive:
            t.alive = False
            t.space.users -= 1
            self._release_cpu(t)
        if self.tasks.get(t.pid) is t and t.pid != self.root:
            del self.tasks[t.pid]           # its pid may be reused by a later task

    def syscall(self, t, name, rest, lineno, start):
        """A complete call (`rest`: everything after 'name('), started on line `start`."""
        if rest[-1:] == ">":
            rest = _DURATION_RE.sub("", rest)
        j = rest.rfind(" = ")
        if name in _CLONES:
            self.saw_clone_lines = True
        if j < 0:
            if rest.rstrip().endswith("?") or rest.rstrip().endswith(")"):
                if name in MEMORY_CALLS and t.space.converted:
                    self.report(lineno, "%s without a result: not converted" % name)
                return
            self.report(lineno, "cannot read the result of %s: %.60s" % (name, rest))
            return
        args = rest[:j].rstrip()
        if args.endswith(")"):
            args = args[:-1]
        res = rest[j + 3:].split(None, 1)
        if not res or res[0] == "?":
            if name in MEMORY_CALLS and t.space.converted:
                self.report(lineno, "%s without a result: not converted" % name)
            return
        try:
            ret = int(res[0].split("<", 1)[0], 0)
        except ValueError:
            self.report(lineno, "cannot read the result %r of %s" % (res[0], name))
            return
        if ret < 0:
            self.stats["failed"] += 1
            return
        if name in TASK_CALLS:
            self.push(lineno, self.task_call, t, name, args, ret, lineno)
            return
        if name == "mremap":
            try:
                ctx = self.mremap_plan(args, ret)
            except ConvertError as e:
                if t.space.converted:
                    self.report(lineno, "mremap: %s: not converted" % e)
                return
            if ctx["moved"]:
                if not ctx["keep_source"]:
                    self.push(start, self.memory_event, t, "mremap-source", ctx, lineno)
                self.push(lineno, self.memory_event, t, "mremap-dest", ctx, lineno)
            elif ctx["grow"]:
                self.push(lineno, self.memory_event, t, "mremap-grow", ctx, lineno)
            elif ctx["shrink"]:
                self.push(start, self.memory_event, t, "mremap-shrink", ctx, lineno)
            return
        key = start if name in _REMOVALS else lineno
        if name in _PREPARSED:
            try:
                a, b, v = self._parse_mem(name, args, ret)
            except ConvertError:
                pass                     # memory_event reports it, in its turn
            else:
                self.push(key, self._mem_event, t, name, a, b, v, lineno)
                return
        self.push(key, self.memory_event, t, name, (args, ret), lineno)

    def memory_event(self, t, name, data, lineno):
        sp = t.space
        emit = sp.converted
        if not emit:
            oc = self.other_calls.get(sp.leader)
            if oc is None:
                self.other_calls[sp.leader] = [1, lineno]
            else:
                oc[0] += 1
        try:
            if name.startswith("mremap-"):
                self.mremap(t, name[7:], data, lineno, emit)
            else:
                self.memory_call(t, name, data[0], data[1], lineno, emit)
            if emit and name != "mremap-source":
                self.stats["converted"] += 1
        except ConvertError as e:
            if emit:
                self.report(lineno, "%s: %s: not converted" % (name.split("-")[0], e))

    def task_call(self, t, name, args, ret, lineno):
        if name in ("execve", "execveat"):
            self.execve(t, lineno)
            return
        if ret <= 0:
            return                           # the child's side of a fork, or no pid
        flags = self._clone_flags(name, args)
        self._child(t, ret, flags, lineno)

    def execve(self, t, lineno):
        """A successful execve: the task's process runs a new program."""
        old = t.space
        if not old.converted:
            old.users -= 1
            t.space = Space(AddressSpace(), False, t.pid)
            t.space.users = 1
            if self.target_pid == t.pid and self.converted_space is None:
                t.space.converted = True
                self.converted_space = t.space
                self._assign_cpu(t, lineno)
            return
        if t.vm_child:
            # A vfork child (or CLONE_VM process) leaves the converted space for a new image.
            t.vm_child = False
            old.users -= 1
            self._release_cpu(t)
            t.cpu = None
            t.space = Space(AddressSpace(), False, t.pid)
            t.space.users = 1
            return
        if old.model.mapped_pages == 0 and old.model.brk is None:
            return                           # the program's own start
        # The converted process runs a new program: everything it had mapped goes, and its
        # other threads are gone (execve kills them).
        self.barrier_all()
        out = []
        f = self.fmt[t.cpu] or self._make_formats(t.cpu)
        for a, b in old.model.mapped_runs():
            self._mm_line(out, f.unmap, t.cpu, "unmap", "", a, b)
        if out:
            self.w.put_many(out)
        self.epoch_any = True
        old.model = AddressSpace()
        for o in self.tasks.values():
            if o is not t and o.space is old and o.alive and not o.vm_child:
                o.alive = False
                old.users -= 1
                self._release_cpu(o)
        self.barrier_all()

    def barrier_all(self):
        if len(self.cpu_owner) > 1 and self.epoch_any:
            self.w.fixed("barrier")
            self.epoch.clear()
            self.epoch_cpu = None
            self.epoch_any = False

    def _parse_mem(self, name, args, ret):
        """The range [a, b) and the value (PROT bits, None for munmap) that an mmap (mmap2,
        old_mmap) / munmap / mprotect (pkey_mprotect) sets, as (a, b, value); ConvertError for
        what cannot be converted."""
        if name in ("mmap", "mmap2", "old_mmap"):
            parts = args.split(", ", 4)
            if len(parts) < 4:
                raise ConvertError("expected 6 arguments")
            length = page_up(_number(parts[1]))
            prot = _flags(parts[2], _PROT_NAMES) & 7
            a, b = ret, ret + length
            self._check_range(a, b)
            return a, b, prot
        if name == "munmap":
            parts = args.split(", ")
            if len(parts) != 2:
                raise ConvertError("expected 2 arguments")
            a = _number(parts[0])
            b = a + page_up(_number(parts[1]))
            self._check_range(a, b)
            return a, b, None
        parts = args.split(", ")
        if len(parts) < 3:
            raise ConvertError("expected 3 arguments")
        a = _number(parts[0])
        b = a + page_up(_number(parts[1]))
        prot = _flags(parts[2], _PROT_NAMES) & 7
        self._check_range(a, b)
        return a, b, prot

    def memory_call(self, t, name, args, ret, lineno, emit):
        kind = _MEMORY_KIND.get(name)
        if kind is not None:
            a, b, v = self._parse_mem(name, args, ret)
            if not emit:
                t.space.model.assign(a, b, v)
                return
            if kind == 0:
                self.mmap_effect(t, a, b, v)
            elif kind == 1:
                self.munmap_effect(t, a, b)
            else:
                if name == "pkey_mprotect":
                    self._note_once("pkey", lineno, "pkey_mprotect: converted as mprotect "
                                                    "(protection keys are not converted)")
                self.mprotect_effect(t, a, b, v)
        elif name == "brk":
            self.brk(t, args, ret, lineno, emit)
        else:
            raise ConvertError("shared memory (shmat/shmdt) is not converted: the segment's "
                               "size is not in the call")

    def _mem_event(self, t, name, a, b, v, lineno):
        """memory_event of an mmap / munmap / mprotect whose arguments _parse_mem has read
        (the same steps, without reading them again)."""
        sp = t.space
        if not sp.converted:
            oc = self.other_calls.get(sp.leader)
            if oc is None:
                self.other_calls[sp.leader] = [1, lineno]
            else:
                oc[0] += 1
            sp.model.assign(a, b, v)
            return
        kind = _MEMORY_KIND[name]
        if kind == 0:
            self.mmap_effect(t, a, b, v)
        elif kind == 1:
            self.munmap_effect(t, a, b)
        else:
            self.mprotect_effect(t, a, b, v)
        self.stats["converted"] += 1

    def _check_range(self, a, b):
        if a < 0:
            raise ConvertError("address -0x%x is negative" % -a)
        if a & (K4 - 1):
            raise ConvertError("address 0x%x is not page-aligned" % a)
        if b > tracelib.GEOMETRY[4].user_end:
            raise ConvertError("range [0x%x, 0x%x) is outside the 4-level user half" % (a, b))
        if b <= a:
            raise ConvertError("empty range at 0x%x" % a)

    def brk(self, t, args, ret, lineno, emit):
        model = t.space.model
        cur = model.brk
        model.brk = ret
        if cur is None:
            if args.strip() not in ("NULL", "0", "0x0") and emit:
                self.report(lineno, "brk before any brk(NULL): the heap's start is unknown, "
                                    "the break is taken as 0x%x" % ret)
            return
        old_end, new_end = page_up(cur), page_up(ret)
        if new_end == old_end:
            return
        if new_end > old_end:
            a, b, v = old_end, new_end, PROT_READ | PROT_WRITE
        else:
            a, b, v = new_end, old_end, None
        self._check_range(a, b)
        if not emit:
            model.assign(a, b, v)
            return
        if v is not None:
            self.mmap_effect(t, a, b, v)           # the same steps as below
            return
        self.begin(t, a, b)
        self.emit_change(t, a, b, v, replace=False)
        self.probe(t, a, b)

    @staticmethod
    def mremap_plan(args, ret):
        parts = args.split(", ")
        if len(parts) < 4:
            raise ConvertError("expected 4 or 5 arguments")
        old = _number(parts[0])
        old_len = page_up(_number(parts[1]))
        new_len = page_up(_number(parts[2]))
        flags = _flags(parts[3], _MREMAP_NAMES)
        if new_len == 0:
            raise ConvertError("new size 0")
        moved = ret != old
        return {"old": old, "old_len": old_len, "new_len": new_len, "ret": ret,
                "moved": moved, "grow": not moved and new_len > old_len,
                "shrink": not moved and new_len < old_len,
                "keep_source": old_len == 0 or bool(flags & MREMAP_DONTUNMAP),
                "pieces": None}

    def mremap(self, t, phase, ctx, lineno, emit):
        """mremap in phases: 'source' (at the call's start: the moved pages leave),
        'dest' (at its end: they arrive), 'grow' and 'shrink' in place."""
        model = t.space.model
        old, old_len, new_len = ctx["old"], ctx["old_len"], ctx["new_len"]
        if phase == "grow":
            a, b = old + old_len, old + new_len
            self._check_range(a, b)
            last = model.value_at(a - K4) if old_len else None
            if last is None:
                if emit:
                    raise ConvertError("grows a mapping that no traced call made, rights "
                                       "unknown")
                return
            if not emit:
                model.assign(a, b, last)
                return
            self.mmap_effect(t, a, b, last)        # begin, emit_change(replace=True), probe
            return
        if phase == "shrink":
            a, b = old + new_len, old + old_len
            self._check_range(a, b)
            if not emit:
                model.assign(a, b, None)
                return
            self.munmap_effect(t, a, b)            # begin, emit_change(None), probe(a, a + K4)
            return
        src_a, src_b = old, old + old_len
        if phase == "source":
            self._check_range(src_a, src_b)
            ctx["pieces"] = model.pieces(src_a, src_b)
            if not emit:
                model.assign(src_a, src_b, None)
                return
            self.munmap_effect(t, src_a, src_b)    # begin, emit_change(None), probe(a, a + K4)
            return
        # phase == "dest": [old, old+old_len) arrived at [ret, ret+new_len).
        dst_a, dst_b = ctx["ret"], ctx["ret"] + new_len
        self._check_range(dst_a, dst_b)
        pieces = ctx["pieces"]
        if pieces is None:           # the source stays (DONTUNMAP, or a shared duplicate)
            pieces = model.pieces(src_a, src_b) if old_len else []
        last = pieces[-1][2] if pieces else None
        unknown = any(v is None for _, _, v in pieces)
        plan = []
        for s, e, v in pieces:
            d = dst_a + (s - src_a)
            if d >= dst_b:
                break
            plan.append((d, min(dst_b, d + (e - s)), v))
        if dst_a + old_len < dst_b:
            if last is None:
                unknown = True
            plan.append((dst_a + old_len, dst_b, last))
        if not emit:
            for a, b, v in plan:
                model.assign(a, b, v)
            return
        if unknown:
            self.report(lineno, "mremap moves pages that no traced call mapped (rights unknown):"
                                " those are left unmapped at the destination")
        self.begin(t, dst_a, dst_b)
        for a, b, v in _merge(plan):
            if v:
                self.emit_change(t, a, b, v, replace=True)
            else:
                self.emit_change(t, a, b, None, replace=False)
        self.probe(t, dst_a, dst_b)

    def finish(self, last_line):
        self.drain(everything=True)
        for t in self.tasks.values():
            if t.pending is not None and t.pending[0] in RELEVANT and t.space.converted:
                self.report(t.pending[2], "%s never finished (no 'resumed' line): not "
                                          "converted" % t.pending[0])
        if self.partial:
            self.report(last_line, "the log ends in the middle of a line")
        self.w.flush()

    def ram_needed(self):
        nodes = len(self.units) + len({u >> 9 for u in self.units}) + \
            len({u >> 18 for u in self.units}) + self.extra_nodes + 16
        need = 2 * (self.peak_pages + nodes) * K4 + (64 << 20)
        ram = 1 << 30
        while ram < need:
            ram <<= 1
        return ram


_CLONE_NAMES = {"CLONE_VM": CLONE_VM, "CLONE_FS": 0x200, "CLONE_FILES": 0x400,
                "CLONE_SIGHAND": 0x800, "CLONE_PIDFD": 0x1000, "CLONE_PTRACE": 0x2000,
                "CLONE_VFORK": CLONE_VFORK, "CLONE_PARENT": 0x8000,
                "CLONE_THREAD": CLONE_THREAD, "CLONE_NEWNS": 0x20000,
                "CLONE_SYSVSEM": 0x40000, "CLONE_SETTLS": 0x80000,
                "CLONE_PARENT_SETTID": 0x100000, "CLONE_CHILD_CLEARTID": 0x200000,
                "CLONE_DETACHED": 0x400000, "CLONE_UNTRACED": 0x800000,
                "CLONE_CHILD_SETTID": 0x1000000, "CLONE_NEWCGROUP": 0x2000000,
                "CLONE_NEWUTS": 0x4000000, "CLONE_NEWIPC": 0x8000000,
                "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
                "CLONE_NEWNET": 0x40000000, "CLONE_IO": 0x80000000,
                "CLONE_CLEAR_SIGHAND": 0x100000000, "CLONE_INTO_CGROUP": 0x200000000,
                "CLONE_NEWTIME": 0x80}
# Signal names may end a clone's flags (e.g. ...|SIGCHLD): they are not flags.
for _sig in ("SIGCHLD", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT",
             "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE",
             "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCONT", "SIGSTOP", "SIGTSTP"):
    _CLONE_NAMES[_sig] = 0


def build_parser():
    ap = argparse.ArgumentParser(
        prog="strace2trace",
        description="Convert the output of `strace -f` for a real program into a pagesim trace"
                    " (format v1): its mappings (mmap, munmap, mprotect, brk, mremap), its "
                    "threads on their own CPUs, and accesses with pinned outcomes.",
        epilog="Record:   strace -f -e trace=%memory,%process -o prog.strace ./prog\n"
               "Convert:  strace2trace prog.strace -o prog.trace\n"
               "Replay:   pagesim replay prog.trace\n"
               "Any of -tt, -ttt, -T, -y, -yy, -X, pid prefixes, <unfinished ...> / <... "
               "resumed> pairs and unrelated syscalls may be in the log. What cannot be "
               "converted is reported on stderr as FILE:LINE: ...",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="strace log ('-' for standard input)")
    ap.add_argument("-o", "--output", metavar="FILE", help="output trace (default stdout)")
    ap.add_argument("--pid", type=int, default=None,
                    help="convert this process (its pid, as in the log) instead of the first")
    ap.add_argument("--max-cpus", type=int, default=64, metavar="N",
                    help="simulated CPUs at most; more live threads are folded onto them, with "
                         "a message (1-64, default 64)")
    ap.add_argument("--probe-pages", type=int, default=2, metavar="N",
                    help="pages accessed after each change: 0 none, 1 the first, 2 the first and"
                         " last (default), N spread over the range")
    ap.add_argument("--max-ram", type=tracelib.parse_size_arg, default=64 << 30, metavar="SIZE",
                    help="refuse a trace that needs more simulated RAM than this (default 64G)")
    ap.add_argument("--max-reports", type=int, default=100, metavar="N",
                    help="print at most N messages about what could not be converted (default "
                         "100; the count is always given)")
    ap.add_argument("--strict", action="store_true",
                    help="exit 2 if anything could not be converted")
    ap.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--verify", action="store_true",
                    help="parse every emitted line in full with the trace parser (slower; the "
                         "default checks each line's values and each distinct option tail)")
    return ap


def _write_header(out, conv, ram, cpus, args, nlines):
    w = tracelib.TraceWriter(out, filename=args.output or "<stdout>")
    w.line("pagesim-trace 1")
    w.line("machine levels=4 ram=%s cpus=%d" % (tracelib.format_size(ram), cpus))
    name = os.path.basename(args.input) if args.input != "-" else "<stdin>"
    w.comment("Converted by strace2trace from %s (%d lines, %d syscalls, %d memory calls "
              "converted,\n%d failed calls skipped); %d thread(s); peak %s mapped."
              % (name, nlines, conv.stats["syscalls"], conv.stats["converted"],
                 conv.stats["failed"], conv.stats["threads"],
                 tracelib.human_size(conv.peak_pages * K4)))
    w.line("space 1")
    for c in range(cpus):
        p = "cpu%d " % c if c else ""
        w.line(p + "switch as=1")
        w.line(p + "cr0 wp=1")         # the control state the pinned fault codes rely on
        w.line(p + "efer nxe=1")
    w.line("barrier")
    w.flush()
    return w


def _copy_body(spool, out):
    """Copies the spooled body (from where `spool` is) to `out`. The body is ASCII and the spool
    UTF-8, so when `out` writes UTF-8 too its bytes are copied as they are (without decoding and
    encoding them again)."""
    raw = getattr(out, "buffer", None)
    enc = getattr(out, "encoding", None)
    try:
        same = raw is not None and enc is not None and codecs.lookup(enc).name == "utf-8"
    except LookupError:
        same = False
    if same:
        out.flush()
        src = spool.buffer
        pos = src.tell()
        try:
            # From file to file in the kernel (no copy through this process's memory).
            in_fd, out_fd = src.fileno(), raw.fileno()
            while True:
                n = os.sendfile(out_fd, in_fd, pos, 1 << 24)
                if n == 0:
                    return
                pos += n
        except BrokenPipeError:
            raise
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            src.seek(pos)                # what sendfile has not copied
        shutil.copyfileobj(src, raw, 1 << 20)
        raw.flush()
    else:
        shutil.copyfileobj(spool, out, 1 << 20)


def main(argv=None):
    ap = build_parser()
    a = ap.parse_args(argv)
    if not 1 <= a.max_cpus <= 64:
        ap.error("--max-cpus must be 1 to 64")
    if a.probe_pages < 0:
        ap.error("--probe-pages must be 0 or more")
    name = a.input if a.input != "-" else "<stdin>"
    try:
        src = sys.stdin if a.input == "-" else open(a.input, encoding="utf-8",
                                                    errors="surrogateescape")
    except OSError as e:
        tracelib.die("strace2trace: %s: %s" % (a.input, e.strerror))
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        return _convert(a, name, src, spool)


def _convert(a, name, src, spool):
    conv = Converter(a, name, spool)
    lineno = 0
    try:
        with src:
            conv.run(src)
        lineno = conv.lineno
        conv.finish(lineno)
    except tracelib.TraceError as e:
        tracelib.die("strace2trace: %s:%d: internal error, the converted line would not parse:"
                     " %s" % (name, conv.lineno, e), 3)
    except (UnicodeDecodeError, OSError) as e:
        tracelib.die("%s:%d: cannot read: %s" % (name, conv.lineno, e))
    except Exception as e:  # a bug: say where, without a traceback (--debug shows one)
        if a.debug:
            raise
        tracelib.die("%s:%d: internal error of strace2trace while converting this line: %s: %s"
                     " (run again with --debug for a traceback, and report it)"
                     % (name, conv.lineno, type(e).__name__, e), 3)
    if a.pid is not None and conv.converted_space is None:
        tracelib.die("%s: expected process %d in the log (--pid), found no such pid"
                     % (name, a.pid))
    if conv.stats["syscalls"] == 0:
        tracelib.die("%s:%d: expected strace output (lines like 'mmap(NULL, 4096, ...) = "
                     "0x7f...'), found no system call" % (name, max(lineno, 1)))
    if conv.reports > a.max_reports:
        sys.stderr.write("%s: %d more messages not shown\n" % (name, conv.reports - a.max_reports))
    for leader, (count, first) in sorted(conv.other_calls.items(), key=lambda x: x[1][1]):
        sys.stderr.write("%s:%d: process %s (not the one converted) made %d memory calls from "
                         "here on; they are not converted (pass --pid %s to convert it)\n"
                         % (name, first, leader, count, leader))
        conv.reports += 1
    cpus = max(1, len(conv.cpu_owner))
    ram = conv.ram_needed()
    if ram > a.max_ram:
        tracelib.die("%s: the trace needs ram=%s of simulated RAM (peak %s mapped), more than "
                     "--max-ram %s" % (name, tracelib.format_size(ram),
                                       tracelib.human_size(conv.peak_pages * K4),
                                       tracelib.format_size(a.max_ram)))
    if a.strict and conv.reports:
        tracelib.die("%s: %d thing(s) could not be converted (--strict)" % (name, conv.reports))
    try:
        out = open(a.output, "w", buffering=1 << 20) if a.output and a.output != "-" \
            else sys.stdout
    except OSError as e:
        tracelib.die("strace2trace: %s: %s" % (a.output, e.strerror))
    try:
        hw = _write_header(out, conv, ram, cpus, a, lineno)
        spool.seek(0)
        if a.verify:
            # Parse the final trace in full as it is written.
            p = hw.parser
            n = hw.lineno
            for text in spool:
                n += 1
                p.parse_line(text, n)
                out.write(text)
            p.finish(n)
        else:
            _copy_body(spool, out)
        out.flush()
    except tracelib.TraceError as e:
        tracelib.die("strace2trace: internal error, the output would not parse: %s" % e, 3)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
