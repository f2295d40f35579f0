"""The metric meta-evaluation: known controls (the starting model has not forgotten, a retrained model has) and how
well each D_F column separates them, on synthetic rows built to separate or not."""

from __future__ import annotations

import numpy as np
import pytest
from unlearn_bench.leaderboard import write_leaderboards
from unlearn_bench.results import ResultStore, dump
from unlearn_bench.validity import FIGURE, hedges_g, render_validity

METRICS = [
    {"id": "psnr", "display_name": "PSNR", "higher_is_better": True, "reference": "ground-truth"},
    {"id": "fid-r", "display_name": "FID", "higher_is_better": False, "reference": "retrained"},
    {"id": "fid-o", "display_name": "FID", "higher_is_better": False, "reference": "original"},
    {"id": "noise", "display_name": "Noisy", "higher_is_better": True, "reference": "ground-truth"},
]
METHODS = ("no-unlearning", "retrain")


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
        "tables": [],
        "seeds": sorted({seed for _, seed in values}),
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


def test_separation_grows_with_the_number_of_evaluation_images_where_images_are_the_noise():
    """Synthetic per-image PSNR: the untouched model restores D_F 1 dB better than the retrained model on average,
    with per-image noise of 4 dB and no seed-to-seed spread, so few images hide the gap and many reveal it."""
    from unlearn_bench.validity import separation_by_images

    generator = np.random.default_rng(1)
    kept = {s: list(21 + 4 * generator.standard_normal(200)) for s in range(3)}
    forgot = {s: list(20 + 4 * generator.standard_normal(200)) for s in range(3)}
    by_n, p_by_n = separation_by_images(METRICS[0], forgot, kept, counts=(5, 50, 150), draws=100)
    assert set(by_n) == set(p_by_n) == {5, 50, 150, 200}  # the counts every seed has, and all 200 images
    # PSNR is better lower on D_F (the retrained side restores worse), so forgetting shows as a positive g, and the
    # paired test's p falls as the images stop hiding the gap.
    assert 0 < by_n[5] < by_n[50] < by_n[150]
    assert p_by_n[5] > 0.05 > p_by_n[200]
    assert p_by_n[5] > p_by_n[50] > p_by_n[150]
    assert (by_n, p_by_n) == separation_by_images(METRICS[0], forgot, kept, counts=(5, 50, 150), draws=100)  # seeded
    # Counts beyond what a seed has are left out.
    few = separation_by_images(METRICS[0], {0: [1.0] * 8, 1: [2.0] * 8}, {0: [3.0] * 8, 1: [4.0] * 8})
    assert set(few[0]) == {5, 8}


def test_the_validity_page_tabulates_separation_by_image_count_from_rows_with_per_image_values(tmp_path):
    values = {
        (m, s): {"psnr": (20.0 - 5 * (m == "retrain") + s, None)} for m in ("no-unlearning", "retrain") for s in (0, 1)
    }
    store = write_suite(tmp_path, values)
    assert "No committed rows keep per-image values yet" in render_validity(store)
    for row in store.rows("s"):
        base = row["metrics"][0]["value"]
        row["metrics"][0]["per_image"] = [base + d for d in (-1.0, 1.0, -2.0, 2.0, 0.5, -0.5, 0.0, 0.0)]
        store.write("s", row)
    text = render_validity(store)
    line = next(line for line in text.splitlines() if line.startswith("| s | — | PSNR |") and "(8)" in line)
    assert line.split(" | ")[3] != "—" and line.endswith("(8) |")  # n = 5 computed; all 8 images at the end
    assert ", p " in line.split(" | ")[3]  # with the paired test's p


def test_a_floor_has_no_images_to_resample_so_columns_against_the_retrained_model_get_no_image_count_row(tmp_path):
    values = {(m, s): {"fid-r": (5.0 + 30 * (m == "no-unlearning") + s, 4.0 + s)} for m in METHODS for s in (0, 1)}
    store = write_suite(tmp_path, values)
    for row in store.rows("s"):  # the retrained row's per-image values measure it against itself
        row["metrics"][0]["per_image"] = [row["metrics"][0]["value"]] * 8
        store.write("s", row)
    text = render_validity(store)
    assert "FID vs retrained" in text.split("## Separation against")[0]
    assert "FID vs retrained" not in text.split("## Separation against")[1]


def test_feature_metrics_recorded_on_image_subsets_get_their_separation_by_image_count(tmp_path):
    """Synthetic FID on D_F: the retrained model sits 10 below the untouched one on average, but each subset of n
    images adds noise of sd 40/sqrt(n) to both (the same subset for both controls of a seed, independent between
    them), so g grows with n; the value on all 100 images has no such noise."""
    generator = np.random.default_rng(3)
    values = {(m, s): {"fid-o": (60.0 - 10 * (m == "retrain") + s, None)} for m in METHODS for s in (0, 1, 2)}
    store = write_suite(tmp_path, values)
    for row in store.rows("s"):
        entry = row["metrics"][0]
        entry["images"] = 100
        entry["subsets"] = {
            str(n): list(entry["value"] + 40 / np.sqrt(n) * generator.standard_normal(25)) for n in (3, 30)
        }
        # Without an attack, 'FID vs original' would compare the starting model with itself: a poisoned suite.
        row["config"]["attack"] = {"name": "backdoor"}
        store.write("s", row)
    text = render_validity(store)
    section = text[text.index("## FID and KID against the number of evaluation images") :]
    assert "| n = 3 | n = 30 | all images |" in section
    line = next(line for line in section.splitlines() if line.startswith("| s | — | FID vs original |"))
    cells = line.strip(" |").split(" | ")[3:]
    g3, g30, whole = (float(cell.split(",")[0]) for cell in cells)
    assert 0 < g3 < g30 < whole and line.endswith("(100) |")
    # Each count also gives the paired t-test's p over the seeds (median over the subsets): smaller with more images.
    p3, p30, p_whole = (float(cell.split("p ")[1].split(" ")[0]) for cell in cells)
    assert 1 >= p3 > p30 >= p_whole >= 0
    # The page shows the curves as a figure, written beside it and then up to date.
    assert f"]({FIGURE})" in text
    changed, _ = write_leaderboards(store, tmp_path / "out", suites=[])
    assert (tmp_path / "out" / FIGURE).read_bytes().startswith(b"\x89PNG") and tmp_path / "out" / FIGURE in changed
    assert write_leaderboards(store, tmp_path / "out", suites=[], check=True)[0] == []


def test_separation_by_images_takes_ratios_of_sums_where_rows_keep_denominators():
    """The forget score of a set of images is Σ numerators / Σ denominators, not the mean of per-image ratios: with
    unit denominators the separation is the plain one; with others, 'all images' is the ratio of the sums."""
    from unlearn_bench.validity import _oriented, separation_by_images

    score = {"id": "fs/score", "display_name": "Forget score", "higher_is_better": None, "target": {"forget": 1.0}}
    generator = np.random.default_rng(2)
    forgot = {s: list(0.8 + 0.5 * generator.standard_normal(12)) for s in range(3)}
    kept = {s: [0.0] * 12 for s in range(3)}  # the starting model scores exactly 0 on every image
    ones = ({s: [1.0] * 12 for s in range(3)}, {s: [1.0] * 12 for s in range(3)})
    assert separation_by_images(score, forgot, kept, counts=(5,), draws=20) == separation_by_images(
        score, forgot, kept, counts=(5,), draws=20, denominators=ones
    )
    weights = {s: list(generator.uniform(0.1, 3.0, 12)) for s in range(3)}
    by_n, _ = separation_by_images(score, forgot, kept, counts=(5,), draws=20, denominators=(weights, weights))
    ratios = [sum(forgot[s]) / sum(weights[s]) for s in range(3)]
    assert by_n[12] == pytest.approx(hedges_g(_oriented(score, ratios), _oriented(score, [0.0] * 3)))
    assert ratios != pytest.approx([np.mean(np.divide(forgot[s], weights[s])) for s in range(3)])
