"""Cost of each audit per cell: the seconds every audit of a suite takes on one cell, beside the cell's whole
evaluation, with the models taken from the artefact cache (as a rerun finds them).

Each suite is loaded with one seed and one method; the cell runs ``--repeats`` times into a temporary result store.
The first run builds whatever the audits cache (LiRA's shadow models, the forget score's twin) unless an earlier run
left it in the cache; later runs show the audit alone. Upstream and unlearned models that are not cached are built
first and are not counted in any audit's seconds.

    python benchmarks/audit_cost.py [--suite suites/fashion-mnist-robustness.yaml ...] [--method realistic-i2i]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from unlearn_bench.artefacts import ArtefactStore
from unlearn_bench.environment import device_name, pick_device
from unlearn_bench.paths import cache_dir
from unlearn_bench.results import ResultStore
from unlearn_bench.runner import Runner
from unlearn_bench.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]
SUITES = [
    ROOT / "suites" / name for name in ("quickstart.yaml", "fashion-mnist-robustness.yaml", "fashion-mnist-lira.yaml")
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, action="append", help="suite file (repeatable; default: three suites)")
    parser.add_argument("--method", default="realistic-i2i", help="method id of the cell to time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default=None)
    parser.add_argument("--cache", type=Path, default=None, help="artefact cache (default: the run's)")
    args = parser.parse_args()
    device = pick_device(args.device)
    artefacts = ArtefactStore(args.cache or cache_dir() / "artefacts")
    threads = torch.get_num_threads()
    print(f"device: {device_name(device)} ({device.type}); torch {torch.__version__}; {threads} threads")
    print(f"cell: method {args.method}, seed {args.seed}; {args.repeats} runs (the first may build cached models)\n")
    print("| suite | audit | run | audit s | cell evaluation s |")
    print("|---|---|---|---|---|")
    for path in args.suite or SUITES:
        suite = load_suite(path, [f"seeds=[{args.seed}]"])
        with tempfile.TemporaryDirectory() as tmp:
            runner = Runner(suite, ResultStore(Path(tmp)), artefacts, device, show_progress=False)
            cell = next((c for c in runner.cells if c.method.id == args.method), None)
            if cell is None:
                raise SystemExit(f"{path}: no cell with method '{args.method}'")
            runner.unlearned(cell)  # built (or loaded) outside the timings
            for repeat in range(1, args.repeats + 1):
                row = runner.run_cell(cell).row
                if row["status"] != "ok":
                    raise SystemExit(f"{path}: the cell failed: {row['error']['message']}")
                for audit, seconds in row.get("audit_s", {}).items():
                    print(f"| {suite.name} | {audit} | {repeat} | {seconds:.1f} | {row['evaluate_s']:.1f} |")


if __name__ == "__main__":
    main()
