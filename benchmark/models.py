"""Model plugins: image-to-image models ``h = D ∘ E`` with an encoder/decoder split and a training loss."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from .component import Component
from .datasets import ImageShape


class I2IModel(Component, nn.Module):
    """Base class of model plugins.

    A model is built as ``Model(params, shape)`` and must provide:

    - ``encode(inputs, mask)`` → the representation unlearning methods such as I2I-SOTA act on;
    - ``decode(z)`` → images;
    - ``training_loss(inputs, mask, targets)`` → a scalar loss (the loss ``L`` of both papers);
    - ``restore(inputs, mask)`` → restored images for evaluation. The default runs the model and pastes the known
      pixels back, so only the masked region is generated.

    ``encoder_parameters()`` names the parameters of the encoder (methods that touch only the encoder use it).
    ``encoder_features`` and ``encoder_draw`` give the representation encoder-level unlearning matches (I2I-SOTA);
    ``pretrained()`` ends pre-training (a part that only pre-training trains is frozen there).
    """

    def __init__(self, params: Any, shape: ImageShape):
        nn.Module.__init__(self)
        self.params = params
        self.shape = shape

    def encode(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(inputs, mask))

    def training_loss(self, inputs: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(self(inputs, mask), targets)

    @torch.no_grad()
    def restore(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        outputs = self(inputs, mask).clamp(0, 1)
        return torch.where(mask.bool(), outputs, inputs)

    def encoder_parameters(self) -> list[nn.Parameter]:
        raise NotImplementedError(f"model '{self.name}' does not declare its encoder parameters")

    def encoder_draw(self, targets: torch.Tensor) -> Any:
        """The random state one encoding of ``targets`` depends on (a diffusion model's timesteps and noise), to be
        shared by the model being unlearned and its frozen original; None when encoding is deterministic."""
        return None

    def encoder_features(
        self, inputs: torch.Tensor, mask: torch.Tensor, draw: Any = None, targets: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        """The feature maps encoder-level unlearning matches. Deterministic encoders: ``[encode(inputs, mask)]``.
        With a ``draw`` (see :meth:`encoder_draw`) the encoding of a training-time input made from ``targets``; with
        ``targets`` None, the same input with pure noise where the image would be."""
        return [self.encode(inputs, mask)]

    def pretrained(self) -> None:
        """Called by the harness on every model it has trained or loaded: pre-training is over. A model freezes
        here (``requires_grad_(False)``) what only pre-training may train, so no method or attack moves it."""

    @classmethod
    def check_pretraining(cls, params: Any, steps: int, where: Any) -> None:
        """Checks ``params`` against ``steps``, the fewest optimiser steps a pre-training of this suite takes (the
        retrained model's, on D_R alone), when the suite fixes it; raise ``where.error(...)``."""


def frozen_copy(model: I2IModel) -> I2IModel:
    """A copy in eval mode whose parameters need no gradients: θ0 for methods that compare with their start."""
    clone = copy.deepcopy(model).eval()
    for p in clone.parameters():
        p.requires_grad_(False)
    return clone


def sincos_grid(width: int, rows: int, cols: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embeddings (rows·cols, width), as MAE uses."""
    quarter = width // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    y, x = torch.meshgrid(
        torch.arange(rows, dtype=torch.float64), torch.arange(cols, dtype=torch.float64), indexing="ij"
    )
    parts = [f(c.flatten()[:, None] * omega[None]) for c in (y, x) for f in (torch.sin, torch.cos)]
    embedding = torch.cat(parts, dim=1)
    return nn.functional.pad(embedding, (0, width - embedding.shape[1])).float()
