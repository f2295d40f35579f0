"""A VQ-GAN-style masked-token model (the MAGE/MaskGIT family of Li et al. and Realistic-I2I's ImageNet model):
a diffusers ``VQModel`` tokenizer and a transformer of timm ViT blocks that predicts the tokens of the hole.

Tokens whose cell touches the hole are replaced by a [MASK] token; the first half of the transformer is the
encoder (``encode`` returns its token features, what I2I-SOTA moves), the second half and the codebook classifier
the decoder; ``decode`` takes the most likely token at each position and decodes it with the VQ decoder.
``training_loss`` is the cross-entropy of the masked tokens against the tokens of the clean image.

The tokenizer is part of pre-training only, as MAGE's VQGAN is trained before and frozen during everything else: it
learns (VQ reconstruction and commitment loss) during the first ``tokenizer_steps`` loss evaluations with gradients
of pre-training (a buffer counts them), and ``pretrained()`` freezes it — so no unlearning method and no attack can
move it, whatever its loss. A suite whose pre-training is shorter than ``tokenizer_steps`` is refused when it loads.
"""

from __future__ import annotations

import dataclasses

import torch
import unlearn_bench
from torch import nn
from unlearn_bench.models import I2IModel, sincos_grid


@dataclasses.dataclass(frozen=True)
class Params:
    channels: list[int] = dataclasses.field(
        default_factory=lambda: [32, 64, 64], metadata={"help": "VQ encoder widths; tokens are 2^(levels-1) px"}
    )
    codebook: int = dataclasses.field(default=256, metadata={"min": 1, "help": "number of VQ codes"})
    code_dim: int = dataclasses.field(default=8, metadata={"min": 1})
    groups: int = dataclasses.field(default=8, metadata={"min": 1})
    width: int = dataclasses.field(default=128, metadata={"min": 1})
    depth: int = dataclasses.field(
        default=4, metadata={"min": 1, "help": "transformer blocks (half encoder, half decoder)"}
    )
    heads: int = dataclasses.field(default=4, metadata={"min": 1})
    tokenizer_steps: int = dataclasses.field(
        default=2000, metadata={"help": "loss evaluations during which the tokenizer learns, then it is fixed"}
    )


class VQMaskTransformer(I2IModel):
    """VQ tokenizer (diffusers VQModel) + masked-token transformer (timm blocks)."""

    name = "vq-transformer"
    behaviour_version = 2  # 2: the tokenizer is frozen after pre-training (it kept learning in methods before)
    Params = Params

    @classmethod
    def check_params(cls, params, where):
        if params.depth < 2:
            raise (where / "depth").error("expected at least 2 (an encoder and a decoder half)")
        if params.tokenizer_steps < 1:
            raise (where / "tokenizer_steps").error("expected at least 1 (the tokenizer learns only then)")

    @classmethod
    def check_pretraining(cls, params, steps, where):
        if params.tokenizer_steps > steps:
            raise (where / "tokenizer_steps").error(
                f"the tokenizer would learn for {params.tokenizer_steps} steps, but the shortest pre-training of this "
                f"suite (the retrained model's, on D_R) takes {steps}; expected at most {steps}, since the tokenizer "
                "is frozen once pre-training ends"
            )

    def __init__(self, params: Params, shape):
        super().__init__(params, shape)
        levels = len(params.channels)
        self.cell = 2 ** (levels - 1)
        if shape.height % self.cell or shape.width % self.cell:
            raise ValueError(f"vq-transformer: {levels} levels need sides divisible by {self.cell}")
        self.grid = (shape.height // self.cell, shape.width // self.cell)
        from diffusers import VQModel
        from timm.models.vision_transformer import Block

        self.tokenizer = VQModel(
            in_channels=shape.channels,
            out_channels=shape.channels,
            down_block_types=("DownEncoderBlock2D",) * levels,
            up_block_types=("UpDecoderBlock2D",) * levels,
            block_out_channels=tuple(params.channels),
            latent_channels=params.code_dim,
            num_vq_embeddings=params.codebook,
            vq_embed_dim=params.code_dim,
            norm_num_groups=params.groups,
            sample_size=shape.height,
        )
        self.register_buffer("tokenizer_updates", torch.zeros((), dtype=torch.long))
        self.token_embedding = nn.Embedding(params.codebook + 1, params.width)  # the last id is [MASK]
        self.register_buffer("position", sincos_grid(params.width, *self.grid), persistent=False)
        half = params.depth // 2
        self.encoder = nn.Sequential(*[Block(params.width, params.heads, qkv_bias=True) for _ in range(half)])
        self.decoder = nn.Sequential(
            *[Block(params.width, params.heads, qkv_bias=True) for _ in range(params.depth - half)]
        )
        self.norm = nn.LayerNorm(params.width)
        self.classifier = nn.Linear(params.width, params.codebook)

    @property
    def mask_id(self) -> int:
        return self.params.codebook

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Code indices (N, rows·cols) of images in [0, 1]."""
        with torch.no_grad():
            latents = self.tokenizer.encode(images * 2 - 1).latents
            _, _, (_, _, indices) = self.tokenizer.quantize(latents)
        return indices.view(len(images), -1)

    def masked_tokens(self, mask: torch.Tensor) -> torch.Tensor:
        return nn.functional.max_pool2d(mask, self.cell).flatten(1) > 0

    def encode(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ids = self.tokens(inputs).masked_fill(self.masked_tokens(mask), self.mask_id)
        return self.encoder(self.token_embedding(ids) + self.position)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.norm(self.decoder(z)))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        ids = self.logits(z).argmax(-1)
        codes = self.tokenizer.quantize.get_codebook_entry(ids.flatten(), (len(z), *self.grid, self.params.code_dim))
        return ((self.tokenizer.decode(codes, force_not_quantize=True).sample + 1) / 2).clamp(0, 1)

    def tokenizer_loss(self, images: torch.Tensor) -> torch.Tensor:
        x = images * 2 - 1
        latents = self.tokenizer.encode(x).latents
        quantized, commitment, _ = self.tokenizer.quantize(latents)
        reconstruction = self.tokenizer.decode(quantized, force_not_quantize=True).sample
        return nn.functional.mse_loss(reconstruction, x) + commitment

    def training_loss(self, inputs: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        masked = self.masked_tokens(mask)
        logits = self.logits(self.encode(inputs, mask))
        loss = nn.functional.cross_entropy(logits[masked], self.tokens(targets)[masked])
        if self.tokenizer_learning and int(self.tokenizer_updates) < self.params.tokenizer_steps:
            self.tokenizer_updates += 1
            loss = loss + self.tokenizer_loss(targets)
        return loss

    @property
    def tokenizer_learning(self) -> bool:
        return torch.is_grad_enabled() and self.tokenizer.encoder.conv_in.weight.requires_grad

    def pretrained(self) -> None:
        if int(self.tokenizer_updates) < self.params.tokenizer_steps:
            raise ValueError(
                f"vq-transformer: pre-training ended after {int(self.tokenizer_updates)} of the tokenizer's "
                f"{self.params.tokenizer_steps} steps; lower tokenizer_steps or train longer"
            )
        self.tokenizer.requires_grad_(False)

    def encoder_parameters(self) -> list[nn.Parameter]:
        return list(self.token_embedding.parameters()) + list(self.encoder.parameters())


@unlearn_bench.hookimpl
def register_models(register):
    register(VQMaskTransformer)
