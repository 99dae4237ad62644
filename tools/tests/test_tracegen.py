"""tracegen: determinism by seed, every pattern parses and pins only what is true, streaming."""

import io
import os
import subprocess
import sys
import unittest

import tracelib
import tracegen
from tests import refmodel

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRACEGEN = os.path.join(TOOLS, "tracegen")


def generate(*args):
    out = io.StringIO()
    a = tracegen.build_parser().parse_args(list(args))
    tracegen.Generator(a).run(out)
    return out.getvalue()


class DeterminismTest(unittest.TestCase):
    def test_same_seed_same_trace(self):
        for pattern in tracegen.PATTERNS:
            a = generate("--pattern", pattern, "--seed", "7", "--lines", "3000", "--cpus", "2")
            b = generate("--pattern", pattern, "--seed", "7", "--lines", "3000", "--cpus", "2")
            self.assertEqual(a, b, pattern)

    def test_other_seed_other_trace(self):
        for pattern in ("random", "mixed", "huge", "kernel"):
            a = generate("--pattern", pattern, "--seed", "7", "--lines", "3000")
            b = generate("--pattern", pattern, "--seed", "8", "--lines", "3000")
            self.assertNotEqual(a, b, pattern)

    def test_script_matches_module(self):
        out = subprocess.run([TRACEGEN, "--pattern", "random", "--seed", "3", "--lines", "500"],
                             capture_output=True, text=True, check=True).stdout
        self.assertEqual(out, generate("--pattern", "random", "--seed", "3", "--lines", "500"))


class CorrectnessTest(unittest.TestCase):
    """Every generated trace parses in full, and every pin it carries is what an independent
    model of x86 paging gives (tests/refmodel.py)."""

    CONFIGS = [
        ("--pattern", "seq"),
        ("--pattern", "random", "--cpl", "mixed", "--mix", "40,40,20"),
        ("--pattern", "strided", "--stride", "12K"),
        ("--pattern", "huge", "--cpus", "2"),
        ("--pattern", "kernel", "--cpl", "mixed", "--cpus", "3"),
        ("--pattern", "mixed", "--cpus", "4"),
        ("--pattern", "mixed", "--cpus", "3", "--share", "contended", "--cpl", "mixed"),
        ("--pattern", "random", "--cpus", "4", "--share", "contended"),
        ("--pattern", "mixed", "--levels", "5", "--cpus", "2", "--cpl", "0"),
        ("--pattern", "seq", "--faults", "50", "--live", "1", "--accesses", "3"),
        ("--pattern", "random", "--no-pins", "--cpus", "2"),
    ]

    def test_configs(self):
        for cfg in self.CONFIGS:
            with self.subTest(cfg=" ".join(cfg)):
                text = generate(*cfg, "--lines", "4000", "--seed", "11")
                n = tracelib.validate_text(text)
                self.assertGreaterEqual(n, 4000)
                problems, checked = refmodel.check_pins(text)
                self.assertEqual(problems, [])
                if "--no-pins" in cfg:
                    self.assertEqual(checked, 0)
                    self.assertNotIn("->", text)
                else:
                    self.assertGreater(checked, 1000)

    def test_expected_content(self):
        huge = generate("--pattern", "huge", "--lines", "20000", "--seed", "2")
        self.assertIn("page=2M", huge)
        self.assertIn("size=2M", huge)
        self.assertIn("page=1G", huge)
        self.assertIn("size=1G", huge)
        kern = generate("--pattern", "kernel", "--cpl", "mixed", "--lines", "3000")
        self.assertIn("map_pa 0xffff8", kern)
        self.assertIn("-> ok pa=0x", kern)
        self.assertIn("-> pf code=0x5", kern)       # user read of a supervisor page
        cont = generate("--pattern", "random", "--cpus", "3", "--share", "contended",
                        "--lines", "3000")
        self.assertIn("barrier", cont)
        unpinned = [l for l in cont.splitlines() if l.split()[1:2] in (["read"], ["write"],
                                                                        ["fetch"])
                    and "->" not in l]
        self.assertTrue(unpinned, "contended traces leave racing accesses unpinned")
        multi = generate("--pattern", "seq", "--cpus", "3", "--lines", "3000")
        self.assertIn("cpu2 map ", multi)
        five = generate("--pattern", "seq", "--levels", "5", "--lines", "300")
        self.assertIn("machine levels=5", five)

    def test_refmodel_catches_a_wrong_pin(self):
        # The check above could not fail if the model agreed with anything: corrupt pins.
        text = generate("--pattern", "seq", "--lines", "2000", "--faults", "0")
        self.assertEqual(refmodel.check_pins(text)[0], [])
        for good, bad in (("-> ok size=4K", "-> pf code=0x4"),
                          ("-> pf code=0x4", "-> ok size=4K"),
                          ("-> pf code=0x7", "-> pf code=0x6"),
                          ("-> ok size=4K", "-> ok size=2M")):
            self.assertIn(good, text)
            problems, _ = refmodel.check_pins(text.replace(good, bad, 1))
            self.assertEqual(len(problems), 1, (good, bad))

    def test_lines_option(self):
        for n in (10, 1000, 20000):
            text = generate("--lines", str(n))
            count = text.count("\n")
            self.assertGreaterEqual(count, n)
            self.assertLess(count, n + 300)
        tiny = generate("--lines", "5", "--accesses", "2", "--live", "1")
        self.assertLess(tiny.count("\n"), 25)


class CommandLineTest(unittest.TestCase):
    def run_tool(self, *args, **kw):
        return subprocess.run([TRACEGEN, *args], capture_output=True, text=True, **kw)

    def test_help(self):
        r = self.run_tool("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--seed", r.stdout)
        self.assertIn("--pattern", r.stdout)

    def test_bad_arguments_exit_2(self):
        for args in (["--cpus", "65"], ["--mix", "1,2"], ["--pattern", "zigzag"],
                     ["--lines", "lots"], ["--ram", "1M", "--pattern", "huge"]):
            r = self.run_tool(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertNotIn("Traceback", r.stderr)
            self.assertTrue(r.stderr.strip())

    def test_output_file(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "x.trace")
            r = self.run_tool("--lines", "100", "-o", path, "--verify")
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(path) as f:
                self.assertEqual(f.read(), generate("--lines", "100"))


class StreamingTest(unittest.TestCase):
    """A large trace goes through a pipe without the generator's memory growing with it."""

    def peak_rss_kib(self, lines):
        proc = subprocess.Popen([sys.executable, TRACEGEN, "--pattern", "mixed", "--cpus", "4",
                                 "--lines", str(lines)], stdout=subprocess.PIPE)
        total = 0
        while True:
            chunk = proc.stdout.read(1 << 20)
            if not chunk:
                break
            total += chunk.count(b"\n")
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        self.assertEqual(proc.returncode, 0)
        self.assertGreaterEqual(total, lines)
        return usage.ru_maxrss

    def test_memory_does_not_grow(self):
        small = self.peak_rss_kib(20000)
        large = self.peak_rss_kib(1500000)     # 75 times more lines, about 60 MB of trace
        self.assertLess(large, small * 1.5 + 4096, (small, large))
        self.assertLess(large, 100 * 1024)

    def test_broken_pipe_is_quiet(self):
        proc = subprocess.Popen([TRACEGEN, "--lines", "2000000"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        proc.stdout.read(1000)
        proc.stdout.close()
        err = proc.stderr.read()
        proc.stderr.close()
        proc.wait(timeout=60)
        self.assertNotIn(b"Traceback", err)


if __name__ == "__main__":
    unittest.main()
