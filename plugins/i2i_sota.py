"""Li et al. 2024 (I2I-SOTA): encoder-only unlearning towards the encodings of noise images.

The decoder is frozen. Retain term: ``‖E_θ(T(x_r)) − E_θ0(T(x_r))‖²``; forget term:
``‖E_θ(T(x_f)) − E_θ0(T(n))‖²`` where ``n`` is a noise image with the batch's mean and standard deviation,
degraded with the same mask and encoded by the frozen original encoder. Loss: ``α_r·retain + α_f·forget``.
With ``retain_part: proxy`` a proxy set (the split's ``proxy_classes``) stands in for the real retain set.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
import unlearn_bench
from torch.nn.functional import mse_loss
from unlearn_bench.methods import Method
from unlearn_bench.training import OptimizerConfig
from unlearn_bench_plugins.joint import JointConfig, noise_like, optimize_jointly


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
    behaviour_version = 1
    Params = Params

    def unlearn(self, model, ctx):
        p = self.params
        encoder = model.encoder_parameters()
        encoder_ids = {id(q) for q in encoder}
        for q in model.parameters():
            q.requires_grad_(id(q) in encoder_ids)
        original = ctx.original

        def objective(retain, forget):
            with torch.no_grad():
                retain_target = original.encode(retain.inputs, retain.mask)
                noise_inputs, noise_mask = ctx.data.task.degrade(noise_like(forget.targets))  # T(n)
                forget_target = original.encode(noise_inputs, noise_mask)
            retain_term = mse_loss(model.encode(retain.inputs, retain.mask), retain_target)
            forget_term = mse_loss(model.encode(forget.inputs, forget.mask), forget_target)
            loss = p.alpha_retain * retain_term + p.alpha_forget * forget_term
            return loss, {"retain_term": retain_term, "forget_term": forget_term}

        optimize_jointly(model, ctx, p, objective, retain_part=p.retain_part, parameters=encoder, desc="I2I-SOTA")
        for q in model.parameters():
            q.requires_grad_(True)
        return model


@unlearn_bench.hookimpl
def register_methods(register):
    register(I2ISota)
