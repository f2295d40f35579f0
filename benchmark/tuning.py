"""Fair tuning: hyper-parameter sweeps with equal budgets, chosen on held-out validation images.

A suite with a ``tuning:`` section tunes every method that declares ``sweep:``. Each swept method runs at its own
setting (the *default*, as written in ``params``) and at ``budget`` trial settings (a grid, or a seeded random
search); every setting is a method of its own on the method axis (``<id>.t1`` …), so its cells are content-addressed,
shared upstream models are reused and an interrupted sweep resumes like any suite. Methods named in ``controls``
(no unlearning, retraining) are not tuned.

Besides its test evaluation, every cell of a tuning suite measures the rule's numbers on *validation* images: training
images of the forget and retain classes that no model trained on and that no test evaluation uses, drawn with the
seed. The rule — goals in order (the first decides, the next break ties), subject to constraints, on the mean over
seeds — is applied to those validation numbers only; the leaderboard then reports the chosen setting of each method on
the test images, beside the default settings.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import statistics
from collections.abc import Callable
from typing import Any, Literal

import torch

from .errors import ConfigError, did_you_mean
from .params import Where, coerce, describe, parse
from .splits import Split

Part = Literal["retain", "forget", "unseen"]


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """The settings a method is tried at, by parameter path (``ascent.optimizer.lr``): a ``grid`` of value lists, or
    a ``random`` search of ``tuning.budget`` draws (a list: a uniform choice; ``{uniform: [a, b]}``;
    ``{log_uniform: [a, b]}``; ``{int_uniform: [a, b]}``, ends included)."""

    grid: dict[str, Any] | None = None
    random: dict[str, Any] | None = None

    def __post_init__(self):
        if (self.grid is None) == (self.random is None):
            raise ValueError("a sweep sets exactly one of grid and random")


@dataclasses.dataclass(frozen=True)
class Goal:
    measure: str = dataclasses.field(metadata={"help": "a metric id or an audit measure id ('<audit>/<measure>')"})
    goal: Literal["min", "max"]
    split: Part = "forget"


@dataclasses.dataclass(frozen=True)
class Bound:
    measure: str
    split: Part = "retain"
    at_least: float | None = None
    at_most: float | None = None
    relative_to: str | None = dataclasses.field(
        default=None, metadata={"help": "a control method's id: the bound is an offset from its validation mean"}
    )

    def __post_init__(self):
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError("a constraint sets exactly one of at_least and at_most")

    def describe(self) -> str:
        sign, bound = ("≥", self.at_least) if self.at_least is not None else ("≤", self.at_most)
        offset = f" {'+' if bound >= 0 else '−'} {abs(bound):g}" if bound else ""
        target = f"{bound:g}" if self.relative_to is None else f"{self.relative_to}'s value{offset}"
        return f"{self.measure} on {self.split} {sign} {target}"


@dataclasses.dataclass(frozen=True)
class SelectionRule:
    goals: list[Goal] = dataclasses.field(metadata={"help": "in order: the first decides, the next break ties"})
    constraints: list[Bound] = dataclasses.field(default_factory=list)

    def __post_init__(self):
        if not self.goals:
            raise ValueError("a selection rule needs at least one goal")

    def measures(self) -> list[tuple[str, str]]:
        """(measure, split) of every goal and constraint, in order, without repeats."""
        pairs = [(g.measure, g.split) for g in self.goals] + [(b.measure, b.split) for b in self.constraints]
        return list(dict.fromkeys(pairs))

    def describe(self) -> str:
        goals = ", then ".join(f"{g.goal}imise {g.measure} on {g.split}" for g in self.goals)
        bounds = " and ".join(b.describe() for b in self.constraints)
        return goals + (f", subject to {bounds}" if bounds else "")


@dataclasses.dataclass(frozen=True)
class TuningConfig:
    budget: int = dataclasses.field(metadata={"min": 1, "help": "trial settings per swept method, beside its default"})
    validation_per_class: int = dataclasses.field(
        metadata={"min": 1, "help": "held-out training images per forget and retain class on which the rule is read"}
    )
    select: SelectionRule
    controls: list[str] = dataclasses.field(
        default_factory=list, metadata={"help": "method ids that are not tuned (no unlearning, retraining)"}
    )
    unequal_budget: bool = dataclasses.field(
        default=False, metadata={"help": "allow swept methods different numbers of trials (an unfair comparison)"}
    )
    seed: int = dataclasses.field(default=0, metadata={"help": "seeds the random searches"})

    def key_config(self) -> dict[str, Any]:
        """What changes a cell's result rows: the validation images and the numbers measured on them."""
        return {"validation_per_class": self.validation_per_class, "measures": self.select.measures()}


# --------------------------------------------------------------------------------------------- the trials


def _set_path(params: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of the nested mapping ``params`` with the dotted ``path`` set to ``value``."""
    head, _, rest = path.partition(".")
    out = dict(params or {})
    out[head] = _set_path(out.get(head) if isinstance(out.get(head), dict) else {}, rest, value) if rest else value
    return out


def _significant(value: Any) -> Any:
    return float(f"{value:.3g}") if isinstance(value, float) else value


def _draw(spec: Any, rng: random.Random, where: Where) -> Any:
    if isinstance(spec, list) and spec:
        return rng.choice(spec)
    if isinstance(spec, dict) and len(spec) == 1:
        ((kind, bounds),) = spec.items()
        if kind in ("uniform", "log_uniform", "int_uniform") and isinstance(bounds, list) and len(bounds) == 2:
            low, high = (coerce(b, float, where / kind / i) for i, b in enumerate(bounds))
            if low > high or (kind == "log_uniform" and low <= 0):
                raise (where / kind).error(
                    f"expected [low, high] with low ≤ high{' and low > 0' * (kind == 'log_uniform')}"
                )
            if kind == "uniform":
                return _significant(rng.uniform(low, high))
            if kind == "log_uniform":
                return _significant(math.exp(rng.uniform(math.log(low), math.log(high))))
            if low != int(low) or high != int(high):
                raise (where / kind).error("expected integer ends")
            return rng.randint(int(low), int(high))
    raise where.error(
        "expected a non-empty list of values, or one of {uniform: [low, high]}, {log_uniform: [low, high]}, "
        f"{{int_uniform: [low, high]}}; got {spec!r}"
    )


def trial_assignments(
    params_cls: type, method_id: str, sweep: SweepConfig, budget: int, seed: int, where: Where
) -> list[dict[str, Any]]:
    """The parameter assignments (path → value) of a method's trials, in a stable order. ``where`` is the sweep's."""
    kind = "grid" if sweep.grid is not None else "random"
    space = sweep.grid if sweep.grid is not None else sweep.random
    here = where / kind
    if not space:
        raise here.error("expected at least one parameter path to sweep")
    known = [name for name, *_ in describe(params_cls)]
    for path in space:
        if path not in known:
            raise (here / path).error(f"unknown parameter '{path}' of method '{method_id}'{did_you_mean(path, known)}")
    if kind == "grid":
        for path, values in space.items():
            if not isinstance(values, list) or not values:
                raise (here / path).error(f"expected a non-empty list of values, got {values!r}")
        return [dict(zip(space, combo)) for combo in itertools.product(*space.values())]
    # A generator per method (seeded by the suite's tuning seed and the method id): adding a method changes no other
    # method's draws.
    rng = random.Random(f"{seed}/{method_id}")
    out: list[dict[str, Any]] = []
    for _ in range(100 * budget):
        draw = {path: _draw(spec, rng, here / path) for path, spec in space.items()}
        if draw not in out:
            out.append(draw)
        if len(out) == budget:
            break
    return out


def trial_params(params_cls: type, base: dict[str, Any], assignment: dict[str, Any], where: Where) -> Any:
    """The parsed parameters of one trial: ``base`` (the entry's params) with ``assignment`` applied. A value the
    parameter cannot take is reported at the sweep key that gave it."""
    values = dict(base or {})
    for path, value in assignment.items():
        values = _set_path(values, path, value)
    try:
        return parse(params_cls, values, Where())
    except ConfigError as exc:
        path = exc.key if exc.key in assignment else next(iter(assignment))
        shown = ", ".join(f"{p} = {v!r}" for p, v in assignment.items())
        raise (where / path).error(f"the trial {shown} is not a valid setting: {exc.message}") from None


def describe_assignment(assignment: dict[str, Any], short: bool = False, sep: str = " = ") -> str:
    """'path = value, …' (``short``: the last part of each path only), floats as ``%g``."""
    return ", ".join(
        f"{path.rsplit('.', 1)[-1] if short else path}{sep}{value:g}"
        if isinstance(value, float)
        else f"{path.rsplit('.', 1)[-1] if short else path}{sep}{value}"
        for path, value in assignment.items()
    )


def trial_label(label: str, assignment: dict[str, Any]) -> str:
    return f"{label} [{describe_assignment(assignment, short=True, sep='=')}]"


# ------------------------------------------------------------------------------------------ validation images


def validation_split(
    split: Split, train_targets: list[int] | torch.Tensor, classes: dict[str, list[int]], per_class: int, seed: int
) -> Split:
    """``split`` with its evaluation parts replaced by validation images: ``per_class`` training images of each
    forget and retain class that are in no training part (never trained on, never evaluated), drawn with ``seed``
    by a generator of their own (the split itself is unchanged). ``classes`` maps 'forget'/'retain' to classes."""
    used = {i for indices in split.train.values() for i in indices}
    wanted = {c: part for part, cs in classes.items() for c in cs}
    free: dict[int, list[int]] = {c: [] for c in wanted}
    for index, label in enumerate(train_targets.tolist() if torch.is_tensor(train_targets) else train_targets):
        if int(label) in free and index not in used:
            free[int(label)].append(index)
    gen = torch.Generator().manual_seed(seed * 1_000_003 + 777_767)
    evaluate: dict[str, tuple[str, list[int]]] = {part: ("train", []) for part in classes}
    for c in sorted(free):
        if len(free[c]) < per_class:
            raise ValueError(
                f"class {c} has {len(free[c])} training images outside the training parts, fewer than "
                f"tuning.validation_per_class = {per_class}: lower it, or lower the split's train_per_class"
            )
        order = torch.randperm(len(free[c]), generator=gen)[:per_class].sort().values.tolist()
        evaluate[wanted[c]][1].extend(free[c][k] for k in order)
    evaluate = {part: (source, sorted(ix)) for part, (source, ix) in evaluate.items()}
    return dataclasses.replace(split, evaluate=evaluate)


# -------------------------------------------------------------------------------------------------- selection


def validation_means(
    rows: list[dict[str, Any]], methods: list[str], seeds: list[int], took: Callable[[dict, str], bool]
) -> dict[str, dict[tuple[str, str], float] | None]:
    """Per method id, the mean over seeds of each validation number; None for a method with a seed that failed or
    has no row (a setting that diverged in one seed is not a candidate). ``took(row, measure)`` says whether an audit
    measure's attack took in that row; seeds where it did not are left out of that measure's mean."""
    by_method: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for row in rows:
        method = row["cell"]["axes"]["method"]
        if method in by_method:
            by_method[method].append(row)
    out: dict[str, dict[tuple[str, str], float] | None] = {}
    for method, found in by_method.items():
        if sorted(r["seed"] for r in found) != sorted(seeds) or any(r["status"] != "ok" for r in found):
            out[method] = None
            continue
        values: dict[tuple[str, str], list[float]] = {}
        for row in found:
            validation = row.get("validation") or {}
            view = {"audit": validation.get("audit")}
            for result in validation.get("metrics", []):
                if took(view, result["metric"]):
                    values.setdefault((result["metric"], result["split"]), []).append(result["value"])
        out[method] = {key: statistics.fmean(v) for key, v in values.items()}
    return out


def select(rule: SelectionRule, trials: dict[str, list[str]], means: dict[str, dict | None]) -> dict[str, dict]:
    """For each tuned method (``trials``: method entry id → its setting ids, default first), the chosen setting.

    A setting is feasible when every constraint holds on its validation means; the chosen one is the best feasible
    setting by the goals in order (ties: the earlier setting, so the default wins a tie). With no feasible setting,
    the one that violates the constraints least (the largest shortfall, in the measures' own units, smallest) is
    chosen and flagged."""
    out = {}
    for method, ids in trials.items():
        candidates = [s for s in ids if means.get(s) is not None]
        if not candidates:
            out[method] = {"chosen": None, "feasible": False, "candidates": 0}
            continue
        shortfall = {s: _shortfall(rule, means[s], means) for s in candidates}
        feasible = [s for s in candidates if shortfall[s] == 0]
        pool = feasible or [min(candidates, key=lambda s: shortfall[s])]
        chosen = min(pool, key=lambda setting: _order(rule, means[setting], ids.index(setting)))
        out[method] = {
            "chosen": chosen,
            "feasible": bool(feasible),
            "candidates": len(candidates),
        }
    return out


def _order(rule: SelectionRule, values: dict[tuple[str, str], float], position: int) -> tuple:
    """Sort key of a setting: each goal's value, signed so that lower is better, then its position."""
    key = []
    for goal in rule.goals:
        value = values.get((goal.measure, goal.split))
        key.append(math.inf if value is None else (value if goal.goal == "min" else -value))
    return (*key, position)


def bound_value(bound: Bound, means: dict[str, dict | None]) -> float | None:
    """The constraint's threshold: its number, or the control's validation mean plus it (None: control missing)."""
    offset = bound.at_least if bound.at_least is not None else bound.at_most
    if bound.relative_to is None:
        return offset
    control = means.get(bound.relative_to)
    value = None if control is None else control.get((bound.measure, bound.split))
    return None if value is None else value + offset


def _shortfall(rule: SelectionRule, values: dict[tuple[str, str], float], means: dict[str, dict | None]) -> float:
    total = 0.0
    for bound in rule.constraints:
        threshold = bound_value(bound, means)
        value = values.get((bound.measure, bound.split))
        if threshold is None or value is None:
            return math.inf
        total += max(0.0, threshold - value) if bound.at_least is not None else max(0.0, value - threshold)
    return total


# ---------------------------------------------------------------------------------------------- leaderboards
# These read a suite's manifest (``runner.manifest``) and result rows: plain data, so every published choice is
# recomputed from committed rows.


def settings(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """Method entry id → the ids of its settings on the method axis, the default first."""
    out: dict[str, list[str]] = {}
    for method in manifest["axes"]["method"]:
        out.setdefault(method.get("base", method["id"]), []).append(method["id"])
    return out


def combos(manifest: dict[str, Any]) -> list[tuple[str, str, str]]:
    return list(dict.fromkeys((c["dataset"], c["task"], c["model"]) for c in manifest["cells"]))


def rule_of(manifest: dict[str, Any]) -> SelectionRule:
    """The selection rule a tuning suite's manifest records."""
    return parse(SelectionRule, manifest["tuning"]["select"], Where(("tuning", "select")))


def choices(manifest: dict[str, Any], rows: dict[str, dict], took: Callable[[dict, str], bool]) -> dict[tuple, dict]:
    """Per (dataset, task, model): the validation means of every setting and each tuned method's chosen setting."""
    tuning = manifest["tuning"]
    rule = rule_of(manifest)
    by_method = settings(manifest)
    tuned = {base: ids for base, ids in by_method.items() if base not in tuning["controls"]}
    out = {}
    for combo in combos(manifest):
        found = [
            rows[c["id"]]
            for c in manifest["cells"]
            if (c["dataset"], c["task"], c["model"]) == combo and c["id"] in rows
        ]
        means = validation_means(found, [m["id"] for m in manifest["axes"]["method"]], manifest["seeds"], took)
        out[combo] = {"means": means, "selected": select(rule, tuned, means), "rule": rule}
    return out


def view(manifest: dict[str, Any], picks: dict[tuple, dict[str, str]]) -> dict[str, Any]:
    """The manifest of one setting per method (``picks``: per combo, method entry id → setting id; a method not in
    it keeps its default): the method axis holds the entries, each cell keeps its id and row, so every table,
    figure and test made for ordinary suites reads it unchanged."""
    entries = settings(manifest)
    labels = {m["id"]: m["label"] for m in manifest["axes"]["method"]}
    base_of = {setting: base for base, ids in entries.items() for setting in ids}
    cells = []
    for cell in manifest["cells"]:
        base = base_of[cell["method"]]
        combo = (cell["dataset"], cell["task"], cell["model"])
        if picks.get(combo, {}).get(base, base) == cell["method"]:
            cells.append({**cell, "method": base})
    axes = {**manifest["axes"], "method": [{"id": base, "label": labels[base]} for base in entries]}
    return {**manifest, "axes": axes, "cells": cells}
