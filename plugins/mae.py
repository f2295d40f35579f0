"""An MAE-style masked autoencoder (Li et al.'s third model family) built from timm ViT blocks.

The image is cut into ``patch``×``patch`` patches; a patch touching the hole is masked. The encoder sees only the
visible patches (MAE: no mask tokens in the encoder); its output is projected to the decoder width and laid out on
the full patch grid with a learned mask token at the masked positions — that grid is ``encode``'s output, the
representation I2I-SOTA moves. The decoder (more ViT blocks) predicts every patch's pixels.
"""

from __future__ import annotations

import dataclasses

import torch
import unlearn_bench
from torch import nn
from unlearn_bench.models import I2IModel, sincos_grid


@dataclasses.dataclass(frozen=True)
class Params:
    patch: int = dataclasses.field(
        default=4, metadata={"min": 1, "help": "patch side in pixels (must divide the image)"}
    )
    width: int = dataclasses.field(default=64, metadata={"min": 1, "help": "encoder token width"})
    depth: int = dataclasses.field(default=4, metadata={"min": 1, "help": "encoder blocks"})
    heads: int = dataclasses.field(default=4, metadata={"min": 1})
    decoder_width: int = dataclasses.field(default=64, metadata={"min": 1})
    decoder_depth: int = dataclasses.field(default=2, metadata={"min": 1})


class MaskedAutoencoder(I2IModel):
    """MAE: a ViT encoder over the visible patches and a ViT decoder over the full grid with mask tokens."""

    name = "mae"
    behaviour_version = 1
    Params = Params

    def __init__(self, params: Params, shape):
        super().__init__(params, shape)
        from timm.layers import PatchEmbed
        from timm.models.vision_transformer import Block

        p = params.patch
        if shape.height % p or shape.width % p:
            raise ValueError(f"mae: patch {p} does not divide a {shape.height}×{shape.width} image")
        self.grid = (shape.height // p, shape.width // p)
        self.embed = PatchEmbed((shape.height, shape.width), p, shape.channels, params.width)
        self.register_buffer("position", sincos_grid(params.width, *self.grid), persistent=False)
        self.encoder = nn.Sequential(*[Block(params.width, params.heads, qkv_bias=True) for _ in range(params.depth)])
        self.encoder_norm = nn.LayerNorm(params.width)
        self.to_decoder = nn.Linear(params.width, params.decoder_width)
        self.mask_token = nn.Parameter(torch.zeros(params.decoder_width))
        nn.init.normal_(self.mask_token, std=0.02)
        self.register_buffer("decoder_position", sincos_grid(params.decoder_width, *self.grid), persistent=False)
        self.decoder = nn.Sequential(
            *[Block(params.decoder_width, params.heads, qkv_bias=True) for _ in range(params.decoder_depth)]
        )
        self.decoder_norm = nn.LayerNorm(params.decoder_width)
        self.head = nn.Linear(params.decoder_width, p * p * shape.channels)

    def masked_patches(self, mask: torch.Tensor) -> torch.Tensor:
        """(N, patches) booleans: True where the patch touches the hole. Every image of a batch must share them."""
        p = self.params.patch
        patches = nn.functional.max_pool2d(mask, p).flatten(1) > 0
        if not bool((patches == patches[:1]).all()):
            raise ValueError("mae: every image of a batch must have the same hole (the encoder drops its patches)")
        return patches

    def encode(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        masked = self.masked_patches(mask)[0]
        tokens = self.embed(inputs) + self.position
        visible = self.to_decoder(self.encoder_norm(self.encoder(tokens[:, ~masked])))
        # Under autocast the projected tokens may be bf16: the grid takes their dtype.
        grid = self.mask_token.to(visible.dtype).expand(len(inputs), masked.numel(), -1).clone()
        grid[:, ~masked] = visible
        return grid

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        p, c = self.params.patch, self.shape.channels
        pixels = self.head(self.decoder_norm(self.decoder(z + self.decoder_position)))
        rows, cols = self.grid
        pixels = pixels.view(len(z), rows, cols, c, p, p).permute(0, 3, 1, 4, 2, 5)
        return torch.sigmoid(pixels.reshape(len(z), c, rows * p, cols * p))

    def encoder_parameters(self) -> list[nn.Parameter]:
        modules = (self.embed, self.encoder, self.encoder_norm, self.to_decoder)
        return [q for m in modules for q in m.parameters()] + [self.mask_token]


@unlearn_bench.hookimpl
def register_models(register):
    register(MaskedAutoencoder)
