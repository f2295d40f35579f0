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
