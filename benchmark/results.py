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
import re
import secrets
from pathlib import Path
from typing import Any

import torch

from .errors import UserError
from .paths import FileLock, atomic_write_bytes, read_stored

MANIFEST = "suite.json"
ROW_SCHEMA = 1
STATUSES = ("ok", "failed")


def check_row(row: Any) -> None:
    """Raise ValueError unless ``row`` has the shape every reader relies on (schema :data:`ROW_SCHEMA`): the cell's
    id and key, its seed, its status, and metric entries with a metric id, a split and a value."""
    if not isinstance(row, dict):
        raise ValueError(f"a result row is a JSON object, not {type(row).__name__}")
    if row.get("schema") != ROW_SCHEMA:
        raise ValueError(f"schema {row.get('schema')!r}, expected {ROW_SCHEMA}")
    cell = row.get("cell")
    if not isinstance(cell, dict) or not all(isinstance(cell.get(k), str) for k in ("id", "key")):
        raise ValueError("'cell' needs string 'id' and 'key'")
    if not isinstance(cell.get("axes"), dict):
        raise ValueError("'cell.axes' must be an object")
    if not isinstance(row.get("seed"), int) or row.get("status") not in STATUSES:
        raise ValueError(f"'seed' must be an integer and 'status' one of {', '.join(STATUSES)}")
    metrics = row.get("metrics")
    if not isinstance(metrics, list) or not all(
        isinstance(m, dict) and isinstance(m.get("metric"), str) and isinstance(m.get("split"), str) and "value" in m
        for m in metrics
    ):
        raise ValueError("'metrics' must be a list of objects with 'metric', 'split' and 'value'")


def _load_row(path: Path) -> dict[str, Any]:
    row = json.loads(path.read_text())
    check_row(row)
    return row


def dump(value: Any) -> bytes:
    """Indented JSON, with every list of numbers on one line (per-image values stay readable and small). Insertion
    order is kept (it is deterministic, and it is the order of the suite, e.g. of paper rows)."""
    token = f"\x00{secrets.token_hex(8)}:"  # cannot occur in a value: JSON escapes the NUL character
    lists: list[str] = []

    def fold(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: fold(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            if v and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
                lists.append(json.dumps(list(v)))
                return f"{token}{len(lists) - 1}"
            return [fold(x) for x in v]
        return v

    text = json.dumps(fold(value), indent=1, default=str)
    quoted = json.dumps(token)[:-1]  # the token as it appears inside a JSON string, opening quote included
    text = re.sub(re.escape(quoted) + r'(\d+)"', lambda m: lists[int(m.group(1))], text)
    return (text + "\n").encode()


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
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (ValueError, OSError) as exc:
            raise UserError(
                f"{path}: the suite's manifest cannot be read ({exc}); rerun the suite to rewrite it"
            ) from None

    def lock(self, suite: str, cell_id: str) -> FileLock:
        """The lock a run holds on a cell while it computes it (``<suite>/.locks/<cell id>.lock``)."""
        return FileLock(self.suite_dir(suite) / ".locks" / f"{cell_id}.lock")

    def row_path(self, suite: str, cell_id: str) -> Path:
        return self.suite_dir(suite) / "cells" / f"{cell_id}.json"

    def read(self, suite: str, cell_id: str, set_aside: bool = True) -> dict[str, Any] | None:
        """The cell's row; a damaged one is set aside (and its cell rerun), or only reported for a read-only
        command (``set_aside=False``)."""
        return read_stored(self.row_path(suite, cell_id), _load_row, "result row", set_aside=set_aside)

    def write(self, suite: str, row: dict[str, Any]) -> None:
        check_row(row)  # an executor (built-in or not) that assembles a bad row fails here, not in the leaderboard
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
        return read_stored(
            self.samples_path(suite, cell_id), lambda p: torch.load(p, weights_only=True), "samples", set_aside=False
        )

    def rows(self, suite: str) -> list[dict[str, Any]]:
        """Every readable row of the suite (a damaged one is reported and left out: its cell shows as not run)."""
        folder = self.suite_dir(suite) / "cells"
        paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
        return [row for path in paths if (row := read_stored(path, _load_row, "result row", set_aside=False))]
