"""Every Fashion-MNIST suite end to end on the real files at a tiny scale (the quickstart and the sample suite have
their own tests in test_quickstart.py), so that no committed suite can rot."""

from __future__ import annotations

import pytest
from shrink import run_shrunk
from test_quickstart import FMNIST, ROOT

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
def test_fashion_mnist_suite_runs_end_to_end(name, tmp_path, monkeypatch, shared_cache):
    from unlearn_bench.plugins import reset_plugins

    reset_plugins()
    monkeypatch.setenv("UNLEARN_BENCH_CACHE", str(shared_cache))
    run_shrunk(ROOT / "suites" / f"{name}.yaml", TINY, tmp_path)
