"""Intervals, paired tests and the leaderboard's verdict marks, on synthetic values built to differ or not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from unlearn_bench.leaderboard import _seed_images, _verdicts
from unlearn_bench.stats import (
    ImageTerms,
    draws_noise,
    format_mean,
    half_width,
    holm,
    image_variance,
    paired_p,
    ratio_noise,
)


def test_interval_and_rounding():
    assert format_mean([]) == "—"
    assert format_mean([1.23456]) == "1.235"
    assert half_width([1.0, 2.0]) == pytest.approx(stats.t.ppf(0.975, 1) * 0.5)  # sd 0.707 / sqrt(2)
    assert format_mean([1.0, 2.0]) == "1.5 ± 6.4"
    assert format_mean([15.51, 15.5108, 15.5104]) == "15.51040 ± 0.00099"  # two figures of h set the decimals
    assert format_mean([1.9e-14, -5.7e-14, 0.0]) == "0 ± 0"  # rounding noise around 0 (FID of identical sets)


def test_paired_test_and_holm():
    a = {seed: 10.0 + 0.1 * (seed % 3) for seed in range(6)}
    assert paired_p(a, a) == 1.0
    assert paired_p(a, {s: v + 1 for s, v in a.items()}) == 0.0  # a constant shift, no spread
    noisy = {s: v + 0.3 * (-1) ** s for s, v in a.items()}
    assert paired_p(a, noisy) > 0.05  # differences of both signs
    assert paired_p(a, {s: v + 1 + 0.1 * (-1) ** s for s, v in a.items()}) < 1e-4
    assert paired_p({0: 1.0}, {0: 2.0}) is None  # one shared seed: nothing to test
    assert holm({"a": 0.01, "b": 0.04, "c": 0.03}) == {"a": True, "c": False, "b": False}  # 0.03 > 0.05 / 2


def column(values: dict[str, dict[int, float]], split="forget", higher=False, target=None, images=None):
    order = [(name,) for name in values]
    plugin = {(name,): name for name in values}
    metric = {"higher_is_better": None if target else higher, "target": target, "reference": None}
    terms = [(images or {}).get(name, {}) for name in values]
    return _verdicts(order, plugin, [values[name] for name in values], terms, metric, split)


def test_image_terms_give_the_paired_noise_of_a_difference():
    generator = np.random.default_rng(2)
    shared = generator.normal(0, 5, size=400)  # what the images do to both methods alike
    a, b = shared + generator.normal(0, 1, 400), shared + 1 + generator.normal(0, 1, 400)
    # The variance of a difference of means over the same images: its per-image differences' variance / n (about
    # 2 / 400 here), not the images' own (25 / 400): pairing cancels what both share.
    paired = image_variance(ImageTerms.of_mean(a), ImageTerms.of_mean(b))
    assert paired == pytest.approx(np.var(a - b, ddof=1) / 400) and paired < 0.01
    # A ratio of sums, linearised, matches resampling its images.
    top, bottom = generator.uniform(0, 1, 300), generator.uniform(0.5, 1.5, 300)
    other = top + generator.normal(0, 0.3, 300)
    picks = generator.integers(0, 300, size=(4000, 300))
    resampled = top[picks].sum(1) / bottom[picks].sum(1) - other[picks].sum(1) / bottom[picks].sum(1)
    linear = image_variance(ImageTerms.of_ratio(top, bottom), ImageTerms.of_ratio(other, bottom))
    assert linear == pytest.approx(resampled.var(), rel=0.15)
    # Draws on shared resamples: the variance of their differences; terms that do not pair give nothing.
    draws = ImageTerms.of_draws([1.0, 2.0, 3.0])
    assert image_variance(draws, ImageTerms.of_draws([1.0, 2.0, 4.0])) == pytest.approx(1 / 3)
    assert image_variance(draws, ImageTerms.of_mean([1.0, 2.0, 3.0])) is None
    assert image_variance(draws, ImageTerms.of_draws([1.0, 2.0])) is None
    assert ImageTerms.of_ratio([1.0], [0.0]) is None


def test_image_noise_floors_the_paired_test():
    a = {0: 10.0, 1: 11.0, 2: 12.0}
    shifted = {s: v + 1.0 + 0.01 * s for s, v in a.items()}  # 3 seeds that happen to agree closely
    assert paired_p(a, shifted) < 0.01
    # The images scatter each seed's difference by about ±1 (same noise on both sides' draws but not paired):
    # the seeds' agreement is chance, and the difference is not shown.
    generator = np.random.default_rng(3)
    loud = (
        {s: ImageTerms.of_draws(generator.normal(0, 1, 200)) for s in a},
        {s: ImageTerms.of_draws(generator.normal(0, 1, 200)) for s in a},
    )
    assert paired_p(a, shifted, loud) > 0.05
    # Quiet images (±0.001) leave the seeds' verdict as it was, and so do terms missing for a seed.
    quiet = tuple({s: ImageTerms.of_draws(0.001 * terms.values) for s, terms in side.items()} for side in loud)
    assert paired_p(a, shifted, quiet) == pytest.approx(paired_p(a, shifted))
    assert paired_p(a, shifted, (loud[0], {0: loud[1][0]})) == paired_p(a, shifted)
    # A constant shift with no image noise is still certain; with image noise, a t-test on that noise.
    constant = {s: v + 1.0 for s, v in a.items()}
    assert paired_p(a, constant) == 0.0 and 0 < paired_p(a, constant, loud) < 1


def test_marks_flip_with_the_data():
    seeds = range(5)
    start = {s: 50.0 + s for s in seeds}
    clear = {
        "no-unlearning": start,
        "good": {s: 20.0 + s for s in seeds},
        "bad": {s: 40.0 + s + 0.5 * (s % 2) for s in seeds},
    }
    marks = column(clear)
    assert marks[("good",)] == (True, False) and marks[("bad",)] == (False, False)  # bad is shown worse; both moved
    assert ("no-unlearning",) not in marks  # reference rows are not ranked
    tied = {**clear, "bad": {s: 20.0 + s + (-1) ** s for s in seeds}}
    assert column(tied)[("bad",)][0] is True  # not shown to differ from the best: bold too
    idle = {**clear, "bad": {s: v + 0.5 * (-1) ** s for s, v in start.items()}}
    assert column(idle)[("bad",)] == (False, True)  # on D_F, indistinguishable from doing nothing
    assert column(idle, split="retain")[("bad",)][1] is False  # the dagger is for the forget set only
    assert column(clear, higher=True)[("bad",)][0] is True  # ↑: now 'bad' has the higher values and is best
    near = {"a": {s: 0.52 for s in seeds}, "b": {s: 0.9 for s in seeds}}
    assert column(near, target=0.5) == {("a",): (True, False), ("b",): (False, False)}  # → 0.5: closest wins
    # Paired over images: 'bad' is 2 worse than 'good' on every seed, shown by the seeds alone; the images of each
    # seed scatter that difference by about ±4, so with them it is no longer shown (and 'good' no longer beats
    # doing nothing, 30 better with images that scatter it by ±40).
    close = {**clear, "bad": {s: 22.0 + s + 0.05 * (s % 2) for s in seeds}}
    assert column(close)[("bad",)][0] is False
    generator = np.random.default_rng(4)
    noisy = {name: {s: ImageTerms.of_mean(generator.normal(0, 20, 25)) for s in seeds} for name in close}
    assert column(close, images=noisy)[("bad",)][0] is True
    loud = {**noisy, "no-unlearning": {s: ImageTerms.of_mean(generator.normal(0, 1000, 25)) for s in seeds}}
    assert column(close, images=loud)[("good",)] == (True, True)


def test_ratio_noise_separates_image_noise_from_seed_noise():
    generator = np.random.default_rng(0)
    weights = generator.uniform(0.5, 1.5, size=200)

    def seed(score, spread):  # per-image projections around ``score``, weighted like the forget score's terms
        projections = score + spread * generator.standard_normal(200)
        return (projections * weights).tolist(), weights.tolist()

    # Seeds that differ far more than their images scatter: the images explain almost none of the spread...
    apart = ratio_noise([seed(0.2, 0.05), seed(0.5, 0.05), seed(0.8, 0.05)])
    assert apart["within"] / apart["between"] < 0.01
    assert apart["low"] < apart["mean"] < apart["high"] and apart["mean"] == pytest.approx(0.5, abs=0.01)
    # ...seeds equal up to their images' scatter: about all of it (the share is ~1, noisily, with 3 seeds).
    alike = ratio_noise([seed(0.5, 1.0), seed(0.5, 1.0), seed(0.5, 1.0)])
    assert alike["within"] / apart["within"] > 100
    assert 0.05 < alike["within"] / alike["between"] < 20
    # One seed: no between-seed variance; a zero denominator or no images: nothing to say.
    assert ratio_noise([seed(0.5, 0.1)])["between"] is None
    assert ratio_noise([([1.0], [0.0])]) is None and ratio_noise([([], [])]) is None
    # Deterministic for a given seed of the bootstrap, and another seed draws other resamples.
    groups = [seed(0.3, 0.2), seed(0.4, 0.2)]
    assert ratio_noise(groups, seed=3) == ratio_noise(groups, seed=3) != ratio_noise(groups, seed=4)


def test_draws_noise_reads_each_seeds_recorded_resamples():
    generator = np.random.default_rng(1)

    def seed(value, spread):  # a metric's value on one seed's images and on 100 resamples of them
        return value, (value + spread * generator.standard_normal(100)).tolist()

    apart = draws_noise([seed(20.0, 0.5), seed(40.0, 0.5), seed(60.0, 0.5)])
    assert apart["per_seed"] == [20.0, 40.0, 60.0] and apart["mean"] == 40.0
    assert apart["within"] == pytest.approx(0.25, rel=0.3) and apart["between"] == pytest.approx(400)
    assert 20 <= apart["low"] < 40 < apart["high"] <= 60
    alike = draws_noise([seed(40.0, 10.0), seed(41.0, 10.0)])
    assert alike["within"] / alike["between"] > 50  # the images explain the small spread of these seeds
    assert draws_noise([(1.0, [1.0])]) is None and draws_noise([]) is None
    groups = [seed(1.0, 0.1), seed(2.0, 0.1)]
    assert draws_noise(groups, seed=3) == draws_noise(groups, seed=3) != draws_noise(groups, seed=4)


def test_rows_give_their_image_terms_to_the_marks():
    def row(seed, metrics, audit=None):
        return {"seed": seed, "metrics": metrics, "audit": audit or {}}

    rows = [
        row(0, [{"metric": "fid", "split": "forget", "value": 30.0, "bootstrap": [29.0, 31.0, 33.0]}]),
        row(1, [{"metric": "fid", "split": "forget", "value": 35.0}]),  # made without image_bootstrap
    ]
    assert set(_seed_images(rows, "fid", "forget")) == {0}
    assert _seed_images(rows, "fid", "forget")[0].kind == "draws"
    psnr = [row(0, [{"metric": "psnr", "split": "retain", "value": 2.0, "per_image": [1.0, 2.0, 3.0]}])]
    assert _seed_images(psnr, "psnr", "retain")[0].values.tolist() == [-1.0, 0.0, 1.0]
    assert _seed_images(psnr, "psnr", "forget") == {}
    terms = {"forget": {"numerator": [1.0, 0.0], "denominator": [1.0, 1.0]}}
    scored = [
        row(
            2,
            [{"metric": "forget-score/score", "name": "forget-score", "split": "forget", "value": 0.5}],
            {"forget-score": {"per_image": terms}},
        )
    ]
    # Σn/Σd = 0.5; image 1 moves it by (1 − 0.5) / 1, image 2 by (0 − 0.5) / 1.
    assert _seed_images(scored, "forget-score/score", "forget")[2].values.tolist() == [0.5, -0.5]
