"""Metric plugins: a number computed from restored images and a reference set.

Pixel metrics (:class:`Metric`) accumulate batch by batch. Feature metrics (:class:`FeatureMetric`: FID, KID, IS,
CLIP-style cosine) are computed from the features a feature extractor plugin gives for the whole set of restored
images and, where they compare, the reference set's features (which the runner caches on disk).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch

from .component import Component
from .params import Where


class Metric(Component):
    """Base class of metric plugins.

    The runner makes a fresh instance for every (split, reference) it evaluates, calls ``update`` once per batch
    with the restored images, the reference images and the hole mask (1 = generated), then ``compute()``. The
    reference is what the suite names: the ground truth, or the outputs of the original, attack or retrained
    model on the same inputs.
    Subclasses must set ``higher_is_better`` and ``display_name`` (the leaderboard's column heading), and report
    in ``extractor()`` any feature extractor and weights behind the number (None for pixel metrics; the harness
    records it for a ``FeatureMetric``, whose features it computes).
    """

    higher_is_better: ClassVar[bool]
    display_name: ClassVar[str]

    def update(self, outputs: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> None:
        raise NotImplementedError

    def compute(self) -> float:
        raise NotImplementedError

    def heading(self) -> str:
        """The column heading for this configured metric (feature metrics name their extractor when it is not
        the papers')."""
        return self.display_name

    def extractor(self) -> dict[str, Any] | None:
        return None

    def per_image(self) -> list[float] | None:
        """For a metric that is a mean over images: each image's value, in evaluation order (their mean is
        ``compute()``); the row keeps them so the leaderboard can resample images. None otherwise."""
        return None


@dataclasses.dataclass(frozen=True)
class ExtractorRef:
    """Which feature-extractor plugin a feature metric uses, with that plugin's parameters."""

    name: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def bind(self, cls: type, params: Any) -> None:
        """Record the extractor plugin class this reference names and its parsed parameters. Loading a suite does it
        for every reference in it (``unlearn_bench.suite.bind_extractors``): a metric never looks a plugin up."""
        object.__setattr__(self, "_bound", (cls, params))  # not a field: keys and equality see name and params only

    @property
    def bound(self) -> tuple[type, Any]:
        """(the extractor plugin class, its parsed parameters), as bound when the suite was loaded."""
        try:
            return self.__dict__["_bound"]
        except KeyError:
            raise RuntimeError(
                f"the extractor reference '{self.name}' is not bound to a plugin: load the suite with "
                "unlearn_bench.suite.load_suite, or call unlearn_bench.suite.bind_extractors on the parameters"
            ) from None


class FeatureMetric(Metric):
    """Base class of metrics computed from extractor features of the whole evaluated set.

    Subclasses set ``feature`` (which extractor output they use: 'pool', 'logits', 'embedding'), ``papers_extractor``
    (the extractor the papers used: only with it does the heading stay ``display_name``, otherwise it reads
    '``generic_name`` (extractor)'), ``uses_reference`` (False for reference-free scores such as IS) and
    ``paired`` (True when output *i* is compared with reference image *i*), and implement ``score``. Their Params
    must have a field ``extractor: ExtractorRef``.
    """

    feature: ClassVar[str]
    papers_extractor: ClassVar[str]
    generic_name: ClassVar[str]
    uses_reference: ClassVar[bool] = True
    paired: ClassVar[bool] = False

    @classmethod
    def check_params(cls, params: Any, where: Where) -> None:
        ref = params.extractor
        extractor, _ = ref.bound
        if cls.feature not in extractor.outputs:
            raise (where / "extractor" / "name").error(
                f"metric '{cls.name}' needs the extractor output '{cls.feature}', which '{ref.name}' does not give "
                f"(it gives {', '.join(extractor.outputs)})"
            )

    def extractor_setup(self) -> tuple[type, Any]:
        """The extractor class and its parsed parameters."""
        return self.params.extractor.bound

    def heading(self) -> str:
        cls, params = self.extractor_setup()
        if cls.name == self.papers_extractor and cls.is_papers(params):
            return self.display_name
        return f"{self.generic_name} ({cls.display_name})"

    def score(self, features: torch.Tensor, reference: torch.Tensor | None) -> float:
        raise NotImplementedError

    def score_resampled(
        self, features: torch.Tensor, reference: torch.Tensor | None, rows: torch.Tensor
    ) -> list[float]:
        """``score`` on each row of image indices (resamples or subsets), outputs and reference indexed alike. A
        metric may override it to share work between the rows; the values must stay ``score``'s."""
        return [float(self.score(features[r], None if reference is None else reference[r])) for r in rows]


def is_feature_metric(cls: type) -> bool:
    return isinstance(cls, type) and issubclass(cls, FeatureMetric)
