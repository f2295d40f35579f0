"""Uncertainty and significance over seeds, for the leaderboards.

A leaderboard cell is the mean over the seeds that finished, shown with the half-width of its 95 % Student-t
interval (``mean ± h``: the interval is [mean − h, mean + h]); both are rounded to the same decimal place, given by two
significant figures of ``h``. Two methods are compared *paired over seeds* (a seed fixes the data split and the
starting model that every method of that seed shares) with a two-sided paired t-test; the comparisons within one
column are corrected for multiplicity with Holm's step-down procedure at family-wise level :data:`ALPHA`. With 2–3
seeds these tests have little power: a method left unmarked is "not shown to differ", never "shown equal".

The test is also paired over images where the rows keep them (:class:`ImageTerms`): each seed draws its own
evaluation images, so the spread of the differences over seeds already holds the images' noise, but estimated from
2–3 values it can come out far smaller by chance. The difference's image noise within a seed, measured on the same
images for both methods, is then a floor under its variance: the t statistic uses the larger of the two, with
``n − 1`` degrees of freedom (:func:`paired_p`).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 0.05
ROUNDING = 1e-9  # |value| below this is floating-point rounding of 0 (FID of a model's outputs with themselves)


def half_width(values: Sequence[float]) -> float | None:
    """Half-width of the 95 % Student-t interval of the mean; None for fewer than two values."""
    if len(values) < 2:
        return None
    spread = statistics.stdev(values)
    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1)) * spread / math.sqrt(len(values))


def format_mean(values: Sequence[float]) -> str:
    """``mean ± h`` with both rounded to two significant figures of h; a lone value with four significant figures."""
    if not values:
        return "—"
    values = [0.0 if abs(v) < ROUNDING else v for v in values]
    mean = statistics.fmean(values)
    h = half_width(values)
    if h is None:
        return f"{mean:.4g}"
    if h < ROUNDING * max(1.0, abs(mean)):
        return f"{mean:.4g} ± 0"
    decimals = max(0, 1 - math.floor(math.log10(h)))
    return f"{mean:.{decimals}f} ± {h:.{decimals}f}"


@dataclasses.dataclass(frozen=True)
class ImageTerms:
    """One seed's image-level record of a column's value, from which the image noise of a difference between two
    methods evaluated on the same images follows (:func:`image_variance`). ``influence``: each image's contribution
    to the value, centred (a mean over images: the image's value minus the mean; a ratio of sums, linearised);
    ``draws``: the value on resamples of the images, drawn alike for every method of the seed."""

    kind: Literal["influence", "draws"]
    values: np.ndarray

    @classmethod
    def of_mean(cls, per_image: Sequence[float]) -> ImageTerms:
        values = np.asarray(per_image, dtype=float)
        return cls("influence", values - values.mean())

    @classmethod
    def of_ratio(cls, numerators: Sequence[float], denominators: Sequence[float]) -> ImageTerms | None:
        """Σ numerator / Σ denominator, linearised (the delta method): image i moves it by (n_i − R d_i) / mean(d)."""
        top, bottom = np.asarray(numerators, dtype=float), np.asarray(denominators, dtype=float)
        if len(top) != len(bottom) or bottom.sum() <= 0:
            return None
        return cls("influence", (top - top.sum() / bottom.sum() * bottom) / bottom.mean())

    @classmethod
    def of_draws(cls, draws: Sequence[float]) -> ImageTerms:
        return cls("draws", np.asarray(draws, dtype=float))

    def scaled(self, factor: float) -> ImageTerms:
        """The terms of ``factor`` × the value (a column's loss: its value signed by the better direction)."""
        return ImageTerms(self.kind, factor * self.values)


def image_variance(a: ImageTerms, b: ImageTerms) -> float | None:
    """The variance that the images alone give the difference of two values measured on the same images; None when
    the terms do not pair (another kind or image count, or fewer than two)."""
    if a.kind != b.kind or len(a.values) != len(b.values) or len(a.values) < 2:
        return None
    variance = float(np.var(a.values - b.values, ddof=1))
    return variance / len(a.values) if a.kind == "influence" else variance


def paired_p(
    a: Mapping[int, float],
    b: Mapping[int, float],
    images: tuple[Mapping[int, ImageTerms], Mapping[int, ImageTerms]] | None = None,
) -> float | None:
    """Two-sided paired t-test p-value over the seeds both have; None with fewer than two shared seeds. With
    ``images`` (each side's :class:`ImageTerms` per seed) that pair on every shared seed, the variance of the
    differences is at least their mean image variance (the module's note)."""
    seeds = sorted(a.keys() & b.keys())
    if len(seeds) < 2:
        return None
    differences = [a[s] - b[s] for s in seeds]
    floor = _image_floor(seeds, *images) if images else None
    if floor is not None and floor > statistics.variance(differences):
        t = statistics.fmean(differences) / math.sqrt(floor / len(seeds))
        return float(2 * stats.t.sf(abs(t), len(seeds) - 1))
    if statistics.pstdev(differences) <= ROUNDING * max(1.0, *map(abs, differences)):
        # No spread: the t statistic is 0/0 (identical) or infinite (a constant shift).
        return 1.0 if all(abs(d) <= ROUNDING for d in differences) else 0.0
    return float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)


def _image_floor(seeds: list[int], a: Mapping[int, ImageTerms], b: Mapping[int, ImageTerms]) -> float | None:
    """The mean over ``seeds`` of the image variance of a − b; None unless every seed has paired terms."""
    variances = [image_variance(a[s], b[s]) if s in a and s in b else None for s in seeds]
    return None if None in variances else statistics.fmean(variances)


def holm(pvalues: Mapping[Hashable, float]) -> dict[Hashable, bool]:
    """Which hypotheses Holm's step-down procedure rejects at family-wise level :data:`ALPHA`."""
    ordered = sorted(pvalues.items(), key=lambda item: item[1])
    rejected = {}
    stopped = False
    for rank, (key, p) in enumerate(ordered):
        stopped = stopped or p > ALPHA / (len(ordered) - rank)
        rejected[key] = not stopped
    return rejected


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> str:
    """Kendall's τ-b between two scorings of the same items, formatted; 'undefined' when one of them is all ties."""
    tau = stats.kendalltau(a, b).statistic
    return "undefined" if math.isnan(tau) else f"{tau:.2f}"


def ratio_noise(
    seeds: Sequence[tuple[Sequence[float], Sequence[float]]], resamples: int = 2000, seed: int = 0
) -> dict[str, Any] | None:
    """How much of a ratio score's uncertainty comes from the evaluation images, for a score that is, per seed,
    Σ numerator / Σ denominator over that seed's images (the forget score).

    Returns each seed's score (``per_seed``) and their mean; ``between``, the variance of the per-seed scores
    (training randomness and image sampling together: each seed draws its own split); ``within``, the mean over seeds
    of the bootstrap variance of a seed's score when its images are resampled (image sampling alone); and the 95 %
    percentile interval of a two-level bootstrap (seeds resampled, then each chosen seed's images). With 2–3 seeds
    the seed level has few distinct resamples and the interval is too narrow; it is shown beside, not instead of, the
    t-interval. None when a seed has no images or a zero denominator."""
    generator = np.random.default_rng(seed)
    per_seed, resampled = [], []
    for numerators, denominators in seeds:
        top, bottom = np.asarray(numerators, dtype=float), np.asarray(denominators, dtype=float)
        if len(top) == 0 or len(top) != len(bottom) or bottom.sum() <= 0:
            return None
        picks = generator.integers(0, len(top), size=(resamples, len(top)))
        resampled.append(top[picks].sum(1) / np.maximum(bottom[picks].sum(1), np.finfo(float).tiny))
        per_seed.append(float(top.sum() / bottom.sum()))
    return _two_level(per_seed, resampled, generator, resamples)


def draws_noise(
    seeds: Sequence[tuple[float, Sequence[float]]], resamples: int = 2000, seed: int = 0
) -> dict[str, Any] | None:
    """:func:`ratio_noise` for a score that is not a mean over images (FID, KID): per seed, its value and its values
    on resamples of that seed's images, drawn when the run evaluated it (``evaluate.image_bootstrap``). Each seed's
    resamples are centred on its value: a set metric on resamples with repeated images is shifted (FID rises as the
    distinct images fall), and only their spread is the images' noise. The same fields; None when a seed has fewer
    than two draws."""
    draws = [np.asarray(values, dtype=float) for _, values in seeds]
    if not draws or min(len(d) for d in draws) < 2:
        return None
    generator = np.random.default_rng(seed)
    centred = [value + d - d.mean() for (value, _), d in zip(seeds, draws)]
    picked = [d[generator.integers(0, len(d), size=resamples)] for d in centred]
    return _two_level([float(value) for value, _ in seeds], picked, generator, resamples)


def _two_level(
    per_seed: list[float], resampled: list[np.ndarray], generator: np.random.Generator, resamples: int
) -> dict[str, Any]:
    """The fields of :func:`ratio_noise` from each seed's score and ``resamples`` of it over its images."""
    chosen = generator.integers(0, len(per_seed), size=(resamples, len(per_seed)))
    means = np.stack(resampled)[chosen, np.arange(resamples)[:, None]].mean(1)
    low, high = np.percentile(means, [100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2])
    return {
        "per_seed": per_seed,
        "mean": statistics.fmean(per_seed),
        "between": statistics.variance(per_seed) if len(per_seed) > 1 else None,
        "within": statistics.fmean(float(scores.var(ddof=1)) for scores in resampled),
        "low": float(low),
        "high": float(high),
    }
