"""Typed parameters: plain dataclasses, checked against YAML values with messages that name the key.

Every plugin declares its parameters as a dataclass ``Params`` with defaults; the suite loader turns the
YAML mapping into an instance with :func:`parse`. Supported field types: ``bool``, ``int``, ``float`` (ints are
accepted), ``str``, ``Literal[...]``, ``list[T]``, ``tuple[T, ...]``, ``dict[str, T]``, ``T | None``, ``Any``
and nested dataclasses. Numbers must be finite and integers below 2**31 in magnitude. A field's ``metadata`` may give
``help`` (shown by ``unlearn-bench plugins``) and ``min``, the smallest value accepted.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

from .errors import ConfigError, did_you_mean

MAX_INT = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class NoParams:
    """For plugins without parameters."""


class Where:
    """Where a value sits in a suite: a key path, and a function mapping key paths to the file they came from."""

    def __init__(self, path: tuple[str | int, ...] = (), file_of=lambda path: None):
        self.path = path
        self.file_of = file_of

    def __truediv__(self, key: str | int) -> Where:
        return Where((*self.path, key), self.file_of)

    @property
    def key(self) -> str:
        text = ""
        for part in self.path:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text

    def error(self, message: str) -> ConfigError:
        return ConfigError(message, file=self.file_of(self.path), key=self.key or None)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is type(None):
        return "null"
    if origin is Literal:
        return " or ".join(repr(v) for v in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def coerce(value: Any, tp: Any, where: Where) -> Any:
    """Check ``value`` against the type ``tp`` and convert it (lists to tuples, mappings to dataclasses)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return parse(tp, value, where)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(exc)
        # One arm that failed inside the value (a list whose item is wrong) says more than the arms it is not.
        inside = [exc for exc in errors if (exc.key or "") != where.key]
        if len(errors) == 1 or len(inside) == 1:
            raise (inside or errors)[0]
        raise where.error(f"expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            hint = did_you_mean(str(value), [str(a) for a in allowed]) if isinstance(value, str) else ""
            raise where.error(f"expected {_type_name(tp)}, got {value!r}{hint}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise where.error(f"expected {_type_name(tp)}, got {value!r}")
        args = typing.get_args(tp)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise where.error(f"expected a list of {len(args)} items, got {len(value)}")
            return tuple(coerce(v, a, where / i) for i, (v, a) in enumerate(zip(value, args)))
        items = [coerce(v, args[0], where / i) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if value is None:  # an empty YAML key ('params:') is an empty mapping
            return {}
        if not isinstance(value, Mapping):
            raise where.error(f"expected a mapping, got {value!r}")
        key_type, value_type = typing.get_args(tp)
        return {coerce(k, key_type, where): coerce(v, value_type, where / str(k)) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise where.error(f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise where.error(f"expected an integer, got {value!r}")
        if abs(value) > MAX_INT:  # no count, size or seed here means more; torch seeds stop at 2**64
            raise where.error(f"expected an integer of magnitude at most 2**31 - 1, got {value!r}")
        return value
    if tp is float:
        # YAML reads '1e-3' (no dot) as a string; accept it as the number it obviously is.
        number = value
        if isinstance(value, str) and re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*", value):
            number = float(value)
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise where.error(f"expected a number, got {value!r}")
        if not math.isfinite(number):  # NaN or ±infinity: no parameter means either
            raise where.error(f"expected a finite number, got {value!r}")
        return float(number)
    if tp is str:
        if not isinstance(value, str):
            raise where.error(f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported parameter type {tp!r} at {where.key}")


def parse(cls: type, values: Any, where: Where):
    """Build the dataclass ``cls`` from a mapping; unknown or missing keys and wrong types are errors."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise where.error(f"expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in values if k not in fields]
    if unknown:
        key = str(unknown[0])
        hint = getattr(cls, "unknown_key_hints", {}).get(key)
        raise (where / key).error(f"unknown key '{key}'" + (f": {hint}" if hint else did_you_mean(key, fields)))
    kwargs = {}
    for name, field in fields.items():
        if name in values:
            kwargs[name] = coerce(values[name], hints[name], where / name)
            minimum = field.metadata.get("min")
            if minimum is not None and kwargs[name] is not None and kwargs[name] < minimum:
                raise (where / name).error(f"must be at least {minimum}, got {values[name]!r}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise (where / name).error(f"required key is missing (expected {_type_name(hints[name])})")
    try:
        instance = cls(**kwargs)
    except ValueError as exc:  # __post_init__ checks, some involving several fields
        raise _blame(where, str(exc), values) from None
    return instance


def _blame(where: Where, message: str, values: Mapping) -> ConfigError:
    """The error of a ``__post_init__`` check, placed at the value it names: of the keys the message mentions, the
    first one the user wrote decides the key and file reported (a value set by ``--set`` or an including file is
    blamed there, not on the file that holds the enclosing mapping), and every mentioned value is shown."""
    named = sorted(
        (match.start(), key)
        for key in values
        if isinstance(key, str) and (match := re.search(rf"(?<!\w){re.escape(key)}(?!\w)", message))
    )
    if not named:
        return where.error(message)
    shown = ", ".join(f"{key} = {values[key]!r}" for _, key in named)
    return (where / named[0][1]).error(f"{message} (got {shown})")


OMIT_AT_DEFAULT = "omit_at_default"


def added_field(default: Any = None, *, help: str) -> Any:
    """A parameter added after results with its class existed. While it has its default it is left out of
    :func:`to_dict`, so configurations recorded and hashed before it existed (cache keys) stay valid."""
    return dataclasses.field(default=default, metadata={"help": help, OMIT_AT_DEFAULT: True})


def to_dict(params: Any) -> Any:
    """Plain data (for hashing and recording) from a parameters instance; :func:`added_field` parameters at their
    default are left out."""
    if dataclasses.is_dataclass(params):
        return {
            f.name: to_dict(getattr(params, f.name))
            for f in dataclasses.fields(params)
            if not (f.metadata.get(OMIT_AT_DEFAULT) and getattr(params, f.name) == f.default)
        }
    if isinstance(params, (list, tuple)):
        return [to_dict(v) for v in params]
    if isinstance(params, dict):
        return {k: to_dict(v) for k, v in params.items()}
    return params


def describe(cls: type, prefix: str = "", defaults: Any = None) -> list[tuple[str, str, Any, str]]:
    """(name, type, default, help) for each parameter, nested ones as dotted names: the reference shown by
    ``unlearn-bench plugins NAME``. ``defaults`` is the enclosing field's default instance, whose values win over
    the nested class's own defaults."""
    hints = typing.get_type_hints(cls)
    rows = []
    for field in dataclasses.fields(cls):
        if defaults is not None:
            default = getattr(defaults, field.name)
        elif field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = "(required)"
        name = prefix + field.name
        if dataclasses.is_dataclass(hints[field.name]):
            rows += describe(hints[field.name], f"{name}.", default if dataclasses.is_dataclass(default) else None)
            continue
        rows.append((name, _type_name(hints[field.name]), to_dict(default), field.metadata.get("help", "")))
    return rows
