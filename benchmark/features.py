"""Feature extractors behind the distribution metrics (FID, KID, IS, CLIP-style cosine), their weights, and a disk
cache of reference-set features.

An extractor plugin maps restored images to named feature tensors (``pool``, ``logits``, ``embedding`` ...). Its
weights are found by :func:`find_weights` in a fixed, documented order, and a file that is not there is an error
that says where to put it: never random weights, never a skipped metric.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import torch

from .component import Component
from .errors import CellFailed
from .hashing import file_sha256, stable_hash
from .params import to_dict
from .paths import atomic_write_bytes, cache_dir, read_stored

DOWNLOAD_ENV = "UNLEARN_BENCH_DOWNLOAD_WEIGHTS"
_checking_only = contextvars.ContextVar("checking_only", default=False)


@contextlib.contextmanager
def checking_only() -> Iterator[None]:
    """Inside, extractors' ``locate`` must not write anything (``validate``): a locator that would convert a file into
    the weights cache on first use returns the file it would convert instead (see :func:`writes_allowed`)."""
    token = _checking_only.set(True)
    try:
        yield
    finally:
        _checking_only.reset(token)


def writes_allowed() -> bool:
    """False while :func:`checking_only` is in force."""
    return not _checking_only.get()


class WeightsNotFound(CellFailed):
    """No weights file for a feature extractor in any of the places looked at."""


@dataclasses.dataclass(frozen=True)
class Weights:
    path: Path
    source: str  # which step of the search found it

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.path), "source": self.source, "sha256": file_sha256(self.path)}


def downloads_allowed() -> bool:
    return os.environ.get(DOWNLOAD_ENV, "").lower() in ("1", "true", "yes")


Locator = tuple[str, Callable[[], "Path | None"]]  # (where, returns the file or None)


def find_weights(
    what: str,
    explicit: str | None,
    env: str,
    locators: list[Locator],
    download: Callable[[], Path] | None = None,
    hint: str = "",
) -> Weights:
    """The weights of ``what``, looked for in this order:

    1. ``explicit`` (an extractor's ``weights`` parameter in the suite): must exist;
    2. the environment variable ``env``: must exist;
    3. each locator in turn (the library's own download cache, an offline package, a converted copy);
    4. ``download()``, only when ``UNLEARN_BENCH_DOWNLOAD_WEIGHTS=1`` (the library's own download, into its cache).

    Anything else raises :class:`WeightsNotFound` listing every place looked at and ``hint`` (how to install).
    """
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsNotFound(f"{what}: the suite's weights file (params.weights) does not exist: {path}")
        return Weights(path, "suite parameter 'weights'")
    if os.environ.get(env):
        path = Path(os.environ[env]).expanduser()
        if not path.is_file():
            raise WeightsNotFound(f"{what}: ${env} names a file that does not exist: {path}")
        return Weights(path, f"${env}")
    looked = ["the suite parameter 'weights' (not set)", f"${env} (not set)"]
    for where, locate in locators:
        path = locate()
        if path is not None and Path(path).is_file():
            return Weights(Path(path), where)
        looked.append(f"{where} (not found)")
    if download is not None:
        if downloads_allowed():
            try:
                return Weights(download(), "downloaded")
            except Exception as exc:  # noqa: BLE001 - any download failure ends in the same documented error
                looked.append(f"a download ({type(exc).__name__}: {exc})")
        else:
            looked.append(f"a download (not tried: set {DOWNLOAD_ENV}=1 to allow it)")
    raise WeightsNotFound(f"no weights for {what}. Looked at: " + "; ".join(looked) + (f". {hint}" if hint else ""))


def distribution_file(distribution: str, relative: str) -> Path | None:
    """A file shipped inside an installed distribution, found without importing it (None if not installed)."""
    import importlib.metadata

    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(relative)))
    return path if path.is_file() else None


def weights_cache() -> Path:
    """Where converted weights are kept: ``<cache>/weights``."""
    return cache_dir() / "weights"


class Extractor(Component):
    """Base class of feature-extractor plugins.

    Subclasses set ``display_name`` (used in metric headings, e.g. 'EfficientNet-Lite0') and ``outputs`` (the
    feature names ``extract`` can return), and implement ``locate`` (find the weights file with
    :func:`find_weights`; the default, None, is for extractors without weights), ``load`` (build the network from
    ``self.weights`` on ``device``) and ``extract`` (one chunk of images in [0, 1], shape B×C×H×W, grey or RGB →
    {feature name: B×D float tensor}; calling the extractor chunks and concatenates, without gradients).
    ``prepare`` does ``locate`` then ``load``. ``describe`` reports what is recorded
    with every result: the weights file, its hash and the input policy.
    """

    display_name: ClassVar[str]
    outputs: ClassVar[tuple[str, ...]]
    input_policy: ClassVar[str] = ""

    def __init__(self, params: Any = None):
        super().__init__(params)
        self.weights: Weights | None = None
        self.images_seen = 0  # images passed through the network (tests count them)

    @classmethod
    def is_papers(cls, params: Any) -> bool:
        """Whether these parameters give the extractor the papers used (metrics keep the paper's name only then)."""
        return True

    def locate(self) -> Weights | None:
        """The weights file to load (None for an extractor without one)."""
        return None

    def load(self, device: torch.device) -> None:
        raise NotImplementedError

    def prepare(self, device: torch.device) -> Extractor:
        """Find the weights, then load the network on ``device``."""
        self.weights = self.locate()
        self.load(device)
        return self

    def extract(self, images: torch.Tensor, features: tuple[str, ...]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, features: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """The requested ``features`` of ``images``, extracted in chunks of the extractor's ``batch_size`` parameter
        (all at once without one); ``extract`` sees one chunk and may return more features than asked for."""
        self.images_seen += len(images)
        size = getattr(self.params, "batch_size", None) or max(1, len(images))
        chunks = [self.extract(chunk, features) for chunk in images.split(size)] or [self.extract(images, features)]
        return {name: torch.cat([chunk[name] for chunk in chunks]) for name in features}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "params": dataclasses.asdict(self.params) if dataclasses.is_dataclass(self.params) else None,
            "weights": self.weights.describe() if self.weights else None,
            "input": self.input_policy,
            **type(self).identity(),
        }


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] as the uint8 values a PNG of them would hold (on the same device)."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def to_rgb_uint8(images: torch.Tensor) -> torch.Tensor:
    """:func:`to_uint8`, with grey repeated over three channels."""
    images = to_uint8(images)
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def to_rgb_float(images: torch.Tensor) -> torch.Tensor:
    """:func:`to_rgb_uint8`, back in [0, 1]: extractors see what a saved image would give them."""
    return to_rgb_uint8(images).float() / 255


def selection(size: int, limit: int | None) -> torch.Tensor:
    """Which of ``size`` evaluation images feed the feature metrics: all, or ``limit`` evenly spaced ones (so that a
    class-ordered split stays balanced)."""
    if limit is None or limit >= size:
        return torch.arange(size)
    return torch.linspace(0, size - 1, limit).round().long().unique()


class FeatureCache:
    """Features of reference image sets (ground truth, another model's outputs), stored under a content key."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / "features" / key[:2] / f"{key}.pt"

    def get(self, key: str) -> dict[str, torch.Tensor] | None:
        """Cached features; None when absent, or damaged (then set aside to be recomputed)."""
        return read_stored(
            self.path(key),
            lambda p: torch.load(p, map_location="cpu", weights_only=True),
            "cached features",
            set_aside=True,
        )

    def put(self, key: str, features: dict[str, torch.Tensor]) -> None:
        buffer = io.BytesIO()
        torch.save({k: v.cpu() for k, v in features.items()}, buffer)
        atomic_write_bytes(self.path(key), buffer.getvalue())


_loaded: dict[tuple[str, str, str], Extractor] = {}


def loaded_extractor(cls: type[Extractor], params: Any, device: torch.device) -> Extractor:
    """One loaded instance per (extractor, parameters, device) in this process: weights are read once per run."""
    key = (cls.name, stable_hash(to_dict(params)), str(device))
    if key not in _loaded:
        _loaded[key] = cls(params).prepare(device)
    return _loaded[key]


def forget_loaded_extractors() -> None:
    _loaded.clear()
