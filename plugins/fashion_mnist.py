"""Fashion-MNIST (28×28 grey, 10 classes), read through torchvision from local IDX files."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import shutil
from pathlib import Path

import unlearn_bench
from unlearn_bench.datasets import Dataset, ImageData, ImageShape, InMemoryImages
from unlearn_bench.errors import UserError
from unlearn_bench.paths import cache_dir

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
LAYOUT = (
    "the four Fashion-MNIST IDX files (" + ", ".join(FILES) + ", each optionally .gz) directly in the root "
    "(Debian's dataset-fashion-mnist installs them in /usr/share/datasets/fashion-mnist) or in "
    "ROOT/FashionMNIST/raw/ (torchvision's layout); or set download: true to let torchvision fetch them"
)


@dataclasses.dataclass(frozen=True)
class Params:
    root: str = dataclasses.field(
        default="/usr/share/datasets/fashion-mnist", metadata={"help": "folder with the IDX files"}
    )
    download: bool = dataclasses.field(default=False, metadata={"help": "let torchvision download missing files"})


def _find(root: Path, name: str) -> Path | None:
    for folder in (root / "FashionMNIST" / "raw", root):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


class FashionMNIST(Dataset):
    """Fashion-MNIST from local IDX files (torchvision format or Debian's dataset-fashion-mnist package)."""

    name = "fashion-mnist"
    num_classes = 10
    behaviour_version = 1
    Params = Params
    location_params = ("root", "download")

    def check(self) -> None:
        if self.params.download:
            return
        root = Path(self.params.root)
        missing = [name for name in FILES if _find(root, name) is None]
        if missing:
            raise UserError(f"Fashion-MNIST not found under {root} (missing {', '.join(missing)}); expected {LAYOUT}")

    def _torchvision_root(self) -> Path:
        """A folder with FashionMNIST/raw/<uncompressed files>, unpacking .gz files into the cache if needed. The
        unpacked copy is keyed by the content of its sources, so files unpacked from other (or damaged) sources are
        never reused for these."""
        root = Path(self.params.root)
        if all((root / "FashionMNIST" / "raw" / name).is_file() for name in FILES):
            return root
        digest = hashlib.sha256()
        for name in FILES:
            with _find(root, name).open("rb") as source:
                for block in iter(lambda: source.read(1 << 20), b""):
                    digest.update(block)
        target = cache_dir() / "datasets" / "fashion-mnist" / digest.hexdigest()[:16]
        raw = target / "FashionMNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            if (raw / name).is_file():
                continue
            source = _find(root, name)
            tmp = raw / f".{name}.{os.getpid()}.tmp"  # workers on one machine may unpack at the same time
            opener = gzip.open if source.suffix == ".gz" else open
            with opener(source, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            tmp.replace(raw / name)
        return target

    def load(self) -> ImageData:
        from torchvision.datasets import FashionMNIST as TorchvisionFashionMNIST

        self.check()
        root = Path(self.params.root) if self.params.download else self._torchvision_root()
        try:
            sets = [
                TorchvisionFashionMNIST(str(root), train=train, download=self.params.download)
                for train in (True, False)
            ]
        except Exception as exc:  # noqa: BLE001 - torchvision says little (an empty AssertionError for a bad file)
            raise UserError(
                f"the Fashion-MNIST files under {self.params.root} cannot be read as IDX files "
                f"({type(exc).__name__}: {exc or 'no message'}); expected {LAYOUT}"
            ) from None
        train, test = (InMemoryImages(s.data.unsqueeze(1), s.targets) for s in sets)
        return ImageData(
            train=train,
            test=test,
            train_targets=train.targets.tolist(),
            test_targets=test.targets.tolist(),
            classes=list(sets[0].classes),
            shape=ImageShape(1, 28, 28),
        )


@unlearn_bench.hookimpl
def register_datasets(register):
    register(FashionMNIST)
