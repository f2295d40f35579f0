"""The code of every built-in plugin and of the harness, pinned beside its declared behaviour version.

Cache keys hold a built-in's ``behaviour_version``, not its code (see ``unlearn_bench.component``), so that a refactor
does not throw away every committed result. The price is a promise, and this pin keeps it honest: when a built-in's
code changes, ``test_behaviour_pins`` fails until someone decides. If outputs change, raise the class's
``behaviour_version`` (or ``HARNESS_BEHAVIOUR`` in ``unlearn_bench/plan.py``) and note it in CHANGELOG.md; if they
do not (a refactor), say so in CHANGELOG.md. Either way, re-pin with ``python tests/behaviour_pins.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PINS = Path(__file__).with_name("behaviour_pins.json")
HARNESS_MODULE = "unlearn_bench.runner"  # the harness's code: the runner and every module it imports


def current() -> dict[str, dict]:
    from unlearn_bench.component import code_fingerprint
    from unlearn_bench.plan import HARNESS_BEHAVIOUR
    from unlearn_bench.plugins import Plugins

    plugins = Plugins()
    plugins.load_entry_points()
    pins = {"harness": {"behaviour_version": HARNESS_BEHAVIOUR, "code": code_fingerprint(HARNESS_MODULE)}}
    for kind, registry in plugins.registries.items():
        for cls in registry:
            if cls.provenance.distribution == "unlearn-bench":
                pins[f"{kind}/{cls.name}"] = {
                    "behaviour_version": cls.__dict__.get("behaviour_version"),
                    "code": code_fingerprint(cls.__module__),
                }
    return dict(sorted(pins.items()))


if __name__ == "__main__":
    PINS.write_text(json.dumps(current(), indent=1) + "\n")
    sys.stdout.write(f"pinned {PINS}\n")
