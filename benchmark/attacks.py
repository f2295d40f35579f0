"""Attack/audit plugins: they change the starting point of unlearning and measure what survives it."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch

from .component import Component
from .context import RunContext
from .models import I2IModel


@dataclasses.dataclass(frozen=True)
class Measure:
    """A number an audit reports, shown as a leaderboard column like a metric.

    A measure is better either higher or lower (``higher_is_better``), or nearer a ``target`` (then
    ``higher_is_better`` is None): a membership-inference AUC is best at chance, 0.5, where the retrained model sits,
    not at its minimum. A target may differ by split: ``{"forget": 1.0, "retain": 0.0}``.
    """

    display_name: str
    higher_is_better: bool | None
    target: float | dict[str, float] | None = None

    def __post_init__(self):
        if (self.higher_is_better is None) == (self.target is None):
            raise ValueError(f"measure '{self.display_name}': declare either higher_is_better or a target")


@dataclasses.dataclass
class AuditReport:
    """What ``Attack.audit`` returns: ``values[measure][split]`` (splits: 'forget', 'retain', ...) for the
    leaderboard, ``details`` (calibration, counts, thresholds) recorded in the result row, and optionally
    ``per_image[measure][split]``, each image's value for a measure that is a mean over images (the regeneration
    rate: 1 where the marker was found), kept in the row so the leaderboard can resample images."""

    values: dict[str, dict[str, float]]
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    per_image: dict[str, dict[str, list[float]]] = dataclasses.field(default_factory=dict)


class Attack(Component):
    """Base class of attacks and audits.

    A suite names at most one ``attack`` (it shapes the starting point of unlearning) and any number of
    ``audits`` (they only measure). The runner calls ``audit`` of both on every unlearned model.

    - ``poison(images)`` transforms clean forget images wherever they are read (training, evaluation and the
      held-out images of the forget classes); the default leaves them unchanged. Only the suite's ``attack``
      poisons.
    - ``attack_model(original, ctx)`` returns the *attack model* that unlearning starts from (for example the
      original model fine-tuned on poisoned forget samples). The default returns the original unchanged.
    - ``audit(model, ctx)`` measures a model; ``ctx.upstream(kind)`` gives the original, attack, retrained and
      shadow models for calibration. Every measure it reports must be declared in ``measures``.
    """

    measures: ClassVar[dict[str, Measure]] = {}
    # An audit that only makes sense after a given attack (e.g. relearning the backdoor) names it here; validation
    # refuses a suite without it and calls ``check_with_attack`` with both parameter sets.
    needs_attack: ClassVar[str | None] = None

    @classmethod
    def check_with_attack(cls, params: Any, attack_params: Any, where: Any) -> None:
        """Check this audit's parameters against the suite's attack's (raise ``where.error(...)``)."""

    def poison(self, images: torch.Tensor) -> torch.Tensor:
        return images

    def attack_model(self, original: I2IModel, ctx: RunContext) -> I2IModel:
        return original

    def audit(self, model: I2IModel, ctx: RunContext) -> AuditReport:
        return AuditReport({})
