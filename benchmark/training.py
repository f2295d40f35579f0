"""Optimisers, training recipes and the one training loop the harness uses for every model."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Literal

import torch
from torch import nn

from .errors import CellFailed


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """A torch optimiser and its settings."""

    name: Literal["sgd", "adam", "adamw"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = dataclasses.field(default=0.0, metadata={"help": "sgd only"})
    grad_clip: float | None = dataclasses.field(default=None, metadata={"help": "max global gradient norm"})

    def __post_init__(self):
        if self.lr <= 0:
            raise ValueError("lr must be positive")


@dataclasses.dataclass(frozen=True)
class TrainRecipe:
    """How a model is trained from scratch (the original and the retrained model use the same recipe)."""

    epochs: int = 5
    batch_size: int = 128
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")


def make_optimizer(parameters: Iterable[nn.Parameter], config: OptimizerConfig) -> torch.optim.Optimizer:
    parameters = list(parameters)
    if config.name == "sgd":
        return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.name == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    return torch.optim.AdamW(parameters, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)


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
    measure: bool = False,
) -> torch.Tensor | None:
    """Backward, optional clipping, optimiser step.

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
    return norm
