"""Figures drawn from the result store: output grids (Realistic-I2I Figs. 3 and 8), ascent curves (Fig. 7),
embedding maps (Fig. 6), forget/utility trade-offs and relearning curves.

One grid per dataset × task × model, from the first seed's cells: columns are the first evaluation images of D_F
then of D_R; rows are the masked input, the ground truth, the original model (and the attack model, when the suite
has one), then every method's restoration.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .columns import attack_took, floor_of, forget_terms
from .results import ResultStore
from .stats import half_width, ratio_noise
from .tuning import bound_value, settings

PAD, GAP = 2, 10  # pixels between tiles and between the D_F and D_R blocks
SPLITS = (("forget", "D_F (forget)"), ("retain", "D_R (retain)"))


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes, laid out tightly and without a timestamp or software tag (so unchanged figures keep
    their bytes)."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def figure_name(suite: str, cell: dict[str, Any]) -> str:
    return f"{suite}-outputs-{cell['dataset']}-{cell['task']}-{cell['model']}.png"


def _tiles(images) -> list[np.ndarray]:
    """uint8 N×C×H×W → list of H×W×3 floats in [0, 1]."""
    array = images.numpy().astype(np.float32) / 255
    if array.shape[1] == 1:
        array = np.repeat(array, 3, axis=1)
    return list(array[:, :3].transpose(0, 2, 3, 1))


def _compose(grid_rows: list[list[np.ndarray | None]], per_split: int, height: int, width: int) -> np.ndarray:
    columns = len(grid_rows[0])
    total_w = columns * (width + PAD) + GAP
    total_h = len(grid_rows) * (height + PAD)
    canvas = np.ones((total_h, total_w, 3), dtype=np.float32)
    for r, tiles in enumerate(grid_rows):
        for c, tile in enumerate(tiles):
            y = r * (height + PAD)
            x = c * (width + PAD) + (GAP if c >= per_split else 0)
            canvas[y : y + height, x : x + width] = 0.5 if tile is None else tile
    return canvas


def output_grid(suite: str, manifest: dict, rows: dict[str, dict], store: ResultStore, combo: tuple) -> bytes | None:
    """The PNG of one dataset × task × model, or None when no cell of it stored samples."""
    seed = manifest["seeds"][0]
    labels = {m["id"]: m["label"] for m in manifest["axes"]["method"]}
    cells = [
        c
        for c in manifest["cells"]
        if (c["dataset"], c["task"], c["model"]) == combo and c["seed"] == seed and c["id"] in rows
    ]
    samples = {c["method"]: store.samples(suite, c["id"]) for c in cells if rows[c["id"]]["status"] == "ok"}
    samples = {method: s for method, s in samples.items() if s}
    if not samples:
        return None
    first = next(iter(samples.values()))
    splits = [(split, heading) for split, heading in SPLITS if f"{split}/input" in first]
    per_split = min(len(first[f"{split}/input"]) for split, _ in splits)

    def row(source: dict | None, what: str) -> list[np.ndarray | None]:
        out: list[np.ndarray | None] = []
        for split, _ in splits:
            key = f"{split}/{what}"
            out += _tiles(source[key][:per_split]) if source and key in source else [None] * per_split
        return out

    lines = [("Masked input", row(first, "input")), ("Ground truth", row(first, "target"))]
    upstream = [kind for kind in ("original", "attack") if f"{splits[0][0]}/{kind}" in first]
    lines += [(f"{kind.capitalize()} model", row(first, kind)) for kind in upstream]
    lines += [(labels[m["id"]], row(samples.get(m["id"]), "output")) for m in manifest["axes"]["method"]]
    _, _, height, width = first[f"{splits[0][0]}/input"].shape
    canvas = _compose([tiles for _, tiles in lines], per_split, height, width)

    scale = 0.55 / height  # inches per pixel: a tile is about 0.55 inch tall
    figure = Figure(figsize=(canvas.shape[1] * scale + 2.6, canvas.shape[0] * scale + 0.5), dpi=100)
    ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.imshow(canvas, interpolation="nearest")
    ax.set_yticks([r * (height + PAD) + height / 2 for r in range(len(lines))], [label for label, _ in lines])
    block = per_split * (width + PAD)
    ax.set_xticks([block / 2 + i * (block + GAP) for i in range(len(splits))], [heading for _, heading in splits])
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def output_grids(suite: str, manifest: dict, rows: dict[str, dict], store: ResultStore) -> dict[str, bytes]:
    """File name → PNG for every dataset × task × model of the suite that has samples."""
    combos = dict.fromkeys((c["dataset"], c["task"], c["model"]) for c in manifest["cells"])
    out = {}
    for combo in combos:
        png = output_grid(suite, manifest, rows, store, combo)
        if png is not None:
            out[figure_name(suite, dict(zip(("dataset", "task", "model"), combo)))] = png
    return out


def same_picture(a: bytes, b: bytes, tolerance: float = 0.002) -> bool:
    """Whether two PNGs show the same picture (font rendering may differ slightly between library versions)."""
    if a == b:
        return True
    from matplotlib.image import imread

    x, y = imread(io.BytesIO(a)), imread(io.BytesIO(b))
    return x.shape == y.shape and float(np.abs(x - y).mean()) <= tolerance


def curves_name(suite: str, combo: tuple) -> str:
    return f"{suite}-ascent-{'-'.join(combo)}.png"


def ascent_curves(suite: str, manifest: dict, rows: dict[str, dict]) -> dict[str, bytes]:
    """Realistic-I2I Fig. 7: the output distance d(h_θk(x_f), h_θ0(x_f)) on the forget probe, and the forget loss,
    against the ascent iteration, for every method that logged an ``ascent`` trace (mean over seeds, band = ±1 std).
    One figure per dataset × task × model; none when no method ascends."""
    labels = {m["id"]: m["label"] for m in manifest["axes"]["method"]}
    out = {}
    for combo in dict.fromkeys((c["dataset"], c["task"], c["model"]) for c in manifest["cells"]):
        traces: dict[str, list[list[dict]]] = {}
        for cell in manifest["cells"]:
            row = rows.get(cell["id"])
            if (cell["dataset"], cell["task"], cell["model"]) != combo or not row or row["status"] != "ok":
                continue
            trace = ((row.get("method") or {}).get("trace") or {}).get("ascent")
            if trace:
                traces.setdefault(cell["method"], []).append(trace)
        if not traces:
            continue
        figure = Figure(figsize=(9, 3.4), dpi=100)
        axes = figure.subplots(1, 2)
        for number, (method, runs) in enumerate(traces.items()):
            style = ("-", "--", ":", "-.")[number % 4]  # methods sharing an ascent phase draw the same curve
            for ax, key in zip(axes, ("distance", "forget_loss")):
                length = min(len(run) for run in runs)
                values = np.array([[step[key] for step in run[:length]] for run in runs], dtype=np.float64)
                steps = [step["iteration"] for step in runs[0][:length]]
                mean, std = values.mean(0), values.std(0)
                ax.plot(steps, mean, style, label=labels.get(method, method))
                ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
        axes[0].set(xlabel="ascent iteration", ylabel="output distance to θ0 (RMS over the hole)")
        axes[1].set(xlabel="ascent iteration", ylabel="forget loss", yscale="log")
        axes[0].legend(fontsize=8)
        out[curves_name(suite, combo)] = png(figure)
    return out


def maps_name(suite: str, combo: tuple) -> str:
    return f"{suite}-tsne-{'-'.join(combo)}.png"


MAP_STYLE = {  # group → (colour, marker, label)
    "retain/output": ("tab:blue", "o", "D_R output"),
    "retain/reference": ("tab:blue", "x", "D_R reference"),
    "forget/output": ("tab:red", "o", "D_F output"),
    "forget/reference": ("tab:red", "x", "D_F reference"),
}


def embedding_maps(suite: str, manifest: dict, rows: dict[str, dict], store: ResultStore) -> dict[str, bytes]:
    """Realistic-I2I Fig. 6: per dataset × task × model, one t-SNE panel per method (first seed) of the output and
    reference embeddings of D_R and D_F, from the coordinates cells stored; none when the suite drew no maps."""
    seed = manifest["seeds"][0]
    labels = {m["id"]: m["label"] for m in manifest["axes"]["method"]}
    out = {}
    for combo in dict.fromkeys((c["dataset"], c["task"], c["model"]) for c in manifest["cells"]):
        panels = []
        for cell in manifest["cells"]:
            row = rows.get(cell["id"])
            if (cell["dataset"], cell["task"], cell["model"]) != combo or cell["seed"] != seed:
                continue
            if not row or row["status"] != "ok" or not row.get("embedding_map"):
                continue
            samples = store.samples(suite, cell["id"]) or {}
            points = {group: samples[f"tsne/{group}"] for group in MAP_STYLE if f"tsne/{group}" in samples}
            if points:
                panels.append((labels.get(cell["method"], cell["method"]), row["embedding_map"], points))
        if not panels:
            continue
        columns = min(3, len(panels))
        lines = -(-len(panels) // columns)
        figure = Figure(figsize=(3.6 * columns, 3.4 * lines + 0.4), dpi=100)
        axes = np.atleast_1d(figure.subplots(lines, columns, squeeze=False)).ravel()
        for ax, (label, summary, points) in zip(axes, panels):
            for group, xy in points.items():
                colour, marker, name = MAP_STYLE[group]
                filled = {"facecolors": colour} if marker == "o" else {"c": colour}
                ax.scatter(xy[:, 0].numpy(), xy[:, 1].numpy(), s=12, marker=marker, alpha=0.7, label=name, **filled)
            cosine = ", ".join(f"{p[0].upper()} {v:.2f}" for p, v in summary["cosine_to_reference"].items())
            ax.set_title(f"{label}\ncosine to reference: {cosine}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        first = panels[0][1]
        reference = first["reference"].replace("-", " ")
        axes[0].legend(fontsize=7, loc="best")
        figure.suptitle(
            f"t-SNE of {first['extractor']['display_name']} embeddings: outputs (o) and {reference} (x), seed {seed}",
            fontsize=9,
        )
        out[maps_name(suite, combo)] = png(figure)
    return out


def tradeoff_name(suite: str, combo: tuple) -> str:
    return f"{suite}-tradeoff-{'-'.join(combo)}.png"


def _audit_measure(row: dict, plugin: str, measure: str, split: str) -> tuple[float | None, float | None]:
    """(value, noise floor) of a measure of the audit plugin ``plugin`` in one row."""
    for m in row["metrics"]:
        if m["name"] == plugin and m["metric"].endswith(f"/{measure}") and m["split"] == split:
            return m["value"], floor_of(row, m["metric"], split)
    return None, None


def _retain_psnr(row: dict) -> dict | None:
    return next(
        (
            m
            for m in row["metrics"]
            if m["name"] == "psnr" and m["reference"] == "ground-truth" and m["split"] == "retain"
        ),
        None,
    )


def _error_bar(values: list[float], terms: list[tuple[list[float], list[float]]]) -> float | list[list[float]]:
    """The 95 % t-interval's half-width over seeds; with one seed, the bootstrap interval over its images (each
    image's numerator and denominator terms: ``stats.ratio_noise``) as (below, above) the value; 0 without either."""
    if len(values) > 1:
        return half_width(values) or 0.0
    noise = ratio_noise(terms) if len(terms) == 1 else None
    if noise is None:
        return 0.0
    return [[max(values[0] - noise["low"], 0.0)], [max(noise["high"] - values[0], 0.0)]]


def tradeoff_figures(suite: str, manifest: dict, rows: dict[str, dict]) -> dict[str, bytes]:
    """Forget score on D_F (x) against PSNR on D_R against the ground truth (y), one point per method (mean over
    seeds, bars = 95 % t-intervals; with one seed, bootstrap intervals over its images), the retrained model's noise
    floor as a dashed line. One figure per dataset × task × model of a suite that runs the ``forget-score`` audit and
    PSNR against the ground truth."""
    labels = {m["id"]: m["label"] for m in manifest["axes"]["method"]}
    out = {}
    for combo in dict.fromkeys((c["dataset"], c["task"], c["model"]) for c in manifest["cells"]):
        # per method: forget scores, retain PSNRs, and each seed's image terms of both
        points: dict[str, tuple[list[float], list[float], list, list]] = {}
        floors: list[float] = []
        for cell in manifest["cells"]:
            row = rows.get(cell["id"])
            if (cell["dataset"], cell["task"], cell["model"]) != combo or not row or row["status"] != "ok":
                continue
            score, floor = _audit_measure(row, "forget-score", "score", "forget")
            utility = _retain_psnr(row)
            if score is None or utility is None:
                continue
            xs, ys, x_terms, y_terms = points.setdefault(cell["method"], ([], [], [], []))
            xs.append(score)
            ys.append(utility["value"])
            if (terms := forget_terms(row)) is not None:
                x_terms.append(terms)
            if utility.get("per_image"):
                y_terms.append((utility["per_image"], [1.0] * len(utility["per_image"])))
            if floor is not None and cell["method"] == manifest["axes"]["method"][0]["id"]:
                floors.append(floor)
        if not points:
            continue
        figure = Figure(figsize=(6, 4.2), dpi=100)
        ax = figure.subplots()
        for number, (method, (xs, ys, x_terms, y_terms)) in enumerate(points.items()):
            ax.errorbar(
                float(np.mean(xs)),
                float(np.mean(ys)),
                xerr=_error_bar(xs, x_terms),
                yerr=_error_bar(ys, y_terms),
                fmt="os^vDPX*"[number % 8],
                capsize=3,
                label=labels.get(method, method),
            )
        if floors:
            ax.axvline(float(np.mean(floors)), linestyle="--", color="grey", label="retrained, another seed (floor)")
        ax.set(xlabel="forget score on D_F (0 = starting model, 1 = retrained)", ylabel="PSNR on D_R (dB, hole)")
        ax.legend(fontsize=7)
        out[tradeoff_name(suite, combo)] = png(figure)
    return out


def relearn_name(suite: str, combo: tuple) -> str:
    return f"{suite}-relearn-{'-'.join(combo)}.png"


def relearn_curves(suite: str, manifest: dict, rows: dict[str, dict]) -> dict[str, bytes]:
    """The backdoor regeneration rate on D_F against the relearning steps, one line per method (mean over the seeds
    whose attack took), the retrained model's curve dashed; beside it, where the rows record it, the distance of the
    D_F restorations to the attack model's. One figure per dataset × task × model of a suite that runs the
    ``relearn`` audit."""
    labels = {m["id"]: m["label"] for m in manifest["axes"]["method"]}
    panels = {
        "curve": "backdoor regeneration rate on D_F",
        "distance_curve": "D_F distance to the attack model (RMS, hole)",
    }
    out = {}
    for combo in dict.fromkeys((c["dataset"], c["task"], c["model"]) for c in manifest["cells"]):
        curves: dict[str, dict[str, list[list[float]]]] = {key: {} for key in panels}
        reference: dict[str, dict[int, list[float]]] = {key: {} for key in panels}
        steps: list[int] = []
        for cell in manifest["cells"]:
            row = rows.get(cell["id"])
            if (cell["dataset"], cell["task"], cell["model"]) != combo or not row or row["status"] != "ok":
                continue
            for m in row["metrics"]:
                if m["name"] != "relearn" or not m["metric"].endswith("/rate-after"):
                    continue
                if not attack_took(row, m["metric"]):
                    continue
                details = row["audit"][m["metric"].split("/")[0]]
                steps = details["steps"]
                for key in panels:
                    if key in details:
                        curves[key].setdefault(cell["method"], []).append(details[key])
                        reference[key][row["seed"]] = details[f"retrained_{key}"]
        shown = [key for key in panels if curves[key]]
        if not shown:
            continue
        figure = Figure(figsize=(6.4 * len(shown), 4.2), dpi=100)
        for ax, key in zip(np.atleast_1d(figure.subplots(1, len(shown))), shown):
            for number, (method, runs) in enumerate(curves[key].items()):
                ax.plot(steps, np.mean(runs, axis=0), "os^vDPX*"[number % 8] + "-", label=labels.get(method, method))
            mean_reference = np.mean(list(reference[key].values()), axis=0)
            ax.plot(steps, mean_reference, "k--", label="retrained model relearning (reference)")
            ax.set(xlabel="relearning steps on poisoned forget images", ylabel=panels[key])
            ax.set_xscale("symlog", linthresh=10)
            if key == "curve":
                ax.set_ylim(-0.02, 1.02)
                ax.legend(fontsize=7)
        out[relearn_name(suite, combo)] = png(figure)
    return out


def tuning_name(suite: str, combo: tuple) -> str:
    return f"{suite}-tuning-{'-'.join(combo)}.png"


def tuning_figures(suite: str, manifest: dict, picked: dict[tuple, dict]) -> dict[str, bytes]:
    """Every setting of a tuning suite as a point of its validation numbers: the rule's first goal (y) against the
    first other measure it reads (x; a constraint's bound as a dashed line), per method a colour; the default a
    square, the trials circles, the chosen setting a star; controls as crosses. ``picked``: ``tuning.choices``."""
    labels = {m["id"]: m["label"] for m in manifest["axes"]["method"]}
    entries = settings(manifest)
    out = {}
    for combo, found in picked.items():
        rule, means = found["rule"], found["means"]
        measures = rule.measures()
        if len(measures) < 2:
            continue
        y_key, x_key = measures[0], measures[1]
        figure = Figure(figsize=(6.4, 4.4), dpi=100)
        ax = figure.subplots()
        colours = iter(f"C{i}" for i in range(100))
        for base, ids in entries.items():
            points = [(s, means.get(s)) for s in ids]
            points = [(s, v[x_key], v[y_key]) for s, v in points if v and x_key in v and y_key in v]
            if not points:
                continue
            if base in manifest["tuning"]["controls"]:
                ((_, x, y),) = points[:1]
                ax.scatter([x], [y], marker="x", color="black")
                ax.annotate(labels[base], (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
                continue
            colour = next(colours)
            chosen = found["selected"].get(base, {}).get("chosen")
            ax.scatter([x for _, x, _ in points], [y for *_, y in points], color=colour, alpha=0.6, s=18,
                       label=labels[base])  # fmt: skip
            for setting, x, y in points:
                if setting == base:
                    ax.scatter([x], [y], marker="s", facecolors="none", edgecolors=colour, s=60)
                if setting == chosen:
                    ax.scatter([x], [y], marker="*", color=colour, s=180, edgecolors="black", linewidths=0.6)
        for bound in rule.constraints:
            threshold = bound_value(bound, means)
            if threshold is not None and (bound.measure, bound.split) == x_key:
                ax.axvline(threshold, linestyle="--", color="grey", label="constraint")
            if threshold is not None and (bound.measure, bound.split) == y_key:
                ax.axhline(threshold, linestyle="--", color="grey", label="constraint")
        ax.set(
            xlabel=f"{x_key[0]} on {x_key[1]} (validation, mean over seeds)",
            ylabel=f"{y_key[0]} on {y_key[1]} (validation)",
            title="□ default · ○ trials · ★ chosen · × controls",
        )
        ax.legend(fontsize=7)
        out[tuning_name(suite, combo)] = png(figure)
    return out


SEPARATION_RANGE = (-3.0, 10.0)  # Hedges' g drawn within this range (a constant control separates infinitely)


def separation_figure(
    panels: list[tuple[str, list[tuple[str, str, str, dict[int, float], dict[int, float]]]]],
) -> bytes:
    """Hedges' g between the known controls (y) against the number of evaluation images (x, log scale), one panel per
    (title, curves) and one line per curve (suite, setting, column, {images: g}, {images: p}), coloured by column
    within a panel."""
    figure = Figure(figsize=(5.2 * len(panels), 4.4), dpi=100)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    low, high = SEPARATION_RANGE
    for ax, (title, curves) in zip(axes, panels):
        headings = sorted({heading for _, _, heading, _, _ in curves})
        colours = {heading: f"C{i % 10}" for i, heading in enumerate(headings)}
        labelled = set()
        for _, _, heading, by_n, _ in curves:
            counts = sorted(by_n)
            ax.plot(
                counts,
                np.clip([by_n[n] for n in counts], low, high),
                marker="o",
                markersize=3,
                linewidth=1,
                color=colours[heading],
                label=None if heading in labelled else heading,
            )
            labelled.add(heading)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_ylim(low - 0.3, high + 0.3)
        ax.set(title=title, xlabel="evaluation images per seed", ylabel=f"Hedges' g (clipped to {low:g}…{high:g})")
        ax.legend(fontsize=6)
    return png(figure)
