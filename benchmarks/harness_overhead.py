"""Harness overhead: one Realistic-I2I cell run through the harness versus the same work as a plain PyTorch loop.

Both start from the same trained original model, use the same data, seed and hyperparameters (the quickstart
suite's), and do the same work: gradient ascent on D_F with the output-distance and retain-probe tracking,
fine-tuning on D_R, then PSNR/MSE on the evaluation splits against the ground truth and the retrained model.
Prints the median wall time of each over several alternating repetitions and their ratio.

    python benchmarks/harness_overhead.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from unlearn_bench.artefacts import ArtefactStore
from unlearn_bench.results import ResultStore
from unlearn_bench.runner import Runner
from unlearn_bench.suite import load_suite

SUITE = Path(__file__).resolve().parents[1] / "suites" / "quickstart.yaml"


def plain_loop(runner: Runner, cell) -> float:
    """The cell's work without the harness: tensors, a mask, two loops and the metrics, written out."""
    params = cell.method.params
    data = runner.split_data(cell)  # the same split; below, plain tensors only
    train, test = data.data.train, data.data.test

    def tensors(dataset, indices):
        return dataset.images[torch.as_tensor(indices)].float() / 255

    forget, retain = tensors(train, data.split.train["forget"]), tensors(train, data.split.train["retain"])
    evals = {p: tensors(train if s == "train" else test, ix) for p, (s, ix) in data.split.evaluate.items()}
    side = forget.shape[-1]
    hole = round(side * cell.task.params.hole)
    top = (side - hole) // 2
    mask_template = torch.zeros(1, 1, side, side)
    mask_template[..., top : top + hole, top : top + hole] = 1

    def degrade(x):
        mask = mask_template.expand(len(x), 1, side, side)
        return x * (1 - mask), mask

    def restore(model, x):
        inputs, mask = degrade(x)
        return torch.where(mask.bool(), model(inputs, mask).clamp(0, 1), inputs)

    start = time.perf_counter()
    model = copy.deepcopy(runner.model(cell, "original")[0])
    theta0 = copy.deepcopy(model).eval()
    retrained = runner.model(cell, "retrained")[0]
    torch.manual_seed(cell.seed)
    gen = torch.Generator().manual_seed(cell.seed)

    ascent = params.ascent
    probe_f, probe_r = forget[: ascent.probe_size], retain[: ascent.probe_size]
    with torch.no_grad():
        base = restore(theta0, probe_f)
    opt = torch.optim.SGD(model.parameters(), lr=ascent.optimizer.lr)
    order = torch.randperm(len(forget), generator=gen)
    model.train()
    for k in range(ascent.iterations):
        idx = order[(k * ascent.batch_size) % len(forget) :][: ascent.batch_size]
        x = forget[idx]
        inputs, mask = degrade(x)
        loss = nn.functional.mse_loss(model(inputs, mask), x)
        opt.zero_grad()
        (-loss).backward()
        torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()])).item()
        opt.step()
        model.eval()
        with torch.no_grad():
            out = restore(model, probe_f)
            m = degrade(probe_f)[1].expand_as(out)
            ((((out - base) ** 2) * m).flatten(1).sum(1) / m.flatten(1).sum(1)).sqrt().mean().item()
            pin, pmask = degrade(probe_r)
            nn.functional.mse_loss(model(pin, pmask), probe_r).item()
        model.train()

    retain_cfg = params.retain
    opt = torch.optim.Adam(model.parameters(), lr=retain_cfg.optimizer.lr)
    for _ in range(retain_cfg.epochs):
        for idx in torch.randperm(len(retain), generator=gen).split(retain_cfg.batch_size):
            x = retain[idx]
            inputs, mask = degrade(x)
            loss = nn.functional.mse_loss(model(inputs, mask), x)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()

    with torch.no_grad():
        for x_all in evals.values():
            for x in x_all.split(runner.suite.doc.evaluate.batch_size):
                out, ref = restore(model, x), restore(retrained, x)
                m = degrade(x)[1].expand_as(out)
                for target in (x, ref):
                    mse = (((out - target) ** 2) * m).flatten(1).sum(1) / m.flatten(1).sum(1)
                    (-10 * torch.log10(mse.clamp_min(1e-10))).mean().item()
                    mse.mean().item()
    return time.perf_counter() - start


def harness(runner: Runner, cell) -> float:
    runner._models.pop(cell.keys["unlearned"], None)
    path = runner.artefacts.path("unlearned", cell.keys["unlearned"])
    path.unlink(missing_ok=True)
    start = time.perf_counter()
    row = runner.run_cell(cell).row
    elapsed = time.perf_counter() - start
    assert row["status"] == "ok", row["error"]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        suite = load_suite(
            SUITE,
            [
                "seeds=[0]",
                "methods=[{name: realistic-i2i, params: {ascent: {iterations: 30, "
                "batch_size: 64, optimizer: {name: sgd, lr: 0.05}}, retain: {epochs: 1, "
                "batch_size: 64}}}]",
            ],
        )
        runner = Runner(
            suite,
            ResultStore(Path(tmp) / "results"),
            ArtefactStore(Path(tmp) / "artefacts"),
            torch.device("cpu"),
            show_progress=False,
        )
        cell = runner.cells[0]
        runner.model(cell, "original")  # upstream artefacts are shared by both paths and not timed
        runner.model(cell, "retrained")
        times: dict[str, list[float]] = {"harness": [], "plain": []}
        for _ in range(args.repeats):
            times["plain"].append(plain_loop(runner, cell))
            times["harness"].append(harness(runner, cell))
    plain, through = statistics.median(times["plain"]), statistics.median(times["harness"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.repeats} repeats")
    print(f"plain PyTorch loop : {plain:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times['plain'])})")
    print(f"through the harness: {through:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times['harness'])})")
    print(f"ratio harness/plain: {through / plain:.3f}")


if __name__ == "__main__":
    main()
