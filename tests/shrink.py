"""Overrides that shrink any suite of this repository to seconds, for end-to-end tests on tiny data."""

from __future__ import annotations

# Each model id of the suites shrunk to seconds (keeping what must fit the image size, such as MAE's patch and the
# number of VQ downsampling stages); one loader process for the image-folder datasets, as a GPU node has several.
MODELS = {
    "ae": ["params.width=4", "train.batch_size=16"],
    "vqgan": [
        *("params.channels=[8, 8]", "params.codebook=16", "params.code_dim=4", "params.groups=4"),
        *("params.width=16", "params.depth=2", "params.heads=2", "params.tokenizer_steps=3"),
        *("train.batch_size=8", "resources.cpus=2"),
    ],
    "palette": [
        *("params.channels=[8, 16]", "params.groups=4", "params.layers_per_block=1", "params.attention=false"),
        *("params.sampling_steps=2", "params.train_timesteps=50", "train.batch_size=8", "resources.cpus=2"),
    ],
    "mae": [
        *("params.width=16", "params.depth=1", "params.heads=2", "params.decoder_width=16"),
        *("params.decoder_depth=1", "train.batch_size=8", "resources.cpus=2"),
    ],
    "vq": [
        *("params.channels=[8, 8, 8]", "params.codebook=16", "params.code_dim=4", "params.groups=4"),
        *("params.width=16", "params.depth=2", "params.heads=2", "params.tokenizer_steps=3", "train.batch_size=8"),
    ],
    "diffusion": [
        *("params.channels=[8, 16]", "params.groups=4", "params.sampling_steps=2", "params.train_timesteps=50"),
        "train.batch_size=8",
    ],
}


def small(suite) -> list[str]:
    """Overrides that shrink a suite's models, training, attack, methods and metrics to seconds."""
    overrides = [f"models.{m.id}.{setting}" for m in suite.models for setting in ["train.epochs=1", *MODELS[m.id]]]
    if suite.attack is not None:
        overrides += ["attack.params.epochs=1", "attack.params.batch_size=8", "attack.params.forget_batch_size=8"]
    for method in suite.methods:
        params = method.entry.params or {}
        prefix = f"methods.{method.id}.params"
        if "epochs" in params:
            overrides += [f"{prefix}.epochs=1", f"{prefix}.batch_size=8"]
        if "ascent" in params:
            overrides += [
                f"{prefix}.ascent.iterations=2",
                f"{prefix}.ascent.probe_size=4",
                f"{prefix}.ascent.batch_size=8",
            ]
        if "retain" in params:
            overrides += [f"{prefix}.retain.epochs=1", f"{prefix}.retain.batch_size=8"]
    for metric in suite.metrics:
        if metric.name in ("inception-score", "clip-similarity"):  # no offline Inception logits or CLIP weights
            overrides.append(f"metrics.{metric.id}.params.extractor.name=efficientnet-lite0")
        if metric.name == "inception-score":
            overrides.append(f"metrics.{metric.id}.params.splits=2")
    # Four images per split through the feature extractors (an Inception forward is about 0.1 s per image here).
    return overrides + ["evaluate.batch_size=16", "evaluate.feature_images=4"]
