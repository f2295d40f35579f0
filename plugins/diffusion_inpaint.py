"""A Palette-style diffusion inpainting model: a diffusers ``UNet2DModel`` conditioned on the masked image and the
mask, trained with the DDPM noise-prediction loss and sampled with DDIM.

Encoder/decoder split as Li et al. define it for diffusion models: the encoder is the UNet's down path (input
convolution, time embedding, down blocks, middle block). ``encode`` returns the middle block's output for the first
sampling step (pure noise at the last timestep, from a fixed seed, beside the conditioning). ``encoder_features`` is
what I2I-SOTA matches, as in Li et al.'s Palette code: every feature map of the down path (the input convolution's,
each down block's outputs) and the middle block's, at a timestep and noise drawn per image (``encoder_draw``), for
the noised image inside the hole and the known pixels outside it. A diffusion model restores by sampling, not by
decoding one representation, so ``decode`` is not defined: the built-in methods use ``encode``,
``encoder_features``, ``training_loss`` and ``restore``.
"""

from __future__ import annotations

import dataclasses

import torch
import unlearn_bench
from torch import nn
from unlearn_bench.models import I2IModel


@dataclasses.dataclass(frozen=True)
class Params:
    channels: list[int] = dataclasses.field(default_factory=lambda: [32, 64], metadata={"help": "UNet widths"})
    layers_per_block: int = dataclasses.field(default=1, metadata={"min": 1})
    groups: int = dataclasses.field(
        default=8, metadata={"min": 1, "help": "group-norm groups (must divide every width)"}
    )
    attention: bool = dataclasses.field(default=False, metadata={"help": "self-attention in the lowest block"})
    train_timesteps: int = dataclasses.field(default=1000, metadata={"min": 1})
    schedule: str = dataclasses.field(default="squaredcos_cap_v2", metadata={"help": "diffusers beta schedule"})
    sampling_steps: int = dataclasses.field(default=20, metadata={"min": 1, "help": "DDIM steps when restoring"})
    sample_seed: int = dataclasses.field(default=0, metadata={"help": "seed of the sampling noise (restores repeat)"})


class DiffusionInpaint(I2IModel):
    """Palette-style conditional DDPM: UNet(x_t, masked image, mask, t) → noise; DDIM sampling restores the hole."""

    name = "diffusion-inpaint"
    # 2: encoder_features (I2I-SOTA) as in Li et al.'s Palette code, and noisy labels through the DDPM loss.
    behaviour_version = 2
    Params = Params

    def __init__(self, params: Params, shape):
        super().__init__(params, shape)
        levels = len(params.channels)
        if shape.height % 2 ** (levels - 1) or shape.width % 2 ** (levels - 1):
            raise ValueError(f"diffusion-inpaint: {levels} levels need sides divisible by {2 ** (levels - 1)}")
        down = ["DownBlock2D"] * levels
        up = ["UpBlock2D"] * levels
        if params.attention:
            down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
        c = shape.channels
        from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel

        self.unet = UNet2DModel(
            sample_size=(shape.height, shape.width),
            in_channels=2 * c + 1,
            out_channels=c,
            down_block_types=tuple(down),
            up_block_types=tuple(up),
            block_out_channels=tuple(params.channels),
            layers_per_block=params.layers_per_block,
            norm_num_groups=params.groups,
            add_attention=params.attention,
        )
        self.noise = DDPMScheduler(num_train_timesteps=params.train_timesteps, beta_schedule=params.schedule)
        self.sampler = DDIMScheduler(num_train_timesteps=params.train_timesteps, beta_schedule=params.schedule)

    @staticmethod
    def condition(inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.cat([inputs * 2 - 1, mask], dim=1)

    def training_loss(self, inputs: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x0 = targets * 2 - 1
        noise = torch.randn_like(x0)
        t = torch.randint(0, self.params.train_timesteps, (len(x0),), device=x0.device)
        x_t = self.noise.add_noise(x0, noise, t)
        predicted = self.unet(torch.cat([x_t, self.condition(inputs, mask)], dim=1), t).sample
        return nn.functional.mse_loss(predicted, noise)

    def _start(self, inputs: torch.Tensor) -> torch.Tensor:
        generator = torch.Generator(device=inputs.device).manual_seed(self.params.sample_seed)
        return torch.randn(inputs.shape, generator=generator, device=inputs.device)

    def _down_path(self, x: torch.Tensor, condition: torch.Tensor, t: torch.Tensor) -> list[torch.Tensor]:
        """Every feature map of the encoder for the noisy image ``x`` at timesteps ``t``, the middle block's last."""
        unet = self.unet
        emb = unet.time_embedding(unet.time_proj(t).to(x.dtype))
        h = unet.conv_in(torch.cat([x, condition], dim=1))
        features = [h]
        for block in unet.down_blocks:
            h, skips = block(hidden_states=h, temb=emb)
            features += skips
        if unet.mid_block is not None:
            features.append(unet.mid_block(h, emb))
        return features

    def encode(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        t = torch.full((len(inputs),), self.params.train_timesteps - 1, device=inputs.device)
        return self._down_path(self._start(inputs), self.condition(inputs, mask), t)[-1]

    def encoder_draw(self, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.randint(0, self.params.train_timesteps, (len(targets),), device=targets.device)
        return t, torch.randn_like(targets)

    def encoder_features(self, inputs, mask, draw=None, targets=None):
        if draw is None:
            return [self.encode(inputs, mask)]
        t, noise = draw
        hole = noise if targets is None else self.noise.add_noise(targets * 2 - 1, noise, t)
        x = torch.where(mask.bool(), hole, inputs * 2 - 1)
        return self._down_path(x, self.condition(inputs, mask), t)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("diffusion-inpaint restores by sampling (restore), not by decoding an encoding")

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.sample(inputs, mask)

    def sample(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """DDIM sampling; after every step the known pixels are reset to the input's (Palette's inpainting)."""
        sampler = self.sampler
        sampler.set_timesteps(self.params.sampling_steps, device=inputs.device)
        known = inputs * 2 - 1
        condition = self.condition(inputs, mask)
        x = self._start(inputs)
        for t in sampler.timesteps:
            noise = self.unet(torch.cat([x, condition], dim=1), t).sample
            x = sampler.step(noise, t, x).prev_sample
            x = torch.where(mask.bool(), x, known)
        return ((x + 1) / 2).clamp(0, 1)

    def encoder_parameters(self) -> list[nn.Parameter]:
        unet = self.unet
        modules = [unet.conv_in, unet.time_embedding, *unet.down_blocks] + ([unet.mid_block] if unet.mid_block else [])
        return [q for m in modules for q in m.parameters()]


@unlearn_bench.hookimpl
def register_models(register):
    register(DiffusionInpaint)
