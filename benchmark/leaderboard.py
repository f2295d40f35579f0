"""Markdown leaderboards, built from the result store and nothing else.

One table per ``leaderboard.tables`` entry of the suite (or one per dataset × task × model when the suite names
none): methods as rows; metrics × evaluation splits as columns, with an arrow for the better direction; the mean over
the seeds that finished with its 95 % interval, and marks for what the seeds can tell apart (``stats``). The paper's
reported numbers, when the suite carries them, follow in a table of their own, so that they are never mistaken for
ours.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from tabulate import tabulate

from .columns import attack_took, better, current_rows, floor_of, forget_terms
from .errors import UserError
from .figures import (
    ascent_curves,
    embedding_maps,
    output_grids,
    relearn_curves,
    same_picture,
    separation_figure,
    tradeoff_figures,
    tuning_figures,
)
from .paths import atomic_write_bytes
from .plan import expand
from .results import ResultStore
from .stats import (
    ROUNDING,
    ImageTerms,
    draws_noise,
    format_mean,
    half_width,
    holm,
    kendall_tau,
    paired_p,
    ratio_noise,
)
from .suite import load_suite
from .suitefile import merged_yaml
from .tuning import choices, describe_assignment, rule_of, settings, view
from .validity import FIGURE as VALIDITY_FIGURE
from .validity import survey

SPLIT_LABELS = {"retain": "D_R", "forget": "D_F", "unseen": "D_U"}
VALIDITY = "metric-validity.md"
AXES = ("dataset", "task", "model")


REFERENCE_METHODS = ("no-unlearning", "retrain")  # rows that frame a table; the verdict marks rank the others
FLOOR_LABEL = "Noise floor: the column's reference model vs one of another seed"
LEGEND = (
    "mean ± half-width of the 95 % t-interval over seeds. **Bold**: the best unlearning method of the column and "
    "every one not shown to differ from it (paired t-tests over seeds, the difference's variance at least its images' "
    "paired noise where rows keep it; Holm-corrected, α = 0.05); † on D_F: not shown "
    "to differ from no unlearning (the method may have done nothing). With 2–3 seeds the tests have little power."
)


def _default_tables(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    axes = manifest["axes"]
    tables = []
    for dataset in axes["dataset"]:
        for task in axes["task"]:
            for model in axes["model"]:
                tables.append(
                    {
                        "id": f"{dataset['id']}-{task['id']}-{model['id']}",
                        "title": f"{dataset['label']} · {task['label']} · {model['label']}",
                        "caption": None,
                        "where": {"dataset": dataset["id"], "task": task["id"], "model": model["id"]},
                        "metrics": None,
                        "splits": ["retain", "forget"],
                        "paper": None,
                    }
                )
    return tables


def _column_heading(metric: dict[str, Any], split: str) -> str:
    reference = "" if metric["reference"] in (None, "ground-truth") else f" vs {metric['reference']}"
    return " ".join(
        part for part in (f"{metric['display_name']}{reference}", better(metric, split), SPLIT_LABELS[split]) if part
    )


def _render_table(table: dict, manifest: dict, rows: dict[str, dict], footnotes: list[str]) -> str:
    metrics = {m["id"]: m for m in manifest["metrics"]}
    chosen = [metrics[i] for i in table["metrics"]] if table["metrics"] else list(metrics.values())
    columns = [(m, split) for m in chosen for split in table["splits"]]
    labels = {axis: {a["id"]: a["label"] for a in manifest["axes"][axis]} for axis in manifest["axes"]}
    cells = [c for c in manifest["cells"] if all(c[axis] == v for axis, v in table["where"].items())]
    # Axes the table does not pin and that vary become part of the row label.
    varying = [a for a in AXES if a not in table["where"] and len({c[a] for c in cells}) > 1]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for cell in cells:
        groups[(cell["method"], *(cell[a] for a in varying))].append(cell)
    method_order = [m["id"] for m in manifest["axes"]["method"]]
    order = sorted(groups, key=lambda g: (method_order.index(g[0]), g[1:]))
    by_seed: dict[tuple, list[dict[int, float]]] = {}  # group → per column: seed → value
    images: dict[tuple, list[dict[int, ImageTerms]]] = {}  # group → per column: seed → its image-level terms
    plugin: dict[tuple, str | None] = {}  # group → its method's plugin name
    body = []
    for group in order:
        planned = groups[group]
        found = [rows[c["id"]] for c in planned if c["id"] in rows]
        ok = [r for r in found if r["status"] == "ok"]
        plugin[group] = next((r["config"]["method"]["name"] for r in found if "method" in r.get("config", {})), None)
        for r in found:
            if r["status"] != "ok":
                footnotes.append(f"`{r['cell']['id']}` failed: {r['error']['type']}: {r['error']['message']}")
        label = " · ".join([labels["method"][group[0]], *(labels[a][v] for a, v in zip(varying, group[1:]))])
        line = [label]
        by_seed[group], images[group] = [], []
        for metric, split in columns:
            took = [r for r in ok if attack_took(r, metric["id"])]
            seeds = _seed_values(took, metric["id"], split)
            by_seed[group].append(seeds)
            images[group].append(_seed_images(took, metric["id"], split))
            note = f" (n={len(took)})" if seeds and len(took) < len(ok) else ""
            line.append(format_mean(list(seeds.values())) + note)
        failed = len(found) - len(ok)
        line.append(f"{len(ok)}/{len(planned)}" + (f" ({failed} failed)" if failed else ""))
        body.append(line)
    body += _floor_rows(columns, [rows[c["id"]] for c in cells if c["id"] in rows], varying, labels)
    for c, (metric, split) in enumerate(columns):
        column = [by_seed[g][c] for g in order], [images[g][c] for g in order]
        for group, (bold, dagger) in _verdicts(order, plugin, *column, metric, split).items():
            line = body[order.index(group)]
            line[c + 1] = (f"**{line[c + 1]}**" if bold else line[c + 1]) + (" †" if dagger else "")
    footnotes.append(LEGEND)
    footnotes += _attack_footnotes(chosen, [rows[c["id"]] for c in cells if c["id"] in rows], varying, labels)
    headers = ["Method", *(_column_heading(m, s) for m, s in columns), "Seeds"]
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)


def _floor_rows(columns: list[tuple[dict, str]], rows: list[dict], varying: list[str], labels: dict) -> list[list[str]]:
    """Noise-floor rows: where a metric result records ``floor`` (the metric between a second model of its reference's
    kind, trained with another seed, and the reference) or an audit records ``floor[measure][split]``, one row per
    value of the varying axes with the floor's mean over seeds (every method of a seed shares it)."""
    floors: dict[tuple, list[dict[int, float]]] = defaultdict(lambda: [{} for _ in columns])
    for row in rows:
        if row["status"] != "ok":
            continue
        context = tuple(row["cell"]["axes"][a] for a in varying)
        for c, (metric, split) in enumerate(columns):
            value = floor_of(row, metric["id"], split)
            if value is not None:
                floors[context][c][row["seed"]] = value
    return [
        [
            " · ".join([FLOOR_LABEL, *(labels[a][v] for a, v in zip(varying, key))]),
            *(format_mean(list(seeds.values())) if seeds else "" for seeds in values),
            "",
        ]
        for key, values in sorted(floors.items())
    ]


def _seed_values(rows: list[dict], metric_id: str, split: str) -> dict[int, float]:
    """A column's value per seed, from the rows of one table row."""
    return {
        r["seed"]: m["value"] for r in rows for m in r["metrics"] if m["metric"] == metric_id and m["split"] == split
    }


def _seed_images(rows: list[dict], metric_id: str, split: str) -> dict[int, ImageTerms]:
    """A column's image-level terms per seed, where the rows keep them: a feature metric's values on resampled
    images, a mean's per-image values, the forget score's per-image numerators and denominators."""
    found = {}
    for r in rows:
        for m in r["metrics"]:
            if m["metric"] != metric_id or m["split"] != split:
                continue
            if m.get("bootstrap"):
                terms = ImageTerms.of_draws(m["bootstrap"])
            elif m.get("per_image"):
                terms = ImageTerms.of_mean(m["per_image"])
            else:
                ratio = forget_terms(r, split)
                terms = ratio and ImageTerms.of_ratio(*ratio)
            if terms is not None:
                found[r["seed"]] = terms
    return found


def _slope(direction: str, value: float) -> float:
    """How a column's loss moves with its value at ``value``: the sign its better direction gives (a distance to a
    target turns at the target)."""
    if direction.startswith("→"):
        return 1.0 if value >= float(direction[2:]) else -1.0
    return -1.0 if direction == "↑" else 1.0


def _losses(seeds: dict[int, float], metric: dict, split: str) -> dict[int, float]:
    """Per seed, a value that is lower the better the column says it is: distance to a target, or the value signed
    by the column's direction."""
    direction = better(metric, split)
    if not direction:  # nothing to rank by
        return {}
    target = float(direction[2:]) if direction.startswith("→") else 0.0
    return {s: _slope(direction, v) * (v - target) for s, v in seeds.items()}


def _loss_images(seeds: dict[int, float], images: dict[int, ImageTerms], metric: dict, split: str):
    """``images`` turned as ``_losses`` turns the values (a distance to a target, linearised at each seed's value)."""
    direction = better(metric, split)
    if not direction:
        return {}
    return {s: terms.scaled(_slope(direction, seeds[s])) for s, terms in images.items() if s in seeds}


def _verdicts(
    order: list[tuple],
    plugin: dict[tuple, str | None],
    values: list[dict[int, float]],
    images: list[dict[int, ImageTerms]],
    metric: dict,
    split: str,
) -> dict[tuple, tuple[bool, bool]]:
    """(bold, dagger) per row of one column: bold for the best unlearning method and every one not shown to differ
    from it; dagger, on D_F, for a method not shown to differ from the row without unlearning. Rows are compared
    within the same values of the table's varying axes (e.g. per hole size), paired over seeds and, where ``images``
    has their terms, images (``stats.paired_p``)."""
    marks: dict[tuple, tuple[bool, bool]] = {}
    for context in dict.fromkeys(g[1:] for g in order):
        mine = [(g, v, i) for g, v, i in zip(order, values, images) if g[1:] == context and v]
        rows = {g: _losses(v, metric, split) for g, v, _ in mine}
        terms = {g: _loss_images(v, i, metric, split) for g, v, i in mine}
        rows = {g: v for g, v in rows.items() if v}
        contenders = {g: v for g, v in rows.items() if plugin[g] not in REFERENCE_METHODS}
        if not contenders:
            continue
        best = min(contenders, key=lambda g: statistics.fmean(contenders[g].values()))
        tested = {g: paired_p(rows[g], rows[best], (terms[g], terms[best])) for g in contenders if g != best}
        worse = holm({g: p for g, p in tested.items() if p is not None})
        start = next((g for g in rows if plugin[g] == "no-unlearning"), None)
        same_as_start: dict[tuple, bool] = {}
        if split == "forget" and start is not None:
            tests = {g: paired_p(rows[g], rows[start], (terms[g], terms[start])) for g in contenders}
            differs = holm({g: p for g, p in tests.items() if p is not None})
            same_as_start = {g: not differs[g] for g in differs}
        for g in contenders:
            bold = g == best or (tested.get(g) is not None and not worse[g])
            marks[g] = (bold, same_as_start.get(g, False))
    return marks


def _attack_footnotes(metrics: list[dict], rows: list[dict], varying: list[str], labels: dict) -> list[str]:
    """A note for each audit whose columns average over runs where its attack did not take (the audit records
    ``attack_succeeded``): there the attack model never learned the trigger, so the rates cannot show forgetting."""
    notes = []
    for auditor in dict.fromkeys(m["id"].split("/")[0] for m in metrics if "/" in m["id"]):
        outcome: dict[tuple, bool] = {}  # (varying axes..., seed) → did the attack take; all methods share it
        for row in rows:
            details = (row.get("audit") or {}).get(auditor) or {}
            if row["status"] == "ok" and "attack_succeeded" in details:
                outcome[(*(row["cell"]["axes"][a] for a in varying), row["seed"])] = bool(details["attack_succeeded"])
        failed = [key for key, took in sorted(outcome.items()) if not took]
        if failed:
            runs = ", ".join(
                " · ".join([*(labels[a][v] for a, v in zip(varying, key[:-1])), f"seed {key[-1]}"]) for key in failed
            )
            notes.append(
                f"`{auditor}`: the attack did not take in {len(failed)} of {len(outcome)} runs ({runs}). There the "
                "attack model itself does not show the trigger, so its rates cannot show forgetting: they are left "
                "out of the audit's columns (n = the runs averaged)."
            )
    return notes


def _partner(columns: list[str], column: str) -> str | None:
    """The other column of ``column``'s (D_F, D_R) pair: the same metric on the other split ("FID ↑ D_F" and
    "FID ↓ D_R"); None when the table has no such pair."""
    name, _, split = column.rpartition(" ")
    other = {"D_F": "D_R", "D_R": "D_F"}.get(split)
    metric = name.split(" ")[0]
    found = [c for c in columns if c != column and c.split(" ")[0] == metric and c.rpartition(" ")[2] == other]
    return found[0] if len(found) == 1 else None


def _our_goodness(
    paper: dict, ours: str, manifest: dict, cells: list, rows: dict
) -> tuple[dict[str, dict[int, float]], dict[str, dict[int, ImageTerms]]]:
    """Per mapped paper row, our seeds' values of ``ours`` ("<metric> <split>"), signed so that higher is better
    (runs whose attack did not take are left out), and their image-level terms where the rows keep them."""
    metric_id, split = ours.split(" ")
    metric = {m["id"]: m for m in manifest["metrics"]}[metric_id]
    goodness, images = {}, {}
    for row_label, method in paper["methods"].items():
        took = [
            rows[c["id"]]
            for c in cells
            if c["method"] == method and c["id"] in rows and rows[c["id"]]["status"] == "ok"
            if attack_took(rows[c["id"]], metric_id)
        ]
        seeds = _seed_values(took, metric_id, split)
        if seeds:
            goodness[row_label] = {s: -loss for s, loss in _losses(seeds, metric, split).items()}
            turned = _loss_images(seeds, _seed_images(took, metric_id, split), metric, split)
            images[row_label] = {s: terms.scaled(-1.0) for s, terms in turned.items()}
    return goodness, images


def _rank_line(
    paper: dict,
    values_of: str,
    direction_of: str,
    measured: tuple[dict[str, dict[int, float]], dict[str, dict[int, ImageTerms]]],
) -> str | None:
    """One compared column: the paper's order of its mapped methods by the numbers of column ``values_of`` (ranked
    in the direction of column ``direction_of``) against ours (``measured``, from ``_our_goodness``); None when
    fewer than three methods have numbers in both."""
    ours, images = measured
    sign = 1 if "↑" in direction_of else -1
    theirs_good = {
        n: sign * value for n in ours if (value := paper["rows"][n][paper["columns"].index(values_of)]) is not None
    }
    if len(theirs_good) < 3:
        return None
    names = list(theirs_good)
    mean = {n: statistics.fmean(ours[n].values()) for n in names}
    theirs = sorted(names, key=lambda n: -theirs_good[n])
    mine = sorted(names, key=lambda n: -mean[n])
    tau = kendall_tau([theirs_good[n] for n in names], [mean[n] for n in names])
    pairs = {
        (a, b): paired_p(ours[a], ours[b], (images[a], images[b])) for i, a in enumerate(names) for b in names[i + 1 :]
    }
    significant = holm({pair: p for pair, p in pairs.items() if p is not None})
    ordered = sorted(
        ((a, b) if mean[a] > mean[b] else (b, a) for (a, b), yes in significant.items() if yes),
        key=lambda pair: (mine.index(pair[0]), mine.index(pair[1])),
    )
    verdicts = {"as in the paper": [], "against it": [], "tied in the paper": []}
    for a, b in ordered:
        gap = theirs_good[a] - theirs_good[b]
        how = "as in the paper" if gap > 0 else "against it" if gap < 0 else "tied in the paper"
        verdicts[how].append(f"{a} > {b}")
    said = "; ".join(f"{len(found)} {how}: {', '.join(found)}" for how, found in verdicts.items() if found)
    return (
        f"paper {' > '.join(theirs)}; ours {' > '.join(mine)}. Kendall τ = {tau} over {len(names)} methods; "
        f"{len(ordered)} of {len(pairs)} of our pairwise orders are significant" + (f" ({said})." if said else ".")
    )


def _render_ranks(table: dict, manifest: dict, rows: dict[str, dict]) -> list[str]:
    """The paper's ranking of the mapped methods against ours, per compared column: both orders, Kendall's τ-b, and
    which of our pairwise orders the seeds support (paired t-tests, Holm over the pairs of the column). Where the
    paper's numbers come in (D_F, D_R) pairs whose order the flattened text lost, the same under the other reading
    (each pair's numbers swapped), so that a reader sees whether the verdict depends on it."""
    paper = table["paper"]
    if not paper.get("ranks"):
        return []
    metrics = {m["id"]: m for m in manifest["metrics"]}
    labels = {m["id"]: m["label"] for m in manifest["axes"]["method"]}
    cells = [c for c in manifest["cells"] if all(c[axis] == v for axis, v in table["where"].items())]
    out = ["**Ranking against the paper** (best first; ours by the mean over seeds):", ""]
    swapped = []
    for column, ours in paper["ranks"].items():
        metric_id, split = ours.split(" ")
        goodness = _our_goodness(paper, ours, manifest, cells, rows)
        line = _rank_line(paper, column, column, goodness)
        heading = _column_heading(metrics[metric_id], split)
        if line is None:
            out.append(f"- {column}: fewer than three mapped methods have numbers in both; not compared.")
            continue
        out.append(f"- {column} (ours: {heading}): {line}")
        partner = _partner(paper["columns"], column)
        other = partner and _rank_line(paper, partner, column, goodness)
        if other:
            swapped.append(f"- {column} read from the paper's {partner} column (ours: {heading}): {other}")
    if swapped:
        out += ["", "*Under the other reading of the pairs* (the two numbers of each pair swapped):", ""]
        out += swapped
    mapping = ", ".join(f"{row} = {labels.get(method, method)}" for row, method in paper["methods"].items())
    return out + [
        "",
        f"Paper rows mapped to ours: {mapping}. Pairs: paired t-tests over seeds (and images, "
        "where rows keep them), Holm-corrected.",
        "",
    ]


def _render_paper(paper: dict) -> str:
    body = [[label, *("—" if v is None else f"{v:g}" for v in values)] for label, values in paper["rows"].items()]
    return tabulate(body, headers=["Method", *paper["columns"]], tablefmt="github", disable_numparse=True)


def _device(device: dict) -> str:
    capability = f", {device['cpu_capability']}" if device.get("cpu_capability") else ""
    return f"{device['type']} ({device['name']}{capability})"


def _provenance(rows: list[dict]) -> str:
    rows = [r for r in rows if r.get("environment")]  # a cell whose worker died never reported one
    versions = sorted({r["environment"]["packages"]["unlearn-bench"] or "?" for r in rows})
    torch_versions = sorted({r["environment"]["packages"]["torch"] or "?" for r in rows})
    devices = sorted({_device(r["environment"]["device"]) for r in rows})
    return (
        f"Produced by unlearn-bench {', '.join(versions)} with torch {', '.join(torch_versions)} "
        f"on {', '.join(devices)}; each result row records its git revision."
    )


def render(manifest: dict[str, Any], all_rows: list[dict[str, Any]], figures: list[str] = ()) -> str:
    """The Markdown leaderboard of one suite, from its manifest and result rows; ``figures`` are image files
    beside it to link."""
    planned = manifest["cells"]
    rows = current_rows(manifest, all_rows)
    out = [
        f"<!-- Generated by `unlearn-bench leaderboard` from the results of suite '{manifest['name']}'. "
        "Do not edit. -->",
        f"# {manifest['name']}",
        "",
    ]
    if manifest["description"]:
        out += [manifest["description"].strip(), ""]
    out += [
        f"Suite `{manifest['file']}` (hash `{manifest['hash'][:12]}`), seeds {manifest['seeds']}. "
        f"{len(rows)} of {len(planned)} cells have results. "
        "↑ higher is better, ↓ lower is better; D_R = retain set, D_F = forget set, D_U = unseen classes; "
        "values are the mean over seeds ± the half-width of its 95 % t-interval; metrics compare with the ground "
        "truth unless a column says 'vs' another model's outputs.",
        "",
    ]
    views = [("", manifest)]
    if manifest.get("tuning"):
        picked = choices(manifest, rows, attack_took)
        out += _render_tuning(manifest, picked)
        views = [("Default settings — ", default_view(manifest)), ("Tuned — ", tuned_view(manifest, picked))]
    for prefix, shown in views:
        for table in manifest["tables"] or _default_tables(manifest):
            footnotes: list[str] = []
            out += [f"## {prefix}{table['title'] or table['id']}", ""]
            if table["caption"]:
                out += [table["caption"].strip(), ""]
            out += [_render_table(table, shown, rows, footnotes), ""]
            out += [f"- {note}" for note in footnotes] + ([""] if footnotes else [])
            if table["paper"]:
                paper = table["paper"]
                out += [f"**Reported in {paper['source']}** (the paper's numbers, not ours):", ""]
                if paper.get("note"):
                    out += [paper["note"].strip(), ""]
                out += [_render_paper(paper), ""]
                out += _render_ranks(table, shown, rows)
    manifest = views[-1][1]  # a tuning suite's figures and ascent steps show the chosen settings
    sections = [  # (file-name marker, heading, what the figures show)
        (
            "-outputs-",
            "Outputs",
            f"Restorations of the first evaluation images by every method (seed {manifest['seeds'][0]}).",
        ),
        (
            "-ascent-",
            "Gradient ascent",
            "How far the outputs on a fixed forget probe move from the starting model's, and the forget loss, over the "
            "ascent iterations (Realistic-I2I Fig. 7); mean over seeds, band = ±1 standard deviation.",
        ),
        (
            "-tsne-",
            "Embedding maps",
            "t-SNE of image embeddings of each method's restorations (o) beside the reference's (x) for the same "
            "inputs, on D_R (blue) and D_F (red), first seed (Realistic-I2I Fig. 6: a method that forgets keeps D_R "
            "with the reference and moves D_F away). Titles give the mean cosine similarity of paired embeddings.",
        ),
        (
            "-tradeoff-",
            "Forgetting against utility",
            "Forget score on D_F (0 = the starting model, 1 = the retrained model; the dashed line is a retrained "
            "model of another seed, the noise floor) against PSNR on D_R; mean over seeds, bars = 95 % t-intervals "
            "(for a method with one seed, 95 % bootstrap intervals over its images).",
        ),
        (
            "-tuning-",
            "Tuning",
            "Every setting's validation numbers (mean over seeds): the rule's first goal against the next measure it "
            "reads; □ the default setting, ○ the trials, ★ the chosen setting, × the controls, dashed the constraint.",
        ),
        (
            "-relearn-",
            "Relearning",
            "The backdoor regeneration rate on D_F while each unlearned model is fine-tuned on a few poisoned forget "
            "images (mean over the seeds whose attack took); dashed, the retrained model under the same fine-tuning. "
            "A curve above the dashed one relearns faster than a model that never saw the marker. Right, where "
            "recorded: how far the same restorations are from the attack model's; a curve below the dashed one comes "
            "nearer the attack model than a model that never saw the marker.",
        ),
    ]
    out += _render_image_noise(manifest, rows)
    for marker, heading, text in sections:
        names = [name for name in figures if marker in name]
        if names:
            out += [f"## {heading}", "", text, ""] + [f"![{name}]({name})" for name in names] + [""]
            if marker == "-ascent-":
                out += _ascent_steps(manifest, rows)
    if rows:
        out += [_provenance(list(rows.values())), ""]
    return "\n".join(out)


def _noise_cells(seeds: list[tuple[list[float], list[float]]]) -> list[str] | None:
    """A noise table's numbers for one method's per-seed image terms: the mean, its t-interval over seeds, the
    two-level bootstrap interval (with one seed, over its images alone), the image counts and the share of the
    between-seed variance that resampling images reproduces (``stats.ratio_noise``)."""
    noise = ratio_noise(seeds) if seeds else None
    return None if noise is None else _noise_line(noise, [len(top) for top, _ in seeds])


def _draw_cells(seeds: list[tuple[float, list[float], int]]) -> list[str] | None:
    """:func:`_noise_cells` for a feature metric: per seed its value, its values on resampled images and the image
    count (``stats.draws_noise``)."""
    noise = draws_noise([(value, draws) for value, draws, _ in seeds]) if seeds else None
    return None if noise is None else _noise_line(noise, [images for _, _, images in seeds])


def _noise_line(noise: dict[str, Any], images: list[int]) -> list[str]:
    """The numbers of a noise table for one method (``stats.ratio_noise``'s fields and each seed's image count);
    values within floating-point rounding of 0 (a model's FID with itself) are 0, and so have no variance share."""

    def fixed(value: float) -> str:
        return f"{0.0 if abs(value) < ROUNDING else value:.3f}"

    share = noise["within"] / noise["between"] if noise["between"] and noise["between"] > ROUNDING**2 else None
    spread = half_width(noise["per_seed"])
    return [
        fixed(noise["mean"]),
        "—" if spread is None else f"± {fixed(spread)}",
        f"[{fixed(noise['low'])}, {fixed(noise['high'])}]",
        "/".join(str(n) for n in images),
        "—" if share is None else f"{share:.2f}",
    ]


def _image_terms(manifest: dict[str, Any], rows: dict[str, dict], found) -> dict[tuple, dict[str, list]]:
    """Per dataset × task × model and per key that ``found(row)`` yields (with its per-seed image terms), each
    method's terms over its seeds."""
    terms: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for cell in manifest["cells"]:
        row = rows.get(cell["id"])
        if row and row["status"] == "ok":
            for key, value in found(row):
                terms[(cell["dataset"], cell["task"], cell["model"]), key][cell["method"]].append(value)
    return terms


NOISE_HEADERS = ["95 % t over seeds", "95 % bootstrap (seeds, images)", "Images", "Images / seeds variance"]


def _render_image_noise(manifest: dict[str, Any], rows: dict[str, dict]) -> list[str]:
    """Per dataset × task × model, each method's forget score on D_F (and, in a second table, every metric whose rows
    keep per-image values) with its t-interval over seeds, a two-level bootstrap interval over seeds and images, and
    how much of the seed-to-seed variance resampling each seed's own images reproduces (``stats.ratio_noise``)."""
    labels = {m["id"]: m["label"] for m in manifest["axes"]["method"]}
    combos = list(dict.fromkeys((c["dataset"], c["task"], c["model"]) for c in manifest["cells"]))

    def label(method: str, combo: tuple) -> str:
        return labels.get(method, method) + (f" · {' · '.join(combo)}" if len(combos) > 1 else "")

    def forget_score(row):
        found = forget_terms(row)
        return [] if found is None else [(None, found)]

    table = []
    one_seed = False  # a method with one seed: its interval is over images alone
    for (combo, _), methods in _image_terms(manifest, rows, forget_score).items():
        for method, seeds in methods.items():
            cells = _noise_cells(seeds)
            if cells is not None:
                table.append([label(method, combo), *cells])
                one_seed |= len(seeds) == 1
    out = []
    if table:
        out += [
            "## Forget score: the noise of seeds and of images",
            "",
            "Each seed draws its own split and trains its own models, so the spread of the forget score over seeds "
            "mixes training randomness with the sampling of evaluation images. Resampling each seed's own D_F images "
            "(2,000 bootstrap draws) measures the second alone: 'images / seeds' is that variance as a share of the "
            "variance between seeds. Near 1, more evaluation images would narrow the interval; near 0, the spread "
            "comes from training and only more seeds will. The two-level bootstrap (seeds, then images) is shown "
            "beside the t-interval, not instead of it: with 2–3 seeds it has few distinct resamples and comes out too "
            "narrow."
            + (" With one seed it is over that seed's images alone, and there is no t-interval." if one_seed else ""),
            "",
            tabulate(
                table, headers=["Method", "Forget score D_F", *NOISE_HEADERS], tablefmt="github", disable_numparse=True
            ),
            "",
        ]
    metrics = {m["id"]: m for m in manifest["metrics"]}

    def per_image(row):  # a run whose attack did not take is left out, as from the column's mean
        return [
            ((m["metric"], m["split"]), (m["per_image"], [1.0] * len(m["per_image"])))
            for m in row["metrics"]
            if m.get("per_image") and m["metric"] in metrics and attack_took(row, m["metric"])
        ]

    def column_lines(found, cells_of) -> list[list[str]]:  # one per column and method with a noise line
        table = []
        for (combo, (metric, split)), methods in _image_terms(manifest, rows, found).items():
            for method, seeds in methods.items():
                cells = cells_of(seeds)
                if cells is not None:
                    table.append([_column_heading(metrics[metric], split), label(method, combo), *cells])
        return table

    out += _column_noise_section(
        "Per-image metrics",
        "The same decomposition for every column that is a mean over images and whose rows keep each image's "
        "value (PSNR; the backdoor regeneration rate, 1 where the marker was found): the mean over seeds with "
        "its t-interval, the two-level bootstrap (seeds, then images; too narrow with 2–3 seeds), and the share "
        "of the between-seed variance that resampling images reproduces.",
        column_lines(per_image, _noise_cells),
    )

    def resampled(row):  # feature metrics' values on resamples of the images, where the run drew them
        return [
            ((m["metric"], m["split"]), (m["value"], m["bootstrap"], m["images"]))
            for m in row["metrics"]
            if m.get("bootstrap") and m["metric"] in metrics and attack_took(row, m["metric"])
        ]

    out += _column_noise_section(
        "Feature metrics",
        "The same decomposition for the feature metrics (FID, KID, …), which are not means over images: each run "
        "recorded the metric on resamples of its evaluation images (with replacement; outputs and reference set "
        "resampled alike; `evaluate.image_bootstrap`), and the two-level bootstrap draws from those, each seed's "
        "resamples centred on its value (repeated images shift a distribution metric; only their spread is "
        "noise). Mean over seeds with its t-interval, the two-level interval (too narrow with 2–3 seeds), and "
        "the share of the between-seed variance that resampling images reproduces. On a few dozen images FID is "
        "biased as well as noisy (it falls as the image count grows); these intervals show the noise only.",
        column_lines(resampled, _draw_cells),
    )
    return out


def _column_noise_section(what: str, text: str, table: list[list[str]]) -> list[str]:
    """A noise section with one line per column and method (none without lines)."""
    if not table:
        return []
    headers = ["Column", "Method", "Mean", *NOISE_HEADERS]
    return [
        f"## {what}: the noise of seeds and of images",
        "",
        text,
        "",
        tabulate(table, headers=headers, tablefmt="github", disable_numparse=True),
        "",
    ]


def default_view(manifest: dict[str, Any]) -> dict[str, Any]:
    """A tuning suite's manifest reduced to every method's own setting (the reproduction)."""
    return view(manifest, {})


def tuned_view(manifest: dict[str, Any], picked: dict[tuple, dict]) -> dict[str, Any]:
    """A tuning suite's manifest reduced to every method's chosen setting (the fair comparison); a method without
    a candidate setting keeps its default."""
    picks = {
        combo: {base: chosen["chosen"] for base, chosen in found["selected"].items() if chosen["chosen"]}
        for combo, found in picked.items()
    }
    return view(manifest, picks)


def _render_tuning(manifest: dict[str, Any], picked: dict[tuple, dict]) -> list[str]:
    """The tuning protocol (budget, validation images, rule) and the setting chosen for each method, with the
    validation numbers of its default and of the chosen setting."""
    tuning = manifest["tuning"]
    rule = rule_of(manifest)
    labels = {m["id"]: m["label"] for m in manifest["axes"]["method"]}
    trials = {m["id"]: m.get("trial") or {} for m in manifest["axes"]["method"]}
    out = [
        "## Tuning",
        "",
        f"Every method except the controls ({', '.join(tuning['controls']) or 'none'}) ran at its own setting (the "
        f"default) and at {tuning['budget']} trial settings"
        + (
            " (budgets may differ: `unequal_budget`)"
            if tuning["unequal_budget"]
            else ", the same budget for every method"
        )
        + f". Each setting was measured on validation images: {tuning['validation_per_class']} held-out training "
        "images per forget and retain class, drawn with the seed, never trained on and disjoint from the test images "
        "(poisoned like the test images when the suite has an attack). The rule, on the mean over seeds of those "
        "validation numbers only, and among the settings that finished in every seed: "
        f"**{rule.describe()}**; ties go to the earlier setting (the default first). The tables below show every "
        "method at its default setting (the reproduction), then at its chosen setting (the fair comparison), both on "
        "the test images.",
        "",
    ]
    for combo, found in picked.items():
        means = found["means"]
        measures = rule.measures()
        heading = [f"{m} {SPLIT_LABELS[s]} (validation): default → chosen" for m, s in measures]
        body = []
        for base, choice in found["selected"].items():
            chosen = choice["chosen"]
            setting = describe_assignment(trials.get(chosen) or {}) or ("default" if chosen else "none finished")
            if chosen and not choice["feasible"]:
                setting += " (no setting met the constraints: the nearest)"

            line = [labels[base], setting]
            line += [f"{_shown(means, base, key)} → {_shown(means, chosen, key)}" for key in measures]
            line.append(f"{choice['candidates']}/{len(settings(manifest)[base])}")
            body.append(line)
        title = " · ".join(combo)
        out += [f"Chosen settings ({title}):", ""]
        out += [tabulate(body, headers=["Method", "Chosen setting", *heading, "Settings finished in every seed"],
                         tablefmt="github", disable_numparse=True), ""]  # fmt: skip
    return out


def _shown(means: dict[str, dict | None], setting: str | None, key: tuple) -> str:
    value = (means.get(setting) or {}).get(key) if setting else None
    return "–" if value is None else f"{value:.4g}"


def _ascent_steps(manifest: dict[str, Any], rows: dict[str, dict[str, Any]]) -> list[str]:
    """The K each ascending run took per seed, and whether the threshold τ stopped it (Realistic-I2I Alg. 1 stops at
    the first iteration whose output distance reaches τ; K is only the ceiling)."""
    labels = {m["id"]: m["label"] for m in manifest["axes"]["method"]}
    seeds = manifest["seeds"]
    taken: dict[tuple, dict[int, str]] = {}
    for cell in manifest["cells"]:
        row = rows.get(cell["id"])
        summary = ((row or {}).get("method") or {}).get("summary") or {}
        if row is None or row["status"] != "ok" or "ascent_iterations" not in summary:
            continue
        reached = {True: " (τ)", False: " (K)", None: ""}[summary.get("ood_reached")]
        where = (labels.get(cell["method"], cell["method"]), cell["dataset"], cell["task"], cell["model"])
        taken.setdefault(where, {})[cell["seed"]] = f"{summary['ascent_iterations']}{reached}"
    if not taken:
        return []
    out = [
        "Ascent iterations taken per seed: (τ) the output distance reached the threshold τ, (K) the run stopped at "
        "the ceiling K without reaching it; no mark: the suite sets no τ.",
        "",
        "| method | dataset | task | model | " + " | ".join(f"seed {seed}" for seed in seeds) + " |",
        "|---|---|---|---|" + "---|" * len(seeds),
    ]
    for where, by_seed in taken.items():
        out.append("| " + " | ".join(where) + " | " + " | ".join(by_seed.get(seed, "–") for seed in seeds) + " |")
    return out + [""]


def _currency(rows: dict[str, dict[str, Any]], path: Path | None) -> str:
    """Whether the published cells are the ones the suite file and the code give today: a cell whose row has another
    key was made by an older plugin or harness version or older settings, and a rerun would replace it; a cell
    without a row has not been run."""
    if path is None or not path.is_file():
        return "unknown (no suite file)"
    try:
        keys = {cell.id: cell.key for cell in expand(load_suite(path))}
    except UserError as exc:
        return f"unknown ({type(exc).__name__}: {exc})".replace("|", "/")
    made = {cell: row["cell"]["key"] for cell, row in rows.items()}
    if made == keys:
        return "yes"
    old = sum(cell in made and made[cell] != key for cell, key in keys.items())
    missing = sum(cell not in made for cell in keys)
    parts = [f"{old} of {len(keys)} cells were made by older code or settings"] if old else []
    parts += [f"{missing} of {len(keys)} cells have no result"] if missing else []
    return f"**no**: {'; '.join(parts) or 'the suite plans other cells'}; rerun the suite"


def render_index(store: ResultStore, suites_dir: Path | None = None) -> str:
    """``README.md`` of the leaderboard folder: every suite with results and its tables (with the paper each table
    reproduces), then the suites of ``suites_dir`` that have no results here."""
    out = [
        "<!-- Generated by `unlearn-bench leaderboard` from the result store. Do not edit. -->",
        "# Leaderboards",
        "",
        "Every suite with results in this folder, its tables and the paper table each one stands for.",
        "",
        "| leaderboard | tables | seeds | cells with results | made by the current code and suite |",
        "|---|---|---|---|---|",
    ]
    for name in store.suites():
        manifest = store.manifest(name)
        rows = current_rows(manifest, store.rows(name))
        titles = [
            t["title"] + (f" (paper: {t['paper']['source']})" if t.get("paper") else "") for t in manifest["tables"]
        ] or ["one table per dataset × task × model"]
        ok = sum(row["status"] == "ok" for row in rows.values())
        seeds = ", ".join(map(str, manifest["seeds"]))
        current = _currency(rows, None if suites_dir is None else Path(suites_dir) / f"{name}.yaml")
        cells = f"{ok}/{len(manifest['cells'])}"
        out.append(f"| [{name}]({name}.md) | {'; '.join(titles)} | {seeds} | {cells} | {current} |")
    have = set(store.suites())
    missing = [] if suites_dir is None else sorted(p for p in Path(suites_dir).glob("*.yaml") if p.stem not in have)
    if missing:
        out += [
            "",
            "## Suites not run here",
            "",
            "These suites have no results in this folder (they need data or compute not available where it was "
            "made). Their tables, and the paper tables they stand for:",
            "",
            "| suite | description | tables |",
            "|---|---|---|",
        ]
        for path in missing:
            data = merged_yaml(path)
            description = " ".join(str(data.get("description", "")).split())
            tables = ((data.get("leaderboard") or {}).get("tables")) or []
            titles = [
                str(t.get("title") or t.get("id"))
                + (f" (paper: {t['paper']['source']})" if isinstance(t.get("paper"), dict) else "")
                for t in tables
                if isinstance(t, dict)
            ] or ["one table per dataset × task × model"]
            shown = f"{path.parent.name}/{path.name}"  # the same however the folder was named
            out.append(f"| `{shown}` | {description} | {'; '.join(titles)} |")
    return "\n".join(out) + "\n"


def write_leaderboards(
    store: ResultStore,
    out_dir: Path,
    suites: list[str] | None = None,
    check: bool = False,
    suites_dir: Path | None = None,
    index: bool = True,
) -> tuple[list[Path], list[Path]]:
    """Render the leaderboards of ``suites`` (default: every suite in the store) and, with ``index``, the folder's
    README.md index (every suite in the store, and the suites of ``suites_dir`` without results) and the metric
    meta-evaluation of every suite in the store (``metric-validity.md``) into ``out_dir``.

    Returns (changed, unchanged) paths, output grids included. With ``check`` nothing is written: changed files are
    the stale ones.
    """
    changed, unchanged = [], []
    if index:
        validity = survey(store)
        files = {"README.md": render_index(store, suites_dir).encode(), VALIDITY: validity.markdown.encode()}
        panels = [
            (title, curves)
            for title, curves in (
                ("means over images (PSNR, backdoor rate)", validity.by_images),
                ("FID and KID on image subsets", validity.by_subsets),
            )
            if curves
        ]
        if panels:
            files[VALIDITY_FIGURE] = separation_figure(panels)
        _write(Path(out_dir), files, check, changed, unchanged)
    for name in suites if suites is not None else store.suites():
        manifest = store.manifest(name)
        if manifest is None:
            raise FileNotFoundError(f"no results for suite '{name}' under {store.root}")
        all_rows = store.rows(name)
        rows = current_rows(manifest, all_rows)
        picked = choices(manifest, rows, attack_took) if manifest.get("tuning") else None
        shown = tuned_view(manifest, picked) if picked else manifest
        figures = (
            output_grids(name, shown, rows, store)
            | ascent_curves(name, shown, rows)
            | embedding_maps(name, shown, rows, store)
            | tradeoff_figures(name, shown, rows)
            | relearn_curves(name, shown, rows)
            | (tuning_figures(name, manifest, picked) if picked else {})
        )
        files = {f"{name}.md": render(manifest, all_rows, list(figures)).encode(), **figures}
        _write(Path(out_dir), files, check, changed, unchanged)
    return changed, unchanged


def _write(out_dir: Path, files: dict[str, bytes], check: bool, changed: list[Path], unchanged: list[Path]) -> None:
    """Write each file whose bytes differ (a figure: whose picture differs) and sort its path into ``changed`` or
    ``unchanged``; with ``check``, write nothing."""
    for file, data in files.items():
        path = out_dir / file
        old = path.read_bytes() if path.is_file() else None
        same = old is not None and (old == data if file.endswith(".md") else same_picture(old, data))
        (unchanged if same else changed).append(path)
        if not same and not check:
            atomic_write_bytes(path, data)
