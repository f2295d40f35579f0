"""A suite expands into cells: dataset × task × model × method × seed.

Each cell names the upstream artefacts it needs (the original model, the attack model, the retrained model, the shadow
model that audits use as an independent reference) by content key: the hash of everything that determines them. Cells
that share an upstream artefact share its key, so it is built once; a cell whose configuration did not change keeps its
key, so it is not run again.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from .hashing import file_sha256, stable_hash
from .metrics import is_feature_metric
from .params import to_dict
from .suite import TWIN_OF, Resolved, Suite, floored


@dataclasses.dataclass
class Cell:
    id: str
    key: str
    seed: int
    dataset: Resolved
    task: Resolved
    model: Resolved
    method: Resolved
    metrics: list[Resolved]
    attack: Resolved | None
    audits: list[Resolved]
    keys: dict[str, str | None]  # artefact kind → content key
    config: dict[str, Any]  # the cell's full resolved configuration
    references: frozenset[str]  # the upstream models its metrics compare with (and their twins, for floors)
    needs: tuple[str, ...]  # every upstream model kind it reads, in build order (UPSTREAM's)

    @property
    def axes(self) -> dict[str, str]:
        return {"dataset": self.dataset.id, "task": self.task.id, "model": self.model.id, "method": self.method.id}

    @property
    def auditors(self) -> list[Resolved]:
        return ([self.attack] if self.attack else []) + self.audits

    @property
    def start_kind(self) -> str:
        return "attack" if self.attack is not None else "original"

    @property
    def reference_keys(self) -> dict[str, str]:
        """Content keys of the reference image sets of the cell's evaluation: the clean images (data, split, task,
        poisoning) and each upstream model's restorations of them. Their features are cached under these keys."""
        images = stable_hash({k: self.config[k] for k in ("data", "task", "seed", "attack", "harness")})
        keys = {"ground-truth": images}
        for kind in ("original", "attack", "retrained", *TWIN_OF.values()):
            if self.keys.get(kind):
                keys[kind] = stable_hash({"images": images, "model": self.keys[kind]})
        return keys


# Upstream model kinds, each built before the next (an attack twin starts from the original twin).
UPSTREAM = ("original", "attack", "retrained", "twin", "original-twin", "attack-twin", "shadow")
BUILT_FROM = {"attack": "original", "attack-twin": "original-twin"}  # upstream models built from another one


def references(suite: Suite) -> frozenset[str]:
    """The upstream models the suite's metrics compare with (and their twins, for their noise floors)."""
    kinds = {m.entry.reference for m in suite.metrics} - {"ground-truth"}
    return frozenset(kinds | {TWIN_OF[kind] for kind in floored(suite)})


def _needs(suite: Suite, method: Resolved, keys: dict[str, str | None]) -> tuple[str, ...]:
    """The upstream models a cell reads, in build order: the model unlearning starts from, the references of its
    metrics, the models shown beside it in output grids, and what its method and audits declare."""
    kinds = {"attack" if suite.attack else "original", "original"} | references(suite)
    if suite.doc.evaluate.embedding_map is not None:
        kinds.add(suite.doc.evaluate.embedding_map.reference)
    for component in [method, *([suite.attack] if suite.attack else []), *suite.audits]:
        kinds |= component.build().upstream()
    kinds |= {BUILT_FROM[kind] for kind in kinds if kind in BUILT_FROM}
    return tuple(kind for kind in UPSTREAM if kind in kinds and keys.get(kind))


# The harness's own behaviour version in every key: raised by hand when a change of the harness (the training loop, the
# data pipeline, evaluation) changes results, never by a release. A test pins the harness code beside it. "0.1.0" is
# the value the first results were keyed with (the package version then).
HARNESS_BEHAVIOUR = "0.1.0"


def _dataset_config(dataset: Resolved) -> dict[str, Any]:
    config = dataset.config()
    for name in dataset.cls.location_params:
        config["params"].pop(name, None)
    config["split"] = to_dict(dataset.entry.split)
    return config


def _model_config(model: Resolved) -> dict[str, Any]:
    config = model.config()
    config["train"] = model.entry.train.key_config()
    checkpoint = model.entry.checkpoint
    if checkpoint is not None:
        config["checkpoint"] = {"path": str(Path(checkpoint).resolve()), "sha256": file_sha256(checkpoint)}
    return config


def _extractor(metric: Resolved) -> dict[str, Any]:
    """The code identity of a feature metric's extractor, when it has one beyond its first behaviour version."""
    if not is_feature_metric(metric.cls):
        return {}
    identity = metric.params.extractor.bound[0].identity()
    return {"extractor_identity": identity} if identity else {}


def _slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", "__".join(parts))


def expand(suite: Suite) -> list[Cell]:
    """All cells of the suite, in a stable order (methods vary fastest, then seeds)."""
    harness = HARNESS_BEHAVIOUR
    attack_config = suite.attack.config() if suite.attack else None
    audit_configs = [{"id": a.id, **a.config()} for a in suite.audits]
    metric_configs = [
        {"id": m.id, **m.config(), "reference": m.entry.reference, **_extractor(m)} for m in suite.metrics
    ]
    # The feature-image count of a suite without feature metrics changes nothing: it is left out of cell keys.
    evaluate_config = to_dict(suite.doc.evaluate)
    if not any(is_feature_metric(m.cls) for m in suite.metrics):
        evaluate_config.pop("feature_images", None)
        evaluate_config.pop("image_bootstrap", None)
        evaluate_config.pop("image_subsets", None)
    # Likewise floors of models no metric compares with; the retrained model's alone keep their first form, 'true'.
    effective = floored(suite)
    evaluate_config.pop("noise_floor", None)
    if effective:
        evaluate_config["noise_floor"] = True if effective == ("retrained",) else sorted(effective)
    tuning_config = suite.doc.tuning.key_config() if suite.doc.tuning else None
    compared = references(suite)
    cells = []
    for dataset in suite.datasets:
        data_config = _dataset_config(dataset)
        for task in suite.tasks:
            for model in suite.models:
                model_config = _model_config(model)
                for seed in suite.doc.seeds:
                    upstream = {
                        "data": data_config,
                        "task": task.config(),
                        "model": model_config,
                        "seed": seed,
                        "harness": harness,
                    }
                    original = stable_hash({"artefact": "original", **upstream})
                    # A model trained from scratch does not depend on the original's checkpoint.
                    from_scratch = {**upstream, "model": {k: v for k, v in model_config.items() if k != "checkpoint"}}
                    retrained = stable_hash({"artefact": "retrained", **from_scratch})
                    shadow = stable_hash({"artefact": "shadow", **from_scratch})
                    twin = stable_hash({"artefact": "twin", **from_scratch})
                    attack = (
                        stable_hash({"artefact": "attack", "from": original, "attack": attack_config})
                        if attack_config
                        else None
                    )
                    # Twins of the original and attack models only where a floor asks for them (rows list them).
                    twins = {}
                    if TWIN_OF["original"] in compared or TWIN_OF["attack"] in compared:
                        twins["original-twin"] = stable_hash({"artefact": "original-twin", **upstream})
                    if TWIN_OF["attack"] in compared:
                        twins["attack-twin"] = stable_hash(
                            {"artefact": "attack-twin", "from": twins["original-twin"], "attack": attack_config}
                        )
                    start = attack or original
                    for method in suite.methods:
                        method_config = method.config()
                        unlearned = stable_hash(
                            {
                                "artefact": "unlearned",
                                "from": start,
                                "retrained": retrained,
                                "method": method_config,
                                "seed": seed,
                                "harness": harness,
                            }
                        )
                        config = {
                            **upstream,
                            "attack": attack_config,
                            "method": method_config,
                            "metrics": metric_configs,
                            # Only when present, so that suites without audits keep their cell keys.
                            **({"audits": audit_configs} if audit_configs else {}),
                            "evaluate": evaluate_config,
                            **({"tuning": tuning_config} if tuning_config else {}),
                        }
                        keys = {
                            "original": original,
                            "attack": attack,
                            "retrained": retrained,
                            "twin": twin,
                            "shadow": shadow,
                            **twins,
                            "unlearned": unlearned,
                        }
                        cells.append(
                            Cell(
                                id=_slug(dataset.id, task.id, model.id, method.id, f"seed{seed}"),
                                key=stable_hash({"unlearned": unlearned, "config": config}),
                                seed=seed,
                                dataset=dataset,
                                task=task,
                                model=model,
                                method=method,
                                metrics=suite.metrics,
                                attack=suite.attack,
                                audits=suite.audits,
                                keys=keys,
                                config=config,
                                references=compared,
                                needs=_needs(suite, method, keys),
                            )
                        )
    return cells
