"""Concurrent and interrupted runs: two runs of one suite into one store compute every cell and every upstream model
once between them; a run killed at any point (kill -9) resumes to the same numbers, bit for bit, as a run that was
never interrupted, and its dead locks block nobody."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time

import pytest
from test_runner import make_runner
from unlearn_bench.runner import Runner

pytestmark = pytest.mark.slow


def values(runner: Runner) -> dict:
    return {
        (r["cell"]["id"], m["metric"], m["split"]): m["value"]
        for r in runner.results.rows("tiny")
        for m in r["metrics"]
    }


def _run_logged(path, root, log, barrier) -> None:
    """A child process: run the suite, appending one line per model it builds to ``log``."""
    build = Runner._build

    def logged(self, cell, kind, key):
        with open(log, "a") as f:
            f.write(f"{kind} {key}\n")
        return build(self, cell, kind, key)

    Runner._build = logged
    barrier.wait(timeout=60)
    summary = make_runner(path, root).run()
    os._exit(0 if not summary.failed else 1)


def test_two_concurrent_runs_compute_each_cell_and_each_model_once(tiny, tmp_path):
    path = tiny.write_suite(tmp_path)
    log = tmp_path / "built.log"
    context = multiprocessing.get_context("fork")  # the children inherit the registered test plugins
    barrier = context.Barrier(2)
    children = [context.Process(target=_run_logged, args=(path, tmp_path, log, barrier)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=600)
    assert [child.exitcode for child in children] == [0, 0]
    built = log.read_text().splitlines()
    runner = make_runner(path, tmp_path)
    assert len(built) == len(set(built))  # nothing built twice
    assert sum(line.startswith("unlearned ") for line in built) == len(runner.cells)  # every cell once
    assert runner.pending() == [] and {r["status"] for r in runner.results.rows("tiny")} == {"ok"}


def _run_quietly(path, root) -> None:
    make_runner(path, root).run()
    os._exit(0)


def test_runs_killed_at_random_points_resume_to_the_numbers_of_an_uninterrupted_run(tiny, tmp_path):
    path = tiny.write_suite(tmp_path)
    reference = make_runner(path, tmp_path / "whole")
    started = time.monotonic()
    reference.run()
    whole = time.monotonic() - started  # kill points are drawn within the time a whole run takes
    expected = values(reference)
    context = multiprocessing.get_context("fork")
    draw = random.Random(7)
    kills = 0
    for _ in range(4):
        child = context.Process(target=_run_quietly, args=(path, tmp_path / "killed"))
        child.start()
        child.join(timeout=draw.uniform(0.05, 0.6) * whole)
        if child.is_alive():
            os.kill(child.pid, signal.SIGKILL)
            child.join(timeout=60)
            assert not child.is_alive(), "a killed run did not die within 60 s"
            kills += 1
    assert kills >= 1  # at least one run really was killed mid-way
    resumed = make_runner(path, tmp_path / "killed")
    started = time.monotonic()
    resumed.run()  # the killed runs' locks died with them: nothing waits
    assert time.monotonic() - started < 300
    assert resumed.pending() == []
    assert values(resumed) == expected  # bit for bit
