"""Suites: YAML files that declare a grid of datasets, tasks, models, methods, metrics and seeds.

``suitefile`` reads the file (includes, ``--set``, ``${VAR}``); here the merged document is parsed against the schema,
each component is resolved through the plugin registry, and the cross-field checks run. Every error names the file,
the key path and what was expected.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

from . import suitefile
from .artefacts import load_checkpoint
from .embedding_map import EmbeddingMapConfig
from .errors import UserError, did_you_mean
from .executors import Resources
from .hashing import stable_hash
from .metrics import ExtractorRef
from .params import Where, added_field, parse, to_dict
from .plugins import Plugins, get_plugins
from .splits import SplitConfig
from .training import TrainRecipe
from .tuning import SweepConfig, TuningConfig, trial_assignments, trial_label, trial_params

SUITE_VERSION = 1
# Each reference model's twin: the upstream model of the same kind trained with another seed, for noise floors.
TWIN_OF = {"retrained": "twin", "original": "original-twin", "attack": "attack-twin"}


# ----------------------------------------------------------------------------------------------- the schema


@dataclasses.dataclass(frozen=True, kw_only=True)
class Entry:
    """A plugin used by the suite: its registered ``name``, an ``id`` unique on its axis, a ``label`` for tables."""

    name: str
    id: str | None = None
    label: str | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DatasetEntry(Entry):
    split: SplitConfig


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelEntry(Entry):
    train: TrainRecipe = dataclasses.field(default_factory=TrainRecipe)
    checkpoint: str | None = dataclasses.field(
        default=None, metadata={"help": "load the original model from this file instead of training it"}
    )
    # What one piece of work on this model (training an upstream model, or a whole cell) asks a cluster executor
    # for. It changes where work runs, not its results, so it stays out of cache keys.
    resources: Resources = dataclasses.field(default_factory=Resources)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MethodEntry(Entry):
    sweep: SweepConfig | None = dataclasses.field(
        default=None, metadata={"help": "settings to try beside params (needs the suite's tuning section)"}
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class MetricEntry(Entry):
    reference: Literal["ground-truth", "original", "attack", "retrained"] = "ground-truth"

    # A column's better direction is never the suite's to set: the metric declares it, and the reference and split
    # turn it (on D_F, farther from the attack model is better).
    unknown_key_hints: ClassVar[dict[str, str]] = dict.fromkeys(
        ("higher_is_better", "lower_is_better", "direction", "better"),
        "a column's better direction comes from the metric's declaration, turned by the reference and the split "
        "(farther from the attack model is better on D_F); remove the key, or write a metric plugin that declares "
        "the direction you mean",
    )


@dataclasses.dataclass(frozen=True)
class PaperTable:
    """Numbers a paper reports, shown beside ours (never mixed into them)."""

    source: str
    columns: list[str]
    rows: dict[str, list[float | None]]
    note: str | None = None
    methods: dict[str, str] | None = added_field(help="paper row → our method id, for comparing rankings (see ranks)")
    ranks: dict[str, str] | None = added_field(
        help="paper column → our column as '<metric id> <split>': the leaderboard compares the paper's ranking of "
        "the mapped methods with ours (Kendall τ, and which of our pairwise orders are significant)"
    )

    def __post_init__(self):
        for label, values in self.rows.items():
            if len(values) != len(self.columns):
                raise ValueError(f"paper row '{label}' has {len(values)} values for {len(self.columns)} columns")


@dataclasses.dataclass(frozen=True)
class TableConfig:
    """One leaderboard table: methods as rows, metrics × evaluation splits as columns."""

    id: str
    title: str | None = None
    caption: str | None = None
    where: dict[str, str] = dataclasses.field(
        default_factory=dict, metadata={"help": "axis → id filter, e.g. {dataset: fmnist-20}"}
    )
    metrics: list[str] | None = dataclasses.field(
        default=None, metadata={"help": "metric ids and audit measure ids ('<audit id>/<measure>'); default all"}
    )
    splits: list[Literal["retain", "forget", "unseen"]] = dataclasses.field(
        default_factory=lambda: ["retain", "forget"]
    )
    paper: PaperTable | None = None


@dataclasses.dataclass(frozen=True)
class LeaderboardConfig:
    tables: list[TableConfig] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    batch_size: int = dataclasses.field(default=256, metadata={"min": 1})
    feature_images: int | None = added_field(
        help="feature metrics (FID, KID, IS, CLIP) see this many evenly spaced images per split; null: all"
    )
    embedding_map: EmbeddingMapConfig | None = added_field(
        help="a t-SNE map of output embeddings per cell (Realistic-I2I Fig. 6)"
    )
    image_bootstrap: int | None = added_field(
        help="each feature metric (FID, KID, IS, CLIP) also records its value on this many resamples of the images "
        "(with replacement, the same resamples for every method of a seed): intervals over seeds and images"
    )
    image_subsets: list[int] | None = added_field(
        help="each feature metric also records its values on random subsets of these sizes of the images (without "
        "replacement, 25 per size, the same for every method of a seed; sizes not below the image count are "
        "skipped): how well it separates the controls against the number of evaluation images"
    )
    noise_floor: bool | list[Literal["retrained", "original", "attack"]] = added_field(
        False,
        help="the models whose comparisons get a noise floor: each metric against one of them is also measured "
        "between a second model of its kind, trained with another seed (its twin), and it; true: [retrained]; "
        "models no metric compares with are skipped",
    )

    @property
    def listed_floors(self) -> tuple[str, ...]:
        """The references ``noise_floor`` names (``true`` is the retrained model alone); :func:`floored` keeps those
        a metric compares with."""
        if isinstance(self.noise_floor, bool):
            return ("retrained",) if self.noise_floor else ()
        return tuple(self.noise_floor)

    def __post_init__(self):
        if self.feature_images is not None and self.feature_images < 2:
            raise ValueError("evaluate.feature_images must be at least 2 (or null for every image)")
        if self.image_bootstrap is not None and not 10 <= self.image_bootstrap <= 10_000:
            raise ValueError("evaluate.image_bootstrap must be between 10 and 10000 resamples (or null for none)")
        if self.image_subsets is not None and (
            not self.image_subsets
            or any(n < 2 for n in self.image_subsets)
            or self.image_subsets != sorted(set(self.image_subsets))
        ):
            raise ValueError("evaluate.image_subsets must list increasing subset sizes of at least 2 images")


@dataclasses.dataclass(frozen=True)
class SuiteDoc:
    version: int
    name: str
    datasets: list[DatasetEntry]
    tasks: list[Entry]
    models: list[ModelEntry]
    methods: list[MethodEntry]
    metrics: list[MetricEntry]
    description: str = ""
    seeds: list[int] = dataclasses.field(default_factory=lambda: [0])
    attack: Entry | None = dataclasses.field(
        default=None, metadata={"help": "an attack that shapes the starting model (e.g. backdoor poisoning)"}
    )
    audits: list[Entry] = dataclasses.field(
        default_factory=list, metadata={"help": "attack plugins that only measure (e.g. membership inference)"}
    )
    evaluate: EvaluateConfig = dataclasses.field(default_factory=EvaluateConfig)
    leaderboard: LeaderboardConfig = dataclasses.field(default_factory=LeaderboardConfig)
    tuning: TuningConfig | None = added_field(
        help="tune every method with a sweep on validation images, with equal budgets (see docs/tuning.md)"
    )

    def __post_init__(self):
        if not self.seeds or any(seed < 0 for seed in self.seeds) or len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must list distinct integers ≥ 0")


# ------------------------------------------------------------------------------------------ resolved suite


@dataclasses.dataclass
class Resolved:
    """A suite entry resolved to its registered plugin class, with its parameters parsed."""

    kind: str
    id: str
    label: str
    cls: type
    params: Any
    entry: Entry
    base: str | None = None  # in a tuning suite: the id of the method entry this setting belongs to
    trial: dict[str, Any] | None = None  # in a tuning suite: the swept values of this setting ({}: the default)

    @property
    def name(self) -> str:
        return self.entry.name

    def config(self) -> dict[str, Any]:
        """What determines this component's behaviour: recorded with results and hashed into cache keys."""
        provenance = self.cls.provenance
        return {
            "name": self.name,
            "params": to_dict(self.params),
            "plugin": {**provenance.as_dict(), **self.cls.identity()} if provenance else None,
        }

    def build(self, *args: Any):
        return self.cls(self.params, *args)


@dataclasses.dataclass
class Suite:
    file: Path
    doc: SuiteDoc
    data: dict[str, Any]  # the merged YAML, as validated
    datasets: list[Resolved]
    tasks: list[Resolved]
    models: list[Resolved]
    methods: list[Resolved]
    metrics: list[Resolved]
    attack: Resolved | None
    audits: list[Resolved] = dataclasses.field(default_factory=list)

    @property
    def name(self) -> str:
        return self.doc.name

    @property
    def auditors(self) -> list[Resolved]:
        """The attack (if any) and the audits: everything whose ``audit`` runs on each unlearned model."""
        return ([self.attack] if self.attack else []) + self.audits

    def measures(self) -> list[dict[str, Any]]:
        """The audits' numbers as leaderboard columns, with ids '<audit id>/<measure>'."""
        return [
            {
                "id": f"{auditor.id}/{name}",
                "display_name": measure.display_name,
                "higher_is_better": measure.higher_is_better,
                "reference": None,
                **({"target": measure.target} if measure.target is not None else {}),
            }
            for auditor in self.auditors
            for name, measure in auditor.cls.measures.items()
        ]

    @property
    def hash(self) -> str:
        """The suite's content, less the models' ``resources``: where a suite runs does not change what it is."""
        models = [{k: v for k, v in m.items() if k != "resources"} for m in self.data["models"]]
        return stable_hash({**self.data, "models": models})


def load_suite(path: str | Path, overrides: list[str] = ()) -> Suite:
    """Read, merge, interpolate (``suitefile``) and validate a suite. Raises :class:`ConfigError` on any problem."""
    data, root = suitefile.read(path, overrides)
    return _resolve(Path(path), parse(SuiteDoc, data, root), data, root)


def suite_from_data(path: str | Path, data: dict) -> Suite:
    """The suite whose merged, interpolated YAML is ``data`` (``Suite.data``): how workers rebuild the driver's suite
    without rereading files or their own environment."""
    root = Where((), lambda _path: str(path))
    return _resolve(Path(path), parse(SuiteDoc, data, root), data, root)


def bind_extractors(params: Any, where: Where, plugins: Plugins | None = None) -> None:
    """Bind every extractor reference in ``params`` (a tree of dataclasses and lists) to its plugin class and parsed
    parameters, so that the metrics and the embedding map using it never look a plugin up themselves."""
    if isinstance(params, ExtractorRef):
        cls = (plugins or get_plugins()).registry("extractor").get(params.name, where / "name")
        params.bind(cls, parse(cls.Params, params.params, where / "params"))
    elif isinstance(params, list | tuple):
        for i, value in enumerate(params):
            bind_extractors(value, where / i, plugins)
    elif dataclasses.is_dataclass(params) and not isinstance(params, type):
        for field in dataclasses.fields(params):
            bind_extractors(getattr(params, field.name), where / field.name, plugins)


def _resolve(path: Path, doc: SuiteDoc, data: dict, root: Where) -> Suite:
    if doc.version != SUITE_VERSION:
        raise (root / "version").error(f"expected {SUITE_VERSION}, the only suite version this release reads")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", doc.name):
        raise (root / "name").error("expected a name of letters, digits, '.', '_' and '-' (it names folders)")
    if not doc.seeds or len(set(doc.seeds)) != len(doc.seeds):
        raise (root / "seeds").error("expected a non-empty list of distinct integers")
    plugins = get_plugins()

    # A label may say which model unlearning starts from as '{start}', so that a row inherited through include:
    # stays true in a suite that adds or drops the attack.
    start = "attack model" if doc.attack else "original model"

    def resolve(kind: str, entry: Entry, where: Where) -> Resolved:
        cls = plugins.registry(kind).get(entry.name, where / "name")
        params = parse(cls.Params, entry.params, where / "params")
        bind_extractors(params, where / "params", plugins)
        cls.check_params(params, where / "params")
        ident = entry.id or entry.name
        return Resolved(kind, ident, (entry.label or ident).replace("{start}", start), cls, params, entry)

    axes: dict[str, list[Resolved]] = {}
    for kind, key in (
        ("dataset", "datasets"),
        ("task", "tasks"),
        ("model", "models"),
        ("method", "methods"),
        ("metric", "metrics"),
    ):
        entries = getattr(doc, key)
        if not entries:
            raise (root / key).error(f"expected at least one {kind}")
        components = [resolve(kind, e, root / key / i) for i, e in enumerate(entries)]
        seen: dict[str, int] = {}
        for i, c in enumerate(components):
            if c.id in seen:
                raise (root / key / i).error(
                    f"{kind} id '{c.id}' is used twice (items {seen[c.id]} and {i}); give one of them an 'id'"
                )
            seen[c.id] = i
        axes[key] = components
    if doc.tuning is not None:
        axes["methods"] = _with_trials(axes["methods"], doc.tuning, root)
    else:
        for i, entry in enumerate(doc.methods):
            if entry.sweep is not None:
                raise (root / "methods" / i / "sweep").error(
                    "a sweep needs the suite's 'tuning' section (budget, validation images, selection rule)"
                )
    attack = resolve("attack", doc.attack, root / "attack") if doc.attack else None
    audits = [resolve("attack", e, root / "audits" / i) for i, e in enumerate(doc.audits)]
    audit_ids = [attack.id] if attack else []
    for i, audit in enumerate(audits):
        if audit.id in audit_ids:
            raise (root / "audits" / i).error(f"audit id '{audit.id}' is used twice; give one of them an 'id'")
        audit_ids.append(audit.id)
    suite = Suite(
        path,
        doc,
        data,
        axes["datasets"],
        axes["tasks"],
        axes["models"],
        axes["methods"],
        axes["metrics"],
        attack,
        audits,
    )
    _check_references(suite, root)
    _check_tuning(suite, root)
    _check_pretraining(suite, root)
    _check_tables(suite, root)
    _check_classes(suite, root)
    _check_files(suite, root)
    return suite


def _with_trials(methods: list[Resolved], tuning: TuningConfig, root: Where) -> list[Resolved]:
    """Each method of a tuning suite at its own setting, and each swept one also at its trial settings
    (``<id>.t1`` …). A trial equal to an earlier setting of the method is an error: it would be a duplicate cell."""
    out = []
    for i, method in enumerate(methods):
        out.append(dataclasses.replace(method, base=method.id, trial={}))
        sweep = method.entry.sweep
        if sweep is None:
            continue
        where = root / "methods" / i / "sweep"
        seen = [to_dict(method.params)]
        assignments = trial_assignments(method.cls.Params, method.id, sweep, tuning.budget, tuning.seed, where)
        kind = "grid" if sweep.grid is not None else "random"
        for n, assignment in enumerate(assignments, 1):
            params = trial_params(method.cls.Params, method.entry.params, assignment, where / kind)
            bind_extractors(params, where)
            method.cls.check_params(params, where)
            if to_dict(params) in seen:
                shown = ", ".join(f"{p} = {v!r}" for p, v in assignment.items())
                raise where.error(
                    f"the trial {shown} repeats {'the default setting' if to_dict(params) == seen[0] else 'a trial'} "
                    "of this method: every setting must differ (change the sweep's values)"
                )
            seen.append(to_dict(params))
            out.append(
                Resolved(
                    "method", f"{method.id}.t{n}", trial_label(method.label, assignment), method.cls, params,
                    method.entry, base=method.id, trial=assignment,
                )
            )  # fmt: skip
    ids = [m.id for m in out]
    for i, method in enumerate(methods):
        if ids.count(method.id) > 1:
            raise (root / "methods" / i / "id").error(
                f"method id '{method.id}' is also the name of another method's trial setting: choose another id"
            )
    return out


def _check_tuning(suite: Suite, root: Where) -> None:
    """Equal budgets, controls that exist, a rule that reads numbers the suite measures, validation images that
    exist."""
    tuning = suite.doc.tuning
    if tuning is None:
        return
    where = root / "tuning"
    # Each method entry of the file, by id, with its position there (its trials follow it on the axis).
    entries = {m.id: (i, m) for i, m in enumerate(m for m in suite.methods if m.trial == {})}
    for c, control in enumerate(tuning.controls):
        if control not in entries:
            raise (where / "controls" / c).error(f"no method has id '{control}'{did_you_mean(control, entries)}")
        i, method = entries[control]
        if method.entry.sweep is not None:
            raise (root / "methods" / i / "sweep").error(
                f"'{control}' is a control (tuning.controls): remove its sweep"
            )
    counts = {}
    for ident, (i, method) in entries.items():
        if ident in tuning.controls:
            continue
        if method.entry.sweep is None:
            raise (root / "methods" / i).error(
                f"method '{ident}' is neither swept nor a control: give it a 'sweep' (the same budget as the others) "
                "or list it in tuning.controls"
            )
        counts[ident] = sum(m.base == ident and bool(m.trial) for m in suite.methods)
    for ident, count in counts.items():
        if count != tuning.budget and not tuning.unequal_budget:
            raise (root / "methods" / entries[ident][0] / "sweep").error(
                f"method '{ident}' has {count} trial settings, but tuning.budget is {tuning.budget}: every swept "
                "method gets the same budget (or set tuning.unequal_budget: true and say why)"
            )
    known = {m.id for m in suite.metrics} | {m["id"] for m in suite.measures()}
    rule = tuning.select
    for kind, items in (("goals", rule.goals), ("constraints", rule.constraints)):
        for k, item in enumerate(items):
            if item.measure not in known:
                raise (where / "select" / kind / k / "measure").error(
                    f"no metric or audit measure has id '{item.measure}'{did_you_mean(item.measure, known)}"
                )
            if item.split == "unseen":
                raise (where / "select" / kind / k / "split").error(
                    "validation images exist for forget and retain only"
                )
            relative = getattr(item, "relative_to", None)
            if relative is not None and relative not in tuning.controls:
                raise (where / "select" / kind / k / "relative_to").error(
                    f"expected one of the controls ({', '.join(tuning.controls) or 'none listed'}), got '{relative}'"
                )
    for i, dataset in enumerate(suite.datasets):
        split = dataset.entry.split
        if split.level != "class":
            raise (root / "datasets" / i / "split" / "level").error(
                "tuning reads validation images of held-out training images, which class-level splits have; a "
                "sample-level split's forget set is its training images themselves (not supported yet)"
            )
        if split.train_per_class is None:
            raise (root / "datasets" / i / "split" / "train_per_class").error(
                "tuning needs held-out training images: set train_per_class below the dataset's images per class"
            )


def floored(suite: Suite) -> tuple[str, ...]:
    """The references whose comparisons get a noise floor: those ``evaluate.noise_floor`` names that a metric compares
    with (a suite may inherit a list naming others through ``include:``)."""
    compared = {m.entry.reference for m in suite.metrics}
    return tuple(dict.fromkeys(r for r in suite.doc.evaluate.listed_floors if r in compared))


def _check_references(suite: Suite, root: Where) -> None:
    for i, audit in enumerate(suite.audits):
        needed = audit.cls.needs_attack
        if needed is None:
            continue
        where = root / "audits" / i
        if suite.attack is None or suite.attack.name != needed:
            raise (where / "name").error(f"audit '{audit.name}' needs the suite's attack to be '{needed}'")
        audit.cls.check_with_attack(audit.params, suite.attack.params, where / "params")
    for i, metric in enumerate(suite.metrics):
        if metric.entry.reference == "attack" and suite.attack is None:
            raise (root / "metrics" / i / "reference").error(
                "reference 'attack' needs an 'attack' in the suite; use ground-truth, original or retrained"
            )
    retrained_here = [reference for reference in floored(suite) if reference in ("original", "attack")]
    fixed = [m.id for m in suite.models if m.entry.checkpoint is not None]
    if retrained_here and fixed:
        reference = retrained_here[0]
        raise (root / "evaluate" / "noise_floor").error(
            f"a noise floor against the {reference} model trains a second one with another seed, but model "
            f"'{fixed[0]}' starts from a checkpoint: drop '{reference}' or the checkpoint"
        )
    embedding_map = suite.doc.evaluate.embedding_map
    if embedding_map is not None:
        where = root / "evaluate" / "embedding_map"
        bind_extractors(embedding_map, where)
        embedding_map.check(where)
        if embedding_map.reference == "attack" and suite.attack is None:
            raise (where / "reference").error("reference 'attack' needs an 'attack' in the suite")


def retain_images(split: SplitConfig) -> int | None:
    """How many training images D_R holds, when the split fixes it (explicit retain classes and a per-class cap)."""
    if split.retain_classes is None or split.train_per_class is None:
        return None
    kept = len(split.retain_classes) * split.train_per_class
    if split.level == "sample":
        per_class = split.train_per_class - math.ceil(split.forget_fraction * split.train_per_class)
        kept += len(split.forget_classes) * per_class
    return kept


def _check_pretraining(suite: Suite, root: Where) -> None:
    """Each model's parameters against its shortest pre-training: the retrained model's, on D_R alone."""
    sizes = [n for n in (retain_images(d.entry.split) for d in suite.datasets) if n is not None]
    if not sizes:
        return
    for i, model in enumerate(suite.models):
        recipe = model.entry.train
        steps = -(-min(sizes) // recipe.batch_size) * recipe.epochs
        model.cls.check_pretraining(model.params, steps, root / "models" / i / "params")


def _check_tables(suite: Suite, root: Where) -> None:
    ids = {
        "dataset": [c.id for c in suite.datasets],
        "task": [c.id for c in suite.tasks],
        "model": [c.id for c in suite.models],
        "method": [c.id for c in suite.methods],
    }
    metric_ids = [m.id for m in suite.metrics] + [m["id"] for m in suite.measures()]
    has_unseen = any(d.entry.split.unseen_classes for d in suite.datasets)
    seen_tables: set[str] = set()
    for t, table in enumerate(suite.doc.leaderboard.tables):
        where = root / "leaderboard" / "tables" / t
        if table.id in seen_tables:
            raise (where / "id").error(f"table id '{table.id}' is used twice")
        seen_tables.add(table.id)
        for axis, value in table.where.items():
            if axis not in ids:
                raise (where / "where" / axis).error(f"expected one of the axes {', '.join(ids)}")
            if value not in ids[axis]:
                raise (where / "where" / axis).error(f"no {axis} has id '{value}'{did_you_mean(value, ids[axis])}")
        for m, metric in enumerate(table.metrics or ()):
            if metric not in metric_ids:
                raise (where / "metrics" / m).error(
                    f"no metric or audit measure has id '{metric}'{did_you_mean(metric, metric_ids)}"
                )
        if "unseen" in table.splits and not has_unseen:
            raise (where / "splits").error("'unseen' needs unseen_classes in a dataset's split")
        if table.paper is not None:
            _check_ranks(table, table.metrics or metric_ids, ids["method"], where / "paper")


def _check_ranks(table: TableConfig, metrics: list[str], methods: list[str], where: Where) -> None:
    paper = table.paper
    for row, method in (paper.methods or {}).items():
        if row not in paper.rows:
            raise (where / "methods" / row).error(f"the paper has no row '{row}'{did_you_mean(row, paper.rows)}")
        if method not in methods:
            raise (where / "methods" / row).error(f"no method has id '{method}'{did_you_mean(method, methods)}")
    if paper.ranks and not paper.methods:
        raise (where / "ranks").error("comparing rankings needs 'methods': which paper row is which of our methods")
    for column, ours in (paper.ranks or {}).items():
        if column not in paper.columns:
            raise (where / "ranks" / column).error(
                f"the paper has no column '{column}'{did_you_mean(column, paper.columns)}"
            )
        metric, _, split = ours.partition(" ")
        if metric not in metrics or split not in table.splits:
            raise (where / "ranks" / column).error(
                f"expected '<metric id> <split>' with a metric of this table ({', '.join(metrics)}) and one of its "
                f"splits ({', '.join(table.splits)}), got '{ours}'"
            )


def _check_classes(suite: Suite, root: Where) -> None:
    for i, dataset in enumerate(suite.datasets):
        count = dataset.cls.num_classes
        split = dataset.entry.split
        for name in ("forget_classes", "retain_classes", "unseen_classes", "proxy_classes"):
            outside = [c for c in getattr(split, name) or () if not 0 <= c < (count or math.inf)]
            if outside:
                allowed = f"0 to {count - 1}" if count else "0 or more"
                raise (root / "datasets" / i / "split" / name).error(
                    f"class {outside[0]} does not exist: {dataset.name} has classes {allowed}"
                )


def _check_files(suite: Suite, root: Where) -> None:
    for i, dataset in enumerate(suite.datasets):
        try:
            dataset.build().check()
        except UserError as exc:  # the plugin's own message says what layout it expected
            raise (root / "datasets" / i / "params").error(str(exc)) from None
    for i, model in enumerate(suite.models):
        checkpoint = model.entry.checkpoint
        if checkpoint is not None and not Path(checkpoint).is_file():
            raise (root / "models" / i / "checkpoint").error(
                f"no checkpoint file at {checkpoint} (expected a state_dict saved with torch.save)"
            )
        if checkpoint is not None:
            _check_checkpoint(checkpoint, root / "models" / i / "checkpoint")


def _check_checkpoint(path: str, where: Where) -> None:
    """A checkpoint must load as tensors alone (never unpickling code) and hold a state_dict."""
    try:
        state = load_checkpoint(path)
    except Exception as exc:  # noqa: BLE001 - any failure to read is the file's fault
        reason = " ".join(str(exc).split())[:120]
        raise where.error(
            f"{path} is not a tensor checkpoint that loads with torch.load(weights_only=True): "
            f"{type(exc).__name__}: {reason}"
        ) from None
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise where.error(f"{path} holds no state_dict (expected a mapping of parameter names to tensors)")
