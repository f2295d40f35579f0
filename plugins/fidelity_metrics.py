"""The papers' distribution metrics on extractor features: FID, KID and IS through torch-fidelity's own formulas,
and the per-image CLIP cosine of Li et al.

Each metric names its extractor in ``params.extractor`` (a feature-extractor plugin and its parameters). With the
papers' extractor the heading is the papers' name (FID, KID, IS, CLIP); with another it says which one, e.g.
'IS-style (EfficientNet-Lite0)', because such numbers are not comparable with the papers'.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import unlearn_bench
from unlearn_bench.errors import CellFailed
from unlearn_bench.metrics import ExtractorRef, FeatureMetric


def _inception() -> ExtractorRef:
    return ExtractorRef("inception-v3-tf")


def _clip() -> ExtractorRef:
    return ExtractorRef("open-clip")


class FID(FeatureMetric):
    """Fréchet distance between the pool features of the outputs and of the reference set (torch-fidelity)."""

    @dataclasses.dataclass(frozen=True)
    class Params:
        extractor: ExtractorRef = dataclasses.field(default_factory=_inception)

    name = "fid"
    behaviour_version = 1
    display_name = "FID"
    generic_name = "FD"
    higher_is_better = False
    feature = "pool"
    papers_extractor = "inception-v3-tf"

    def score(self, features, reference):
        a, b = features.double(), reference.double()
        n, m, d = len(a), len(b), a.shape[1]
        if min(n, m) < 2:
            raise CellFailed(f"FID needs at least 2 images in each set, got {n} and {m}")
        mu_a, mu_b = a.mean(0), b.mean(0)
        a, b = a - mu_a, b - mu_b
        if n * m * min(n, m) > d**3:
            trace_sqrt = _trace_sqrt_product(a.T @ a / (n - 1), b.T @ b / (m - 1))
        else:
            # For sets smaller than the feature dimension: the non-zero eigenvalues of S1·S2 are the squared singular
            # values of A·Bᵀ/√((n−1)(m−1)), so tr √(S1·S2) is that n×m matrix's nuclear norm, with no d×d
            # eigendecomposition (seconds for d = 2048 on a CPU).
            trace_sqrt = torch.linalg.svdvals(a @ b.T).sum() / ((n - 1) * (m - 1)) ** 0.5
        fid = (mu_a - mu_b).square().sum() + a.square().sum() / (n - 1) + b.square().sum() / (m - 1) - 2 * trace_sqrt
        return max(float(fid), 0.0)  # a distance: identical sets come out at ±1e-14 by rounding


def _trace_sqrt_product(s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    """tr √(S1·S2) for covariance matrices: S1·S2 is similar to √S1·S2·√S1, which is symmetric positive
    semi-definite, so the trace is the sum of the square roots of its eigenvalues (torch-fidelity takes the real part
    of SciPy's ``sqrtm(S1·S2)``: the same number, here on the features' device)."""
    values, vectors = torch.linalg.eigh(s1)
    root = (vectors * values.clamp(min=0).sqrt()) @ vectors.T
    return torch.linalg.eigvalsh(root @ s2 @ root).clamp(min=0).sqrt().sum()


class KID(FeatureMetric):
    """Kernel (polynomial) MMD between pool features, averaged over random subsets (torch-fidelity); unbiased, so
    better than FID for the small sets of CPU runs. The subset size shrinks to the smaller set's size."""

    @dataclasses.dataclass(frozen=True)
    class Params:
        extractor: ExtractorRef = dataclasses.field(default_factory=_inception)
        subsets: int = dataclasses.field(default=100, metadata={"min": 1})
        subset_size: int = dataclasses.field(default=1000, metadata={"min": 1})
        seed: int = 2020

    name = "kid"
    behaviour_version = 1
    display_name = "KID"
    generic_name = "KD"
    higher_is_better = False
    feature = "pool"
    papers_extractor = "inception-v3-tf"

    def score(self, features, reference):
        size = self._size(features, reference)
        return float(polynomial_mmd(features, reference, self.params.subsets, size, self.params.seed).mean())

    def score_resampled(self, features, reference, rows):
        """KID on each row of image indices from the kernel matrices of the whole sets, computed once: a resample's
        kernel entries are entries of those (the same numbers up to rounding), so each row costs gathers and sums
        instead of its own products of 2048-wide features. Above ``KERNEL_IMAGES`` images, row by row."""
        if len(features) > KERNEL_IMAGES or len(reference) > KERNEL_IMAGES:
            return super().score_resampled(features, reference, rows)
        if not len(rows):
            return []
        kernels = _kernels(features.double(), reference.to(features.device).double())
        size = self._size(rows[0], rows[0])  # every row has as many images; so its subsets are the same draws
        index_x, index_y = _subset_draws(
            len(rows[0]), len(rows[0]), self.params.subsets, size, self.params.seed, rows.device
        )
        return [float(_mmd_of_blocks(kernels, r[index_x], r[index_y], size).mean()) for r in rows]

    def _size(self, features, reference) -> int:
        size = min(self.params.subset_size, len(features), len(reference))
        if size < 2:
            raise CellFailed(f"KID needs at least 2 images in each set, got {len(features)} and {len(reference)}")
        return size


KERNEL_IMAGES = 4096  # KID's resamples read n × n kernel matrices (3 × 128 MB in double at this size)


def _kernels(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The polynomial kernel k(a, b) = (a·b/d + 1)³ within x, within y and between them (each batched over a leading
    dimension, if any)."""
    d = x.shape[-1]
    return tuple(((p @ q.mT) / d + 1) ** 3 for p, q in ((x, x), (y, y), (x, y)))


def _subset_draws(n: int, m: int, subsets: int, size: int, seed: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The indices of torch-fidelity's KID subsets: ``subsets`` draws of ``size`` of n and of m without replacement,
    from NumPy's generator seeded with ``seed``."""
    rng = np.random.RandomState(seed)
    draws = [(rng.choice(n, size, replace=False), rng.choice(m, size, replace=False)) for _ in range(subsets)]
    return (
        torch.as_tensor(np.stack([a for a, _ in draws]), device=device),
        torch.as_tensor(np.stack([b for _, b in draws]), device=device),
    )


def _mmd_terms(k_aa: torch.Tensor, k_bb: torch.Tensor, k_ab: torch.Tensor, size: int) -> torch.Tensor:
    """The unbiased MMD² of each subset from its size × size kernel blocks (batched over subsets)."""
    within = (k_aa.sum((1, 2)) - k_aa.diagonal(dim1=1, dim2=2).sum(1)) + (
        k_bb.sum((1, 2)) - k_bb.diagonal(dim1=1, dim2=2).sum(1)
    )
    return within / (size * (size - 1)) - 2 * k_ab.sum((1, 2)) / size**2


def _mmd_of_blocks(kernels, index_x: torch.Tensor, index_y: torch.Tensor, size: int) -> torch.Tensor:
    """:func:`_mmd_terms` of subsets given by indices into the whole sets, with their blocks gathered from the whole
    sets' kernel matrices (``_kernels``), a few hundred MB at a time."""
    k_xx, k_yy, k_xy = kernels
    chunk = max(1, (256 << 20) // (3 * 8 * size * size))
    terms = []
    for start in range(0, len(index_x), chunk):
        a, b = index_x[start : start + chunk], index_y[start : start + chunk]
        blocks = (
            k_xx[a[:, :, None], a[:, None, :]],
            k_yy[b[:, :, None], b[:, None, :]],
            k_xy[a[:, :, None], b[:, None, :]],
        )
        terms.append(_mmd_terms(*blocks, size))
    return torch.cat(terms)


def polynomial_mmd(x: torch.Tensor, y: torch.Tensor, subsets: int, size: int, seed: int) -> torch.Tensor:
    """torch-fidelity's KID terms, computed on the features' device: for each of ``subsets`` random subsets (the same
    indices as torch-fidelity draws, from NumPy's generator seeded with ``seed``), the unbiased MMD² of the kernel
    k(a, b) = (a·b/d + 1)³. Subsets are batched, a few hundred MB at a time."""
    index_x, index_y = _subset_draws(len(x), len(y), subsets, size, seed, x.device)
    x, y = x.double(), y.to(x.device).double()
    per_subset = 8 * size * (2 * x.shape[1] + 3 * size)
    chunk = max(1, (256 << 20) // per_subset)
    terms = []
    for start in range(0, subsets, chunk):
        a, b = x[index_x[start : start + chunk]], y[index_y[start : start + chunk]]
        terms.append(_mmd_terms(*_kernels(a, b), size))
    return torch.cat(terms)


class InceptionScore(FeatureMetric):
    """Inception Score of the outputs alone (exp of the mean KL between class posteriors and their marginal, over
    ``splits`` chunks; torch-fidelity). The reference is not used."""

    @dataclasses.dataclass(frozen=True)
    class Params:
        extractor: ExtractorRef = dataclasses.field(default_factory=_inception)
        splits: int = dataclasses.field(default=10, metadata={"min": 1})
        seed: int = 2020

    name = "inception-score"
    behaviour_version = 1
    display_name = "IS"
    generic_name = "IS-style"
    higher_is_better = True
    feature = "logits"
    papers_extractor = "inception-v3-tf"
    uses_reference = False

    def score(self, features, reference):
        if len(features) < self.params.splits:
            raise CellFailed(f"IS over {self.params.splits} splits needs as many images or more, got {len(features)}")
        from torch_fidelity.metric_isc import isc_features_to_metric

        return isc_features_to_metric(features, splits=self.params.splits, rng_seed=self.params.seed)[
            "inception_score_mean"
        ]


class ClipSimilarity(FeatureMetric):
    """Mean cosine similarity between the image embedding of each output and of its own reference image (Li et
    al.'s "CLIP", 0–1 for natural images; 1 = identical embeddings)."""

    @dataclasses.dataclass(frozen=True)
    class Params:
        extractor: ExtractorRef = dataclasses.field(default_factory=_clip)

    name = "clip-similarity"
    behaviour_version = 1
    display_name = "CLIP"
    generic_name = "Cosine"
    higher_is_better = True
    feature = "embedding"
    papers_extractor = "open-clip"
    paired = True

    def score(self, features, reference):
        return float(torch.nn.functional.cosine_similarity(features.double(), reference.double(), dim=1).mean())


@unlearn_bench.hookimpl
def register_metrics(register):
    for metric in (FID, KID, InceptionScore, ClipSimilarity):
        register(metric)
