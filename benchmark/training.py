"""Optimisers, training recipes and the one training loop the harness uses for every model."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Literal

import torch
from torch import nn

from .errors import CellFailed
from .params import added_field, to_dict


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """A torch optimiser and its settings."""

    name: Literal["sgd", "adam", "adamw"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = dataclasses.field(default=0.0, metadata={"help": "sgd only"})
    grad_clip: float | None = dataclasses.field(default=None, metadata={"help": "max global gradient norm"})
    schedule: Literal["constant", "cosine", "linear"] = dataclasses.field(
        default="constant", metadata={"help": "learning-rate decay over the run's steps, after the warm-up"}
    )
    warmup_steps: int = dataclasses.field(default=0, metadata={"help": "linear warm-up from lr/warmup_steps"})

    def __post_init__(self):
        if self.lr <= 0:
            raise ValueError("lr must be positive")
        if self.warmup_steps < 0:
            raise ValueError("warmup_steps must be ≥ 0")


@dataclasses.dataclass(frozen=True)
class TrainRecipe:
    """How a model is trained from scratch (the original and the retrained model use the same recipe)."""

    epochs: int = 5
    batch_size: int = 128
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    amp: bool | None = added_field(help="bf16 autocast for the loss on CUDA; null: on when running on CUDA")
    ema: float | None = added_field(help="decay of an exponential moving average of the weights; the model keeps it")
    channels_last: bool | None = added_field(
        help="keep convolution weights channels-last; null: on when running on CUDA"
    )

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        if self.ema is not None and not 0 <= self.ema < 1:
            raise ValueError("ema must be in [0, 1)")

    def key_config(self) -> dict:
        """What determines the trained model, for cache keys. The device and the memory layout are not part of
        keys: they change the last bits, not the model, and each row records its device."""
        config = to_dict(self)
        config.pop("channels_last", None)
        return config

    def uses_channels_last(self, device: torch.device) -> bool:
        return self.channels_last if self.channels_last is not None else device.type == "cuda"

    def uses_amp(self, device: torch.device) -> bool:
        return device.type == "cuda" and self.amp is not False


def make_optimizer(parameters: Iterable[nn.Parameter], config: OptimizerConfig) -> torch.optim.Optimizer:
    parameters = list(parameters)
    if config.name == "sgd":
        return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.name == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    return torch.optim.AdamW(parameters, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)


def make_schedule(optimizer: torch.optim.Optimizer, config: OptimizerConfig, total_steps: int):
    """The learning-rate schedule of ``config`` over ``total_steps`` optimiser steps (stepped once per step)."""
    warmup = config.warmup_steps

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        if config.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * progress))
        if config.schedule == "linear":
            return 1 - progress
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Divergence(CellFailed):
    """A loss became NaN/infinite or left its allowed range."""


def check_loss(loss: torch.Tensor, what: str, step: int, limit: float | None = None) -> float:
    """The loss as a float; raises :class:`Divergence` when it is not finite or exceeds ``limit``."""
    value = float(loss.detach())
    if not math.isfinite(value):
        raise Divergence(f"{what} loss became {value} at step {step}")
    if limit is not None and abs(value) > limit:
        raise Divergence(f"{what} loss {value:.4g} exceeded the bound {limit:g} at step {step}")
    return value


def grad_norm(parameters: Iterable[nn.Parameter]) -> torch.Tensor:
    """Global L2 norm of the gradients, as a tensor (no host synchronisation)."""
    norms = [p.grad.detach().norm() for p in parameters if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.zeros(())


def step(
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    config: OptimizerConfig,
    parameters: list[nn.Parameter],
    *,
    schedule: torch.optim.lr_scheduler.LRScheduler | None = None,
    measure: bool = False,
) -> torch.Tensor | None:
    """Backward, optional clipping, optimiser step, then one step of the learning-rate ``schedule``.

    Returns the gradient norm before clipping when clipping or ``measure`` asks for it, else None.
    """
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = None
    if config.grad_clip is not None:
        norm = nn.utils.clip_grad_norm_(parameters, config.grad_clip)
    elif measure:
        norm = grad_norm(parameters)
    optimizer.step()
    if schedule is not None:
        schedule.step()
    return norm
