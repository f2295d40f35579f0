"""The harness's import structure: the layers and plugin independence are import-linter contracts (pyproject.toml,
checked by `make lint`); this checks what a contract cannot see, imports hidden inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1] / "benchmark"


def test_no_relative_import_hides_inside_a_function_outside_the_cli():
    """Function-local imports of the harness's own modules hide import cycles from readers and from the contract's
    layer order; only the CLI defers imports (so that `--help` and `plugins` start without torch)."""
    hidden = set()
    for path in sorted(HARNESS.glob("*.py")):
        if path.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            if function and any(isinstance(inner, ast.ImportFrom) and inner.level > 0 for inner in ast.walk(node)):
                hidden.add(path.name)
    assert not hidden, f"function-local relative imports in {sorted(hidden)}"
