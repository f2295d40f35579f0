"""The executor interface without a cluster: declared upstream models, the CLI's executor options, resources."""

from __future__ import annotations

import dataclasses
import json

import pytest
import unlearn_bench
from test_runner import make_runner
from unlearn_bench.cli import main
from unlearn_bench.errors import UserError
from unlearn_bench.executors import Executor
from unlearn_bench.methods import Method
from unlearn_bench.plugins import get_plugins


class ReadsShadow(Method):
    """Reads the shadow model without declaring it."""

    name = "reads-shadow"

    def unlearn(self, model, ctx):
        ctx.upstream("shadow")
        return model


class DeclaresShadow(ReadsShadow):
    name = "declares-shadow"

    def upstream(self):
        return frozenset({"shadow"})


class Reversed(Executor):
    """Runs cells in reverse order: outcomes may arrive in any order."""

    name = "reversed"

    sessions: list = []

    def run(self, session, cells, status):
        self.sessions.append(session)
        session.log("reversed-order", "\n".join(cell.id for cell in reversed(cells)))
        for cell in reversed(cells):
            yield session.run_cell(cell)


class Plugin:
    @unlearn_bench.hookimpl
    def register_methods(self, register):
        register(ReadsShadow)
        register(DeclaresShadow)

    @unlearn_bench.hookimpl
    def register_executors(self, register):
        register(Reversed)


@pytest.fixture
def plugin(tiny):
    """The tiny test plugins plus this module's."""
    get_plugins().register(Plugin(), "executor-test")
    return tiny


METHODS = """\
methods:
  - {name: no-unlearning, id: none}
  - {name: retrain}
  - {name: reads-shadow}
  - {name: declares-shadow}
"""


def suite(tiny, tmp_path, extra: str = ""):
    text = tiny.SUITE.replace("seeds: [0, 1]", "seeds: [0]")
    start, end = text.index("methods:"), text.index("metrics:")
    return tiny.write_suite(tmp_path, extra, text[:start] + METHODS + text[end:])


def test_cells_need_what_their_metrics_method_and_audits_read(plugin, tmp_path):
    runner = make_runner(suite(plugin, tmp_path), tmp_path)
    needs = {cell.method.id: cell.needs for cell in runner.cells}
    # psnr-retrained compares with the retrained model; output grids show the original.
    assert needs["none"] == ("original", "retrained")
    assert needs["declares-shadow"] == ("original", "retrained", "shadow")
    assert needs["reads-shadow"] == ("original", "retrained")


def test_reading_an_undeclared_upstream_model_fails_the_cell(plugin, tmp_path):
    runner = make_runner(suite(plugin, tmp_path), tmp_path)
    summary = runner.run()
    rows = {r["cell"]["axes"]["method"]: r for r in runner.results.rows("tiny")}
    assert summary.failed == [c.id for c in runner.cells if c.method.id == "reads-shadow"]
    assert "upstream 'shadow' model was read without being declared" in rows["reads-shadow"]["error"]["message"]
    assert rows["declares-shadow"]["status"] == "ok"


def test_an_executor_plugin_may_finish_cells_in_any_order(plugin, tmp_path):
    runner = make_runner(suite(plugin, tmp_path), tmp_path)
    runner.executor = Reversed()
    runner.run()
    again = make_runner(suite(plugin, tmp_path), tmp_path)
    assert again.pending() == [] and len(again.results.rows("tiny")) == 4
    # The executor got a Session, not the runner: nothing in it writes the result store, except through the driver.
    [session] = runner.executor.sessions
    assert type(session).__name__ == "Session" and not hasattr(session, "results")
    assert {f.name for f in dataclasses.fields(session)} == {"suite", "artefacts", "run_cell", "failed_outcome", "log"}
    assert runner.results.log_path("tiny", "reversed-order").read_text().splitlines()[-1] == runner.cells[0].id
    assert [c.method.id for c in again.pending(retry_failed=True)] == ["reads-shadow"]


def run_cli(plugin, tmp_path, *args) -> int:
    path = suite(plugin, tmp_path)
    return main(["run", str(path), "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "a"), *args])


def test_executor_options_are_checked_before_anything_runs(plugin, tmp_path, capsys):
    assert run_cli(plugin, tmp_path, "--executor", "slurm") == 2
    assert "unknown executor 'slurm'" in capsys.readouterr().err
    assert run_cli(plugin, tmp_path, "--executor", "ray", "--executor-param", "max_retries=-1") == 2
    err = capsys.readouterr().err
    assert "--executor-param" in err and "max_retries" in err and "expected a count >= 0" in err
    assert run_cli(plugin, tmp_path, "--executor", "ray", "--executor-param", "worker_niceness=25") == 2
    assert "worker_niceness" in (err := capsys.readouterr().err) and "from 0 to 19" in err
    assert run_cli(plugin, tmp_path, "--executor", "ray", "--executor-param", "retries") == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err
    assert run_cli(plugin, tmp_path, "--executor", "ray", "--device", "cpu") == 2
    assert "leave --device out" in capsys.readouterr().err
    assert run_cli(plugin, tmp_path, "--executor", "reversed", "--address", "auto") == 2
    assert "address" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_rows_record_the_executor(plugin, tmp_path):
    assert run_cli(plugin, tmp_path, "--quiet", "--no-leaderboard") == 1  # reads-shadow fails
    rows = [json.loads(p.read_text()) for p in (tmp_path / "r" / "tiny" / "cells").glob("*.json")]
    assert {r["executor"]["name"] for r in rows} == {"local"}


def test_resources_are_validated_and_stay_out_of_cell_keys(plugin, tmp_path):
    from unlearn_bench.errors import ConfigError
    from unlearn_bench.suite import load_suite

    path = suite(plugin, tmp_path)
    plain = make_runner(path, tmp_path)
    on_gpus = make_runner(path, tmp_path, ["models.ae.resources={cpus: 4, gpus: 1, memory_gb: 16}"])
    assert [c.key for c in plain.cells] == [c.key for c in on_gpus.cells]
    assert on_gpus.cells[0].model.entry.resources.describe() == "4 CPU, 1 GPU, 16 GiB"
    with pytest.raises(ConfigError, match=r"models\[0\]\.resources"):
        load_suite(path, ["models.ae.resources.gpus=-1"])


def test_a_ray_cluster_without_the_requested_resources_is_refused(plugin, tmp_path):
    from unlearn_bench_plugins.ray_executor import _check_feasible

    class FakeRay:
        @staticmethod
        def nodes():
            return [{"Alive": True, "Resources": {"CPU": 2.0, "memory": 8 * 1024**3}}]

    path = suite(plugin, tmp_path)
    _check_feasible(FakeRay, make_runner(path, tmp_path, ["models.ae.resources.cpus=2"]).suite)
    with pytest.raises(UserError, match=r"models\[0\]\.resources: model 'ae' asks for 1 CPU, 1 GPU"):
        _check_feasible(FakeRay, make_runner(path, tmp_path, ["models.ae.resources.gpus=1"]).suite)


def test_failed_outcome_rows_have_the_shape_of_run_rows(plugin, tmp_path):
    runner = make_runner(suite(plugin, tmp_path), tmp_path)
    cell = runner.cells[0]
    failed = runner.failed_outcome(cell, "WorkerCrashedError", "its worker died 3 times").row
    ran = runner.run_cell(cell).row
    assert set(failed) <= set(ran) | {"environment"}
    assert failed["status"] == "failed" and failed["cell"] == ran["cell"]
