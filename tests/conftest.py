from __future__ import annotations

from pathlib import Path

import pytest
from unlearn_bench.plugins import reset_plugins


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """The tiny test plugins registered on a fresh plugin manager; artefacts cached under tmp_path."""
    import tiny as tiny_module

    monkeypatch.setenv("UNLEARN_BENCH_CACHE", str(tmp_path / "cache"))
    reset_plugins()
    tiny_module.register_tiny()
    yield tiny_module
    reset_plugins()


@pytest.fixture
def data_root(tmp_path) -> Path:
    """A folder with the four Fashion-MNIST file names (the dataset's ``check()`` only looks for them)."""
    from unlearn_bench_plugins.fashion_mnist import FILES

    root = tmp_path / "fmnist"
    root.mkdir()
    for name in FILES:
        (root / name).touch()
    return root
