"""Li et al. 2024 (I2I-SOTA): encoder-only unlearning towards the encodings of noise.

The decoder is frozen. Retain term: ``‖E_θ(T(x_r)) − E_θ0(T(x_r))‖²``; forget term: ``‖E_θ(T(x_f)) − E_θ0(T(n))‖²``.
Loss: ``α_r·retain + α_f·forget``. What ``E`` and ``n`` are follows Li et al.'s two released codes, through the
model's ``encoder_features`` and ``encoder_draw``:

- deterministic encoders (autoencoder, MAE, VQ; their MAGE code): ``E`` is ``encode``, and ``n`` is a noise image
  with the batch's mean and standard deviation, degraded with the same mask and encoded by the frozen original;
- diffusion (their Palette code): ``E`` is every feature map of the UNet's down path and middle block, at a timestep
  and noise drawn per image and shared by both networks; the student sees the noised forget image, the frozen
  original the same input with pure noise in the hole (retain: the same noised image for both).

The feature-map loss is the sum over maps of each map's mean squared error. With ``retain_part: proxy`` a proxy set
(the split's ``proxy_classes``) stands in for the real retain set.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
import unlearn_bench
from torch.nn.functional import mse_loss
from unlearn_bench.methods import Method
from unlearn_bench.training import OptimizerConfig
from unlearn_bench.unlearning import JointConfig, noise_like, optimize_jointly


@dataclasses.dataclass(frozen=True)
class Params(JointConfig):
    optimizer: OptimizerConfig = dataclasses.field(
        default_factory=lambda: OptimizerConfig(name="adamw", lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05),
        metadata={"help": "Li et al.'s MAGE setting: AdamW β=(0.9, 0.95), wd 0.05"},
    )
    alpha_retain: float = dataclasses.field(default=1.0, metadata={"help": "α_r"})
    alpha_forget: float = dataclasses.field(default=0.2, metadata={"help": "α_f (0.2 in Li et al.'s example)"})
    retain_part: Literal["retain", "proxy"] = dataclasses.field(
        default="retain", metadata={"help": "'proxy': use the split's proxy_classes instead of D_R"}
    )


class I2ISota(Method):
    """Encoder only, decoder frozen: retain encodings kept, forget encodings moved to those of noise images."""

    name = "i2i-sota"
    # Still 1: on deterministic encoders the objective and its random draws are those of version 1 (the decoder and
    # other frozen parameters are now left frozen afterwards, which changes no output); on diffusion models the
    # change re-keys through the model's version.
    behaviour_version = 1
    Params = Params

    def unlearn(self, model, ctx):
        p = self.params
        encoder = model.encoder_parameters()
        encoder_ids = {id(q) for q in encoder}
        trainable = {id(q): q.requires_grad for q in model.parameters()}
        for q in model.parameters():
            q.requires_grad_(trainable[id(q)] and id(q) in encoder_ids)
        encoder = [q for q in encoder if q.requires_grad]
        original = ctx.original
        matched: dict[str, object] = {}  # what was matched, recorded with the row

        def objective(retain, forget):
            retain_draw = model.encoder_draw(retain.targets)
            forget_draw = model.encoder_draw(forget.targets)
            with torch.no_grad():
                retain_target = original.encoder_features(retain.inputs, retain.mask, retain_draw, retain.targets)
                if forget_draw is None:
                    noise_inputs, noise_mask = ctx.data.task.degrade(noise_like(forget.targets))  # T(n)
                    forget_target = original.encoder_features(noise_inputs, noise_mask)
                else:
                    forget_target = original.encoder_features(forget.inputs, forget.mask, forget_draw, None)
            retain_term = feature_mse(
                model.encoder_features(retain.inputs, retain.mask, retain_draw, retain.targets), retain_target
            )
            forget_term = feature_mse(
                model.encoder_features(forget.inputs, forget.mask, forget_draw, forget.targets), forget_target
            )
            matched["feature_maps"] = len(forget_target)
            matched["forget_target"] = "noise image through T" if forget_draw is None else "pure noise in the hole"
            matched["timesteps"] = None if forget_draw is None else "drawn per image, shared with the original"
            loss = p.alpha_retain * retain_term + p.alpha_forget * forget_term
            return loss, {"retain_term": retain_term, "forget_term": forget_term}

        optimize_jointly(model, ctx, p, objective, retain_part=p.retain_part, parameters=encoder, desc="I2I-SOTA")
        for q in model.parameters():
            q.requires_grad_(trainable[id(q)])
        ctx.record(**matched)
        return model


def feature_mse(features: list[torch.Tensor], targets: list[torch.Tensor]) -> torch.Tensor:
    """Sum over feature maps of each map's mean squared error (Li et al.'s loss over a list of maps)."""
    return sum(mse_loss(f, t) for f, t in zip(features, targets, strict=True))


@unlearn_bench.hookimpl
def register_methods(register):
    register(I2ISota)
