"""Where unlearn-bench keeps files it can recompute: unpacked datasets and the artefact cache."""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

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


def read_stored(path: Path, load: Callable[[Path], T], what: str, *, set_aside: bool) -> T | None:
    """``load(path)``, or None when the file is absent or cannot be read whole. Every stored file is written
    atomically, so a file that fails to load was truncated or corrupted outside unlearn-bench: it is reported once on
    stderr with its path and the reason and, with ``set_aside``, renamed to ``NAME.corrupt`` so that the work that
    made it is redone instead of the file being read as valid (read-only commands leave it in place)."""
    if not path.is_file():
        return None
    try:
        return load(path)
    except Exception as exc:  # noqa: BLE001 - whatever the damage, the file is not usable
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        action = ""
        if set_aside:
            aside = path.with_name(path.name + ".corrupt")
            os.replace(path, aside)
            action = f"; moved to {aside.name}, it will be recomputed"
        print(f"warning: {what} {path} cannot be read ({reason}){action}", file=sys.stderr, flush=True)
        return None


class FileLock:
    """An exclusive advisory lock (``flock``) on ``path``, so that concurrent runs sharing a store split the work
    instead of doing it twice. The operating system releases it when the process ends, however it ends (``kill -9``
    included), so a stale lock never blocks a later run. Lock files are empty and left in place (removing one while
    another process waits on it would let two processes hold "the" lock)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; without ``blocking``, return False at once when another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
