"""The starting model unchanged: the row every unlearning method is compared against."""

from __future__ import annotations

import unlearn_bench
from unlearn_bench.methods import Method


class NoUnlearning(Method):
    """No unlearning: returns the model unlearning would start from (the original, or the attack model)."""

    name = "no-unlearning"
    behaviour_version = 1

    def unlearn(self, model, ctx):
        return model


@unlearn_bench.hookimpl
def register_methods(register):
    register(NoUnlearning)
