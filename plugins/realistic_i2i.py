"""Realistic-I2I (Varshney et al. 2025, Alg. 1): decoupling by gradient ascent on D_F, then retention on D_R.

Phase 1 runs K iterations of ``θ ← θ + η∇L(θ; D_F)`` on the whole model, tracking the output distance
``d(h_θk(x_f), h_θ0(x_f))`` on a fixed probe of forget samples (Theorem 1's out-of-distribution condition is
stated in it) and the gradient norms (Assumption 2's bounds). With ``ood_threshold`` τ it stops as soon as
``d ≥ τ``. Phase 2 fine-tunes on D_R by gradient descent.
"""

from __future__ import annotations

import dataclasses

import unlearn_bench
from unlearn_bench.methods import Method
from unlearn_bench.unlearning import AscentConfig, RetainConfig, decouple, retain


@dataclasses.dataclass(frozen=True)
class Params:
    ascent: AscentConfig = dataclasses.field(default_factory=AscentConfig)
    retain: RetainConfig = dataclasses.field(default_factory=RetainConfig)


class RealisticI2I(Method):
    """Gradient ascent on the forget set (decoupling), then fine-tuning on the retain set (knowledge retention)."""

    name = "realistic-i2i"
    behaviour_version = 1
    Params = Params

    def unlearn(self, model, ctx):
        decouple(model, ctx, self.params.ascent)
        return retain(model, ctx, self.params.retain)


@unlearn_bench.hookimpl
def register_methods(register):
    register(RealisticI2I)
