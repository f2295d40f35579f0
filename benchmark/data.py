"""Batches of degraded images for each part of a split, on the run's device, with every read counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset

from .datasets import ImageData
from .splits import Split
from .tasks import Task

WORKER_MIN_BATCHES = 16  # a pass shorter than this reads in this process even when loader workers are allowed


class Batch(NamedTuple):
    inputs: torch.Tensor  # degraded images T(x)
    mask: torch.Tensor  # 1 where pixels must be restored
    targets: torch.Tensor  # clean images x
    labels: torch.Tensor


class SplitData:
    """The data side of a run: ``batches(part, ...)``.

    Training parts: ``forget`` (D_F), ``retain`` (D_R), ``train`` (their union: what the original model saw) and,
    when the split names proxy classes, ``proxy``. Evaluation parts: ``eval/retain``, ``eval/forget`` and, with
    unseen classes, ``eval/unseen``. For audits: ``holdout`` (test images of the forget classes that no model trains
    on) and ``shadow`` (D_R plus the other half of those test images: the shadow model's training set).

    ``transforms`` maps a part to a function applied to its clean images before degradation (the poisoning audit
    marks forget images this way). ``workers`` loader processes read and decode images (0: in this process); on
    CUDA, batches are staged in pinned memory and copied asynchronously. ``reads`` counts the images served per
    part, so tests can prove, for example, that a method never read the forget set. ``define`` adds a part made of
    chosen images of existing parts (an audit's shadow training sets).
    """

    def __init__(
        self,
        data: ImageData,
        split: Split,
        task: Task,
        device: torch.device,
        transforms: dict[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
        workers: int = 0,
    ):
        self.data = data
        self.split = split
        self.task = task
        self.device = device
        self.transforms = transforms or {}
        self.workers = workers
        self.reads: Counter[str] = Counter()
        self.defined: dict[str, list[tuple[str, list[int] | None]]] = {}

    def define(self, name: str, sources: list[tuple[str, list[int] | None]]) -> None:
        """A new part ``name``: for each (part, positions) the images at those positions of that part (None: all of
        it), in order. Parts whose images are transformed (poisoned) cannot be mixed this way."""
        for part, _ in sources:
            if self.transforms.get(part) is not None:
                raise ValueError(f"part '{part}' is transformed (poisoned): it cannot go into a defined part")
        self.defined[name] = sources

    def _subset(self, part: str) -> Dataset:
        if part in self.defined:
            return ConcatDataset(
                [
                    self._subset(source) if positions is None else Subset(self._subset(source), positions)
                    for source, positions in self.defined[part]
                ]
            )
        if part == "holdout":
            return Subset(self.data.test, self.split.holdout)
        if part == "shadow":
            retain = Subset(self.data.train, self.split.train["retain"])
            return ConcatDataset([retain, Subset(self.data.test, self.split.population)])
        if part.startswith("eval/"):
            name = part.removeprefix("eval/")
            if name not in self.split.evaluate:
                raise KeyError(f"this split has no evaluation part '{name}'")
            source, indices = self.split.evaluate[name]
            return Subset(self.data.train if source == "train" else self.data.test, indices)
        if part not in self.split.train:
            raise KeyError(f"unknown training part '{part}'")
        return Subset(self.data.train, self.split.train[part])

    def size(self, part: str) -> int:
        return len(self._subset(part))

    @property
    def eval_parts(self) -> list[str]:
        return list(self.split.evaluate)

    def batches(
        self, part: str, batch_size: int, *, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> Iterator[Batch]:
        """One pass over ``part``."""
        # The order comes from ``generator`` in this process, so it does not depend on the number of workers. Loader
        # processes start anew for each pass: only passes of many batches (an epoch, not a probe) are worth them.
        subset = self._subset(part)
        workers = self.workers if len(subset) >= WORKER_MIN_BATCHES * batch_size else 0
        loader = DataLoader(
            subset,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
        )
        transform = self.transforms.get(part) or self.transforms.get(part.removeprefix("eval/"))
        for images, labels in loader:
            self.reads[part] += len(images)
            images = images.to(self.device, non_blocking=True)
            if transform is not None:
                images = transform(images)
            inputs, mask = self.task.degrade(images)
            yield Batch(inputs, mask, images, labels.to(self.device, non_blocking=True))

    def endless(self, part: str, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        """Shuffled batches of ``part`` without end, for loops counted in iterations rather than epochs."""
        if self.size(part) == 0:
            raise ValueError(f"part '{part}' is empty")
        while True:
            yield from self.batches(part, batch_size, shuffle=True, generator=generator)
