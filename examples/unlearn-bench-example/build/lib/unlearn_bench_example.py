"""An unlearning method in a few dozen lines: perturb every weight with Gaussian noise, then fine-tune on D_R.

Noise scaled to each tensor's own spread erases part of what the model stored (about the forget set and
everything else); fine-tuning on the retain set then brings back what should be kept.
"""

from __future__ import annotations

import dataclasses

import torch
import unlearn_bench
from unlearn_bench.methods import Method
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


@unlearn_bench.hookimpl
def register_methods(register):
    register(WeightNoise)
