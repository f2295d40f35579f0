"""The plugin manager: entry-point discovery, validated registries, provenance.

Built-in plugins are ordinary entry points of the ``unlearn-bench`` distribution; nothing here special-cases them.
Two environment variables control loading:

- ``UNLEARN_BENCH_PLUGINS``: comma-separated entry-point names to load, and no others (empty: load none);
- ``UNLEARN_BENCH_BLOCK_PLUGINS``: comma-separated entry-point names never to load.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pluggy

from . import hookspecs
from .attacks import Attack
from .component import Provenance
from .datasets import Dataset
from .errors import UserError, did_you_mean
from .executors import Executor
from .features import Extractor, forget_loaded_extractors
from .methods import Method
from .metrics import FeatureMetric, Metric, is_feature_metric
from .models import I2IModel
from .params import Where
from .plugin_index import ALLOW_ENV, BLOCK_ENV, GROUP, selected_entry_points
from .tasks import Task

__all__ = ["ALLOW_ENV", "BLOCK_ENV", "GROUP", "KINDS", "PluginError", "Plugins", "get_plugins", "reset_plugins"]

KINDS: dict[str, tuple[str, type, tuple[str, ...]]] = {
    # kind: (hook, base class, methods a subclass must override)
    "dataset": ("register_datasets", Dataset, ("load",)),
    "task": ("register_tasks", Task, ("degrade",)),
    "model": ("register_models", I2IModel, ("encode", "decode")),
    "method": ("register_methods", Method, ("unlearn",)),
    "attack": ("register_attacks", Attack, ()),
    "metric": ("register_metrics", Metric, ()),  # update and compute, or score for feature metrics
    "extractor": ("register_extractors", Extractor, ("load", "extract")),
    "executor": ("register_executors", Executor, ("run",)),
}

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*")


class PluginError(UserError):
    """A plugin failed to load or registered something invalid."""


class Registry:
    """The classes of one kind, by name."""

    def __init__(self, kind: str):
        self.kind = kind
        _, self.base, self.required = KINDS[kind]
        self._classes: dict[str, type] = {}

    def add(self, cls: Any, provenance: Provenance) -> None:
        who = f"plugin '{provenance.plugin}'"
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise PluginError(
                f"{who} registered {cls!r} as a {self.kind}; expected a subclass of "
                f"{self.base.__module__}.{self.base.__qualname__}"
            )
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise PluginError(
                f"{who}: {cls.__qualname__}.name must be a lower-case name such as 'my-method', got {name!r}"
            )
        if name in self._classes:
            other = self._classes[name].provenance
            raise PluginError(f"{self.kind} '{name}' is registered twice: by plugin '{other.plugin}' and by {who}")
        if not dataclasses.is_dataclass(cls.Params):
            raise PluginError(f"{who}: {cls.__qualname__}.Params must be a dataclass")
        required, base = self.required, self.base
        if self.kind == "metric":
            required, base = (("score",), FeatureMetric) if is_feature_metric(cls) else (("update", "compute"), base)
        missing = [m for m in required if getattr(cls, m) is getattr(base, m)]
        if missing:
            raise PluginError(f"{who}: {self.kind} '{name}' does not implement {', '.join(missing)}")
        if self.kind == "metric":
            if not isinstance(getattr(cls, "higher_is_better", None), bool):
                raise PluginError(f"{who}: metric '{name}' must declare higher_is_better = True or False")
            if not isinstance(getattr(cls, "display_name", None), str):
                raise PluginError(f"{who}: metric '{name}' must declare display_name, its column heading")
        cls.provenance = provenance
        self._classes[name] = cls

    def get(self, name: str, where: Where | None = None) -> type:
        try:
            return self._classes[name]
        except KeyError:
            message = f"unknown {self.kind} '{name}'{did_you_mean(name, self._classes)}"
            raise (where.error(message) if where else UserError(message)) from None

    def names(self) -> list[str]:
        return sorted(self._classes)

    def __iter__(self):
        return iter(self._classes[name] for name in self.names())


class Plugins:
    """A plugin manager plus the registries its plugins fill."""

    def __init__(self):
        self.manager = pluggy.PluginManager(GROUP)
        self.manager.add_hookspecs(hookspecs)
        self.distributions: dict[str, tuple[str | None, str | None]] = {}
        self._registries: dict[str, Registry] | None = None

    def register(self, plugin: Any, name: str, distribution: str | None = None, version: str | None = None) -> None:
        try:
            self.manager.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise PluginError(f"plugin '{name}' could not be registered: {exc}") from None
        self.distributions[name] = (distribution, version)
        self._registries = None
        try:
            self._check_hook_names()
        except PluginError:
            self.unregister(name)  # so that a later registration is not blamed for this plugin's typo
            raise

    def _check_hook_names(self) -> None:
        """A misspelled hook is an error, not a hook that is silently never called."""
        try:
            self.manager.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"{exc} (hooks are: {', '.join(KINDS[k][0] for k in KINDS)})") from None

    def unregister(self, name: str) -> None:
        self.manager.unregister(name=name)
        self.distributions.pop(name, None)
        self._registries = None

    def load_entry_points(self) -> None:
        for ep in selected_entry_points():
            if self.manager.has_plugin(ep.name):
                continue
            dist = ep.dist.name if ep.dist else None
            try:
                module = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"entry point '{ep.name}' ({ep.value}) of distribution {dist or '?'} failed to import: "
                    f"{type(exc).__name__}: {exc}. Uninstall it or block it with {BLOCK_ENV}={ep.name}"
                ) from None
            self.register(module, ep.name, dist, ep.dist.version if ep.dist else None)

    @property
    def registries(self) -> dict[str, Registry]:
        if self._registries is None:
            registries = {kind: Registry(kind) for kind in KINDS}
            for kind, (hook_name, _, _) in KINDS.items():
                for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
                    dist, version = self.distributions.get(impl.plugin_name, (None, None))
                    provenance = Provenance(impl.plugin_name, dist, version)
                    impl.function(register=lambda cls, p=provenance, r=registries[kind]: r.add(cls, p))
            self._registries = registries
        return self._registries

    def registry(self, kind: str) -> Registry:
        return self.registries[kind]

    def hooks_of(self, name: str) -> list[str]:
        plugin = self.manager.get_plugin(name)
        return sorted(h.name for h in self.manager.get_hookcallers(plugin) or [])


_plugins: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugin manager, with entry points loaded on first use."""
    global _plugins
    if _plugins is None:
        plugins = Plugins()
        plugins.load_entry_points()
        _plugins = plugins
    return _plugins


def reset_plugins() -> None:
    """Forget the loaded plugins and the extractors they loaded (tests use this after changing the environment)."""
    global _plugins
    _plugins = None
    forget_loaded_extractors()


def listing_rows() -> list[list[str]]:
    """``unlearn-bench plugins``' listing (``plugin_index.HEADERS``) of the selected entry points alone, by importing
    them into a fresh manager (nothing registered in-process)."""
    plugins = Plugins()
    plugins.load_entry_points()
    registered: dict[str, list[str]] = {}
    for kind in KINDS:
        for cls in plugins.registry(kind):
            registered.setdefault(cls.provenance.plugin, []).append(f"{kind} {cls.name}")
    rows = []
    for name, _ in sorted(plugins.manager.list_name_plugin()):
        dist, version = plugins.distributions.get(name, (None, None))
        rows.append(
            [name, dist or "-", version or "-", ", ".join(plugins.hooks_of(name)), ", ".join(registered.get(name, []))]
        )
    return rows
