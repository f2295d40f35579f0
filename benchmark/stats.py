"""Uncertainty and significance over seeds, for the leaderboards.

A leaderboard cell is the mean over the seeds that finished, shown with the half-width of its 95 % Student-t
interval (``mean ± h``: the interval is [mean − h, mean + h]); both are rounded to the same decimal place, given by two
significant figures of ``h``. Two methods are compared *paired over seeds* (a seed fixes the data split and the
starting model that every method of that seed shares) with a two-sided paired t-test; the comparisons within one
column are corrected for multiplicity with Holm's step-down procedure at family-wise level :data:`ALPHA`. With 2–3
seeds these tests have little power: a method left unmarked is "not shown to differ", never "shown equal".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Mapping, Sequence

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


def paired_p(a: Mapping[int, float], b: Mapping[int, float]) -> float | None:
    """Two-sided paired t-test p-value over the seeds both have; None with fewer than two shared seeds."""
    seeds = sorted(a.keys() & b.keys())
    if len(seeds) < 2:
        return None
    differences = [a[s] - b[s] for s in seeds]
    if statistics.pstdev(differences) <= ROUNDING * max(1.0, *map(abs, differences)):
        # No spread: the t statistic is 0/0 (identical) or infinite (a constant shift).
        return 1.0 if all(abs(d) <= ROUNDING for d in differences) else 0.0
    return float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)


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
