"""Reuse of cached results follows the code that made them: a plugin's code identity is part of every key."""

from __future__ import annotations

import importlib
import json
import sys

import pytest
from behaviour_pins import PINS, current
from unlearn_bench.component import Component, code_fingerprint


def test_every_builtin_declares_a_behaviour_version_pinned_with_its_code():
    pinned = json.loads(PINS.read_text())
    now = current()
    undeclared = [name for name, pin in now.items() if pin["behaviour_version"] is None]
    assert not undeclared, f"built-ins without behaviour_version: {undeclared}"
    changed = sorted(name for name in now.keys() & pinned.keys() if now[name] != pinned[name])
    assert not changed, (
        f"the code of {changed} changed since it was pinned. If outputs change, raise its behaviour_version "
        "(HARNESS_BEHAVIOUR for the harness); if not, record the refactor in CHANGELOG.md. Then re-pin: "
        "python tests/behaviour_pins.py"
    )
    assert now.keys() == pinned.keys(), "plugins added or removed: re-pin with python tests/behaviour_pins.py"


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A throw-away package ``pkg`` with a method module importing a helper module, importable from tmp_path."""
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "helper.py").write_text("SCALE = 1.0\n")
    (root / "method.py").write_text(
        "from unlearn_bench.methods import Method\nfrom .helper import SCALE\n\n"
        "class Mine(Method):\n    name = 'mine'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield root
    for name in [n for n in sys.modules if n == "pkg" or n.startswith("pkg.")]:
        del sys.modules[name]


def test_an_undeclared_plugin_is_keyed_by_its_code_and_its_package_helpers(package):
    cls = importlib.import_module("pkg.method").Mine
    before = cls.identity()
    assert set(before) == {"code"}
    (package / "helper.py").write_text("SCALE = 0.5\n")  # an edit of an imported helper changes the key
    after_helper = cls.identity()
    assert after_helper != before
    (package / "method.py").write_text((package / "method.py").read_text() + "# edited\n")
    assert cls.identity() not in (before, after_helper)
    (package / "__init__.py").write_text("# not imported by the method module\n")
    assert code_fingerprint("pkg.method") == cls.identity()["code"]


def test_a_declared_version_is_the_identity_and_edits_do_not_rekey(package):
    (package / "method.py").write_text((package / "method.py").read_text() + "    behaviour_version = 1\n")
    cls = importlib.import_module("pkg.method").Mine
    assert cls.identity() == {}  # version 1 leaves keys as they were before versions existed
    (package / "helper.py").write_text("SCALE = 0.5\n")
    assert cls.identity() == {}
    cls.behaviour_version = 2
    assert cls.identity() == {"behaviour": 2}


def test_a_subclass_does_not_inherit_its_parents_promise():
    class Parent(Component):
        name = "parent"
        behaviour_version = 3

    class Child(Parent):
        name = "child"

    assert Parent.identity() == {"behaviour": 3}
    assert set(Child.identity()) == {"code"}


@pytest.mark.parametrize("bad", [0, -1, "2", True])
def test_a_behaviour_version_must_be_a_positive_integer(bad):
    class Odd(Component):
        name = "odd"
        behaviour_version = bad

    with pytest.raises(TypeError, match="behaviour_version"):
        Odd.identity()
