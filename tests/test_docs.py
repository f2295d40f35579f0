"""The plugin guide's code runs: every Python block compiles, and its custom training loop unlearns in a suite."""

from __future__ import annotations

import dataclasses
import re
import textwrap
from pathlib import Path

import unlearn_bench
from unlearn_bench.cli import main
from unlearn_bench.methods import Method
from unlearn_bench.plugins import get_plugins
from unlearn_bench.results import ResultStore

GUIDE = Path(__file__).parent.parent / "docs" / "writing-plugins.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)


def test_every_python_block_compiles():
    assert len(blocks()) >= 3
    for number, block in enumerate(blocks()):
        compile(block, f"{GUIDE.name} block {number}", "exec")


def test_the_custom_loop_of_the_guide_runs_in_a_suite(tiny, tmp_path):
    loop = next(b for b in blocks() if "def unlearn(self, model, ctx):" in b and "endless" in b)
    namespace: dict = {}
    exec(compile(loop, GUIDE.name, "exec"), namespace)  # the guide's imports and its unlearn()

    @dataclasses.dataclass(frozen=True)
    class GuideParams:
        steps: int = 3
        lr: float = 0.01

    class GuideAscent(Method):
        """The guide's step-based ascent."""

        name = "guide-ascent"
        Params = GuideParams
        unlearn = namespace["unlearn"]

    class GuidePlugin:
        @unlearn_bench.hookimpl
        def register_methods(self, register):
            register(GuideAscent)

    get_plugins().register(GuidePlugin(), "guide")
    methods = "methods:\n  - {name: no-unlearning, id: none}\n  - {name: guide-ascent}\nmetrics:\n"
    text = re.sub(r"methods:\n.*?metrics:\n", methods, tiny.SUITE, flags=re.S)
    path = tiny.write_suite(tmp_path, text=textwrap.dedent(text))
    assert main(["run", str(path), "--results", str(tmp_path / "res"), "--quiet", "--no-leaderboard"]) == 0
    rows = [r for r in ResultStore(tmp_path / "res").rows("tiny") if r["cell"]["axes"]["method"] == "guide-ascent"]
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows)
    assert [len(r["method"]["trace"]["ascent"]) for r in rows] == [3, 3]
    assert all(r["method"]["summary"] == {"steps": 3} for r in rows)
