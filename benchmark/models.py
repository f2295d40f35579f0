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


def frozen_copy(model: I2IModel) -> I2IModel:
    """A copy in eval mode whose parameters need no gradients: θ0 for methods that compare with their start."""
    clone = copy.deepcopy(model).eval()
    for p in clone.parameters():
        p.requires_grad_(False)
    return clone
