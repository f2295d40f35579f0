"""What every registered plugin class has in common: a name, typed parameters, its provenance and its code identity.

A cached artefact or result row may be reused only while the code that produced it is the same. Each component's
identity therefore enters every cache key it takes part in, in one of two ways:

- a class that declares ``behaviour_version`` promises that its outputs change only when that number does: the
  number is its identity (left out of keys at 1, the first version, so results made before the declaration keep
  their keys). A project that declares versions pins its code beside them in a test, so a code change forces the
  choice between raising the version (outputs change) and re-pinning (a refactor);
- a class that declares none is identified by a fingerprint of its code: the source of its module and of every
  module of the same top-level package that module imports, directly or not. Any edit reruns what it built.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.util
import inspect
import sys
from pathlib import Path
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

    Subclasses set ``name`` (the name suites use) and may set ``Params``, a dataclass of parameters with defaults,
    and ``behaviour_version`` (see the module's docstring: without it, any edit of the plugin's code reruns what it
    built). The registry sets ``provenance`` when the class is registered.
    """

    name: ClassVar[str]
    Params: ClassVar[type] = NoParams
    provenance: ClassVar[Provenance | None] = None
    behaviour_version: ClassVar[int | None] = None

    def __init__(self, params: Any = None):
        self.params = params if params is not None else self.Params()

    @classmethod
    def check_params(cls, params: Any, where: Any) -> None:
        """Checks beyond the types of ``Params`` (run when a suite is loaded); raise ``where.error(...)``."""

    def upstream(self) -> frozenset[str]:
        """The upstream models this component reads through ``ctx.upstream(kind)`` ('original', 'attack',
        'retrained', 'twin', 'original-twin', 'attack-twin', 'shadow'). Executors build them before the cell that
        needs them; reading an undeclared one fails the cell."""
        return frozenset()

    @classmethod
    def summary(cls) -> str:
        """First line of the class docstring."""
        doc = inspect.getdoc(cls) or ""
        return doc.splitlines()[0] if doc else ""

    @classmethod
    def identity(cls) -> dict[str, Any]:
        """What stands for this class's code in cache keys: its declared behaviour version (nothing at 1), or the
        fingerprint of its code when it declares none."""
        version = cls.__dict__.get("behaviour_version")
        if version is None:
            return {"code": code_fingerprint(cls.__module__)}
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise TypeError(f"{cls.__qualname__}.behaviour_version must be an integer ≥ 1, got {version!r}")
        return {} if version == 1 else {"behaviour": version}


def _imported_modules(module_name: str, path: Path, package: str) -> set[str]:
    """Names of the modules of ``package`` that the module ``module_name`` (source file ``path``) imports."""
    parent = module_name if path.name == "__init__.py" else module_name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = importlib.util.resolve_name("." * node.level + base, parent or None)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        found |= {n for n in names if n == package or n.startswith(package + ".")}
    return found


def _module_file(name: str) -> Path | None:
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    if file is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        file = spec.origin if spec is not None else None
    return Path(file) if file and file.endswith(".py") else None


def code_fingerprint(module_name: str) -> str:
    """sha256 over the source of ``module_name`` and of every module of its top-level package that it imports,
    directly or through each other."""
    package = module_name.split(".")[0]
    files: dict[str, bytes] = {}
    todo = [module_name]
    while todo:
        name = todo.pop()
        if name in files:
            continue
        path = _module_file(name)
        if path is None:
            files[name] = b""
            continue
        files[name] = path.read_bytes()
        todo += _imported_modules(name, path, package) - set(files)
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()
