"""Shared code of the pagesim trace tools: numbers and sizes, a streaming trace writer, and a
validating streaming parser of trace format v1 (docs/trace-format.md).

The parser is the tools' statement of the format: tracestat reads traces through it, the
converters pass what they emit through it, and the tests use it. It reads one line at a time
(never a whole trace), checks every statement, key and value range the format document gives,
and reports the first error as `file:line:col: expected ...` (TraceError).

Where docs/trace-format.md leaves a point open, the parser takes the stricter reading (so what
it accepts, pagesim should accept too); each such point is marked "STRICT:" below and listed in
docs/traces.md.
"""

from __future__ import annotations

import re
import sys

FORMAT_VERSION = 1

K4 = 1 << 12
M2 = 1 << 21
G1 = 1 << 30
U64_MAX = (1 << 64) - 1

# Page sizes by name and back.
PAGE_SIZES = {"4K": K4, "2M": M2, "1G": G1}
PAGE_SIZE_NAMES = {K4: "4K", M2: "2M", G1: "1G"}

# ---------------------------------------------------------------------------------------------
# Numbers and sizes
# ---------------------------------------------------------------------------------------------

_SUFFIX_SHIFT = {None: 0, "K": 10, "KiB": 10, "M": 20, "MiB": 20, "G": 30, "GiB": 30,
                 "T": 40, "TiB": 40}
_NUMBER_RE = re.compile(
    r"(?:0x([0-9a-fA-F]+(?:_[0-9a-fA-F]+)*)|([0-9]+(?:_[0-9]+)*))(K|KiB|M|MiB|G|GiB|T|TiB)?\Z")


def parse_number(text: str) -> int:
    """Parses a trace-format number (decimal or 0x-hex, `_` between digits, optional binary
    size suffix). Raises ValueError with a reason when it is not one or does not fit 64 bits."""
    m = _NUMBER_RE.match(text)
    if m is None:
        raise ValueError("not a number")
    hexdigits, decdigits, suffix = m.groups()
    if hexdigits is not None:
        value = int(hexdigits.replace("_", ""), 16)
    else:
        value = int(decdigits.replace("_", ""), 10)
    value <<= _SUFFIX_SHIFT[suffix]
    if value > U64_MAX:
        raise ValueError("does not fit in 64 bits")
    return value


def format_size(n: int) -> str:
    """The shortest exact trace-format spelling of a size: 4K, 2M, 1G, 3T, else hex."""
    if n == 0:
        return "0"
    for shift, suffix in ((40, "T"), (30, "G"), (20, "M"), (10, "K")):
        if n & ((1 << shift) - 1) == 0:
            return "%d%s" % (n >> shift, suffix)
    return "0x%x" % n


def format_hex(n: int) -> str:
    return "0x%x" % n


def human_size(n: int) -> str:
    """A size for people (1.5 MiB), not for traces."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            v = n / (1 << shift)
            return ("%d %s" % (v, unit)) if v == int(v) else ("%.1f %s" % (v, unit))
    return "%d B" % n


def parse_size_arg(text: str) -> int:
    """For command-line options: a trace-format number, as an argparse type."""
    import argparse
    try:
        return parse_number(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError("expected a size (e.g. 4K, 2M, 0x1000), found %r: %s"
                                         % (text, e)) from None


# ---------------------------------------------------------------------------------------------
# Address-space geometry (docs/trace-format.md; the ranges are those of src/pagetable/mode.h)
# ---------------------------------------------------------------------------------------------

class Geometry:
    """Canonical and mode ranges for 4- or 5-level paging."""

    __slots__ = ("levels", "width", "user_end", "kernel_base", "kernel_end", "linear_end")

    def __init__(self, levels: int):
        self.levels = levels
        self.width = 48 if levels == 4 else 57
        # User mappings: [0, 2^(W-1) - 4 KiB): the top user page cannot be mapped.
        self.user_end = (1 << (self.width - 1)) - K4
        self.kernel_base = (U64_MAX << (self.width - 1)) & U64_MAX
        self.kernel_end = 0xFFFF_FFFF_FFFF_0000
        # The untracked kernel linear mapping: [kernel_base, kernel_base + 2^(W-2)).
        self.linear_end = self.kernel_base + (1 << (self.width - 2))

    def canonical(self, va: int) -> bool:
        top = va >> (self.width - 1)
        return top == 0 or top == (1 << (65 - self.width)) - 1

    def is_user(self, va: int) -> bool:
        return va < (1 << (self.width - 1))


GEOMETRY = {4: Geometry(4), 5: Geometry(5)}


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

class TraceError(Exception):
    """A bad trace: `file:line:col: message`."""

    def __init__(self, filename: str, line: int, col: int, message: str):
        super().__init__("%s:%d:%d: %s" % (filename, line, col, message))
        self.filename = filename
        self.line = line
        self.col = col
        self.message = message


class _Bad(Exception):
    """Internal: an error at token `tok` (index into the line's tokens), `offset` characters
    into the token."""

    def __init__(self, tok: int, message: str, offset: int = 0):
        super().__init__(message)
        self.tok = tok
        self.message = message
        self.offset = offset


_TOKEN_RE = re.compile(r"[^ \t]+")
_BAD_CHAR_RE = re.compile(r"[^\t -~]")
_PROT_RE = re.compile(r"[r-][w-][x-]\Z")
_CPU_RE = re.compile(r"cpu([0-9]+)\Z")

SIZE_HINT = "a size (e.g. 4K, 2M, 0x1000)"
ADDR_HINT = "an address (e.g. 0x400000)"


# ---------------------------------------------------------------------------------------------
# Statements
# ---------------------------------------------------------------------------------------------

class Statement:
    """One parsed statement. `kind` is the first word (`map`, `read`, `machine`, ...), `cpu` the
    CPU it is addressed to (operations only, else None), `args` the values by name: positional
    operands are named `va`, `len`, `pa`, `value`, `type`, `n`; options by their key; bare words
    map to True; an access's pin is `expect` = ('ok', pa, size) / ('pf', code) / ('gp',) /
    ('ss',)."""

    __slots__ = ("kind", "cpu", "args", "line")

    def __init__(self, kind, cpu, args, line):
        self.kind = kind
        self.cpu = cpu
        self.args = args
        self.line = line

    def __repr__(self):
        return "Statement(%r, cpu=%r, %r, line=%d)" % (self.kind, self.cpu, self.args, self.line)


# Kinds that are operations (take an optional cpuN prefix).
MM_OPS = ("map", "map_pa", "unmap", "protect")
ACCESS_OPS = ("read", "write", "fetch")
OPERATIONS = MM_OPS + ACCESS_OPS + (
    "switch", "flush", "invlpg", "invpcid", "cr0", "cr4", "efer", "pkru", "pkrs", "cpl", "ac",
    "expect-entry")


class TraceParser:
    """A validating, streaming parser of trace format v1.

    Feed lines in order with `parse_line(text, lineno)` (returns a Statement, or None for a
    blank or comment line) and call `finish()` at the end; or iterate `parse_file(f)`.
    Raises TraceError on the first error.

    Speed: traces repeat the same option tails ("cpl=3 -> ok size=4K") millions of times, so
    the parsed options of a tail are cached (successes only; the cache is bounded). Every check
    that depends on the parser's state (CPU numbers, loaded spaces) is made on every line."""

    _CACHE_LIMIT = 1 << 14

    def __init__(self, filename: str = "<trace>"):
        self.filename = filename
        self.header = False
        self.machine_seen = False
        self.after_header = False   # a statement other than the header has been seen
        self.levels = 4
        self.ram = 4 << 30
        self.cpus = 1
        self.maxphyaddr = 46
        self.geo = GEOMETRY[4]
        self.spaces = set()
        self.current = [None]       # per CPU: the loaded user space (None = kernel)
        self.statements = 0
        self._num_cache = {}
        self._tail_cache = {}
        self._cpu_cache = {}
        v_prot, v_cache, v_space = self._v_prot, self._v_cache, self._v_space
        cpl = self._v_choice("cpl", ("0", "1", "2", "3"))
        # Option tables: name -> (value parsers by key, allowed bare words, stops at '->').
        self._tables = {
            "map": ({"prot": v_prot, "cache": v_cache, "page": self._v_page, "as": v_space},
                    frozenset(("user", "global", "accessed", "dirty")), False),
            "map_pa": ({"prot": v_prot, "cache": v_cache}, frozenset(("global",)), False),
            "unmap": ({"as": v_space}, frozenset(), False),
            "protect": ({"prot": v_prot, "cache": v_cache,
                         "clear": self._v_choice("clear", ("a", "d", "ad")), "as": v_space},
                        frozenset(), False),
            "read": ({"cpl": cpl, "ac": self._v_choice("ac", ("0", "1"))},
                     frozenset(("implicit", "ss")), True),
            "fetch": ({"cpl": cpl}, frozenset(), True),
            "ok": ({"pa": self._v_u64("pa"), "size": self._v_size_pin}, frozenset(), False),
            "pf": ({"code": self._v_u64("code")}, frozenset(), False),
            "switch": ({"as": self._v_switch_as, "pcid": self._v_range("pcid", 0, 4095)},
                       frozenset(("noflush",)), False),
            "invpcid": ({"pcid": self._v_range("pcid", 0, 4095), "va": self._v_u64("va")},
                        frozenset(), False),
            "cr0": ({"wp": self._v_choice("wp", ("0", "1"))}, frozenset(), False),
            "cr4": ({b: self._v_choice(b, ("0", "1")) for b in self._CR4_BITS}, frozenset(),
                    False),
            "efer": ({"nxe": self._v_choice("nxe", ("0", "1"))}, frozenset(), False),
            "expect-entry": ({"level": self._v_level, "raw": self._v_u64("raw"),
                              "mask": self._v_u64("mask"), "as": v_space}, frozenset(), False),
            "machine": ({"levels": self._v_choice("levels", ("4", "5")),
                         "ram": self._v_u64("ram"),
                         "cpus": self._v_range("cpus", 1, 64),
                         "tlb": lambda text, tok, off: text,
                         "maxphyaddr": self._v_range("maxphyaddr", 32, 52),
                         "profile": self._v_choice("profile", ("sdm", "amd", "qemu")),
                         "shootdown": self._v_choice("shootdown", ("on", "off"))},
                        frozenset(), False),
        }
        self._tables["write"] = self._tables["read"]
        self._handlers = {
            "map": self._map, "map_pa": self._map_pa, "unmap": self._unmap,
            "protect": self._protect, "read": self._access, "write": self._access,
            "fetch": self._access, "switch": self._switch, "flush": self._noargs,
            "invlpg": self._invlpg, "invpcid": self._invpcid, "cr0": self._cr0, "cr4": self._cr4,
            "efer": self._efer, "pkru": self._pkr, "pkrs": self._pkr, "cpl": self._cpl,
            "ac": self._ac, "expect-entry": self._expect_entry,
        }

    # -- driving ---------------------------------------------------------------------------

    def parse_file(self, f):
        """Yields the statements of an open text file, then checks the end of the trace."""
        lineno = 0
        parse = self.parse_line
        for lineno, text in enumerate(f, 1):
            st = parse(text, lineno)
            if st is not None:
                yield st
        self.finish(lineno)

    def finish(self, last_line: int = 0):
        if not self.header:
            raise TraceError(self.filename, max(last_line, 1), 1,
                             "expected the header 'pagesim-trace 1', found the end of the file")

    def parse_line(self, text: str, lineno: int):
        i = text.find("#")
        body = text if i < 0 else text[:i]
        if body.endswith("\n"):
            body = body[:-1]
        if _BAD_CHAR_RE.search(body):
            self._fail_char(body, lineno)
        toks = body.split()
        if not toks:
            return None
        try:
            return self._statement(toks, lineno)
        except _Bad as e:
            raise self._error(body, lineno, e.tok, e.message, e.offset) from None

    def _fail_char(self, body, lineno):
        m = _BAD_CHAR_RE.search(body)
        raise TraceError(self.filename, lineno, m.start() + 1,
                         "expected a space, a tab or a printable character, found %r"
                         % m.group(0))

    def _error(self, body, lineno, tok, message, offset):
        spans = [m.span() for m in _TOKEN_RE.finditer(body)]
        if tok < len(spans):
            col = spans[tok][0] + 1 + offset
        elif spans:
            col = spans[-1][1] + 1      # past the last token: just after it
        else:
            col = 1
        return TraceError(self.filename, lineno, col, message)

    # -- statements ------------------------------------------------------------------------

    def _statement(self, toks, lineno):
        word = toks[0]
        if not self.header:
            return self._header(toks, lineno)
        cpu = self._cpu_cache.get(word)
        if cpu is not None:
            first = 1
            if len(toks) < 2:
                raise _Bad(1, "expected an operation after %r" % word)
            word = toks[1]
            handler = self._handlers.get(word)
            if handler is None:
                if word in ("space", "barrier", "machine", "pagesim-trace"):
                    raise _Bad(1, "expected an operation after %r ('%s' takes no CPU prefix)"
                               % (toks[0], word))
                raise _Bad(1, self._expected_statement(word))
        else:
            handler = self._handlers.get(word)
            first = 0
            cpu = 0
            if handler is None:
                return self._other(toks, lineno, word)
        self.after_header = True
        self.statements += 1
        return Statement(word, cpu, handler(toks, first + 1, cpu, word), lineno)

    @staticmethod
    def _expected_statement(word):
        return ("expected a statement (map, map_pa, unmap, protect, read, write, fetch, switch,"
                " flush, invlpg, invpcid, cr0, cr4, efer, pkru, pkrs, cpl, ac, expect-entry, "
                "space, barrier), found %r" % word)

    def _header(self, toks, lineno):
        if toks[0] != "pagesim-trace":
            raise _Bad(0, "expected the header 'pagesim-trace 1' as the first statement, "
                          "found %r" % toks[0])
        if len(toks) < 2:
            raise _Bad(1, "expected the format version 1 after 'pagesim-trace'")
        if toks[1] != "1":
            raise _Bad(1, "expected format version 1, found %r" % toks[1])
        if len(toks) > 2:
            raise _Bad(2, "expected the end of the line after 'pagesim-trace 1', found %r"
                       % toks[2])
        self.header = True
        return Statement("pagesim-trace", None, {"version": 1}, lineno)

    def _other(self, toks, lineno, word):
        """Statements other than operations: machine, space, barrier, a CPU prefix not seen
        before, or an error."""
        if word == "machine":
            return self._machine(toks, lineno)
        if word.startswith("cpu"):
            m = _CPU_RE.match(word)
            if m is None:
                raise _Bad(0, "expected a CPU prefix cpuN (N a decimal number), found %r" % word)
            cpu = int(m.group(1))
            if cpu >= self.cpus:
                raise _Bad(0, "expected a CPU below %d (machine cpus=%d), found %r"
                           % (self.cpus, self.cpus, word))
            self._cpu_cache[word] = cpu
            return self._statement(toks, lineno)
        self.after_header = True
        self.statements += 1
        if word == "space":
            return self._space(toks, lineno)
        if word == "barrier":
            if len(toks) > 1:
                raise _Bad(1, "expected the end of the line after 'barrier', found %r" % toks[1])
            return Statement("barrier", None, {}, lineno)
        if word == "pagesim-trace":
            raise _Bad(0, "expected a statement, found a second header")
        raise _Bad(0, self._expected_statement(word))

    # -- operand helpers -------------------------------------------------------------------

    def _num(self, toks, i, what, hint):
        if i >= len(toks):
            raise _Bad(i, "expected %s for '%s', found the end of the line" % (hint, what))
        text = toks[i]
        v = self._num_cache.get(text)
        if v is not None:
            return v
        try:
            v = parse_number(text)
        except ValueError as e:
            raise self._bad_number(i, what, hint, text, e, 0) from None
        cache = self._num_cache
        if len(cache) >= self._CACHE_LIMIT:
            cache.clear()
        cache[text] = v
        return v

    @staticmethod
    def _bad_number(i, what, hint, text, e, offset):
        if str(e) == "does not fit in 64 bits":
            return _Bad(i, "expected %s for '%s' that fits in 64 bits, found %r"
                        % (hint, what, text), offset)
        return _Bad(i, "expected %s for '%s', found %r" % (hint, what, text), offset)

    def _opts(self, table, toks, i):
        """The options of toks[i:] by table (see _tables), cached by tail. Returns a fresh dict
        and the index where parsing stopped ('->' for tables that stop there)."""
        if i >= len(toks):
            return {}, i
        key = (table, " ".join(toks[i:]))
        hit = self._tail_cache.get(key)
        if hit is not None:
            return dict(hit[0]), i + hit[1]
        keys, words, arrow = self._tables[table]
        opts, j = self._options(toks, i, keys, words, arrow)
        cache = self._tail_cache
        if len(cache) >= self._CACHE_LIMIT:
            cache.clear()
        cache[key] = (opts, j - i)
        return dict(opts), j

    def _options(self, toks, i, keys, words, stop_at_arrow):
        out = {}
        n = len(toks)
        while i < n:
            t = toks[i]
            if stop_at_arrow and t == "->":
                break
            eq = t.find("=")
            if eq >= 0:
                key = t[:eq]
                parse = keys.get(key)
                if parse is None:
                    raise _Bad(i, self._expected_options(keys, words, stop_at_arrow)
                               + ", found unknown key '%s'" % key)
                if key in out:
                    raise _Bad(i, "expected each key once, found '%s' again" % key)
                value = t[eq + 1:]
                if not value:
                    raise _Bad(i, "expected a value after '%s='" % key, eq + 1)
                out[key] = parse(value, i, eq + 1)
            else:
                if t not in words:
                    raise _Bad(i, self._expected_options(keys, words, stop_at_arrow)
                               + ", found %r" % t)
                if t in out:
                    raise _Bad(i, "expected each word once, found '%s' again" % t)
                out[t] = True
            i += 1
        return out, i

    @staticmethod
    def _expected_options(keys, words, arrow):
        items = ["%s=" % k for k in keys] + sorted(words)
        if arrow:
            items.append("'-> EXPECT'")
        if not items:
            return "expected the end of the line"
        return "expected " + ", ".join(items) + " or the end of the line"

    # Value parsers: (text, tok, offset) -> value.
    @staticmethod
    def _v_prot(text, tok, off):
        if not _PROT_RE.match(text):
            raise _Bad(tok, "expected a protection for 'prot' (three letters r w x, each or '-':"
                            " rw-, r-x, r--), found %r" % text, off)
        if text[0] != "r":
            raise _Bad(tok, "expected a readable protection for 'prot' (x86-64 cannot map a "
                            "page that is not readable: 'r' is required), found %r" % text, off)
        return text

    @staticmethod
    def _v_cache(text, tok, off):
        if text not in ("wb", "wt", "uc"):
            raise _Bad(tok, "expected wb, wt or uc for 'cache', found %r" % text, off)
        return text

    @staticmethod
    def _page_size(text, tok, off, key):
        try:
            v = parse_number(text)
        except ValueError:
            v = None
        if v not in PAGE_SIZE_NAMES:
            raise _Bad(tok, "expected a page size 4K, 2M or 1G for '%s', found %r" % (key, text),
                       off)
        return v

    def _v_page(self, text, tok, off):
        return self._page_size(text, tok, off, "page")

    def _v_size_pin(self, text, tok, off):
        return self._page_size(text, tok, off, "size")

    def _v_space(self, text, tok, off):
        try:
            v = parse_number(text)
        except ValueError:
            v = None
        if v is None or v < 1:
            raise _Bad(tok, "expected an address space number (1 or more) for 'as', found %r"
                       % text, off)
        if v not in self.spaces:
            raise _Bad(tok, "expected an address space created earlier by 'space %d', found "
                            "as=%s" % (v, text), off)
        return v

    def _v_switch_as(self, text, tok, off):
        if text == "kernel":
            return "kernel"
        return self._v_space(text, tok, off)

    def _v_level(self, text, tok, off):
        try:
            v = parse_number(text)
        except ValueError:
            v = None
        if v is None or not 1 <= v <= self.levels:
            raise _Bad(tok, "expected a level 1 to %d for 'level' (%d-level paging), found %r"
                       % (self.levels, self.levels, text), off)
        return v

    def _v_u64(self, name):
        bad = self._bad_number

        def parse(text, tok, off):
            try:
                return parse_number(text)
            except ValueError as e:
                raise bad(tok, name, "a number", text, e, off) from None
        return parse

    @staticmethod
    def _v_choice(name, choices):
        values = {c: (int(c) if c.isdigit() else c) for c in choices}

        def parse(text, tok, off):
            v = values.get(text)
            if v is None:
                listed = (", ".join(choices[:-1]) + " or " + choices[-1]) if len(choices) > 1 \
                    else choices[0]
                raise _Bad(tok, "expected %s for '%s', found %r" % (listed, name, text), off)
            return v
        return parse

    def _v_range(self, name, lo, hi):
        bad = self._bad_number

        def parse(text, tok, off):
            try:
                v = parse_number(text)
            except ValueError as e:
                raise bad(tok, name, "a number %d to %d" % (lo, hi), text, e, off) from None
            if not lo <= v <= hi:
                raise _Bad(tok, "expected %d to %d for '%s', found %r" % (lo, hi, name, text),
                           off)
            return v
        return parse

    @staticmethod
    def _find_key(toks, start, key):
        prefix = key + "="
        for n in range(start, len(toks)):
            if toks[n].startswith(prefix):
                return n
        return start

    # -- address checks --------------------------------------------------------------------

    def _mm_range(self, i, op, va, ln):
        """Checks [va, va+len) of a memory-management operation (va is token i, len token
        i+1): 4 KiB aligned, non-empty, canonical, inside one half and inside that half's mode
        range (src/pagetable/mode.h). Returns True for the user half, False for the kernel
        half."""
        g = self.geo
        if va & 0xFFF:
            raise _Bad(i, "expected a 4 KiB-aligned address for '%s', found 0x%x" % (op, va))
        if ln & 0xFFF or ln == 0:
            raise _Bad(i + 1, "expected a non-zero multiple of 4K for 'len', found 0x%x" % ln)
        end = va + ln
        if va < g.user_end + K4:
            if end > g.user_end:
                raise _Bad(i + 1, "expected a range inside the user half [0, 0x%x) (%d-level "
                                  "paging), found [0x%x, 0x%x)" % (g.user_end, g.levels, va, end))
            return True
        if va < g.kernel_base:
            raise _Bad(i, "expected a canonical address for %d-level paging, found 0x%x"
                       % (g.levels, va))
        if end > g.kernel_end:
            raise _Bad(i + 1, "expected a range inside the kernel half [0x%x, 0x%x) (%d-level "
                              "paging), found [0x%x, 0x%x)"
                       % (g.kernel_base, g.kernel_end, g.levels, va, end))
        return False

    def _check_map(self, i, cpu, va, ln, opts, toks):
        user = self._mm_range(i, "map", va, ln)
        page = opts.get("page")
        if page is not None and (va % page or ln % page):
            raise _Bad(i if va % page else i + 1,
                       "expected an address and length aligned to page=%s, found [0x%x, 0x%x)"
                       % (PAGE_SIZE_NAMES[page], va, va + ln))
        if not user and va < self.geo.linear_end:
            g = self.geo
            raise _Bad(i, "expected a tracked kernel range outside the linear mapping [0x%x, "
                          "0x%x) (use map_pa there), found [0x%x, 0x%x)"
                       % (g.kernel_base, g.linear_end, va, va + ln))
        self._space_check(toks, i, cpu, user, opts)

    def _space_check(self, toks, i, cpu, user, opts):
        """A user-half address needs a user space: as=N or one loaded on the CPU. A kernel
        address takes no as=."""
        if user:
            if "as" not in opts and self.current[cpu] is None:
                raise _Bad(i, "expected as=N (cpu%d has the kernel page table loaded; user "
                              "addresses need a user space: 'switch as=N' first, or as=N)" % cpu)
        elif "as" in opts:
            # STRICT: the format gives as= a meaning for user addresses only.
            raise _Bad(self._find_key(toks, i, "as") if toks is not None else i,
                       "expected no as= for a kernel address (kernel addresses belong to the "
                       "kernel page table)")

    # -- operations ------------------------------------------------------------------------

    def _map(self, toks, i, cpu, op):
        va = self._num(toks, i, "va", ADDR_HINT)
        ln = self._num(toks, i + 1, "len", SIZE_HINT)
        opts, _ = self._opts("map", toks, i + 2)
        self._check_map(i, cpu, va, ln, opts, toks)
        opts["va"] = va
        opts["len"] = ln
        return opts

    def _map_pa(self, toks, i, cpu, op):
        va = self._num(toks, i, "va", ADDR_HINT)
        pa = self._num(toks, i + 1, "pa", "a physical address")
        ln = self._num(toks, i + 2, "len", SIZE_HINT)
        opts, _ = self._opts("map_pa", toks, i + 3)
        g = self.geo
        if va & 0xFFF:
            raise _Bad(i, "expected a 4 KiB-aligned address for 'map_pa', found 0x%x" % va)
        if pa & 0xFFF:
            raise _Bad(i + 1, "expected a 4 KiB-aligned physical address, found 0x%x" % pa)
        if ln & 0xFFF or ln == 0:
            raise _Bad(i + 2, "expected a non-zero multiple of 4K for 'len', found 0x%x" % ln)
        if not (g.kernel_base <= va and va + ln <= g.linear_end):
            raise _Bad(i, "expected a range inside the kernel linear mapping [0x%x, 0x%x), "
                          "found [0x%x, 0x%x)" % (g.kernel_base, g.linear_end, va, va + ln))
        if pa + ln > (1 << self.maxphyaddr):
            raise _Bad(i + 1, "expected a physical range below 2^%d (maxphyaddr), found [0x%x, "
                              "0x%x)" % (self.maxphyaddr, pa, pa + ln))
        opts["va"] = va
        opts["pa"] = pa
        opts["len"] = ln
        return opts

    def _unmap(self, toks, i, cpu, op):
        va = self._num(toks, i, "va", ADDR_HINT)
        ln = self._num(toks, i + 1, "len", SIZE_HINT)
        opts, _ = self._opts("unmap", toks, i + 2)
        user = self._mm_range(i, op, va, ln)
        self._space_check(toks, i, cpu, user, opts)
        opts["va"] = va
        opts["len"] = ln
        return opts

    def _protect(self, toks, i, cpu, op):
        va = self._num(toks, i, "va", ADDR_HINT)
        ln = self._num(toks, i + 1, "len", SIZE_HINT)
        opts, _ = self._opts("protect", toks, i + 2)
        if "prot" not in opts:
            raise _Bad(len(toks), "expected prot=P (protect needs the new rights)")
        user = self._mm_range(i, op, va, ln)
        self._space_check(toks, i, cpu, user, opts)
        opts["va"] = va
        opts["len"] = ln
        return opts

    def _access(self, toks, i, cpu, op):
        va = self._num(toks, i, "va", ADDR_HINT)
        if i + 1 >= len(toks):
            return {"va": va}
        key = (op, " ".join(toks[i + 1:]))
        hit = self._tail_cache.get(key)
        if hit is not None:
            opts = dict(hit[0])
        else:
            opts, j = self._options(toks, i + 1, *self._tables[op])
            if j < len(toks):
                opts["expect"] = self._expect(toks, j + 1)
            cache = self._tail_cache
            if len(cache) >= self._CACHE_LIMIT:
                cache.clear()
            cache[key] = (opts, 0)
            opts = dict(opts)
        opts["va"] = va
        return opts

    def _expect(self, toks, i):
        if i >= len(toks):
            raise _Bad(i, "expected an outcome after '->' (ok, pf, gp or ss)")
        w = toks[i]
        if w == "ok":
            opts, _ = self._options(toks, i + 1, *self._tables["ok"])
            return ("ok", opts.get("pa"), opts.get("size"))
        if w == "pf":
            opts, _ = self._options(toks, i + 1, *self._tables["pf"])
            if "code" not in opts:
                raise _Bad(len(toks), "expected code=CODE after 'pf'")
            return ("pf", opts["code"])
        if w in ("gp", "ss"):
            if i + 1 < len(toks):
                raise _Bad(i + 1, "expected the end of the line after '%s', found %r"
                           % (w, toks[i + 1]))
            return (w,)
        raise _Bad(i, "expected an outcome after '->' (ok, pf, gp or ss), found %r" % w)

    def _switch(self, toks, i, cpu, op):
        opts, _ = self._opts("switch", toks, i)
        if "as" not in opts:
            raise _Bad(len(toks), "expected as=N or as=kernel for 'switch'")
        self.current[cpu] = None if opts["as"] == "kernel" else opts["as"]
        return opts

    def _noargs(self, toks, i, cpu, op):
        if i < len(toks):
            raise _Bad(i, "expected the end of the line after '%s', found %r" % (op, toks[i]))
        return {}

    def _invlpg(self, toks, i, cpu, op):
        va = self._num(toks, i, "va", ADDR_HINT)
        self._noargs(toks, i + 1, cpu, op)
        return {"va": va}

    def _invpcid(self, toks, i, cpu, op):
        if i >= len(toks):
            raise _Bad(i, "expected an INVPCID type 0, 1, 2 or 3")
        t = toks[i]
        if t not in ("0", "1", "2", "3"):
            raise _Bad(i, "expected an INVPCID type 0, 1, 2 or 3, found %r" % t)
        typ = int(t)
        opts, _ = self._opts("invpcid", toks, i + 1)
        # STRICT: type 0 (individual address) needs pcid= and va=, type 1 (single context)
        # needs pcid=, types 2 and 3 (all contexts) take neither.
        need = ((("pcid", "va"), ("pcid",), (), ()))[typ]
        for k in need:
            if k not in opts:
                raise _Bad(len(toks), "expected %s= for INVPCID type %d" % (k, typ))
        for k in opts:
            if k not in need:
                raise _Bad(self._find_key(toks, i + 1, k),
                           "expected no %s= for INVPCID type %d" % (k, typ))
        opts["type"] = typ
        return opts

    def _cr0(self, toks, i, cpu, op):
        opts, _ = self._opts("cr0", toks, i)
        if "wp" not in opts:
            raise _Bad(len(toks), "expected wp=0 or wp=1 for 'cr0'")
        return opts

    _CR4_BITS = ("pge", "pcide", "smep", "smap", "pke", "pks")

    def _cr4(self, toks, i, cpu, op):
        opts, _ = self._opts("cr4", toks, i)
        if not opts:
            # STRICT: a 'cr4' that names no bit is taken as a mistake.
            raise _Bad(i, "expected at least one of pge=, pcide=, smep=, smap=, pke=, pks= for "
                          "'cr4'")
        return opts

    def _efer(self, toks, i, cpu, op):
        opts, _ = self._opts("efer", toks, i)
        if "nxe" not in opts:
            raise _Bad(len(toks), "expected nxe=0 or nxe=1 for 'efer'")
        return opts

    def _pkr(self, toks, i, cpu, op):
        v = self._num(toks, i, "value", "a 32-bit value")
        if v > 0xFFFF_FFFF:
            raise _Bad(i, "expected a 32-bit value for '%s', found %s" % (op, toks[i]))
        self._noargs(toks, i + 1, cpu, op)
        return {"value": v}

    def _cpl(self, toks, i, cpu, op):
        if i >= len(toks) or toks[i] not in ("0", "1", "2", "3"):
            raise _Bad(i, "expected 0 to 3 for 'cpl'" + (", found %r" % toks[i]
                                                          if i < len(toks) else ""))
        self._noargs(toks, i + 1, cpu, op)
        return {"value": int(toks[i])}

    def _ac(self, toks, i, cpu, op):
        if i >= len(toks) or toks[i] not in ("0", "1"):
            raise _Bad(i, "expected 0 or 1 for 'ac'" + (", found %r" % toks[i]
                                                         if i < len(toks) else ""))
        self._noargs(toks, i + 1, cpu, op)
        return {"value": int(toks[i])}

    def _expect_entry(self, toks, i, cpu, op):
        va = self._num(toks, i, "va", ADDR_HINT)
        opts, _ = self._opts("expect-entry", toks, i + 1)
        for k in ("level", "raw"):
            if k not in opts:
                raise _Bad(len(toks), "expected %s= for 'expect-entry'" % k)
        if not self.geo.canonical(va):
            raise _Bad(i, "expected a canonical address for %d-level paging, found %s"
                       % (self.levels, toks[i]))
        self._space_check(toks, i, cpu, self.geo.is_user(va), opts)
        opts["va"] = va
        return opts

    # -- set-up statements -----------------------------------------------------------------

    def _machine(self, toks, lineno):
        if self.machine_seen:
            raise _Bad(0, "expected at most one 'machine' statement, found a second one")
        if self.after_header:
            # STRICT: the machine comes right after the header (structure item 2).
            raise _Bad(0, "expected 'machine' right after the header, before any other "
                          "statement")
        self.machine_seen = True
        keys, words, _ = self._tables["machine"]
        opts, _ = self._options(toks, 1, keys, words, False)
        self.levels = opts.get("levels", 4)
        self.geo = GEOMETRY[self.levels]
        self.cpus = opts.get("cpus", 1)
        self.maxphyaddr = opts.get("maxphyaddr", 46)
        self.ram = opts.get("ram", 4 << 30)
        if "ram" in opts:
            j = self._find_key(toks, 1, "ram")
            if self.ram == 0 or self.ram & 0xFFF:
                raise _Bad(j, "expected a non-zero multiple of 4K for 'ram', found %r"
                           % toks[j][4:], 4)
            if self.ram > 1 << self.maxphyaddr:
                raise _Bad(j, "expected a RAM size of at most 2^%d (maxphyaddr), found %r"
                           % (self.maxphyaddr, toks[j][4:]), 4)
        self.current = [None] * self.cpus
        self._cpu_cache.clear()
        return Statement("machine", None, opts, lineno)

    def _space(self, toks, lineno):
        if len(toks) < 2:
            raise _Bad(1, "expected an address space number (1 or more) after 'space'")
        try:
            n = parse_number(toks[1])
        except ValueError:
            n = 0
        if n < 1 or n > 65535:
            raise _Bad(1, "expected an address space number from 1 to 65535, found %r" % toks[1])
        if n in self.spaces:
            # STRICT: 'space N' creates the space; creating it twice is taken as a mistake.
            raise _Bad(1, "expected a new address space number, found %d again" % n)
        if len(toks) > 2:
            raise _Bad(2, "expected the end of the line after 'space %s', found %r"
                       % (toks[1], toks[2]))
        self.spaces.add(n)
        return Statement("space", None, {"n": n}, lineno)


def parse_path(path: str):
    """Yields the statements of the trace at `path` ('-' for standard input)."""
    if path == "-":
        yield from TraceParser("<stdin>").parse_file(sys.stdin)
        return
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        yield from TraceParser(path).parse_file(f)


def validate_text(text: str, filename: str = "<trace>") -> int:
    """Parses a whole trace held in a string; returns the number of statements."""
    n = 0
    for _ in TraceParser(filename).parse_file(text.splitlines(keepends=True)):
        n += 1
    return n


# ---------------------------------------------------------------------------------------------
# Writer
# ---------------------------------------------------------------------------------------------

def len_text(n: int) -> str:
    """A length for a trace line: 4K-multiples as K, M or G (readable and exact)."""
    if n & 0x3FFFFFFF == 0:
        return "%dG" % (n >> 30)
    if n & 0xFFFFF == 0:
        return "%dM" % (n >> 20)
    if n & 0x3FF == 0:
        return "%dK" % (n >> 10)
    return "0x%x" % n


class TraceWriter:
    """A streaming trace writer that validates what it writes, so a tool can never emit a trace
    that fails to parse: a bad line raises TraceError (naming the output line and column)
    before it reaches the output. Lines are written in chunks.

    - `line(text)`: any statement; parsed in full by a TraceParser.
    - `mm(cpu, kind, va, length, tail)` and `access(cpu, kind, va, tail)`: the hot operations.
    - `template(cpu, kind, tail)` + `put(text)`: the hottest path, for accesses whose address
      the caller has already checked (see `template`).
    - `mm_template(cpu, kind, tail)` + `put_block(text, n)`: the same for map / unmap /
      protect lines whose address and length the caller has checked (see `mm_template`);
      `fixed(text)`: a line that is valid wherever it is (e.g. `barrier`), parsed once.
      The option tail (e.g. "prot=rw- user page=4K", "cpl=3 -> ok size=4K") is parsed in full
      the first time it is seen; every line then gets the parser's own checks on its values
      (CPU number, alignment, canonical range, mode range, page alignment, address space)
      without re-tokenising it. With `verify=True` every line is parsed in full instead.
    """

    def __init__(self, out, filename: str = "<output>", verify: bool = False,
                 chunk_lines: int = 8192):
        self.out = out
        self.parser = TraceParser(filename)
        self.verify = verify
        self.buf = []
        self.lineno = 0
        self.chunk_lines = chunk_lines
        self._tails = {}
        self._prefixes = {}
        self._templates = {}
        self._mm_shapes = {}
        self._fixed = set()

    def _append(self, text):
        buf = self.buf
        buf.append(text)
        if len(buf) >= self.chunk_lines:
            self.flush()

    def line(self, text: str):
        self.lineno += 1
        self.parser.parse_line(text, self.lineno)
        self._append(text)

    def comment(self, text: str):
        for part in text.split("\n"):
            self.line(("# " + part) if part else "#")

    def _prefix(self, cpu):
        p = self._prefixes.get(cpu)
        if p is None:
            if not 0 <= cpu < self.parser.cpus:
                raise TraceError(self.parser.filename, self.lineno, 1,
                                 "expected a CPU below %d (machine cpus=%d), found cpu%d"
                                 % (self.parser.cpus, self.parser.cpus, cpu))
            p = self._prefixes[cpu] = ("cpu%d " % cpu) if cpu else ""
        return p

    def _tail_opts(self, kind, tail, text, first):
        key = (kind, tail)
        opts = self._tails.get(key)
        if opts is None:
            toks = text.split()
            p = self.parser
            try:
                if kind in ("read", "write", "fetch"):
                    opts = p._access(toks, first + 1, 0, kind)
                else:
                    opts, _ = p._options(toks, first + 3, *p._tables[kind])
                    if kind == "protect" and "prot" not in opts:
                        raise _Bad(len(toks), "expected prot=P (protect needs the new rights)")
            except _Bad as e:
                raise p._error(text, self.lineno, e.tok, e.message, e.offset) from None
            self._tails[key] = opts
        return opts

    def mm(self, cpu: int, kind: str, va: int, length: int, tail: str = ""):
        """A map / unmap / protect line. The tail is parsed in full once per (CPU, kind, tail);
        each line's address and length get the parser's own range checks."""
        self.lineno += 1
        key = (cpu, kind, tail)
        shape = self._mm_shapes.get(key)
        if shape is None:
            prefix = self._prefix(cpu)
            fmt = ("%s%s 0x%%x %%s %s" % (prefix, kind, tail)) if tail else \
                ("%s%s 0x%%x %%s" % (prefix, kind))
            opts = self._tail_opts(kind, tail, fmt % (va, len_text(length)),
                                   1 if prefix else 0)
            shape = self._mm_shapes[key] = (fmt, opts, 2 if prefix else 1, opts.get("page"),
                                            "as" in opts)
        fmt, opts, tok, page, has_as = shape
        text = fmt % (va, len_text(length))
        p = self.parser
        if self.verify:
            p.parse_line(text, self.lineno)
        elif (va & 0xFFF or length & 0xFFF or not length or va + length > p.geo.user_end
              or (page is not None and (va % page or length % page))
              or not (has_as or p.current[cpu] is not None)):
            # Not the common case of a well-formed user range (for which the parser's checks
            # below all pass): run them, for their verdict and their message.
            try:
                if kind == "map":
                    p._check_map(tok, cpu, va, length, opts, None)
                else:
                    p._space_check(None, tok, cpu, p._mm_range(tok, kind, va, length), opts)
            except _Bad as e:
                raise p._error(text, self.lineno, e.tok, e.message, e.offset) from None
        buf = self.buf
        buf.append(text)
        if len(buf) >= self.chunk_lines:
            self.flush()

    def access(self, cpu: int, kind: str, va: int, tail: str = ""):
        """A read / write / fetch line; `tail` holds its options and pin."""
        self.lineno += 1
        prefix = self._prefix(cpu)
        text = "%s%s 0x%x %s" % (prefix, kind, va, tail) if tail else \
            "%s%s 0x%x" % (prefix, kind, va)
        if self.verify:
            self.parser.parse_line(text, self.lineno)
        else:
            self._tail_opts(kind, tail, text, 1 if prefix else 0)
            if not 0 <= va <= U64_MAX:
                raise TraceError(self.parser.filename, self.lineno, len(prefix) + len(kind) + 2,
                                 "expected an address that fits in 64 bits, found 0x%x" % va)
        self._append(text)

    def template(self, cpu: int, kind: str, tail: str) -> str:
        """A checked line template for accesses: '<prefix>KIND 0x%x TAIL'. A sample line made
        from it is parsed in full once; its only variable is the address, which any caller-side
        value below 2^64 fills validly (accesses may name any 64-bit address). Use `put` to
        write the filled lines."""
        key = (cpu, kind, tail)
        t = self._templates.get(key)
        if t is None:
            t = "%s%s 0x%%x %s" % (self._prefix(cpu), kind, tail)
            sample = t % 0x1000
            toks = sample.split()
            p = self.parser
            try:
                p._statement(toks, self.lineno + 1)
            except _Bad as e:
                raise p._error(sample, self.lineno + 1, e.tok, e.message, e.offset) from None
            self._templates[key] = t
        return t

    def mm_template(self, cpu: int, kind: str, tail: str = "") -> str:
        """A checked line template for map / unmap / protect in a user address space:
        '<prefix>KIND 0x%x %s TAIL', filled with an address and a length as `len_text` writes
        it. A sample line made from it is parsed in full once (its CPU, its options, and the
        user space it needs: as=N or one loaded on the CPU). A line filled from it then passes
        every check the parser makes if the caller guarantees what the parser checks of the
        values: the address and the length 4 KiB-aligned, the length not zero, the range inside
        the user half (end at most `parser.geo.user_end`), and no later `switch` of that CPU in
        the trace. (With page=2M or 1G in the tail the values must be aligned to that size
        too.) Use `put_block` to write the filled lines."""
        key = ("mm", cpu, kind, tail)
        t = self._templates.get(key)
        if t is None:
            t = ("%s%s 0x%%x %%s %s" % (self._prefix(cpu), kind, tail)) if tail else \
                ("%s%s 0x%%x %%s" % (self._prefix(cpu), kind))
            sample = t % (0x1000, "4K")
            toks = sample.split()
            p = self.parser
            try:
                p._statement(toks, self.lineno + 1)
            except _Bad as e:
                raise p._error(sample, self.lineno + 1, e.tok, e.message, e.offset) from None
            self._templates[key] = t
        return t

    def fixed(self, text: str):
        """Writes a line whose validity does not depend on where it is in the body of a trace
        (e.g. `barrier`): it is parsed in full the first time (every time with verify=True)."""
        self.lineno += 1
        if self.verify or text not in self._fixed:
            self.parser.parse_line(text, self.lineno)
            self._fixed.add(text)
        buf = self.buf
        buf.append(text)
        if len(buf) >= self.chunk_lines:
            self.flush()

    def put_block(self, text: str, n: int):
        """Writes `n` lines joined by newlines, each filled from a `template` or an
        `mm_template` (each parsed in full with verify=True)."""
        if self.verify:
            for line in text.split("\n"):
                self.put(line)
            return
        self.lineno += n
        buf = self.buf
        buf.append(text)
        if len(buf) >= self.chunk_lines:
            self.flush()

    def put(self, text: str):
        """Writes a line filled from a `template` (parsed in full with verify=True)."""
        self.lineno += 1
        if self.verify:
            self.parser.parse_line(text, self.lineno)
        buf = self.buf
        buf.append(text)
        if len(buf) >= self.chunk_lines:
            self.flush()

    def put_many(self, texts):
        """Writes lines filled from `template`s (each parsed in full with verify=True)."""
        if self.verify:
            for text in texts:
                self.put(text)
            return
        self.lineno += len(texts)
        buf = self.buf
        buf.extend(texts)
        if len(buf) >= self.chunk_lines:
            self.flush()

    def flush(self):
        buf = self.buf              # the same list object for the writer's life
        if not buf:
            return
        buf.append("")
        self.out.write("\n".join(buf))
        buf.clear()

    def close(self):
        """Writes what is buffered and checks the end of the trace."""
        self.flush()
        self.parser.finish(self.lineno)


def die(message: str, code: int = 2):
    """Prints `message` on stderr and exits (the tools' error path: never a traceback)."""
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.exit(code)
