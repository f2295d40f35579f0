"""Fashion-MNIST suites end to end on the real files at a tiny scale (the quickstart and the sample suite have their
own tests in test_quickstart.py), so that no committed suite's code path can rot.

Every suite validates in test_suite.py; end to end, one suite stands for each code path: each model family, each
task (inpainting, outpainting), each attack and audit (backdoor with a centred and a border marker, membership
inference with a shadow model), the proxy retain set and I2I-SOTA's own setting. The suites left out combine the
same code paths with other settings (hole size, no poisoning, retain epochs), which validation checks;
``UNLEARN_BENCH_ALL_SUITES=1`` runs them all."""

from __future__ import annotations

import os

import pytest
from shrink import run_shrunk
from test_quickstart import FMNIST, ROOT

REPRESENTATIVE = {
    "fashion-mnist-families",  # all four model families
    "fashion-mnist-poison",  # the backdoor attack and audit, t-SNE maps, on the autoencoder
    "fashion-mnist-membership",  # membership inference with a shadow model
    "fashion-mnist-i2i-sota",  # the MAE, the proxy retain set
    "fashion-mnist-vq",  # VQ with the backdoor, unseen classes
    "fashion-mnist-vq-outpaint",  # outpainting on token grids
    "fashion-mnist-diffusion-outpaint-poisoned",  # diffusion, outpainting, a border marker
    "fashion-mnist-poison-tuned",  # sweeps, validation images and the tuned leaderboard
}
SUITES = sorted(
    p.stem
    for p in (ROOT / "suites").glob("fashion-mnist-*.yaml")
    if p.stem != "fashion-mnist-sample"  # test_quickstart runs it
    and (p.stem in REPRESENTATIVE or os.environ.get("UNLEARN_BENCH_ALL_SUITES"))
)
TINY = [
    "datasets.fmnist.split.train_per_class=12",
    "datasets.fmnist.split.test_per_class=4",
    "seeds=[0]",
]


@pytest.mark.slow
@pytest.mark.skipif(
    not (FMNIST / "train-images-idx3-ubyte.gz").is_file(), reason="needs Debian's dataset-fashion-mnist (make data)"
)
@pytest.mark.parametrize("name", SUITES)
def test_fashion_mnist_suite_runs_end_to_end(name, tmp_path, monkeypatch, shared_cache):
    from unlearn_bench.plugins import reset_plugins

    reset_plugins()
    monkeypatch.setenv("UNLEARN_BENCH_CACHE", str(shared_cache))
    run_shrunk(ROOT / "suites" / f"{name}.yaml", TINY, tmp_path)
