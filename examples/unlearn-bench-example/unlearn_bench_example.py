"""A third-party plugin package with one component of three kinds, each registered through the entry point:

- ``weight-noise`` (a method): perturb every weight with Gaussian noise, then fine-tune on D_R. Noise scaled to each
  tensor's own spread erases part of what the model stored (about the forget set and everything else); fine-tuning
  on the retain set then brings back what should be kept.
- ``hole-l1`` (a metric): mean absolute error over the pixels of the hole, less sensitive to a few wild pixels than
  the built-in MSE/PSNR.
- ``threads`` (an executor): every cell in this process, with torch limited to ``threads`` CPU threads, so that two
  runs can share a machine without contending (``--executor threads --executor-param threads=1``).
"""

from __future__ import annotations

import dataclasses

import torch
import unlearn_bench
from unlearn_bench.executors import Executor
from unlearn_bench.methods import Method
from unlearn_bench.metrics import Metric
from unlearn_bench.training import OptimizerConfig


@dataclasses.dataclass(frozen=True)
class Params:
    scale: float = dataclasses.field(default=0.5, metadata={"help": "noise std as a fraction of each tensor's std"})
    epochs: int = dataclasses.field(default=1, metadata={"help": "fine-tuning epochs on the retain set"})
    batch_size: int = 64
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)


class WeightNoise(Method):
    """Gaussian weight noise, then fine-tuning on the retain set."""

    name = "weight-noise"
    Params = Params

    def unlearn(self, model, ctx):
        generator = ctx.generator()
        with torch.no_grad():
            for p in model.parameters():
                spread = p.std() if p.numel() > 1 else p.abs()
                noise = torch.randn(p.shape, generator=generator).to(p.device)
                p.add_(noise * spread * self.params.scale)
        ctx.record(noise_scale=self.params.scale)
        return ctx.fit(
            model,
            "retain",
            epochs=self.params.epochs,
            batch_size=self.params.batch_size,
            optimizer=self.params.optimizer,
            series="retain",
            desc="fine-tune after noise",
        )


class HoleL1(Metric):
    """Mean absolute error over the pixels of the hole (images in [0, 1]; the mask is 1 where the model generates)."""

    name = "hole-l1"
    display_name = "L1 (hole)"
    higher_is_better = False

    def __init__(self, params=None):
        super().__init__(params)
        self.total = 0.0
        self.count = 0.0

    def update(self, outputs, reference, mask):
        weight = mask.expand_as(outputs)  # mask: (batch, 1, height, width), broadcast over the channels
        self.total += float(((outputs - reference).abs() * weight).double().sum())
        self.count += float(weight.double().sum())

    def compute(self) -> float:
        return self.total / self.count


@dataclasses.dataclass(frozen=True)
class ThreadsParams:
    threads: int = dataclasses.field(default=1, metadata={"min": 1, "help": "torch CPU threads while cells run"})


class ThreadsExecutor(Executor):
    """Cells one after another in this process, with torch limited to ``threads`` CPU threads."""

    name = "threads"
    Params = ThreadsParams

    def run(self, session, cells, status):
        before = torch.get_num_threads()
        torch.set_num_threads(self.params.threads)
        try:
            for cell in cells:  # each cell is claimed for this run as it is reached
                status(f"{cell.id} on {self.params.threads} thread(s)")
                outcome = session.run_cell(cell)  # a failing cell comes back as a failed row, it does not raise
                outcome.row["executor"] = {"name": self.name, "threads": self.params.threads}
                yield outcome  # the driver writes the row as it arrives
        finally:
            torch.set_num_threads(before)


@unlearn_bench.hookimpl
def register_methods(register):
    register(WeightNoise)


@unlearn_bench.hookimpl
def register_metrics(register):
    register(HoleL1)


@unlearn_bench.hookimpl
def register_executors(register):
    register(ThreadsExecutor)
