"""A suite's cost before it runs (`benchmark/cost.py`, printed by `validate`): priced from stored rows' wall times,
nothing for cells already up to date, and the upstream models missing from the cache counted by kind."""

from __future__ import annotations

import json

import pytest
from test_runner import make_runner
from unlearn_bench.artefacts import ArtefactStore
from unlearn_bench.cost import Rates, estimate, stored_rates


def stored_key(runner):
    def key(cell):
        row = runner.results.read(runner.suite.name, cell.id)
        return row["cell"]["key"] if row and row["status"] == "ok" else None

    return key


def test_an_estimate_prices_cells_from_stored_rows_and_counts_missing_models(tiny, tmp_path):
    runner = make_runner(tiny.write_suite(tmp_path), tmp_path, ["seeds=[0]"])
    runner.run()
    rows = runner.results.rows("tiny")
    rates = stored_rates([tmp_path / "results"], "cpu")
    assert rates.rows == len(rows) == 3 and stored_rates([tmp_path / "results"], "cuda").rows == 0

    done = estimate(runner.cells, stored_key(runner), runner.artefacts, rates)
    assert (done.cells, done.up_to_date, done.seconds, sum(done.upstream.values())) == (3, 3, 0.0, 0)
    assert done.describe().endswith("nothing to run")

    # Another seed: the same plugins, so every cell is priced at the stored median of its method; its upstream
    # models (original and retrained) are not in the cache.
    other = make_runner(tiny.write_suite(tmp_path), tmp_path, ["seeds=[1]"])
    todo = estimate(other.cells, stored_key(other), other.artefacts, rates)
    wall = {r["cell"]["axes"]["method"]: r["wall_time_s"] for r in rows}
    assert todo.up_to_date == 0 and todo.unpriced == 0
    assert todo.seconds == pytest.approx(sum(wall.values()))
    assert dict(todo.upstream) == {"original": 1, "retrained": 1}
    assert "plus training 2 upstream models not in the cache (1 original, 1 retrained)" in todo.describe()
    assert todo.from_suite == 0 and "no earlier row of this suite" in todo.describe()
    own = estimate(other.cells, stored_key(other), other.artefacts, rates, "tiny")
    assert own.seconds == todo.seconds and own.from_suite == 3
    assert "this suite's earlier rows for 3 of them" in own.describe()

    # A damaged row is skipped, not fatal; without the cache, the first seed's models must be trained again.
    (tmp_path / "results" / "tiny" / "cells" / "broken.json").write_text("{not json")
    (tmp_path / "results" / "tiny" / "cells" / "list.json").write_text("[1, 2]")
    rates = stored_rates([tmp_path / "results"], "cpu")
    empty = estimate(runner.cells, lambda cell: None, ArtefactStore(tmp_path / "empty"), rates)
    assert rates.rows == 3 and dict(empty.upstream) == {"original": 1, "retrained": 1}


def test_cells_of_a_model_never_run_are_reported_unpriced(tiny, tmp_path):
    runner = make_runner(tiny.write_suite(tmp_path), tmp_path, ["seeds=[0]"])
    rates = stored_rates([tmp_path / "nothing"], "cpu")
    result = estimate(runner.cells, lambda cell: None, runner.artefacts, rates)
    assert (result.unpriced, result.seconds) == (3, 0.0)
    assert "3 cells have no stored rate" in result.describe()


def test_validate_prints_the_cost_and_writes_nothing(tiny, tmp_path, capsys, monkeypatch):
    from unlearn_bench.cli import main

    monkeypatch.setenv("UNLEARN_BENCH_CACHE", str(tmp_path / "cache"))
    path = tiny.write_suite(tmp_path)
    assert main(["validate", str(path), "--results", str(tmp_path / "res")]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("cost: "))
    assert line.startswith("cost: 6 cells, 0 up to date")
    assert not (tmp_path / "cache").exists() and not (tmp_path / "res").exists()
    json.dumps(line)  # one printable line


def test_a_suites_own_earlier_rows_price_its_cells_before_other_suites_rows():
    """Other suites may run the same plugins with far more images or epochs: their times are the fallback."""
    sig, other_method = ("fmnist", "ae", "retrain"), ("fmnist", "ae", "i2i-sota")
    rates = Rates({sig: [100.0, 120.0], ("fmnist", "mae", "retrain"): [50.0]}, {"cpu"}, {"mine": {sig: [10.0]}})
    assert rates.cell_seconds(sig, "mine") == (10.0, True)
    assert rates.cell_seconds(other_method, "mine") == (10.0, True)  # the same dataset and model in this suite
    assert rates.cell_seconds(sig, "theirs") == (110.0, False) and rates.cell_seconds(sig) == (110.0, False)
    assert rates.cell_seconds(("fmnist", "mae", "i2i-sota"), "mine") == (50.0, False)
    assert rates.cell_seconds(("cifar10", "ae", "retrain"), "mine") is None
