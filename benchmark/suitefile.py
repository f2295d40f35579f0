"""The suite file: bounded safe YAML (``yamlfile``: a suite can never execute code or exhaust memory) with
``include:`` files merged underneath, paper numbers pointed to in another suite (``paper: {from, table}``) copied in,
``--set key=value`` overrides applied and ``${VAR}`` / ``${VAR:-default}`` taken from the environment; and, for every
value, the file (or ``--set``) that wrote it, so that an error is reported where the value was written. Nothing here
knows what a suite means: ``suite`` validates the merged document.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from . import yamlfile
from .errors import ConfigError
from .params import Where

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Origins:
    """Which file each key path came from (the last file that set it wins)."""

    def __init__(self):
        self.files: dict[tuple, str] = {}

    def mark(self, value: Any, file: str, path: tuple = ()) -> None:
        """Record that ``file`` set ``value`` at ``path``. Mappings merge into what was there; a list or scalar
        replaces it, so the origins of the old items below it are forgotten."""
        if isinstance(value, dict):
            self.files[path] = file
            for k, v in value.items():
                self.mark(v, file, (*path, k))
            return
        self.files = {p: f for p, f in self.files.items() if p[: len(path)] != path}
        self._mark_new(value, file, path)

    def _mark_new(self, value: Any, file: str, path: tuple) -> None:
        self.files[path] = file
        children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for k, v in children:
            self._mark_new(v, file, (*path, k))

    def file_of(self, path: tuple) -> str | None:
        for end in range(len(path), -1, -1):
            if path[:end] in self.files:
                return self.files[path[:end]]
        return None


def _merge(base: Any, top: Any) -> Any:
    if isinstance(base, dict) and isinstance(top, dict):
        merged = dict(base)
        for key, value in top.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    return top


def _load(path: Path, origins: Origins, stack: tuple[Path, ...]) -> dict:
    path = path.resolve()
    if path in stack:
        chain = " → ".join(str(p) for p in (*stack, path))
        raise ConfigError(f"include cycle: {chain}", file=str(stack[-1]), key="include")
    doc = yamlfile.load(path)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(f"expected a mapping at the top level, got {type(doc).__name__}", file=str(path))
    includes = doc.pop("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ConfigError("expected a file name or a list of file names", file=str(path), key="include")
    merged: dict = {}
    for include in includes:
        merged = _merge(merged, _load(path.parent / include, origins, (*stack, path)))
    _resolve_paper_references(doc, path, stack)
    origins.mark(doc, str(path))
    return _merge(merged, doc)


def _resolve_paper_references(doc: dict, path: Path, stack: tuple[Path, ...]) -> None:
    """Replace each ``paper: {from: other.yaml, table: id}`` in ``doc``'s leaderboard tables by that table's paper
    numbers in the other suite (its keys besides ``from`` and ``table`` override them): a paper's numbers live in
    one suite, and its counterparts at another scale point to them."""
    for i, table in _tables(doc):
        paper = table.get("paper")
        if not (isinstance(paper, dict) and "from" in paper):
            continue
        key = f"leaderboard.tables.{i}.paper"
        source, table_id = paper.get("from"), paper.get("table")
        if not isinstance(source, str) or not isinstance(table_id, str):
            raise ConfigError("expected 'from: <suite file>' and 'table: <table id>'", file=str(path), key=key)
        other = _load(path.parent / source, Origins(), (*stack, path))
        found = [t.get("paper") for _, t in _tables(other) if t.get("id") == table_id]
        if not found or not isinstance(found[0], dict):
            raise ConfigError(f"{source} has no table '{table_id}' with paper numbers", file=str(path), key=key)
        rest = {k: v for k, v in paper.items() if k not in ("from", "table")}
        table["paper"] = _merge(found[0], rest)


def _tables(doc: dict) -> list[tuple[int, dict]]:
    """The leaderboard tables of an unvalidated suite document that are mappings, with their positions (the shape
    is checked later)."""
    board = doc.get("leaderboard")
    tables = board.get("tables") if isinstance(board, dict) else None
    return [(i, t) for i, t in enumerate(tables) if isinstance(t, dict)] if isinstance(tables, list) else []


def _interpolate(value: Any, where: Where) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, where / k) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, where / i) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise where.error(f"environment variable {name} is not set (write ${{{name}:-default}} for a default)")

    whole = _ENV.fullmatch(value)
    if whole:
        # A value that is exactly one ${...} takes the type YAML gives it: ${BATCH:-8} is the integer 8.
        text = substitute(whole)
        try:
            return yamlfile.parse(text, "an environment variable") if text else text
        except ConfigError:
            return text
    return _ENV.sub(substitute, value)


def _set(data: dict, assignment: str, origins: Origins) -> None:
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"expected KEY=VALUE, got '{assignment}'", file="--set")
    try:
        value = yamlfile.parse(text, "--set")
    except ConfigError as exc:
        if "expands to more than" in exc.message or "nested more than" in exc.message:
            raise ConfigError(exc.message, file="--set", key=key) from None
        value = text
    node: Any = data
    path: list[str | int] = []
    parts = key.split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if part.isdigit() and int(part) < len(node):
                index = int(part)
            else:
                matches = [
                    j for j, v in enumerate(node) if isinstance(v, dict) and part == (v.get("id") or v.get("name"))
                ]
                if len(matches) != 1:
                    raise ConfigError(
                        f"'{part}' is neither an index nor the id of exactly one item", file="--set", key=key
                    )
                index = matches[0]
            path.append(index)
            if last:
                node[index] = value
            else:
                node = node[index]
        elif isinstance(node, dict):
            path.append(part)
            if last:
                node[part] = value
            else:
                if part not in node:
                    node[part] = {}
                    origins.mark(node[part], "--set", tuple(path))
                node = node[part]
        else:
            raise ConfigError("cannot set a key inside a scalar value", file="--set", key=key)
    origins.mark(value, "--set", tuple(path))


def merged_yaml(path: str | Path) -> dict:
    """A suite file with its includes merged underneath, not interpolated or validated (for listing suites that
    cannot be loaded here, e.g. because their data is missing)."""
    return _load(Path(path), Origins(), ())


def read(path: str | Path, overrides: list[str] = ()) -> tuple[dict, Where]:
    """The suite file ``path`` merged with its includes, ``overrides`` applied and the environment interpolated; and
    the root of its key paths, which knows the file that wrote each value."""
    origins = Origins()
    data = _load(Path(path), origins, ())
    for assignment in overrides:
        _set(data, assignment, origins)
    root = Where((), origins.file_of)
    return _interpolate(data, root), root
