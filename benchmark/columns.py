"""What a leaderboard column means: its better direction, and which stored rows are current. Shared by the
leaderboards and the metric meta-evaluation."""

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
