"""Evaluation: restore every evaluation split with a model and feed the metrics, batch by batch."""

from __future__ import annotations

from typing import Any

import torch

from .data import SplitData
from .models import I2IModel
from .progress import progress
from .suite import Resolved


@torch.no_grad()
def evaluate(
    model: I2IModel,
    data: SplitData,
    metrics: list[Resolved],
    references: dict[str, I2IModel],
    batch_size: int,
    show_progress: bool = True,
) -> list[dict[str, Any]]:
    """One result per (metric, evaluation split). ``references`` maps 'original'/'attack'/'retrained' to models;
    'ground-truth' is the clean images themselves."""
    model.eval()
    results = []
    parts = data.eval_parts
    total = sum(-(-data.size(f"eval/{p}") // batch_size) for p in parts)
    with progress(total=total, desc="evaluate", enabled=show_progress) as bar:
        for part in parts:
            instances = [(spec, spec.build()) for spec in metrics]
            needed = {spec.entry.reference for spec in metrics}
            images = 0
            for batch in data.batches(f"eval/{part}", batch_size):
                outputs = model.restore(batch.inputs, batch.mask)
                refs = {"ground-truth": batch.targets}
                for name in needed - {"ground-truth"}:
                    refs[name] = references[name].restore(batch.inputs, batch.mask)
                for spec, metric in instances:
                    metric.update(outputs, refs[spec.entry.reference], batch.mask)
                images += len(outputs)
                bar.update()
            for spec, metric in instances:
                results.append(
                    {
                        "metric": spec.id,
                        "name": spec.name,
                        "display_name": spec.cls.display_name,
                        "higher_is_better": spec.cls.higher_is_better,
                        "split": part,
                        "reference": spec.entry.reference,
                        "value": metric.compute(),
                        "images": images,
                        "extractor": metric.extractor(),
                    }
                )
    return results
