"""The plugin manager: entry-point discovery, the allow/block variables, registration checks and provenance."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import sys
import textwrap
import types
from pathlib import Path

import pytest
import unlearn_bench
from unlearn_bench.errors import ConfigError, UserError
from unlearn_bench.methods import Method
from unlearn_bench.metrics import Metric
from unlearn_bench.models import I2IModel
from unlearn_bench.params import Where
from unlearn_bench.plugins import (
    ALLOW_ENV,
    BLOCK_ENV,
    GROUP,
    KINDS,
    PluginError,
    Plugins,
    get_plugins,
    reset_plugins,
)

BUILTINS = {
    "fashion-mnist": ("dataset", ["fashion-mnist"]),
    "cifar10": ("dataset", ["cifar10"]),
    "image-folders": ("dataset", ["image-folder", "imagenet", "places365"]),
    "center-inpaint": ("task", ["center-inpaint", "outpaint"]),
    "conv-autoencoder": ("model", ["conv-autoencoder"]),
    "mae": ("model", ["mae"]),
    "vq-transformer": ("model", ["vq-transformer"]),
    "diffusion-inpaint": ("model", ["diffusion-inpaint"]),
    "no-unlearning": ("method", ["no-unlearning"]),
    "retrain": ("method", ["retrain"]),
    "realistic-i2i": ("method", ["realistic-i2i"]),
    "gradient-ascent": ("method", ["gradient-ascent"]),
    "finetune-retain": ("method", ["finetune-retain"]),
    "merged-objective": ("method", ["merged-objective"]),
    "noisy-label": ("method", ["noisy-label"]),
    "random-encoder": ("method", ["random-encoder"]),
    "i2i-sota": ("method", ["i2i-sota"]),
    "pixel-metrics": ("metric", ["mse", "psnr"]),
    "backdoor": ("attack", ["backdoor", "quantize", "relearn"]),
    "membership-inference": ("attack", ["lira", "membership-inference"]),
    "forget-score": ("attack", ["forget-score"]),
    "inception-v3-tf": ("extractor", ["inception-v3-tf"]),
    "efficientnet-lite0": ("extractor", ["efficientnet-lite0"]),
    "open-clip": ("extractor", ["open-clip"]),
    "fidelity-metrics": ("metric", ["clip-similarity", "fid", "inception-score", "kid"]),
    "local-executor": ("executor", ["local"]),
    "ray-executor": ("executor", ["ray"]),
}
BUILTIN_METHODS = sorted(name for kind, names in BUILTINS.values() if kind == "method" for name in names)
FAKE_MODULES = ("fake_plugin_module", "broken_plugin_module")


@pytest.fixture(autouse=True)
def clean_state(monkeypatch):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    monkeypatch.delenv(BLOCK_ENV, raising=False)
    reset_plugins()
    yield
    reset_plugins()
    for name in FAKE_MODULES:
        sys.modules.pop(name, None)


def empty_plugins(monkeypatch) -> Plugins:
    """A manager with no entry points loaded (check_pending has still run)."""
    monkeypatch.setenv(ALLOW_ENV, "")
    plugins = Plugins()
    plugins.load_entry_points()
    return plugins


def names(plugins: Plugins) -> dict[str, list[str]]:
    return {kind: plugins.registry(kind).names() for kind in KINDS}


# ----------------------------------------------------------------------------------- throw-away plugin classes


@dataclasses.dataclass(frozen=True)
class ShoutParams:
    volume: int = 3


class Shout(Method):
    """A method that does nothing loudly."""

    name = "shout"
    Params = ShoutParams

    def unlearn(self, model, ctx):
        return model


class Whisper(Method):
    name = "whisper"

    def unlearn(self, model, ctx):
        return model


class OtherShout(Method):
    name = "shout"

    def unlearn(self, model, ctx):
        return model


class FakeRetrain(Method):
    name = "retrain"

    def unlearn(self, model, ctx):
        return model


class Lazy(Method):
    """Forgot to implement unlearn."""

    name = "lazy"


class GoodMetric(Metric):
    name = "good-metric"
    display_name = "Good"
    higher_is_better = True

    def update(self, outputs, reference, mask):
        pass

    def compute(self):
        return 0.0


class NoDirection(Metric):
    name = "no-direction"
    display_name = "?"

    def update(self, outputs, reference, mask):
        pass

    def compute(self):
        return 0.0


class IntDirection(NoDirection):
    name = "int-direction"
    higher_is_better = 1


class NoHeading(GoodMetric):
    name = "no-heading"
    display_name = None


class HalfModel(I2IModel):
    name = "half-model"

    def encode(self, inputs, mask):
        return inputs


class BadName(Method):
    name = "Bad Name"

    def unlearn(self, model, ctx):
        return model


class Nameless(Method):
    def unlearn(self, model, ctx):
        return model


class PlainParams(Method):
    name = "plain-params"
    Params = dict

    def unlearn(self, model, ctx):
        return model


def plugin_registering(hook: str, *classes):
    """A plugin object whose one hook registers ``classes``."""

    def impl(register):
        for cls in classes:
            register(cls)

    impl.__name__ = hook
    return types.SimpleNamespace(**{hook: unlearn_bench.hookimpl(impl)})


# ------------------------------------------------------------------------------------------------ built-ins


def test_builtins_come_from_entry_points_of_the_distribution():
    plugins = Plugins()
    plugins.load_entry_points()
    version = importlib.metadata.version("unlearn-bench")
    assert version and version == unlearn_bench.__version__
    for name in BUILTINS:
        assert plugins.distributions[name] == ("unlearn-bench", version), name
    entry_point_names = {ep.name for ep in importlib.metadata.entry_points(group=GROUP)}
    assert set(plugins.distributions) == entry_point_names  # nothing special-cased, nothing left out
    assert {name for name, _ in plugins.manager.list_name_plugin()} == entry_point_names


def test_builtins_register_their_classes_with_provenance():
    plugins = Plugins()
    plugins.load_entry_points()
    for plugin, (kind, registered) in BUILTINS.items():
        for name in registered:
            cls = plugins.registry(kind).get(name)
            assert cls.name == name
            assert cls.provenance.as_dict() == {
                "plugin": plugin,
                "distribution": "unlearn-bench",
                "version": unlearn_bench.__version__,
            }
        assert plugins.hooks_of(plugin) == [KINDS[kind][0]]
    for kind in KINDS:  # and nothing else
        expected = {name for k, names in BUILTINS.values() if k == kind for name in names}
        assert set(plugins.registry(kind).names()) == expected


def test_get_plugins_is_cached_until_reset():
    first = get_plugins()
    assert get_plugins() is first
    assert "realistic-i2i" in first.registry("method").names()
    reset_plugins()
    assert get_plugins() is not first


# ------------------------------------------------------------------------------------------ allow and block


def test_allow_list_loads_only_the_named_entry_points(monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, " retrain , pixel-metrics,,")
    plugins = get_plugins()
    assert set(plugins.distributions) == {"retrain", "pixel-metrics"}
    assert names(plugins) == {
        "dataset": [],
        "task": [],
        "model": [],
        "method": ["retrain"],
        "attack": [],
        "metric": ["mse", "psnr"],
        "extractor": [],
        "executor": [],
    }


def test_empty_allow_list_loads_nothing(monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "")
    plugins = get_plugins()
    assert plugins.distributions == {} and plugins.manager.list_name_plugin() == []
    assert all(not registered for registered in names(plugins).values())
    with pytest.raises(UserError, match="unknown method 'retrain'; none are registered"):
        plugins.registry("method").get("retrain")


def test_block_list_excludes_an_entry_point(monkeypatch):
    monkeypatch.setenv(BLOCK_ENV, "realistic-i2i")
    plugins = get_plugins()
    assert "realistic-i2i" not in plugins.distributions
    assert not plugins.manager.has_plugin("realistic-i2i")
    assert plugins.registry("method").names() == [m for m in BUILTIN_METHODS if m != "realistic-i2i"]
    assert set(plugins.distributions) == set(BUILTINS) - {"realistic-i2i"}


def test_block_wins_over_allow(monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "retrain,realistic-i2i")
    monkeypatch.setenv(BLOCK_ENV, "realistic-i2i, pixel-metrics")
    assert set(get_plugins().distributions) == {"retrain"}


# ----------------------------------------------------------------------------------- registering by object


def test_registering_an_object_adds_its_classes_with_provenance(monkeypatch):
    plugins = empty_plugins(monkeypatch)

    class Plugin:
        @unlearn_bench.hookimpl
        def register_methods(self, register):
            register(Shout)
            register(Whisper)

        @unlearn_bench.hookimpl
        def register_metrics(self, register):
            register(GoodMetric)

    plugins.register(Plugin(), "mine", "my-dist", "2.0")
    assert plugins.registry("method").names() == ["shout", "whisper"]
    assert plugins.registry("metric").get("good-metric") is GoodMetric
    assert Shout.provenance.as_dict() == {"plugin": "mine", "distribution": "my-dist", "version": "2.0"}
    assert plugins.hooks_of("mine") == ["register_methods", "register_metrics"]


def test_registering_a_module_without_a_distribution(monkeypatch):
    plugins = empty_plugins(monkeypatch)
    module = types.ModuleType("my_loose_module")

    @unlearn_bench.hookimpl
    def register_methods(register):
        register(Shout)

    module.register_methods = register_methods
    plugins.register(module, "loose")
    assert plugins.registry("method").get("shout").provenance.as_dict() == {
        "plugin": "loose",
        "distribution": None,
        "version": None,
    }


def test_registering_after_use_refreshes_the_registries():
    plugins = get_plugins()
    assert "shout" not in plugins.registry("method").names()
    plugins.register(plugin_registering("register_methods", Shout), "late")
    assert plugins.registry("method").names() == sorted([*BUILTIN_METHODS, "shout"])
    plugins.unregister("late")
    assert "shout" not in plugins.registry("method").names()
    assert "late" not in plugins.distributions


def test_plugin_name_must_be_unique(monkeypatch):
    plugins = empty_plugins(monkeypatch)
    plugins.register(plugin_registering("register_methods", Shout), "same")
    with pytest.raises(PluginError, match="plugin 'same' could not be registered"):
        plugins.register(plugin_registering("register_methods", Whisper), "same")


def test_hookimpl_with_wrong_arguments_is_refused(monkeypatch):
    plugins = empty_plugins(monkeypatch)

    class WrongArgs:
        @unlearn_bench.hookimpl
        def register_methods(self, reg):
            reg(Shout)

    with pytest.raises(PluginError, match="plugin 'wrong-args' could not be registered") as info:
        plugins.register(WrongArgs(), "wrong-args")
    assert "reg" in str(info.value)
    assert not plugins.manager.has_plugin("wrong-args")


def test_misspelled_hook_fails_the_pending_check(monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "")
    plugins = Plugins()

    class Misspelled:
        @unlearn_bench.hookimpl
        def register_method(self, register):
            register(Shout)

    with pytest.raises(PluginError) as info:
        plugins.register(Misspelled(), "typo")
    message = str(info.value)
    assert "unknown hook 'register_method'" in message and "Misspelled" in message
    assert "hooks are: " + ", ".join(hook for hook, _, _ in KINDS.values()) in message


# ----------------------------------------------------------------------------------------- invalid classes


def registry_error(monkeypatch, *plugins_to_register) -> PluginError:
    plugins = empty_plugins(monkeypatch)
    for name, plugin in plugins_to_register:
        plugins.register(plugin, name)
    with pytest.raises(PluginError) as info:
        plugins.registries  # noqa: B018 - registration happens when the registries are built
    return info.value


def test_duplicate_names_across_plugins(monkeypatch):
    err = registry_error(
        monkeypatch,
        ("first", plugin_registering("register_methods", Shout)),
        ("second", plugin_registering("register_methods", OtherShout)),
    )
    assert str(err) == "method 'shout' is registered twice: by plugin 'first' and by plugin 'second'"


def test_duplicate_of_a_builtin_name():
    plugins = get_plugins()
    plugins.register(plugin_registering("register_methods", FakeRetrain), "impostor")
    with pytest.raises(PluginError, match="method 'retrain' is registered twice: by plugin 'retrain' and by plugin"):
        plugins.registry("method")


def test_same_name_on_different_axes_is_fine(monkeypatch):
    class ShoutMetric(GoodMetric):
        name = "shout"

    plugins = empty_plugins(monkeypatch)
    plugins.register(plugin_registering("register_methods", Shout), "a")
    plugins.register(plugin_registering("register_metrics", ShoutMetric), "b")
    assert plugins.registry("method").get("shout") is Shout
    assert plugins.registry("metric").get("shout") is ShoutMetric


@pytest.mark.parametrize(
    ("hook", "registered", "expected"),
    [
        ("register_methods", GoodMetric, "expected a subclass of unlearn_bench.methods.Method"),
        ("register_metrics", Shout, "expected a subclass of unlearn_bench.metrics.Metric"),
        ("register_models", Shout, "expected a subclass of unlearn_bench.models.I2IModel"),
        ("register_methods", Shout(), "expected a subclass of unlearn_bench.methods.Method"),
        ("register_datasets", "fashion-mnist", "expected a subclass of unlearn_bench.datasets.Dataset"),
    ],
)
def test_wrong_base_class(monkeypatch, hook, registered, expected):
    err = registry_error(monkeypatch, ("wrong", plugin_registering(hook, registered)))
    assert str(err).startswith("plugin 'wrong' registered ") and expected in str(err)


def test_metric_without_higher_is_better(monkeypatch):
    err = registry_error(monkeypatch, ("m", plugin_registering("register_metrics", NoDirection)))
    assert "metric 'no-direction' must declare higher_is_better = True or False" in str(err)


def test_metric_higher_is_better_must_be_a_bool(monkeypatch):
    err = registry_error(monkeypatch, ("m", plugin_registering("register_metrics", IntDirection)))
    assert "higher_is_better" in str(err)


def test_metric_without_display_name(monkeypatch):
    err = registry_error(monkeypatch, ("m", plugin_registering("register_metrics", NoHeading)))
    assert "metric 'no-heading' must declare display_name" in str(err)


def test_method_without_unlearn(monkeypatch):
    err = registry_error(monkeypatch, ("lazy-plugin", plugin_registering("register_methods", Lazy)))
    assert str(err) == "plugin 'lazy-plugin': method 'lazy' does not implement unlearn"


def test_model_missing_one_required_method(monkeypatch):
    err = registry_error(monkeypatch, ("m", plugin_registering("register_models", HalfModel)))
    assert str(err).endswith("model 'half-model' does not implement decode")


@pytest.mark.parametrize("cls", [BadName, Nameless])
def test_names_must_be_lower_case_identifiers(monkeypatch, cls):
    err = registry_error(monkeypatch, ("n", plugin_registering("register_methods", cls)))
    assert f"{cls.__qualname__}.name must be a lower-case name" in str(err)


def test_params_must_be_a_dataclass(monkeypatch):
    err = registry_error(monkeypatch, ("p", plugin_registering("register_methods", PlainParams)))
    assert "PlainParams.Params must be a dataclass" in str(err)


def test_a_failed_registration_is_reported_again_not_half_cached(monkeypatch):
    plugins = empty_plugins(monkeypatch)
    plugins.register(plugin_registering("register_methods", Shout, Lazy), "mixed")
    for _ in range(2):
        with pytest.raises(PluginError, match="does not implement unlearn"):
            plugins.registry("method")


# --------------------------------------------------------------------------------------------- unknown names


def test_unknown_name_suggests_the_closest():
    registry = get_plugins().registry("method")
    with pytest.raises(UserError) as info:
        registry.get("retrian")
    assert str(info.value) == "unknown method 'retrian'; did you mean 'retrain'?"
    with pytest.raises(UserError, match="available: " + ", ".join(BUILTIN_METHODS) + "$"):
        registry.get("zzzzzzzz")


def test_unknown_name_with_a_location_is_a_config_error():
    where = Where(("methods", 2, "name"), lambda path: "suite.yaml")
    with pytest.raises(ConfigError) as info:
        get_plugins().registry("metric").get("pnsr", where)
    assert info.value.file == "suite.yaml" and info.value.key == "methods[2].name"
    assert info.value.message == "unknown metric 'pnsr'; did you mean 'psnr'?"


# ---------------------------------------------------------------------------------- a fake installed package


def fake_distribution(folder: Path, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    info = folder / "fake_dist-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-dist\nVersion: 1.0\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{lines}")
    for module, source in modules.items():
        (folder / f"{module}.py").write_text(textwrap.dedent(source))


FAKE_MODULE = """\
    import dataclasses

    import unlearn_bench
    from unlearn_bench.methods import Method


    @dataclasses.dataclass(frozen=True)
    class Params:
        strength: float = 0.5


    class FakeMethod(Method):
        \"\"\"A method from an installed third-party distribution.\"\"\"

        name = "fake-method"
        Params = Params

        def unlearn(self, model, ctx):
            return model


    @unlearn_bench.hookimpl
    def register_methods(register):
        register(FakeMethod)
"""


def test_entry_point_of_another_distribution_is_loaded_with_its_version(tmp_path, monkeypatch):
    fake_distribution(tmp_path, {"fake": "fake_plugin_module"}, {"fake_plugin_module": FAKE_MODULE})
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins = Plugins()
    plugins.load_entry_points()
    assert plugins.distributions["fake"] == ("fake-dist", "1.0")
    assert plugins.distributions["retrain"][0] == "unlearn-bench"  # alongside the built-ins
    cls = plugins.registry("method").get("fake-method")
    assert cls.__module__ == "fake_plugin_module"
    assert cls.provenance.as_dict() == {"plugin": "fake", "distribution": "fake-dist", "version": "1.0"}
    assert plugins.hooks_of("fake") == ["register_methods"]


def test_blocked_entry_point_of_another_distribution_is_not_imported(tmp_path, monkeypatch):
    fake_distribution(tmp_path, {"fake": "fake_plugin_module"}, {"fake_plugin_module": FAKE_MODULE})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(BLOCK_ENV, "fake")
    plugins = Plugins()
    plugins.load_entry_points()
    assert "fake" not in plugins.distributions
    assert "fake_plugin_module" not in sys.modules


def test_entry_point_that_fails_to_import(tmp_path, monkeypatch):
    fake_distribution(
        tmp_path,
        {"broken": "broken_plugin_module"},
        {"broken_plugin_module": "raise RuntimeError('kaboom at import')\n"},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as info:
        get_plugins()
    message = str(info.value)
    assert "entry point 'broken' (broken_plugin_module) of distribution fake-dist failed to import" in message
    assert "RuntimeError: kaboom at import" in message
    assert f"{BLOCK_ENV}=broken" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    # the failure is not cached: blocking the entry point is enough to go on
    monkeypatch.setenv(BLOCK_ENV, "broken")
    plugins = get_plugins()
    assert "broken" not in plugins.distributions and "retrain" in plugins.distributions


def test_misspelled_hook_in_an_installed_plugin(tmp_path, monkeypatch):
    source = FAKE_MODULE.replace("def register_methods(", "def register_method(")
    fake_distribution(tmp_path, {"fake": "fake_plugin_module"}, {"fake_plugin_module": source})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as info:
        get_plugins()
    assert "unknown hook 'register_method'" in str(info.value) and "fake_plugin_module" in str(info.value)
    assert "register_methods" in str(info.value)


def test_misspelled_hook_registered_on_a_loaded_manager():
    plugins = get_plugins()

    class Misspelled:
        @unlearn_bench.hookimpl
        def register_method(self, register):
            register(Shout)

    with pytest.raises(PluginError, match="unknown hook 'register_method'"):
        plugins.register(Misspelled(), "late-typo")
    assert not plugins.manager.has_plugin("late-typo")  # not left behind to be blamed on the next registration

    class Spelled:
        @unlearn_bench.hookimpl
        def register_methods(self, register):
            register(Shout)

    plugins.register(Spelled(), "after-the-typo")
    assert plugins.registry("method").get("shout") is Shout


def test_built_in_plugins_use_only_the_public_api():
    """A built-in plugin imports the harness (``unlearn_bench``), never another plugin module: what a method author
    needs is public, and a third party gets the same footing as the built-ins."""
    import ast

    folder = Path(__file__).parent.parent / "plugins"
    offenders = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = ["." * node.level + (node.module or "")]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(("unlearn_bench_plugins", "."))]
    assert offenders == []


# --------------------------------------------------------------------------------------------- the plugin index


def test_a_second_listing_imports_no_plugin(tmp_path):
    import os
    import subprocess

    env = {**os.environ, "UNLEARN_BENCH_CACHE": str(tmp_path / "cache")}
    script = (
        "import sys; from unlearn_bench.cli import main; main(['plugins']); "
        "print('IMPORTED', sorted(m for m in sys.modules if m == 'torch' or m.startswith('unlearn_bench_plugins.')))"
    )
    first, second = (
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
        for _ in range(2)
    )
    assert "unlearn_bench_plugins.realistic_i2i" in first.stdout.split("IMPORTED")[1]
    assert second.stdout.split("IMPORTED")[1].strip() == "[]", second.stdout
    assert first.stdout.split("IMPORTED")[0] == second.stdout.split("IMPORTED")[0]  # the same listing


def test_the_index_follows_the_plugin_files_and_ignores_a_damaged_index(tmp_path, monkeypatch):
    from unlearn_bench import plugin_index
    from unlearn_bench.plugins import listing_rows

    package = tmp_path / "site" / "fakeplugins"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    ep = importlib.metadata.EntryPoint("fake", "fakeplugins.mod", GROUP)
    before = plugin_index.fingerprint([ep])
    assert before is not None and plugin_index.fingerprint([ep]) == before
    (package / "helper.py").write_text("Y = 2\n")  # another file of the package: its registrations may use it
    assert plugin_index.fingerprint([ep]) != before
    assert plugin_index.fingerprint([importlib.metadata.EntryPoint("gone", "nowhere.mod", GROUP)]) is None

    monkeypatch.setenv("UNLEARN_BENCH_CACHE", str(tmp_path / "cache"))
    rows = plugin_index.listing(listing_rows)
    index = tmp_path / "cache" / plugin_index.INDEX
    stored = json.loads(index.read_text())
    index.write_text(json.dumps({"key": stored["key"], "rows": [["forged", 1]]}))  # not strings: ignored
    assert plugin_index.listing(listing_rows) == rows
    index.write_text("not json")
    assert plugin_index.listing(listing_rows) == rows and json.loads(index.read_text())["rows"] == rows
