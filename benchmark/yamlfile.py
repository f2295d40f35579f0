"""Reading the YAML a user hands us, with bounds: a suite can never run code, exhaust memory or hang the loader.

``yaml.safe_load`` alone already keeps code out; this module adds what it lacks for hostile or careless input:
only regular files of at most :data:`MAX_BYTES` are read (never ``/dev/zero`` or a FIFO), the text must be UTF-8,
a key may appear once per mapping, and the loaded document may hold at most :data:`MAX_VALUES` values counted with
every alias expanded (a few hundred bytes of nested aliases otherwise expand to billions of values for whatever
walks the tree later) and nest at most :data:`MAX_DEPTH` levels. Every violation is a :class:`ConfigError` naming
the file and, where there is one, the line.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

MAX_BYTES = 1 << 20  # the largest committed suite is about 10 KB
MAX_VALUES = 100_000  # mappings, lists and scalars, with aliases expanded
MAX_DEPTH = 64


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing duplicate keys (YAML says keys are unique; PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` merges keys that later explicit keys may override
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # an unhashable key: SafeConstructor reports it
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key '{key}' (first set at line {first}); a key may appear once per mapping",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _describe(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return f"not valid YAML{where}: {problem}"


def read_text(path: Path) -> str:
    """The file's text, if it is a regular UTF-8 file of at most :data:`MAX_BYTES`."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError("not a regular file (a suite must be a YAML file on disk)", file=str(path))
        if info.st_size > MAX_BYTES:
            raise ConfigError(f"{info.st_size} bytes; a suite file may hold at most {MAX_BYTES}", file=str(path))
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror}", file=str(path)) from None
    if len(data) > MAX_BYTES:  # grew while read
        raise ConfigError(f"more than {MAX_BYTES} bytes; a suite file may hold at most that", file=str(path))
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError("encoded as UTF-16; save it as UTF-8", file=str(path))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"not UTF-8: byte 0x{data[exc.start]:02x} at line {line}, column {column}; save the file as UTF-8",
            file=str(path),
        ) from None


def parse(text: str, file: str) -> Any:
    """YAML text to Python values, bounded in size and depth; ``file`` names the source in errors."""
    try:
        value = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(_describe(exc), file=file) from None
    except RecursionError:
        raise ConfigError(f"nested more than {MAX_DEPTH} levels deep", file=file) from None
    check_size(value, file)
    return value


def check_size(value: Any, file: str) -> None:
    """Refuse a document that expands (aliases included) to more than :data:`MAX_VALUES` values or nests deeper
    than :data:`MAX_DEPTH`; the walk stops at the bound, so a bomb costs no more than the bound to detect."""
    count = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ConfigError(
                f"expands to more than {MAX_VALUES} values (counting every alias expanded); a suite is far smaller",
                file=file,
            )
        if depth > MAX_DEPTH:
            raise ConfigError(f"nested more than {MAX_DEPTH} levels deep", file=file)
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
            stack.extend((k, depth + 1) for k in node)
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def load(path: Path) -> Any:
    """A YAML file a user hands us, read and parsed within the bounds above."""
    return parse(read_text(path), str(path))
