"""Task plugins: the degradation ``T(x)`` an image-to-image model learns to undo."""

from __future__ import annotations

import torch

from .component import Component


class Task(Component):
    """Base class of degradation tasks.

    ``degrade(images)`` takes a batch (N, C, H, W) in [0, 1] and returns ``(inputs, mask)``: the degraded images
    and a mask of shape (N, 1, H, W) that is 1 where pixels were removed and must be restored.
    """

    def degrade(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError
