"""Content-addressed storage of upstream artefacts (trained, attacked, retrained and unlearned models).

A model is stored under its key as ``<root>/<kind>/<key[:2]>/<key>.pt`` with its metadata, written atomically and
read back with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .paths import FileLock, atomic_write_bytes, read_stored


class ArtefactStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / f"{key}.pt"

    def lock(self, kind: str, key: str) -> FileLock:
        """The lock held while a model is built (``.locks/<kind>/<key>.lock``): a concurrent run that needs the same
        model waits for it and loads it instead of building it again."""
        return FileLock(self.root / ".locks" / kind / f"{key}.lock")

    def exists(self, kind: str, key: str) -> bool:
        return self.path(kind, key).is_file()

    def save(self, kind: str, key: str, model: nn.Module, meta: dict[str, Any]) -> None:
        buffer = io.BytesIO()
        torch.save({"state_dict": model.state_dict(), "meta": meta}, buffer)
        atomic_write_bytes(self.path(kind, key), buffer.getvalue())

    def load(self, kind: str, key: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """The stored model and its metadata; None when absent, or damaged (then set aside to be rebuilt)."""

        def read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            return payload["state_dict"], payload["meta"]

        return read_stored(self.path(kind, key), read, f"cached {kind} model", set_aside=True)


def load_checkpoint(path: str) -> dict[str, torch.Tensor]:
    """A user's checkpoint: a state_dict, or a mapping holding one under 'state_dict' or 'model'."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(payload, dict):
        for key in ("state_dict", "model"):
            if isinstance(payload.get(key), dict):
                return payload[key]
    return payload
