"""What a leaderboard column means and how rows feed it: its better direction, which stored rows are current, which
runs count for an audit, and a column's noise floor. Shared by the leaderboards, their figures and the metric
meta-evaluation."""

from __future__ import annotations

from typing import Any


def better(metric: dict[str, Any], split: str) -> str:
    """The better direction of a column — '↑', '↓', or '→ x' for a measure best at a target value — from the metric,
    its reference and the split; every place that ranks or marks columns asks here.

    A metric's ``higher_is_better`` says which way is closer to its reference. Closer is better against the ground
    truth, the retrained model and the original model (Realistic-I2I §5.1: outputs should move "closer to the original
    model if the retained dataset provides sufficient patterns"), and against the attack model on D_R and D_U. On
    D_F, farther from the attack model is better: "an effective unlearning process should increase the FID score
    relative to the attack model". Against the ground truth on D_F, worse restorations are what forgetting looks like:
    Li et al. count a higher forget-set FID as better, and the retrained model (the gold standard) restores D_F worse
    than the model trained on it (the metric meta-evaluation shows it in every suite).
    """
    target = metric.get("target")
    if isinstance(target, dict):  # a target per split; a split without one gets no direction (nothing is ranked)
        if split not in target:
            return ""
        target = target[split]
    if target is not None:
        return f"→ {target:g}"
    higher = metric["higher_is_better"]
    if split == "forget" and metric["reference"] in ("attack", "ground-truth"):
        higher = not higher
    return "↑" if higher else "↓"


def current_rows(manifest: dict[str, Any], all_rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The rows of the cells the manifest plans, with the planned key (stale rows are left out), by cell id."""
    planned = {c["id"]: c["key"] for c in manifest["cells"]}
    return {r["cell"]["id"]: r for r in all_rows if planned.get(r["cell"]["id"]) == r["cell"]["key"]}


def attack_took(row: dict[str, Any], metric_id: str) -> bool:
    """False for an audit's measure in a run where the audit's own attack did not take (``attack_succeeded`` false
    in its details): there the rate measures the attack's failure, not forgetting, so it is left out of means."""
    auditor = metric_id.split("/")[0] if "/" in metric_id else None
    details = ((row.get("audit") or {}).get(auditor) or {}) if auditor else {}
    return details.get("attack_succeeded", True) is not False


def floor_of(row: dict[str, Any], metric_id: str, split: str) -> float | None:
    """The noise floor a row records for a column: a metric result's ``floor`` (the metric for a second retrained model
    of another seed), or for an audit measure ``<audit>/<measure>`` its details' ``floor[measure][split]``."""
    if "/" in metric_id:
        auditor, measure = metric_id.split("/", 1)
        details = (row.get("audit") or {}).get(auditor) or {}
        return (details.get("floor") or {}).get(measure, {}).get(split)
    return next((m.get("floor") for m in row["metrics"] if m["metric"] == metric_id and m["split"] == split), None)


def forget_terms(
    row: dict[str, Any], split: str = "forget", floor: bool = False
) -> tuple[list[float], list[float]] | None:
    """The per-image numerator and denominator terms of a row's forget score on ``split``, if it has one; with
    ``floor``, those of its noise floor (the second retrained model's numerators over the same denominators; rows
    written before the audit recorded them lack them)."""
    for metric in row["metrics"]:
        if metric.get("name") == "forget-score" and metric["split"] == split:
            audit = (row.get("audit") or {}).get(metric["metric"].split("/")[0]) or {}
            terms = (audit.get("per_image") or {}).get(split)
            if not (isinstance(terms, dict) and "numerator" in terms and "denominator" in terms):
                return None
            if not floor:
                return terms["numerator"], terms["denominator"]
            twin = ((audit.get("floor_per_image") or {}).get(split) or {}).get("numerator")
            return (twin, terms["denominator"]) if twin is not None else None
    return None
