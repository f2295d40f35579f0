from __future__ import annotations

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
