"""Metric plugins: a number computed from restored images and a reference set, accumulated batch by batch."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from .component import Component


class Metric(Component):
    """Base class of metric plugins.

    The runner makes a fresh instance for every (split, reference) it evaluates, calls ``update`` once per batch
    with the restored images, the reference images and the hole mask (1 = generated), then ``compute()``. The
    reference is what the suite names: the ground truth, or the outputs of the original, attack or retrained
    model on the same inputs.
    Subclasses must set ``higher_is_better`` and ``display_name`` (the leaderboard's column heading), and report
    in ``extractor()`` the feature extractor and weights behind the number (None for pixel metrics).
    """

    higher_is_better: ClassVar[bool]
    display_name: ClassVar[str]

    def update(self, outputs: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> None:
        raise NotImplementedError

    def compute(self) -> float:
        raise NotImplementedError

    def extractor(self) -> dict[str, Any] | None:
        return None
