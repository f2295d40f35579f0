"""Every Fashion-MNIST suite end to end on the real files at a tiny scale (the quickstart and the sample suite have
their own tests in test_quickstart.py), so that no committed suite can rot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shrink import small
from test_quickstart import FMNIST, ROOT
from unlearn_bench.cli import main
from unlearn_bench.suite import load_suite

SUITES = sorted(
    p.stem
    for p in (ROOT / "suites").glob("fashion-mnist-*.yaml")
    if p.stem != "fashion-mnist-sample"  # test_quickstart runs it
)
TINY = [
    "datasets.fmnist.split.train_per_class=12",
    "datasets.fmnist.split.test_per_class=4",
    "seeds=[0]",
]


@pytest.mark.slow
@pytest.mark.skipif(
    not (FMNIST / "train-images-idx3-ubyte.gz").is_file(), reason="needs Debian's dataset-fashion-mnist (make data)"
)
@pytest.mark.parametrize("name", SUITES)
def test_fashion_mnist_suite_runs_end_to_end(name, tmp_path, monkeypatch):
    from unlearn_bench.plugins import reset_plugins

    reset_plugins()
    monkeypatch.setenv("UNLEARN_BENCH_CACHE", str(tmp_path / "cache"))
    path = ROOT / "suites" / f"{name}.yaml"
    overrides = TINY + small(load_suite(path, TINY))
    args = ["run", str(path), "--results", str(tmp_path / "results"), "--leaderboard", str(tmp_path / "lb"), "--quiet"]
    assert main(args + sum((["--set", s] for s in overrides), [])) == 0
    suite = load_suite(path, overrides)
    rows = [json.loads(p.read_text()) for p in Path(tmp_path / "results" / name / "cells").glob("*.json")]
    assert len(rows) == len(suite.methods) * len(suite.models) * len(suite.tasks)
    assert all(r["status"] == "ok" for r in rows), [r["error"]["message"] for r in rows if r["status"] != "ok"]
    board = (tmp_path / "lb" / f"{name}.md").read_text()
    for table in suite.doc.leaderboard.tables:
        assert table.title in board
