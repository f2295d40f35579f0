from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from unlearn_bench.plugins import reset_plugins

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two pytest workers on two cores: one torch thread each, not two fighting over each core.
    torch.set_num_threads(1)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """The tiny test plugins registered on a fresh plugin manager; artefacts cached under tmp_path."""
    import tiny as tiny_module

    monkeypatch.setenv("UNLEARN_BENCH_CACHE", str(tmp_path / "cache"))
    reset_plugins()
    tiny_module.register_tiny()
    yield tiny_module
    reset_plugins()


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One artefact and weights cache for the end-to-end suite tests of a pytest process: suites that share upstream
    models (a clean variant and its poisoned parent) or extractor weights build them once, as real runs do."""
    return tmp_path_factory.mktemp("shared-cache")


@pytest.fixture
def data_root(tmp_path) -> Path:
    """A folder with the four Fashion-MNIST file names (the dataset's ``check()`` only looks for them)."""
    from unlearn_bench_plugins.fashion_mnist import FILES

    root = tmp_path / "fmnist"
    root.mkdir()
    for name in FILES:
        (root / name).touch()
    return root
