"""Executors: where a suite's pending cells run.

The driver (``Runner.run``) decides what to run and alone writes the result store; an executor only runs work and
hands back one :class:`CellOutcome` per cell, in whatever order cells finish. The built-in executors are plugins:
``local`` runs cells one after another in this process, ``ray`` sends each cell, and each upstream model it needs
(exactly once, before the cells that need it), to a Ray cluster.

What a cluster executor needs to know about each piece of work is in :class:`Resources` (a model entry's
``resources`` in the suite) and in ``Cell.needs`` (the upstream models a cell reads, set by the plan).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .component import Component

if TYPE_CHECKING:
    from .artefacts import ArtefactStore
    from .plan import Cell


@dataclasses.dataclass(frozen=True)
class Resources:
    """What training or evaluating one model asks of a cluster node.

    ``cpus`` also sets, on any executor, the loader processes that read image files (``cpus`` − 1) and, on a cluster
    worker, torch's threads. The in-process executor otherwise ignores resources."""

    cpus: float = dataclasses.field(default=1, metadata={"help": "CPU cores: torch threads, and image loaders"})
    gpus: float = dataclasses.field(default=0, metadata={"help": "GPUs (a fraction shares one)"})
    memory_gb: float | None = dataclasses.field(default=None, metadata={"help": "host memory to reserve, in GiB"})

    def __post_init__(self):
        if self.cpus <= 0 or self.gpus < 0 or (self.memory_gb is not None and self.memory_gb <= 0):
            raise ValueError("expected cpus > 0, gpus >= 0 and memory_gb > 0 (or null)")

    def describe(self) -> str:
        parts = [f"{self.cpus:g} CPU", f"{self.gpus:g} GPU"]
        if self.memory_gb is not None:
            parts.append(f"{self.memory_gb:g} GiB")
        return ", ".join(parts)


@dataclasses.dataclass
class CellOutcome:
    """A finished cell: its result row, the sample images for output grids, and its log where one was captured."""

    row: dict[str, Any]
    samples: dict[str, Any] | None = None
    log: str | None = None


@dataclasses.dataclass(frozen=True)
class Session:
    """What the driver of a run hands its executor: all an executor may use, and no way to write results.

    ``suite``: the loaded suite (a worker elsewhere rebuilds it from ``suite.file`` and ``suite.data`` with
    ``unlearn_bench.suite.suite_from_data``; its models' ``entry.resources`` say what each asks of a node).
    ``artefacts``: the artefact store, to ask which upstream models exist (``exists(kind, key)``).
    ``run_cell(cell)``: run a cell in this process; a failure comes back as a failed row, it does not raise.
    ``failed_outcome(cell, error_type, message)``: the outcome of a cell that could not run (its worker died).
    ``log(name, text)``: hand the driver a log that belongs to no cell (e.g. a remote upstream model's build), which
    it stores beside the cells' logs.
    """

    suite: Any
    artefacts: ArtefactStore
    run_cell: Callable[[Cell], CellOutcome]
    failed_outcome: Callable[[Cell, str, str], CellOutcome]
    log: Callable[[str, str], None]


class Executor(Component):
    """Base class of executor plugins.

    ``run(session, cells, status)`` runs ``cells`` (pending cells in the suite's order, a sequence that claims each
    cell for this run as it is reached: see ``ClaimedCells``) and yields a :class:`CellOutcome` for each as it
    finishes, in any order; a cell that cannot run yields a failed row rather than raising. ``status(text)`` shows a
    short progress note beside the driver's progress bar. ``session`` (:class:`Session`) is all the executor gets of
    the run; each cell says which upstream models it reads (``cell.needs``, in build order, keyed by
    ``cell.keys``). An executor never writes the result store: the driver does, as outcomes arrive, so an
    interrupted run keeps them.
    """

    def run(self, session: Session, cells: Sequence[Cell], status: Callable[[str], None]) -> Iterator[CellOutcome]:
        raise NotImplementedError
