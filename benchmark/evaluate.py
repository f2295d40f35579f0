"""Evaluation: restore every evaluation split with a model and feed the metrics.

Pixel metrics are updated batch by batch. Feature metrics get extractor features of a fixed selection of each
split's images: the outputs go from the model to the extractor in memory, batch by batch; the reference set's
features (ground truth, another model's outputs) come from the feature cache when an earlier cell computed them.

Noise floors: when ``references`` holds a reference model's twin (a second model of its kind, trained with another
seed: ``TWIN_OF``), every metric against that reference is also computed for the twin's restorations, and the result
carries it as ``floor``: the value an equally good model of that kind gets, below which a distance means nothing.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from typing import Any

import torch

from .data import SplitData
from .features import Extractor, FeatureCache, loaded_extractor, selection
from .hashing import stable_hash
from .metrics import FeatureMetric, is_feature_metric
from .models import I2IModel
from .progress import progress
from .suite import TWIN_OF, Resolved

PER_IMAGE_DIGITS = 4  # decimals kept of each image's value in a row (the row's value is computed unrounded)
BOOTSTRAP_DIGITS = 4  # significant digits kept of each resampled value of a feature metric
SUBSET_DRAWS = 25  # random image subsets per size of ``image_subsets``


def per_image_entry(values) -> dict[str, list[float]]:
    """A result entry's ``per_image`` field for each image's value (none when ``values`` is None), rounded as rows
    keep them: shared by metrics and audit measures."""
    return {} if values is None else {"per_image": [round(float(v), PER_IMAGE_DIGITS) for v in values]}


def _result(
    spec: Resolved,
    metric,
    part: str,
    value: float,
    images: int,
    floor: float | None = None,
    extractor: dict[str, Any] | None = None,
    bootstrap: list[float] | None = None,
    subsets: dict[int, list[float]] | None = None,
) -> dict[str, Any]:
    """One metric's entry of a result row; ``extractor`` describes the features behind a feature metric."""
    return {
        "metric": spec.id,
        "name": spec.name,
        "display_name": metric.heading(),
        "higher_is_better": spec.cls.higher_is_better,
        "split": part,
        "reference": spec.entry.reference,
        "value": value,
        "images": images,
        "extractor": extractor if extractor is not None else metric.extractor(),
        **({"floor": floor} if floor is not None else {}),
        **per_image_entry(metric.per_image()),
        **({"bootstrap": _rounded(bootstrap)} if bootstrap else {}),
        **({"subsets": {str(n): _rounded(values) for n, values in subsets.items()}} if subsets else {}),
    }


def _rounded(values: list[float]) -> list[float]:
    return [float(f"{v:.{BOOTSTRAP_DIGITS}g}") for v in values]


class FeatureSets:
    """The feature metrics of one evaluation split: which extractors they need, the outputs' features, and the
    reference sets' features (from the cache, or computed alongside the outputs and then cached)."""

    def __init__(
        self,
        metrics: list[tuple[Resolved, FeatureMetric]],
        device: torch.device,
        part: str,
        chosen: torch.Tensor,
        cache: FeatureCache | None,
        reference_keys: dict[str, str],
        twins: dict[str, str] | None = None,
    ):
        self.extractors: dict[int, Extractor] = {}
        self.wanted: dict[int, set[str]] = defaultdict(set)
        self.group: dict[str, int] = {}
        for spec, metric in metrics:
            extractor = loaded_extractor(*metric.extractor_setup(), device)
            self.extractors[id(extractor)] = extractor
            self.wanted[id(extractor)].add(metric.feature)
            self.group[spec.id] = id(extractor)
        self.outputs: dict[int, dict[str, list[torch.Tensor]]] = {g: defaultdict(list) for g in self.extractors}
        self.references: dict[tuple[str, int], dict[str, torch.Tensor]] = {}
        self.computing: dict[tuple[str, int], dict[str, list[torch.Tensor]]] = {}
        self.keys: dict[tuple[str, int], str | None] = {}
        self.cached: set[tuple[str, int]] = set()
        wanted = [(spec.entry.reference, spec) for spec, metric in metrics if metric.uses_reference]
        self.twins = twins or {}  # reference → its twin, for the floors of the metrics against it
        wanted += [
            (self.twins[spec.entry.reference], spec)
            for spec, metric in metrics
            if metric.uses_reference and spec.entry.reference in self.twins
        ]
        for reference, spec in wanted:
            need = (reference, self.group[spec.id])
            if need in self.keys:
                continue
            key = self._key(need, part, chosen, reference_keys) if cache is not None else None
            self.keys[need] = key
            found = cache.get(key) if key is not None else None
            if found is not None and self.wanted[need[1]] <= set(found):
                self.references[need] = found
                self.cached.add(need)
            else:
                self.computing[need] = defaultdict(list)
        self.cache = cache

    def _key(
        self, need: tuple[str, int], part: str, chosen: torch.Tensor, reference_keys: dict[str, str]
    ) -> str | None:
        reference, group = need
        if reference not in reference_keys:
            return None
        extractor = self.extractors[group]
        return stable_hash(
            {
                "reference": reference_keys[reference],
                "part": part,
                "extractor": extractor.describe(),
                "features": sorted(self.wanted[group]),
                "images": stable_hash(chosen.tolist()),
            }
        )

    @property
    def reference_images_needed(self) -> set[str]:
        return {reference for reference, _ in self.computing}

    def add(self, outputs: torch.Tensor, references: dict[str, torch.Tensor]) -> None:
        for group, extractor in self.extractors.items():
            for name, value in extractor(outputs, tuple(sorted(self.wanted[group]))).items():
                self.outputs[group][name].append(value)
        for (reference, group), store in self.computing.items():
            extractor = self.extractors[group]
            for name, value in extractor(references[reference], tuple(sorted(self.wanted[group]))).items():
                store[name].append(value)

    def finish(self) -> None:
        for need, store in self.computing.items():
            self.references[need] = {name: torch.cat(values) for name, values in store.items()}
            if self.cache is not None and self.keys[need] is not None:
                self.cache.put(self.keys[need], self.references[need])

    def score(
        self, spec: Resolved, metric: FeatureMetric, resamples: dict[Any, torch.Tensor]
    ) -> tuple[float, dict[str, Any], dict[Any, list[float]]]:
        """(the metric's value, a description of the features behind it for the row, for each entry of ``resamples``
        its values on each row of image indices: the outputs and the reference set resampled alike, since they are
        the same images)."""
        group = self.group[spec.id]
        features = torch.cat(self.outputs[group][metric.feature])
        need = (spec.entry.reference, group)
        reference = self.references[need][metric.feature].to(features.device) if metric.uses_reference else None
        draws = {
            name: metric.score_resampled(features, reference, indices.to(features.device))
            for name, indices in resamples.items()
        }
        described = {
            **self.extractors[group].describe(),
            "feature": metric.feature,
            "images": len(features),
            "reference_features": None if reference is None else ("cached" if need in self.cached else "computed"),
        }
        return float(metric.score(features, reference)), described, draws

    def floor(self, spec: Resolved, metric: FeatureMetric) -> float | None:
        """The metric between the reference's twin's features and the reference's (None without a twin)."""
        group, reference = self.group[spec.id], spec.entry.reference
        if reference not in self.twins:
            return None
        twin = self.references[self.twins[reference], group][metric.feature]
        return float(metric.score(twin, self.references[reference, group][metric.feature].to(twin.device)))


@torch.no_grad()
def evaluate(
    model: I2IModel,
    data: SplitData,
    metrics: list[Resolved],
    references: dict[str, I2IModel],
    batch_size: int,
    show_progress: bool = True,
    *,
    feature_images: int | None = None,
    image_bootstrap: int | None = None,
    image_subsets: list[int] | None = None,
    cache: FeatureCache | None = None,
    reference_keys: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One result per (metric, evaluation split). ``references`` maps 'original'/'attack'/'retrained' to models;
    'ground-truth' is the clean images themselves; with a reference's twin among them (``TWIN_OF``), metrics against
    that reference get its noise floor. Feature metrics see ``feature_images`` evenly spaced images of
    each split (all when None); with ``image_bootstrap``, each also records its values on that many resamples of those
    images (seeded by the split's name and size, so every method of a seed gets the same resamples), and with
    ``image_subsets`` on SUBSET_DRAWS random subsets of each size below the image count (seeded alike); reference
    features are cached under ``reference_keys`` (reference → content key of the reference images) when a cache is
    given."""
    model.eval()
    twins = {reference: twin for reference, twin in TWIN_OF.items() if twin in references}
    results = []
    total = sum(-(-data.size(f"eval/{p}") // batch_size) for p in data.eval_parts)
    order = {spec.id: i for i, spec in enumerate(metrics)}
    with progress(total=total, desc="evaluate", enabled=show_progress) as bar:
        for part in data.eval_parts:
            size = data.size(f"eval/{part}")
            chosen = selection(size, feature_images)
            keep = torch.zeros(size, dtype=torch.bool)
            keep[chosen] = True
            pixel = [(spec, spec.build()) for spec in metrics if not is_feature_metric(spec.cls)]
            featured = [(spec, spec.build()) for spec in metrics if is_feature_metric(spec.cls)]
            floored = {spec.id: spec.build() for spec, _ in pixel if spec.entry.reference in twins}
            sets = (
                FeatureSets(featured, data.device, part, chosen, cache, reference_keys or {}, twins)
                if featured
                else None
            )
            needed = {spec.entry.reference for spec, _ in pixel} | (sets.reference_images_needed if sets else set())
            needed |= {twins[spec.entry.reference] for spec, _ in pixel if spec.id in floored}
            start = 0
            for batch in data.batches(f"eval/{part}", batch_size):
                rows = keep[start : start + len(batch.inputs)].to(batch.inputs.device)
                start += len(batch.inputs)
                inputs, mask, targets = batch.inputs, batch.mask, batch.targets
                if not pixel:  # only the selected images are needed: restore only those
                    inputs, mask, targets, rows = inputs[rows], mask[rows], targets[rows], rows[rows]
                if len(inputs):
                    outputs = model.restore(inputs, mask)
                    refs = {"ground-truth": targets}
                    for name in needed - {"ground-truth"}:
                        refs[name] = references[name].restore(inputs, mask)
                    for spec, metric in pixel:
                        metric.update(outputs, refs[spec.entry.reference], mask)
                    for spec, _ in pixel:
                        if spec.id in floored:
                            reference = spec.entry.reference
                            floored[spec.id].update(refs[twins[reference]], refs[reference], mask)
                    if sets is not None and bool(rows.any()):
                        sets.add(outputs[rows], {name: images[rows] for name, images in refs.items()})
                bar.update()
            found = [
                _result(spec, m, part, m.compute(), size, floored[spec.id].compute() if spec.id in floored else None)
                for spec, m in pixel
            ]
            if sets is not None:
                sets.finish()
                resamples = {n: image_subsets_of(part, len(chosen), n) for n in image_subsets or () if n < len(chosen)}
                if image_bootstrap:
                    resamples["bootstrap"] = image_resamples(part, len(chosen), image_bootstrap)
                for spec, m in featured:
                    value, described, draws = sets.score(spec, m, resamples)
                    bootstrap = draws.pop("bootstrap", None)
                    found.append(
                        _result(spec, m, part, value, len(chosen), sets.floor(spec, m), described, bootstrap, draws)
                    )
            results += sorted(found, key=lambda r: order[r["metric"]])
    return results


def image_resamples(part: str, images: int, count: int) -> torch.Tensor:
    """``count`` rows of ``images`` indices drawn with replacement, the same for every model evaluated on a split of
    this name and size."""
    generator = torch.Generator().manual_seed(zlib.crc32(f"{part}/{images}".encode()))
    return torch.randint(0, images, (count, images), generator=generator)


def image_subsets_of(part: str, images: int, size: int, count: int = SUBSET_DRAWS) -> torch.Tensor:
    """``count`` rows of ``size`` distinct indices below ``images``, the same for every model evaluated on a split of
    this name and size."""
    generator = torch.Generator().manual_seed(zlib.crc32(f"{part}/{images}/{size}".encode()))
    return torch.stack([torch.randperm(images, generator=generator)[:size] for _ in range(count)])
