"""The result store: one JSON file per cell under ``<root>/<suite>/``, plus the suite's manifest.

Beside each row, ``cells/<cell id>.samples.pt`` holds a few restored images as uint8 tensors (the outputs of the
cell's model and of the upstream models on the first evaluation images), from which the leaderboard draws its
output grids.

Every write is atomic (a temporary file renamed into place), so an interrupted run leaves each file whole or
absent. The manifest (``suite.json``) holds what the leaderboard needs besides the rows: the resolved suite, its
hash, the axes and labels, and the key of every planned cell.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch

from .paths import atomic_write_bytes

MANIFEST = "suite.json"


def dump(value: Any) -> bytes:
    # Insertion order is kept (it is deterministic, and it is the order of the suite, e.g. of paper rows).
    return (json.dumps(value, indent=1, default=str) + "\n").encode()


class ResultStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def suite_dir(self, suite: str) -> Path:
        return self.root / suite

    def suites(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / MANIFEST).is_file())

    def write_manifest(self, suite: str, manifest: dict[str, Any]) -> None:
        path = self.suite_dir(suite) / MANIFEST
        data = dump(manifest)
        if not path.is_file() or path.read_bytes() != data:
            atomic_write_bytes(path, data)

    def manifest(self, suite: str) -> dict[str, Any] | None:
        path = self.suite_dir(suite) / MANIFEST
        return json.loads(path.read_text()) if path.is_file() else None

    def row_path(self, suite: str, cell_id: str) -> Path:
        return self.suite_dir(suite) / "cells" / f"{cell_id}.json"

    def read(self, suite: str, cell_id: str) -> dict[str, Any] | None:
        path = self.row_path(suite, cell_id)
        return json.loads(path.read_text()) if path.is_file() else None

    def write(self, suite: str, row: dict[str, Any]) -> None:
        atomic_write_bytes(self.row_path(suite, row["cell"]["id"]), dump(row))

    def samples_path(self, suite: str, cell_id: str) -> Path:
        return self.suite_dir(suite) / "cells" / f"{cell_id}.samples.pt"

    def write_samples(self, suite: str, cell_id: str, samples: dict[str, torch.Tensor]) -> None:
        buffer = io.BytesIO()
        torch.save({name: t.detach().cpu().contiguous() for name, t in samples.items()}, buffer)
        atomic_write_bytes(self.samples_path(suite, cell_id), buffer.getvalue())

    def log_path(self, suite: str, name: str) -> Path:
        return self.suite_dir(suite) / "logs" / f"{name}.log"

    def write_log(self, suite: str, name: str, text: str) -> None:
        """What a cell (or an upstream model) printed while it ran on a worker."""
        atomic_write_bytes(self.log_path(suite, name), text.encode())

    def samples(self, suite: str, cell_id: str) -> dict[str, torch.Tensor] | None:
        path = self.samples_path(suite, cell_id)
        return torch.load(path, weights_only=True) if path.is_file() else None

    def rows(self, suite: str) -> list[dict[str, Any]]:
        folder = self.suite_dir(suite) / "cells"
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
