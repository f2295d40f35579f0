"""The metric meta-evaluation: known controls (the starting model has not forgotten, a retrained model has) and how
well each D_F column separates them, on synthetic rows built to separate or not."""

from __future__ import annotations

import pytest
from unlearn_bench.results import ResultStore, dump
from unlearn_bench.validity import hedges_g, render_validity

METRICS = [
    {"id": "psnr", "display_name": "PSNR", "higher_is_better": True, "reference": "ground-truth"},
    {"id": "fid-r", "display_name": "FID", "higher_is_better": False, "reference": "retrained"},
    {"id": "fid-o", "display_name": "FID", "higher_is_better": False, "reference": "original"},
    {"id": "noise", "display_name": "Noisy", "higher_is_better": True, "reference": "ground-truth"},
]


def write_suite(root, values: dict[tuple[str, int], dict[str, tuple[float, float | None]]]) -> ResultStore:
    """A store with one suite: rows for (method, seed) with {metric: (value, floor)} on D_F."""
    store = ResultStore(root)
    cells = []
    for (method, seed), metrics in values.items():
        cell_id = f"{method}-{seed}"
        axes = {"dataset": "d", "task": "t", "model": "m", "method": method}
        cells.append({"id": cell_id, "key": cell_id, "seed": seed, **axes})
        row = {
            "schema": 1,
            "cell": {"id": cell_id, "key": cell_id, "axes": axes},
            "seed": seed,
            "status": "ok",
            "config": {"method": {"name": method}, "attack": None},
            "metrics": [
                {"metric": m, "split": "forget", "value": v, **({"floor": f} if f is not None else {})}
                for m, (v, f) in metrics.items()
            ],
        }
        store.write("s", row)
    manifest = {
        "axes": {a: [{"id": i, "label": i}] for a, i in (("dataset", "d"), ("task", "t"), ("model", "m"))}
        | {"method": [{"id": "no-unlearning", "label": "none"}, {"id": "retrain", "label": "retrained"}]},
        "metrics": METRICS,
        "cells": cells,
    }
    (root / "s" / "suite.json").write_bytes(dump(manifest))
    return store


def test_columns_that_separate_the_controls_are_marked_and_the_others_not(tmp_path):
    values = {}
    for seed, noise in zip((0, 1, 2), (3.0, -2.0, 0.5)):
        # The untouched model restores D_F well (high PSNR) and sits 40 FID from the retrained model, whose twin sits
        # at 10 (the floor); 'noise' does not depend on forgetting.
        values["no-unlearning", seed] = {
            "psnr": (20 + 0.1 * seed, None),
            "fid-r": (40 + seed, 10 + seed),
            "fid-o": (0, None),
            "noise": (5 + noise, None),
        }
        values["retrain", seed] = {
            "psnr": (15 + 0.2 * seed, None),
            "fid-r": (0, None),
            "fid-o": (30, None),
            "noise": (5 - noise, None),
        }
    text = render_validity(write_suite(tmp_path, values))
    lines = {line.split(" | ")[2]: line for line in text.splitlines() if line.startswith("| s |")}
    # Lower PSNR against the ground truth on D_F is what forgetting looks like, and the column says so.
    assert lines["PSNR"].endswith("| yes |")
    # Against the retrained model, 'forgot' is the floor (10–12), never the retrained row's trivial 0.
    assert "(retrained, another seed (floor))" in lines["FID vs retrained"] and lines["FID vs retrained"].endswith(
        "| yes |"
    )
    assert lines["Noisy"].endswith("| no |")
    # A column against the model unlearning starts from compares that model with itself: left out.
    assert "FID vs original" not in lines
    assert "2 of 3 columns separate" in text


def test_hedges_g():
    assert hedges_g([1, 2, 3], [1, 2, 3]) == 0
    assert hedges_g([2, 3, 4], [1, 2, 3]) == pytest.approx(1 * (1 - 3 / (4 * 6 - 9)))
    assert hedges_g([1], [2, 3]) is None
    assert hedges_g([2, 2], [1, 1]) == float("inf")
