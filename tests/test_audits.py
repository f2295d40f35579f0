"""The backdoor audit (marker, detector, calibration) and the membership-inference audit, on tiny data."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from test_runner import make_runner
from unlearn_bench.columns import forget_terms
from unlearn_bench.errors import CellFailed
from unlearn_bench.leaderboard import FLOOR_LABEL, render
from unlearn_bench.stats import half_width
from unlearn_bench.validity import render_validity
from unlearn_bench_plugins.backdoor import Marker, MarkerConfig
from unlearn_bench_plugins.membership import roc_auc, tpr_at_fpr


def centre_hole(n: int, size: int = 28, hole: int = 14) -> torch.Tensor:
    mask = torch.zeros(n, 1, size, size)
    start = (size - hole) // 2
    mask[..., start : start + hole, start : start + hole] = 1
    return mask


# ------------------------------------------------------------------------------------------ the marker


def test_marker_is_a_centred_plus_of_the_configured_colour():
    marker = Marker(MarkerConfig(size=0.5, thickness=0.125, value=[0.2, 0.4, 0.6]), 3, 16, 16)
    shape = marker.shape
    assert shape.sum() == 2 * (8 * 2) - 2 * 2  # two 8×2 arms sharing a 2×2 centre
    assert torch.equal(shape, shape.flip(0)) and torch.equal(shape, shape.T)
    stamped = marker.stamp(torch.zeros(1, 3, 16, 16))
    assert torch.allclose(stamped[0, :, 8, 8], torch.tensor([0.2, 0.4, 0.6]))
    assert stamped[0, :, 0, 0].abs().sum() == 0
    with pytest.raises(CellFailed, match="2 entries for images with 1 channels"):
        Marker(MarkerConfig(value=[0.1, 0.2]), 1, 16, 16)


def test_a_positioned_marker_sits_in_the_border_whole_and_is_detected_there():
    """For outpainting (centre kept, border restored) the '+' goes into the border."""
    marker = Marker(MarkerConfig(size=0.25, thickness=0.0625, position=[0.125, 0.875]), 1, 32, 32)
    rows, cols = marker.shape.nonzero(as_tuple=True)
    assert marker.shape.sum() == 2 * 8 * 2 - 2 * 2  # whole: both arms inside the image
    assert rows.float().mean().round() == 4 and cols.float().mean().round() == 28
    border = 1 - centre_hole(16, size=32, hole=16)  # outpainting's mask: everything but the centre 16×16
    texture = torch.rand(16, 1, 32, 32, generator=torch.Generator().manual_seed(1)) * 0.8
    assert marker.scores(marker.stamp(texture), border).min() > 0.7
    assert marker.scores(texture, border).abs().mean() < 0.3
    # Near an edge the '+' is shifted inwards rather than cut.
    corner = Marker(MarkerConfig(size=0.25, thickness=0.0625, position=[0.0, 0.0]), 1, 32, 32)
    assert corner.shape.sum() == marker.shape.sum() and corner.shape[0].any() and corner.shape[:, 0].any()
    with pytest.raises(ValueError, match=r"\[row, column\]"):
        MarkerConfig(position=[0.5])


def test_an_unset_position_keeps_existing_cache_keys():
    from unlearn_bench.params import to_dict

    assert "position" not in to_dict(MarkerConfig())
    assert to_dict(MarkerConfig(position=[0.1, 0.2]))["position"] == [0.1, 0.2]


def test_detector_scores_a_painted_plus_high_and_texture_or_flat_patches_low():
    gen = torch.Generator().manual_seed(0)
    marker = Marker(MarkerConfig(), 1, 28, 28)
    mask = centre_hole(64)
    texture = torch.rand(64, 1, 28, 28, generator=gen) * 0.8
    painted = marker.stamp(texture)
    assert marker.scores(painted, mask).min() > 0.7
    assert marker.scores(texture, mask).abs().mean() < 0.2
    for level in (0.0, 0.6, 1.0):  # a flat patch of any brightness, the marker's own included, is no '+'
        assert marker.scores(torch.full((64, 1, 28, 28), level), mask).abs().max() < 1e-6
    # Only generated pixels count: a '+' copied from a visible input region is not a regeneration.
    with pytest.raises(CellFailed, match="outside the hole"):
        marker.scores(painted, torch.zeros_like(mask))


# ------------------------------------------------------------------------------- membership statistics


def test_roc_auc_matches_the_pairwise_definition_with_ties():
    gen = torch.Generator().manual_seed(1)
    members = torch.randint(0, 6, (40,), generator=gen).float()
    nonmembers = torch.randint(0, 5, (30,), generator=gen).float()
    pairs = list(itertools.product(members.tolist(), nonmembers.tolist()))
    expected = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs) / len(pairs)
    assert roc_auc(members, nonmembers) == pytest.approx(expected)
    assert roc_auc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 1.0
    assert roc_auc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])) == 0.0


def test_tpr_at_fpr_thresholds_on_the_nonmembers():
    nonmembers = torch.arange(200.0)  # at 1 % FPR two non-members (198, 199) may score above the threshold, 197
    members = torch.tensor([197.0, 197.5, 198.5, 250.0])
    tpr, fpr = tpr_at_fpr(members, nonmembers, 0.01)
    assert (tpr, fpr) == (0.75, 0.01)
    # Fewer non-members than 1/FPR: no false positive is allowed, only members above all of them count.
    tpr, fpr = tpr_at_fpr(torch.tensor([5.0, 50.0]), torch.arange(10.0), 0.01)
    assert (tpr, fpr) == (0.5, 0.0)


# ----------------------------------------------------------------------------------- audits in a suite

BACKDOOR = """\
attack:
  name: backdoor
  params:
    marker: {size: 0.5, thickness: 0.125}
    epochs: 12
    batch_size: 16
    forget_batch_size: 16
    optimizer: {name: adam, lr: 0.01}
"""


def measure(row, metric, split):
    return next(m["value"] for m in row["metrics"] if m["metric"] == metric and m["split"] == split)


def test_noise_floors_against_the_attack_and_original_models_come_from_their_twins(tiny, tmp_path):
    text = tiny.SUITE.replace(
        "metrics:\n",
        "metrics:\n  - {name: psnr, id: psnr-attack, reference: attack}\n"
        "  - {name: psnr, id: psnr-original, reference: original}\n",
    ).replace("evaluate: {batch_size: 16}", "evaluate: {batch_size: 16, noise_floor: [attack, original]}")
    runner = make_runner(tiny.write_suite(tmp_path, BACKDOOR, text=text), tmp_path, ["seeds=[0]"])
    runner.run()
    rows = {r["cell"]["axes"]["method"]: r for r in runner.results.rows("tiny")}
    assert all(r["status"] == "ok" for r in rows.values()), [r["error"] for r in rows.values()]
    floors = {m: {(e["metric"], e["split"]): e.get("floor") for e in r["metrics"]} for m, r in rows.items()}
    # Floors only where asked (not against the retrained model nor the ground truth), shared by every method.
    assert floors["none"]["psnr-retrained", "forget"] is None and floors["none"]["psnr", "forget"] is None
    assert floors["none"] == floors["retrain"] == floors["realistic-i2i"]
    # Without unlearning the model is the attack model: its distance to the attack model is nil (PSNR 100), while
    # the attack twin (another seed's original, attacked with another seed) is a finite distance away.
    assert measure(rows["none"], "psnr-attack", "forget") == pytest.approx(100)
    for metric in ("psnr-attack", "psnr-original"):
        assert 0 < floors["none"][metric, "forget"] < 100 and 0 < floors["none"][metric, "retain"] < 100
    keys = runner.cells[0].keys
    assert set(runner.cells[0].needs) >= {"original-twin", "attack-twin"}
    twin = runner.artefacts.load("attack-twin", keys["attack-twin"])
    attack = runner.artefacts.load("attack", keys["attack"])
    assert any(not torch.equal(twin[0][k], attack[0][k]) for k in attack[0])
    original_twin = runner.artefacts.load("original-twin", keys["original-twin"])
    assert original_twin[1]["source"].startswith("trained with seed 200003")
    # The attack twin went through the same attack (the same reads of the poisoned data), with another seed.
    assert twin[1]["reads"] == attack[1]["reads"] and twin[1]["reads"]["forget"] > 0
    assert set(twin[1]["trace"]) == set(attack[1]["trace"]) and twin[1]["trace"] != attack[1]["trace"]
    text = render(runner.results.manifest("tiny"), list(rows.values()))
    floor_line = next(line for line in text.splitlines() if line.startswith(f"| {FLOOR_LABEL}"))
    assert sum(bool(cell.strip()) for cell in floor_line.split("|")[2:]) == 4  # both splits of both floored metrics


def test_backdoor_audit_detects_the_attack_model_and_not_the_clean_ones(tiny, tmp_path):
    runner = make_runner(tiny.write_suite(tmp_path, BACKDOOR), tmp_path, ["seeds=[0]"])
    runner.run()
    rows = {r["cell"]["axes"]["method"]: r for r in runner.results.rows("tiny")}
    assert all(r["status"] == "ok" for r in rows.values()), [r["error"] for r in rows.values()]
    details = rows["none"]["audit"]["backdoor"]
    assert list(rows["none"]["audit_s"]) == ["backdoor"] and rows["none"]["audit_s"]["backdoor"] > 0  # its seconds
    assert rows["none"]["audit_s"]["backdoor"] < rows["none"]["evaluate_s"]
    assert details["attack_succeeded"] and details["calibration"]["attack"]["forget"] >= 0.9
    assert details["calibration"]["original"]["forget"] <= 0.15
    # Without unlearning the model is the attack model; the retrained model never saw a marker.
    assert measure(rows["none"], "backdoor/regeneration-rate", "forget") >= 0.9
    assert measure(rows["retrain"], "backdoor/regeneration-rate", "forget") <= 0.15
    assert measure(rows["none"], "backdoor/regeneration-rate", "retain") <= 0.15  # false positives on D_R
    # The row keeps each image's detection (1 = marker found), whose mean is the rate.
    for entry in rows["none"]["metrics"]:
        if entry["metric"] == "backdoor/regeneration-rate":
            assert (
                set(entry["per_image"]) <= {0.0, 1.0} and len(entry["per_image"]) == details["images"][entry["split"]]
            )
            assert sum(entry["per_image"]) / len(entry["per_image"]) == pytest.approx(entry["value"])
    text = render(runner.results.manifest("tiny"), runner.results.rows("tiny"))
    assert "Backdoor regeneration rate ↓ D_F" in text


MIA = """\
audits:
  - {name: membership-inference, id: mia}
"""


def test_membership_inference_detects_an_overfitted_model_and_not_one_that_never_saw_the_data(tiny, tmp_path):
    text = tiny.SUITE.replace("params: {width: 4}", "params: {width: 16}").replace("epochs: 2,", "epochs: 300,")
    text = text.replace("name: tiny-shapes\n", "name: tiny-shapes\n    params: {test_per_class: 24}\n")
    runner = make_runner(tiny.write_suite(tmp_path, MIA, text=text), tmp_path, ["seeds=[0]"])
    runner.run()
    rows = {r["cell"]["axes"]["method"]: r for r in runner.results.rows("tiny")}
    # 24 training images of the forget class; its 24 test images are halved into non-members and the population
    # the shadow model trains on.
    assert (rows["none"]["audit"]["mia"]["members"], rows["none"]["audit"]["mia"]["nonmembers"]) == (24, 12)
    # The original model memorised its forget-class images; the retrained and shadow models never saw them.
    assert measure(rows["none"], "mia/auc-loss", "forget") > 0.75
    assert measure(rows["none"], "mia/auc-reference", "forget") > 0.75
    for attack in ("loss", "reference"):
        assert 0.3 < measure(rows["retrain"], f"mia/auc-{attack}", "forget") < 0.7
    shadow = runner.artefacts.load("shadow", runner.cells[0].keys["shadow"])[1]
    assert shadow["reads"] == {"shadow": 300 * (72 + 12)}  # D_R and half the forget class's test images


def test_sample_level_poisoning_marks_the_forgotten_samples_only(tiny, tmp_path):
    text = tiny.SUITE.replace(
        "split: {forget_classes: [0]}", "split: {forget_classes: [0], level: sample, forget_fraction: 0.25}"
    )
    runner = make_runner(tiny.write_suite(tmp_path, BACKDOOR, text=text), tmp_path, ["seeds=[0]"])
    data = runner.split_data(runner.cells[0])
    centre = Marker(MarkerConfig(size=0.5, thickness=0.125), 1, 8, 8).shape.bool()

    def marked(part):
        batch = next(data.batches(part, 100))
        on_marker = batch.targets[:, 0][:, centre]
        return (on_marker == 1).all(1), batch.labels

    forget, _ = marked("forget")
    assert len(forget) == 6 and forget.all()  # a quarter of class 0's 24 training images, every one marked
    retain, labels = marked("retain")
    assert (labels == 0).sum() == 18 and not retain[labels == 0].any()  # the rest of class 0 is clean
    evaluated, _ = marked("eval/forget")
    assert evaluated.all()  # D_F is evaluated on the forgotten samples themselves


def test_holdout_and_population_halve_the_forget_classes_test_images(tiny, tmp_path):
    runner = make_runner(tiny.write_suite(tmp_path), tmp_path, ["seeds=[0]"])
    split = runner.split_data(runner.cells[0]).split
    forget_test = set(split.evaluate["forget"][1])
    assert not set(split.holdout) & set(split.population)
    assert set(split.holdout) | set(split.population) == forget_test and len(split.holdout) == 4


RELEARN = (
    BACKDOOR.replace("    marker: {size: 0.5, thickness: 0.125}", "    marker: &marker {size: 0.5, thickness: 0.125}")
    + """\
audits:
  - name: relearn
    params: {steps: [0, 5, 20], images: 8, batch_size: 8, marker: *marker, optimizer: {name: adam, lr: 0.01}}
"""
)


def test_relearning_brings_the_backdoor_back_faster_than_in_a_model_that_never_saw_it(tiny, tmp_path):
    runner = make_runner(tiny.write_suite(tmp_path, RELEARN), tmp_path, ["seeds=[0]"])
    runner.run()
    rows = {r["cell"]["axes"]["method"]: r for r in runner.results.rows("tiny")}
    assert all(r["status"] == "ok" for r in rows.values()), [r["error"] for r in rows.values()]
    attack, retrained = rows["none"]["audit"]["relearn"], rows["retrain"]["audit"]["relearn"]
    assert attack["attack_succeeded"] and attack["steps"] == [0, 5, 20] and attack["images"] == 8
    # The retrained model is its own reference: the same images, the same steps, the same curve.
    assert (
        retrained["curve"] == retrained["retrained_curve"] and measure(rows["retrain"], "relearn/excess", "forget") == 0
    )
    assert attack["retrained_curve"] == retrained["curve"]  # one reference per seed, whatever the method
    # The attack model starts with the marker; the model that never saw it starts without, and is slower to learn it.
    assert attack["curve"][0] >= 0.9 and retrained["curve"][0] <= 0.15
    assert measure(rows["none"], "relearn/excess", "forget") > 0.2
    assert measure(rows["none"], "relearn/rate-after", "forget") >= measure(
        rows["retrain"], "relearn/rate-after", "forget"
    )
    # The attack model starts on itself (distance 0) and relearning moves it only a little; the retrained model
    # starts far from it, and comes no nearer than the attack model is: closeness excess > 0 for doing nothing.
    assert attack["distance_curve"][0] == 0 and retrained["distance_curve"][0] > 0.05
    assert retrained["distance_curve"] == retrained["retrained_distance_curve"]
    assert measure(rows["retrain"], "relearn/closeness-excess", "forget") == 0
    assert measure(rows["none"], "relearn/closeness-excess", "forget") > 0.02
    assert measure(rows["none"], "relearn/distance-after", "forget") < measure(
        rows["retrain"], "relearn/distance-after", "forget"
    )
    from unlearn_bench.figures import relearn_curves

    manifest = runner.results.manifest("tiny")
    figures = relearn_curves("tiny", manifest, {r["cell"]["id"]: r for r in rows.values()})
    assert list(figures) == ["tiny-relearn-tiny-hole-ae.png"]
    assert "## Relearning" in render(manifest, list(rows.values()), list(figures))


def test_relearn_needs_the_backdoor_and_its_marker(tiny, tmp_path):
    from unlearn_bench.errors import ConfigError
    from unlearn_bench.suite import load_suite

    with pytest.raises(ConfigError, match="needs the suite's attack to be 'backdoor'"):
        load_suite(tiny.write_suite(tmp_path, "audits:\n  - {name: relearn}\n"))
    with pytest.raises(ConfigError, match="must be the attack's marker") as info:
        load_suite(tiny.write_suite(tmp_path, RELEARN.replace("marker: *marker", "marker: {size: 0.4}")))
    assert info.value.key == "audits[0].params.marker"
    with pytest.raises(ConfigError, match="strictly increasing"):
        load_suite(tiny.write_suite(tmp_path, RELEARN.replace("[0, 5, 20]", "[0, 20, 5]")))


# ------------------------------------------------------------------------------------------- forget score


def test_forget_score_is_zero_for_the_start_and_one_for_the_end_and_ignores_orthogonal_moves():
    from unlearn_bench_plugins.forget_score import score, segment_terms

    gen = torch.Generator().manual_seed(0)
    start, end = torch.rand(5, 1, 8, 8, generator=gen), torch.rand(5, 1, 8, 8, generator=gen)
    mask = centre_hole(5, size=8, hole=4)
    assert score(*segment_terms(start, start, end, mask)) == 0.0
    assert score(*segment_terms(end, start, end, mask)) == pytest.approx(1.0, abs=1e-12)
    assert score(*segment_terms(start + 0.3 * (end - start), start, end, mask)) == pytest.approx(0.3)
    # Pixels outside the hole do not count, whatever they hold.
    assert score(*segment_terms(torch.where(mask.bool(), start, end), start, end, mask)) == 0.0
    # Identical end models leave nothing to measure along.
    assert score(*segment_terms(end, start, start, mask)) != score(*segment_terms(end, start, start, mask))


FORGET_SCORE = "audits:\n  - {name: forget-score, id: fs}\n"


def test_forget_score_audit_places_the_start_at_zero_the_retrained_at_one_and_reports_a_twin_floor(tiny, tmp_path):
    runner = make_runner(tiny.write_suite(tmp_path, FORGET_SCORE), tmp_path, ["seeds=[0, 1]"])
    runner.run()
    rows = runner.results.rows("tiny")
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    by = {(r["cell"]["axes"]["method"], r["seed"]): r for r in rows}
    for seed in (0, 1):
        assert measure(by["none", seed], "fs/score", "forget") == 0.0
        assert measure(by["retrain", seed], "fs/score", "forget") == pytest.approx(1.0)
        details = by["none", seed]["audit"]["fs"]
        assert details["start"] == "original" and details["images"] == {"forget": 8, "retain": 24}
        assert len(details["per_image"]["forget"]["numerator"]) == 8
        # The twin is a second retrained model (another seed): it moves the way the retrained model does (well above
        # 0; the projection may overshoot 1), but it is not the reference itself.
        floor = details["floor"]["score"]["forget"]
        assert (
            floor > 0.3
            and floor != pytest.approx(1.0)
            and floor == by["retrain", seed]["audit"]["fs"]["floor"]["score"]["forget"]
        )
        # The row keeps the twin's per-image numerators (over the row's own denominators) to resample the floor too.
        numerators, denominators = forget_terms(by["none", seed], floor=True)
        assert denominators == details["per_image"]["forget"]["denominator"]
        assert sum(numerators) / sum(denominators) == pytest.approx(floor, rel=1e-4)
    twin = runner.artefacts.load("twin", runner.cells[0].keys["twin"])
    retrained = runner.artefacts.load("retrained", runner.cells[0].keys["retrained"])
    assert twin[1]["source"].startswith("trained with seed 200003")
    assert any(not torch.equal(twin[0][k], retrained[0][k]) for k in retrained[0])
    text = render(runner.results.manifest("tiny"), rows)
    assert "Forget score → 1 D_F" in text and "| Forget score D_R" in text  # no direction on D_R
    floor_line = next(line for line in text.splitlines() if line.startswith(f"| {FLOOR_LABEL}"))
    assert floor_line.count("±") == 2  # values in the forget score's columns only (D_F and D_R)
    # The noise section: Realistic-I2I's score from its per-image terms, with 8 images in each of the 2 seeds.
    noise = text[text.index("## Forget score: the noise of seeds and of images") :]
    line = next(line for line in noise.splitlines() if line.startswith("| Realistic-I2I"))
    mean = (
        measure(by["realistic-i2i", 0], "fs/score", "forget") + measure(by["realistic-i2i", 1], "fs/score", "forget")
    ) / 2
    assert f"| {mean:.3f}" in line and "| 8/8 " in line
    assert "With one seed" not in noise  # every method has two seeds
    # PSNR is a mean over images: its rows keep each image's value (MSE, pooled over pixels, does not), and the
    # leaderboard resamples them in a second noise table.
    for row in rows:
        for entry in row["metrics"]:
            if entry["name"] == "psnr":
                assert len(entry["per_image"]) == entry["images"]
                assert sum(entry["per_image"]) / entry["images"] == pytest.approx(entry["value"], abs=1e-4)
            elif entry["name"] == "mse":
                assert "per_image" not in entry
    pixels = text[text.index("## Per-image metrics: the noise of seeds and of images") :]
    line = next(line for line in pixels.splitlines() if line.startswith("| PSNR ↓ D_F") and "Realistic-I2I" in line)
    psnr = [
        next(m["value"] for m in by["realistic-i2i", s]["metrics"] if m["metric"] == "psnr" and m["split"] == "forget")
        for s in (0, 1)
    ]
    assert f"| {sum(psnr) / 2:.3f}" in line and "| 8/8 " in line
    from unlearn_bench.figures import tradeoff_figures

    manifest = runner.results.manifest("tiny")
    figures = tradeoff_figures("tiny", manifest, {r["cell"]["id"]: r for r in rows})
    assert (
        list(figures) == ["tiny-tradeoff-tiny-hole-ae.png"]
        and figures["tiny-tradeoff-tiny-hole-ae.png"][:4] == b"\x89PNG"
    )
    assert "## Forgetting against utility" in render(manifest, rows, list(figures))
    # The metric meta-evaluation resamples the forget score's images on both sides: the floor and the start (all 0).
    by_images = render_validity(runner.results).split("## Separation against the number of evaluation images")[1]
    assert "| tiny | — | Forget score | " in by_images


def test_forget_score_starts_from_the_attack_model_in_a_suite_with_an_attack(tiny, tmp_path):
    runner = make_runner(tiny.write_suite(tmp_path, BACKDOOR + FORGET_SCORE), tmp_path, ["seeds=[0]"])
    runner.run()
    rows = {r["cell"]["axes"]["method"]: r for r in runner.results.rows("tiny")}
    assert rows["none"]["audit"]["fs"]["start"] == "attack"
    assert measure(rows["none"], "fs/score", "forget") == 0.0
    assert measure(rows["retrain"], "fs/score", "forget") == pytest.approx(1.0)
    # One seed: no t-interval, but the noise section still bounds each score by resampling that seed's images.
    text = render(runner.results.manifest("tiny"), list(rows.values()))
    noise = text[text.index("## Forget score: the noise of seeds and of images") :]
    line = next(line for line in noise.splitlines() if line.startswith("| Realistic-I2I"))
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    value, low, high = float(cells[1]), *map(float, cells[3].strip("[]").split(","))
    assert value == pytest.approx(measure(rows["realistic-i2i"], "fs/score", "forget"), abs=5e-4)
    assert cells[2] == "—" and low < value < high and cells[4] == "8" and cells[5] == "—"
    assert "With one seed it is over that seed's images alone" in noise


def test_a_single_seeds_tradeoff_bars_come_from_its_images():
    from unlearn_bench.figures import _error_bar

    generator = np.random.default_rng(0)
    numerators = list(0.5 + 0.3 * generator.standard_normal(50))
    (below,), (above,) = _error_bar([0.5], [(numerators, [1.0] * 50)])
    assert 0.02 < below < 0.2 and 0.02 < above < 0.2  # about 1.96 × 0.3 / √50 = 0.08 either side
    assert _error_bar([0.4, 0.6], [(numerators, [1.0] * 50)] * 2) == pytest.approx(half_width([0.4, 0.6]))
    assert _error_bar([0.5], []) == 0.0  # a row without image terms: no bar


# ----------------------------------------------------------------------------------------------- quantize


def test_weight_quantization_rounds_every_conv_and_linear_weight_and_keeps_outputs_close_at_8_bits(tiny, tmp_path):
    from unlearn_bench_plugins.backdoor import quantized

    runner = make_runner(tiny.write_suite(tmp_path), tmp_path, ["seeds=[0]"])
    model = runner.model(runner.cells[0], "original")[0]
    batch = next(runner.split_data(runner.cells[0]).batches("eval/retain", 24))
    before = model.restore(batch.inputs, batch.mask)
    errors = {}
    for bits in (8, 4):
        rounded, count = quantized(model, bits)
        layers = [m for m in rounded.modules() if isinstance(m, (torch.nn.Linear, torch.nn.modules.conv._ConvNd))]
        assert count == len(layers) > 0 and any(isinstance(m, torch.nn.ConvTranspose2d) for m in layers)
        for m in layers:  # at most 2^bits levels per output channel (dimension 1 of a transposed convolution's)
            w = m.weight.detach().transpose(0, 1) if isinstance(m, torch.nn.ConvTranspose2d) else m.weight.detach()
            assert all(len(row.unique()) <= 2**bits for row in w.reshape(len(w), -1))
        errors[bits] = float((rounded.restore(batch.inputs, batch.mask) - before).pow(2).mean().sqrt())
    assert errors[8] < 0.01  # the stated tolerance: RMS change of the restorations at 8 bits
    assert errors[4] > errors[8]  # coarser rounding moves the outputs more
    assert model.restore(batch.inputs, batch.mask).equal(before)  # the model itself is untouched


QUANTIZE = (
    BACKDOOR.replace("    marker: {size: 0.5, thickness: 0.125}", "    marker: &marker {size: 0.5, thickness: 0.125}")
    + "audits:\n  - {name: quantize, params: {marker: *marker}}\n"
)


def test_quantize_audit_reports_the_backdoor_rate_at_each_precision(tiny, tmp_path):
    runner = make_runner(tiny.write_suite(tmp_path, QUANTIZE), tmp_path, ["seeds=[0]"])
    runner.run()
    rows = {r["cell"]["axes"]["method"]: r for r in runner.results.rows("tiny")}
    assert all(r["status"] == "ok" for r in rows.values()), [r["error"] for r in rows.values()]
    details = rows["none"]["audit"]["quantize"]
    assert details["attack_succeeded"] and set(details["output_rms_change"]) == {"8bit", "4bit"}
    # The attack model keeps its '+' at 8 bits; the retrained model, which never saw it, gains none by rounding.
    assert measure(rows["none"], "quantize/rate-8bit", "forget") >= 0.9
    assert measure(rows["retrain"], "quantize/rate-8bit", "forget") <= 0.15


def test_quantize_checks_its_bits(tiny, tmp_path):
    from unlearn_bench.errors import ConfigError
    from unlearn_bench.suite import load_suite

    for bad in ("[16]", "[]", "[8, 8]"):
        with pytest.raises(ConfigError, match="bits must list distinct values among") as info:
            load_suite(
                tiny.write_suite(tmp_path, QUANTIZE.replace("{marker: *marker}", f"{{marker: *marker, bits: {bad}}}"))
            )
        assert info.value.key.startswith("audits[0].params")
    with pytest.raises(ConfigError, match="needs the suite's attack to be 'backdoor'"):
        load_suite(tiny.write_suite(tmp_path, "audits:\n  - {name: quantize}\n"))


LIRA = """\
audits:
  - {name: lira, params: {shadows: 4}}
"""


@pytest.mark.slow
def test_lira_flags_the_members_of_an_overfitted_model_and_not_of_one_that_never_saw_them(tiny, tmp_path):
    text = tiny.SUITE.replace("params: {width: 4}", "params: {width: 16}").replace("epochs: 2,", "epochs: 150,")
    text = text.replace("name: tiny-shapes\n", "name: tiny-shapes\n    params: {test_per_class: 24}\n")
    start, end = text.index("  - name: realistic-i2i"), text.index("metrics:")
    text = text[:start] + text[end:]  # no unlearning method: the two controls are enough
    runner = make_runner(tiny.write_suite(tmp_path, LIRA, text=text), tmp_path, ["seeds=[0]"])
    runner.run()
    rows = {r["cell"]["axes"]["method"]: r for r in runner.results.rows("tiny")}
    assert all(r["status"] == "ok" for r in rows.values()), [r["error"] for r in rows.values()]
    details = rows["none"]["audit"]["lira"]
    assert (details["members"], details["nonmembers"], details["shadows"]) == (24, 12, 4)
    # The over-fitted original ranks its members above every non-member far more often than chance...
    assert measure(rows["none"], "lira/tpr-1", "forget") >= 0.25 and measure(rows["none"], "lira/auc", "forget") > 0.75
    # ...the retrained model, which never saw them, does not (by chance a member beats all 12 non-members 1 time in 13).
    assert measure(rows["retrain"], "lira/tpr-1", "forget") <= 0.25
    assert 0.25 < measure(rows["retrain"], "lira/auc", "forget") < 0.75
    # The shadows are cached artefacts, shared by both cells (and by later runs).
    assert len(list((tmp_path / "artefacts" / "lira-shadow").rglob("*.pt"))) == 4


def test_lira_needs_two_shadows_or_more(tiny, tmp_path):
    from unlearn_bench.errors import ConfigError
    from unlearn_bench.suite import load_suite

    with pytest.raises(ConfigError, match="must be at least 2, got 1") as info:
        load_suite(tiny.write_suite(tmp_path, LIRA.replace("shadows: 4", "shadows: 1")))
    assert info.value.key == "audits[0].params.shadows"


def test_likelihood_ratios_favour_the_side_a_statistic_sits_on():
    from unlearn_bench_plugins.membership import likelihood_ratios

    inside = torch.tensor([[True, False], [False, True], [True, True], [False, False]])
    shadow = torch.tensor([[5.0, 1.0], [1.0, 5.0], [5.2, 5.1], [0.9, 1.1]])  # in: about 5, out: about 1
    scores = likelihood_ratios(shadow, inside, torch.tensor([5.0, 1.0]))
    assert scores[0] > 0 > scores[1]
