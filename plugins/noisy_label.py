"""Gaussian noise as the ground truth of forget samples (Realistic-I2I's "Random label" baseline).

The papers' baseline minimises the model's own training loss with a noise image as the target of each forget sample,
so it is expressed through ``training_loss``: the pixel MSE for the autoencoder and the MAE, the cross-entropy to the
noise image's tokens for the VQ model, the DDPM noise-prediction loss with the noise image as x0 for diffusion. (A loss
on ``model(...)``'s outputs would not reach the VQ transformer through the decoder's argmax, and would backpropagate
through the whole sampler of a diffusion model.)
"""

from __future__ import annotations

import torch
import unlearn_bench
from unlearn_bench.data import Batch
from unlearn_bench.methods import Method
from unlearn_bench.unlearning import WeightedJointConfig, noise_like, optimize_jointly


class NoisyLabel(Method):
    """Train the whole model towards noise targets for forget inputs while keeping the retain loss low."""

    name = "noisy-label"
    # Still 1: on the autoencoder and the MAE the training loss is the output MSE this method used before, so their
    # cells are unchanged; on the VQ and diffusion families the change re-keys through their models' versions.
    behaviour_version = 1
    Params = WeightedJointConfig

    def unlearn(self, model, ctx):
        weight = self.params.forget_weight

        def objective(retain, forget):
            retain_loss = model.training_loss(retain.inputs, retain.mask, retain.targets)
            forget_loss = noise_label_loss(model, forget)
            return retain_loss + weight * forget_loss, {"retain_loss": retain_loss, "noise_loss": forget_loss}

        optimize_jointly(model, ctx, self.params, objective, desc="noisy labels")
        return model


def noise_label_loss(model, batch: Batch) -> torch.Tensor:
    """The model's own training loss with a noise image as the ground truth of each image of ``batch``."""
    return model.training_loss(batch.inputs, batch.mask, noise_like(batch.targets))


@unlearn_bench.hookimpl
def register_methods(register):
    register(NoisyLabel)
