"""Overrides that shrink any suite of this repository to seconds, for end-to-end tests on tiny data."""

from __future__ import annotations

import json
from pathlib import Path

from unlearn_bench.cli import main
from unlearn_bench.suite import load_suite
from unlearn_bench.suitefile import merged_yaml

# Each model id of the suites shrunk to seconds (keeping what must fit the image size, such as MAE's patch and the
# number of VQ downsampling stages); one loader process for the image-folder datasets, as a GPU node has several.
MODELS = {
    "ae": ["params.width=4", "train.batch_size=16"],
    "vqgan": [
        *("params.channels=[8, 8]", "params.codebook=16", "params.code_dim=4", "params.groups=4"),
        *("params.width=16", "params.depth=2", "params.heads=2", "params.tokenizer_steps=1"),
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
        *("params.width=16", "params.depth=2", "params.heads=2", "params.tokenizer_steps=1", "train.batch_size=8"),
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
    if suite.doc.tuning is not None:  # one trial setting per swept method (its sweep's first draw) besides the default
        overrides.append("tuning.budget=1")
    for method in suite.methods:
        if method.trial:  # a tuning trial: its settings derive from its entry's, shrunk below
            continue
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
        # No offline Inception logits or CLIP weights for IS and CLIP. FID and KID keep the papers' TF-Inception in
        # the quickstart tests and test_fidelity; here the faster EfficientNet-Lite0 stands in.
        if metric.name in ("inception-score", "clip-similarity", "fid", "kid"):
            overrides.append(f"metrics.{metric.id}.params.extractor.name=efficientnet-lite0")
        if metric.name == "inception-score":
            overrides.append(f"metrics.{metric.id}.params.splits=2")
    # Four images per split through the feature extractors (an Inception forward is about 0.1 s per image here).
    return overrides + ["evaluate.batch_size=16", "evaluate.feature_images=4"]


def run_shrunk(path: Path, base: list[str], tmp_path: Path):
    """Run the suite at ``path`` with the ``base`` overrides (data location and size) and :func:`small`'s through the
    CLI; check that every cell ran and every table was written. Returns the suite and its leaderboard's text."""
    # The shrunk data are too small for a full tokenizer schedule: shrink it first, or the suite is refused.
    tokenizers = [
        f"models.{m.get('id', m['name'])}.params.tokenizer_steps=1"
        for m in merged_yaml(path)["models"]
        if m["name"] == "vq-transformer"
    ]
    overrides = base + small(load_suite(path, base + tokenizers))
    args = ["run", str(path), "--results", str(tmp_path / "results"), "--leaderboard", str(tmp_path / "lb"), "--quiet"]
    assert main(args + sum((["--set", s] for s in overrides), [])) == 0
    suite = load_suite(path, overrides)
    rows = [json.loads(p.read_text()) for p in (tmp_path / "results" / suite.name / "cells").glob("*.json")]
    grid = [suite.datasets, suite.tasks, suite.models, suite.methods, suite.doc.seeds]
    assert len(rows) == len(grid[0]) * len(grid[1]) * len(grid[2]) * len(grid[3]) * len(grid[4])
    assert all(r["status"] == "ok" for r in rows), [r["error"]["message"] for r in rows if r["status"] != "ok"]
    board = (tmp_path / "lb" / f"{suite.name}.md").read_text()
    for table in suite.doc.leaderboard.tables:
        assert table.title in board
    return suite, board
