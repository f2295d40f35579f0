"""Gradient ascent on the forget set alone (Realistic-I2I's "GA model", Li et al.'s "Max loss")."""

from __future__ import annotations

import dataclasses

import unlearn_bench
from unlearn_bench.methods import Method
from unlearn_bench.unlearning import AscentConfig, decouple


@dataclasses.dataclass(frozen=True)
class Params:
    ascent: AscentConfig = dataclasses.field(default_factory=AscentConfig)


class GradientAscent(Method):
    """K steps of gradient ascent on D_F: Realistic-I2I's phase 1 without the retain fine-tuning."""

    name = "gradient-ascent"
    behaviour_version = 1
    Params = Params

    def unlearn(self, model, ctx):
        decouple(model, ctx, self.params.ascent)
        return model


@unlearn_bench.hookimpl
def register_methods(register):
    register(GradientAscent)
