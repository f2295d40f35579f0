"""Tiny synthetic data and throw-away plugins for the tests: 8×8 grey images of four stripe/checker classes."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import torch
import unlearn_bench
from unlearn_bench.datasets import Dataset, ImageData, ImageShape, InMemoryImages
from unlearn_bench.methods import Method
from unlearn_bench.plugins import get_plugins


def _patterns(size: int = 8) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return torch.stack([(y % 2), (x % 2), ((x + y) % 2), ((x - size / 2) ** 2 + (y - size / 2) ** 2 < 8)]).float()


@dataclasses.dataclass(frozen=True)
class TinyParams:
    train_per_class: int = 24
    test_per_class: int = 8


class TinyShapes(Dataset):
    """Four classes of 8×8 patterns with noise."""

    name = "tiny-shapes"
    Params = TinyParams

    def load(self) -> ImageData:
        gen = torch.Generator().manual_seed(1234)
        patterns = _patterns()

        def make(per_class: int) -> InMemoryImages:
            labels = torch.arange(4).repeat_interleave(per_class)
            images = patterns[labels] * 0.8 + 0.2 * torch.rand(len(labels), 8, 8, generator=gen)
            return InMemoryImages((images * 255).round().to(torch.uint8).unsqueeze(1), labels)

        train, test = make(self.params.train_per_class), make(self.params.test_per_class)
        return ImageData(
            train,
            test,
            train.targets.tolist(),
            test.targets.tolist(),
            ["rows", "columns", "checker", "disc"],
            ImageShape(1, 8, 8),
        )


class Explode(Method):
    """A method that fails: used to check that one failing cell does not stop a suite."""

    name = "explode"

    def unlearn(self, model, ctx):
        ctx.log("steps", step=0, loss=1.5)  # what it logged before failing stays in the failed row
        ctx.record(tried=True)
        raise RuntimeError("boom")


class TinyPlugin:
    @unlearn_bench.hookimpl
    def register_datasets(self, register):
        register(TinyShapes)

    @unlearn_bench.hookimpl
    def register_methods(self, register):
        register(Explode)


def register_tiny() -> None:
    plugins = get_plugins()
    if not plugins.manager.has_plugin("tiny"):
        plugins.register(TinyPlugin(), "tiny")


SUITE = """\
version: 1
name: tiny
description: a tiny suite for tests
seeds: [0, 1]
datasets:
  - name: tiny-shapes
    id: tiny
    split: {forget_classes: [0]}
tasks:
  - {name: center-inpaint, id: hole, params: {hole: 0.5}}
models:
  - name: conv-autoencoder
    id: ae
    params: {width: 4}
    train: {epochs: 2, batch_size: 16, optimizer: {name: adam, lr: 0.01}}
methods:
  - {name: no-unlearning, id: none}
  - {name: retrain}
  - name: realistic-i2i
    label: Realistic-I2I
    params:
      ascent: {iterations: 3, batch_size: 8, probe_size: 8, optimizer: {name: sgd, lr: 0.01}}
      retain: {epochs: 1, batch_size: 16}
metrics:
  - {name: psnr}
  - {name: mse}
  - {name: psnr, id: psnr-retrained, reference: retrained}
evaluate: {batch_size: 16}
"""


def write_suite(folder: Path, extra: str = "", text: str = SUITE) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(text + textwrap.dedent(extra))
    return path
