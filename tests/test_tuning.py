"""Fair tuning: sweeps expand into settings with equal budgets, the rule reads validation images only, and the
leaderboard shows the default and the chosen settings side by side."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from test_audits import BACKDOOR
from test_runner import make_runner
from unlearn_bench.cli import main
from unlearn_bench.errors import ConfigError
from unlearn_bench.leaderboard import render, write_leaderboards
from unlearn_bench.plan import expand
from unlearn_bench.splits import SplitConfig, make_split
from unlearn_bench.suite import load_suite
from unlearn_bench.tuning import Bound, Goal, SelectionRule, select, validation_split

SWEEP = """\
    sweep:
      grid: {ascent.optimizer.lr: [0.003, 0.03], retain.epochs: [1, 2]}
"""
TUNING = """
tuning:
  budget: 4
  validation_per_class: 6
  controls: [none, retrain]
  select:
    goals: [{measure: psnr, split: forget, goal: min}, {measure: psnr, split: retain, goal: max}]
    constraints: [{measure: psnr, split: retain, at_least: -3, relative_to: none}]
"""


def tuned_text(tiny, sweep: str = SWEEP) -> str:
    text = tiny.SUITE.replace("split: {forget_classes: [0]}", "split: {forget_classes: [0], train_per_class: 16}")
    return text.replace(
        "      retain: {epochs: 1, batch_size: 16}\n", "      retain: {epochs: 1, batch_size: 16}\n" + sweep
    )


def write(tiny, tmp_path, sweep: str = SWEEP, tuning: str = TUNING, extra: str = ""):
    return tiny.write_suite(tmp_path, tuning + extra, text=tuned_text(tiny, sweep))


# ------------------------------------------------------------------------------------------------ expansion


def test_a_grid_expands_into_the_default_and_every_grid_point(tiny, tmp_path):
    suite = load_suite(write(tiny, tmp_path))
    ids = [m.id for m in suite.methods]
    assert ids == ["none", "retrain", "realistic-i2i", *(f"realistic-i2i.t{n}" for n in range(1, 5))]
    trials = {m.id: m.trial for m in suite.methods}
    assert trials["realistic-i2i"] == {} and trials["realistic-i2i.t4"] == {
        "ascent.optimizer.lr": 0.03,
        "retain.epochs": 2,
    }
    t4 = next(m for m in suite.methods if m.id == "realistic-i2i.t4")
    assert (t4.params.ascent.optimizer.lr, t4.params.retain.epochs) == (0.03, 2)
    assert t4.params.ascent.iterations == 3  # the rest of the entry's params is kept
    assert t4.label == "Realistic-I2I [lr=0.03, epochs=2]"
    cells = expand(suite)
    assert len({c.id for c in cells}) == len({c.key for c in cells}) == len(cells) == 2 * 7
    assert len({c.keys["unlearned"] for c in cells}) == len(cells)  # every setting unlearns anew


def test_the_default_setting_reuses_the_untuned_suites_models(tiny, tmp_path):
    """Sweeping changes neither the upstream models nor the default setting's unlearned model: a tuning suite built on a
    committed one reuses its cache."""
    tuned = {c.id: c for c in expand(load_suite(write(tiny, tmp_path)))}
    (tmp_path / "plain").mkdir()
    plain_text = tiny.SUITE.replace("split: {forget_classes: [0]}", "split: {forget_classes: [0], train_per_class: 16}")
    plain = expand(load_suite(tiny.write_suite(tmp_path / "plain", text=plain_text)))
    for cell in plain:
        assert tuned[cell.id].keys == cell.keys
        assert tuned[cell.id].key != cell.key  # the row differs: it also holds the validation numbers


def test_random_search_is_seeded_per_method_and_draws_the_budget(tiny, tmp_path):
    sweep = """\
    sweep:
      random: {ascent.optimizer.lr: {log_uniform: [0.001, 0.1]}, retain.epochs: [1, 2, 3], ascent.ood_threshold: {uniform: [0.1, 0.5]}}
"""  # noqa: E501
    tuning = TUNING.replace("budget: 4", "budget: 5")
    draws = [m.trial for m in load_suite(write(tiny, tmp_path, sweep, tuning)).methods if m.trial]
    assert len(draws) == 5 and len({json.dumps(d, sort_keys=True) for d in draws}) == 5
    assert all(0.001 <= d["ascent.optimizer.lr"] <= 0.1 and d["retain.epochs"] in (1, 2, 3) for d in draws)
    again = [m.trial for m in load_suite(write(tiny, tmp_path, sweep, tuning)).methods if m.trial]
    assert again == draws
    # Another swept method added before it leaves its draws alone; another tuning seed changes them.
    other = "  - name: gradient-ascent\n    params: {ascent: {iterations: 2, batch_size: 8}}\n" + sweep.replace(
        "retain.epochs: [1, 2, 3], ", ""
    )
    text = tuned_text(tiny, sweep).replace("  - name: realistic-i2i\n", other + "  - name: realistic-i2i\n")
    path = tiny.write_suite(tmp_path, tuning, text=text)
    assert [m.trial for m in load_suite(path).methods if m.base == "realistic-i2i" and m.trial] == draws
    reseeded = load_suite(write(tiny, tmp_path, sweep, tuning + "  seed: 1\n")).methods
    assert [m.trial for m in reseeded if m.trial] != draws


# ------------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("sweep", "tuning", "key", "fragment"),
    [
        (SWEEP.replace("retain.epochs", "retain.epoch"), TUNING, "methods[2].sweep.grid.retain.epoch",
         "did you mean 'retain.epochs'"),
        (SWEEP.replace("[1, 2]", "[]"), TUNING, "methods[2].sweep.grid.retain.epochs", "non-empty list"),
        (SWEEP, TUNING.replace("budget: 4", "budget: 0"), "tuning.budget", "at least 1"),
        (SWEEP, TUNING.replace("budget: 4", "budget: 3"), "methods[2].sweep", "the same budget"),
        (SWEEP, TUNING.replace("measure: psnr, split: forget", "measure: pnsr, split: forget"),
         "tuning.select.goals[0].measure", "did you mean 'psnr'"),
        (SWEEP.replace("[0.003, 0.03]", "[0.003, 0.01]"), TUNING, "methods[2].sweep",
         "repeats the default setting"),
        (SWEEP.replace("[1, 2]", "[1, -2]"), TUNING, "methods[2].sweep.grid.retain.epochs", "not a valid setting"),
        (SWEEP, TUNING.replace("controls: [none, retrain]", "controls: [none]"), "methods[1]",
         "neither swept nor a control"),
        (SWEEP, TUNING.replace("relative_to: none", "relative_to: realistic-i2i"),
         "tuning.select.constraints[0].relative_to", "one of the controls"),
        (SWEEP, "", "methods[2].sweep", "needs the suite's 'tuning' section"),
    ],
)  # fmt: skip
def test_bad_sweeps_and_rules_name_file_and_key(tiny, tmp_path, capsys, sweep, tuning, key, fragment):
    path = write(tiny, tmp_path, sweep, tuning)
    with pytest.raises(ConfigError) as error:
        load_suite(path)
    assert error.value.key == key and fragment in error.value.message, str(error.value)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and key in err and fragment in err


def test_unequal_budgets_need_saying_so(tiny, tmp_path):
    other = "  - name: gradient-ascent\n    params: {ascent: {iterations: 2, batch_size: 8}}\n"
    other += "    sweep:\n      grid: {ascent.optimizer.lr: [0.003, 0.03, 0.1]}\n"
    text = tuned_text(tiny).replace("  - name: realistic-i2i\n", other + "  - name: realistic-i2i\n")
    with pytest.raises(ConfigError, match="has 3 trial settings, but tuning.budget is 4"):
        load_suite(tiny.write_suite(tmp_path, TUNING, text=text))
    suite = load_suite(tiny.write_suite(tmp_path, TUNING + "  unequal_budget: true\n", text=text))
    assert sum(m.base == "gradient-ascent" for m in suite.methods) == 4


def test_tuning_needs_held_out_images_of_a_class_level_split(tiny, tmp_path):
    text = tuned_text(tiny).replace(", train_per_class: 16", "")
    with pytest.raises(ConfigError, match="set train_per_class below") as error:
        load_suite(tiny.write_suite(tmp_path, TUNING, text=text))
    assert error.value.key == "datasets[0].split.train_per_class"


# ------------------------------------------------------------------------------------------ validation images


def test_validation_images_are_held_out_training_images_of_each_class(tiny):
    data = tiny.TinyShapes(tiny.TinyParams()).load()
    config = SplitConfig(forget_classes=[0], train_per_class=16)
    split = make_split(config, data, seed=3)
    held = validation_split(split, data.train_targets, {"forget": [0], "retain": [1, 2, 3]}, 6, seed=3)
    trained = set(split.train["train"])
    for part, classes in (("forget", {0}), ("retain", {1, 2, 3})):
        source, indices = held.evaluate[part]
        assert source == "train" and len(indices) == 6 * len(classes)
        assert not set(indices) & trained
        assert {data.train_targets[i] for i in indices} == classes
    assert held.train == split.train and make_split(config, data, seed=3) == split  # the split is unchanged
    assert validation_split(split, data.train_targets, {"forget": [0], "retain": [1]}, 6, seed=4) != held
    with pytest.raises(ValueError, match="fewer than tuning.validation_per_class = 9"):
        validation_split(split, data.train_targets, {"forget": [0], "retain": [1]}, 9, seed=3)


# -------------------------------------------------------------------------------------------------- selection


def test_selection_applies_goals_in_order_within_the_constraints():
    rule = SelectionRule(
        goals=[Goal("rate", "min"), Goal("psnr", "max", split="retain")],
        constraints=[Bound("psnr", at_least=-0.5, relative_to="start")],
    )
    rate, psnr = ("rate", "forget"), ("psnr", "retain")
    means = {
        "start": {rate: 0.9, psnr: 20.0},
        "m": {rate: 0.5, psnr: 20.0},
        "m.t1": {rate: 0.0, psnr: 18.0},  # best rate, but below the bound (19.5)
        "m.t2": {rate: 0.1, psnr: 19.6},
        "m.t3": {rate: 0.1, psnr: 19.9},  # ties t2 on the rate, better on the tie-break
        "m.t4": None,  # a seed failed
    }
    chosen = select(rule, {"m": ["m", "m.t1", "m.t2", "m.t3", "m.t4"]}, means)["m"]
    assert (chosen["chosen"], chosen["feasible"], chosen["candidates"]) == ("m.t3", True, 4)
    # Nothing feasible: the nearest to the bound is chosen, and flagged.
    means["start"], means["m"] = {rate: 0.9, psnr: 30.0}, {rate: 0.5, psnr: 15.0}
    nearest = select(rule, {"m": ["m", "m.t1", "m.t2", "m.t3"]}, means)["m"]
    assert (nearest["chosen"], nearest["feasible"]) == ("m.t3", False)


def test_the_rule_reads_validation_images_only_and_the_leaderboard_shows_both_settings(tiny, tmp_path):
    runner = make_runner(write(tiny, tmp_path), tmp_path, ["seeds=[0]"])
    summary = runner.run()
    assert summary.failed == [] and summary.finished == 7
    rows = runner.results.rows("tiny")
    for row in rows:
        validation = row["validation"]
        assert {(m["metric"], m["split"]) for m in validation["metrics"]} == {("psnr", "forget"), ("psnr", "retain")}
        assert (validation["split"]["eval/forget"]["source"], validation["split"]["eval/forget"]["size"]) == (
            "train",
            6,
        )
        assert validation["split"]["eval/retain"]["size"] == 18
    manifest = runner.results.manifest("tiny")
    text = render(manifest, rows)
    assert "## Tuning" in text and "## Default settings — " in text and "## Tuned — " in text
    chosen = text.split("Chosen settings")[1].split("\n\n")[1]

    # Ruin every test number of every setting but the default: the choice does not move.
    ruined = copy.deepcopy(rows)
    for row in ruined:
        if row["cell"]["axes"]["method"] != "realistic-i2i":
            for metric in row["metrics"]:
                metric["value"] = -1e6 if metric["split"] == "forget" else 1e6
    assert render(manifest, ruined).split("Chosen settings")[1].split("\n\n")[1] == chosen
    # Change the validation numbers instead: make t2 the clear winner.
    steered = copy.deepcopy(rows)
    for row in steered:
        for metric in row["validation"]["metrics"]:
            if row["cell"]["axes"]["method"] == "realistic-i2i.t2" and metric["split"] == "forget":
                metric["value"] = -100.0
    assert "ascent.optimizer.lr = 0.003, retain.epochs = 2" in render(manifest, steered).split("Chosen settings")[1]

    # The tuned table shows the chosen setting's test numbers under the method's own name.
    changed, _ = write_leaderboards(runner.results, tmp_path / "board", index=False)
    assert any(p.name == "tiny-tuning-tiny-hole-ae.png" for p in changed)
    _, unchanged = write_leaderboards(runner.results, tmp_path / "board", index=False, check=True)
    assert len(unchanged) == len(changed)

    # An interrupted sweep resumes with the settings still missing.
    for cell_id in ("tiny__hole__ae__realistic-i2i.t1__seed0", "tiny__hole__ae__realistic-i2i.t3__seed0"):
        runner.results.row_path("tiny", cell_id).unlink()
    again = make_runner(write(tiny, tmp_path), tmp_path, ["seeds=[0]"]).run()
    assert (again.finished, again.skipped) == (2, 5)


def test_validation_numbers_of_an_audit_come_from_the_held_out_images(tiny, tmp_path):
    """With the backdoor attack, the rule can read the regeneration rate; it is measured on poisoned validation
    images and the row says whether the attack took there."""
    tuning = TUNING.replace("measure: psnr, split: forget, goal: min", "measure: backdoor/regeneration-rate, goal: min")
    runner = make_runner(write(tiny, tmp_path, SWEEP, tuning, "\n" + BACKDOOR), tmp_path, ["seeds=[0]"])
    runner.run()
    rows = {r["cell"]["axes"]["method"]: r for r in runner.results.rows("tiny")}
    rate = {
        method: next(m["value"] for m in row["validation"]["metrics"] if m["metric"] == "backdoor/regeneration-rate")
        for method, row in rows.items()
    }
    assert rows["none"]["validation"]["audit"]["backdoor"]["attack_succeeded"] is True
    assert rate["none"] >= 0.9 and rate["retrain"] <= 0.2
    assert torch.isfinite(torch.tensor(list(rate.values()))).all()


def test_an_unswept_method_after_a_swept_one_is_named_by_its_place_in_the_file(tiny, tmp_path):
    unswept = "  - name: gradient-ascent\n    params: {ascent: {iterations: 2, batch_size: 8}}\n"
    text = tuned_text(tiny).replace("metrics:\n", unswept + "metrics:\n", 1)  # the last method of the list
    with pytest.raises(ConfigError, match="neither swept nor a control") as error:
        load_suite(tiny.write_suite(tmp_path, TUNING, text=text))
    assert error.value.key == "methods[3]"
