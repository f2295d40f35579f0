"""The loop shared by methods that optimise one objective over retain and forget batches together."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from unlearn_bench.data import Batch
from unlearn_bench.training import OptimizerConfig, check_loss, make_optimizer, make_schedule, step


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
