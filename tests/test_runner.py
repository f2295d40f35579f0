"""The runner on the tiny suite: caching, resume, failures, determinism and what methods read."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from unlearn_bench.artefacts import ArtefactStore
from unlearn_bench.cli import main
from unlearn_bench.results import ResultStore
from unlearn_bench.runner import Runner, failure_summary
from unlearn_bench.suite import load_suite


def make_runner(suite_path: Path, root: Path, overrides=()) -> Runner:
    suite = load_suite(suite_path, list(overrides))
    return Runner(
        suite,
        ResultStore(root / "results"),
        ArtefactStore(root / "artefacts"),
        torch.device("cpu"),
        show_progress=False,
    )


def test_runs_every_cell_then_nothing(tiny, tmp_path):
    path = tiny.write_suite(tmp_path)
    runner = make_runner(path, tmp_path)
    summary = runner.run()
    assert (summary.planned, summary.finished, summary.failed) == (6, 6, [])
    rows = runner.results.rows("tiny")
    assert {r["status"] for r in rows} == {"ok"}
    # 3 metrics × 2 evaluation splits per cell, every one a finite number.
    assert all(
        len(r["metrics"]) == 6 and all(torch.isfinite(torch.tensor(m["value"])) for m in r["metrics"]) for r in rows
    )
    again = make_runner(path, tmp_path)
    assert again.pending() == []
    assert again.run().finished == 0


def test_shared_artefacts_are_built_once(tiny, tmp_path, monkeypatch):
    built = []
    original = Runner.model

    def counting(self, cell, kind):
        key = cell.keys[kind]
        if key not in self._models and not self.artefacts.exists(kind, key):
            built.append(kind)
        return original(self, cell, kind)

    monkeypatch.setattr(Runner, "model", counting)
    make_runner(tiny.write_suite(tmp_path), tmp_path).run()
    # Two seeds: one original and one retrained model each, shared by the three methods.
    assert sorted(built) == sorted(["original"] * 2 + ["retrained"] * 2 + ["unlearned"] * 6)


def test_changing_one_method_reruns_only_that_method(tiny, tmp_path):
    path = tiny.write_suite(tmp_path)
    make_runner(path, tmp_path).run()
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "artefacts").rglob("*.pt")}
    runner = make_runner(path, tmp_path, ["methods.realistic-i2i.params.ascent.iterations=4"])
    assert {c.method.id for c in runner.pending()} == {"realistic-i2i"}
    assert runner.run().finished == 2
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "artefacts").rglob("*.pt")}
    assert all(after[name] == mtime for name, mtime in before.items()), "upstream artefacts were rewritten"
    assert len(after) == len(before) + 2  # two new unlearned models


def test_a_failing_cell_is_recorded_and_the_suite_goes_on(tiny, tmp_path, capsys):
    path = tiny.write_suite(
        tmp_path, text=tiny.SUITE.replace("  - {name: retrain}\n", "  - {name: retrain}\n  - {name: explode}\n")
    )
    runner = make_runner(path, tmp_path)
    summary = runner.run()
    assert sorted(summary.failed) == ["tiny__hole__ae__explode__seed0", "tiny__hole__ae__explode__seed1"]
    assert summary.finished == 6
    row = runner.results.read("tiny", "tiny__hole__ae__explode__seed0")
    assert row["status"] == "failed" and row["error"] == {**row["error"], "type": "RuntimeError", "message": "boom"}
    summary_line = failure_summary(row["error"])  # what the run prints: type, message and where it was raised
    assert (
        summary_line.startswith("RuntimeError: boom (at ")
        and "tiny.py:" in summary_line
        and "in unlearn" in summary_line
    )
    assert row["method"]["trace"] == {"steps": [{"step": 0, "loss": 1.5}]} and row["method"]["summary"] == {
        "tried": True
    }
    # `results --failed -v` shows the whole traceback.
    assert main(["results", "--results", str(tmp_path / "results"), "--failed", "-v"]) == 0
    shown = capsys.readouterr().out
    assert "--- tiny__hole__ae__explode__seed0: RuntimeError: boom" in shown and 'raise RuntimeError("boom")' in shown
    # Failed cells are not retried unless asked, but a rerun still counts them as failed.
    assert make_runner(path, tmp_path).pending() == []
    again = make_runner(path, tmp_path).run()
    assert again.finished == 0 and again.failed == []
    assert sorted(again.stored_failures) == ["tiny__hole__ae__explode__seed0", "tiny__hole__ae__explode__seed1"]
    assert len(make_runner(path, tmp_path).pending(retry_failed=True)) == 2
    # A failure made by other code (the plugin was fixed since) is retried without being asked, and only it.
    fresh = make_runner(path, tmp_path)
    assert row["error"]["code"] == fresh.code_of(next(c for c in fresh.cells if c.id == row["cell"]["id"]))
    runner.results.write("tiny", {**row, "error": {**row["error"], "code": "older code"}})
    assert [c.id for c in make_runner(path, tmp_path).pending()] == ["tiny__hole__ae__explode__seed0"]


def test_diverging_ascent_fails_its_cell_with_the_reason(tiny, tmp_path):
    path = tiny.write_suite(tmp_path)
    runner = make_runner(path, tmp_path, ["methods.realistic-i2i.params.ascent.loss_bound=1e-6"])
    summary = runner.run()
    assert len(summary.failed) == 2 and all("realistic-i2i" in cell for cell in summary.failed)
    row = runner.results.read("tiny", summary.failed[0])
    assert row["error"]["type"] == "Divergence" and "exceeded the bound" in row["error"]["message"]


def test_same_seed_same_weights(tiny, tmp_path):
    path = tiny.write_suite(tmp_path)
    stores = []
    for name in ("a", "b"):
        runner = make_runner(path, tmp_path / name, ["seeds=[0]"])
        runner.run()
        stores.append(runner)
    cell = next(c for c in stores[0].cells if c.method.id == "realistic-i2i")
    first, _ = stores[0].artefacts.load("unlearned", cell.keys["unlearned"])
    second, _ = stores[1].artefacts.load("unlearned", cell.keys["unlearned"])
    assert all(torch.equal(first[k], second[k]) for k in first)
    start, _ = stores[0].artefacts.load("original", cell.keys["original"])
    assert not all(torch.equal(first[k], start[k]) for k in first), "unlearning changed nothing"


def test_what_each_method_reads(tiny, tmp_path):
    runner = make_runner(tiny.write_suite(tmp_path), tmp_path, ["seeds=[0]"])
    runner.run()
    rows = {r["cell"]["axes"]["method"]: r for r in runner.results.rows("tiny")}
    assert rows["retrain"]["method"]["reads"] == {}
    assert rows["none"]["method"]["reads"] == {}
    reads = rows["realistic-i2i"]["method"]["reads"]
    assert reads["forget"] > 0 and reads["retain"] > 0 and "train" not in reads
    cell = next(c for c in runner.cells if c.method.id == "retrain")
    _, meta = runner.artefacts.load("retrained", cell.keys["retrained"])
    assert set(meta["reads"]) == {"retain"}, "the retrained model must never read a forget sample"
    _, meta = runner.artefacts.load("original", cell.keys["original"])
    assert set(meta["reads"]) == {"train"}


def test_realistic_i2i_records_the_quantities_of_its_theorems(tiny, tmp_path):
    runner = make_runner(tiny.write_suite(tmp_path), tmp_path, ["seeds=[0]"])
    runner.run()
    row = runner.results.read("tiny", "tiny__hole__ae__realistic-i2i__seed0")
    summary, trace = row["method"]["summary"], row["method"]["trace"]
    assert summary["ascent_iterations"] == 3 and summary["ascent_lr"] == 0.01
    assert 0 < summary["grad_norm_min"] <= summary["grad_norm_max"]
    assert [p["iteration"] for p in trace["ascent"]] == [1, 2, 3]
    assert trace["ascent"][-1]["distance"] == summary["final_distance"] > 0
    assert len(trace["retain"]) == 1  # one fine-tuning epoch


def test_ood_threshold_stops_the_ascent(tiny, tmp_path):
    runner = make_runner(
        tiny.write_suite(tmp_path),
        tmp_path,
        [
            "seeds=[0]",
            "methods.realistic-i2i.params.ascent.iterations=50",
            "methods.realistic-i2i.params.ascent.ood_threshold=1e-9",
        ],
    )
    runner.run()
    summary = runner.results.read("tiny", "tiny__hole__ae__realistic-i2i__seed0")["method"]["summary"]
    assert summary["ascent_iterations"] == 1 and summary["ood_reached"] is True


def test_original_model_from_a_checkpoint(tiny, tmp_path):
    from tiny import TinyShapes  # noqa: F401  (registered by the fixture)
    from unlearn_bench.datasets import ImageShape
    from unlearn_bench_plugins.conv_autoencoder import ConvAutoEncoder, Params

    torch.manual_seed(5)
    model = ConvAutoEncoder(Params(width=4), ImageShape(1, 8, 8))
    checkpoint = tmp_path / "ae.pt"
    torch.save(model.state_dict(), checkpoint)
    path = tiny.write_suite(
        tmp_path,
        text=tiny.SUITE.replace(
            "    params: {width: 4}\n", f"    params: {{width: 4}}\n    checkpoint: {checkpoint}\n"
        ),
    )
    runner = make_runner(path, tmp_path, ["seeds=[0]"])
    runner.run()
    cell = runner.cells[0]
    state, meta = runner.artefacts.load("original", cell.keys["original"])
    assert meta == {"source": "checkpoint"}
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    # A different checkpoint file is a different original model.
    torch.save({k: v + 1 for k, v in model.state_dict().items()}, checkpoint)
    assert make_runner(path, tmp_path, ["seeds=[0]"]).cells[0].keys["original"] != cell.keys["original"]


KILL_SCRIPT = """
import sys, time
sys.path.insert(0, {tests!r})
import tiny
from unlearn_bench.methods import Method
import unlearn_bench

class Slow(Method):
    name = "slow"
    def unlearn(self, model, ctx):
        time.sleep(30)
        return model

class SlowPlugin:
    @unlearn_bench.hookimpl
    def register_methods(self, register):
        register(Slow)

tiny.register_tiny()
from unlearn_bench.plugins import get_plugins
get_plugins().register(SlowPlugin(), "slow")
from unlearn_bench.cli import main
sys.exit(main(["run", {suite!r}, "--results", {results!r}, "--cache", {cache!r}, "--quiet", "--no-leaderboard",
               "--set", "seeds=[0]"]))
"""


def test_killed_run_resumes_without_losing_finished_cells(tiny, tmp_path):
    text = tiny.SUITE.replace("  - {name: retrain}\n", "  - {name: retrain}\n  - {name: slow}\n")
    path = tiny.write_suite(tmp_path, text=text)
    results, cache = tmp_path / "results", tmp_path / "artefacts"
    script = KILL_SCRIPT.format(
        tests=str(Path(__file__).parent), suite=str(path), results=str(results), cache=str(cache)
    )
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONUNBUFFERED": "1"})
    cells = results / "tiny" / "cells"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(cells.glob("*.json"))) < 2:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.name: p.read_bytes() for p in cells.glob("*.json")}
    assert set(finished) == {"tiny__hole__ae__none__seed0.json", "tiny__hole__ae__retrain__seed0.json"}
    assert not list(results.rglob("*.tmp")), "a killed run left a half-written file"

    # Resume without the slow method: the finished cells are kept as they are, the rest run.
    runner = make_runner(tiny.write_suite(tmp_path), tmp_path, ["seeds=[0]"])
    assert [c.method.id for c in runner.pending()] == ["realistic-i2i"]
    runner.run()
    assert all((cells / name).read_bytes() == data for name, data in finished.items())
