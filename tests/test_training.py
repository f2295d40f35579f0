"""Optimisers and learning-rate schedules."""

from __future__ import annotations

import math

import pytest
import torch
from unlearn_bench.training import Divergence, OptimizerConfig, check_loss, make_optimizer, make_schedule, step


def learning_rates(config: OptimizerConfig, total: int) -> list[float]:
    weight = torch.nn.Parameter(torch.ones(2))
    optimizer = make_optimizer([weight], config)
    schedule = make_schedule(optimizer, config, total)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        step(optimizer, weight.sum(), config, [weight], schedule=schedule)
    return rates


def test_constant_schedule_keeps_the_rate():
    assert learning_rates(OptimizerConfig(lr=0.1), 5) == [0.1] * 5


def test_warmup_then_cosine_decay():
    rates = learning_rates(OptimizerConfig(name="sgd", lr=1.0, schedule="cosine", warmup_steps=2), 6)
    assert rates[:2] == [0.5, 1.0]
    expected = [0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(4)]
    assert rates[2:] == pytest.approx(expected)


def test_linear_decay_reaches_zero_at_the_end():
    rates = learning_rates(OptimizerConfig(name="sgd", lr=1.0, schedule="linear"), 5)
    assert rates == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])


def test_clipping_reports_the_norm_before_clipping():
    weight = torch.nn.Parameter(torch.zeros(4))
    config = OptimizerConfig(name="sgd", lr=1.0, grad_clip=1.0)
    norm = step(make_optimizer([weight], config), (weight * 3).sum(), config, [weight])
    assert float(norm) == pytest.approx(6.0)
    assert float(weight.detach().norm()) == pytest.approx(1.0)  # the step used the clipped gradient


def test_check_loss_rejects_nan_and_out_of_bound_losses():
    assert check_loss(torch.tensor(0.5), "x", 1) == 0.5
    with pytest.raises(Divergence, match="became nan at step 3"):
        check_loss(torch.tensor(float("nan")), "forget", 3)
    with pytest.raises(Divergence, match="exceeded the bound"):
        check_loss(torch.tensor(-20.0), "forget", 1, limit=10)


def test_ema_keeps_the_averaged_weights_and_changes_the_key(tiny, tmp_path):
    from test_runner import make_runner

    def original(extra):
        runner = make_runner(tiny.write_suite(tmp_path), tmp_path, ["seeds=[0]", *extra])
        cell = runner.cells[0]
        return runner, cell, runner.model(cell, "original")[0]

    plain_runner, plain_cell, plain = original([])
    same_runner, same_cell, same = original(["models.ae.train.ema=0.0"])  # decay 0: the average is the last step
    slow_runner, slow_cell, slow = original(["models.ae.train.ema=0.999"])
    assert "ema" not in plain_cell.config["model"]["train"] and slow_cell.config["model"]["train"]["ema"] == 0.999
    assert len({plain_cell.keys["original"], same_cell.keys["original"], slow_cell.keys["original"]}) == 3
    for a, b in zip(plain.state_dict().values(), same.state_dict().values()):
        assert torch.allclose(a.float(), b.float())
    first = next(iter(plain.state_dict()))
    assert not torch.allclose(plain.state_dict()[first], slow.state_dict()[first])
