"""An attack plugin changes the starting model and the forget data, and its audit is recorded per cell."""

from __future__ import annotations

import torch
import unlearn_bench
from unlearn_bench.attacks import Attack, AuditReport, Measure
from unlearn_bench.plugins import get_plugins
from unlearn_bench.runner import Runner


class BrightCentre(Attack):
    """Poison: set the centre pixel of forget images to 1; the attack model is fine-tuned on them."""

    name = "bright-centre"
    measures = {"centre": Measure("Centre brightness", higher_is_better=False)}

    def poison(self, images):
        images = images.clone()
        images[..., 4, 4] = 1.0
        return images

    def attack_model(self, original, ctx):
        return ctx.fit(original, "forget", epochs=30, batch_size=8, desc="attack")

    def audit(self, model, ctx):
        values = {}
        for part in ("forget", "retain"):
            batch = next(ctx.batches(f"eval/{part}", 64, shuffle=False))
            values[part] = float(model.restore(batch.inputs, batch.mask)[..., 4, 4].mean())
        return AuditReport({"centre": values}, {"images": len(batch.inputs)})


class AttackPlugin:
    @unlearn_bench.hookimpl
    def register_attacks(self, register):
        register(BrightCentre)


def test_attack_is_the_starting_point_and_is_audited(tiny, tmp_path, monkeypatch):
    get_plugins().register(AttackPlugin(), "attack-test")
    extra = "attack: {name: bright-centre}\n"
    text = tiny.SUITE.replace("metrics:\n", "metrics:\n  - {name: mse, id: mse-attack, reference: attack}\n")
    from test_runner import make_runner

    seen = {}
    unlearned = Runner._build_unlearned

    def spy(self, cell):
        seen["start"] = cell.start_kind
        return unlearned(self, cell)

    monkeypatch.setattr(Runner, "_build_unlearned", spy)
    runner = make_runner(tiny.write_suite(tmp_path, extra, text=text), tmp_path, ["seeds=[0]"])
    runner.run()
    assert seen["start"] == "attack"
    rows = {r["cell"]["axes"]["method"]: r for r in runner.results.rows("tiny")}
    assert all(r["status"] == "ok" for r in rows.values())
    # Without unlearning the model *is* the attack model: zero error against it.
    mse_attack = {m["split"]: m["value"] for m in rows["none"]["metrics"] if m["metric"] == "mse-attack"}
    assert mse_attack == {"retain": 0.0, "forget": 0.0}

    # The attack model paints the bright centre into forget outputs; the retrained model (never poisoned) does not.
    def centre(row, split):
        return next(m["value"] for m in row["metrics"] if m["metric"] == "bright-centre/centre" and m["split"] == split)

    assert centre(rows["none"], "forget") > centre(rows["retrain"], "forget") + 0.2
    assert rows["none"]["audit"] == {"bright-centre": {"images": 24}}
    manifest = runner.results.manifest("tiny")
    assert {
        "id": "bright-centre/centre",
        "display_name": "Centre brightness",
        "higher_is_better": False,
        "reference": None,
    } in manifest["metrics"]
    cell = runner.cells[0]
    _, meta = runner.artefacts.load("attack", cell.keys["attack"])
    assert set(meta["reads"]) == {"forget"}
    assert cell.keys["attack"] is not None and cell.config["attack"]["name"] == "bright-centre"
    torch.testing.assert_close(BrightCentre().poison(torch.zeros(1, 1, 8, 8))[0, 0, 4, 4], torch.tensor(1.0))
