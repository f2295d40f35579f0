"""Damaged stored files: a truncated row or cached model is reported with its path, set aside and
recomputed, never read as valid; a row that lacks the schema's fields is refused on write and on read."""

from __future__ import annotations

import gzip
import json

import pytest
import torch
from unlearn_bench.artefacts import ArtefactStore
from unlearn_bench.cli import main
from unlearn_bench.results import ResultStore, check_row


def run(tiny, tmp_path, capsys) -> tuple[int, str]:
    path = tiny.write_suite(tmp_path)
    code = main(["run", str(path), "--results", str(tmp_path / "res"), "--quiet", "--no-leaderboard"])
    return code, capsys.readouterr().err


def metric_values(store: ResultStore) -> dict:
    return {(r["cell"]["id"], m["metric"], m["split"]): m["value"] for r in store.rows("tiny") for m in r["metrics"]}


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_damaged_rows_and_cached_models_are_set_aside_and_recomputed(tiny, tmp_path, capsys):
    assert run(tiny, tmp_path, capsys)[0] == 0
    store = ResultStore(tmp_path / "res")
    before = metric_values(store)
    row = store.row_path("tiny", "tiny__hole__ae__realistic-i2i__seed0")
    keys = json.loads(row.read_text())["artefacts"]
    cache = ArtefactStore(tmp_path / "cache" / "artefacts")
    models = {kind: cache.path(kind, key) for kind, key in keys.items() if key and cache.exists(kind, key)}
    assert {"original", "unlearned"} <= set(models)
    for path in [row, *models.values()]:
        truncate(path)

    # Read-only commands report the damaged row with its path and go on without it.
    assert main(["results", "--results", str(tmp_path / "res")]) == 0
    err = capsys.readouterr().err
    assert f"warning: result row {row} cannot be read (JSONDecodeError" in err and "moved" not in err
    assert row.is_file()

    code, err = run(tiny, tmp_path, capsys)
    assert code == 0
    assert f"result row {row} cannot be read" in err and f"moved to {row.name}.corrupt" in err
    for kind in ("unlearned", "original"):  # the cell's own model, then the one it starts from
        assert f"cached {kind} model {models[kind]} cannot be read" in err
        assert models[kind].with_name(models[kind].name + ".corrupt").is_file() and models[kind].is_file()
    assert (row.parent / f"{row.name}.corrupt").is_file()
    assert json.loads(row.read_text())["status"] == "ok"  # the cell ran again
    assert metric_values(store) == pytest.approx(before)  # and the rebuilt model gives the same numbers
    assert run(tiny, tmp_path, capsys) == (0, "")  # once recomputed, nothing is reported again


def test_a_row_without_the_schema_fields_is_refused():
    good = {
        "schema": 1,
        "cell": {"id": "c", "key": "k", "axes": {}},
        "seed": 0,
        "status": "ok",
        "metrics": [{"metric": "psnr", "split": "forget", "value": 1.0}],
    }
    check_row(good)
    for bad, message in [
        ({**good, "schema": 2}, "schema 2, expected 1"),
        ({**good, "cell": {"id": "c"}}, "'cell' needs string 'id' and 'key'"),
        ({**good, "status": "done"}, "'status' one of ok, failed"),
        ({**good, "metrics": [{"metric": "psnr"}]}, "'metrics' must be a list of objects"),
    ]:
        with pytest.raises(ValueError, match=message):
            check_row(bad)


def write_idx(folder, images: torch.Tensor, labels: torch.Tensor, prefix: str) -> None:
    """IDX files as Fashion-MNIST ships them (gzip), from uint8 images (N, 28, 28) and labels (N,)."""
    n = len(labels)
    header = (2051).to_bytes(4, "big") + n.to_bytes(4, "big") + (28).to_bytes(4, "big") + (28).to_bytes(4, "big")
    with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(header + images.numpy().tobytes())
    with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write((2049).to_bytes(4, "big") + n.to_bytes(4, "big") + labels.numpy().tobytes())


def test_the_unpacked_dataset_cache_is_keyed_by_its_sources(tmp_path, monkeypatch):
    from unlearn_bench.errors import UserError
    from unlearn_bench_plugins.fashion_mnist import FashionMNIST, Params

    monkeypatch.setenv("UNLEARN_BENCH_CACHE", str(tmp_path / "cache"))
    garbage, real = tmp_path / "garbage", tmp_path / "real"
    for folder in (garbage, real):
        folder.mkdir()
    for prefix in ("train", "t10k"):
        (garbage / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"not an IDX file"))
        (garbage / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"nor this"))
        labels = torch.arange(10, dtype=torch.uint8)
        write_idx(real, torch.full((10, 28, 28), 7, dtype=torch.uint8), labels, prefix)
    with pytest.raises(UserError, match=f"files under {garbage} cannot be read as IDX files"):
        FashionMNIST(Params(root=str(garbage))).load()
    data = FashionMNIST(Params(root=str(real))).load()  # the garbage unpacked before is not reused
    assert len(data.train) == 10 and data.train[3][1] == 3 and float(data.train[0][0].max()) == pytest.approx(7 / 255)
    assert len(list((tmp_path / "cache" / "datasets" / "fashion-mnist").iterdir())) == 2


def test_rows_are_written_with_number_lists_on_one_line_and_read_back_unchanged():
    from unlearn_bench.results import dump

    value = {"per_image": [0.5, -3e-07, 2], "nested": [{"curve": [1, 0.25]}, "text [1,  2] \x00 kept"], "flags": [True]}
    text = dump(value).decode()
    assert '"per_image": [0.5, -3e-07, 2]' in text and '"curve": [1, 0.25]' in text
    assert json.loads(text) == value  # strings (even one holding brackets or a NUL) and booleans are untouched
