"""One objective for both sets: minimise L(D_R) − λ·L(D_F) (Realistic-I2I's "Merged obj model")."""

from __future__ import annotations

import unlearn_bench
from unlearn_bench.methods import Method
from unlearn_bench.unlearning import WeightedJointConfig, optimize_jointly


class MergedObjective(Method):
    """Descent on the retain loss and ascent on the forget loss in the same steps."""

    name = "merged-objective"
    behaviour_version = 1
    Params = WeightedJointConfig

    def unlearn(self, model, ctx):
        weight = self.params.forget_weight

        def objective(retain, forget):
            retain_loss = model.training_loss(retain.inputs, retain.mask, retain.targets)
            forget_loss = model.training_loss(forget.inputs, forget.mask, forget.targets)
            return retain_loss - weight * forget_loss, {"retain_loss": retain_loss, "forget_loss": forget_loss}

        optimize_jointly(model, ctx, self.params, objective, desc="merged objective")
        return model


@unlearn_bench.hookimpl
def register_methods(register):
    register(MergedObjective)
