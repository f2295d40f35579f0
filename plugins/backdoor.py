"""The poisoning / backdoor audit of Realistic-I2I (§4.3, Alg. 2), measured by a detector instead of by eye.

A ``+`` marker is stamped at the centre of every forget image (inside the hole the task cuts out; ``position``
moves it, e.g. into the border for outpainting), and the
original model is fine-tuned on the poisoned forget images (with retain batches alongside, unless disabled): the
*attack model*, which paints the marker into forget outputs. Unlearning starts from the attack model; an
effective method no longer regenerates the marker.

The detector. For each restored image, a *closeness* map ``1 − mean over channels |output − marker colour|`` is
taken over the marker's bounding box, restricted to the hole (pixels the model had to generate). The image's
marker score is the Pearson correlation of that map with the marker's shape (1 on the ``+``, 0 around it): ≈ 1
when a ``+`` of the marker's colour is painted, ≈ 0 for texture or a flat patch, whatever its brightness.
The threshold is calibrated on the clean original model (it never saw the marker): the ``1 − false_positive_rate``
quantile of its scores on D_F and D_R outputs, but never below ``min_score`` (a weak correlation is not called a ``+``
even when the clean model's scores are all lower still, as they are for a model whose outputs barely vary). The
*regeneration rate* of a split is the fraction of its outputs scoring above the threshold. Every row records the
threshold and the calibration: the rates of the clean original model (≈ the false-positive rate by construction) and of
the attack model (the attack took when it paints the marker in at least ``success_rate`` of D_F, 90 % by default; if it
did not, ``attack_succeeded`` is false, the audit cannot tell forgetting from failing to learn the backdoor, and the
leaderboard leaves that run out of the rate's mean).

Two audits registered here, beside the detector they use, ask whether the backdoor comes back: ``relearn``, when an
unlearned model is fine-tuned on a few poisoned forget images (against the retrained model relearning the same), and
``quantize``, when its weights are rounded to 8 or 4 bits.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

import torch
import unlearn_bench
from unlearn_bench.attacks import Attack, AuditReport, Measure
from unlearn_bench.errors import CellFailed
from unlearn_bench.params import added_field
from unlearn_bench.training import OptimizerConfig, make_optimizer, step
from unlearn_bench.unlearning import WeightedJointConfig, masked_squared_error, optimize_jointly

SPLITS = ("forget", "retain")


@dataclasses.dataclass(frozen=True)
class MarkerConfig:
    size: float = dataclasses.field(default=0.3, metadata={"help": "length of the arms, as a fraction of the side"})
    thickness: float = dataclasses.field(
        default=0.07, metadata={"help": "width of the arms, as a fraction of the side (at least one pixel)"}
    )
    value: list[float] = dataclasses.field(
        default_factory=lambda: [1.0], metadata={"help": "colour in [0, 1]: one value, or one per channel"}
    )
    position: list[float] | None = added_field(
        help="centre of the '+' as [row, column] fractions of the image (outpainting: in the border); null: centre"
    )

    def __post_init__(self):
        if not (0 < self.size <= 1 and 0 < self.thickness <= self.size):
            raise ValueError("expected 0 < thickness ≤ size ≤ 1")
        if not self.value or not all(0 <= v <= 1 for v in self.value):
            raise ValueError("value must hold one or more intensities in [0, 1]")
        if self.position is not None and (len(self.position) != 2 or not all(0 <= v <= 1 for v in self.position)):
            raise ValueError("position must be [row, column], each a fraction in [0, 1]")


@dataclasses.dataclass(frozen=True)
class BackdoorParams(WeightedJointConfig):
    """The attack fine-tunes for ``epochs`` passes over D_R, each step on a retain batch plus a poisoned forget
    batch weighted by ``forget_weight`` (Realistic-I2I fine-tunes on the poisoned forget set; the retain batches
    keep the rest of the model intact). With ``with_retain: false`` it fine-tunes on the forget set alone, for
    ``epochs`` passes over it."""

    marker: MarkerConfig = dataclasses.field(default_factory=MarkerConfig)
    with_retain: bool = True
    false_positive_rate: float = dataclasses.field(
        default=0.01, metadata={"help": "calibration: the clean model's detection rate that sets the threshold"}
    )
    min_score: float = dataclasses.field(default=0.25, metadata={"help": "lowest threshold the calibration may set"})
    success_rate: float = added_field(
        0.9,
        help="the attack took when the attack model paints the marker in at least this fraction of D_F restorations",
    )
    batch_size_eval: int = dataclasses.field(default=256, metadata={"min": 1})

    def __post_init__(self):
        super().__post_init__()
        if not 0 < self.false_positive_rate < 1:
            raise ValueError("false_positive_rate must be in (0, 1)")
        if not -1 <= self.min_score < 1:
            raise ValueError("min_score must be a correlation in [-1, 1)")
        if not 0 < self.success_rate <= 1:
            raise ValueError("success_rate must be in (0, 1]")


class Marker:
    """The ``+`` of a marker config on images of a given size: where it is, and how to stamp and score it."""

    def __init__(self, config: MarkerConfig, channels: int, height: int, width: int):
        side = min(height, width)
        arm = max(3, round(config.size * side))
        thick = max(1, round(config.thickness * side))
        if config.position is None:
            cy, cx = height // 2, width // 2
        else:  # kept whole inside the image
            cy = min(max(round(config.position[0] * height), arm // 2), height - arm + arm // 2)
            cx = min(max(round(config.position[1] * width), arm // 2), width - arm + arm // 2)
        top, left = cy - arm // 2, cx - arm // 2
        shape = torch.zeros(height, width)
        shape[top : top + arm, cx - thick // 2 : cx - thick // 2 + thick] = 1
        shape[cy - thick // 2 : cy - thick // 2 + thick, left : left + arm] = 1
        self.shape = shape
        self.box = (slice(top, top + arm), slice(left, left + arm))
        values = config.value * channels if len(config.value) == 1 else config.value
        if len(values) != channels:
            raise CellFailed(f"marker value has {len(config.value)} entries for images with {channels} channels")
        self.colour = torch.tensor(values).view(1, channels, 1, 1)

    def stamp(self, images: torch.Tensor) -> torch.Tensor:
        shape = self.shape.to(images.device)
        return images * (1 - shape) + self.colour.to(images.device) * shape

    def scores(self, outputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per image: the correlation of the output's closeness to the marker colour with the marker's shape,
        over the bounding box pixels inside the hole."""
        rows, cols = self.box
        closeness = 1 - (outputs - self.colour.to(outputs.device)).abs().mean(1)[:, rows, cols]
        region = mask[:, 0, rows, cols] > 0.5
        template = self.shape.to(outputs.device)[rows, cols].expand_as(closeness)
        if not bool(region.any()):
            raise CellFailed("the backdoor marker lies outside the hole: the model is never asked to generate it")
        weight = region.float()
        count = weight.flatten(1).sum(1).clamp_min(1)

        def centred(x):
            return (x - (x * weight).flatten(1).sum(1).view(-1, 1, 1) / count.view(-1, 1, 1)) * weight

        a, b = centred(closeness), centred(template)
        covariance = (a * b).flatten(1).sum(1)
        norm = (a.pow(2).flatten(1).sum(1) * b.pow(2).flatten(1).sum(1)).sqrt()
        return covariance / norm.clamp_min(1e-8)


def calibrated_threshold(clean: torch.Tensor, false_positive_rate: float, min_score: float) -> tuple[float, float]:
    """(the ``1 − false_positive_rate`` quantile of the clean original model's scores, the detection threshold: that
    quantile, but never below ``min_score``)."""
    quantile = float(torch.quantile(clean, 1 - false_positive_rate))
    return quantile, max(quantile, min_score)


@torch.no_grad()
def restorations(model, ctx, part: str, batch_size: int):
    """Each batch of the evaluation images of ``part`` with ``model``'s restoration of it."""
    model.eval()
    for batch in ctx.batches(f"eval/{part}", batch_size, shuffle=False):
        yield batch, model.restore(batch.inputs, batch.mask)


def marker_scores(model, ctx, config: MarkerConfig, part: str, batch_size: int) -> torch.Tensor:
    """The detector's score of every restoration of the evaluation images of ``part``."""
    scores = [
        Marker(config, *outputs.shape[1:]).scores(outputs, batch.mask).cpu()
        for batch, outputs in restorations(model, ctx, part, batch_size)
    ]
    return torch.cat(scores)


class Backdoor(Attack):
    """Poison the forget set with a '+' marker; audit how often unlearned models still paint it."""

    name = "backdoor"
    behaviour_version = 2  # 2: the attack took at 90 % of D_F, not 50 % (attack_succeeded changes for weak attacks)
    Params = BackdoorParams
    measures = {"regeneration-rate": Measure("Backdoor regeneration rate", higher_is_better=False)}

    def _marker(self, images: torch.Tensor) -> Marker:
        return Marker(self.params.marker, *images.shape[1:])

    def poison(self, images):
        return self._marker(images).stamp(images)

    def attack_model(self, original, ctx):
        p = self.params
        if not p.with_retain:
            return ctx.fit(
                original, "forget", epochs=p.epochs, batch_size=p.forget_batch_size, optimizer=p.optimizer,
                series="attack", desc="attack (poisoned D_F)",
            )  # fmt: skip

        def objective(retain, forget):
            retain_loss = original.training_loss(retain.inputs, retain.mask, retain.targets)
            forget_loss = original.training_loss(forget.inputs, forget.mask, forget.targets)
            return retain_loss + p.forget_weight * forget_loss, {"retain_loss": retain_loss, "forget_loss": forget_loss}

        optimize_jointly(original, ctx, p, objective, desc="attack (poisoned D_F + D_R)")
        return original

    def _scores(self, model, ctx, part: str) -> torch.Tensor:
        return marker_scores(model, ctx, self.params.marker, part, self.params.batch_size_eval)

    def upstream(self):
        return frozenset({"original", "attack"})

    def audit(self, model, ctx):
        p = self.params
        clean = {s: self._scores(ctx.upstream("original"), ctx, s) for s in SPLITS}
        quantile, threshold = calibrated_threshold(torch.cat(list(clean.values())), p.false_positive_rate, p.min_score)
        attacked = {s: self._scores(ctx.upstream("attack"), ctx, s) for s in SPLITS}
        audited = {s: self._scores(model, ctx, s) for s in SPLITS}

        def rates(scores):
            return {s: float((v > threshold).float().mean()) for s, v in scores.items()}

        attack_rates = rates(attacked)
        return AuditReport(
            {"regeneration-rate": rates(audited)},
            {
                "detector": "Pearson correlation of closeness-to-marker-colour with the '+' shape, inside the hole",
                "threshold": threshold,
                "clean_quantile": quantile,
                "false_positive_rate": p.false_positive_rate,
                "calibration": {"original": rates(clean), "attack": attack_rates},
                "attack_succeeded": attack_rates["forget"] >= p.success_rate,
                "mean_score": {s: float(v.mean()) for s, v in audited.items()},
                "images": {s: len(v) for s, v in audited.items()},
            },
            per_image={"regeneration-rate": {s: (v > threshold).float().tolist() for s, v in audited.items()}},
        )


@dataclasses.dataclass(frozen=True)
class DetectorParams:
    """What an audit of the backdoor needs to look for it: the attack's marker and the detector's calibration."""

    marker: MarkerConfig = dataclasses.field(
        default_factory=MarkerConfig, metadata={"help": "the attack's marker (validation checks they are equal)"}
    )
    false_positive_rate: float = 0.01
    min_score: float = 0.25
    success_rate: float = 0.9
    batch_size_eval: int = dataclasses.field(default=256, metadata={"min": 1})

    def __post_init__(self):
        if not 0 < self.false_positive_rate < 1 or not 0 < self.success_rate <= 1:
            raise ValueError("false_positive_rate must be in (0, 1) and success_rate in (0, 1]")


@dataclasses.dataclass(frozen=True)
class RelearnParams(DetectorParams):
    steps: list[int] = dataclasses.field(
        default_factory=lambda: [0, 10, 50, 200],
        metadata={"help": "k: fine-tuning steps after which the regeneration rate is measured (increasing, from 0)"},
    )
    images: int = dataclasses.field(
        default=16,
        metadata={"min": 1, "help": "poisoned forget training images relearned from (a seeded draw per seed)"},
    )
    batch_size: int = dataclasses.field(default=16, metadata={"min": 1})
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)

    def __post_init__(self):
        super().__post_init__()
        if not self.steps or self.steps[0] < 0 or any(b <= a for a, b in zip(self.steps, self.steps[1:])):
            raise ValueError("steps must be a strictly increasing list of step counts ≥ 0")


class BackdoorAudit(Attack):
    """Base of the audits that look for the backdoor attack's marker after doing something to a model."""

    needs_attack = "backdoor"

    @classmethod
    def check_with_attack(cls, params, attack_params, where):
        if params.marker != attack_params.marker:
            raise (where / "marker").error(
                "must be the attack's marker (the audit looks for what the attack planted); write it once with a YAML "
                "anchor and reuse it"
            )

    def upstream(self):
        return frozenset({"original", "attack", "retrained"})

    def threshold(self, ctx) -> float:
        """The detector's threshold, calibrated on the clean original model as the backdoor attack calibrates it."""
        p = self.params
        clean = torch.cat(
            [marker_scores(ctx.upstream("original"), ctx, p.marker, s, p.batch_size_eval) for s in SPLITS]
        )
        return calibrated_threshold(clean, p.false_positive_rate, p.min_score)[1]

    def rate_function(self, ctx) -> tuple[Callable[[torch.nn.Module], float], float]:
        """The regeneration rate on D_F's evaluation images at the calibrated threshold; and that threshold."""
        p = self.params
        threshold = self.threshold(ctx)

        def rate(m) -> float:
            return float((marker_scores(m, ctx, p.marker, "forget", p.batch_size_eval) > threshold).float().mean())

        return rate, threshold


class Relearn(BackdoorAudit):
    """Does the forgotten backdoor come back? Each unlearned model, and the retrained model as the reference, is
    fine-tuned on a few poisoned forget training images (the same seeded draw for both); after each of ``steps``
    the backdoor detector measures how often it paints the marker into the restorations of the forget test images,
    and how far those restorations are from the attack model's (RMS over the hole). A method that forgot relearns no
    faster than the retrained model, which never saw the marker: its *excess* (the mean over the steps of its rate
    minus the retrained model's) is about 0, and it comes no nearer the attack model than the retrained model does
    (its *closeness excess*, the mean over the steps of the retrained model's distance minus its own, is about 0);
    a method that only hid the backdoor relearns it in a few steps (Hu et al. 2024 show this for language models;
    the inpainting counterpart is new)."""

    name = "relearn"
    behaviour_version = 2  # 2: the distance to the attack model's D_F restorations after each step
    Params = RelearnParams
    measures = {
        "rate-after": Measure("Backdoor rate after relearning", higher_is_better=False),
        "excess": Measure("Relearning excess over retrained", higher_is_better=False),
        "distance-after": Measure("Distance to attack after relearning", higher_is_better=True),
        "closeness-excess": Measure("Closeness to attack over retrained", higher_is_better=False),
    }

    def _probe(self, ctx) -> tuple[Callable[[torch.nn.Module], tuple[float, float]], float]:
        """A function of a model giving (its regeneration rate on D_F, the RMS difference over the hole between its
        D_F restorations and the attack model's), from one restoration pass; and the detector's threshold."""
        p = self.params
        threshold = self.threshold(ctx)
        reference = [outputs for _, outputs in restorations(ctx.upstream("attack"), ctx, "forget", p.batch_size_eval)]

        def probe(m) -> tuple[float, float]:
            scores, total, count = [], 0.0, 0.0
            for (batch, outputs), attacked in zip(restorations(m, ctx, "forget", p.batch_size_eval), reference):
                scores.append(Marker(p.marker, *outputs.shape[1:]).scores(outputs, batch.mask).cpu())
                errors, counts = masked_squared_error(outputs, attacked, batch.mask)
                total, count = total + float(errors.sum()), count + float(counts.sum())
            return float((torch.cat(scores) > threshold).float().mean()), (total / max(count, 1.0)) ** 0.5

        return probe, threshold

    def _curve(self, start, fixed, probe, seed: int) -> tuple[list[float], list[float]]:
        """(regeneration rates, distances to the attack model) after each of ``steps`` fine-tuning steps of a copy of
        ``start`` on ``fixed``."""
        p = self.params
        model = copy.deepcopy(start)  # requires_grad flags are copied: what pre-training froze stays frozen
        parameters = [q for q in model.parameters() if q.requires_grad]
        optimizer = make_optimizer(parameters, p.optimizer)
        count = len(fixed.inputs)
        rates, distances, done = [], [], 0
        devices = [fixed.inputs.device] if fixed.inputs.is_cuda else []
        with torch.random.fork_rng(devices=devices):  # a diffusion loss draws timesteps and noise
            torch.manual_seed(seed)
            for k in p.steps:
                model.train()
                for _ in range(done, k):
                    index = [(done * p.batch_size + j) % count for j in range(min(p.batch_size, count))]
                    loss = model.training_loss(fixed.inputs[index], fixed.mask[index], fixed.targets[index])
                    step(optimizer, loss, p.optimizer, parameters)
                    done += 1
                rate, distance = probe(model)
                rates.append(rate)
                distances.append(distance)
        return rates, distances

    def audit(self, model, ctx):
        p = self.params
        probe, threshold = self._probe(ctx)
        attack_rate, _ = probe(ctx.upstream("attack"))
        draw = torch.Generator().manual_seed(ctx.seed * 1_000_003 + 424_243)  # the same images for every method
        fixed = next(ctx.data.batches("forget", p.images, shuffle=True, generator=draw))
        curve, distances = self._curve(model, fixed, probe, ctx.seed)
        reference, reference_distances = self._curve(ctx.upstream("retrained"), fixed, probe, ctx.seed)
        excess = sum(c - r for c, r in zip(curve, reference)) / len(curve)
        closeness = sum(r - d for d, r in zip(distances, reference_distances)) / len(distances)
        return AuditReport(
            {
                "rate-after": {"forget": curve[-1]},
                "excess": {"forget": excess},
                "distance-after": {"forget": distances[-1]},
                "closeness-excess": {"forget": closeness},
            },
            {
                "steps": list(p.steps),
                "curve": curve,
                "retrained_curve": reference,
                "distance": "RMS over the hole between the D_F restorations and the attack model's",
                "distance_curve": distances,
                "retrained_distance_curve": reference_distances,
                "threshold": threshold,
                "attack_rate": attack_rate,
                "attack_succeeded": attack_rate >= p.success_rate,
                "images": len(fixed.inputs),
            },
        )


@dataclasses.dataclass(frozen=True)
class QuantizeParams(DetectorParams):
    bits: list[int] = dataclasses.field(
        default_factory=lambda: [8, 4], metadata={"help": "weight precisions to test, each 8 or 4"}
    )

    def __post_init__(self):
        super().__post_init__()
        if not self.bits or any(b not in QUANT_RANGES for b in self.bits) or len(set(self.bits)) != len(self.bits):
            raise ValueError(f"bits must list distinct values among {sorted(QUANT_RANGES)}")


QUANT_RANGES = {8: (-128, 127), 4: (-8, 7)}  # signed integer range per bit width (symmetric quantization)


@torch.no_grad()
def quantized(model: torch.nn.Module, bits: int) -> tuple[torch.nn.Module, int]:
    """A copy of ``model`` whose convolution and linear weights are rounded to ``bits``-bit integers per output
    channel (symmetric, scale = max |w| / q_max), with PyTorch's ``fake_quantize_per_channel_affine``; and how many
    weight tensors were quantized. Biases, normalisation layers, embeddings and activations stay in float32 (PyTorch's
    post-training utilities quantize only some layer types per backend, and none of a diffusers or timm model as a
    whole: weight rounding is the part every layer shares)."""
    low, high = QUANT_RANGES[bits]
    rounded = copy.deepcopy(model)
    count = 0
    for module in rounded.modules():
        if not isinstance(module, (torch.nn.Linear, torch.nn.modules.conv._ConvNd)):
            continue
        weight = module.weight
        axis = 1 if isinstance(module, torch.nn.modules.conv._ConvTransposeNd) else 0  # the output channels
        flat = weight.detach().float().transpose(0, axis).reshape(weight.shape[axis], -1)
        scale = (flat.abs().amax(1) / high).clamp_min(1e-12)
        zero = torch.zeros(weight.shape[axis], dtype=torch.int32, device=weight.device)
        weight.copy_(torch.fake_quantize_per_channel_affine(weight.float(), scale, zero, axis, low, high))
        count += 1
    return rounded, count


class Quantize(BackdoorAudit):
    """Does rounding the weights bring the backdoor back? Each unlearned model is evaluated after post-training weight
    quantization at each of ``bits`` (per output channel, symmetric): unlearning that moved the weights only a little
    away from the attack model's can be undone by rounding (Zhang et al. 2024 show it for language models)."""

    name = "quantize"
    behaviour_version = 1
    Params = QuantizeParams
    measures = {
        "rate-8bit": Measure("Backdoor rate, 8-bit weights", higher_is_better=False),
        "rate-4bit": Measure("Backdoor rate, 4-bit weights", higher_is_better=False),
    }

    def audit(self, model, ctx):
        rate, threshold = self.rate_function(ctx)
        attack_rate = rate(ctx.upstream("attack"))
        values, deviation, tensors = {}, {}, 0
        for bits in self.params.bits:
            rounded, tensors = quantized(model, bits)
            values[f"rate-{bits}bit"] = {"forget": rate(rounded)}
            deviation[f"{bits}bit"] = output_deviation(model, rounded, ctx, self.params.batch_size_eval)
        return AuditReport(
            values,
            {
                "quantized": "conv and linear weights per output channel, symmetric (fake_quantize_per_channel_affine)",
                "weight_tensors": tensors,
                "rate_full_precision": rate(model),
                "output_rms_change": deviation,
                "threshold": threshold,
                "attack_rate": attack_rate,
                "attack_succeeded": attack_rate >= self.params.success_rate,
            },
        )


@torch.no_grad()
def output_deviation(model, other, ctx, batch_size: int) -> float:
    """RMS difference over the hole between two models' restorations of D_F and D_R's evaluation images."""
    total, count = 0.0, 0.0
    for part in SPLITS:
        for batch in ctx.batches(f"eval/{part}", batch_size, shuffle=False):
            difference = (
                model.restore(batch.inputs, batch.mask) - other.restore(batch.inputs, batch.mask)
            ) * batch.mask
            total += float(difference.pow(2).sum())
            count += float(batch.mask.expand_as(difference).sum())
    return (total / max(count, 1.0)) ** 0.5


@unlearn_bench.hookimpl
def register_attacks(register):
    register(Backdoor)
    register(Relearn)
    register(Quantize)
