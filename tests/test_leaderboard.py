"""Leaderboards: built from results alone, with means and intervals, failures, paper numbers and staleness checks."""

from __future__ import annotations

import statistics

import torch
from unlearn_bench.cli import main
from unlearn_bench.leaderboard import render
from unlearn_bench.results import ResultStore
from unlearn_bench.stats import format_mean

PAPER = """
leaderboard:
  tables:
    - id: main
      title: The main table
      caption: A caption.
      metrics: [psnr]
      paper:
        source: Some et al. 2025, Table 9
        columns: [FID D_R, FID D_F]
        rows: {Realistic-I2I: [1.5, null]}
"""


def run(tiny, tmp_path, extra=PAPER, *args):
    path = tiny.write_suite(tmp_path, extra)
    code = main(
        [
            "run",
            str(path),
            "--results",
            str(tmp_path / "results"),
            "--leaderboard",
            str(tmp_path / "lb"),
            "--quiet",
            *args,
        ]
    )
    return path, code


def test_leaderboard_from_a_run(tiny, tmp_path):
    _, code = run(tiny, tmp_path)
    assert code == 0
    text = (tmp_path / "lb" / "tiny.md").read_text()
    store = ResultStore(tmp_path / "results")
    rows = store.rows("tiny")
    # The Realistic-I2I row shows the mean and interval of PSNR on D_F over both seeds, from the stored rows.
    values = [
        m["value"]
        for r in rows
        if r["cell"]["axes"]["method"] == "realistic-i2i"
        for m in r["metrics"]
        if m["metric"] == "psnr" and m["split"] == "forget"
    ]
    assert len(values) == 2
    line = next(line for line in text.splitlines() if line.startswith("| Realistic-I2I"))
    assert format_mean(values) in line and line.rstrip().endswith("2/2     |")
    assert "| Method" in text and "PSNR ↑ D_R" in text and "PSNR ↓ D_F" in text and "MSE" not in text
    assert "**Reported in Some et al. 2025, Table 9**" in text and "| Realistic-I2I | 1.5       | —" in text
    figures = ["tiny-outputs-tiny-hole-ae.png", "tiny-ascent-tiny-hole-ae.png"]
    assert render(store.manifest("tiny"), rows, figures) == text
    # The ascent section says how many of the K = 3 steps each seed took (the tiny suite sets no τ).
    assert "| Realistic-I2I | tiny | hole | ae | 3 | 3 |" in text


def test_output_grid_is_drawn_from_stored_samples_and_checked(tiny, tmp_path):
    run(tiny, tmp_path)
    store = ResultStore(tmp_path / "results")
    samples = store.samples("tiny", "tiny__hole__ae__none__seed0")
    assert samples["forget/input"].shape == (6, 1, 8, 8) and samples["forget/input"].dtype == torch.uint8
    assert set(samples) == {f"{s}/{w}" for s in ("forget", "retain") for w in ("input", "target", "output", "original")}
    # Without unlearning the output is the original model's; the masked input keeps the pixels around the hole.
    assert torch.equal(samples["forget/output"], samples["forget/original"])
    assert torch.equal(samples["retain/input"][..., 0, :], samples["retain/target"][..., 0, :])
    figure = tmp_path / "lb" / "tiny-outputs-tiny-hole-ae.png"
    assert f"![{figure.name}]({figure.name})" in (tmp_path / "lb" / "tiny.md").read_text()
    # The picture is part of the check: once a method's samples are gone, the committed grid is stale.
    check = ["leaderboard", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "lb"), "--check"]
    assert main(check) == 1  # a run writes its suite's files, not the folder's index
    assert main(check[:-1]) == 0 and main(check) == 0
    store.samples_path("tiny", "tiny__hole__ae__retrain__seed0").unlink()
    assert main(check) == 1


def test_check_detects_stale_and_failed_cells_are_footnoted(tiny, tmp_path, capsys):
    run(tiny, tmp_path)
    check = ["leaderboard", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "lb"), "--check"]
    assert main(check[:-1]) == 0 and main(check) == 0
    board = tmp_path / "lb" / "tiny.md"
    board.write_text(board.read_text().replace("2/2", "1/2"))
    assert main(check) == 1
    assert "stale" in capsys.readouterr().out
    assert main(check[:-1]) == 0 and main(check) == 0

    text = tiny.SUITE.replace("  - {name: retrain}\n", "  - {name: retrain}\n  - {name: explode}\n")
    path = tiny.write_suite(tmp_path, PAPER, text=text)
    code = main(
        ["run", str(path), "--results", str(tmp_path / "results"), "--leaderboard", str(tmp_path / "lb"), "--quiet"]
    )
    assert code == 1
    board_text = board.read_text()
    assert "0/2 (2 failed)" in board_text
    assert "`tiny__hole__ae__explode__seed0` failed: RuntimeError: boom" in board_text


def test_rows_of_an_old_configuration_are_left_out(tiny, tmp_path):
    path, _ = run(tiny, tmp_path)
    store = ResultStore(tmp_path / "results")
    manifest = store.manifest("tiny")
    manifest["cells"] = [{**c, "key": "changed"} if c["method"] == "realistic-i2i" else c for c in manifest["cells"]]
    text = render(manifest, store.rows("tiny"))
    line = next(line for line in text.splitlines() if line.startswith("| Realistic-I2I"))
    assert "—" in line and "0/2" in line
    assert "4 of 6 cells have results" in text


def test_paper_rows_keep_the_suite_order(tiny, tmp_path):
    extra = PAPER.replace("rows: {Realistic-I2I: [1.5, null]}", "rows: {Zeta: [1, 2], Alpha: [3, 4]}")
    run(tiny, tmp_path, extra)
    text = (tmp_path / "lb" / "tiny.md").read_text()
    assert text.index("| Zeta") < text.index("| Alpha")


def test_ascent_curves_are_drawn_from_the_method_traces(tiny, tmp_path):
    from unlearn_bench.figures import ascent_curves

    run(tiny, tmp_path)
    store = ResultStore(tmp_path / "results")
    manifest = store.manifest("tiny")
    rows = {r["cell"]["id"]: r for r in store.rows("tiny")}
    curves = ascent_curves("tiny", manifest, rows)
    assert list(curves) == ["tiny-ascent-tiny-hole-ae.png"]  # only Realistic-I2I ascends in the tiny suite
    assert "## Gradient ascent" in (tmp_path / "lb" / "tiny.md").read_text()
    assert (tmp_path / "lb" / "tiny-ascent-tiny-hole-ae.png").is_file()
    for row in rows.values():  # without ascent traces there is no figure
        if row["method"]:
            row["method"]["trace"].pop("ascent", None)
    assert ascent_curves("tiny", manifest, rows) == {}


def test_the_index_lists_every_suite_and_those_not_run(tiny, tmp_path):
    run(tiny, tmp_path)
    assert not (tmp_path / "lb" / "README.md").exists()  # runs leave the published index alone
    (tmp_path / "base.yaml").write_text(
        'leaderboard: {tables: [{id: t9, title: Outpainting, paper: {source: "Paper X, Table 9"}}]}\n'
    )
    (tmp_path / "elsewhere.yaml").write_text("include: base.yaml\ndescription: a suite whose data nobody here has\n")
    args = ["leaderboard", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "lb")]
    assert main([*args, "--suites-dir", str(tmp_path)]) == 0
    index = (tmp_path / "lb" / "README.md").read_text()
    assert "| [tiny](tiny.md) |" in index and "| 0, 1 | 6/6 |" in index
    not_run = index.split("## Suites not run here")[1]
    line = next(line for line in not_run.splitlines() if f"`{tmp_path.name}/elsewhere.yaml`" in line)
    # The tables come through the include, with the paper table each stands for.
    assert "nobody here has" in line and "Outpainting (paper: Paper X, Table 9)" in line
    assert "`tiny.yaml`" not in index.split("## Suites not run here")[1]  # it has results
    assert main([*args, "--suites-dir", str(tmp_path), "--check"]) == 0
    (tmp_path / "other.yaml").write_text("description: another\n")
    assert main([*args, "--suites-dir", str(tmp_path), "--check"]) == 1  # the index is checked too


def test_audit_columns_name_the_runs_where_the_attack_did_not_take(tiny, tmp_path):
    run(tiny, tmp_path, "")
    store = ResultStore(tmp_path / "results")
    manifest = store.manifest("tiny")
    manifest["metrics"].append(
        {"id": "backdoor/regeneration-rate", "display_name": "Rate", "higher_is_better": False, "reference": None}
    )
    rows = store.rows("tiny")
    for row in rows:  # seed 0's attack took, seed 1's did not
        row["audit"] = {"backdoor": {"attack_succeeded": row["seed"] == 0}}
        row["metrics"].append({"metric": "backdoor/regeneration-rate", "split": "forget", "value": 0.5})
    for row in rows:  # the rate of the run whose attack did not take must not reach the mean
        row["metrics"][-1]["value"] = 0.5 if row["seed"] == 0 else 0.0
    text = render(manifest, rows)
    assert "`backdoor`: the attack did not take in 1 of 2 runs (seed 1)" in text
    assert "0.5 (n=1)" in text and "0.25" not in text
    assert text.count("the attack did not take") == 1  # one note per table, not per method
    for row in rows:
        row["audit"]["backdoor"]["attack_succeeded"] = True
    assert "did not take" not in render(manifest, rows)
    manifest["metrics"].pop()  # a table without the audit's columns needs no note
    for row in rows:
        row["audit"]["backdoor"]["attack_succeeded"] = False
    assert "did not take" not in render(manifest, rows)


def test_the_better_direction_follows_metric_reference_and_split():
    from unlearn_bench.leaderboard import better

    fid = {"higher_is_better": False}
    assert better({**fid, "reference": "attack"}, "forget") == "↑"  # farther from the attack model on D_F
    assert better({**fid, "reference": "attack"}, "retain") == "↓"
    assert better({**fid, "reference": "attack"}, "unseen") == "↓"
    for reference in ("retrained", "original", None):
        assert better({**fid, "reference": reference}, "forget") == "↓"
    # Against the ground truth, forgetting restores D_F worse (as the retrained model does): higher FID, lower PSNR.
    assert better({**fid, "reference": "ground-truth"}, "forget") == "↑"
    assert better({"higher_is_better": True, "reference": "ground-truth"}, "forget") == "↓"
    assert better({"higher_is_better": True, "reference": "ground-truth"}, "retain") == "↑"
    assert better({"higher_is_better": True, "reference": "attack"}, "forget") == "↓"  # PSNR vs attack on D_F
    assert better({"higher_is_better": None, "target": 0.5, "reference": None}, "forget") == "→ 0.5"


def test_a_measure_declares_a_direction_or_a_target():
    import pytest
    from unlearn_bench.attacks import Measure

    for bad in ({"higher_is_better": None}, {"higher_is_better": True, "target": 0.5}):
        with pytest.raises(ValueError, match="either higher_is_better or a target"):
            Measure("x", **bad)


def test_the_index_says_whether_published_cells_are_current(tiny, tmp_path):
    from unlearn_bench.leaderboard import render_index

    path, _ = run(tiny, tmp_path, "")
    store = ResultStore(tmp_path / "results")
    assert render_index(store, tmp_path).splitlines()[7].endswith("| yes |")
    text = path.read_text()
    path.write_text(text.replace("iterations: 3", "iterations: 4"))  # realistic-i2i's 2 cells change
    assert "| **no**: 2 of 6 cells were made by older code or settings; rerun the suite |" in render_index(
        store, tmp_path
    )
    path.write_text(text)
    next((tmp_path / "results").glob("*/cells/*.json")).unlink()  # planned, never run
    assert "| **no**: 1 of 6 cells have no result; rerun the suite |" in render_index(store, tmp_path)
    path.unlink()
    assert "| unknown (no suite file) |" in render_index(store, tmp_path)


def test_a_run_never_writes_the_published_folder(tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "leaderboard").mkdir()
    path = tiny.write_suite(tmp_path, PAPER)
    assert main(["run", str(path), "--results", "res", "--quiet"]) == 0
    assert (tmp_path / "res" / "leaderboard" / "tiny.md").is_file()  # beside the results it was made from
    assert list((tmp_path / "leaderboard").iterdir()) == []
    assert main(["leaderboard", "--results", "res", "--out", "leaderboard"]) == 0  # publishing is explicit
    assert (tmp_path / "leaderboard" / "tiny.md").read_bytes() == (tmp_path / "res/leaderboard/tiny.md").read_bytes()


RANKED = """
leaderboard:
  tables:
    - id: main
      metrics: [psnr]
      paper:
        source: Some et al. 2025, Table 9
        columns: [PSNR ↑ D_F, PSNR ↑ D_R]
        rows: {A: [3.0, 1.0], B: [2.0, 2.0], C: [1.0, null]}
        methods: {A: none, B: retrain, C: realistic-i2i}
        ranks: {PSNR ↑ D_F: psnr forget, PSNR ↑ D_R: psnr retain}
"""


def _paper_rows_forget_psnr(tmp_path) -> dict[str, float]:
    """RANKED's paper rows A, B, C → the mean over seeds of their mapped method's PSNR on D_F."""
    store = ResultStore(tmp_path / "results")
    return {
        name: statistics.fmean(
            m["value"]
            for r in store.rows("tiny")
            if r["cell"]["axes"]["method"] == method
            for m in r["metrics"]
            if m["metric"] == "psnr" and m["split"] == "forget"
        )
        for name, method in {"A": "none", "B": "retrain", "C": "realistic-i2i"}.items()
    }


def test_the_paper_ranking_is_compared_with_ours(tiny, tmp_path):
    from scipy import stats

    assert run(tiny, tmp_path, RANKED)[1] == 0
    means = _paper_rows_forget_psnr(tmp_path)
    # Our PSNR against the ground truth on D_F is better lower (forgetting restores D_F worse, as retraining does).
    ours = " > ".join(sorted(means, key=lambda name: means[name]))
    tau = stats.kendalltau([3.0, 2.0, 1.0], [-means[name] for name in "ABC"]).statistic
    text = (tmp_path / "lb" / "tiny.md").read_text()
    assert f"- PSNR ↑ D_F (ours: PSNR ↓ D_F): paper A > B > C; ours {ours}. Kendall τ = {tau:.2f} over 3" in text
    assert "- PSNR ↑ D_R: fewer than three mapped methods have numbers in both; not compared." in text  # C is null
    assert "Paper rows mapped to ours: A = none, B = retrain, C = Realistic-I2I." in text


def test_the_ranking_is_also_shown_under_the_other_reading_of_the_pairs(tiny, tmp_path):
    """The paper's (D_F, D_R) pairs may be read the other way: each compared column is ranked again by the numbers of
    its pair's other column, in its own direction."""
    from scipy import stats

    full = RANKED.replace("C: [1.0, null]", "C: [1.0, 2.0]").replace("B: [2.0, 2.0]", "B: [2.0, 3.0]")
    assert run(tiny, tmp_path, full)[1] == 0
    text = (tmp_path / "lb" / "tiny.md").read_text()
    other = text.split("*Under the other reading of the pairs*")[1]
    means = _paper_rows_forget_psnr(tmp_path)
    ours = " > ".join(sorted(means, key=lambda name: means[name]))  # PSNR vs the ground truth on D_F: lower is better
    tau = stats.kendalltau([1.0, 3.0, 2.0], [-means[name] for name in "ABC"]).statistic
    assert (
        f"- PSNR ↑ D_F read from the paper's PSNR ↑ D_R column (ours: PSNR ↓ D_F): paper B > C > A; ours {ours}. "
        f"Kendall τ = {tau:.2f} over 3"
    ) in other
    assert "- PSNR ↑ D_R read from the paper's PSNR ↑ D_F column" in other


def test_a_ranking_names_paper_columns_and_our_columns(tiny, tmp_path, capsys):
    for old, new, message in [
        ("PSNR ↑ D_F: psnr forget", "PSNR ↑ D_X: psnr forget", "the paper has no column 'PSNR ↑ D_X'"),
        ("PSNR ↑ D_F: psnr forget", "PSNR ↑ D_F: psnr unseen", "expected '<metric id> <split>'"),
        ("C: realistic-i2i}", "C: realistic}", "no method has id 'realistic'"),
    ]:
        path = tiny.write_suite(tmp_path, RANKED.replace(old, new))
        assert main(["validate", str(path)]) == 2
        assert message in capsys.readouterr().err


def test_a_ranking_names_each_significant_pair_and_whether_the_paper_agrees():
    """Synthetic goodness over 6 seeds: A, B, C and D differ by consistent shifts (every pair significant), E is A
    plus noise of either sign (never told from A). Each significant pair is named, in our order, under what the paper
    says of it."""
    from unlearn_bench.leaderboard import _rank_line

    jitter = [0.3, -0.2, 0.1, -0.4, 0.2, 0.0]
    ours = {
        "A": {s: 10.0 + j for s, j in enumerate(jitter)},
        "B": {s: 20.0 - j for s, j in enumerate(jitter)},
        "C": {s: 0.0 + j / 2 for s, j in enumerate(jitter)},
        "D": {s: 5.0 - j / 2 for s, j in enumerate(jitter)},
        "E": {s: 10.0 + j + (3.0 if s % 2 else -3.0) for s, j in enumerate(jitter)},
    }
    paper = {"columns": ["X ↑ D_F"], "rows": {"A": [4.0], "B": [3.0], "C": [2.0], "D": [2.0], "E": [1.0]}}
    line = _rank_line(paper, "X ↑ D_F", "X ↑ D_F", (ours, {name: {} for name in ours}))
    assert "9 of 10 of our pairwise orders are significant" in line
    assert "ours B > A > E > D > C" in line
    assert "(5 as in the paper: B > E, B > D, B > C, A > D, A > C; 3 against it: B > A, E > D, E > C; " in line
    assert "1 tied in the paper: D > C)." in line
    named = line.split("significant (")[1]
    assert "A > E" not in named and "E > A" not in named
