"""The model families (MAE, VQ masked-token transformer, diffusion inpainting): the contract the methods rely on,
and every built-in method running on every family, on tiny data."""

from __future__ import annotations

import copy

import pytest
import torch
from test_runner import make_runner
from unlearn_bench.data import Batch
from unlearn_bench.datasets import ImageShape
from unlearn_bench_plugins.center_inpaint import CenterInpaint
from unlearn_bench_plugins.conv_autoencoder import ConvAutoEncoder
from unlearn_bench_plugins.diffusion_inpaint import DiffusionInpaint
from unlearn_bench_plugins.mae import MaskedAutoencoder
from unlearn_bench_plugins.noisy_label import noise_label_loss
from unlearn_bench_plugins.random_encoder import random_encoding_loss
from unlearn_bench_plugins.vq_transformer import VQMaskTransformer

TINY = {
    "conv-autoencoder": (ConvAutoEncoder, {"width": 4}),
    "mae": (
        MaskedAutoencoder,
        {"patch": 2, "width": 16, "depth": 2, "heads": 2, "decoder_width": 16, "decoder_depth": 1},
    ),
    "vq-transformer": (
        VQMaskTransformer,
        {
            "channels": [8, 8],
            "codebook": 16,
            "code_dim": 4,
            "groups": 4,
            "width": 16,
            "depth": 2,
            "heads": 2,
            "tokenizer_steps": 5,
        },
    ),
    "diffusion-inpaint": (
        DiffusionInpaint,
        {"channels": [8, 16], "groups": 4, "sampling_steps": 3, "train_timesteps": 50},
    ),
}
SHAPE = ImageShape(1, 8, 8)


def build(name):
    cls, params = TINY[name]
    torch.manual_seed(0)
    return cls(cls.Params(**params), SHAPE)


def batch(n=6, seed=0):
    images = torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    inputs, mask = CenterInpaint().degrade(images)
    return inputs, mask, images


@pytest.mark.parametrize("name", list(TINY))
def test_family_contract(name):
    model = build(name)
    inputs, mask, targets = batch()
    loss = model.training_loss(inputs, mask, targets)
    assert torch.isfinite(loss)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder_parameters())
    model.eval()
    z = model.encode(inputs, mask)
    assert z.shape == model.encode(torch.rand_like(inputs) * (1 - mask), mask).shape  # noise encodes alike
    restored = model.restore(inputs, mask)
    assert restored.shape == targets.shape and float(restored.min()) >= 0 and float(restored.max()) <= 1
    known = ~mask.bool().expand_as(inputs)
    assert torch.equal(restored[known], inputs[known])  # only the hole is generated
    assert torch.equal(restored, model.restore(inputs, mask))  # restoring is deterministic
    clone = type(model)(model.params, SHAPE)
    clone.load_state_dict(model.state_dict())
    assert torch.equal(clone.eval().restore(inputs, mask), restored)  # the state dict is the whole model


def test_vq_tokenizer_learns_only_during_pretraining():
    model = build("vq-transformer")
    inputs, mask, targets = batch()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def step():
        before = copy.deepcopy(model.tokenizer.state_dict())
        optimizer.zero_grad()
        model.training_loss(inputs, mask, targets).backward()
        optimizer.step()
        return any(not torch.equal(before[k], v) for k, v in model.tokenizer.state_dict().items())

    assert step()  # within tokenizer_steps
    for _ in range(4):
        step()
    assert int(model.tokenizer_updates) == 5
    assert not step()  # its loss is no longer added once its steps are done
    with torch.no_grad():
        model.training_loss(inputs, mask, targets)
    assert int(model.tokenizer_updates) == 5  # evaluating the loss does not count
    model.pretrained()  # the harness ends pre-training: the tokenizer is frozen for every method and attack
    assert not any(p.requires_grad for p in model.tokenizer.parameters())
    assert not model.decode(model.encode(inputs, mask)).requires_grad  # nothing a loss on outputs could move


def test_vq_pretraining_shorter_than_the_tokenizer_schedule_is_an_error():
    model = build("vq-transformer")
    inputs, mask, targets = batch()
    model.training_loss(inputs, mask, targets).backward()
    with pytest.raises(ValueError, match="1 of the tokenizer's 5 steps"):
        model.pretrained()


@pytest.mark.parametrize("name", ["conv-autoencoder", "mae"])
def test_noise_targets_through_the_training_loss_are_the_output_mse_on_pixel_families(name):
    """Why noisy-label's move to ``training_loss`` kept its behaviour version: on these families the training loss
    is the output MSE the method computed before, and the forward pass draws no random numbers (same noise)."""
    model = build(name).train()
    inputs, mask, targets = batch()
    noise = torch.rand_like(targets)
    state = torch.get_rng_state()
    outputs = model(inputs, mask)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(model.training_loss(inputs, mask, noise), torch.nn.functional.mse_loss(outputs, noise))


FORGET_TERMS = {"noisy-label": (noise_label_loss, "all"), "random-encoder": (random_encoding_loss, "encoder")}


@pytest.mark.parametrize("method", list(FORGET_TERMS))
@pytest.mark.parametrize("name", list(TINY))
def test_a_methods_forget_term_reaches_the_parameters_it_should(name, method):
    """The forget term alone (the retain term would hide a forget term that trains nothing): its gradient reaches
    every parameter it should (all but what only pre-training trains, or the encoder) and no other."""
    loss_of, reach = FORGET_TERMS[method]
    model = build(name)
    inputs, mask, targets = batch()
    model.training_loss(inputs, mask, targets).backward()  # pre-training (the VQ tokenizer's 5 steps)
    for _ in range(4):
        model.training_loss(inputs, mask, targets)
    model.pretrained()
    model.zero_grad(set_to_none=True)
    model.train()
    torch.manual_seed(0)
    loss_of(model, Batch(inputs, mask, targets, torch.zeros(len(inputs)))).backward()
    encoder = {id(p) for p in model.encoder_parameters()}
    expected = {n for n, p in model.named_parameters() if p.requires_grad and (reach == "all" or id(p) in encoder)}
    reached = {n for n, p in model.named_parameters() if p.grad is not None and bool(p.grad.abs().sum() > 0)}
    assert reached == expected, (sorted(expected - reached)[:4], sorted(reached - expected)[:4])


def test_diffusion_encoder_features_follow_li_et_al_palette_code():
    model = build("diffusion-inpaint")
    inputs, mask, targets = batch()
    t, noise = draw = model.encoder_draw(targets)
    assert t.shape == (len(targets),) and len(set(t.tolist())) > 1  # a timestep per image
    features = model.encoder_features(inputs, mask, draw, targets)
    unet = model.unet
    skips = sum(len(b.resnets) + (1 if b.downsamplers else 0) for b in unet.down_blocks)
    assert len(features) == 1 + skips + 1  # input convolution, every down-block output, middle block
    assert torch.equal(
        features[-1],
        model._down_path(
            torch.where(mask.bool(), model.noise.add_noise(targets * 2 - 1, noise, t), inputs * 2 - 1),
            model.condition(inputs, mask),
            t,
        )[-1],
    )
    pure = model.encoder_features(inputs, mask, draw, None)  # the forget target's input: pure noise in the hole
    assert not torch.equal(pure[-1], features[-1])
    # Known pixels are the same for both inputs, so the first map differs only where the hole reaches it.
    outside = ~torch.nn.functional.max_pool2d(mask, 3, 1, 1).bool().expand_as(pure[0])
    assert torch.equal(pure[0][outside], features[0][outside])


def test_mae_drops_masked_patches_and_needs_one_hole_per_batch():
    model = build("mae")
    inputs, mask, _ = batch()
    assert int(model.masked_patches(mask)[0].sum()) == 4  # the 4×4 hole covers 2×2 patches of 2 px
    mixed = mask.clone()
    mixed[0] = 0
    with pytest.raises(ValueError, match="same hole"):
        model.encode(inputs, mixed)


FAMILY_SUITE = """\
version: 1
name: tiny
description: every method on one model family
seeds: [0]
datasets:
  - {{name: tiny-shapes, id: tiny, split: {{forget_classes: [0]}}}}
tasks:
  - {{name: center-inpaint, id: hole, params: {{hole: 0.5}}}}
models:
  - name: {name}
    id: model
    params: {params}
    train: {{epochs: 2, batch_size: 16, optimizer: {{name: adam, lr: 0.01}}}}
methods:
  - {{name: no-unlearning}}
  - {{name: retrain}}
  - name: realistic-i2i
    params: {{ascent: {{iterations: 2, batch_size: 8, probe_size: 8}}, retain: {{epochs: 1, batch_size: 16}}}}
  - {{name: gradient-ascent, params: {{ascent: {{iterations: 2, batch_size: 8, probe_size: 8}}}}}}
  - {{name: finetune-retain, params: {{epochs: 1, batch_size: 16}}}}
  - {{name: merged-objective, params: {{epochs: 1, batch_size: 16}}}}
  - {{name: noisy-label, params: {{epochs: 1, batch_size: 16}}}}
  - {{name: random-encoder, params: {{epochs: 1, batch_size: 16}}}}
  - {{name: i2i-sota, params: {{epochs: 1, batch_size: 16}}}}
metrics:
  - {{name: psnr}}
  - {{name: psnr, id: psnr-retrained, reference: retrained}}
evaluate: {{batch_size: 16}}
"""


@pytest.mark.parametrize("name", list(TINY))
def test_every_method_runs_on_every_family(tiny, tmp_path, name):
    text = FAMILY_SUITE.format(name=name, params=TINY[name][1])
    runner = make_runner(tiny.write_suite(tmp_path, text=text), tmp_path)
    summary = runner.run()
    rows = runner.results.rows("tiny")
    assert summary.failed == [], [r["error"]["message"] for r in rows if r["status"] != "ok"]
    assert len(rows) == 9
    retrain = next(r for r in rows if r["cell"]["axes"]["method"] == "retrain")
    assert [m["value"] for m in retrain["metrics"] if m["metric"] == "psnr-retrained"] == [100.0, 100.0]
    # Which parameters each method trains: every parameter it may train moved, every other is bit-identical.
    start = dict(runner.model(runner.cells[0], "original")[0].named_parameters())
    pretrained_only = {n for n in start if n.startswith("tokenizer.")}  # the VQ tokenizer: pre-training only
    encoder = {id(p) for p in runner.model(runner.cells[0], "original")[0].encoder_parameters()}
    decoder = {n for n, p in start.items() if id(p) not in encoder}
    for cell in runner.cells:
        if cell.method.id == "retrain":
            continue
        after = dict(runner.model(cell, "unlearned")[0].named_parameters())
        frozen = set(start) if cell.method.id == "no-unlearning" else pretrained_only
        if cell.method.id == "i2i-sota":
            frozen = frozen | decoder
        moved = {n for n in start if not torch.equal(start[n], after[n])}
        assert not moved & frozen, f"{cell.method.id} moved frozen {sorted(moved & frozen)[:4]}"
        assert set(start) - frozen <= moved, f"{cell.method.id} left {sorted(set(start) - frozen - moved)[:4]}"
        assert all(p.requires_grad == (n not in pretrained_only) for n, p in after.items())


@pytest.mark.parametrize("name", list(TINY))
def test_family_trains_under_bf16_autocast(name):
    """The recipe's amp runs the loss under bf16 autocast on CUDA; the CPU's autocast mixes dtypes the same way."""
    model = build(name)
    inputs, mask, targets = batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model.training_loss(inputs, mask, targets)
    loss.float().backward()
    assert torch.isfinite(loss.float())


@pytest.mark.parametrize("name", list(TINY))
def test_family_gives_the_same_loss_and_gradients_channels_last(name):
    """On CUDA the runner keeps convolution weights channels-last (faster kernels); the maths must not change."""
    plain = build(name)
    fast = copy.deepcopy(plain).to(memory_format=torch.channels_last)
    convs = [m.weight for m in fast.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    inputs, mask, targets = batch()
    results = []
    for model in (plain, fast):
        torch.manual_seed(1)  # diffusion draws timesteps and noise
        loss = model.training_loss(inputs, mask, targets)
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (loss_a, grads_a), (loss_b, grads_b) = results
    torch.testing.assert_close(loss_a, loss_b, rtol=1e-5, atol=1e-6)
    assert len(grads_a) == len(grads_b)
    for a, b in zip(grads_a, grads_b):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_the_runner_applies_channels_last_without_changing_cell_keys(tiny, tmp_path):
    path = tiny.write_suite(tmp_path)
    plain = make_runner(path, tmp_path)
    forced = make_runner(path, tmp_path, ["models.ae.train.channels_last=true"])
    assert [c.key for c in plain.cells] == [c.key for c in forced.cells]
    cell = forced.cells[0]
    conv = next(m for m in forced.new_model(cell).modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    conv = next(m for m in plain.new_model(plain.cells[0]).modules() if isinstance(m, torch.nn.Conv2d))
    assert not conv.weight.is_contiguous(memory_format=torch.channels_last)  # CPU default: off


def test_a_one_block_vq_transformer_is_refused_when_the_suite_loads(tiny, tmp_path):
    from unlearn_bench.errors import ConfigError
    from unlearn_bench.suite import load_suite

    params = {**TINY["vq-transformer"][1], "depth": 1}
    path = tiny.write_suite(tmp_path, text=FAMILY_SUITE.format(name="vq-transformer", params=params))
    with pytest.raises(ConfigError, match=r"models\[0\]\.params\.depth.*at least 2"):
        load_suite(path)
