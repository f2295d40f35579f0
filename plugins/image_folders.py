"""Photo datasets read from files on disk: a generic ImageFolder, ImageNet-1K and Places365.

Images are read when a batch asks for them (these sets do not fit in memory), converted to RGB, resized on the
shorter side and centre-cropped to ``image_size`` × ``image_size``. Class indices are fixed by shipped class lists
(``plugins/data``), so index *i* names the same class on every machine whatever subset of the data is present.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

import unlearn_bench
from torch.utils.data import Dataset as TorchDataset
from unlearn_bench.datasets import Dataset, ImageData, ImageShape
from unlearn_bench.errors import UserError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff")


def class_list(name: str) -> list[str]:
    """A shipped class list (one entry per line; Places365's category file keeps only the name)."""
    text = resources.files("unlearn_bench_plugins").joinpath("data", name).read_text()
    return [line.split()[0] for line in text.splitlines() if line.strip()]


class ImageFiles(TorchDataset):
    """Labelled image files, decoded on access to float RGB in [0, 1], resized and centre-cropped to a square."""

    def __init__(self, files: list[Path], targets: list[int], size: int):
        self.files = files
        self.targets = targets
        self.size = size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        from PIL import Image
        from torchvision.transforms.v2 import functional as TF

        with Image.open(self.files[index]) as image:
            pixels = TF.pil_to_tensor(image.convert("RGB"))
        pixels = TF.resize(pixels, self.size, antialias=True)
        pixels = TF.center_crop(pixels, [self.size, self.size])
        return pixels.float().div_(255), self.targets[index]


def scan(folder: Path, classes: list[str]) -> tuple[list[Path], list[int]]:
    """Files of ``folder/<class>/``, in class order then file-name order; absent class folders give no files."""
    files, targets = [], []
    for index, name in enumerate(classes):
        directory = folder / name
        if not directory.is_dir():
            continue
        found = sorted(p for p in directory.iterdir() if p.suffix.lower() in EXTENSIONS and p.is_file())
        files += found
        targets += [index] * len(found)
    return files, targets


def require_classes(folder: Path, classes: list[str], what: str, layout: str) -> None:
    if not folder.is_dir():
        raise UserError(f"{what}: folder {folder} does not exist; expected {layout}")
    missing = [name for name in classes if not (folder / name).is_dir()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise UserError(f"{what}: {len(missing)} class folders missing under {folder} ({shown}); expected {layout}")


@dataclasses.dataclass(frozen=True)
class FolderParams:
    root: str = dataclasses.field(default="", metadata={"help": "the dataset's root folder"})
    train: str = dataclasses.field(default="train", metadata={"help": "training images: ROOT/<train>/<class>/*"})
    test: str = dataclasses.field(default="val", metadata={"help": "evaluation images: ROOT/<test>/<class>/*"})
    image_size: int = dataclasses.field(default=64, metadata={"min": 1, "help": "resize + centre crop to this side"})
    classes: list[str] | None = dataclasses.field(
        default=None, metadata={"help": "class folder names in index order (default: the train folders, sorted)"}
    )


class ImageFolder(Dataset):
    """Any dataset in the ImageFolder layout: ROOT/train/<class>/*.jpg and ROOT/val/<class>/*.jpg."""

    name = "image-folder"
    behaviour_version = 1
    Params = FolderParams
    location_params = ("root",)

    def layout(self) -> str:
        p = self.params
        return f"ROOT/{p.train}/<class>/<image> and ROOT/{p.test}/<class>/<image> (torchvision's ImageFolder layout)"

    def classes(self) -> list[str]:
        if self.params.classes is not None:
            return list(self.params.classes)
        train = Path(self.params.root) / self.params.train
        return sorted(p.name for p in train.iterdir() if p.is_dir()) if train.is_dir() else []

    def required(self) -> list[str]:
        """The classes whose folders must exist in both splits."""
        return self.classes()

    def check(self) -> None:
        root = Path(self.params.root)
        if not self.params.root or not root.is_dir():
            raise UserError(f"{self.name}: root folder {root} does not exist; expected {self.layout()}")
        for part in (self.params.train, self.params.test):
            require_classes(root / part, self.required(), self.name, self.layout())
        if not self.classes():
            raise UserError(f"{self.name}: no class folders in {root / self.params.train}; expected {self.layout()}")

    def load(self) -> ImageData:
        self.check()
        root, classes, size = Path(self.params.root), self.classes(), self.params.image_size
        train, test = (ImageFiles(*scan(root / part, classes), size) for part in (self.params.train, self.params.test))
        return ImageData(train, test, train.targets, test.targets, classes, ImageShape(3, size, size))


@dataclasses.dataclass(frozen=True)
class ImageNetParams:
    root: str = dataclasses.field(default="", metadata={"help": "ImageNet-1K root with train/ and val/"})
    image_size: int = dataclasses.field(default=256, metadata={"min": 1})
    train: str = "train"
    test: str = "val"


class ImageNet(ImageFolder):
    """ImageNet-1K in the ImageFolder layout. Classes in Li et al.'s order: the 200 ImageNet-R classes sorted by
    wnid (0–99 forgotten, 100–199 retained in their setting), then the other 800 wnids sorted (their proxy retain
    set). The 200 must be present; the others are used where present."""

    name = "imagenet"
    num_classes = 1000
    behaviour_version = 1
    Params = ImageNetParams

    def layout(self) -> str:
        return (
            f"ROOT/{self.params.train}/<wnid>/*.JPEG and ROOT/{self.params.test}/<wnid>/*.JPEG, with the validation "
            "images sorted into wnid folders (e.g. by the usual valprep.sh); the 200 ImageNet-R wnids at least"
        )

    def classes(self) -> list[str]:
        first = class_list("imagenet_r_wnids.txt")
        return first + [w for w in class_list("imagenet_wnids.txt") if w not in set(first)]

    def required(self) -> list[str]:
        return class_list("imagenet_r_wnids.txt")


@dataclasses.dataclass(frozen=True)
class Places365Params:
    root: str = dataclasses.field(default="", metadata={"help": "torchvision's Places365 root"})
    image_size: int = dataclasses.field(default=256, metadata={"min": 1})
    small: bool = dataclasses.field(default=True, metadata={"help": "the 256×256 images (else the large ones)"})
    order: str = dataclasses.field(
        default="li2024", metadata={"help": "class order: li2024 (Li et al.'s list) or standard (Places365's)"}
    )

    def __post_init__(self):
        if self.order not in ("li2024", "standard"):
            raise ValueError("order must be 'li2024' or 'standard'")


class Places365(Dataset):
    """Places365-Standard in torchvision's layout. Class order ``li2024`` (default) is Li et al.'s list: 0–49
    retained, 50–99 forgotten, 100+ their proxy retain set; ``standard`` is Places365's own index order."""

    name = "places365"
    num_classes = 365
    behaviour_version = 1
    Params = Places365Params
    location_params = ("root",)

    @property
    def folders(self) -> tuple[str, str]:
        return ("data_256_standard", "val_256") if self.params.small else ("data_large_standard", "val_large")

    def layout(self) -> str:
        train, val = self.folders
        return (
            "torchvision's Places365 layout: ROOT/categories_places365.txt, ROOT/places365_train_standard.txt, "
            f"ROOT/places365_val.txt, ROOT/{train}/<letter>/<category>/*.jpg (the tar unpacks to "
            f"{train.removesuffix('_standard')}: rename it, as torchvision does) and ROOT/{val}/*.jpg"
        )

    def check(self) -> None:
        root = Path(self.params.root)
        needed = ["categories_places365.txt", "places365_train_standard.txt", "places365_val.txt", *self.folders]
        missing = [name for name in needed if not (root / name).exists()]
        if not self.params.root or missing:
            raise UserError(f"places365: {', '.join(missing) or root} missing under {root}; expected {self.layout()}")
        on_disk = [line.split()[0] for line in (root / "categories_places365.txt").read_text().splitlines() if line]
        if on_disk != class_list("places365_categories.txt"):
            raise UserError(
                f"places365: {root / 'categories_places365.txt'} does not list the 365 Places365-Standard categories "
                "in their standard order"
            )

    def classes(self) -> list[str]:
        if self.params.order == "standard":
            return class_list("places365_categories.txt")
        return class_list("places365_li2024_order.txt")

    def _read(self, list_file: str, folder: str, position: dict[int, int]) -> ImageFiles:
        root = Path(self.params.root)
        files, targets = [], []
        for line in (root / list_file).read_text().splitlines():
            if not line.strip():
                continue
            name, label = line.split()
            files.append(root / folder / name.lstrip("/"))
            targets.append(position[int(label)])
        return ImageFiles(files, targets, self.params.image_size)

    def load(self) -> ImageData:
        self.check()
        standard = class_list("places365_categories.txt")
        classes = self.classes()
        position = {standard.index(name): i for i, name in enumerate(classes)}
        train_folder, val_folder = self.folders
        train = self._read("places365_train_standard.txt", train_folder, position)
        test = self._read("places365_val.txt", val_folder, position)
        size = self.params.image_size
        return ImageData(train, test, train.targets, test.targets, classes, ImageShape(3, size, size))


@unlearn_bench.hookimpl
def register_datasets(register):
    register(ImageFolder)
    register(ImageNet)
    register(Places365)
