"""Realistic-I2I (Varshney et al. 2025, Alg. 1): decoupling by gradient ascent on D_F, then retention on D_R.

Phase 1 runs K iterations of ``θ ← θ + η∇L(θ; D_F)`` on the whole model, tracking the output distance
``d(h_θk(x_f), h_θ0(x_f))`` on a fixed probe of forget samples (Theorem 1's out-of-distribution condition is
stated in it) and the gradient norms (Assumption 2's bounds). With ``ood_threshold`` τ it stops as soon as
``d ≥ τ``. Phase 2 fine-tunes on D_R by gradient descent.
"""

from __future__ import annotations

import dataclasses

import torch
import unlearn_bench
from unlearn_bench.methods import Method
from unlearn_bench.training import OptimizerConfig, check_loss, make_optimizer, make_schedule, step
from unlearn_bench_plugins.pixel_metrics import masked_squared_error


@dataclasses.dataclass(frozen=True)
class AscentConfig:
    iterations: int = dataclasses.field(default=20, metadata={"min": 1, "help": "K, the number of ascent steps"})
    batch_size: int = dataclasses.field(default=64, metadata={"min": 1})
    optimizer: OptimizerConfig = dataclasses.field(
        default_factory=lambda: OptimizerConfig(name="sgd", lr=0.01),
        metadata={"help": "η is optimizer.lr; the paper's update is plain SGD"},
    )
    ood_threshold: float | None = dataclasses.field(
        default=None, metadata={"help": "τ: stop once d(h_θk(x_f), h_θ0(x_f)) ≥ τ (RMS over the hole)"}
    )
    loss_bound: float = dataclasses.field(
        default=1e3, metadata={"help": "the cell fails when the forget loss exceeds this (divergence guard)"}
    )
    probe_size: int = dataclasses.field(
        default=64, metadata={"min": 1, "help": "forget/retain samples on which distance and losses are tracked"}
    )

    def __post_init__(self):
        if self.iterations < 0 or self.batch_size < 1 or self.probe_size < 1:
            raise ValueError("iterations must be ≥ 0, batch_size and probe_size ≥ 1")


@dataclasses.dataclass(frozen=True)
class RetainConfig:
    epochs: int = dataclasses.field(default=1, metadata={"help": "passes over D_R (0: none)"})
    batch_size: int = dataclasses.field(default=128, metadata={"min": 1})
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)

    def __post_init__(self):
        if self.epochs < 0 or self.batch_size < 1:
            raise ValueError("epochs must be ≥ 0 and batch_size ≥ 1")


@dataclasses.dataclass(frozen=True)
class Params:
    ascent: AscentConfig = dataclasses.field(default_factory=AscentConfig)
    retain: RetainConfig = dataclasses.field(default_factory=RetainConfig)


def output_distance(outputs: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> float:
    """RMS difference over the hole, averaged over images: the ``d`` of Theorem 1."""
    errors, counts = masked_squared_error(outputs, reference, mask)
    return float((errors / counts).sqrt().mean())


def decouple(model, ctx, cfg: AscentConfig) -> None:
    """Phase 1: gradient ascent on D_F, recording losses, gradient norms and the output distance."""
    forget_probe = next(ctx.batches("forget", cfg.probe_size, shuffle=False))
    retain_probe = next(ctx.batches("retain", cfg.probe_size, shuffle=False))
    start_outputs = ctx.original.restore(forget_probe.inputs, forget_probe.mask)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(parameters, cfg.optimizer)
    schedule = make_schedule(optimizer, cfg.optimizer, cfg.iterations)
    norms: list[float] = []
    distance = 0.0
    iteration = 0
    batches = ctx.endless("forget", cfg.batch_size)
    model.train()
    for iteration in ctx.progress(range(1, cfg.iterations + 1), "gradient ascent"):
        batch = next(batches)
        loss = model.training_loss(batch.inputs, batch.mask, batch.targets)
        forget_loss = check_loss(loss, "forget (gradient ascent)", iteration, cfg.loss_bound)
        norms.append(float(step(optimizer, -loss, cfg.optimizer, parameters, schedule=schedule, measure=True)))
        model.eval()
        with torch.no_grad():
            distance = output_distance(
                model.restore(forget_probe.inputs, forget_probe.mask), start_outputs, forget_probe.mask
            )
            retain_loss = float(model.training_loss(retain_probe.inputs, retain_probe.mask, retain_probe.targets))
        model.train()
        ctx.log(
            "ascent",
            iteration=iteration,
            forget_loss=forget_loss,
            retain_probe_loss=retain_loss,
            grad_norm=norms[-1],
            distance=distance,
        )
        if cfg.ood_threshold is not None and distance >= cfg.ood_threshold:
            break
    model.eval()
    ctx.record(
        ascent_iterations=iteration,
        ascent_lr=cfg.optimizer.lr,
        grad_norm_min=min(norms, default=None),
        grad_norm_max=max(norms, default=None),
        final_distance=distance,
        ood_threshold=cfg.ood_threshold,
        ood_reached=None if cfg.ood_threshold is None else distance >= cfg.ood_threshold,
    )


def retain(model, ctx, cfg: RetainConfig):
    """Phase 2: gradient descent on D_R (nothing when ``epochs`` is 0)."""
    if cfg.epochs == 0:
        return model
    return ctx.fit(
        model,
        "retain",
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        optimizer=cfg.optimizer,
        series="retain",
        desc="fine-tune on D_R",
    )


class RealisticI2I(Method):
    """Gradient ascent on the forget set (decoupling), then fine-tuning on the retain set (knowledge retention)."""

    name = "realistic-i2i"
    behaviour_version = 1
    Params = Params

    def unlearn(self, model, ctx):
        decouple(model, ctx, self.params.ascent)
        return retain(model, ctx, self.params.retain)


@unlearn_bench.hookimpl
def register_methods(register):
    register(RealisticI2I)
