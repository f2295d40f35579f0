"""Forget/retain splits, class-level or sample-level, chosen deterministically from the seed."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Sequence
from typing import Literal

import torch

from .datasets import ImageData


def expand_classes(items: list[int | str], name: str) -> list[int]:
    """Class indices, with ranges such as "100-199" spelled out."""
    classes: list[int] = []
    for item in items:
        if isinstance(item, int):
            classes.append(item)
            continue
        match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", item)
        if not match or int(match[1]) > int(match[2]):
            raise ValueError(f"{name}: '{item}' is neither a class index nor a range such as '100-199'")
        classes += range(int(match[1]), int(match[2]) + 1)
    return classes


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """Which training samples are forgotten, which are retained, and what is evaluated.

    ``class`` level forgets every sample of ``forget_classes``; ``sample`` level forgets ``forget_fraction`` of the
    samples of ``forget_classes`` and retains the rest of them. ``unseen_classes`` are only evaluated (D_U) and
    ``proxy_classes`` only offered to methods as a stand-in retain set; the original model sees neither. Classes
    in no list are not used at all. A list item may be a range ``"100-199"`` (both ends included).
    """

    forget_classes: list[int | str]
    level: Literal["class", "sample"] = "class"
    retain_classes: list[int | str] | None = dataclasses.field(
        default=None, metadata={"help": "default: every class that is neither forgotten nor unseen"}
    )
    unseen_classes: list[int | str] = dataclasses.field(
        default_factory=list, metadata={"help": "classes never trained on, evaluated as D_U"}
    )
    proxy_classes: list[int | str] = dataclasses.field(
        default_factory=list,
        metadata={"help": "classes outside D_F and D_R whose training images form the 'proxy' part"},
    )
    forget_fraction: float | None = dataclasses.field(
        default=None, metadata={"help": "sample level: fraction of the forget classes' samples to forget"}
    )
    train_per_class: int | None = dataclasses.field(
        default=None, metadata={"min": 1, "help": "use at most this many training images per class"}
    )
    test_per_class: int | None = dataclasses.field(
        default=None, metadata={"min": 1, "help": "evaluate at most this many images per class"}
    )

    def __post_init__(self):
        for name in ("forget_classes", "retain_classes", "unseen_classes", "proxy_classes"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, expand_classes(getattr(self, name), name))
        if not self.forget_classes:
            raise ValueError("forget_classes must name at least one class")
        if self.level == "sample" and not (self.forget_fraction and 0 < self.forget_fraction < 1):
            raise ValueError("level 'sample' needs forget_fraction strictly between 0 and 1")
        if self.level == "class" and self.forget_fraction is not None:
            raise ValueError("forget_fraction is only meaningful with level 'sample'")
        groups = [
            set(self.forget_classes),
            set(self.retain_classes or ()),
            set(self.unseen_classes),
            set(self.proxy_classes),
        ]
        overlap = {c for i, a in enumerate(groups) for b in groups[i + 1 :] for c in a & b}
        if overlap:
            raise ValueError(f"classes {sorted(overlap)} are in more than one of forget, retain, unseen and proxy")


@dataclasses.dataclass
class Split:
    """Index lists into the dataset's train or test set, by part.

    The test images of the forget classes are also halved (seeded) for audits: ``holdout`` images are never
    trained on by any model (the non-members of membership inference), ``population`` images stand for the forget
    classes' distribution when the shadow model is trained.
    """

    train: dict[str, list[int]]
    evaluate: dict[str, tuple[str, list[int]]]
    holdout: list[int] = dataclasses.field(default_factory=list)
    population: list[int] = dataclasses.field(default_factory=list)

    def summary(self) -> dict:
        """Sizes and a fingerprint of each part, recorded with every result."""

        def digest(indices: Sequence[int]) -> str:
            return hashlib.sha256(",".join(map(str, indices)).encode()).hexdigest()[:16]

        out = {f"train/{p}": {"size": len(ix), "sha256": digest(ix)} for p, ix in self.train.items()}
        for part, (source, ix) in self.evaluate.items():
            out[f"eval/{part}"] = {"source": source, "size": len(ix), "sha256": digest(ix)}
        for part in ("holdout", "population"):
            indices = getattr(self, part)
            out[part] = {"source": "test", "size": len(indices), "sha256": digest(indices)}
        return out


def _by_class(targets: Sequence[int], classes: Sequence[int], cap: int | None, gen: torch.Generator):
    wanted = set(classes)
    buckets: dict[int, list[int]] = {c: [] for c in classes}
    for index, label in enumerate(targets):
        if label in wanted:
            buckets[int(label)].append(index)
    for c, indices in buckets.items():
        if cap is not None and len(indices) > cap:
            order = torch.randperm(len(indices), generator=gen)[:cap].sort().values
            buckets[c] = [indices[i] for i in order.tolist()]
    return buckets


def make_split(config: SplitConfig, data: ImageData, seed: int) -> Split:
    n_classes = len(data.classes)
    for name in ("forget_classes", "retain_classes", "unseen_classes", "proxy_classes"):
        bad = [c for c in getattr(config, name) or () if not 0 <= c < n_classes]
        if bad:
            raise ValueError(f"{name} {bad} outside the dataset's {n_classes} classes")
    retain_classes = config.retain_classes
    if retain_classes is None:
        excluded = set(config.forget_classes) | set(config.unseen_classes) | set(config.proxy_classes)
        retain_classes = [c for c in range(n_classes) if c not in excluded]

    gen = torch.Generator().manual_seed(seed)
    used = list(config.forget_classes) + list(retain_classes)
    train = _by_class(data.train_targets, used + list(config.proxy_classes), config.train_per_class, gen)
    test = _by_class(data.test_targets, used + list(config.unseen_classes), config.test_per_class, gen)

    forget_pool = sorted(i for c in config.forget_classes for i in train[c])
    retain = sorted(i for c in retain_classes for i in train[c])
    evaluate: dict[str, tuple[str, list[int]]] = {
        "retain": ("test", sorted(i for c in retain_classes for i in test[c])),
    }
    if config.level == "class":
        forget = forget_pool
        evaluate["forget"] = ("test", sorted(i for c in config.forget_classes for i in test[c]))
    else:
        n_forget = max(1, round(config.forget_fraction * len(forget_pool)))
        chosen = set(torch.randperm(len(forget_pool), generator=gen)[:n_forget].tolist())
        forget = [ix for k, ix in enumerate(forget_pool) if k in chosen]
        retain = sorted(retain + [ix for k, ix in enumerate(forget_pool) if k not in chosen])
        # The forgotten samples are individual training images: they are evaluated themselves.
        cap = config.test_per_class * len(config.forget_classes) if config.test_per_class else None
        evaluate["forget"] = ("train", forget[:cap])
        evaluate["retain"] = (
            "test",
            sorted(i for c in list(retain_classes) + list(config.forget_classes) for i in test[c]),
        )
    if config.unseen_classes:
        evaluate["unseen"] = ("test", sorted(i for c in config.unseen_classes for i in test[c]))
    parts = {"forget": forget, "retain": retain, "train": sorted(forget + retain)}
    if config.proxy_classes:
        parts["proxy"] = sorted(i for c in config.proxy_classes for i in train[c])
    forget_test = sorted(i for c in config.forget_classes for i in test[c])
    order = torch.randperm(len(forget_test), generator=gen).tolist()
    half = len(order) // 2
    return Split(
        train=parts,
        evaluate=evaluate,
        holdout=sorted(forget_test[k] for k in order[half:]),
        population=sorted(forget_test[k] for k in order[:half]),
    )
