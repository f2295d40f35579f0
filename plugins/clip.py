"""open_clip image embeddings, for the CLIP similarity Li et al. report: the mean cosine between the image embedding
of each output and of its own ground truth (ViT-H-14, laion2b_s32b_b79k, visual tower only).

No CLIP weights can be installed from a package registry. Weights, in this order: the suite's ``weights``
parameter (any open_clip checkpoint file); ``$UNLEARN_BENCH_CLIP_WEIGHTS``; open_clip's own download in the Hugging
Face cache; open_clip's download when ``UNLEARN_BENCH_DOWNLOAD_WEIGHTS=1``. ``config`` adds a model configuration
file (JSON, open_clip's format) for architectures open_clip does not ship.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn.functional as F
import unlearn_bench
from unlearn_bench.features import Extractor, Weights, find_weights, to_rgb_float

ENV = "UNLEARN_BENCH_CLIP_WEIGHTS"
PAPERS = ("ViT-H-14", "laion2b_s32b_b79k")
HF_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


class OpenClip(Extractor):
    """An open_clip model's normalised image embedding ('embedding')."""

    @dataclasses.dataclass(frozen=True)
    class Params:
        model: str = PAPERS[0]
        pretrained: str = PAPERS[1]  # the pretrained tag (names the weights; a local file goes in 'weights')
        weights: str | None = None
        config: str | None = None  # an open_clip model-config JSON for architectures open_clip does not ship
        batch_size: int = dataclasses.field(default=32, metadata={"min": 1})

    name = "open-clip"
    behaviour_version = 1
    display_name = "open_clip"
    outputs = ("embedding",)

    @classmethod
    def is_papers(cls, params) -> bool:
        return (params.model, params.pretrained) == PAPERS

    @property
    def input_policy(self) -> str:  # type: ignore[override]
        return "quantised to uint8 RGB (grey repeated), resized to the model's input size, CLIP normalisation"

    def _hf_cache_file(self) -> Path | None:
        from open_clip.pretrained import get_pretrained_cfg

        repo = get_pretrained_cfg(self.params.model, self.params.pretrained).get("hf_hub", "").rstrip("/")
        if not repo:
            return None
        from huggingface_hub import try_to_load_from_cache

        for filename in HF_FILES:
            found = try_to_load_from_cache(repo, filename)
            if isinstance(found, str):
                return Path(found)
        return None

    def _download(self) -> Path:
        import open_clip
        from open_clip.pretrained import get_pretrained_cfg

        cfg = get_pretrained_cfg(self.params.model, self.params.pretrained)
        if not cfg:
            raise FileNotFoundError(f"open_clip knows no weights '{self.params.pretrained}' for {self.params.model}")
        return Path(open_clip.pretrained.download_pretrained(cfg))

    def locate(self) -> Weights:
        return find_weights(
            f"open_clip {self.params.model} ({self.params.pretrained})",
            self.params.weights,
            ENV,
            [("open_clip's Hugging Face cache", self._hf_cache_file)],
            download=self._download,
            hint="No package registry ships CLIP weights: download the checkpoint where you have the internet and "
            f"name it with the extractor parameter 'weights' or ${ENV}",
        )

    def load(self, device: torch.device) -> None:
        import open_clip

        if self.params.config:
            open_clip.add_model_config(self.params.config)
        model = open_clip.create_model(self.params.model, pretrained=None)
        open_clip.load_checkpoint(model, str(self.weights.path), weights_only=True)  # a suite names the file
        self.net = model.eval().requires_grad_(False).to(device)
        cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
        size = model.visual.image_size
        self.size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        self.mean = torch.tensor(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN), device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg.get("std", open_clip.OPENAI_DATASET_STD), device=device).view(1, 3, 1, 1)
        self.device = device

    def extract(self, images: torch.Tensor, features: tuple[str, ...]) -> dict[str, torch.Tensor]:
        x = F.interpolate(to_rgb_float(images).to(self.device), size=self.size, mode="bicubic", align_corners=False)
        x = x.clamp(0, 1)
        return {"embedding": self.net.encode_image((x - self.mean) / self.std, normalize=True).float()}


@unlearn_bench.hookimpl
def register_extractors(register):
    register(OpenClip)
