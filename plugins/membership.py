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

The ``lira`` audit is the per-example attack (LiRA, Carlini et al. 2022; for unlearning, U-LiRA, Hayes et al.
2024): ``shadows`` models are trained like the original, each on D_R plus a seeded random half of a candidate pool
(the members and the non-members), so every candidate is *in* about half of them. Per candidate, the restoration
statistic s = −log(MSE on the hole) of the models that trained on it and of those that did not give two Gaussians
(per-candidate means, one variance per side: the fixed-variance form, stable with few shadows); the model under test
scores log N(s; in) − log N(s; out). Reported: TPR at 0.1 % and 1 % FPR and the AUC, on D_F. With few non-members a
low FPR is reached only at zero false positives: the row records the FPR each threshold achieved.
"""

from __future__ import annotations

import dataclasses

import torch
import unlearn_bench
from unlearn_bench.attacks import Attack, AuditReport, Measure
from unlearn_bench.errors import CellFailed
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


@dataclasses.dataclass(frozen=True)
class LiraParams:
    shadows: int = dataclasses.field(
        default=8, metadata={"min": 2, "help": "shadow models, each trained on D_R and a random half of the candidates"}
    )
    batch_size: int = dataclasses.field(default=256, metadata={"min": 1})


@torch.no_grad()
def statistic(model, ctx, part: str, batch_size: int) -> torch.Tensor:
    """−log of each image's mean squared restoration error on the hole (higher: fits it better)."""
    model.eval()
    out = []
    for batch in ctx.batches(part, batch_size, shuffle=False):
        errors, counts = masked_squared_error(model.restore(batch.inputs, batch.mask), batch.targets, batch.mask)
        out.append(-torch.log((errors / counts.clamp_min(1)).double().clamp_min(1e-12)).cpu())
    return torch.cat(out)


def likelihood_ratios(shadow: torch.Tensor, inside: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per candidate, log N(target; in) − log N(target; out) from the shadows' statistics (shadows × candidates) and
    which shadow trained on which candidate; per-candidate means (the side's overall mean where no shadow is on that
    side), one variance per side."""
    scores = []
    for side in (inside, ~inside):
        count = side.sum(0)
        overall = shadow[side].mean()
        mean = torch.where(count > 0, (shadow * side).sum(0) / count.clamp_min(1), overall)
        spread = ((shadow - mean)[side]).pow(2).mean().sqrt().clamp_min(1e-6)
        scores.append(-0.5 * ((target - mean) / spread) ** 2 - torch.log(spread))
    return scores[0] - scores[1]


class Lira(Attack):
    """Per-example membership inference with shadow models (LiRA): TPR at 0.1 % and 1 % FPR and AUC on D_F."""

    name = "lira"
    behaviour_version = 1
    Params = LiraParams
    measures = {
        "tpr-0.1": Measure("LiRA TPR@0.1%FPR", higher_is_better=None, target=0.001),
        "tpr-1": Measure("LiRA TPR@1%FPR", higher_is_better=None, target=0.01),
        "auc": Measure("LiRA AUC", higher_is_better=None, target=0.5),
    }

    def audit(self, model, ctx):
        p = self.params
        members, nonmembers = ctx.data.size("forget"), ctx.data.size("holdout")
        if members == 0 or nonmembers == 0:
            raise CellFailed("lira needs forget-set images and held-out images of the same classes")
        draw = torch.Generator().manual_seed(ctx.seed * 1_000_003 + 515_151)  # the same halves for every method
        inside = torch.rand(p.shadows, members + nonmembers, generator=draw) < 0.5
        shadows = []
        for i in range(p.shadows):
            part = f"lira/{i}"
            chosen = inside[i].nonzero().flatten().tolist()
            try:
                ctx.data.define(
                    part,
                    [("retain", None), ("forget", [j for j in chosen if j < members]),
                     ("holdout", [j - members for j in chosen if j >= members])],
                )  # fmt: skip
            except ValueError as exc:
                raise CellFailed(f"lira: {exc} (poisoned suites are not supported yet)") from None

            def build(part=part, i=i):
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(ctx.seed * 7919 + i + 1)
                    shadow = ctx.new_model()
                    return ctx.fit(shadow, part, desc=f"lira shadow {i + 1}/{p.shadows}")

            key = {"index": i, "inside": inside[i].int().tolist()}
            shadows.append(ctx.cached_model("lira-shadow", key, build))

        def statistics(m):
            return torch.cat([statistic(m, ctx, "forget", p.batch_size), statistic(m, ctx, "holdout", p.batch_size)])

        shadow = torch.stack([statistics(s) for s in shadows])
        scores = likelihood_ratios(shadow, inside, statistics(model))
        member_scores, nonmember_scores = scores[:members], scores[members:]
        values, achieved = {"auc": {"forget": roc_auc(member_scores, nonmember_scores)}}, {}
        for name, fpr in (("tpr-0.1", 0.001), ("tpr-1", 0.01)):
            tpr, achieved[name] = tpr_at_fpr(member_scores, nonmember_scores, fpr)
            values[name] = {"forget": tpr}
        return AuditReport(
            values,
            {
                "shadows": p.shadows,
                "members": members,
                "nonmembers": nonmembers,
                "achieved_fpr": achieved,
                "signal": "-log mean squared restoration error on the hole, per image",
                "fpr_resolution": 1 / nonmembers,  # a lower FPR is reached only at zero false positives
            },
        )


@unlearn_bench.hookimpl
def register_attacks(register):
    register(MembershipInference)
    register(Lira)
