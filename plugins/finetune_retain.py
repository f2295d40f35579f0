"""Fine-tuning on the retain set alone (Realistic-I2I's "Fine-tuned model")."""

from __future__ import annotations

import unlearn_bench
from unlearn_bench.methods import Method
from unlearn_bench.unlearning import RetainConfig, retain


class FinetuneRetain(Method):
    """Gradient descent on D_R only: Realistic-I2I's phase 2 without the ascent."""

    name = "finetune-retain"
    behaviour_version = 1
    Params = RetainConfig

    def unlearn(self, model, ctx):
        return retain(model, ctx, self.params)


@unlearn_bench.hookimpl
def register_methods(register):
    register(FinetuneRetain)
