"""Centre inpainting and outpainting: a centred square (given as a fraction of the side, or as patches of a token
grid) is removed and restored (inpainting), or kept while everything around it is restored (outpainting)."""

from __future__ import annotations

import dataclasses

import torch
import unlearn_bench
from unlearn_bench.tasks import Task


@dataclasses.dataclass(frozen=True)
class Params:
    hole: float = dataclasses.field(default=0.5, metadata={"help": "square side as a fraction of the image side"})
    grid: int | None = dataclasses.field(
        default=None, metadata={"help": "with patches: the image is a grid×grid grid of tokens (16 in the papers)"}
    )
    patches: int | None = dataclasses.field(
        default=None, metadata={"help": "with grid: a centred patches×patches block (4 or 8 in the papers)"}
    )
    fill: float = dataclasses.field(default=0.0, metadata={"help": "value written into the removed pixels"})

    def __post_init__(self):
        if (self.grid is None) != (self.patches is None):
            raise ValueError("grid and patches go together")
        if self.grid is not None and not 0 < self.patches <= self.grid:
            raise ValueError("patches must be between 1 and grid")
        if not 0 < self.hole <= 1:
            raise ValueError("hole must be in (0, 1]")


class CenterInpaint(Task):
    """Mask a centred square; the model restores it."""

    name = "center-inpaint"
    behaviour_version = 1
    Params = Params

    def hole_size(self, height: int, width: int) -> tuple[int, int]:
        p = self.params
        if p.grid is not None:
            if height % p.grid or width % p.grid:
                raise ValueError(f"a {height}×{width} image does not divide into a {p.grid}×{p.grid} grid")
            return height // p.grid * p.patches, width // p.grid * p.patches
        return max(1, round(height * p.hole)), max(1, round(width * p.hole))

    def centre(self, images: torch.Tensor) -> torch.Tensor:
        """1 on the centred square, 0 elsewhere, shape (N, 1, H, W)."""
        n, _, height, width = images.shape
        hole_h, hole_w = self.hole_size(height, width)
        top, left = (height - hole_h) // 2, (width - hole_w) // 2
        square = torch.zeros(n, 1, height, width, device=images.device, dtype=images.dtype)
        square[:, :, top : top + hole_h, left : left + hole_w] = 1
        return square

    def degrade(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = self.centre(images)
        return images * (1 - mask) + self.params.fill * mask, mask


class Outpaint(CenterInpaint):
    """Keep a centred square (``hole`` or ``grid``/``patches`` give its size) and mask the border around it; the
    model restores the border (Li et al.'s outpainting)."""

    name = "outpaint"
    behaviour_version = 1

    def degrade(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = 1 - self.centre(images)
        return images * (1 - mask) + self.params.fill * mask, mask


@unlearn_bench.hookimpl
def register_tasks(register):
    register(CenterInpaint)
    register(Outpaint)
