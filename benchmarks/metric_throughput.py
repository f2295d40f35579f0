"""Throughput of the feature-metric pipeline against a bare forward pass of the same extractor.

For each extractor the quickstart uses (TF-Inception for FID/KID, EfficientNet-Lite0 for the IS-style score and the
embedding cosine), on the quickstart's data, original model and evaluation splits:

- bare: the extractor alone on the restored images, already in memory on the device;
- pipeline: ``evaluate()`` with that extractor's metrics and the reference features cached (restoring every
  evaluation image with the model, selecting, extracting), in extracted output images per second, not counting
  the metrics' own arithmetic (FID's SVD, KID's kernel sums), which is reported apart as "scoring";
- first / second evaluation: the whole wall time of ``evaluate()`` with an empty feature cache (the ground truth's
  features are computed too) and again with the cache filled;
- the physical limit: the extractor's floating-point operations per image (counted by
  ``torch.utils.flop_counter.FlopCounterMode``) against the machine's measured rate of float32 matrix
  multiplication (the best of several 2048² products: convolutions rarely run faster), in images per second.

    python benchmarks/metric_throughput.py [--images 200] [--device cuda] [--repeats 3]

``--untrained-inception DIR`` writes an untrained network in torch-fidelity's layout to DIR and times that: for
machines without the FID weights (the numbers are timings only; speed does not depend on the weights' values).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from unlearn_bench.artefacts import ArtefactStore
from unlearn_bench.environment import device_name, pick_device
from unlearn_bench.evaluate import FeatureSets, evaluate
from unlearn_bench.features import FeatureCache, loaded_extractor, selection
from unlearn_bench.results import ResultStore
from unlearn_bench.runner import Runner
from unlearn_bench.suite import load_suite

SUITE = Path(__file__).resolve().parents[1] / "suites" / "quickstart.yaml"
GROUPS = {"inception-v3-tf": ["fid", "kid"], "efficientnet-lite0": ["is-effnet", "cosine-effnet"]}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def matmul_flops(device: torch.device, size: int = 2048, repeats: int = 5) -> float:
    """The machine's float32 matrix-multiplication rate (FLOP/s) on ``device`` with the current threads: the best of
    ``repeats`` products of two ``size`` × ``size`` matrices."""
    a, b = (torch.randn(size, size, device=device) for _ in range(2))
    a @ b  # warm-up
    best = min(timed(lambda: a @ b, device) for _ in range(repeats))
    return 2 * size**3 / best


def flops_per_image(extractor, images: torch.Tensor, features: tuple[str, ...]) -> float:
    """Floating-point operations of one extractor forward pass, per image (multiply-adds counted as two)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        extractor(images, features)
    return counter.get_total_flops() / len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200, help="feature images per evaluation split")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when available)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--untrained-inception", type=Path, default=None, metavar="DIR")
    args = parser.parse_args()
    device = pick_device(args.device)
    if args.untrained_inception:
        from unlearn_bench_plugins.inception import _fresh_state_dict

        path = args.untrained_inception / "inception-untrained.pth"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(_fresh_state_dict(), path)
        os.environ["UNLEARN_BENCH_INCEPTION_WEIGHTS"] = str(path)
        print(f"timing an UNTRAINED Inception ({path}): speed only, not FID values")

    with tempfile.TemporaryDirectory() as tmp:
        suite = load_suite(SUITE, ["seeds=[0]", f"evaluate.feature_images={args.images}"])
        runner = Runner(suite, ResultStore(Path(tmp) / "results"), ArtefactStore(Path(tmp) / "cache"), device, False)
        cell = next(c for c in runner.cells if c.method.name == "no-unlearning")
        model = runner.model(cell, "original")[0]
        data = runner.context(cell).data
        outputs = []
        with torch.no_grad():
            for part in data.eval_parts:
                chosen = selection(data.size(f"eval/{part}"), args.images)
                batches = data.batches(f"eval/{part}", suite.doc.evaluate.batch_size)
                restored = torch.cat([model.restore(b.inputs, b.mask) for b in batches])
                outputs.append(restored[chosen.to(restored.device)])
        outputs = torch.cat(outputs)
        threads = torch.get_num_threads()
        print(f"device: {device_name(device)} ({device.type}); torch {torch.__version__}; {threads} CPU threads")
        print(f"{len(outputs)} output images ({args.images} per split at most); median of {args.repeats} repeats")
        rate = matmul_flops(device)
        print(f"float32 matrix multiplication: {rate / 1e9:.0f} GFLOP/s (the physical limit below divides by it)\n")
        print(
            "| extractor | GFLOP per image | limit img/s | bare img/s | bare ÷ limit | pipeline img/s | ratio | "
            "scoring s | first evaluation s | second evaluation s |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for extractor_name, ids in GROUPS.items():
            metrics = [m for m in suite.metrics if m.id in ids]
            bare, scoring, first, second, flops = measure(
                runner, cell, model, data, metrics, outputs, args, Path(tmp) / extractor_name
            )
            bare_rate, pipeline_rate, limit = len(outputs) / bare, len(outputs) / (second - scoring), rate / flops
            print(
                f"| {extractor_name} | {flops / 1e9:.2f} | {limit:.1f} | {bare_rate:.1f} | {bare_rate / limit:.2f} | "
                f"{pipeline_rate:.1f} | {pipeline_rate / bare_rate:.2f} | {scoring:.2f} | {first:.2f} | {second:.2f} |"
            )


def measure(runner, cell, model, data, metrics, outputs, args, folder: Path) -> tuple[float, ...]:
    """Median seconds of: the bare extractor on ``outputs``; the metrics' scoring in a second evaluation; a first
    and a second ``evaluate()`` (empty, then filled feature cache); and the extractor's FLOPs per image."""
    device = runner.device
    extractor = loaded_extractor(*metrics[0].build().extractor_setup(), device)
    features = tuple(sorted({m.build().feature for m in metrics}))
    extractor(outputs[:8], features)  # warm-up
    flops = flops_per_image(extractor, outputs[:8], features)

    def run(cache: FeatureCache):
        evaluate(
            model,
            data,
            metrics,
            {},
            runner.suite.doc.evaluate.batch_size,
            False,
            feature_images=args.images,
            cache=cache,
            reference_keys=runner.reference_keys(cell),
        )

    scoring: list[float] = []
    score = FeatureSets.score

    def timed_score(self, spec, metric):
        start = time.perf_counter()
        value = score(self, spec, metric)
        scoring.append(time.perf_counter() - start)
        return value

    bare, firsts, seconds, scored = [], [], [], []
    FeatureSets.score = timed_score
    try:
        for repeat in range(args.repeats):
            bare.append(timed(lambda: extractor(outputs, features), device))
            cache = FeatureCache(folder / str(repeat))
            firsts.append(timed(lambda: run(cache), device))  # noqa: B023 - called before the loop moves on
            scoring.clear()
            seconds.append(timed(lambda: run(cache), device))  # noqa: B023
            scored.append(sum(scoring))
    finally:
        FeatureSets.score = score
    median = statistics.median
    return median(bare), median(scored), median(firsts), median(seconds), flops


if __name__ == "__main__":
    main()
