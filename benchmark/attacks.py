"""Attack/audit plugins: they change the starting point of unlearning and measure what survives it."""

from __future__ import annotations

from typing import Any

import torch

from .component import Component
from .context import RunContext
from .models import I2IModel


class Attack(Component):
    """Base class of attacks and audits.

    - ``poison(images)`` transforms clean forget images wherever they are read (training and evaluation); the
      default leaves them unchanged.
    - ``attack_model(original, ctx)`` returns the *attack model* that unlearning starts from (for example the
      original model fine-tuned on poisoned forget samples). The default returns the original unchanged.
    - ``audit(model, ctx)`` returns named numbers measured on a model (for example how often a backdoor is
      regenerated); the runner calls it on every unlearned model and records the result.
    """

    def poison(self, images: torch.Tensor) -> torch.Tensor:
        return images

    def attack_model(self, original: I2IModel, ctx: RunContext) -> I2IModel:
        return original

    def audit(self, model: I2IModel, ctx: RunContext) -> dict[str, Any]:
        return {}
