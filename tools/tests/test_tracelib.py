"""tracelib: numbers, the validating parser (every statement kind, accepted and rejected, with
exact error locations) and the writer."""

import io
import unittest

import tracelib
from tracelib import TraceError, TraceParser, TraceWriter, parse_number

HEAD = "pagesim-trace 1\nmachine levels=4 ram=1G cpus=2\nspace 1\nswitch as=1\ncpu1 switch as=1\n"


def parse(text, name="t.trace"):
    return list(TraceParser(name).parse_file(io.StringIO(text)))


class NumberTest(unittest.TestCase):
    def test_valid(self):
        cases = {"0": 0, "4096": 4096, "0x1000": 4096, "0xFFFF": 0xFFFF, "4K": 4096,
                 "4KiB": 4096, "0x2M": 2 << 20, "2MiB": 2 << 20, "1G": 1 << 30,
                 "1GiB": 1 << 30, "2T": 2 << 40, "1TiB": 1 << 40,
                 "0xffff_8000_0000_0000": 0xFFFF800000000000, "1_000": 1000,
                 "0xffffffffffffffff": (1 << 64) - 1, "16777215T": 16777215 << 40}
        for text, value in cases.items():
            self.assertEqual(parse_number(text), value, text)

    def test_invalid(self):
        for text in ("", "0x", "x10", "0X10", "_1", "1_", "1__0", "0x_1", "4k", "1KB", "-1",
                     "+1", "1.5", "4 K", "0x1g", "K", "1e3", "0b101", "0o7"):
            with self.assertRaises(ValueError, msg=text):
                parse_number(text)

    def test_overflow(self):
        with self.assertRaises(ValueError) as cm:
            parse_number("0x10000000000000000")
        self.assertIn("64 bits", str(cm.exception))
        with self.assertRaises(ValueError):
            parse_number("16777216T")

    def test_format_size_round_trips(self):
        for n in (4096, 8192, 12288, 2 << 20, 3 << 30, 1 << 40, 0x1234000, 1):
            self.assertEqual(parse_number(tracelib.format_size(n)), n)
        self.assertEqual(tracelib.format_size(2 << 20), "2M")
        self.assertEqual(tracelib.format_size(0x1800), "6K")
        self.assertEqual(tracelib.len_text(0x21000), "132K")
        self.assertEqual(tracelib.len_text(3 << 30), "3G")


class AcceptTest(unittest.TestCase):
    def test_doc_example(self):
        text = """pagesim-trace 1
# One user page, read from user mode, then written by the kernel with CR0.WP=1.
machine levels=4 ram=1G cpus=1 tlb=teaching

space 1                                   # a user address space
switch as=1                               # load it into CR3 (cpu0)
map 0x400000 4K prot=r-- user             # one read-only user page
read 0x400123 cpl=3 -> ok size=4K
write 0x400123 cpl=0 -> pf code=0x3       # WP=1: supervisor write to a read-only page
cr0 wp=0
write 0x400123 cpl=0 -> ok
expect-entry 0x400000 level=1 raw=0x8000000000000065 mask=0x8000000000000fff
"""
        st = parse(text)
        self.assertEqual([s.kind for s in st],
                         ["pagesim-trace", "machine", "space", "switch", "map", "read", "write",
                          "cr0", "write", "expect-entry"])
        self.assertEqual(st[4].args, {"va": 0x400000, "len": 4096, "prot": "r--", "user": True})
        self.assertEqual(st[5].args["expect"], ("ok", None, 4096))
        self.assertEqual(st[6].args["expect"], ("pf", 3))
        self.assertEqual(st[9].args["mask"], 0x8000000000000FFF)

    def test_every_statement_kind(self):
        text = HEAD + """
map 0x400000 2M prot=rwx user global cache=wt page=2M accessed dirty as=1
cpu1 map_pa 0xffff800000000000 0x200000 2M prot=r-x global cache=uc
map 0xffffc90000000000 8K prot=rw-
unmap 0x400000 2M as=1
protect 0x600000 4K prot=r-- cache=wb clear=ad
read 0x400008 cpl=3 ac=1 implicit ss -> ok pa=0x1000 size=2M
write 0x400008 -> pf code=0x7
fetch 0xffff800000000000 cpl=0 -> ok
read 0x800000000000 -> gp
write 0x800000000000 ss -> ss
read 0x1
switch as=kernel pcid=5 noflush
flush
invlpg 0x400000
invpcid 0 pcid=1 va=0x1000
invpcid 1 pcid=2
invpcid 2
invpcid 3
cr0 wp=1
cr4 pge=1 pcide=0 smep=1 smap=1 pke=0 pks=0
efer nxe=0
pkru 0xffffffff
pkrs 0
cpl 3
ac 1
expect-entry 0xffff800000000000 level=4 raw=0x3
expect-entry 0x400000 level=1 raw=0 as=1
barrier
\t cpu1\tread\t0x10   # tabs separate tokens too
"""
        st = parse(text)
        kinds = [s.kind for s in st]
        for k in ("map", "map_pa", "unmap", "protect", "read", "write", "fetch", "switch",
                  "flush", "invlpg", "invpcid", "cr0", "cr4", "efer", "pkru", "pkrs", "cpl",
                  "ac", "expect-entry", "barrier", "space", "machine"):
            self.assertIn(k, kinds)
        self.assertEqual(st[-1].cpu, 1)
        self.assertEqual(st[-1].args, {"va": 0x10})

    def test_machine_defaults_and_5_level(self):
        text = "pagesim-trace 1\nmachine levels=5 maxphyaddr=52 ram=4T\nspace 1\nswitch as=1\n" \
               "map 0x80000000000000 4K user\nexpect-entry 0x80000000000000 level=5 raw=0\n" \
               "map_pa 0xff00000000000000 0 4K\n"
        st = parse(text)
        self.assertEqual(st[4].args["va"], 1 << 55)

    def test_no_machine(self):
        st = parse("pagesim-trace 1\nread 0x1000\n")
        self.assertEqual(st[1].cpu, 0)

    def test_comments_blank_lines_before_header(self):
        parse("# a comment\n\n   \npagesim-trace 1 # version\n")


class RejectTest(unittest.TestCase):
    """Each case: trace text, expected line, column and a fragment of the message."""

    CASES = [
        # header
        ("map 0x1000 4K\n", 1, 1, "expected the header 'pagesim-trace 1'"),
        ("pagesim-trace 2\n", 1, 15, "expected format version 1"),
        ("pagesim-trace\n", 1, 14, "expected the format version 1"),
        ("pagesim-trace 1 x\n", 1, 17, "end of the line"),
        ("", 1, 1, "found the end of the file"),
        ("pagesim-trace 1\npagesim-trace 1\n", 2, 1, "second header"),
        # machine
        ("pagesim-trace 1\nmachine cpus=65\n", 2, 14, "expected 1 to 64 for 'cpus'"),
        ("pagesim-trace 1\nmachine levels=3\n", 2, 16, "expected 4 or 5 for 'levels'"),
        ("pagesim-trace 1\nmachine ram=4097\n", 2, 13, "multiple of 4K for 'ram'"),
        ("pagesim-trace 1\nmachine maxphyaddr=32 ram=8G\n", 2, 27, "at most 2^32"),
        ("pagesim-trace 1\nmachine maxphyaddr=31\n", 2, 20, "expected 32 to 52"),
        ("pagesim-trace 1\nmachine profile=bochs\n", 2, 17, "sdm, amd or qemu"),
        ("pagesim-trace 1\nmachine shootdown=maybe\n", 2, 19, "on or off"),
        ("pagesim-trace 1\nmachine cpus=2 cpus=2\n", 2, 16, "each key once"),
        ("pagesim-trace 1\nmachine speed=2\n", 2, 9, "unknown key 'speed'"),
        ("pagesim-trace 1\nmachine cpus=\n", 2, 14, "expected a value after 'cpus='"),
        ("pagesim-trace 1\nmachine\nmachine\n", 3, 1, "at most one 'machine'"),
        ("pagesim-trace 1\nspace 1\nmachine cpus=2\n", 3, 1, "right after the header"),
        # space and barrier
        ("pagesim-trace 1\nspace 0\n", 2, 7, "from 1 to 65535"),
        ("pagesim-trace 1\nspace 65536\n", 2, 7, "from 1 to 65535"),
        ("pagesim-trace 1\nspace x\n", 2, 7, "from 1 to 65535"),
        ("pagesim-trace 1\nspace\n", 2, 6, "after 'space'"),
        ("pagesim-trace 1\nspace 1\nspace 1\n", 3, 7, "new address space number"),
        ("pagesim-trace 1\nspace 1 2\n", 2, 9, "end of the line"),
        ("pagesim-trace 1\nbarrier now\n", 2, 9, "end of the line after 'barrier'"),
        ("pagesim-trace 1\ncpu0 barrier\n", 2, 6, "takes no CPU prefix"),
        # CPU prefix and statement names
        ("pagesim-trace 1\ncpu1 read 0x1\n", 2, 1, "expected a CPU below 1"),
        ("pagesim-trace 1\ncpux read 0x1\n", 2, 1, "CPU prefix cpuN"),
        ("pagesim-trace 1\ncpu0x1 read 0x1\n", 2, 1, "CPU prefix cpuN"),
        ("pagesim-trace 1\ncpu0\n", 2, 5, "operation after 'cpu0'"),
        ("pagesim-trace 1\nMAP 0x1000 4K\n", 2, 1, "expected a statement"),
        ("pagesim-trace 1\ncpu0 mapp 0x1000 4K\n", 2, 6, "expected a statement"),
        # map
        (HEAD + "map 0x1001 4K\n", 6, 5, "4 KiB-aligned"),
        (HEAD + "map 0x1000 4097\n", 6, 12, "multiple of 4K for 'len'"),
        (HEAD + "map 0x1000 0\n", 6, 12, "non-zero"),
        (HEAD + "map 0x1000 foo\n", 6, 12, "expected a size (e.g. 4K, 2M, 0x1000) for 'len', "
                                           "found 'foo'"),
        (HEAD + "map 0x1000\n", 6, 11, "for 'len', found the end of the line"),
        (HEAD + "map 0x800000000000 4K\n", 6, 5, "canonical"),
        (HEAD + "map 0x7ffffffff000 4K user\n", 6, 20, "inside the user half"),
        (HEAD + "map 0xffff800000000000 4K\n", 6, 5, "outside the linear mapping"),
        (HEAD + "map 0xffffffffffff0000 4K\n", 6, 24, "inside the kernel half"),
        (HEAD + "map 0x201000 2M page=2M\n", 6, 5, "aligned to page=2M"),
        (HEAD + "map 0x200000 3M page=2M\n", 6, 14, "aligned to page=2M"),
        (HEAD + "map 0x1000 4K page=8K\n", 6, 20, "4K, 2M or 1G for 'page'"),
        (HEAD + "map 0x1000 4K prot=-w-\n", 6, 20, "'r' is required"),
        (HEAD + "map 0x1000 4K prot=rwz\n", 6, 20, "three letters"),
        (HEAD + "map 0x1000 4K prot=rw\n", 6, 20, "three letters"),
        (HEAD + "map 0x1000 4K cache=wc\n", 6, 21, "wb, wt or uc"),
        (HEAD + "map 0x1000 4K user user\n", 6, 20, "each word once"),
        (HEAD + "map 0x1000 4K prot=rw- prot=r--\n", 6, 24, "each key once"),
        (HEAD + "map 0x1000 4K huge\n", 6, 15, "found 'huge'"),
        (HEAD + "map 0x1000 4K as=2\n", 6, 18, "created earlier by 'space 2'"),
        (HEAD + "map 0xffffc90000000000 4K as=1\n", 6, 27, "no as= for a kernel address"),
        ("pagesim-trace 1\nspace 1\nmap 0x1000 4K user\n", 3, 5, "kernel page table loaded"),
        # map_pa
        (HEAD + "map_pa 0x1000 0 4K\n", 6, 8, "kernel linear mapping"),
        (HEAD + "map_pa 0xffffc00000000000 0 4K\n", 6, 8, "kernel linear mapping"),
        (HEAD + "map_pa 0xffff800000000000 0x10 4K\n", 6, 27, "4 KiB-aligned physical"),
        (HEAD + "map_pa 0xffff800000000000 0x400000000000 4K\n", 6, 27, "below 2^46"),
        (HEAD + "map_pa 0xffff800000000000 0 4K user\n", 6, 32, "found 'user'"),
        (HEAD + "map_pa 0xffff800000000000 0\n", 6, 28, "for 'len'"),
        # unmap and protect
        (HEAD + "unmap 0x1000 4K prot=r--\n", 6, 17, "unknown key 'prot'"),
        (HEAD + "unmap 0x1800 4K\n", 6, 7, "4 KiB-aligned"),
        (HEAD + "protect 0x1000 4K\n", 6, 18, "expected prot=P"),
        (HEAD + "protect 0x1000 4K prot=r-- clear=x\n", 6, 34, "a, d or ad"),
        (HEAD + "protect 0x1000 4K prot=r-- user\n", 6, 28, "found 'user'"),
        # accesses and pins
        (HEAD + "read\n", 6, 5, "for 'va', found the end of the line"),
        (HEAD + "read 0x1000 cpl=4\n", 6, 17, "0, 1, 2 or 3 for 'cpl'"),
        (HEAD + "read 0x1000 ac=2\n", 6, 16, "0 or 1 for 'ac'"),
        (HEAD + "fetch 0x1000 ac=1\n", 6, 14, "unknown key 'ac'"),
        (HEAD + "fetch 0x1000 implicit\n", 6, 14, "found 'implicit'"),
        (HEAD + "read 0x1000 ->\n", 6, 15, "outcome after '->'"),
        (HEAD + "read 0x1000 -> fine\n", 6, 16, "found 'fine'"),
        (HEAD + "read 0x1000 -> pf\n", 6, 18, "code=CODE"),
        (HEAD + "read 0x1000 -> pf code=x\n", 6, 24, "a number for 'code'"),
        (HEAD + "read 0x1000 -> ok size=3K\n", 6, 24, "4K, 2M or 1G for 'size'"),
        (HEAD + "read 0x1000 -> ok pa=0x1 pa=0x2\n", 6, 26, "each key once"),
        (HEAD + "read 0x1000 -> gp now\n", 6, 19, "end of the line after 'gp'"),
        (HEAD + "read 0x10000000000000000\n", 6, 6, "fits in 64 bits"),
        (HEAD + "write 0x1000 cpl=3 cpl=3\n", 6, 20, "each key once"),
        (HEAD + "cpu1 write 0x1000 x\n", 6, 19, "found 'x'"),
        # CPU control
        (HEAD + "switch\n", 6, 7, "as=N or as=kernel"),
        (HEAD + "switch as=3\n", 6, 11, "created earlier"),
        (HEAD + "switch as=1 pcid=4096\n", 6, 18, "0 to 4095"),
        (HEAD + "flush now\n", 6, 7, "end of the line after 'flush'"),
        (HEAD + "invlpg\n", 6, 7, "for 'va'"),
        (HEAD + "invpcid 4\n", 6, 9, "type 0, 1, 2 or 3"),
        (HEAD + "invpcid 0 pcid=1\n", 6, 17, "va= for INVPCID type 0"),
        (HEAD + "invpcid 2 pcid=1\n", 6, 11, "no pcid= for INVPCID type 2"),
        (HEAD + "cr0\n", 6, 4, "wp=0 or wp=1"),
        (HEAD + "cr0 wp=2\n", 6, 8, "0 or 1 for 'wp'"),
        (HEAD + "cr4\n", 6, 4, "at least one of"),
        (HEAD + "cr4 la57=1\n", 6, 5, "unknown key 'la57'"),
        (HEAD + "efer\n", 6, 5, "nxe=0 or nxe=1"),
        (HEAD + "pkru 0x100000000\n", 6, 6, "32-bit value"),
        (HEAD + "pkrs\n", 6, 5, "32-bit value"),
        (HEAD + "cpl 4\n", 6, 5, "0 to 3 for 'cpl'"),
        (HEAD + "ac 2\n", 6, 4, "0 or 1 for 'ac'"),
        (HEAD + "cpl 3 now\n", 6, 7, "end of the line"),
        # expect-entry
        (HEAD + "expect-entry 0x1000 level=5 raw=0\n", 6, 27, "level 1 to 4"),
        (HEAD + "expect-entry 0x1000 level=1\n", 6, 28, "raw= for 'expect-entry'"),
        (HEAD + "expect-entry 0x800000000000 level=1 raw=0\n", 6, 14, "canonical"),
        # characters
        (HEAD + "read 0x1000\r\n", 6, 12, "printable"),
        (HEAD + "read\x0b0x1000\n", 6, 5, "printable"),
    ]

    def test_cases(self):
        for text, line, col, fragment in self.CASES:
            with self.subTest(text=text.splitlines()[-1] if text else "<empty>"):
                with self.assertRaises(TraceError) as cm:
                    parse(text, "x.trace")
                e = cm.exception
                self.assertIn(fragment, e.message)
                self.assertEqual((e.line, e.col), (line, col), str(e))
                self.assertTrue(str(e).startswith("x.trace:%d:%d: expected" % (line, col)),
                                str(e))

    def test_every_operation_has_a_rejection_case(self):
        covered = {t.split("\n")[-2].split()[0] for t, *_ in self.CASES if "\n" in t}
        covered |= {t.split("\n")[-2].split()[1] for t, *_ in self.CASES
                    if "\n" in t and t.split("\n")[-2].startswith("cpu")
                    and len(t.split("\n")[-2].split()) > 1}
        for kind in tracelib.OPERATIONS + ("machine", "space", "barrier", "pagesim-trace"):
            self.assertIn(kind, covered)

    def test_comment_hides_errors(self):
        parse(HEAD + "read 0x1000 # -> this is not parsed ===\n")

    def test_state_is_per_cpu(self):
        # cpu1 switched, cpu0 did not: a user map on cpu0 needs as=.
        text = "pagesim-trace 1\nmachine cpus=2\nspace 1\ncpu1 switch as=1\ncpu1 map 0x1000 4K " \
               "user\nmap 0x2000 4K user\n"
        with self.assertRaises(TraceError) as cm:
            parse(text)
        self.assertEqual(cm.exception.line, 6)
        parse(text.replace("map 0x2000 4K user\n", "map 0x2000 4K user as=1\n"))


class WriterTest(unittest.TestCase):
    def writer(self, verify=False):
        out = io.StringIO()
        w = TraceWriter(out, "out.trace", verify=verify, chunk_lines=3)
        for line in HEAD.splitlines():
            w.line(line)
        return w, out

    def test_writes_and_parses(self):
        for verify in (False, True):
            w, out = self.writer(verify)
            w.mm(1, "map", 0x400000, 0x3000, "prot=rw- user page=4K")
            w.access(1, "read", 0x400008, "cpl=3 -> ok size=4K")
            t = w.template(0, "write", "cpl=3 -> pf code=0x7")
            w.put(t % 0x400010)
            w.mm(0, "unmap", 0x400000, 0x3000)
            w.close()
            text = out.getvalue()
            self.assertIn("cpu1 map 0x400000 12K prot=rw- user page=4K\n", text)
            self.assertIn("write 0x400010 cpl=3 -> pf code=0x7\n", text)
            self.assertEqual(tracelib.validate_text(text), 9)

    def test_rejects_bad_lines_before_writing(self):
        for verify in (False, True):
            w, out = self.writer(verify)
            with self.assertRaises(TraceError) as cm:
                w.mm(0, "map", 0x1001, 4096, "prot=rw- user")
            self.assertEqual((cm.exception.line, cm.exception.col), (6, 5))
            with self.assertRaises(TraceError):
                w.mm(2, "map", 0x1000, 4096, "prot=rw- user")
            with self.assertRaises(TraceError):
                w.mm(0, "map", 0x1000, 4096, "prot=rw- usr")
            with self.assertRaises(TraceError):
                w.mm(0, "map", 0x7ffffffff000, 4096, "user")
            with self.assertRaises(TraceError):
                w.access(0, "fetch", 0x1000, "ac=1")
            with self.assertRaises(TraceError):
                w.template(0, "read", "cpl=4")
            with self.assertRaises(TraceError):
                w.line("map 0x1000 4K prot=rw- user page=2M")
            w.flush()
            self.assertNotIn("0x1001", out.getvalue())
            self.assertNotIn("page=2M", out.getvalue())

    def test_line_templates_and_blocks(self):
        for verify in (False, True):
            w, out = self.writer(verify)
            m = w.mm_template(1, "map", "prot=r-x user page=4K")
            u = w.mm_template(0, "unmap")
            r = w.template(1, "read", "cpl=3 -> ok size=4K")
            self.assertEqual(m, "cpu1 map 0x%x %s prot=r-x user page=4K")
            w.put_block("\n".join((m % (0x400000, "8K"), r % 0x400008)), 2)
            w.fixed("barrier")
            w.put_block(u % (0x400000, "8K"), 1)
            w.fixed("barrier")
            self.assertEqual(w.lineno, 10)
            w.close()
            text = out.getvalue()
            self.assertTrue(text.endswith("cpu1 map 0x400000 8K prot=r-x user page=4K\n"
                                          "cpu1 read 0x400008 cpl=3 -> ok size=4K\nbarrier\n"
                                          "unmap 0x400000 8K\nbarrier\n"), text)
            self.assertEqual(tracelib.validate_text(text), 10)
            # A template is checked in full when it is made.
            for cpu, kind, tail in ((2, "map", "user"), (0, "map", "prot=rw- usr"),
                                    (0, "protect", ""), (0, "map", "prot=rw- user page=3K")):
                with self.assertRaises(TraceError):
                    w.mm_template(cpu, kind, tail)
        # With verify=True every line of a block is parsed.
        w, out = self.writer(True)
        with self.assertRaises(TraceError) as cm:
            w.put_block("read 0x1000 cpl=3\nread 0x2000 cpl=4", 2)
        self.assertEqual(cm.exception.line, 7)


if __name__ == "__main__":
    unittest.main()
