"""Where the quickstart's time goes: `unlearn-bench run suites/quickstart.yaml`, in this process, from an empty
cache (datasets, weights, models and features all made again in a temporary folder), split into phases.

Each phase is the time spent inside the functions listed for it, not counting time spent in another phase's
functions called from there (a shadow model trained during an audit counts as upstream training, not as the audit):

- data: loading the dataset files, splitting, building the loaders;
- upstream training: the original, retrained, attack, shadow and twin models;
- unlearning: each method's ``unlearn``;
- restoration and pixel metrics: ``evaluate()`` outside feature extraction and scoring;
- extractor loading, feature extraction (outputs and references), scoring (FID, KID, … arithmetic);
- other cell work: audits' own restorations, sample grids, t-SNE maps;
- saving: artefacts, rows and samples;
- leaderboard and figures;
- start-up and the rest: imports, suite loading and validation, planning, what no phase covers.

    python benchmarks/quickstart_profile.py [--warm] [--set seeds=[0] ...]

``--warm`` uses the run's own cache instead of an empty one (a rerun's profile: most phases are then near 0).
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class Profile:
    """Exclusive seconds per phase: a wrapped call's time minus that of wrapped calls nested in it."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self._nested: list[float] = []

    def wrap(self, owner, name: str, phase):
        function = getattr(owner, name)

        @functools.wraps(function)
        def timed(*args, **kwargs):
            label = phase(*args, **kwargs) if callable(phase) else phase
            start = time.perf_counter()
            self._nested.append(0.0)
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                self.seconds[label] += elapsed - self._nested.pop()
                if self._nested:
                    self._nested[-1] += elapsed

        setattr(owner, name, timed)


def instrument(profile: Profile) -> None:
    from unlearn_bench import evaluate, leaderboard, runner
    from unlearn_bench.artefacts import ArtefactStore
    from unlearn_bench.results import ResultStore

    data = "data"
    profile.wrap(runner.Runner, "images", data)
    profile.wrap(runner.Runner, "split_data", data)
    profile.wrap(
        runner.Runner,
        "_build",
        lambda self, cell, kind, key: "unlearning" if kind == "unlearned" else "upstream training",
    )
    profile.wrap(runner, "evaluate", "restoration and pixel metrics")
    profile.wrap(evaluate, "loaded_extractor", "extractor loading")
    profile.wrap(evaluate.FeatureSets, "add", "feature extraction")
    profile.wrap(evaluate.FeatureSets, "score", "scoring")
    profile.wrap(evaluate.FeatureSets, "floor", "scoring")
    profile.wrap(runner.Runner, "run_cell", "other cell work (audits, samples, maps)")
    for owner, name in ((ArtefactStore, "save"), (ResultStore, "write"), (ResultStore, "write_samples")):
        profile.wrap(owner, name, "saving")
    profile.wrap(leaderboard, "write_leaderboards", "leaderboard and figures")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", action="store_true", help="use the run's own cache instead of an empty one")
    parser.add_argument("--set", action="append", default=[], help="a suite override, as for `unlearn-bench run`")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.warm:
            os.environ["UNLEARN_BENCH_CACHE"] = str(Path(tmp) / "cache")
        start = time.perf_counter()
        import torch
        from unlearn_bench.cli import main as cli

        profile = Profile()
        instrument(profile)
        command = ["run", str(ROOT / "suites" / "quickstart.yaml"), "--results", f"{tmp}/results"]
        command += ["--leaderboard", f"{tmp}/leaderboard", "--quiet"]
        for assignment in args.set:
            command += ["--set", assignment]
        status = cli(command)
        total = time.perf_counter() - start
    profile.seconds["start-up and the rest"] = total - sum(profile.seconds.values())
    cache = "the run's cache" if args.warm else "an empty cache"
    print(
        f"quickstart from {cache}: exit {status}, {total:.1f} s; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs\n"
    )
    print("| phase | seconds | share |")
    print("|---|---|---|")
    for phase, seconds in sorted(profile.seconds.items(), key=lambda item: -item[1]):
        print(f"| {phase} | {seconds:.1f} | {seconds / total:.0%} |")


if __name__ == "__main__":
    main()
