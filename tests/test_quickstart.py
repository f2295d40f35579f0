"""The quickstart suite end to end on the real Fashion-MNIST files, at a reduced scale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from unlearn_bench.cli import main

ROOT = Path(__file__).resolve().parents[1]
FMNIST = Path("/usr/share/datasets/fashion-mnist")

SMALL = [
    "datasets.fmnist.split.train_per_class=40",
    "datasets.fmnist.split.test_per_class=10",
    "models.ae.train.epochs=1",
    "methods.realistic-i2i.params.ascent.iterations=3",
    "seeds=[0]",
    "evaluate.feature_images=12",
]


FEATURE_METRICS = ("fid", "kid", "fid-vs-retrained", "kid-vs-retrained", "is-effnet", "cosine-effnet")


@pytest.mark.slow
@pytest.mark.skipif(
    not (FMNIST / "train-images-idx3-ubyte.gz").is_file(), reason="needs Debian's dataset-fashion-mnist (make data)"
)
def test_quickstart_end_to_end(tmp_path, monkeypatch, capsys):
    from unlearn_bench.plugins import reset_plugins

    reset_plugins()
    monkeypatch.setenv("UNLEARN_BENCH_CACHE", str(tmp_path / "cache"))
    args = [
        "run",
        str(ROOT / "suites" / "quickstart.yaml"),
        "--results",
        str(tmp_path / "results"),
        "--leaderboard",
        str(tmp_path / "lb"),
        "--quiet",
        *sum((["--set", s] for s in SMALL), []),
    ]
    assert main(args) == 0
    board = (tmp_path / "lb" / "quickstart.md").read_text()
    labels = [
        "No unlearning",
        "Retrained (gold standard)",
        "Realistic-I2I",
        "Gradient ascent",
        "Fine-tuned on D_R",
        "Merged objective",
        "Random label",
        "Random encoder",
        "I2I-SOTA",
    ]
    for label in labels:
        line = next(line for line in board.splitlines() if line.startswith(f"| {label}"))
        assert "1/1" in line and "—" not in line
    rows = [json.loads(p.read_text()) for p in (tmp_path / "results" / "quickstart" / "cells").glob("*.json")]
    assert len(rows) == len(labels)
    row = rows[0]
    assert row["config"]["data"]["split"]["train_per_class"] == 40
    assert row["environment"]["packages"]["torch"] and row["suite"]["hash"]
    metrics = [m for m in row["metrics"] if "/" not in m["metric"]]  # audit measures have ids 'audit/measure'
    pixel = [m for m in metrics if m["extractor"] is None]
    assert all(m["images"] == 90 if m["split"] == "retain" else m["images"] == 10 for m in pixel)
    featured = {(m["metric"], m["split"]): m for m in metrics if m["extractor"] is not None}
    assert set(featured) == {(i, s) for i in FEATURE_METRICS for s in ("retain", "forget")}
    assert featured["fid", "retain"]["images"] == 12 and featured["fid", "forget"]["images"] == 10
    assert featured["fid", "retain"]["extractor"]["name"] == "inception-v3-tf"
    assert len(featured["fid", "retain"]["extractor"]["weights"]["sha256"]) == 64
    assert featured["is-effnet", "retain"]["display_name"] == "IS-style (EfficientNet-Lite0)"
    assert "| FID ↓ D_R" in board and "| KID vs retrained ↓ D_F" in board
    assert {m["metric"] for m in row["metrics"]} - {m["metric"] for m in metrics} == {
        "mia/auc-loss",
        "mia/tpr-loss",
        "mia/auc-reference",
        "mia/tpr-reference",
        "forget-score/score",
    }
    assert row["audit"]["mia"]["members"] == 40 and row["audit"]["mia"]["nonmembers"] == 5
    # The forget score: exactly 0 for the model unlearning starts from and 1 for the retrained one on D_F, and every
    # metric against the retrained model carries the floor of a second retrained model.
    by_method = {r["cell"]["axes"]["method"]: r for r in rows}
    score = {
        m: next(e for e in r["metrics"] if e["metric"] == "forget-score/score" and e["split"] == "forget")
        for m, r in by_method.items()
    }
    assert score["no-unlearning"]["value"] == 0 and score["retrain"]["value"] == pytest.approx(1)
    assert all("floor" in m for m in metrics if m["reference"] == "retrained")
    assert "Forget score → 1 D_F" in board
    capsys.readouterr()
    assert main(args) == 0  # nothing left to do
    assert f"0 ran, {len(labels)} up to date" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.skipif(
    not (FMNIST / "train-images-idx3-ubyte.gz").is_file(), reason="needs Debian's dataset-fashion-mnist (make data)"
)
def test_sample_unlearning_suite_end_to_end(tmp_path, monkeypatch, shared_cache):
    """The poisoned sample-unlearning suite (which includes the poisoned class suite) at a reduced scale."""
    from unlearn_bench.plugins import reset_plugins

    reset_plugins()
    monkeypatch.setenv("UNLEARN_BENCH_CACHE", str(shared_cache))
    small = [
        f"datasets.{d}.split.{key}={value}"
        for d in ("fmnist-20", "fmnist-75")
        for key, value in (("train_per_class", 40), ("test_per_class", 10))
    ]
    small += ["models.ae.train.epochs=1", "seeds=[0]", "methods=[{name: no-unlearning}, {name: retrain}]"]
    small += ["evaluate.feature_images=4"]
    args = ["run", str(ROOT / "suites" / "fashion-mnist-sample.yaml"), "--results", str(tmp_path / "results")]
    args += ["--leaderboard", str(tmp_path / "lb"), "--quiet", *sum((["--set", s] for s in small), [])]
    assert main(args) == 0
    rows = [json.loads(p.read_text()) for p in (tmp_path / "results" / "fashion-mnist-sample" / "cells").glob("*.json")]
    assert len(rows) == 4
    for row in rows:
        forgotten = 0.2 if row["cell"]["axes"]["dataset"] == "fmnist-20" else 0.75
        assert row["split"]["train/forget"]["size"] == round(forgotten * 80)  # of the two forget classes' 80 images
        assert set(row["audit"]["backdoor"]["calibration"]) == {"original", "attack"}
    board = (tmp_path / "lb" / "fashion-mnist-sample.md").read_text()
    headers = "\n".join(line for line in board.splitlines() if line.startswith("| Method "))
    assert headers.count("Backdoor regeneration rate ↓ D_R") == 2  # one table per forget fraction
    assert headers.count("FID vs retrained ↓ D_F") == 2
    # One seed: the noise sections still give each column its bootstrap interval over that seed's images.
    assert "## Feature metrics: the noise of seeds and of images" in board
    assert (tmp_path / "lb" / "fashion-mnist-sample-outputs-fmnist-75-center-half-ae.png").is_file()
