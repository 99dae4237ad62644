"""strace2trace on hand-written strace snippets: every output format strace has, threads,
unfinished / resumed pairs, failed calls, signals, mremap, brk, clone / clone3 / fork / vfork,
execve, and what it reports as unconvertible. Every emitted trace must parse and every pin in it
must hold in an independent model (tests/refmodel.py)."""

import contextlib
import glob
import io
import os
import re
import subprocess
import tempfile
import unittest
from unittest import mock

import strace2trace
import tracelib
from tests import refmodel

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL = os.path.join(os.path.dirname(TOOLS), "traces", "real")


def convert(text, *args, name="in.strace"):
    """Runs strace2trace on `text`: (exit code, trace or None, stderr)."""
    with tempfile.TemporaryDirectory() as d:
        inp = os.path.join(d, name)
        out = os.path.join(d, "out.trace")
        with open(inp, "w") as f:
            f.write(text)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                rc = strace2trace.main([inp, "-o", out, *args])
            except SystemExit as e:
                rc = e.code
        trace = None
        if os.path.exists(out):
            with open(out) as f:
                trace = f.read()
    return rc, trace, err.getvalue().replace(d + os.sep, "")


def body(trace):
    """The lines after the set-up (everything after the first barrier)."""
    lines = trace.splitlines()
    return lines[lines.index("barrier") + 1:]


def ops(trace):
    """The map / unmap / protect / barrier lines of the body."""
    return [l for l in body(trace)
            if re.match(r"(cpu\d+ )?(map|unmap|protect)\b", l) or l == "barrier"]


BASE = """\
100 execve("./a", ["./a"], 0x7ffc3a0d2b58 /* 20 vars */) = 0
100 brk(NULL)                         = 0x555555559000
100 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000
100 openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3
100 mmap(NULL, 5000, PROT_READ, MAP_PRIVATE, 3, 0) = 0x7f0000010000
100 close(3)                          = 0
100 mprotect(0x7f0000010000, 4096, PROT_READ|PROT_EXEC) = 0
100 munmap(0x7f0000000000, 8192)      = 0
100 brk(0x55555557a000)               = 0x55555557a000
100 brk(0x555555569000)               = 0x555555569000
100 exit_group(0)                     = ?
100 +++ exited with 0 +++
"""

BASE_OPS = [
    "map 0x7f0000000000 8K prot=rw- user page=4K",
    "map 0x7f0000010000 8K prot=r-- user page=4K",
    "protect 0x7f0000010000 4K prot=r-x",
    "unmap 0x7f0000000000 8K",
    "map 0x555555559000 132K prot=rw- user page=4K",
    "unmap 0x555555569000 68K",
]


class Checked(unittest.TestCase):
    def convert_ok(self, text, *args, reports=0):
        rc, trace, err = convert(text, *args)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("Traceback", err)
        tracelib.validate_text(trace)
        problems, _ = refmodel.check_pins(trace)
        self.assertEqual(problems, [])
        if reports is not None:
            self.assertEqual(len([l for l in err.splitlines() if l.strip()]), reports, err)
        return trace, err


class BasicTest(Checked):
    def test_base(self):
        trace, _ = self.convert_ok(BASE)
        self.assertEqual(ops(trace), BASE_OPS)
        b = body(trace)
        # Accesses after each change, with outcomes known exactly.
        for line in ("read 0x7f0000000008 cpl=3 -> ok size=4K",
                     "write 0x7f0000000008 cpl=3 -> ok size=4K",
                     "read 0x7f0000001ff8 cpl=3 -> ok size=4K",
                     # After mprotect the write and the fetch are there whatever the rights.
                     "write 0x7f0000010008 cpl=3 -> pf code=0x7",
                     "fetch 0x7f0000010008 cpl=3 -> ok size=4K",
                     "read 0x555555569008 cpl=3 -> pf code=0x4"):
            self.assertIn(line, b)
        # After a map, only what the rights allow: no write to r--, no fetch without x.
        self.assertNotIn("fetch 0x7f0000000008 cpl=3 -> pf code=0x15", b)
        self.assertNotIn("write 0x7f0000010008 cpl=3 -> pf code=0x7",
                         b[:b.index("protect 0x7f0000010000 4K prot=r-x")])
        head = trace.splitlines()
        self.assertEqual(head[0], "pagesim-trace 1")
        self.assertEqual(head[1], "machine levels=4 ram=1G cpus=1")
        self.assertIn("space 1", head)
        self.assertIn("switch as=1", head)
        self.assertIn("efer nxe=1", head)

    def test_output_formats(self):
        """The same run printed the usual ways strace prints it converts to the same trace."""
        lines = BASE.splitlines()

        def variant(fn):
            return "".join(fn(l) + "\n" for l in lines)

        def strip_pid(l):
            return l.split(" ", 1)[1]
        variants = {
            "-tt": variant(lambda l: l.replace("100 ", "100 10:00:00.123456 ", 1)),
            "-t": variant(lambda l: l.replace("100 ", "100 10:00:00 ", 1)),
            "-ttt": variant(lambda l: l.replace("100 ", "100 1700000000.123456 ", 1)),
            "-r": variant(lambda l: "     0.000123 " + strip_pid(l)),
            "-T": variant(lambda l: l + " <0.000012>" if "= " in l and "+++" not in l
                          and "= ?" not in l else l),
            "-y": variant(lambda l: l.replace(", 3, 0)", ", 3</etc/ld.so.cache>, 0)")
                          .replace("close(3)", "close(3</etc/ld.so.cache>)")),
            "-yy": variant(lambda l: l.replace(
                ", 3, 0)", ", 3<TCP:[127.0.0.1:8080->127.0.0.1:5000]>, 0)")),
            "[pid N]": variant(lambda l: l.replace("100 ", "[pid   100] ", 1)),
            "no pid": variant(strip_pid),
            "-X raw": variant(lambda l: l.replace("PROT_READ|PROT_WRITE, MAP_PRIVATE|"
                                                  "MAP_ANONYMOUS", "0x3, 0x22")),
            "-X verbose": variant(lambda l: l.replace(
                "PROT_READ|PROT_EXEC", "0x5 /* PROT_READ|PROT_EXEC */")),
            "all": variant(lambda l: "[pid   100] 10:00:00.123456 " + strip_pid(l)
                           .replace(", 3, 0)", ", 3</etc/ld.so.cache>, 0)")
                           + (" <0.000012>" if " = 0" in l else "")),
        }
        for name, text in variants.items():
            with self.subTest(variant=name):
                trace, _ = self.convert_ok(text)
                self.assertEqual(ops(trace), BASE_OPS)

    def test_unrelated_failed_signals_exits(self):
        text = BASE.replace("100 close(3)", """\
100 mmap(NULL, 1099511627776, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = -1 ENOMEM (Cannot allocate memory)
100 munmap(0x1, 4096)                 = -1 EINVAL (Invalid argument)
100 mprotect(0x7f0000f00000, 4096, PROT_READ) = -1 ENOMEM (Cannot allocate memory)
100 --- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_ACCERR, si_addr=0x7f0000010000} ---
100 rt_sigreturn({mask=[]})           = 0
100 read(0, "x", 1)                   = ? ERESTARTSYS (To be restarted if SA_RESTART is set)
100 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=7, si_uid=0} ---
100 close(3)""")
        trace, _ = self.convert_ok(text)
        self.assertEqual(ops(trace), BASE_OPS)
        self.assertIn("3 failed calls skipped", trace.replace("\n# ", " "))

    def test_prot_none_mprotect_map_fixed_and_exec_pages(self):
        text = """\
1 mmap(NULL, 134217728, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE, -1, 0) = 0x7f4000000000
1 mprotect(0x7f4000000000, 135168, PROT_READ|PROT_WRITE) = 0
1 mmap(0x7f4000001000, 4096, PROT_READ, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0) = 0x7f4000001000
1 mprotect(0x7f4000000000, 8192, PROT_NONE) = 0
1 mprotect(0x5555f000, 8192, PROT_READ) = 0
1 pkey_mprotect(0x7f4000002000, 4096, PROT_READ, 3) = 0
1 munmap(0x7f4000000000, 134217728) = 0
"""
        trace, err = self.convert_ok(text, reports=1)
        self.assertEqual(ops(trace), [
            # PROT_NONE reserves: nothing mapped; mprotect maps fresh pages.
            "map 0x7f4000000000 132K prot=rw- user page=4K",
            # MAP_FIXED replaces, in one map.
            "map 0x7f4000001000 4K prot=r-- user page=4K",
            "unmap 0x7f4000000000 8K",
            # Pages from execve (never mapped by a traced call): a successful mprotect
            # proves them, they are mapped with the new rights.
            "map 0x5555f000 8K prot=r-- user page=4K",
            "protect 0x7f4000002000 4K prot=r--",
            "unmap 0x7f4000002000 124K",
        ])
        self.assertIn("in.strace:6: pkey_mprotect: converted as mprotect", err)

    def test_brk_and_mremap(self):
        text = """\
5 brk(NULL) = 0x560000000800
5 brk(0x560000021800) = 0x560000021800
5 brk(0x560000021000) = 0x560000021000
5 brk(0x560000100000) = 0x560000021000
5 mmap(NULL, 65536, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f5000000000
5 mremap(0x7f5000000000, 65536, 131072, 0) = 0x7f5000000000
5 mremap(0x7f5000000000, 131072, 8192, 0) = 0x7f5000000000
5 mprotect(0x7f5000001000, 4096, PROT_READ) = 0
5 mremap(0x7f5000000000, 8192, 16384, MREMAP_MAYMOVE) = 0x7f6000000000
5 mremap(0x7f6000000000, 16384, 16384, MREMAP_MAYMOVE|MREMAP_FIXED, 0x7f7000000000) = 0x7f7000000000
5 mremap(0x7f7000000000, 4096, 4096, MREMAP_MAYMOVE|MREMAP_DONTUNMAP) = 0x7f8000000000
"""
        trace, _ = self.convert_ok(text)
        self.assertEqual(ops(trace), [
            # brk: the heap is [page_up(start), page_up(break)).
            "map 0x560000001000 132K prot=rw- user page=4K",
            # 0x560000021800 -> 0x560000021000: the page [0x...21000, 0x...22000) goes; the
            # failed brk (it returns the old break) changes nothing.
            "unmap 0x560000021000 4K",
            "map 0x7f5000000000 64K prot=rw- user page=4K",
            "map 0x7f5000010000 64K prot=rw- user page=4K",       # grown in place
            "unmap 0x7f5000002000 120K",                          # shrunk in place
            "protect 0x7f5000001000 4K prot=r--",
            "unmap 0x7f5000000000 8K",                            # moved: source goes...
            "map 0x7f6000000000 4K prot=rw- user page=4K",        # ...pages keep rights...
            "map 0x7f6000001000 12K prot=r-- user page=4K",       # ...growth takes the last's
            "unmap 0x7f6000000000 16K",
            "map 0x7f7000000000 4K prot=rw- user page=4K",        # MREMAP_FIXED
            "map 0x7f7000001000 12K prot=r-- user page=4K",
            "map 0x7f8000000000 4K prot=rw- user page=4K",        # DONTUNMAP keeps the source
        ])

    def test_execve_of_the_converted_process(self):
        text = BASE.replace("100 exit_group(0)                     = ?\n", """\
100 execve("/bin/true", ["true"], 0x7ffc3a0d2b58 /* 20 vars */) = 0
100 brk(NULL) = 0x560000000000
100 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000
""")
        trace, _ = self.convert_ok(text)
        self.assertEqual(ops(trace), BASE_OPS + [
            "unmap 0x555555559000 64K", "unmap 0x7f0000010000 8K",
            "map 0x7f0000000000 4K prot=r-- user page=4K"])


THREADS = """\
100 mmap(NULL, 8392704, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK, -1, 0) = 0x7f1000000000
100 mprotect(0x7f1000001000, 8388608, PROT_READ|PROT_WRITE) = 0
100 mmap(NULL, 65536, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f2000000000
100 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, child_tid=0x7f1000800910, parent_tid=0x7f1000800910, exit_signal=0, stack=0x7f1000000000, stack_size=0x7fff00, tls=0x7f1000800640} => {parent_tid=[101]}, 88) = 101
101 mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f3000000000
100 munmap(0x7f2000000000, 65536 <unfinished ...>
101 mmap(NULL, 65536, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0 <unfinished ...>
101 <... mmap resumed>)               = 0x7f2000000000
100 <... munmap resumed>)             = 0
101 mprotect(0x7f2000000000, 4096, PROT_READ) = 0
101 clone(child_stack=0x7f3000ff0000, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, parent_tid=[102], tls=0x7f3000ff0700, child_tidptr=0x7f3000ff09d0) = 102
102 mmap(NULL, 4096, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f3100000000
102 +++ exited with 0 +++
101 +++ exited with 0 +++
100 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, child_tid=0x7f1000800910, parent_tid=0x7f1000800910, exit_signal=0, stack=0x7f1000000000, stack_size=0x7fff00, tls=0x7f1000800640} => {parent_tid=[103]}, 88) = 103
103 munmap(0x7f3100000000, 4096) = 0
100 exit_group(0) = ?
"""


class ThreadTest(Checked):
    def test_threads_and_effect_order(self):
        trace, _ = self.convert_ok(THREADS)
        head = trace.splitlines()
        self.assertIn("machine levels=4 ram=1G cpus=3", head)
        for c in (1, 2):
            self.assertIn("cpu%d switch as=1" % c, head)
        self.assertEqual(ops(trace), [
            "map 0x7f1000001000 8M prot=rw- user page=4K",
            "map 0x7f2000000000 64K prot=rw- user page=4K",
            "barrier",                                    # a new thread's first operation
            "cpu1 map 0x7f3000000000 4K prot=rw- user page=4K",
            # The munmap was in flight when the other thread's mmap got the same range back:
            # its effect comes first, then a barrier (same range, other CPU), then the mmap.
            "unmap 0x7f2000000000 64K",
            "barrier",
            "cpu1 map 0x7f2000000000 64K prot=rw- user page=4K",
            "cpu1 protect 0x7f2000000000 4K prot=r--",
            "barrier",
            "cpu2 map 0x7f3100000000 4K prot=r-x user page=4K",
            # Threads 101 and 102 exited: thread 103 reuses cpu1, after a barrier.
            "barrier",
            "cpu1 unmap 0x7f3100000000 4K",
        ])

    def test_stderr_format_with_attach_messages(self):
        """strace -f without -o: no prefix until a second task exists, and 'Process N
        attached' may cut a line in two."""
        lines = THREADS.splitlines()
        out = []
        for i, l in enumerate(lines):
            pid, rest = l.split(" ", 1)
            if i < 4:
                out.append(rest if i < 3 else rest.replace(" => {", "strace: Process 101 "
                                                           "attached\n => {"))
            else:
                out.append("[pid %5s] %s" % (pid, rest))
        trace, _ = self.convert_ok("\n".join(out) + "\n")
        self.assertEqual(ops(trace), ops(self.convert_ok(THREADS)[0]))

    def test_fold_beyond_max_cpus(self):
        trace, err = self.convert_ok(THREADS, "--max-cpus", "2", reports=1)
        self.assertIn("machine levels=4 ram=1G cpus=2", trace)
        self.assertRegex(err, r"in\.strace:11: thread 102: more than 2 live threads, folded "
                              r"onto cpu\d")

    def test_fork_and_vfork_are_other_processes(self):
        text = """\
10 mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000
10 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f00000a10) = 11
11 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000100000
11 munmap(0x7f0000000000, 4096) = 0
10 vfork() = 12
12 execve("/bin/true", ["true"], 0x7ffc /* 1 var */) = 0
12 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000200000
10 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000300000
"""
        trace, err = self.convert_ok(text, reports=2)
        self.assertEqual(ops(trace), [
            "map 0x7f0000000000 4K prot=rw- user page=4K",
            "map 0x7f0000300000 4K prot=r-- user page=4K"])
        self.assertIn("in.strace:3: process 11 (not the one converted) made 2 memory calls "
                      "from here on; they are not converted (pass --pid 11 to convert it)", err)
        self.assertIn("in.strace:7: process 12", err)
        # --pid converts the child instead, starting from what it inherited at fork.
        trace, err = self.convert_ok(text, "--pid", "11", reports=None)
        self.assertEqual(ops(trace), [
            "map 0x7f0000000000 4K prot=rw- user page=4K",        # inherited
            "map 0x7f0000100000 8K prot=r-- user page=4K",
            "unmap 0x7f0000000000 4K"])
        rc, _, err = convert(text, "--pid", "99")
        self.assertEqual(rc, 2)
        self.assertIn("found no such pid", err)

    def test_threads_without_clone_lines(self):
        text = "\n".join(l for l in THREADS.splitlines() if "clone" not in l) + "\n"
        trace, err = self.convert_ok(text, reports=1)
        self.assertIn("pid 101 appears without a clone that created it", err)
        self.assertIn("cpus=", trace)


class UnconvertibleTest(unittest.TestCase):
    def test_reports_with_line_numbers(self):
        text = """\
7 brk(0x560000021000) = 0x560000021000
7 shmat(3, NULL, 0) = 0x7f0000000000
hello, this is not strace
7 <... mmap resumed>) = 0x7f0000100000
7 mremap(0x7f0000200000, 4096, 8192, MREMAP_MAYMOVE) = 0x7f0000300000
7 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = ?
7 mmap(0x7f0000400000, 4096, PROT_READ, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0) = 0x7f0000400000
7 munmap(0x7f0000400000, 4096 <unfinished ...>
"""
        rc, trace, err = convert(text)
        self.assertEqual(rc, 0)
        self.assertEqual(err.splitlines(), [
            "in.strace:1: brk before any brk(NULL): the heap's start is unknown, the break is "
            "taken as 0x560000021000",
            "in.strace:2: shmat: shared memory (shmat/shmdt) is not converted: the segment's "
            "size is not in the call: not converted",
            "in.strace:3: cannot read this line: hello, this is not strace",
            "in.strace:4: 'mmap resumed' without its start: not converted",
            "in.strace:5: mremap moves pages that no traced call mapped (rights unknown): those "
            "are left unmapped at the destination",
            "in.strace:6: mmap without a result: not converted",
            "in.strace:8: munmap never finished (no 'resumed' line): not converted",
        ])
        self.assertEqual(ops(trace), ["map 0x7f0000400000 4K prot=r-- user page=4K"])
        tracelib.validate_text(trace)
        rc, _, err = convert(text, "--strict")
        self.assertEqual(rc, 2)
        self.assertIn("could not be converted (--strict)", err)
        rc, _, err = convert(text, "--max-reports", "2")
        self.assertEqual(len(err.splitlines()), 3)
        self.assertIn("5 more messages not shown", err)

    def test_not_strace(self):
        rc, trace, err = convert("just some text\nnothing here\n")
        self.assertEqual(rc, 2)
        self.assertIsNone(trace)
        self.assertIn("in.strace:2: expected strace output", err)
        rc, _, err = convert("")
        self.assertEqual(rc, 2)

    def test_command_line(self):
        exe = os.path.join(TOOLS, "strace2trace")
        r = subprocess.run([exe, "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("strace -f -e trace=%memory,%process", r.stdout)
        r = subprocess.run([exe, "/nonexistent/x.strace"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("/nonexistent/x.strace", r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        r = subprocess.run([exe, "-"], input=BASE, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(ops(r.stdout), BASE_OPS)


def mutated_logs(seed, count):
    """`count` copies of the bundled strace logs, each with one to seven lines truncated,
    deleted, duplicated, corrupted by one character or given another address; seeded."""
    import random
    logs = []
    for p in sorted(glob.glob(os.path.join(REAL, "*.strace"))):
        with open(p) as f:
            logs.append(f.read().splitlines(keepends=True))
    rng = random.Random(seed)
    for _ in range(count):
        lines = list(rng.choice(logs))
        for _ in range(rng.randrange(1, 8)):
            i = rng.randrange(len(lines))
            op = rng.randrange(5)
            line = lines[i]
            if op == 0:
                lines[i] = line[:rng.randrange(len(line))] + "\n"
            elif op == 1:
                del lines[i]
            elif op == 2:
                lines.insert(rng.randrange(len(lines)), lines[rng.randrange(len(lines))])
            elif op == 3:
                j = rng.randrange(len(line))
                lines[i] = line[:j] + rng.choice("(),=<>x09 |\t") + line[j + 1:]
            else:
                lines[i] = line.replace("0x7f", rng.choice(("0xff", "0x0", "-0x7f")), 1)
        yield "".join(lines)


class RobustnessTest(unittest.TestCase):
    def test_mutated_logs(self):
        """Truncated, shuffled, duplicated and corrupted lines: never a crash, and whatever is
        emitted parses."""
        for text in mutated_logs(seed=6, count=120):
            rc, trace, err = convert(text)
            self.assertIn(rc, (0, 2), err)
            self.assertNotIn("Traceback", err)
            if rc == 0:
                tracelib.validate_text(trace)

    def test_negative_addresses_are_reported_not_crashed_on(self):
        """A negative address (a corrupted log) in a complete call and in a resumed one is a
        reported, located line; the rest converts."""
        text = ("100 execve(\"/bin/true\", [\"true\"], 0x7ffc /* 1 var */) = 0\n"
                "100 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)"
                " = 0x7f0000000000\n"
                "100 munmap(-0x1000, 4096) = 0\n"
                "100 mprotect(-0x7f0000000000, 4096, PROT_READ <unfinished ...>\n"
                "100 <... mprotect resumed>) = 0\n"
                "100 munmap(0x7f0000000000, 8192) = 0\n")
        rc, trace, err = convert(text)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("internal error", err)
        self.assertIn("in.strace:3:", err)
        self.assertIn("in.strace:5:", err)
        self.assertIn("negative", err)
        tracelib.validate_text(trace)
        self.assertIn("unmap 0x7f0000000000", trace)


def _run_by_feed(conv, src):
    """Converter.run as the line-by-line reference: every line through Converter.feed."""
    lineno = 0
    try:
        for lineno, text in enumerate(src, 1):
            conv.feed(text, lineno)
    finally:
        conv.lineno = lineno
    return lineno


def _variants(text):
    """The same log as other ways of running strace print it, and with unusual values."""
    lines = text.splitlines()

    def each(fn):
        return "".join(fn(l) + "\n" for l in lines)
    return {
        "as recorded": text,
        "-tt": each(lambda l: re.sub(r"^(\d+) (?!\d)", r"\1 10:00:00.123456 ", l)),
        "-ttt": each(lambda l: re.sub(r"^(\d+) (?!\d)", r"\1 1700000000.123456 ", l)),
        "[pid N]": each(lambda l: re.sub(r"^(\d+) ", lambda m: "[pid %5s] " % m.group(1), l)),
        "-T": each(lambda l: l + " <0.000012>" if re.search(r"= (0x[0-9a-f]+|-?\d+)$", l)
                   else l),
        "-y": each(lambda l: l.replace(", -1, 0)", ", 3</lib/x(1).so>, 0)")),
        "-X raw": each(lambda l: l.replace("PROT_READ|PROT_WRITE", "0x3")),
        "-X verbose": each(lambda l: l.replace("PROT_READ|PROT_WRITE",
                                               "0x3 /* PROT_READ|PROT_WRITE */")),
        "CRLF, tabs, no last newline": "\r\n".join(l.replace(") = ", ")\t=\t", 1) if i % 3
                                                    else l for i, l in enumerate(lines)),
        "odd values": each(lambda l: l.replace(", 8192,", ", 08192,").replace("= 0x7f", "= 0x07f")
                           .replace("PROT_READ|PROT_EXEC", "PROT_READ|PROT_FOO")
                           .replace("000, 4096)", "010, 4096)")),
        "strace messages": "".join(l[:25] + "strace: Process 7 attached\n" + l[25:] + "\n"
                                   if i % 13 == 4 else l + "\n" for i, l in enumerate(lines)),
    }


def _mmap_steps(conv, t, a, b, prot):
    conv.begin(t, a, b)
    conv.emit_change(t, a, b, prot, replace=True)
    conv.probe(t, a, b)


def _munmap_steps(conv, t, a, b):
    conv.begin(t, a, b)
    conv.emit_change(t, a, b, None, replace=False)
    conv.probe(t, a, a + tracelib.K4)


def _mprotect_steps(conv, t, a, b, prot):
    conv.begin(t, a, b)
    conv.emit_change(t, a, b, prot, replace=False)
    conv.probe(t, a, a + tracelib.K4, rights=True)


class FastPathTest(unittest.TestCase):
    """Converter.run (one regular expression per line, the commonest calls converted inline,
    their lines made from templates in blocks) gives exactly what the step-by-step path gives:
    every line through Converter.feed, and each mmap / munmap / mprotect as its documented steps
    (begin, emit_change, probe) instead of mmap_effect / munmap_effect / mprotect_effect. The
    same trace, the same messages, the same exit status."""

    def assert_same(self, text, *args, name="in.strace"):
        fast = convert(text, *args, name=name)
        C = strace2trace.Converter
        with mock.patch.object(C, "run", _run_by_feed), \
                mock.patch.object(C, "mmap_effect", _mmap_steps), \
                mock.patch.object(C, "munmap_effect", _munmap_steps), \
                mock.patch.object(C, "mprotect_effect", _mprotect_steps):
            slow = convert(text, *args, name=name)
        self.assertEqual(fast, slow)
        return fast

    def test_address_space(self):
        """The interval map against a map of every page."""
        import random
        rng = random.Random(5)
        for _ in range(300):
            model = strace2trace.AddressSpace()
            pages = {}
            for _ in range(rng.randrange(1, 40)):
                a = rng.randrange(32)
                b = a + rng.randrange(1, 9)
                v = rng.choice((None, 0, 1, 3, 3, 5, 7))
                before = [(p, pages.get(p)) for p in range(a, b)]
                if rng.random() < 0.5:
                    got = model.take(a << 12, b << 12, v)
                    self.assertEqual([(p, old) for s, e, old in got for p in range(s >> 12, e >> 12)],
                                     before)
                else:
                    model.assign(a << 12, b << 12, v)
                for p in range(a, b):
                    pages[p] = v
                self.assertEqual(model.mapped_pages, sum(1 for v in pages.values() if v))
                self.assertEqual([(p, old) for s, e, old in model.pieces(0, 48 << 12)
                                  for p in range(s >> 12, e >> 12)],
                                 [(p, pages.get(p)) for p in range(48)])
                self.assertTrue(all(x != y for x, y in zip(model.vals, model.vals[1:])))
                self.assertEqual(model.mapped_runs(),
                                 [(s, e) for s, e, v in strace2trace._merge(
                                     (s, e, 1) for s, e, v in model.mapped_intervals())])

    def test_recordings_and_variants(self):
        for log in sorted(glob.glob(os.path.join(REAL, "*.strace"))):
            with open(log) as f:
                text = f.read()
            for variant, vtext in _variants(text).items():
                for args in ([], ["--probe-pages", "1"], ["--probe-pages", "3"],
                             ["--max-cpus", "2"]):
                    with self.subTest(log=os.path.basename(log), variant=variant, args=args):
                        self.assert_same(vtext, *args)
            for args in (["--probe-pages", "0"], ["--verify"]):
                with self.subTest(log=os.path.basename(log), args=args):
                    self.assertEqual(self.assert_same(text, *args)[0], 0)

    def test_snippets(self):
        for text in (BASE, THREADS, BASE.replace("100 ", "")):
            for args in ([], ["--probe-pages", "5"], ["--pid", "101"]):
                with self.subTest(text=text[:30], args=args):
                    self.assert_same(text, *args)

    def test_mutated_logs(self):
        for text in mutated_logs(seed=7, count=80):
            self.assert_same(text)


class RealRecordingTest(unittest.TestCase):
    """The recordings in traces/real convert to exactly the bundled traces, which parse and
    whose pins hold."""

    def test_real(self):
        logs = sorted(glob.glob(os.path.join(REAL, "*.strace")))
        self.assertGreaterEqual(len(logs), 3)
        threaded = 0
        for log in logs:
            with self.subTest(log=os.path.basename(log)):
                with open(log) as f:
                    text = f.read()
                rc, trace, err = convert(text, "--verify", name=os.path.basename(log))
                self.assertEqual(rc, 0, err)
                with open(log[:-len(".strace")] + ".trace") as f:
                    self.assertEqual(trace, f.read())
                problems, checked = refmodel.check_pins(trace)
                self.assertEqual(problems, [])
                self.assertGreater(checked, 50)
                if "cpu1 " in trace:
                    threaded += 1
        self.assertGreaterEqual(threaded, 1)


if __name__ == "__main__":
    unittest.main()
