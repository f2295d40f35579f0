"""A convolutional autoencoder for inpainting: the AutoEncoder of Realistic-I2I's CIFAR-10 experiments."""

from __future__ import annotations

import dataclasses

import torch
import unlearn_bench
from torch import nn
from unlearn_bench.models import I2IModel


@dataclasses.dataclass(frozen=True)
class Params:
    width: int = dataclasses.field(
        default=32, metadata={"min": 1, "help": "channels of the first layer (doubled twice)"}
    )


class ConvAutoEncoder(I2IModel):
    """Conv encoder (two stride-2 downsamplings) and transposed-conv decoder; the mask is an input channel."""

    name = "conv-autoencoder"
    behaviour_version = 1
    Params = Params

    def __init__(self, params: Params, shape):
        super().__init__(params, shape)
        if shape.height % 4 or shape.width % 4:
            raise ValueError(f"conv-autoencoder needs image sides divisible by 4, got {shape.height}×{shape.width}")
        w, c = params.width, shape.channels
        self.encoder = nn.Sequential(
            nn.Conv2d(c + 1, w, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(4 * w, 2 * w, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(w, c, 3, padding=1),
            nn.Sigmoid(),
        )

    def encode(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(torch.cat([inputs, mask], dim=1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def encoder_parameters(self) -> list[nn.Parameter]:
        return list(self.encoder.parameters())


@unlearn_bench.hookimpl
def register_models(register):
    register(ConvAutoEncoder)
