"""Gaussian noise as the ground truth of forget samples (Realistic-I2I's "Random label" baseline)."""

from __future__ import annotations

import torch
import unlearn_bench
from unlearn_bench.methods import Method
from unlearn_bench_plugins.joint import WeightedJointConfig, noise_like, optimize_jointly


class NoisyLabel(Method):
    """Train the whole model to output noise for forget inputs while keeping the retain loss low."""

    name = "noisy-label"
    behaviour_version = 1
    Params = WeightedJointConfig

    def unlearn(self, model, ctx):
        weight = self.params.forget_weight

        def objective(retain, forget):
            retain_loss = model.training_loss(retain.inputs, retain.mask, retain.targets)
            outputs = model(forget.inputs, forget.mask)
            forget_loss = torch.nn.functional.mse_loss(outputs, noise_like(forget.targets))
            return retain_loss + weight * forget_loss, {"retain_loss": retain_loss, "noise_loss": forget_loss}

        optimize_jointly(model, ctx, self.params, objective, desc="noisy labels")
        return model


@unlearn_bench.hookimpl
def register_methods(register):
    register(NoisyLabel)
