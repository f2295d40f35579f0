"""CIFAR-10 (32×32 colour, 10 classes) from torchvision's on-disk format, or torchvision's download."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import torch
import unlearn_bench
from unlearn_bench.datasets import Dataset, ImageData, ImageShape, InMemoryImages
from unlearn_bench.errors import UserError

FOLDER = "cifar-10-batches-py"
TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
TEST = ["test_batch"]
LAYOUT = (
    f"ROOT/{FOLDER}/ with data_batch_1 … data_batch_5, test_batch and batches.meta (the python version of "
    "CIFAR-10, as torchvision's CIFAR10 stores it); or set download: true to let torchvision fetch it"
)


@dataclasses.dataclass(frozen=True)
class Params:
    root: str = dataclasses.field(default="", metadata={"help": f"folder holding {FOLDER}/"})
    download: bool = dataclasses.field(default=False, metadata={"help": "let torchvision download it"})


def read_batches(folder: Path, names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 3, 32, 32) uint8 and labels from CIFAR-10's pickled batches."""
    images, labels = [], []
    for name in names:
        with open(folder / name, "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels += list(batch["labels"])
    return torch.from_numpy(np.concatenate(images)), torch.tensor(labels)


class CIFAR10(Dataset):
    """CIFAR-10 read from torchvision's format (its batch files are read directly)."""

    name = "cifar10"
    num_classes = 10
    behaviour_version = 1
    Params = Params
    location_params = ("root", "download")

    def check(self) -> None:
        if self.params.download:
            return
        folder = Path(self.params.root) / FOLDER
        missing = [n for n in (*TRAIN, *TEST, "batches.meta") if not (folder / n).is_file()]
        if missing:
            raise UserError(
                f"CIFAR-10 not found under {self.params.root!r} (missing {', '.join(missing)}); expected {LAYOUT}"
            )

    def load(self) -> ImageData:
        if self.params.download:
            from torchvision.datasets import CIFAR10 as TorchvisionCIFAR10

            TorchvisionCIFAR10(self.params.root, train=True, download=True)
        self.check()
        folder = Path(self.params.root) / FOLDER
        with open(folder / "batches.meta", "rb") as f:
            classes = list(pickle.load(f, encoding="latin1")["label_names"])
        train, test = (InMemoryImages(*read_batches(folder, names)) for names in (TRAIN, TEST))
        return ImageData(train, test, train.targets.tolist(), test.targets.tolist(), classes, ImageShape(3, 32, 32))


@unlearn_bench.hookimpl
def register_datasets(register):
    register(CIFAR10)
