"""Dataset plugins: labelled images from a local root (or a download where the dataset allows it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch.utils.data import Dataset as TorchDataset

from .component import Component


@dataclasses.dataclass(frozen=True)
class ImageShape:
    channels: int
    height: int
    width: int


@dataclasses.dataclass
class ImageData:
    """A labelled train and test set. Items are ``(image, label)`` with images as float CxHxW in [0, 1]."""

    train: TorchDataset
    test: TorchDataset
    train_targets: Sequence[int]
    test_targets: Sequence[int]
    classes: list[str]
    shape: ImageShape


class InMemoryImages(TorchDataset):
    """Images held as one uint8 tensor (N, C, H, W); items are scaled to float [0, 1] when read."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError("expected a uint8 tensor of shape (N, C, H, W)")
        self.images = images
        self.targets = targets.long()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images[index].float().div_(255), int(self.targets[index])

    def __getitems__(self, indices: list[int]):
        # Batched reads: one indexing operation instead of one per item.
        index = torch.as_tensor(indices)
        images = self.images[index].float().div_(255)
        return list(zip(images, self.targets[index].tolist()))


class Dataset(Component):
    """Base class of dataset plugins.

    ``check()`` runs during validation and must raise :class:`unlearn_bench.errors.UserError` naming the expected
    layout when the data is not where the parameters say; ``load()`` returns the :class:`ImageData`.
    ``location_params`` names the parameters that say where the data is rather than what it is (a root folder, a
    download switch): they are left out of cache keys, so moving the data does not invalidate results.
    """

    location_params: ClassVar[tuple[str, ...]] = ()
    # How many classes the dataset has, where that is fixed: validation then checks every class index of a split
    # against it. None (a folder of any number of classes): the split is checked when the data loads.
    num_classes: ClassVar[int | None] = None

    def check(self) -> None:
        """Fail fast, before anything runs, when the data is missing."""

    def load(self) -> ImageData:
        raise NotImplementedError
