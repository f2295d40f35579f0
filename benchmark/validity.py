"""Metric meta-evaluation: how well each leaderboard column tells a model that forgot D_F from one that did not, on
controls whose answer is known.

In every suite, two rows are known answers:

- *did not forget*: the row without unlearning, i.e. the model unlearning starts from (the original model, or the
  attack model of a poisoned suite). It was trained on D_F (and, poisoned, paints the marker).
- *forgot*: a model retrained without D_F. For columns against the ground truth and for audit measures this is the
  retrained model's own row. Columns against the retrained model (distance 0 to itself by construction) and the
  forget score (1 by construction) use their noise floor instead: the same column for a second retrained model of
  another seed, which forgot just as much but is not the reference.

For each D_F column of each suite (per hole size, fraction or other varying axis), the two controls' values over
seeds give the *separation*: the difference of their means in units of their pooled standard deviation (Hedges' g,
small-sample corrected) of the values turned so that higher is better by the column's direction (a distance to the
target, negated, for a column best at a target), and a t-test of the difference paired over seeds (a seed fixes the
split both controls share). A column that cannot separate
these controls cannot rank methods by how much they forgot, whatever its table says. Generated from committed rows by
``unlearn-bench leaderboard``.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import defaultdict

import numpy as np

from .columns import attack_took, better, current_rows, floor_of, forget_terms
from .results import ResultStore
from .stats import ALPHA, format_mean, paired_p

AXES = ("dataset", "task", "model")
NOT_FORGOT, FORGOT = "no-unlearning", "retrain"
IMAGE_COUNTS = (5, 10, 20, 50, 100, 200)  # evaluation images per seed at which the separation is recomputed
DRAWS = 200  # random image subsets per count


def hedges_g(a: list[float], b: list[float]) -> float | None:
    """(mean a − mean b) / pooled sd, with Hedges' small-sample correction; None with fewer than 2 values a side,
    infinite when both sides are constant and differ."""
    if len(a) < 2 or len(b) < 2:
        return None
    pooled = math.sqrt(
        ((len(a) - 1) * statistics.variance(a) + (len(b) - 1) * statistics.variance(b)) / (len(a) + len(b) - 2)
    )
    difference = statistics.fmean(a) - statistics.fmean(b)
    if pooled == 0:
        return 0.0 if difference == 0 else math.copysign(math.inf, difference)
    return difference / pooled * (1 - 3 / (4 * (len(a) + len(b)) - 9))


def _plugin(row: dict) -> str | None:
    return (row.get("config") or {}).get("method", {}).get("name")


def _control_entries(rows: list[dict], metric: dict):
    """(row, its control: FORGOT or NOT_FORGOT, its D_F entry of the column) for every row of a control whose run
    has a known answer (the attack, if any, took) and that measured the column."""
    for row in rows:
        if row["status"] != "ok" or _plugin(row) not in (FORGOT, NOT_FORGOT):
            continue
        if not attack_took(row, metric["id"]):
            continue  # the attack model never learned the trigger: no known answer in this run
        entry = next((m for m in row["metrics"] if m["metric"] == metric["id"] and m["split"] == "forget"), None)
        if entry is not None:
            yield row, _plugin(row), entry


def _controls(rows: list[dict], metric: dict) -> tuple[dict[int, float], dict[int, float], str]:
    """(forgot, did not forget) values per seed of one D_F column, and what stands for 'forgot': the noise floor the
    starting model's rows record (always for a column against the retrained model), else the retrained model's row.
    Empty for a column against the model unlearning starts from: there the 'not forgotten' control is the reference."""
    ok = [row for row in rows if row["status"] == "ok"]
    if ok and metric.get("reference") == ("attack" if (ok[0].get("config") or {}).get("attack") else "original"):
        return {}, {}, ""
    floors: dict[int, float] = {}
    kept: dict[int, float] = {}
    retrained: dict[int, float] = {}
    for row, control, entry in _control_entries(ok, metric):
        if control == NOT_FORGOT:
            kept[row["seed"]] = entry["value"]
            floor = floor_of(row, metric["id"], "forget")
            if floor is not None:
                floors[row["seed"]] = floor
        else:
            retrained[row["seed"]] = entry["value"]
    # An audit measure's floor is a retrained model's (the forget score's twin); a metric's is its reference's twin.
    if metric.get("reference") == "retrained" or (metric.get("reference") is None and floors):
        return floors, kept, "retrained, another seed (floor)"
    return retrained, kept, "retrained"


def _controls_with(rows: list[dict], metric: dict, field: str) -> tuple[dict[int, dict], dict[int, dict]]:
    """(retrained, starting model) D_F entries per seed that hold ``field`` (``per_image`` values, ``subsets``), for
    the seeds both controls have; for a column whose 'forgot' control is the retrained model's own row (a floor is
    one number: it has no images to resample)."""
    found: dict[str, dict[int, dict]] = {FORGOT: {}, NOT_FORGOT: {}}
    for row, control, entry in _control_entries(rows, metric):
        if entry.get(field):
            found[control][row["seed"]] = entry
    seeds = set(found[FORGOT]) & set(found[NOT_FORGOT])
    return {s: found[FORGOT][s] for s in seeds}, {s: found[NOT_FORGOT][s] for s in seeds}


def _floor_terms(rows: list[dict], metric: dict) -> tuple[tuple[dict, dict], tuple[dict, dict]]:
    """For the forget score: ((floor, starting model) numerators, (their denominators)) per seed, both from the
    starting model's rows, which record the second retrained model's per-image terms beside their own (all 0). Empty
    for any other column, and for rows made before the floor's terms were recorded."""
    numerators: tuple[dict, dict] = ({}, {})
    denominators: tuple[dict, dict] = ({}, {})
    for row, control, entry in _control_entries(rows, metric):
        if control != NOT_FORGOT or entry.get("name") != "forget-score":
            continue
        floor, own = forget_terms(row, floor=True), forget_terms(row)
        if floor is not None and own is not None:
            for side, (found, below) in enumerate((floor, own)):
                numerators[side][row["seed"]] = found
                denominators[side][row["seed"]] = below
    return numerators, denominators


def separation_by_images(
    metric: dict,
    forgot: dict[int, list[float]],
    kept: dict[int, list[float]],
    counts: tuple[int, ...] = IMAGE_COUNTS,
    draws: int = DRAWS,
    seed: int = 0,
    denominators: tuple[dict[int, list[float]], dict[int, list[float]]] | None = None,
) -> tuple[dict[int, float], dict[int, float]]:
    """Hedges' g and the paired t-test's p between the two controls when each seed's value is the mean over only
    ``n`` of its evaluation images (the medians over ``draws`` random subsets, the same images for both controls
    where a seed's two rows have the same number of images, as they do when they share the split), for each ``n`` of
    ``counts`` that every seed has, and at all of its images (key: the smallest image count of any seed). With
    ``denominators`` (each side's per seed), a seed's value is the ratio of the sums over the images, as the forget
    score is: ``forgot`` and ``kept`` then hold the numerators."""
    generator = np.random.default_rng(seed)
    seeds = sorted(forgot)
    available = min(min(len(forgot[s]), len(kept[s])) for s in seeds)

    def terms(values: list[float], weights: list[float] | None) -> tuple[np.ndarray, np.ndarray]:
        """(numerators, denominators) of one seed's images: a unit denominator each for a plain mean."""
        numerators = np.asarray(values, dtype=float)
        return numerators, np.ones_like(numerators) if weights is None else np.asarray(weights, dtype=float)

    below = denominators or ({}, {})
    arrays = {s: (terms(forgot[s], below[0].get(s)), terms(kept[s], below[1].get(s))) for s in seeds}
    g_by_n: dict[int, float] = {}
    p_by_n: dict[int, float] = {}
    for n in [c for c in counts if c < available]:
        found = []
        for _ in range(draws):
            a, b = {}, {}
            for s in seeds:
                (x, dx), (y, dy) = arrays[s]
                pick = generator.choice(len(x), n, replace=False)
                other = pick if len(y) == len(x) else generator.choice(len(y), n, replace=False)
                a[s] = _ratio_of_sums(x[pick], dx[pick])
                b[s] = _ratio_of_sums(y[other], dy[other])
            found.append(_separation(metric, a, b))
        _record_medians(g_by_n, p_by_n, n, found)
    whole = (
        {s: _ratio_of_sums(*arrays[s][0]) for s in seeds},
        {s: _ratio_of_sums(*arrays[s][1]) for s in seeds},
    )
    _record_medians(g_by_n, p_by_n, available, [_separation(metric, *whole)])
    return g_by_n, p_by_n


def _ratio_of_sums(numerators: np.ndarray, denominators: np.ndarray) -> float:
    """Σ numerators / Σ denominators (the mean where every denominator is 1); NaN where the denominators sum to 0."""
    total = float(denominators.sum())
    return float(numerators.sum()) / total if total > 0 else math.nan


def separation_by_subsets(
    metric: dict, forgot: dict[int, dict], kept: dict[int, dict]
) -> tuple[dict[int, float], dict[int, float]]:
    """Hedges' g and the paired t-test's p between the two controls for each subset size every seed recorded: the
    medians over the subsets (subset k is the same images for both controls of a seed, as evaluation draws them per
    split and size) of g and p between the seeds' values on subset k; and at all images (key: the smallest image
    count of any seed)."""
    seeds = sorted(forgot)
    entries = [forgot[s] for s in seeds] + [kept[s] for s in seeds]
    sizes = set.intersection(*(set(entry["subsets"]) for entry in entries))
    g_by_n: dict[int, float] = {}
    p_by_n: dict[int, float] = {}
    for n in sorted(sizes, key=int):
        found = [
            _separation(
                metric, {s: forgot[s]["subsets"][n][k] for s in seeds}, {s: kept[s]["subsets"][n][k] for s in seeds}
            )
            for k in range(min(len(entry["subsets"][n]) for entry in entries))
        ]
        _record_medians(g_by_n, p_by_n, int(n), found)
    whole = min(entry["images"] for entry in entries)
    found = [_separation(metric, {s: forgot[s]["value"] for s in seeds}, {s: kept[s]["value"] for s in seeds})]
    _record_medians(g_by_n, p_by_n, whole, found)
    return g_by_n, p_by_n


def _record_medians(
    g_by_n: dict[int, float], p_by_n: dict[int, float], n: int, found: list[tuple[float | None, float | None]]
) -> None:
    """Store at ``n`` the medians of the (g, p) pairs in ``found`` that have each (``_separation`` gives None for
    what it cannot compute)."""
    if gs := [g for g, _ in found if g is not None]:
        g_by_n[n] = float(np.median(gs))
    if ps := [p for _, p in found if p is not None]:
        p_by_n[n] = float(np.median(ps))


def _separation(metric: dict, forgot: dict[int, float], kept: dict[int, float]) -> tuple[float | None, float | None]:
    """(Hedges' g, the p of a t-test paired over seeds) between the controls' values per seed, turned so that higher
    is better on D_F; (None, None) for a column without a direction."""
    oriented = (_oriented(metric, list(forgot.values())), _oriented(metric, list(kept.values())))
    if oriented[0] is None:
        return None, None
    return hedges_g(*oriented), paired_p(dict(zip(forgot, oriented[0])), dict(zip(kept, oriented[1])))


def _oriented(metric: dict, values: list[float]) -> list[float] | None:
    """The values turned so that higher is better on D_F (a target's distance, negated); None without a direction."""
    arrow = better(metric, "forget")
    if arrow.startswith("→"):
        target = float(arrow[2:])
        return [-abs(v - target) for v in values]
    return {"↑": values, "↓": [-v for v in values]}.get(arrow)


# One column's separation at each number of evaluation images: (suite, setting, column heading, {images: g},
# {images: paired p}); the largest image count is 'all images'.
Curve = tuple[str, str, str, dict[int, float], dict[int, float]]
FIGURE = "metric-validity-images.png"


@dataclasses.dataclass
class Validity:
    """The page ``metric-validity.md`` and the separation curves its figure draws: columns with per-image values
    (``by_images``) and feature metrics with image subsets (``by_subsets``)."""

    markdown: str
    by_images: list[Curve]
    by_subsets: list[Curve]


def render_validity(store: ResultStore) -> str:
    """``metric-validity.md``: the separation of the known controls by every D_F column of every suite."""
    return survey(store).markdown


def survey(store: ResultStore) -> Validity:
    """The separation of the known controls by every D_F column of every suite, and how it grows with images."""
    out = [
        "<!-- Generated by `unlearn-bench leaderboard` from the result store. Do not edit. -->",
        "# Which metrics tell forgetting apart?",
        "",
        "Every suite has two rows whose answer is known: the model unlearning starts from has **not forgotten** D_F "
        "(it was trained on it; in poisoned suites it paints the `+`), and a model retrained without D_F **has**. "
        "For each column on D_F, the table gives both controls' means over seeds (± 95 % t-interval) and how far "
        "apart they are: Hedges' g (the difference of the means in pooled standard deviations, small-sample "
        "corrected; positive = the retrained side is better by the column's own direction) and a t-test paired over "
        "seeds (each seed fixes the split both controls share). "
        "Columns measured against the retrained model are 0 (and the forget score 1) for the retrained row by "
        "construction, so their 'forgot' side is the noise floor: a retrained model of another seed. A column that "
        "does not separate these controls cannot rank methods by how much they forgot. Runs whose attack did not "
        "take are left out. With 2–3 seeds per side the test has little power: 'no' means not shown, not shown "
        "equal. How the separation grows with the number of evaluation images is in the second table, for the "
        "columns whose rows keep each image's value. Tuning suites are left out: their controls are their base "
        "suite's cells again.",
        "",
        "| suite | setting | column on D_F | forgot (source) | not forgotten | Hedges' g | p (paired t) | separates |",
        "|---|---|---|---|---|---|---|---|",
    ]
    counted = defaultdict(int)
    by_images: list[Curve] = []
    by_subsets: list[Curve] = []
    for name in store.suites():
        manifest = store.manifest(name)
        if manifest.get("tuning"):  # its controls are its base suite's cells again: counting them twice adds nothing
            continue
        rows = list(current_rows(manifest, store.rows(name)).values())
        labels = {axis: {a["id"]: a["label"] for a in manifest["axes"][axis]} for axis in AXES}
        varying = [a for a in AXES if len({c[a] for c in manifest["cells"]}) > 1]
        groups: dict[tuple, list[dict]] = defaultdict(list)
        for row in rows:
            groups[tuple(row["cell"]["axes"][a] for a in varying)].append(row)
        for context, members in sorted(groups.items()):
            setting = " · ".join(labels[a][v] for a, v in zip(varying, context)) or "—"
            for metric in manifest["metrics"]:
                forgot, kept, source = _controls(members, metric)
                if not forgot or not kept:
                    continue
                if _oriented(metric, []) is None:
                    continue  # a column without a direction cannot say which control is better
                a, b = list(forgot.values()), list(kept.values())
                g, p = _separation(metric, forgot, kept)
                separates = p is not None and p < ALPHA and g is not None and g > 0
                counted["columns"] += 1
                counted["separating"] += separates
                shown_g = "—" if g is None else f"{g:.2g}"
                heading = metric["display_name"] + (
                    f" vs {metric['reference']}" if metric.get("reference") not in (None, "ground-truth") else ""
                )
                out.append(
                    f"| {name} | {setting} | {heading} | {format_mean(a)} ({source}) | {format_mean(b)} | {shown_g} | "
                    f"{'—' if p is None else f'{p:.2g}'} | {'yes' if separates else 'no'} |"
                )
                if source == "retrained":
                    images_forgot, images_kept = _controls_with(members, metric, "per_image")
                    values = (
                        {seed: entry["per_image"] for seed, entry in images_forgot.items()},
                        {seed: entry["per_image"] for seed, entry in images_kept.items()},
                    )
                    denominators = None
                else:
                    values, denominators = _floor_terms(members, metric)
                if len(values[0]) > 1:
                    g_by_n, p_by_n = separation_by_images(metric, *values, denominators=denominators)
                    by_images.append((name, setting, heading, g_by_n, p_by_n))
                if source != "retrained":  # a metric's floor is one number per seed: it has no image subsets
                    continue
                subsets_forgot, subsets_kept = _controls_with(members, metric, "subsets")
                if len(subsets_forgot) > 1:
                    g_by_n, p_by_n = separation_by_subsets(metric, subsets_forgot, subsets_kept)
                    by_subsets.append((name, setting, heading, g_by_n, p_by_n))
    out += [
        "",
        f"{counted['separating']} of {counted['columns']} columns separate the controls at p < {ALPHA:g} in the "
        "direction their tables call better.",
        "",
    ]
    if by_images or by_subsets:
        out += [
            f"![Hedges' g between the controls against the number of evaluation images]({FIGURE})",
            "",
            "The figure draws the two tables below: each line is one column of one suite and setting, coloured by "
            "column; g is clipped to the plot's range.",
            "",
        ]
    markdown = "\n".join(out + _render_by_images(by_images) + _render_by_subsets(by_subsets))
    return Validity(markdown, by_images, by_subsets)


def _render_by_images(found: list[Curve]) -> list[str]:
    """The second table: Hedges' g and p of each column with per-image values at each number of evaluation
    images."""
    out = [
        "## Separation against the number of evaluation images",
        "",
        f"For the columns whose rows keep each image's value (PSNR, the backdoor regeneration rate) and whose "
        f"'forgot' control is the retrained model's own row, and for the forget score where the starting model's "
        f"rows keep its floor's per-image terms (a second retrained model's; newer rows do): Hedges' g "
        f"between the controls and the p of the t-test paired over seeds when each seed's value is taken over only "
        f"n of its D_F evaluation images (the mean, or for the forget score the ratio of the summed terms; the "
        f"medians over {DRAWS} random subsets, the same images for both controls), and over all of them (the count "
        f"in brackets). A column whose g is still small at all images needs more seeds, not more images; one whose "
        f"g grows with n is limited by images. FID and KID are not means over images: they have the next table.",
        "",
    ]
    if not found:
        return out + ["No committed rows keep per-image values yet (rows written since 2026-12-01 do).", ""]
    return out + _g_table(found, IMAGE_COUNTS)


def _render_by_subsets(found: list[Curve]) -> list[str]:
    """The third table: Hedges' g of each feature metric at each image-subset size its rows recorded."""
    out = [
        "## FID and KID against the number of evaluation images",
        "",
        "For the feature metrics whose rows record their values on random subsets of the evaluation images "
        "(`evaluate.image_subsets`: random subsets of each size, drawn without replacement, the same images for every "
        "model of a seed) and whose 'forgot' control is the retrained model's own row: Hedges' g between the controls "
        "and the p of the t-test paired over seeds, each computed on every subset (the medians over the subsets), and "
        "on all images (the count in brackets). FID and KID are not means over images, so this needs the metric "
        "recomputed on each subset at evaluation time.",
        "",
    ]
    if not found:
        return out + ["No committed rows record feature metrics on image subsets yet.", ""]
    counts = tuple(sorted({n for *_, by_n, _ in found for n in by_n if n != max(by_n)}))
    return out + _g_table(found, counts)


def _g_table(found: list[Curve], counts: tuple[int, ...]) -> list[str]:
    """A row per curve: g at each image count, with its p where the curve has one; the largest count is 'all
    images'."""
    out = [
        "| suite | setting | column on D_F | " + " | ".join(f"n = {n}" for n in counts) + " | all images |",
        "|---|---|---|" + "---|" * (len(counts) + 1),
    ]
    for name, setting, heading, by_n, p_by_n in found:
        whole = max(by_n) if by_n else None
        cells = [_shown_g_p(by_n, p_by_n, n) if n != whole else "—" for n in counts]
        last = "—" if whole is None else f"{_shown_g_p(by_n, p_by_n, whole)} ({whole})"
        out.append(f"| {name} | {setting} | {heading} | " + " | ".join(cells) + f" | {last} |")
    return out + [""]


def _shown_g_p(g_by_n: dict[int, float], p_by_n: dict[int, float], n: int) -> str:
    return _shown_g(g_by_n.get(n)) + (f", p {p_by_n[n]:.2g}" if n in p_by_n else "")


def _shown_g(g: float | None) -> str:
    if g is None:
        return "—"
    return "∞" if math.isinf(g) and g > 0 else "−∞" if math.isinf(g) else f"{g:.2g}"
