"""The cell worker: builds (or loads) the models a cell needs, unlearns, evaluates and audits it, and returns its
row. It owns the data, model and artefact side of a run and never touches a result store: the runner drives it in
this process, and a cluster executor builds one per worker process from the suite alone.

A cell that fails (an exception, a diverging loss, a failed upstream artefact) comes back as a failed row with its
reason, never as an exception.
"""

from __future__ import annotations

import copy
import datetime
import time
import traceback
from collections import OrderedDict
from typing import Any

import torch
from tqdm.auto import tqdm

from .artefacts import ArtefactStore, load_checkpoint
from .attacks import AuditReport
from .component import code_fingerprint
from .context import RunContext
from .data import SplitData
from .datasets import ImageData, InMemoryImages
from .embedding_map import embedding_map
from .environment import environment
from .errors import CellFailed
from .evaluate import evaluate, per_image_entry
from .executors import CellOutcome
from .features import FeatureCache, to_uint8
from .hashing import stable_hash
from .models import I2IModel, frozen_copy
from .plan import UPSTREAM, Cell, expand
from .results import ROW_SCHEMA
from .splits import Split, make_split
from .suite import Resolved, Suite
from .tuning import validation_split

SAMPLES = 6  # images per evaluation split kept for output grids
SHADOW_SEED_OFFSET = 100_003  # the shadow model's seed, unrelated to the cell's
TWIN_SEED_OFFSET = 200_003  # the twins (second retrained, original and attack models) likewise


def audit_rows(auditor: Resolved, report: AuditReport) -> list[dict[str, Any]]:
    """An audit's numbers as result entries shaped like metric results (the leaderboard shows both alike)."""
    unknown = set(report.values) - set(auditor.cls.measures)
    if unknown:
        raise CellFailed(f"audit '{auditor.name}' reported undeclared measures {sorted(unknown)}")
    return [
        {
            "metric": f"{auditor.id}/{name}",
            "name": auditor.name,
            "display_name": auditor.cls.measures[name].display_name,
            "higher_is_better": auditor.cls.measures[name].higher_is_better,
            "split": split,
            "reference": None,
            "value": float(value),
            **per_image_entry(report.per_image.get(name, {}).get(split)),
        }
        for name, by_split in report.values.items()
        for split, value in by_split.items()
    ]


class CellWorker:
    """Runs single cells of ``suite``: each upstream model is built (or loaded from ``artefacts``) at most once and
    the last few are kept in memory, the data of each dataset is loaded once."""

    def __init__(self, suite: Suite, artefacts: ArtefactStore, device: torch.device, show_progress: bool = True):
        self.suite = suite
        self.artefacts = artefacts
        self.features = FeatureCache(artefacts.root)
        self.device = device
        self.show_progress = show_progress
        self.cells = expand(suite)
        torch.use_deterministic_algorithms(True, warn_only=True)
        self._images: dict[str, ImageData] = {}
        self._splits: dict[tuple[str, int], Split] = {}
        self._models: OrderedDict[str, tuple[I2IModel, dict]] = OrderedDict()
        self._failed: dict[str, str] = {}
        self._fingerprints: dict[str, str] = {}

    def code_of(self, cell: Cell) -> str:
        """A fingerprint of the code of every component the cell runs, and of the harness: recorded in a failed row,
        so that the failure is retried once that code changes."""
        components = [cell.dataset, cell.task, cell.model, cell.method, *cell.auditors, *cell.metrics]
        modules = sorted({c.cls.__module__ for c in components} | {__name__})
        for module in modules:
            if module not in self._fingerprints:
                self._fingerprints[module] = code_fingerprint(module)
        return stable_hash([self._fingerprints[m] for m in modules])[:16]

    # ----------------------------------------------------------------------------------------------- cells

    def new_row(self, cell: Cell) -> dict[str, Any]:
        """A result row for ``cell`` before anything ran."""
        return {
            "schema": ROW_SCHEMA,
            "suite": {"name": self.suite.name, "file": str(self.suite.file), "hash": self.suite.hash},
            "cell": {"id": cell.id, "key": cell.key, "axes": cell.axes, "labels": {"method": cell.method.label}},
            "seed": cell.seed,
            "config": cell.config,
            "artefacts": cell.keys,
            "status": "ok",
            "error": None,
            "metrics": [],
            "audit": None,
            "method": None,
        }

    def failed_outcome(self, cell: Cell, error_type: str, message: str) -> CellOutcome:
        """The row of a cell that failed outside :meth:`run_cell` (e.g. its worker died)."""
        row = self.new_row(cell)
        row |= {"status": "failed", "error": {"type": error_type, "message": message, "traceback": None}}
        row |= {"environment": None, "started_at": None, "wall_time_s": 0.0}
        return CellOutcome(row)

    def run_cell(self, cell: Cell) -> CellOutcome:
        """Train (or load) what ``cell`` needs, unlearn, evaluate and audit; any failure gives a failed row."""
        started = datetime.datetime.now(datetime.timezone.utc)
        clock = time.perf_counter()
        row = self.new_row(cell)
        samples = None
        try:
            model, meta = self.unlearned(cell)
            row["method"] = meta
            references = {name: self.model(cell, name)[0] for name in cell.references}
            evaluate_clock = time.perf_counter()
            ctx = self.context(cell)
            row["metrics"] = evaluate(
                model,
                ctx.data,
                cell.metrics,
                references,
                self.suite.doc.evaluate.batch_size,
                self.show_progress,
                feature_images=self.suite.doc.evaluate.feature_images,
                image_bootstrap=self.suite.doc.evaluate.image_bootstrap,
                image_subsets=self.suite.doc.evaluate.image_subsets,
                cache=self.features,
                reference_keys=cell.reference_keys,
            )
            samples = self.samples(cell, model, ctx.data)
            if self.suite.doc.evaluate.embedding_map is not None:
                row["embedding_map"], coordinates = self.embedding_map(cell, model, ctx.data)
                samples |= coordinates
            row["split"] = ctx.data.split.summary()
            if cell.auditors:
                row["audit"], row["audit_s"] = {}, {}
                for auditor in cell.auditors:
                    audit_clock = time.perf_counter()
                    report = auditor.build().audit(model, self.context(cell))
                    row["metrics"] += audit_rows(auditor, report)
                    row["audit"][auditor.id] = report.details
                    row["audit_s"][auditor.id] = time.perf_counter() - audit_clock
            if self.suite.doc.tuning is not None:
                row["validation"] = self.validation(cell, model)
            row["evaluate_s"] = time.perf_counter() - evaluate_clock
        except Exception as exc:  # noqa: BLE001 - a failing cell must not stop the suite
            row["status"] = "failed"
            row["method"] = row["method"] or getattr(exc, "method_record", None)
            row["error"] = {
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback": traceback.format_exc(limit=-8),
                "code": self.code_of(cell),
            }
        row["environment"] = environment(self.device)
        row["started_at"] = started.isoformat(timespec="seconds")
        row["wall_time_s"] = time.perf_counter() - clock
        return CellOutcome(row, samples)

    def validation(self, cell: Cell, model: I2IModel) -> dict[str, Any]:
        """The numbers the suite's tuning rule reads, measured on the split's validation images (held-out training
        images of the forget and retain classes, poisoned like the test images), and never on the test images."""
        tuning = self.suite.doc.tuning
        wanted = tuning.select.measures()
        names = {measure for measure, _ in wanted}
        split = self.split_data(cell).split
        targets = self.images(cell).train_targets
        classes = {part: sorted({int(targets[i]) for i in split.train[part]}) for part in ("forget", "retain")}
        held_out = validation_split(split, targets, classes, tuning.validation_per_class, cell.seed)
        data = self.split_data(cell, held_out)
        metrics = [m for m in cell.metrics if m.id in names]
        references = {m.entry.reference for m in metrics} - {"ground-truth"}
        found = evaluate(
            model,
            data,
            metrics,
            {kind: self.model(cell, kind)[0] for kind in references},
            self.suite.doc.evaluate.batch_size,
            show_progress=False,
            feature_images=self.suite.doc.evaluate.feature_images,
        )
        audits = {}
        for auditor in cell.auditors:
            if any(f"{auditor.id}/{measure}" in names for measure in auditor.cls.measures):
                report = auditor.build().audit(model, self.context(cell, data=data))
                found += audit_rows(auditor, report)
                if "attack_succeeded" in report.details:
                    audits[auditor.id] = {"attack_succeeded": report.details["attack_succeeded"]}
        return {
            "metrics": [
                {k: r[k] for k in ("metric", "split", "value", "images") if k in r}
                for r in found
                if (r["metric"], r["split"]) in wanted
            ],
            "audit": audits,
            "split": {k: v for k, v in held_out.summary().items() if k.startswith("eval/")},
        }

    def embedding_map(self, cell: Cell, model: I2IModel, data: SplitData):
        config = self.suite.doc.evaluate.embedding_map
        reference = None if config.reference == "ground-truth" else self.model(cell, config.reference)[0]
        return embedding_map(config, model, reference, data, cell.seed, self.suite.doc.evaluate.batch_size)

    def mark_failed(self, key: str, reason: str) -> None:
        """Record that the artefact ``key`` could not be built elsewhere; cells needing it fail with ``reason``."""
        self._failed[key] = reason

    @torch.no_grad()
    def samples(self, cell: Cell, model: I2IModel, data: SplitData) -> dict[str, torch.Tensor]:
        """The first ``SAMPLES`` images of each evaluation split: degraded input, ground truth, and the restorations
        of the cell's model and of the models unlearning started from, as uint8 (``<split>/<what>``)."""
        upstream = {kind: self.model(cell, kind)[0] for kind in ("original", "attack") if cell.keys[kind]}
        out = {}
        for part in data.eval_parts:
            batch = next(data.batches(f"eval/{part}", SAMPLES), None)
            if batch is None:
                continue
            images = {"input": batch.inputs, "target": batch.targets, "output": model.restore(batch.inputs, batch.mask)}
            images |= {kind: m.restore(batch.inputs, batch.mask) for kind, m in upstream.items()}
            out |= {f"{part}/{name}": to_uint8(x).cpu() for name, x in images.items()}
        return out

    # ------------------------------------------------------------------------------------------- data side

    def images(self, cell: Cell) -> ImageData:
        if cell.dataset.id not in self._images:
            self._images[cell.dataset.id] = cell.dataset.build().load()
        return self._images[cell.dataset.id]

    def split_data(self, cell: Cell, split: Split | None = None) -> SplitData:
        """The cell's data: its seed's split, or ``split`` (another choice of evaluation images of it)."""
        images = self.images(cell)
        if (cell.dataset.id, cell.seed) not in self._splits:
            self._splits[cell.dataset.id, cell.seed] = make_split(cell.dataset.entry.split, images, cell.seed)
        split = split or self._splits[cell.dataset.id, cell.seed]
        transforms = {}
        if cell.attack is not None:
            poison = cell.attack.build().poison
            transforms = {"forget": poison, "eval/forget": poison, "holdout": poison}
        return SplitData(images, split, cell.task.build(), self.device, transforms, self.loader_workers(cell))

    def loader_workers(self, cell: Cell) -> int:
        """Loader processes for image files: the model's declared CPUs but one (images held in memory need none)."""
        if isinstance(self.images(cell).train, InMemoryImages):
            return 0
        return max(0, int(cell.model.entry.resources.cpus) - 1)

    def new_model(self, cell: Cell, seed: int | None = None) -> I2IModel:
        """A freshly initialised model; the same seed (default: the cell's) gives the same initial weights."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cell.seed if seed is None else seed)
            model = cell.model.build(self.images(cell).shape)
        model = model.to(self.device)
        if cell.model.entry.train.uses_channels_last(self.device):
            model = model.to(memory_format=torch.channels_last)
        return model

    def context(
        self, cell: Cell, original: I2IModel | None = None, seed: int | None = None, data: SplitData | None = None
    ) -> RunContext:
        """A context with fresh data (its own read counts) for one piece of work on ``cell`` (or with ``data``)."""
        seed = cell.seed if seed is None else seed
        return RunContext(
            data or self.split_data(cell),
            seed=seed,
            recipe=cell.model.entry.train,
            new_model=lambda: self.new_model(cell, seed),
            original=original,
            upstream=lambda kind: self.declared_upstream(cell, kind),
            has_upstream=lambda kind: kind in cell.needs,
            cached_model=lambda kind, key, build: self.cached_model(cell, kind, key, build),
            show_progress=self.show_progress,
        )

    # --------------------------------------------------------------------------------------- artefact side

    def declared_upstream(self, cell: Cell, kind: str) -> I2IModel:
        """``ctx.upstream(kind)``: only what ``cell.needs`` lists, so that executors can build it beforehand."""
        if kind not in cell.needs:
            raise CellFailed(
                f"the upstream '{kind}' model was read without being declared: a method or audit that reads it "
                f"must list it in its upstream() (cell {cell.id} declares {list(cell.needs)})"
            )
        return self.model(cell, kind)[0]

    def model(self, cell: Cell, kind: str) -> tuple[I2IModel, dict]:
        """The model ``kind`` of ``cell`` (an upstream kind or 'unlearned'), built at most once."""
        key = cell.keys[kind]
        if key is None:
            raise CellFailed(f"this suite has no {kind} model")
        if key in self._failed:
            raise CellFailed(f"the {kind} model could not be built: {self._failed[key]}")
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        model, meta = self._stored_or_built(cell, kind, key, lambda: self._build(cell, kind, key))
        model.pretrained()  # what only pre-training trains is frozen in every model a cell or method receives
        self._models[key] = (model, meta)
        while len(self._models) > 6:
            self._models.popitem(last=False)
        return model, meta

    def cached_model(self, cell: Cell, kind: str, key: dict[str, Any], build) -> I2IModel:
        """``ctx.cached_model``: a model a plugin builds for itself, stored under ``kind`` and a content key of
        ``key`` and the cell's retrained-model key (data, task, model, seed, harness)."""
        if kind in UPSTREAM or kind == "unlearned":
            raise CellFailed(f"cached_model: '{kind}' is an upstream kind; choose another name")
        content = stable_hash({"artefact": kind, "from_scratch": cell.keys["retrained"], **key})

        def built() -> tuple[I2IModel, dict]:
            model = build()
            model.eval()
            self.artefacts.save(kind, content, model, {"key": key})
            return model, {"key": key}

        model = self._stored_or_built(cell, kind, content, built)[0]
        model.pretrained()
        return model

    def _stored_or_built(self, cell: Cell, kind: str, key: str, build) -> tuple[I2IModel, dict]:
        """The stored model ``kind``/``key`` loaded into the cell's architecture, or ``build()`` (which stores it)
        while holding the model's lock: a concurrent run building it is waited for, and what it saved is loaded."""
        stored = self.artefacts.load(kind, key)
        if stored is None:
            with self.artefacts.lock(kind, key):
                stored = self.artefacts.load(kind, key)
                if stored is None:
                    return build()
        state, meta = stored
        model = self.new_model(cell)
        model.load_state_dict(state)
        model.eval()
        return model, meta

    def _build(self, cell: Cell, kind: str, key: str) -> tuple[I2IModel, dict]:
        built = time.perf_counter()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cell.seed)
                model, meta = getattr(self, f"_build_{kind.replace('-', '_')}")(cell)
        except Exception as exc:
            self._failed[key] = f"{type(exc).__name__}: {exc}"
            raise
        if self.show_progress and kind != "unlearned":
            tqdm.write(f"built the {kind} model for {cell.id} in {time.perf_counter() - built:.0f} s")
        model.eval()
        self.artefacts.save(kind, key, model, meta)
        return model, meta

    def unlearned(self, cell: Cell) -> tuple[I2IModel, dict]:
        return self.model(cell, "unlearned")

    def _build_original(self, cell: Cell) -> tuple[I2IModel, dict]:
        model = self.new_model(cell)
        if cell.model.entry.checkpoint is not None:  # (the suite allows no original twin then)
            model.load_state_dict(load_checkpoint(cell.model.entry.checkpoint))
            return model, {"source": "checkpoint"}
        ctx = self.context(cell)
        ctx.fit(model, "train", series="train", desc=f"train original ({cell.model.id})")
        return model, {"source": "trained", "trace": dict(ctx.trace), "reads": dict(ctx.data.reads)}

    def _build_retrained(self, cell: Cell) -> tuple[I2IModel, dict]:
        model = self.new_model(cell)
        ctx = self.context(cell)
        ctx.fit(model, "retain", series="train", desc=f"retrain on D_R ({cell.model.id})")
        return model, {"source": "trained on the retain set", "trace": dict(ctx.trace), "reads": dict(ctx.data.reads)}

    def _train_reseeded(self, cell: Cell, offset: int, part: str, desc: str, source: str) -> tuple[I2IModel, dict]:
        """A model of the cell's architecture trained from scratch on ``part`` with the seed ``cell.seed + offset``."""
        seed = cell.seed + offset
        torch.manual_seed(seed)  # model() restores the global RNG afterwards
        model = self.new_model(cell, seed)
        ctx = self.context(cell, seed=seed)
        ctx.fit(model, part, series="train", desc=f"{desc} ({cell.model.id})")
        return model, {
            "source": f"trained with seed {seed} on {source}",
            "trace": dict(ctx.trace),
            "reads": dict(ctx.data.reads),
        }

    def _build_twin(self, cell: Cell) -> tuple[I2IModel, dict]:
        return self._train_reseeded(
            cell, TWIN_SEED_OFFSET, "retain", "retrain on D_R with another seed", "the retain set"
        )

    def _build_original_twin(self, cell: Cell) -> tuple[I2IModel, dict]:
        return self._train_reseeded(
            cell, TWIN_SEED_OFFSET, "train", "train original with another seed", "the training set"
        )

    def _build_shadow(self, cell: Cell) -> tuple[I2IModel, dict]:
        return self._train_reseeded(
            cell, SHADOW_SEED_OFFSET, "shadow", "train shadow model", "D_R and half of the forget classes' test images"
        )

    def _build_attack(self, cell: Cell) -> tuple[I2IModel, dict]:
        return self._attacked(cell, "original", cell.seed)

    def _build_attack_twin(self, cell: Cell) -> tuple[I2IModel, dict]:
        return self._attacked(cell, "original-twin", cell.seed + TWIN_SEED_OFFSET)

    def _attacked(self, cell: Cell, source: str, seed: int) -> tuple[I2IModel, dict]:
        """The suite's attack run with ``seed`` on a copy of the upstream model ``source``."""
        original = copy.deepcopy(self.model(cell, source)[0])
        torch.manual_seed(seed)  # model() restores the global RNG afterwards
        ctx = self.context(cell, original=frozen_copy(original), seed=seed)
        model = cell.attack.build().attack_model(original, ctx)
        return model, {"trace": dict(ctx.trace), "summary": ctx.summary, "reads": dict(ctx.data.reads)}

    def _build_unlearned(self, cell: Cell) -> tuple[I2IModel, dict]:
        start = copy.deepcopy(self.model(cell, cell.start_kind)[0])
        ctx = self.context(cell, original=frozen_copy(start))
        clock = time.perf_counter()
        try:
            model = cell.method.build().unlearn(start, ctx)
        except Exception as exc:
            # What the method logged up to the failure goes into the failed row (often the reason is in it).
            exc.method_record = {"summary": ctx.summary, "trace": dict(ctx.trace), "reads": dict(ctx.data.reads)}
            raise
        if not isinstance(model, I2IModel):
            raise CellFailed(f"method '{cell.method.name}' returned {type(model).__name__}, not a model")
        return model, {
            "summary": ctx.summary,
            "trace": dict(ctx.trace),
            "reads": dict(ctx.data.reads),
            "unlearn_s": time.perf_counter() - clock,
        }
