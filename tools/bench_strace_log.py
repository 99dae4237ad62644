"""Builds a large strace log for the strace2trace benchmark (docs/benchmarks.md) from recorded
ones: the logs are repeated until the wanted number of lines, each copy with its thread ids
renumbered (so every copy's threads are new threads) and its first process's pid replaced by one
pid for all copies (so every copy is the same process running its program again, as after an
execve).

    python3 tools/bench_strace_log.py -n 1000000 traces/real/*.strace > /tmp/big.strace
"""

import argparse
import re
import sys

_PID_RE = re.compile(r"^\s*(?:\[pid\s+(\d+)\]|(\d+)\s)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("logs", nargs="+", help="recorded strace -f -o logs (pid on every line)")
    ap.add_argument("-n", "--lines", type=int, default=1000000, help="lines to write")
    a = ap.parse_args(argv)
    texts = []
    for path in a.logs:
        with open(path) as f:
            lines = f.readlines()
        pids = []
        for line in lines:
            m = _PID_RE.match(line)
            if m:
                p = m.group(1) or m.group(2)
                if p not in pids:
                    pids.append(p)
        if not pids:
            sys.exit("%s: no pid prefixes (record with strace -f -o FILE)" % path)
        texts.append(("".join(lines), pids))
    out = sys.stdout
    written = 0
    copy = 0
    root = "1000"
    while written < a.lines:
        for text, pids in texts:
            mapping = {pids[0]: root}
            for i, p in enumerate(pids[1:], 1):
                mapping[p] = str(100000 + (copy % 8000) * 100 + i)
            pat = re.compile(r"\b(%s)\b" % "|".join(pids))
            chunk = pat.sub(lambda m: mapping[m.group(1)], text)
            out.write(chunk)
            written += chunk.count("\n")
            copy += 1
            if written >= a.lines:
                break


if __name__ == "__main__":
    main()
