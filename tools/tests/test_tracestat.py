"""tracestat: text and JSON summaries of a known trace; errors; the replay-statistics plot."""

import contextlib
import io
import json
import os
import subprocess
import tempfile
import unittest
from unittest import mock

import tracestat

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRACESTAT = os.path.join(TOOLS, "tracestat")

KNOWN = """\
pagesim-trace 1
machine levels=4 ram=2G cpus=2
space 1
switch as=1
cpu1 switch as=1
map 0x400000 8K prot=rw- user page=4K
cpu1 map 0x200000000 4M prot=r-x user page=2M
map_pa 0xffff800000000000 0x0 2M
map 0x600000 4K user
read 0x400008 cpl=3 -> ok size=4K
write 0x400008 cpl=3 -> ok
cpu1 fetch 0x200000010 cpl=3 -> ok size=2M
cpu1 write 0x200000010 cpl=3 -> pf code=0x7
read 0xffff800000001000 cpl=0 -> ok pa=0x1000
read 0x500000 -> pf code=0x4
read 0x800000000000 cpl=3 -> gp
barrier
unmap 0x400000 8K
cpu1 protect 0x200000000 4M prot=r--
expect-entry 0x400000 level=1 raw=0
"""

STATS = {"verdict": "all matched", "operations": {"map": 10, "unmap": 4, "read": 100},
         "cpus": [{"cpu": 0, "tlb": {"l1d_hits": 90, "l1d_misses": 10, "l2_hits": 6,
                                     "l2_misses": 4, "walks": 4},
                   "faults": 2, "shootdowns_sent": 1, "shootdowns_received": 0},
                  {"cpu": 1, "tlb": {"l1d_hits": 50, "l1d_misses": 5, "l2_hits": 1,
                                     "l2_misses": 4, "walks": 4},
                   "faults": 0, "shootdowns_sent": 0, "shootdowns_received": 1}],
         "mismatches": 0}


def run_main(fn, argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = fn(argv)
        except SystemExit as e:
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


class SummaryTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "known.trace")
        with open(self.path, "w") as f:
            f.write(KNOWN)

    def tearDown(self):
        self.dir.cleanup()

    def test_json(self):
        rc, out, err = run_main(tracestat.main, [self.path, "--json"])
        self.assertEqual(rc, 0, err)
        d = json.loads(out)
        self.assertEqual(d["lines"], 20)
        self.assertEqual(d["machine"], {"levels": 4, "ram": 2 << 30, "cpus": 2})
        self.assertEqual(d["spaces"], 1)
        self.assertEqual(d["barriers"], 1)
        self.assertEqual(d["operations"], {"expect-entry": 1, "fetch": 1, "map": 3,
                                           "map_pa": 1, "protect": 1, "read": 4, "switch": 2,
                                           "unmap": 1, "write": 2})
        self.assertEqual(d["operations_by_cpu"]["1"], {"fetch": 1, "map": 1, "protect": 1,
                                                        "switch": 1, "write": 1})
        self.assertEqual(d["address_ranges"]["user"],
                         {"lowest": "0x400000", "highest_end": "0x200400000",
                          "gib_regions_touched": 2})
        self.assertEqual(d["address_ranges"]["kernel"],
                         {"lowest": "0xffff800000000000", "highest_end": "0xffff800000200000",
                          "gib_regions_touched": 1})
        self.assertEqual(d["page_sizes"], {"map (largest fit)": 1, "map page=2M": 1,
                                           "map page=4K": 1, "map_pa (largest fit)": 1,
                                           "pinned size=2M": 1, "pinned size=4K": 1})
        self.assertEqual(d["mapping_size_histogram"], {"[4K, 8K)": 1, "[8K, 16K)": 1,
                                                       "[2M, 4M)": 1, "[4M, 8M)": 1})
        self.assertEqual(d["mapped_bytes"], {"map": 0x401000 + 0x2000, "map_pa": 2 << 20})
        self.assertEqual(d["accesses"], {"fetch cpl=3": 1, "read cpl=0": 1,
                                         "read cpl=3": 2, "read cpl=cur": 1, "write cpl=3": 2})
        self.assertEqual(d["pins"], {"ok": 4, "pf": 2, "gp": 1, "ss": 0, "none": 0})
        self.assertEqual(d["page_fault_codes"], {"0x4": 1, "0x7": 1})
        self.assertEqual(d["expect_entries"], 1)

    def test_text(self):
        rc, out, err = run_main(tracestat.main, [self.path])
        self.assertEqual(rc, 0, err)
        for line in ("machine: 4-level paging, ram 2G, 2 cpus",
                     "address spaces: 1   barriers: 1",
                     "  map                    3         2         1",
                     "  user   [0x400000, 0x200400000)  2 GiB regions",
                     "  kernel [0xffff800000000000, 0xffff800000200000)  1 GiB region",
                     "  map page=2M                       1",
                     "  [4M, 8M)                1 ########################################",
                     "  pinned: ok 4, pf 2, gp 1, ss 0; unpinned 0",
                     "  pinned page-fault codes: 0x4 x1, 0x7 x1"):
            self.assertIn(line, out.splitlines())

    def test_bad_trace_exit_2(self):
        with open(self.path, "a") as f:
            f.write("map 0x1001 4K\n")
        r = subprocess.run([TRACESTAT, self.path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr, "%s:21:5: expected a 4 KiB-aligned address for 'map', found "
                                   "0x1001\n" % self.path)
        r = subprocess.run([TRACESTAT, os.path.join(self.dir.name, "missing.trace")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertNotIn("Traceback", r.stderr)

    def test_stdin_and_help(self):
        r = subprocess.run([TRACESTAT, "-", "--json"], input=KNOWN, capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["operations"]["map"], 3)
        r = subprocess.run([TRACESTAT, "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("tracestat plot", r.stdout)
        r = subprocess.run([TRACESTAT, "plot", "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("matplotlib", r.stdout)


class PlotTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.stats = os.path.join(self.dir.name, "stats.json")
        self.png = os.path.join(self.dir.name, "out.png")

    def tearDown(self):
        self.dir.cleanup()

    def write(self, obj):
        with open(self.stats, "w") as f:
            f.write(obj if isinstance(obj, str) else json.dumps(obj))

    def test_missing_matplotlib(self):
        self.write(STATS)
        with mock.patch.object(tracestat, "import_pyplot", return_value=None):
            rc, _, err = run_main(tracestat.main, ["plot", self.stats, "-o", self.png])
        self.assertEqual(rc, 2)
        self.assertIn("make plot-deps", err)
        self.assertIn("sh scripts/install-deps.sh plot", err)
        self.assertIn("python3-matplotlib", err)
        self.assertFalse(os.path.exists(self.png))

    def test_bad_statistics(self):
        self.write("{\n  \"verdict\": oops\n}")
        rc, _, err = run_main(tracestat.main, ["plot", self.stats, "-o", self.png])
        self.assertEqual(rc, 2)
        self.assertIn("stats.json:2:14: expected JSON statistics", err)
        self.write([1, 2])
        rc, _, err = run_main(tracestat.main, ["plot", self.stats, "-o", self.png])
        self.assertEqual(rc, 2)
        self.assertIn("expected a JSON object", err)
        self.write([STATS])
        rc, _, err = run_main(tracestat.main, ["plot", self.stats, "-o", self.png,
                                               "--index", "1"])
        self.assertEqual(rc, 2)
        self.assertIn("expected --index from 0 to 0", err)
        self.write("true")
        rc, _, err = run_main(tracestat.main, ["plot", self.stats, "-o", self.png])
        self.assertEqual(rc, 2)

    @unittest.skipIf(tracestat.import_pyplot() is None, "matplotlib is not installed")
    def test_plot(self):
        for stats in (STATS,
                      {"operations": {"map": 3}},                      # partial
                      {"cpus": [{"cpu": 0, "tlb": {"l1_hits": 5, "l1_misses": 1}}]},  # l1_*
                      [{"file": "a.trace", "verdict": "MATCHED", "mismatches": 0,  # replay's
                        "operations": {"map": 4, "access": 16},
                        "cpus": [{"cpu": 0, "faults": 2, "shootdowns_sent": 2,
                                  "shootdowns_received": 0,
                                  "tlb": {"translations": 6, "l1_hits": 0, "l1_misses": 6,
                                          "l2_hits": 0, "l2_misses": 6, "psc_walks": 0,
                                          "walks": 6}}]}],
                      {"cpus": [{"cpu": 0, "tlb": {"walks": 3}}, "junk"], "verdict": 1}):
            self.write(stats)
            if os.path.exists(self.png):
                os.remove(self.png)
            rc, _, err = run_main(tracestat.main, ["plot", self.stats, "-o", self.png])
            self.assertEqual(rc, 0, err)
            with open(self.png, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.write({"verdict": "all matched"})
        rc, _, err = run_main(tracestat.main, ["plot", self.stats, "-o", self.png])
        self.assertEqual(rc, 2)
        self.assertIn("expected 'operations' or 'cpus' statistics", err)


if __name__ == "__main__":
    unittest.main()
