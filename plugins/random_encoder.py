"""Encodings of forget inputs pushed towards Gaussian noise (Realistic-I2I's "Random encoder" baseline)."""

from __future__ import annotations

import torch
import unlearn_bench
from unlearn_bench.data import Batch
from unlearn_bench.methods import Method
from unlearn_bench.unlearning import WeightedJointConfig, optimize_jointly


class RandomEncoder(Method):
    """Whole model: retain loss plus the distance between E(T(x_f)) and standard Gaussian noise."""

    name = "random-encoder"
    behaviour_version = 1
    Params = WeightedJointConfig

    def unlearn(self, model, ctx):
        weight = self.params.forget_weight

        def objective(retain, forget):
            retain_loss = model.training_loss(retain.inputs, retain.mask, retain.targets)
            forget_loss = random_encoding_loss(model, forget)
            return retain_loss + weight * forget_loss, {"retain_loss": retain_loss, "encoding_loss": forget_loss}

        optimize_jointly(model, ctx, self.params, objective, desc="random encoder")
        return model


def random_encoding_loss(model, batch: Batch) -> torch.Tensor:
    """The distance between the encodings of ``batch``'s inputs and standard Gaussian noise."""
    z = model.encode(batch.inputs, batch.mask)
    return torch.nn.functional.mse_loss(z, torch.randn_like(z))


@unlearn_bench.hookimpl
def register_methods(register):
    register(RandomEncoder)
