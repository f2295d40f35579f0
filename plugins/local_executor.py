"""The default executor: every cell in this process, one after another, each upstream model built on first use."""

from __future__ import annotations

import unlearn_bench
from unlearn_bench.executors import Executor


class LocalExecutor(Executor):
    """Run cells one after another in this process on the run's device (resources are not consulted)."""

    name = "local"
    behaviour_version = 1

    def run(self, session, cells, status):
        for cell in cells:
            status(cell.id)
            outcome = session.run_cell(cell)
            outcome.row["executor"] = {"name": self.name}
            yield outcome


@unlearn_bench.hookimpl
def register_executors(register):
    register(LocalExecutor)
