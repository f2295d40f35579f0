"""Training and evaluation throughput of each model family through the harness's own data path and training loop.

For each model of ``suites/fashion-mnist-families.yaml`` (autoencoder, MAE, VQ + masked-token transformer,
diffusion inpainting; their parameters and training recipes as the suite gives them), on synthetic images of the
chosen size held in memory like Fashion-MNIST and CIFAR-10 are:

- train: ``RunContext.fit`` for one epoch (the loader, the host-to-device copy, the loss, backward, optimiser step),
  in training images per second, after a warm-up epoch on a few batches;
- evaluate: ``model.restore`` over the same images without gradients (the diffusion model samples with its DDIM
  steps), in restored images per second.

On CUDA each family is timed twice: with the recipe's CUDA defaults (bf16 autocast, channels-last weights, pinned
memory) and with them off (fp32, contiguous), so the gain of each run is visible. On a CPU only the defaults run.

    python benchmarks/family_throughput.py [--device cuda] [--images 2048] [--image-size 32] [--channels 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch
from tabulate import tabulate
from unlearn_bench.context import RunContext
from unlearn_bench.data import SplitData
from unlearn_bench.datasets import ImageData, ImageShape, InMemoryImages
from unlearn_bench.environment import device_name, pick_device
from unlearn_bench.splits import SplitConfig, make_split
from unlearn_bench.suite import load_suite

SUITE = Path(__file__).resolve().parents[1] / "suites" / "fashion-mnist-families.yaml"


def synthetic(count: int, shape: ImageShape) -> ImageData:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (count, shape.channels, shape.height, shape.width), generator=generator)
    labels = torch.arange(count) % 2
    data = InMemoryImages(images.to(torch.uint8), labels)
    return ImageData(data, data, labels.tolist(), labels.tolist(), ["a", "b"], shape)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(model_entry, data: ImageData, device: torch.device, fast: bool | None, batch_size: int):
    """(training, evaluation) images per second; ``fast`` sets AMP and channels-last (None: the recipe's defaults)."""
    recipe = dataclasses.replace(model_entry.entry.train, epochs=1, batch_size=batch_size, amp=fast, channels_last=fast)
    task = load_suite(SUITE).tasks[0].build()
    torch.manual_seed(0)
    model = model_entry.build(data.shape).to(device)
    if recipe.uses_channels_last(device):
        model = model.to(memory_format=torch.channels_last)

    def context(images: ImageData) -> RunContext:
        split = SplitData(images, make_split(SplitConfig(forget_classes=[0]), images, seed=0), task, device)
        return RunContext(split, seed=0, recipe=recipe, new_model=lambda: model, show_progress=False)

    context(synthetic(4 * batch_size, data.shape)).fit(model, "train")  # warm-up: kernels, allocator, autotuning
    ctx = context(data)
    synchronize(device)
    start = time.perf_counter()
    ctx.fit(model, "train")
    synchronize(device)
    train = ctx.data.size("train") / (time.perf_counter() - start)

    seen = 0
    synchronize(device)
    start = time.perf_counter()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=recipe.uses_amp(device)):
        for batch in ctx.batches("train", batch_size, shuffle=False):
            model.restore(batch.inputs, batch.mask)
            seen += len(batch.inputs)
    synchronize(device)
    return train, seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when available)")
    parser.add_argument("--images", type=int, default=2048, help="training (and evaluation) images")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--models", nargs="*", default=None, help="model ids of the families suite (default: all)")
    args = parser.parse_args()
    device = pick_device(args.device)
    suite = load_suite(SUITE)
    data = synthetic(args.images, ImageShape(args.channels, args.image_size, args.image_size))
    variants = [("bf16 + channels-last", True), ("fp32", False)] if device.type == "cuda" else [("defaults", None)]
    rows = []
    for model in suite.models:
        if args.models and model.id not in args.models:
            continue
        for label, fast in variants:
            train, evaluate = measure(model, data, device, fast, args.batch_size)
            rows.append([model.id, label, f"{train:,.0f}", f"{evaluate:,.0f}"])
    print(
        f"{device_name(device)} ({device.type}), torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{args.images} images of {args.channels}×{args.image_size}×{args.image_size}, batch {args.batch_size}"
    )
    print(tabulate(rows, headers=["model", "settings", "train images/s", "evaluate images/s"], tablefmt="github"))


if __name__ == "__main__":
    main()
