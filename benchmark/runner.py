"""Runs the cells of a suite: which are pending, who computes each (a per-cell lock shared by concurrent runs), the
suite's manifest, and writing each outcome as the executor yields it. The cells themselves run in a
:class:`~unlearn_bench.worker.CellWorker`, which the runner is.

Each finished cell is written at once, atomically, so an interrupted run loses nothing already finished, and the next
run resumes with the cells still missing.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from .artefacts import ArtefactStore
from .executors import Executor, Session
from .params import to_dict
from .paths import FileLock
from .plan import Cell
from .plugins import get_plugins
from .progress import progress
from .results import ResultStore
from .suite import Suite
from .worker import CellWorker


def default_executor() -> Executor:
    return get_plugins().registry("executor").get("local")()


def failure_summary(error: dict[str, Any]) -> str:
    """'Type: message (at file:line in function)': where the user looks first; the row keeps the whole traceback."""
    where = ""
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', error.get("traceback") or "")
    if frames:
        file, line, function = frames[-1]
        where = f" (at {file}:{line} in {function})"
    return f"{error['type']}: {error['message']}{where}"


@dataclasses.dataclass
class RunSummary:
    planned: int = 0
    skipped: int = 0
    finished: int = 0
    failed: list[str] = dataclasses.field(default_factory=list)
    stored_failures: list[str] = dataclasses.field(default_factory=list)  # up to date, but failed when they ran


def manifest(suite: Suite, cells: list[Cell]) -> dict[str, Any]:
    """What the leaderboard needs besides the rows."""
    return {
        "name": suite.name,
        "file": str(suite.file),
        "hash": suite.hash,
        "description": suite.doc.description,
        "suite": suite.data,
        "axes": {
            kind: [
                {"id": c.id, "label": c.label, **({"base": c.base, "trial": c.trial} if c.base is not None else {})}
                for c in getattr(suite, f"{kind}s")
            ]
            for kind in ("dataset", "task", "model", "method")
        },
        **({"tuning": to_dict(suite.doc.tuning)} if suite.doc.tuning is not None else {}),
        "metrics": [
            {
                "id": m.id,
                "display_name": m.build().heading(),
                "higher_is_better": m.cls.higher_is_better,
                "reference": m.entry.reference,
            }
            for m in suite.metrics
        ]
        + suite.measures(),
        "seeds": suite.doc.seeds,
        "tables": to_dict(suite.doc.leaderboard.tables),
        "cells": [{"id": c.id, "key": c.key, "seed": c.seed, **c.axes} for c in cells],
    }


class ClaimedCells(Sequence):
    """The cells handed to an executor. Iterated in order (as the built-in executors do), each cell is claimed just
    before it is handed over, so that a concurrent run can take the ones not reached yet; any other use (``len``,
    indexing, ``reversed``) claims them all first. Cells ``claim`` refuses are left out; each cell is decided once."""

    def __init__(self, cells: list[Cell], claim: Callable[[Cell], bool]):
        self._cells = cells
        self._claim = claim
        self._decided: dict[str, bool] = {}

    def _take(self, cell: Cell) -> bool:
        if cell.id not in self._decided:
            self._decided[cell.id] = self._claim(cell)
        return self._decided[cell.id]

    def __iter__(self) -> Iterator[Cell]:
        return (cell for cell in self._cells if self._take(cell))  # lazily: each claimed as it is reached

    def _claimed(self) -> list[Cell]:
        return [cell for cell in self._cells if self._take(cell)]  # not list(self): list() asks len() first

    def __len__(self) -> int:
        return len(self._claimed())

    def __getitem__(self, index):
        return self._claimed()[index]


class Runner(CellWorker):
    """A run of ``suite`` into ``results``: the driver (pending cells, claims, the manifest, writing outcomes) of the
    cell worker it extends; ``executor`` decides where the cells run (default: ``local``, in this process)."""

    def __init__(
        self,
        suite: Suite,
        results: ResultStore,
        artefacts: ArtefactStore,
        device: torch.device,
        show_progress: bool = True,
        executor: Executor | None = None,
    ):
        super().__init__(suite, artefacts, device, show_progress)
        self.results = results
        self.executor = executor

    # ------------------------------------------------------------------------------------------ scheduling

    def pending(self, force: bool = False, retry_failed: bool = False) -> list[Cell]:
        """Cells without a row of their key, failed cells when asked, and failed cells whose code changed since they
        failed (a fixed plugin that keeps its behaviour version reruns what it failed on, and only that)."""
        todo = []
        for cell in self.cells:
            row = None if force else self.results.read(self.suite.name, cell.id)
            failed = row is not None and row["status"] != "ok"
            code_changed = failed and (row["error"] or {}).get("code", self.code_of(cell)) != self.code_of(cell)
            if row is None or row["cell"]["key"] != cell.key or (failed and (retry_failed or code_changed)):
                todo.append(cell)
        return todo

    def run(self, force: bool = False, retry_failed: bool = False) -> RunSummary:
        """Run the pending cells on the executor, writing each outcome as it arrives.

        Concurrent runs into the same store share the work: a run computes a cell only while it holds the cell's lock
        (see :class:`ClaimedCells`); cells another run holds are left for a second pass, which waits for their locks and
        skips every cell that run finished meanwhile."""
        todo = self.pending(force, retry_failed)
        summary = RunSummary(planned=len(self.cells), skipped=len(self.cells) - len(todo))
        running = {cell.id for cell in todo}
        for cell in self.cells:
            row = None if cell.id in running else self.results.read(self.suite.name, cell.id)
            if row is not None and row["status"] != "ok":
                summary.stored_failures.append(cell.id)
        self.results.write_manifest(self.suite.name, manifest(self.suite, self.cells))
        if not todo:
            return summary
        executor = self.executor or default_executor()
        session = Session(
            self.suite,
            self.artefacts,
            self.run_cell,
            self.failed_outcome,
            lambda name, text: self.results.write_log(self.suite.name, name, text),
        )
        seen = {cell.id: self._row_stamp(cell) for cell in todo}
        held: dict[str, FileLock] = {}
        bar = progress(total=len(todo), desc=self.suite.name, unit="cell", leave=True, enabled=self.show_progress)
        clock = time.perf_counter()
        done, up_to_date = 0, summary.skipped
        try:
            with bar:
                cells, wait = todo, False
                while cells:
                    deferred: list[Cell] = []
                    claim = functools.partial(
                        self._claim, seen=seen, held=held, deferred=deferred, wait=wait, summary=summary
                    )
                    claimed = ClaimedCells(cells, claim)
                    for outcome in executor.run(session, claimed, bar.set_postfix_str):
                        row = outcome.row
                        cell_id = row["cell"]["id"]
                        if outcome.samples is not None:
                            self.results.write_samples(self.suite.name, cell_id, outcome.samples)
                        if outcome.log is not None:
                            self.results.write_log(self.suite.name, cell_id, outcome.log)
                        self.results.write(self.suite.name, row)
                        if cell_id in held:
                            held.pop(cell_id).release()
                        bar.update()
                        done += 1
                        expected = len(todo) - (summary.skipped - up_to_date)  # less cells another run did
                        if self.show_progress:  # a line per cell, also where no bar shows (a pipe, a log file, CI)
                            elapsed = time.perf_counter() - clock
                            left = max(expected - done, 0)
                            eta = f", about {elapsed / done * left / 60:.0f} min left" if left else ""
                            tqdm.write(
                                f"[{done}/{expected}] {cell_id}: {row['status']} in {row['wall_time_s']:.0f} s{eta}"
                            )
                        if row["status"] == "ok":
                            summary.finished += 1
                        else:
                            summary.failed.append(cell_id)
                            tqdm.write(f"cell {cell_id} failed: {failure_summary(row['error'])}")
                    if deferred and self.show_progress:
                        tqdm.write(f"{len(deferred)} cells are being computed by another run: waiting for them")
                    cells, wait = deferred, True
        finally:
            for lock in held.values():
                lock.release()
        return summary

    def _row_stamp(self, cell: Cell) -> tuple | None:
        """What identifies the cell's stored row as one particular computation (None: no row)."""
        row = self.results.read(self.suite.name, cell.id)
        return None if row is None else (row["cell"]["key"], row["status"], row.get("started_at"))

    def _claim(
        self,
        cell: Cell,
        seen: dict[str, tuple | None],
        held: dict[str, FileLock],
        deferred: list[Cell],
        wait: bool,
        summary: RunSummary,
    ) -> bool:
        """Whether this run computes ``cell``, taking its lock. A cell locked by another run goes to ``deferred`` (or,
        with ``wait``, is waited for); a cell whose row changed since this run started, to an ok row of the current
        key, was computed by another run and is skipped."""
        lock = self.results.lock(self.suite.name, cell.id)
        if not lock.acquire(blocking=wait):
            deferred.append(cell)
            return False
        stamp = self._row_stamp(cell)
        if stamp != seen[cell.id] and stamp is not None and stamp[:2] == (cell.key, "ok"):
            lock.release()
            summary.skipped += 1
            if self.show_progress:
                tqdm.write(f"{cell.id}: computed by another run meanwhile")
            return False
        held[cell.id] = lock
        return True
