"""Dataset and task plugins on fixture trees in each on-disk format, made by the tests."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from unlearn_bench.errors import ConfigError, UserError
from unlearn_bench.suite import load_suite
from unlearn_bench_plugins.center_inpaint import CenterInpaint, Outpaint
from unlearn_bench_plugins.cifar10 import CIFAR10, FOLDER
from unlearn_bench_plugins.image_folders import ImageFolder, ImageNet, Places365, class_list


def write_image(path: Path, value: int, size=(12, 10)) -> None:
    """A small RGB image whose red channel is ``value`` (so tests can tell images apart after loading)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.zeros((*size, 3), dtype=np.uint8)
    pixels[..., 0] = value
    pixels[..., 1] = 128
    Image.fromarray(pixels).save(path)


def red(image: torch.Tensor) -> int:
    return round(float(image[0].mean()) * 255)


# ------------------------------------------------------------------------------------------------- CIFAR-10


def write_cifar(root: Path, per_batch: int = 4) -> None:
    folder = root / FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        data[:, 0] = i  # the first red pixel says which batch an image came from
        labels = [(i + j) % 10 for j in range(per_batch)]
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels}, f)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names}, f)


def test_cifar10_reads_torchvisions_format(tmp_path):
    write_cifar(tmp_path)
    data = CIFAR10(CIFAR10.Params(root=str(tmp_path))).load()
    assert len(data.train) == 20 and len(data.test) == 4
    assert data.classes[0] == "airplane" and data.shape.channels == 3 and data.shape.height == 32
    image, label = data.train[4]
    assert image.shape == (3, 32, 32) and round(float(image[0, 0, 0]) * 255) == 1 and label == 1
    assert data.test_targets == [5, 6, 7, 8]


def test_cifar10_missing_files_name_the_layout(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / FOLDER / "test_batch").unlink()
    with pytest.raises(UserError, match=r"missing test_batch.*cifar-10-batches-py/ with data_batch_1"):
        CIFAR10(CIFAR10.Params(root=str(tmp_path))).check()


# ----------------------------------------------------------------------------------------------- ImageFolder


def test_image_folder_resizes_crops_and_orders_classes(tmp_path):
    for part, count in (("train", 3), ("val", 1)):
        for c, name in enumerate(["zebra", "apple"]):
            for k in range(count):
                write_image(tmp_path / part / name / f"{k}.png", 10 * c + k)
    data = ImageFolder(ImageFolder.Params(root=str(tmp_path), image_size=8)).load()
    assert data.classes == ["apple", "zebra"]  # sorted folder names
    assert data.train_targets == [0, 0, 0, 1, 1, 1] and data.test_targets == [0, 1]
    image, label = data.train[4]
    assert image.shape == (3, 8, 8) and label == 1 and red(image) == 1
    assert data.shape.height == 8


def test_image_folder_errors_name_the_missing_folder(tmp_path):
    write_image(tmp_path / "train" / "a" / "0.png", 1)
    with pytest.raises(UserError, match=r"folder .*val does not exist; expected ROOT/train/<class>"):
        ImageFolder(ImageFolder.Params(root=str(tmp_path))).check()
    write_image(tmp_path / "val" / "b" / "0.png", 1)
    with pytest.raises(UserError, match=r"1 class folders missing under .*val \(a\); expected ROOT/train/<class>"):
        ImageFolder(ImageFolder.Params(root=str(tmp_path))).check()
    with pytest.raises(UserError, match="does not exist"):
        ImageFolder(ImageFolder.Params(root=str(tmp_path / "nowhere"))).check()


# --------------------------------------------------------------------------------------------------- ImageNet


def test_imagenet_orders_the_imagenet_r_classes_first(tmp_path):
    r_wnids = class_list("imagenet_r_wnids.txt")
    assert len(r_wnids) == 200 and r_wnids == sorted(r_wnids)
    for part in ("train", "val"):
        for i, wnid in enumerate(r_wnids):
            write_image(tmp_path / part / wnid / f"{wnid}_{i}.png", i % 200, size=(4, 4))  # PNG: lossless
    other = next(w for w in class_list("imagenet_wnids.txt") if w not in set(r_wnids))
    write_image(tmp_path / "train" / other / "x.png", 250, size=(4, 4))
    data = ImageNet(ImageNet.Params(root=str(tmp_path), image_size=4)).load()
    assert len(data.classes) == 1000 and data.classes[:200] == r_wnids
    assert data.train_targets[:200] == list(range(200))
    assert data.train_targets[200] == data.classes.index(other) >= 200  # a non-ImageNet-R class, after the 200
    assert len(data.test) == 200
    image, label = data.test[150]
    assert label == 150 and red(image) == 150


def test_imagenet_without_the_imagenet_r_classes_fails_with_the_layout(tmp_path):
    write_image(tmp_path / "train" / "n01443537" / "a.JPEG", 1)
    with pytest.raises(UserError, match=r"199 class folders missing under .*train.*<wnid>/\*\.JPEG"):
        ImageNet(ImageNet.Params(root=str(tmp_path))).check()


# -------------------------------------------------------------------------------------------------- Places365


def write_places(root: Path, categories: list[str] | None = None) -> list[str]:
    standard = class_list("places365_categories.txt")
    categories = categories or standard
    root.mkdir(parents=True, exist_ok=True)
    (root / "categories_places365.txt").write_text("".join(f"{c} {i}\n" for i, c in enumerate(categories)))
    li_order = class_list("places365_li2024_order.txt")
    chosen = li_order[:2] + li_order[50:52]  # two retained, two forgotten classes in Li et al.'s setting
    train_lines, val_lines = [], []
    for k, name in enumerate(chosen):
        index = standard.index(name)
        file = f"{name}/{k:08d}.jpg"
        write_image(root / "data_256_standard" / file.lstrip("/"), k)
        train_lines.append(f"{file} {index}")
        write_image(root / "val_256" / f"Places365_val_{k:08d}.jpg", 100 + k)
        val_lines.append(f"Places365_val_{k:08d}.jpg {index}")
    (root / "places365_train_standard.txt").write_text("\n".join(train_lines) + "\n")
    (root / "places365_val.txt").write_text("\n".join(val_lines) + "\n")
    return chosen


def test_places365_reads_torchvisions_layout_in_li_et_als_order(tmp_path):
    chosen = write_places(tmp_path)
    data = Places365(Places365.Params(root=str(tmp_path), image_size=8)).load()
    assert data.classes[:2] == chosen[:2] and data.classes[50:52] == chosen[2:]
    assert data.train_targets == [0, 1, 50, 51] and data.test_targets == [0, 1, 50, 51]
    image, label = data.test[2]
    assert image.shape == (3, 8, 8) and label == 50 and red(image) == 102
    standard = Places365(Places365.Params(root=str(tmp_path), order="standard")).load()
    assert standard.classes == class_list("places365_categories.txt")
    assert standard.train_targets == [standard.classes.index(c) for c in chosen]


def test_places365_errors_name_the_layout(tmp_path):
    with pytest.raises(UserError, match=r"places365_val\.txt.*missing.*torchvision's Places365 layout"):
        write_places(tmp_path / "a")
        (tmp_path / "a" / "places365_val.txt").unlink()
        Places365(Places365.Params(root=str(tmp_path / "a"))).check()
    shuffled = class_list("places365_categories.txt")[::-1]
    write_places(tmp_path / "b", categories=shuffled)
    with pytest.raises(UserError, match="does not list the 365 Places365-Standard categories"):
        Places365(Places365.Params(root=str(tmp_path / "b"))).check()


def test_a_suite_with_a_wrong_root_fails_naming_the_file_key_and_layout(tmp_path):
    suite = tmp_path / "s.yaml"
    suite.write_text(
        f"""\
version: 1
name: places
datasets:
  - name: places365
    params: {{root: {tmp_path / "missing"}}}
    split: {{forget_classes: [50]}}
tasks: [{{name: outpaint}}]
models: [{{name: conv-autoencoder}}]
methods: [{{name: no-unlearning}}]
metrics: [{{name: psnr}}]
seeds: [0]
"""
    )
    with pytest.raises(ConfigError) as info:
        load_suite(suite)
    assert info.value.key == "datasets[0].params" and str(suite) in str(info.value)
    assert "categories_places365.txt" in info.value.message and "val_256" in info.value.message


# ------------------------------------------------------------------------------------------------------ tasks


def test_outpainting_masks_the_border_around_the_kept_centre():
    images = torch.rand(2, 3, 16, 16)
    inputs, mask = Outpaint(Outpaint.Params(grid=4, patches=2)).degrade(images)
    assert mask.shape == (2, 1, 16, 16)
    assert mask[..., 4:12, 4:12].sum() == 0 and mask.sum() == 2 * (256 - 64)
    assert torch.equal(inputs[..., 4:12, 4:12], images[..., 4:12, 4:12]) and inputs[..., 0, 0].abs().sum() == 0
    _, inpaint_mask = CenterInpaint(CenterInpaint.Params(grid=4, patches=2)).degrade(images)
    assert torch.equal(inpaint_mask, 1 - mask)


def folder_suite(tmp_path: Path, classes: int, counts, size: int, step, image_size: int, rest: str) -> Path:
    """An image-folder tree of ``classes`` classes (``counts`` = train, val images each; image ``k`` of class ``c``
    has red value ``step[0]·c + step[1]·k``) and a one-seed suite on it whose tasks, models and methods are ``rest``
    (PSNR as the metric)."""
    for part, count in zip(("train", "val"), counts):
        for c in range(classes):
            for k in range(count):
                value = step[0] * c + step[1] * k
                write_image(tmp_path / "data" / part / f"class{c}" / f"{k}.png", value, size=(size, size))
    suite = tmp_path / "folder.yaml"
    suite.write_text(
        f"""\
version: 1
name: folder
datasets:
  - name: image-folder
    id: folder
    params: {{root: {tmp_path / "data"}, image_size: {image_size}}}
    split: {{forget_classes: [0]}}
{rest}metrics: [{{name: psnr}}]
seeds: [0]
"""
    )
    return suite


def test_a_colour_suite_runs_on_an_image_folder(tiny, tmp_path):
    from test_runner import make_runner

    suite = folder_suite(
        tmp_path,
        classes=3,
        counts=(8, 3),
        size=20,
        step=(40, 5),
        image_size=16,
        rest="""\
tasks: [{name: outpaint, id: out, params: {grid: 4, patches: 2}}]
models:
  - name: conv-autoencoder
    id: ae
    params: {width: 4}
    train: {epochs: 1, batch_size: 8}
methods: [{name: no-unlearning, id: none}, {name: retrain}]
""",
    )
    runner = make_runner(suite, tmp_path)
    summary = runner.run()
    assert summary.finished == 2 and not summary.failed
    row = runner.results.rows("folder")[0]
    assert row["split"]["eval/retain"]["size"] == 6 and row["split"]["eval/forget"]["size"] == 3


def test_loader_workers_read_image_files_in_the_same_order(tiny, tmp_path, monkeypatch):
    """A model's declared CPUs but one become loader processes for image files; results do not change."""
    from test_runner import make_runner
    from unlearn_bench import data

    used = []

    class RecordingLoader(data.DataLoader):
        def __init__(self, *args, num_workers=0, **kwargs):
            used.append(num_workers)
            super().__init__(*args, num_workers=num_workers, **kwargs)

    monkeypatch.setattr(data, "DataLoader", RecordingLoader)
    monkeypatch.setattr(data, "WORKER_MIN_BATCHES", 2)

    suite = folder_suite(
        tmp_path,
        classes=2,
        counts=(6, 2),
        size=12,
        step=(30, 7),
        image_size=8,
        rest="""\
tasks: [{name: center-inpaint}]
models: [{name: conv-autoencoder, id: ae, params: {width: 4}, train: {epochs: 2, batch_size: 4}}]
methods: [{name: no-unlearning, id: none}]
""",
    )
    values = []
    for cpus, workers in ((1, 0), (3, 2)):
        runner = make_runner(suite, tmp_path / f"cpus{cpus}", [f"models.ae.resources.cpus={cpus}"])
        assert runner.loader_workers(runner.cells[0]) == workers
        used.clear()
        runner.run()
        # Training epochs (3 batches of 4) use the workers; one-batch evaluation passes do not.
        assert set(used) == ({0, 2} if workers else {0})
        values.append([m["value"] for m in runner.results.rows("folder")[0]["metrics"]])
    assert values[0] == values[1]
