"""The quickstart through the Ray executor on a local 2-CPU Ray cluster: same results as in-process, workers killed
mid-cell retried or failed without losing anything, and a rerun that resumes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_quickstart import FEATURE_METRICS, FMNIST, ROOT, SMALL

pytest.importorskip("ray")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("ray"),  # one local Ray cluster at a time
    pytest.mark.skipif(
        not (FMNIST / "train-images-idx3-ubyte.gz").is_file(), reason="needs Debian's dataset-fashion-mnist (make data)"
    ),
]

CELLS = 9
ASCENT = "fmnist__center-half__ae__gradient-ascent__seed0"
REALISTIC = "fmnist__center-half__ae__realistic-i2i__seed0"


# The papers' TF-Inception (tested in test_quickstart) gives way to the faster EfficientNet-Lite0 for FID and KID:
# these tests are about executing cells, and run the quickstart twice each.
LIGHTER = [
    f"metrics.{m}.params.extractor.name=efficientnet-lite0" for m in FEATURE_METRICS if m.startswith(("fid", "kid"))
]


def command(tmp_path: Path, name: str, *extra: str) -> list[str]:
    overrides = sum((["--set", s] for s in SMALL + LIGHTER), [])
    return [
        sys.executable,
        "-m",
        "unlearn_bench.cli",
        "run",
        str(ROOT / "suites" / "quickstart.yaml"),
        "--results",
        str(tmp_path / name / "results"),
        "--cache",
        str(tmp_path / name / "artefacts"),
        "--leaderboard",
        str(tmp_path / name / "leaderboard"),
        "--quiet",
        *overrides,
        *extra,
    ]


def run_driver(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Run a driver in a session of its own and, however it ends, kill whatever of that session is left (a Ray
    head or worker that outlived it must not hold the test's pipes or CPUs)."""
    driver = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = driver.communicate(timeout=timeout)
    finally:
        kill_session(driver)
    return subprocess.CompletedProcess(args, driver.returncode, stdout, stderr)


def kill_session(driver: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(driver.pid, signal.SIGKILL)
    driver.wait(timeout=60)


def environment(tmp_path: Path) -> dict[str, str]:
    # Extractor weights (converted once) are shared; artefacts and feature caches are per run (--cache).
    return {**os.environ, "UNLEARN_BENCH_CACHE": str(tmp_path / "shared-cache"), "RAY_DISABLE_USAGE_STATS": "1"}


# A local Ray that starts and runs one trivial task: without it, the tests below would only time out.
PROBE = (
    "import ray; ray.init(num_cpus=1, include_dashboard=False); "
    "assert ray.get(ray.remote(lambda: 1).remote()) == 1; ray.shutdown()"
)


@pytest.fixture(scope="module", autouse=True)
def local_ray_starts(tmp_path_factory) -> None:
    """Skip the module where a local Ray cluster hangs while starting (a machine-level fault reported against Ray,
    e.g. ray-project/ray#48625, that no test here could pass); a Ray that fails with an error fails the tests."""
    env = environment(tmp_path_factory.mktemp("ray-probe"))
    try:
        probe = run_driver([sys.executable, "-c", PROBE], env, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.skip("a local Ray cluster did not start and run one task within 180 s on this machine")
    assert probe.returncode == 0, probe.stderr[-2000:]


def store(tmp_path: Path, name: str) -> Path:
    return tmp_path / name / "results" / "quickstart"


def rows(tmp_path: Path, name: str) -> dict[str, dict]:
    folder = store(tmp_path, name) / "cells"
    return {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}


def values(row: dict) -> dict[tuple[str, str], float]:
    return {(m["metric"], m["split"]): m["value"] for m in row["metrics"]}


def test_ray_gives_the_in_process_results_and_builds_each_upstream_model_once(tmp_path):
    env = environment(tmp_path)
    local = run_driver(command(tmp_path, "local"), env, timeout=600)
    assert local.returncode == 0, local.stderr
    # Two CPUs per cell: the worker then uses as many torch threads as this 2-core process, so the same floats.
    ray = run_driver(
        command(tmp_path, "ray", "--executor", "ray", "--set", "models.ae.resources.cpus=2"), env, timeout=600
    )
    assert ray.returncode == 0, ray.stdout + ray.stderr
    assert "9 to run on the ray executor" in ray.stdout
    by_local, by_ray = rows(tmp_path, "local"), rows(tmp_path, "ray")
    assert set(by_local) == set(by_ray) and len(by_ray) == CELLS
    for cell, row in by_ray.items():
        assert row["status"] == "ok" and row["executor"]["name"] == "ray"
        assert row["environment"]["device"]["torch_threads"] == by_local[cell]["environment"]["device"]["torch_threads"]
        assert row["cell"]["key"] == by_local[cell]["cell"]["key"]
        assert values(row) == values(by_local[cell]), cell
        a, b = (torch.load(store(tmp_path, name) / "cells" / f"{cell}.samples.pt") for name in ("local", "ray"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # Each shared upstream model was one task: one log each, one stored model each.
    logs = sorted(p.name.split("-")[1] for p in (store(tmp_path, "ray") / "logs").glob("upstream-*"))
    assert logs == ["original", "retrained", "shadow", "twin"]
    for kind in ("original", "retrained", "shadow", "twin"):
        assert len(list((tmp_path / "ray" / "artefacts" / kind).rglob("*.pt"))) == 1
    assert len(list((store(tmp_path, "ray") / "logs").glob("fmnist__*.log"))) == CELLS
    board = (tmp_path / "ray" / "leaderboard" / "quickstart.md").read_text()
    assert board == (tmp_path / "local" / "leaderboard" / "quickstart.md").read_text()


def kill_when_running(task: str, times: int, deadline: float) -> list[int]:
    """SIGKILL the worker process executing the Ray task named ``task`` (its title is ``ray::<task>``), ``times``
    times (each retry runs in a new attempt); the pids killed."""
    killed: list[int] = []
    while len(killed) < times and time.monotonic() < deadline:
        ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, timeout=30).stdout
        for line in ps.splitlines():
            pid, _, args = line.strip().partition(" ")
            if args.strip() == f"ray::{task}" and int(pid) not in killed:
                os.kill(int(pid), signal.SIGKILL)
                killed.append(int(pid))
                break
        time.sleep(0.05)
    return killed


# Realistic-I2I's cell made to last seconds: a kill must land while an attempt runs, not after it finished (an
# attempt of a second or less was often over by the time a `ps` snapshot of it was acted on).
SLOW_REALISTIC = ["--set", "methods.realistic-i2i.params.retain.epochs=150"]


def test_killed_workers_are_retried_then_failed_and_a_rerun_resumes(tmp_path):
    env = environment(tmp_path)
    run = command(tmp_path, "ray", "--executor", "ray", "--executor-param", "max_retries=1", *SLOW_REALISTIC)
    driver = subprocess.Popen(
        run, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 300
        # One kill: the retry finishes the cell. Two kills: both attempts die and the cell is failed.
        assert len(kill_when_running(ASCENT, 1, deadline)) == 1
        assert len(kill_when_running(REALISTIC, 2, deadline)) == 2
        output, _ = driver.communicate(timeout=300)
    finally:
        kill_session(driver)
    assert driver.returncode == 1, output
    found = rows(tmp_path, "ray")
    assert len(found) == CELLS
    assert {cell for cell, row in found.items() if row["status"] != "ok"} == {REALISTIC}
    failed = found[REALISTIC]
    assert failed["error"]["type"] == "WorkerCrashedError"
    assert "its worker died 2 times" in failed["error"]["message"]
    log = store(tmp_path, "ray") / "logs" / f"{REALISTIC}.log"
    assert "died" in log.read_text()
    assert found[ASCENT]["status"] == "ok"

    finished = {p: p.stat().st_mtime_ns for p in (store(tmp_path, "ray") / "cells").glob("*.json")}
    again = run_driver(run + ["--retry-failed"], env, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "8 up to date, 1 to run" in again.stdout
    assert {cell: row["status"] for cell, row in rows(tmp_path, "ray").items()} == dict.fromkeys(found, "ok")
    changed = [p.stem for p, mtime in finished.items() if p.stat().st_mtime_ns != mtime]
    assert changed == [REALISTIC]
