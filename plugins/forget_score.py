"""The forget score: where an unlearned model's restorations sit between the model unlearning started from (0) and
the retrained model (1), image by image, in pixels of the hole.

For evaluation image i, with u_i, s_i and r_i the restorations of the unlearned, starting and retrained models
(hole pixels only), the score projects the unlearned model's move onto the start → retrained segment:

    score = Σ_i <u_i − s_i, r_i − s_i> / Σ_i ||r_i − s_i||²

(the per-image projections weighted by the squared gap ||r_i − s_i||², so an image on which the two end models
agree cannot dominate). The starting model scores exactly 0 and the retrained model of the same seed exactly 1.
Closeness-to-reference metrics cannot tell a method that did nothing from one that forgot when the starting model is
already near the retrained one; this score can, because it is measured along the direction forgetting should move.

The *noise floor*: the same score of a second retrained model, trained with another seed (the ``twin`` upstream
model). The retrained model's own score of 1 is exact only because it is the reference; an equally good "forgetting"
scores about the twin's value, so a method is as forgotten as retraining once its score reaches the floor, not 1.
On D_R it is reported without a direction: near 0 when the starting model restores D_R well (the retained classes'
restorations need not move), but in a poisoned suite the attack model also paints its marker into D_R, and there
moving towards the retrained model is the repair (a second retrained model scores 0.75 on D_R in Table 1's counterpart).
Movement orthogonal to the segment (damage) does not show here; PSNR against the ground truth measures it.
"""

from __future__ import annotations

import dataclasses

import torch
import unlearn_bench
from unlearn_bench.attacks import Attack, AuditReport, Measure

SPLITS = ("forget", "retain")


@dataclasses.dataclass(frozen=True)
class Params:
    batch_size: int = dataclasses.field(default=256, metadata={"min": 1, "help": "evaluation batch size"})


@torch.no_grad()
def segment_terms(
    outputs: torch.Tensor, start: torch.Tensor, end: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: the numerator <u − s, r − s> and the denominator ||r − s||² over the hole's pixels."""
    hole = mask.expand_as(outputs)
    gap = (end - start) * hole
    moved = (outputs - start) * hole
    return (moved * gap).flatten(1).sum(1).double(), gap.pow(2).flatten(1).sum(1).double()


def score(numerators: torch.Tensor, denominators: torch.Tensor) -> float:
    """The gap-weighted mean of the per-image projections (NaN when the end models agree on every image)."""
    total = float(denominators.sum())
    return float(numerators.sum()) / total if total > 0 else float("nan")


def _rounded(values: torch.Tensor) -> list[float]:
    """Six significant figures: enough to resample images, and a third of the bytes in a result row."""
    return [float(f"{v:.6g}") for v in values.tolist()]


class ForgetScore(Attack):
    """Forget score on D_F (0 = the starting model, 1 = the retrained model) and on D_R (should stay near 0), with
    an independently seeded retrained model's score as the noise floor."""

    name = "forget-score"
    behaviour_version = 1
    Params = Params
    # Best at 1 on D_F (as far as retraining moves). On D_R it is a diagnostic without a direction: near 0 when the
    # starting model restores D_R well, but an attack model that also paints its marker into D_R should move away.
    measures = {"score": Measure("Forget score", higher_is_better=None, target={"forget": 1.0})}

    def upstream(self):
        # The starting model is the attack model when the suite has an attack, else the original; the runner drops
        # 'attack' from this set in suites without one.
        return frozenset({"original", "attack", "retrained", "twin"})

    def audit(self, model, ctx):
        start = ctx.upstream("attack") if ctx.has_upstream("attack") else ctx.upstream("original")
        end, twin = ctx.upstream("retrained"), ctx.upstream("twin")
        terms: dict[str, dict[str, list[torch.Tensor]]] = {}
        for part in SPLITS:
            found = {"model": ([], []), "twin": ([], [])}
            for batch in ctx.batches(f"eval/{part}", self.params.batch_size, shuffle=False):
                s = start.restore(batch.inputs, batch.mask)
                r = end.restore(batch.inputs, batch.mask)
                for name, m in (("model", model), ("twin", twin)):
                    num, den = segment_terms(m.restore(batch.inputs, batch.mask), s, r, batch.mask)
                    found[name][0].append(num.cpu())
                    found[name][1].append(den.cpu())
            terms[part] = {name: [torch.cat(n), torch.cat(d)] for name, (n, d) in found.items()}
        values = {part: score(*terms[part]["model"]) for part in SPLITS}
        floor = {part: score(*terms[part]["twin"]) for part in SPLITS}
        return AuditReport(
            {"score": values},
            {
                "space": "pixels of the hole",
                "start": "attack" if ctx.has_upstream("attack") else "original",
                "floor": {"score": floor},
                # Per image, so that the leaderboard can resample images: numerator and denominator of each image.
                "per_image": {
                    part: {name: _rounded(t) for name, t in zip(("numerator", "denominator"), terms[part]["model"])}
                    for part in SPLITS
                },
                # The twin's numerators: its denominators are the model's (the same start → retrained segment), so
                # the floor can be resampled over images too.
                "floor_per_image": {part: {"numerator": _rounded(terms[part]["twin"][0])} for part in SPLITS},
                "images": {part: len(terms[part]["model"][0]) for part in SPLITS},
            },
        )


@unlearn_bench.hookimpl
def register_attacks(register):
    register(ForgetScore)
