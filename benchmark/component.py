"""What every registered plugin class has in common: a name, typed parameters and its provenance."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, ClassVar

from .params import NoParams


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Which plugin registered a class, and that plugin's distribution and version (None when unpackaged)."""

    plugin: str
    distribution: str | None = None
    version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Component:
    """Base of all plugin classes.

    Subclasses set ``name`` (the name suites use) and may set ``Params``, a dataclass of parameters with defaults.
    The registry sets ``provenance`` when the class is registered.
    """

    name: ClassVar[str]
    Params: ClassVar[type] = NoParams
    provenance: ClassVar[Provenance | None] = None

    def __init__(self, params: Any = None):
        self.params = params if params is not None else self.Params()

    @classmethod
    def check_params(cls, params: Any, where: Any) -> None:
        """Checks beyond the types of ``Params`` (run when a suite is loaded); raise ``where.error(...)``."""

    def upstream(self) -> frozenset[str]:
        """The upstream models this component reads through ``ctx.upstream(kind)`` ('original', 'attack',
        'retrained', 'shadow'). Executors build them before the cell that needs them; reading an undeclared one
        fails the cell."""
        return frozenset()

    @classmethod
    def summary(cls) -> str:
        """First line of the class docstring."""
        doc = inspect.getdoc(cls) or ""
        return doc.splitlines()[0] if doc else ""
