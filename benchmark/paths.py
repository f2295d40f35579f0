"""Where unlearn-bench keeps files it can recompute: unpacked datasets and the artefact cache."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "UNLEARN_BENCH_CACHE"


def cache_dir() -> Path:
    """``$UNLEARN_BENCH_CACHE``, else ``$XDG_CACHE_HOME/unlearn-bench``, else ``~/.cache/unlearn-bench``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "unlearn-bench"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``path`` so that readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
