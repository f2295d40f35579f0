"""Retraining from scratch on the retain set: the gold standard that unlearning approximates."""

from __future__ import annotations

import unlearn_bench
from unlearn_bench.methods import Method


class Retrain(Method):
    """Train a fresh model on D_R alone with the suite's training recipe (shared with the 'retrained' reference)."""

    name = "retrain"
    behaviour_version = 1

    def upstream(self):
        return frozenset({"retrained"})

    def unlearn(self, model, ctx):
        return ctx.retrained_model()


@unlearn_bench.hookimpl
def register_methods(register):
    register(Retrain)
