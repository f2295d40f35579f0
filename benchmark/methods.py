"""Unlearning method plugins."""

from __future__ import annotations

from .component import Component
from .context import RunContext
from .models import I2IModel


class Method(Component):
    """Base class of unlearning methods.

    ``unlearn(model, ctx)`` receives the model to unlearn from (the original model, or the attack model when the
    suite has an attack), already on ``ctx.device``, and returns the unlearned model (the same object updated in
    place, or a new one). Read data only through ``ctx`` (``ctx.batches('forget', ...)``, ``ctx.endless('retain',
    ...)``): the harness counts what each method reads. Record what a reader needs to check the method's claims
    with ``ctx.log`` and ``ctx.record``. Raise :class:`unlearn_bench.training.Divergence` (or let
    ``training.check_loss`` raise it) when optimisation diverges: the cell is then marked failed with the reason.
    """

    def unlearn(self, model: I2IModel, ctx: RunContext) -> I2IModel:
        raise NotImplementedError
