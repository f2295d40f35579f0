"""Which entry points are loaded, and ``unlearn-bench plugins``' listing without importing any plugin.

Listing what each plugin registers means calling its hooks, which imports it (and torch). The listing is therefore
kept in the cache (``plugin-index.json``) under a fingerprint of everything that produced it: every selected entry
point (name, target, distribution and version) and the size and modification time of every Python file of the
package each one lives in and of the harness. Finding those files imports at most a plugin's parent package (for the
built-ins, a docstring). Any change to them, to the installed plugins or to the selection variables makes the next
listing import the plugins again and rewrite the index. The index holds strings only and is read as JSON.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
from collections.abc import Callable
from pathlib import Path

from .hashing import stable_hash
from .paths import atomic_write_bytes, cache_dir

GROUP = "unlearn_bench"
ALLOW_ENV = "UNLEARN_BENCH_PLUGINS"
BLOCK_ENV = "UNLEARN_BENCH_BLOCK_PLUGINS"
INDEX = "plugin-index.json"
HEADERS = ["plugin", "distribution", "version", "hooks", "registers"]


def selected_entry_points() -> list[importlib.metadata.EntryPoint]:
    """The entry points of the group that ``UNLEARN_BENCH_PLUGINS`` (when set) allows and
    ``UNLEARN_BENCH_BLOCK_PLUGINS`` does not block, in discovery order."""
    allow = os.environ.get(ALLOW_ENV)
    allowed = None if allow is None else {n.strip() for n in allow.split(",") if n.strip()}
    blocked = {n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()}
    return [
        ep
        for ep in importlib.metadata.entry_points(group=GROUP)
        if ep.name not in blocked and (allowed is None or ep.name in allowed)
    ]


def _source_files(module: str) -> list[Path] | None:
    """The Python files of the package ``module`` belongs to (the module alone when it is top-level); None when it
    cannot be found without running it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        return None
    origin = Path(spec.origin)
    if spec.submodule_search_locations or "." in module:
        return sorted(origin.parent.rglob("*.py"))
    return [origin]


def fingerprint(entry_points: list[importlib.metadata.EntryPoint]) -> str | None:
    """What the listing of ``entry_points`` depends on, hashed; None when a plugin's files cannot be found."""
    parts: list = []
    files: set[Path] = set(Path(__file__).parent.glob("*.py"))
    for ep in entry_points:
        found = _source_files(ep.module)
        if found is None:
            return None
        files.update(found)
        parts.append([ep.name, ep.value, ep.dist.name if ep.dist else None, ep.dist.version if ep.dist else None])
    for path in sorted(files):
        stat = path.stat()
        parts.append([str(path), stat.st_size, stat.st_mtime_ns])
    return stable_hash(parts)


def listing(by_import: Callable[[], list[list[str]]]) -> list[list[str]]:
    """One row per loaded plugin (``HEADERS``): from the index when its fingerprint matches, else ``by_import()``
    (which imports the plugins: ``plugins.listing_rows``) and the index is rewritten."""
    key = fingerprint(selected_entry_points())
    path = cache_dir() / INDEX
    if key is not None and path.is_file():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            stored = None
        rows = stored.get("rows") if isinstance(stored, dict) and stored.get("key") == key else None
        if isinstance(rows, list) and all(isinstance(r, list) and all(isinstance(v, str) for v in r) for r in rows):
            return rows
    rows = by_import()
    if key is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps({"key": key, "rows": rows}, indent=1).encode())
    return rows
