"""The example third-party package, installed with pip, is found through its entry point and runs in a suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

RUN = """
import sys
sys.path.insert(0, {tests!r})
import tiny
tiny.register_tiny()
from unlearn_bench.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    # Build from a copy: pip writes build/ and *.egg-info next to the sources.
    source = shutil.copytree(ROOT / "examples" / "unlearn-bench-example", tmp_path_factory.mktemp("src") / "example")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    return target


def cli(installed, *args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(installed), "UNLEARN_BENCH_CACHE": str(cwd / "cache")}
    script = RUN.format(tests=str(Path(__file__).parent))
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_example_plugin_is_listed_with_its_distribution(installed, tmp_path):
    out = cli(installed, "plugins", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if line.startswith("weight-noise"))
    assert "unlearn-bench-example" in line and "0.1.0" in line and "register_methods" in line
    assert "metric hole-l1" in line and "executor threads" in line
    detail = cli(installed, "plugins", "weight-noise", cwd=tmp_path)
    assert "scale" in detail.stdout and "unlearn-bench-example" in detail.stdout


def test_example_method_metric_and_executor_run_in_a_suite(installed, tmp_path):
    import json

    import tiny

    text = tiny.SUITE.replace(
        "  - {name: retrain}\n", "  - {name: retrain}\n  - {name: weight-noise, params: {scale: 0.3}}\n"
    ).replace("  - {name: mse}\n", "  - {name: mse}\n  - {name: hole-l1}\n")
    path = tiny.write_suite(tmp_path, text=text)
    out = cli(
        installed,
        "run",
        str(path),
        "--results",
        "res",
        "--leaderboard",
        "lb",
        "--quiet",
        "--set",
        "seeds=[0]",
        "--executor",
        "threads",
        "--executor-param",
        "threads=1",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    board = (tmp_path / "lb" / "tiny.md").read_text()
    line = next(line for line in board.splitlines() if line.startswith("| weight-noise"))
    assert "1/1" in line and "—" not in line
    assert "L1 (hole)" in board
    rows = [json.loads(p.read_text()) for p in (tmp_path / "res" / "tiny" / "cells").glob("*.json")]
    assert len(rows) == 4 and all(r["executor"] == {"name": "threads", "threads": 1} for r in rows)
    for row in rows:
        values = {m["split"]: m["value"] for m in row["metrics"] if m["metric"] == "hole-l1"}
        mse = {m["split"]: m["value"] for m in row["metrics"] if m["metric"] == "mse"}
        # The mean absolute error over the hole is positive and at most the root mean squared error (Jensen).
        assert values.keys() == mse.keys() and all(0 < values[s] <= mse[s] ** 0.5 + 1e-9 for s in values)


def test_editing_an_installed_plugin_reruns_what_it_built(installed, tmp_path):
    import tiny

    site = shutil.copytree(installed, tmp_path / "site")  # the module-wide install stays untouched
    text = tiny.SUITE.replace("  - {name: retrain}\n", "  - {name: retrain}\n  - {name: weight-noise}\n")
    args = ["run", str(tiny.write_suite(tmp_path, text=text)), "--results", "res", "--leaderboard", "lb"]
    args += ["--quiet", "--set", "seeds=[0]"]
    first = cli(site, *args, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    again = cli(site, *args, cwd=tmp_path)
    assert "done: 0 ran" in again.stdout, again.stdout
    # The package version stays 0.1.0: only the code changed, as when a researcher iterates on a method.
    module = site / "unlearn_bench_example.py"
    module.write_text(module.read_text().replace("* self.params.scale)", "* self.params.scale * 0.5)"))
    edited = cli(site, *args, cwd=tmp_path)
    assert edited.returncode == 0, edited.stdout + edited.stderr
    assert "done: 1 ran" in edited.stdout, edited.stdout  # the weight-noise cell, not the built-in ones


def test_blocking_the_entry_point_removes_the_method(installed, tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARN_BENCH_BLOCK_PLUGINS", "weight-noise")
    out = cli(installed, "plugins", cwd=tmp_path)
    assert out.returncode == 0 and "weight-noise" not in out.stdout
