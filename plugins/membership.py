"""Membership inference against D_F: can an attacker tell forgotten training images from unseen ones?

Members are the forget set's training images; non-members are held-out test images of the same classes (the
split's ``holdout`` part), so both come from one distribution and only training separates them. The attacker
queries the model with each degraded image and sees the restoration error on the hole.

- **Loss attack** (Yeom et al. 2018): the lower the error, the likelier a member.
- **Reference attack** (difficulty calibration, Watson et al. 2022; the offline form of LiRA's idea): the error is
  compared with that of a *shadow* model trained with another seed on D_R plus the other half of the forget
  classes' test images (the split's ``population``): it knows the forget classes' distribution but saw neither
  members nor non-members. Score = shadow error − model error, so images that are simply easy do not look like
  members. (A shadow trained on D_R alone never saw the forget classes and calibrates badly: tried, it lost to
  the plain loss attack.)

Reported: ROC AUC (0.5 = chance, the retrained model's ideal) and the true-positive rate at 1 % false positives
(threshold from the non-members' scores), both on D_F. A model that forgot D_F should sit where the retrained
model sits.
"""

from __future__ import annotations

import dataclasses

import torch
import unlearn_bench
from unlearn_bench.attacks import Attack, AuditReport, Measure
from unlearn_bench.unlearning import masked_squared_error

FALSE_POSITIVE_RATE = 0.01


@dataclasses.dataclass(frozen=True)
class MembershipParams:
    reference_attack: bool = dataclasses.field(
        default=True, metadata={"help": "also run the shadow-model calibrated attack (trains the shadow model once)"}
    )
    batch_size: int = dataclasses.field(default=256, metadata={"min": 1})


def roc_auc(members: torch.Tensor, nonmembers: torch.Tensor) -> float:
    """P(member score > non-member score) + ½ P(equal): the Mann–Whitney form of the ROC AUC, ties averaged."""
    scores = torch.cat([members, nonmembers]).double()
    values, inverse, counts = torch.unique(scores, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    mean_rank = ends - (counts.double() - 1) / 2  # 1-based average rank of each distinct value
    rank_sum = mean_rank[inverse[: len(members)]].sum()
    n, m = len(members), len(nonmembers)
    return float((rank_sum - n * (n + 1) / 2) / (n * m))


def tpr_at_fpr(members: torch.Tensor, nonmembers: torch.Tensor, fpr: float) -> tuple[float, float]:
    """(TPR, achieved FPR) at the lowest threshold that flags at most ``fpr`` of the non-members."""
    ranked = nonmembers.sort(descending=True).values
    allowed = int(fpr * len(ranked))  # non-members that may score above the threshold
    threshold = ranked[allowed]
    return float((members > threshold).double().mean()), float((nonmembers > threshold).double().mean())


class MembershipInference(Attack):
    """Loss-threshold and shadow-calibrated membership inference on D_F (AUC, TPR at 1 % FPR)."""

    name = "membership-inference"
    behaviour_version = 1
    Params = MembershipParams
    # Best at chance (where a model that never saw D_F sits), not at the minimum: an AUC below 0.5 or a TPR below
    # the false-positive rate gives membership away as surely as one above.
    measures = {
        "auc-loss": Measure("MIA AUC, loss attack", higher_is_better=None, target=0.5),
        "tpr-loss": Measure("MIA TPR@1%FPR, loss attack", higher_is_better=None, target=FALSE_POSITIVE_RATE),
        "auc-reference": Measure("MIA AUC, reference attack", higher_is_better=None, target=0.5),
        "tpr-reference": Measure("MIA TPR@1%FPR, reference attack", higher_is_better=None, target=FALSE_POSITIVE_RATE),
    }

    @torch.no_grad()
    def _errors(self, model, ctx, part: str) -> torch.Tensor:
        model.eval()
        out = []
        for batch in ctx.batches(part, self.params.batch_size, shuffle=False):
            errors, counts = masked_squared_error(model.restore(batch.inputs, batch.mask), batch.targets, batch.mask)
            out.append((errors / counts.clamp_min(1)).cpu())
        return torch.cat(out)

    def upstream(self):
        return frozenset({"shadow"} if self.params.reference_attack else ())

    def audit(self, model, ctx):
        members, nonmembers = self._errors(model, ctx, "forget"), self._errors(model, ctx, "holdout")
        if len(members) == 0 or len(nonmembers) == 0:
            raise ValueError("membership inference needs forget-set images and held-out images of the same classes")
        scores = {"loss": (-members, -nonmembers)}
        if self.params.reference_attack:
            shadow = ctx.upstream("shadow")
            scores["reference"] = (
                self._errors(shadow, ctx, "forget") - members,
                self._errors(shadow, ctx, "holdout") - nonmembers,
            )
        values, achieved = {}, {}
        for attack, (m, n) in scores.items():
            tpr, fpr = tpr_at_fpr(m, n, FALSE_POSITIVE_RATE)
            values[f"auc-{attack}"] = {"forget": roc_auc(m, n)}
            values[f"tpr-{attack}"] = {"forget": tpr}
            achieved[attack] = fpr
        return AuditReport(
            values,
            {
                "members": len(members),
                "nonmembers": len(nonmembers),
                "target_fpr": FALSE_POSITIVE_RATE,
                "achieved_fpr": achieved,
                "signal": "mean squared restoration error on the hole, per image",
                "mean_error": {"members": float(members.mean()), "nonmembers": float(nonmembers.mean())},
            },
        )


@unlearn_bench.hookimpl
def register_attacks(register):
    register(MembershipInference)
