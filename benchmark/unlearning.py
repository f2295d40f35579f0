"""Building blocks for unlearning methods, public for third-party methods as for the built-ins.

- :func:`optimize_jointly` with :class:`JointConfig` / :class:`WeightedJointConfig`: one objective over retain and
  forget batches drawn together (the merged objective, random label, random encoder, I2I-SOTA, the backdoor attack).
- :func:`noise_like`: Li et al.'s Gaussian-noise image, the target of forget samples in several baselines.
- :func:`masked_squared_error` and :func:`output_distance`: errors over the generated region only.
- :func:`decouple` with :class:`AscentConfig`, and :func:`retain` with :class:`RetainConfig`: Realistic-I2I's two
  phases (Varshney et al. 2025, Alg. 1), gradient ascent on D_F stopped at the threshold τ, then descent on D_R.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

from .data import Batch
from .training import OptimizerConfig, check_loss, make_optimizer, make_schedule, step


def masked_squared_error(outputs, reference, mask):
    """Per image: (sum of squared errors over the hole, number of hole values)."""
    weight = mask.expand_as(outputs)
    errors = ((outputs - reference) ** 2 * weight).flatten(1).sum(1)
    return errors, weight.flatten(1).sum(1)


@dataclasses.dataclass(frozen=True)
class JointConfig:
    epochs: int = dataclasses.field(default=1, metadata={"min": 1, "help": "passes over the retain (or proxy) set"})
    batch_size: int = dataclasses.field(default=64, metadata={"min": 1, "help": "retain batch size"})
    forget_batch_size: int = dataclasses.field(default=64, metadata={"min": 1})
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    loss_bound: float = dataclasses.field(
        default=1e3, metadata={"help": "the cell fails when |loss| exceeds this (divergence guard)"}
    )

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.forget_batch_size < 1:
            raise ValueError("epochs, batch_size and forget_batch_size must be at least 1")


@dataclasses.dataclass(frozen=True)
class WeightedJointConfig(JointConfig):
    forget_weight: float = dataclasses.field(default=1.0, metadata={"help": "λ, the weight of the forget term"})


Objective = Callable[[Batch, Batch], tuple[torch.Tensor, dict[str, torch.Tensor]]]


def optimize_jointly(
    model,
    ctx,
    cfg: JointConfig,
    objective: Objective,
    *,
    retain_part: str = "retain",
    parameters: list[torch.nn.Parameter] | None = None,
    desc: str,
) -> None:
    """Minimise ``objective(retain_batch, forget_batch)`` → (loss, named terms) for ``cfg.epochs`` passes over
    ``retain_part``, drawing forget batches alongside. The mean of each term per epoch goes to the trace series
    'objective'."""
    parameters = parameters if parameters is not None else [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(parameters, cfg.optimizer)
    forget = ctx.endless("forget", cfg.forget_batch_size)
    steps_per_epoch = -(-ctx.data.size(retain_part) // cfg.batch_size)
    schedule = make_schedule(optimizer, cfg.optimizer, cfg.epochs * steps_per_epoch)
    model.train()
    global_step = 0
    for epoch in range(cfg.epochs):
        sums: dict[str, torch.Tensor] = {}
        for retain in ctx.progress(ctx.batches(retain_part, cfg.batch_size), desc, total=steps_per_epoch):
            loss, terms = objective(retain, next(forget))
            global_step += 1
            check_loss(loss, desc, global_step, cfg.loss_bound)
            step(optimizer, loss, cfg.optimizer, parameters, schedule=schedule)
            for name, value in terms.items():
                sums[name] = sums.get(name, 0) + value.detach()
        ctx.log("objective", epoch=epoch, **{name: float(total / steps_per_epoch) for name, total in sums.items()})
    model.eval()


def noise_like(images: torch.Tensor) -> torch.Tensor:
    """Li et al.'s noise image: Gaussian noise with the batch's mean and standard deviation, clamped to [0, 1]."""
    return (torch.randn_like(images) * images.std() + images.mean()).clamp(0, 1)


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
