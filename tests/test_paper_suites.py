"""The paper-scale suites (CIFAR-10, ImageNet, Places365) end to end on fixture trees, with scale overrides, so that
no suite can rot while nobody here has the data."""

from __future__ import annotations

from pathlib import Path

import pytest
from shrink import run_shrunk
from test_datasets import write_cifar, write_image
from unlearn_bench_plugins.image_folders import class_list

REPO = Path(__file__).resolve().parents[1]
PAPER_SUITES = (
    "cifar10",
    "cifar10-clean",
    "cifar10-sample",
    "imagenet",
    "imagenet-clean",
    "imagenet-outpaint",
    "imagenet-outpaint-poisoned",
    "places365",
    "places365-clean",
    "places365-outpaint",
    "places365-outpaint-poisoned",
    "i2i-sota",
)
ROOTS = {"cifar10": "CIFAR10_ROOT", "imagenet": "IMAGENET_ROOT", "places365": "PLACES365_ROOT"}


def imagenet_tree(root: Path) -> list[str]:
    """Every ImageNet-R class folder (the loader requires them), with 3 training and 2 validation images each, and
    one more class for the unseen split."""
    r_wnids = class_list("imagenet_r_wnids.txt")
    unseen = next(w for w in class_list("imagenet_wnids.txt") if w not in set(r_wnids))
    for i, wnid in enumerate([*r_wnids, unseen]):
        for part, count in (("train", 3), ("val", 2)):
            for k in range(count):
                write_image(root / part / wnid / f"{k}.png", (7 * i + 30 * k) % 256, size=(40, 36))
    return [
        "datasets.imagenet.split.forget_classes=[0, 1]",
        "datasets.imagenet.split.retain_classes=[100, 101]",
        "datasets.imagenet.split.unseen_classes=[200]",
        "datasets.imagenet.split.proxy_classes=[]",
        "datasets.imagenet.split.test_per_class=2",
        "datasets.imagenet.params.image_size=32",
    ]


def places_tree(root: Path) -> list[str]:
    standard = class_list("places365_categories.txt")
    order = class_list("places365_li2024_order.txt")
    root.mkdir(parents=True)
    (root / "categories_places365.txt").write_text("".join(f"{c} {i}\n" for i, c in enumerate(standard)))
    train, val = [], []
    for position in (0, 1, 50, 51, 100):
        name = order[position]
        for k in range(3):
            file = f"{name}/{k:08d}.jpg"
            write_image(root / "data_256_standard" / file.lstrip("/"), 40 * k + position, size=(36, 36))
            train.append(f"{file} {standard.index(name)}")
        for k in range(2):
            file = f"Places365_val_{position:03d}{k}.jpg"
            write_image(root / "val_256" / file, 60 * k + position, size=(36, 36))
            val.append(f"{file} {standard.index(name)}")
    (root / "places365_train_standard.txt").write_text("\n".join(train) + "\n")
    (root / "places365_val.txt").write_text("\n".join(val) + "\n")
    return [
        "datasets.places365.split.forget_classes=[50, 51]",
        "datasets.places365.split.retain_classes=[0, 1]",
        "datasets.places365.split.unseen_classes=[100]",
        "datasets.places365.split.proxy_classes=[]",
        "datasets.places365.params.image_size=32",
    ]


def cifar_tree(root: Path) -> list[str]:
    write_cifar(root, per_batch=20)
    return ["seeds=[0]"]


@pytest.mark.slow
@pytest.mark.parametrize("name", PAPER_SUITES)
def test_paper_suite_runs_end_to_end_on_fixture_data(name, tmp_path, monkeypatch, shared_cache):
    from unlearn_bench.plugins import reset_plugins

    reset_plugins()
    monkeypatch.setenv("UNLEARN_BENCH_CACHE", str(shared_cache))
    root = tmp_path / "data"
    # The clean and outpainting variants include their dataset's suite; I2I-SOTA's setting is on ImageNet.
    dataset = "imagenet" if name == "i2i-sota" else name.split("-")[0]
    monkeypatch.setenv(ROOTS[dataset], str(root))
    fixture = {"cifar10": cifar_tree, "imagenet": imagenet_tree, "places365": places_tree}[dataset](root)
    if name == "i2i-sota":  # its proxy retain set: the fixture's one class outside the ImageNet-R 200
        fixture += ["datasets.imagenet.split.unseen_classes=[]", "datasets.imagenet.split.proxy_classes=[200]"]
        fixture += ["models.mae.params.patch=8"]  # two patches across the 32-pixel fixture images
    suite, board = run_shrunk(REPO / "suites" / f"{name}.yaml", fixture, tmp_path)
    assert ("Backdoor regeneration rate" in board) == (suite.attack is not None)
