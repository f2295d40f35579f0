"""Each built-in unlearning method's defining property, on the tiny data."""

from __future__ import annotations

import torch
from test_runner import make_runner

METHODS = """
methods:
  - {name: no-unlearning, id: none}
  - name: gradient-ascent
    params: {ascent: {iterations: 5, batch_size: 8, optimizer: {name: sgd, lr: 0.05}}}
  - {name: finetune-retain, params: {epochs: 1, batch_size: 16}}
  - {name: merged-objective, params: {epochs: 1, batch_size: 16, forget_batch_size: 8, forget_weight: 0.5}}
  - {name: noisy-label, params: {epochs: 3, batch_size: 16, forget_batch_size: 8, optimizer: {lr: 0.01}}}
  - {name: random-encoder, params: {epochs: 2, batch_size: 16, forget_batch_size: 8, optimizer: {lr: 0.01}}}
  - {name: i2i-sota, params: {epochs: 3, batch_size: 16, forget_batch_size: 8, alpha_forget: 1.0,
                               optimizer: {name: adamw, lr: 0.01}}}
  - {name: i2i-sota, id: i2i-sota-proxy, params: {retain_part: proxy, batch_size: 16, forget_batch_size: 8}}
"""


def run_methods(tiny, tmp_path):
    tmp_path.mkdir(exist_ok=True)
    text = tiny.SUITE[: tiny.SUITE.index("methods:")] + METHODS.lstrip() + tiny.SUITE[tiny.SUITE.index("metrics:") :]
    text = text.replace("split: {forget_classes: [0]}", "split: {forget_classes: [0], proxy_classes: [3]}")
    runner = make_runner(tiny.write_suite(tmp_path, text=text), tmp_path, ["seeds=[0]"])
    summary = runner.run()
    assert summary.failed == []
    cells = {c.method.id: c for c in runner.cells}
    rows = {r["cell"]["axes"]["method"]: r for r in runner.results.rows("tiny")}
    return runner, cells, rows


@torch.no_grad()
def part_loss(runner, cell, model, part):
    data = runner.split_data(cell)
    losses = [float(model.training_loss(b.inputs, b.mask, b.targets)) for b in data.batches(part, 64)]
    return sum(losses) / len(losses)


def test_method_properties(tiny, tmp_path):
    runner, cells, rows = run_methods(tiny, tmp_path)
    original = runner.model(cells["none"], "original")[0]
    model = {m: runner.model(c, "unlearned")[0] for m, c in cells.items()}
    reads = {m: r["method"]["reads"] for m, r in rows.items()}

    # Gradient ascent raises the forget loss, and reads nothing but the forget set.
    assert part_loss(runner, cells["gradient-ascent"], model["gradient-ascent"], "forget") > 1.5 * part_loss(
        runner, cells["none"], original, "forget"
    )
    # It reads the retain set only for one monitoring probe (the retain loss in its trace), never to train.
    probe = min(64, runner.split_data(cells["none"]).size("retain"))
    assert reads["gradient-ascent"]["retain"] == probe and reads["gradient-ascent"]["forget"] > 0
    assert rows["gradient-ascent"]["method"]["summary"]["ascent_iterations"] == 5

    # Fine-tuning on the retain set never reads a forget sample; the merged objective uses both sets.
    assert set(reads["finetune-retain"]) == {"retain"}
    assert set(reads["merged-objective"]) == {"retain", "forget"}
    terms = rows["merged-objective"]["method"]["trace"]["objective"][0]
    assert set(terms) == {"epoch", "retain_loss", "forget_loss"}

    # I2I-SOTA leaves the decoder bit-identical and moves forget encodings towards the noise target.
    sota = model["i2i-sota"]
    assert all(torch.equal(a, b) for a, b in zip(sota.decoder.parameters(), original.decoder.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(sota.encoder.parameters(), original.encoder.parameters()))
    forget_terms = [p["forget_term"] for p in rows["i2i-sota"]["method"]["trace"]["objective"]]
    assert forget_terms[-1] < forget_terms[0]
    # With a proxy retain set it never reads the real retain set.
    assert set(reads["i2i-sota-proxy"]) == {"proxy", "forget"}
    assert set(reads["i2i-sota"]) == {"retain", "forget"}

    # Noisy labels push forget outputs away from the ground truth more than retain outputs.
    def gap(m):
        return part_loss(runner, cells[m], model[m], "forget") - part_loss(runner, cells[m], model[m], "retain")

    assert gap("noisy-label") > gap("none")
    # The random-encoder objective changes forget encodings more than retain encodings.
    data = runner.split_data(cells["random-encoder"])

    def encoding_shift(part):
        batch = next(data.batches(part, 64))
        with torch.no_grad():
            before = original.encode(batch.inputs, batch.mask)
            after = model["random-encoder"].encode(batch.inputs, batch.mask)
        return float((after - before).pow(2).mean() / before.pow(2).mean())

    assert encoding_shift("forget") > encoding_shift("retain")


def test_every_method_is_deterministic(tiny, tmp_path):
    first, cells, _ = run_methods(tiny, tmp_path / "a")
    second, _, _ = run_methods(tiny, tmp_path / "b")
    for method, cell in cells.items():
        a, _ = first.artefacts.load("unlearned", cell.keys["unlearned"])
        b, _ = second.artefacts.load("unlearned", cell.keys["unlearned"])
        assert all(torch.equal(a[k], b[k]) for k in a), f"{method} is not deterministic"
