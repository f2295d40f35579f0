"""Realistic-I2I Fig. 6: t-SNE maps of output embeddings, computed per cell and drawn from results alone."""

from __future__ import annotations

import pytest
import torch
from test_fidelity import pixels  # noqa: F401 - the stand-in extractor fixture
from test_runner import make_runner
from unlearn_bench.errors import ConfigError
from unlearn_bench.leaderboard import write_leaderboards
from unlearn_bench.suite import load_suite

MAP = "evaluate: {batch_size: 16, embedding_map: {extractor: {name: pixels}, images: 8, reference: retrained}}\n"


def suite(tiny, tmp_path, evaluate=MAP):
    text = tiny.SUITE.replace("seeds: [0, 1]", "seeds: [0]").replace("evaluate: {batch_size: 16}\n", evaluate)
    return tiny.write_suite(tmp_path, text=text)


def test_cells_store_a_seeded_map_and_the_leaderboard_draws_it(pixels, tmp_path):  # noqa: F811
    runner = make_runner(suite(pixels, tmp_path), tmp_path)
    assert all("retrained" in cell.needs for cell in runner.cells)
    assert runner.run().failed == []
    rows = {r["cell"]["axes"]["method"]: r for r in runner.results.rows("tiny")}
    summary = rows["realistic-i2i"]["embedding_map"]
    assert summary["images"] == {"retain": 8, "forget": 8} and summary["extractor"]["name"] == "pixels"
    assert summary["reference"] == "retrained" and summary["perplexity"] == pytest.approx(31 / 3)
    # The retrained method's outputs are the reference's: identical embeddings, cosine 1.
    assert rows["retrain"]["embedding_map"]["cosine_to_reference"] == pytest.approx({"retain": 1.0, "forget": 1.0})
    cell = next(c for c in runner.cells if c.method.id == "realistic-i2i")
    samples = runner.results.samples("tiny", cell.id)
    assert {k for k in samples if k.startswith("tsne/")} == {
        f"tsne/{part}/{what}" for part in ("retain", "forget") for what in ("output", "reference")
    }
    assert samples["tsne/forget/output"].shape == (8, 2)
    # The same seed gives the same map.
    again = make_runner(suite(pixels, tmp_path), tmp_path / "again")
    again.run()
    repeat = again.results.samples("tiny", cell.id)
    assert torch.equal(repeat["tsne/forget/output"], samples["tsne/forget/output"])

    changed, _ = write_leaderboards(runner.results, tmp_path / "lb", ["tiny"], index=False)
    assert (tmp_path / "lb" / "tiny-tsne-tiny-hole-ae.png").is_file()
    board = (tmp_path / "lb" / "tiny.md").read_text()
    assert "## Embedding maps" in board and "![tiny-tsne-tiny-hole-ae.png]" in board


def test_adding_a_map_reruns_cells_but_reuses_their_models(pixels, tmp_path):  # noqa: F811
    plain = make_runner(suite(pixels, tmp_path, "evaluate: {batch_size: 16}\n"), tmp_path)
    mapped = make_runner(suite(pixels, tmp_path), tmp_path)
    assert all(a.key != b.key for a, b in zip(plain.cells, mapped.cells))
    assert [a.keys for a in plain.cells] == [b.keys for b in mapped.cells]
    assert [c.needs for c in plain.cells] == [("original", "retrained")] * 3  # psnr-retrained needs it anyway


def test_map_settings_are_checked_with_file_and_key(pixels, tmp_path):  # noqa: F811
    bad_feature = MAP.replace("images: 8", "images: 8, feature: logit")
    with pytest.raises(ConfigError, match=r"evaluate\.embedding_map\.feature.*not 'logit'"):
        load_suite(suite(pixels, tmp_path, bad_feature))
    with pytest.raises(ConfigError, match=r"evaluate\.embedding_map\.reference.*needs an 'attack'"):
        load_suite(suite(pixels, tmp_path, MAP.replace("retrained", "attack")))
    with pytest.raises(ConfigError, match=r"embedding_map\.extractor\.name.*did you mean 'pixels'"):
        load_suite(suite(pixels, tmp_path, MAP.replace("name: pixels", "name: pixel")))
