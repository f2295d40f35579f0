"""CLI start-up cost: CPU seconds (user + system, of the command and its children) and wall seconds of the commands a
user runs before any work: `--help`, `validate` of the quickstart suite, and `plugins` with an empty cache (it
imports every plugin and writes the plugin index) and with the index in place (it imports none). Each command runs
in a fresh process ``--repeats`` times; the median is printed. Run it on an otherwise idle machine.

    python benchmarks/cli_startup.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {  # name: (arguments, whether the cache is emptied before each run, wall-second target or None)
    "--help": (["--help"], True, None),
    "validate quickstart": (["validate", str(ROOT / "suites" / "quickstart.yaml")], True, 3.0),
    "plugins (no index)": (["plugins"], True, None),
    "plugins (index)": (["plugins"], False, None),
}


def measure(arguments: list[str], cache: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one run of ``unlearn-bench ARGUMENTS`` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "unlearn_bench.cli", *arguments],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "UNLEARN_BENCH_CACHE": cache},
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'command':<22} {'CPU s (median)':>15} {'wall s (median)':>16}")
    with tempfile.TemporaryDirectory() as cache:  # none of them may need the user's cache
        for name, (arguments, empty, target) in COMMANDS.items():
            runs = []
            for _ in range(args.repeats):
                if empty:
                    shutil.rmtree(cache, ignore_errors=True)
                    os.makedirs(cache)
                runs.append(measure(arguments, cache))
            cpu = statistics.median(r[0] for r in runs)
            wall = statistics.median(r[1] for r in runs)
            written = len([p for p in Path(cache).rglob("*") if p.is_file()])
            verdict = "" if target is None else f"; target < {target:g} s wall: {'met' if wall < target else 'MISSED'}"
            print(f"{name:<22} {cpu:>15.2f} {wall:>16.2f}   files in the cache after it: {written}{verdict}")


if __name__ == "__main__":
    main()
