"""Pixel metrics on the restored (masked) region: MSE and PSNR, for images in [0, 1]."""

from __future__ import annotations

import torch
import unlearn_bench
from unlearn_bench.metrics import Metric
from unlearn_bench.unlearning import masked_squared_error


class MaskedMSE(Metric):
    """Mean squared error over the pixels of the hole."""

    name = "mse"
    behaviour_version = 1
    display_name = "MSE"
    higher_is_better = False

    def __init__(self, params=None):
        super().__init__(params)
        self.total = torch.zeros((), dtype=torch.float64)
        self.count = torch.zeros((), dtype=torch.float64)

    def update(self, outputs, reference, mask):
        errors, counts = masked_squared_error(outputs, reference, mask)
        self.total += errors.double().sum().cpu()
        self.count += counts.double().sum().cpu()

    def compute(self) -> float:
        return float(self.total / self.count)


class MaskedPSNR(Metric):
    """Peak signal-to-noise ratio (dB, peak 1) over the hole, per image, averaged over images."""

    name = "psnr"
    behaviour_version = 1
    display_name = "PSNR"
    higher_is_better = True

    def __init__(self, params=None):
        super().__init__(params)
        self.values: list[torch.Tensor] = []

    def update(self, outputs, reference, mask):
        errors, counts = masked_squared_error(outputs, reference, mask)
        mse = (errors / counts).double().clamp_min(1e-10)  # identical images: 100 dB, not infinity
        self.values.append((-10 * torch.log10(mse)).cpu())

    def compute(self) -> float:
        return float(torch.cat(self.values).mean())

    def per_image(self) -> list[float]:
        return torch.cat(self.values).tolist()


@unlearn_bench.hookimpl
def register_metrics(register):
    register(MaskedMSE)
    register(MaskedPSNR)
