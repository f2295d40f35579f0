"""Realistic-I2I Fig. 6: a t-SNE map of image embeddings of a cell's restorations beside a reference's.

The paper takes 50 restorations of D_R and of D_F, embeds them with CLIP together with the attack model's
restorations of the same inputs, and shows that the unlearned model's D_R embeddings stay with the reference's while
its D_F embeddings move away. Here the extractor, the number of images and the reference (the ground truth or an
upstream model's restorations) are the suite's ``evaluate.embedding_map``. The map is computed when the cell runs,
jointly for the four groups (D_R / D_F × output / reference), with scikit-learn's t-SNE seeded by the cell's seed,
and only its 2-D coordinates are stored beside the cell's samples, so the figure is redrawn from results alone.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import torch

from .data import SplitData
from .features import loaded_extractor, selection
from .metrics import ExtractorRef
from .models import I2IModel
from .params import Where

PARTS = ("retain", "forget")


@dataclasses.dataclass(frozen=True)
class EmbeddingMapConfig:
    extractor: ExtractorRef = dataclasses.field(metadata={"help": "the feature extractor plugin (paper: CLIP)"})
    feature: str = dataclasses.field(default="embedding", metadata={"help": "which extractor output to embed"})
    images: int = dataclasses.field(default=50, metadata={"help": "evenly spaced images per split (paper: 50)"})
    reference: Literal["ground-truth", "original", "attack", "retrained"] = dataclasses.field(
        default="ground-truth", metadata={"help": "what the outputs are mapped beside (paper: the attack model)"}
    )
    perplexity: float = dataclasses.field(default=30.0, metadata={"help": "t-SNE perplexity (capped by the count)"})

    def __post_init__(self):
        if self.images < 5:
            raise ValueError("embedding_map.images must be at least 5")

    def check(self, where: Where) -> None:
        cls, _ = self.extractor.bound
        if self.feature not in cls.outputs:
            raise (where / "feature").error(f"'{cls.name}' gives {', '.join(cls.outputs)}, not '{self.feature}'")


@torch.no_grad()
def embedding_map(
    config: EmbeddingMapConfig,
    model: I2IModel,
    reference: I2IModel | None,
    data: SplitData,
    seed: int,
    batch_size: int,
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(what the row records, ``tsne/<split>/<output|reference>`` → N×2 coordinates for the samples file)."""
    from sklearn.manifold import TSNE

    extractor = loaded_extractor(*config.extractor.bound, data.device)
    embeddings: dict[tuple[str, str], torch.Tensor] = {}
    for part in (p for p in PARTS if p in data.eval_parts):
        size = data.size(f"eval/{part}")
        keep = torch.zeros(size, dtype=torch.bool)
        keep[selection(size, config.images)] = True
        outputs, references, start = [], [], 0
        for batch in data.batches(f"eval/{part}", batch_size):
            rows = keep[start : start + len(batch.inputs)].to(batch.inputs.device)
            start += len(batch.inputs)
            if not bool(rows.any()):
                continue
            inputs, mask = batch.inputs[rows], batch.mask[rows]
            outputs.append(model.restore(inputs, mask))
            references.append(batch.targets[rows] if reference is None else reference.restore(inputs, mask))
        for what, images in (("output", outputs), ("reference", references)):
            embeddings[part, what] = extractor(torch.cat(images), (config.feature,))[config.feature].float().cpu()
    stacked = torch.cat(list(embeddings.values()))
    perplexity = min(config.perplexity, (len(stacked) - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    points = torch.from_numpy(tsne.fit_transform(stacked.double().numpy())).float()
    coordinates, start = {}, 0
    for (part, what), values in embeddings.items():
        coordinates[f"tsne/{part}/{what}"] = points[start : start + len(values)]
        start += len(values)
    cosine = {
        part: float(
            torch.nn.functional.cosine_similarity(embeddings[part, "output"], embeddings[part, "reference"]).mean()
        )
        for part in PARTS
        if (part, "output") in embeddings
    }
    summary = {
        "extractor": extractor.describe(),
        "feature": config.feature,
        "reference": config.reference,
        "images": {part: len(embeddings[part, "output"]) for part in cosine},
        "perplexity": perplexity,
        "cosine_to_reference": cosine,
    }
    return summary, coordinates
