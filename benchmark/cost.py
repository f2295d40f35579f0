"""What a suite will cost before it runs, from what earlier runs recorded.

Every result row records its cell's wall time and the device it ran on. A cell's cost is estimated as the median wall
time of stored rows made on the same kind of device (CPU or CUDA) with the same dataset, model and method plugins
(or, when that method never ran, with the same dataset and model), taken from the same suite's earlier rows where
there are any: other suites' settings (epochs, images, metrics) can differ by several times. The median leaves out
the first cells of a seed, whose wall time includes training the upstream models they needed; those models are
counted instead, by kind, when they are not in the artefact cache. Cells whose rows are up to date cost nothing.

It is an estimate: settings (epochs, images, metrics) that differ from the stored rows' move the real cost, and so
does a machine that is busier or faster than the one that made them.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .artefacts import ArtefactStore
from .plan import Cell

Signature = tuple[str, str, str]  # dataset, model and method plugin names


@dataclasses.dataclass
class Rates:
    """Stored cell wall times by (dataset, model, method) plugin names, for one kind of device."""

    seconds: dict[Signature, list[float]]
    devices: set[str]
    by_suite: dict[str, dict[Signature, list[float]]] = dataclasses.field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(len(v) for v in self.seconds.values())

    def cell_seconds(self, signature: Signature, suite: str | None = None) -> tuple[float, bool] | None:
        """(the cell's estimated seconds, whether they come from ``suite``'s own rows), or None without a rate."""
        own = self.by_suite.get(suite, {}) if suite else {}
        for times, from_suite in ((own, True), (self.seconds, False)):
            found = _median(times, signature)
            if found is not None:
                return found, from_suite
        return None


def _median(seconds: dict[Signature, list[float]], signature: Signature) -> float | None:
    """The median of the times stored for ``signature``, else for its dataset and model with any method."""
    if signature in seconds:
        return statistics.median(seconds[signature])
    same_model = [s for (d, m, _), times in seconds.items() if (d, m) == signature[:2] for s in times]
    return statistics.median(same_model) if same_model else None


def _name(config: Any, part: str) -> str | None:
    entry = config.get(part) if isinstance(config, dict) else None
    return entry.get("name") if isinstance(entry, dict) else None


def stored_rates(folders: Iterable[Path], device_type: str) -> Rates:
    """The wall times of the ok rows under each result store in ``folders`` made on ``device_type``. Unreadable
    rows are skipped: they only inform an estimate."""
    seconds: dict[Signature, list[float]] = defaultdict(list)
    by_suite: dict[str, dict[Signature, list[float]]] = defaultdict(lambda: defaultdict(list))
    devices: set[str] = set()
    for folder in folders:
        for path in sorted(folder.glob("*/cells/*.json")):
            try:
                row = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if not isinstance(row, dict):
                continue
            device = (row.get("environment") or {}).get("device") or {}
            wall = row.get("wall_time_s")
            if row.get("status") != "ok" or device.get("type") != device_type or not isinstance(wall, int | float):
                continue
            signature = tuple(_name(row.get("config"), part) for part in ("data", "model", "method"))
            if all(isinstance(name, str) for name in signature):
                seconds[signature].append(float(wall))
                suite = row.get("suite")
                if isinstance(suite, dict) and isinstance(suite.get("name"), str):
                    by_suite[suite["name"]][signature].append(float(wall))
                devices.add(str(device.get("name")))
    return Rates(dict(seconds), devices, {name: dict(times) for name, times in by_suite.items()})


@dataclasses.dataclass
class Estimate:
    cells: int
    up_to_date: int
    seconds: float  # of the priced cells to run
    unpriced: int  # cells to run with no stored rate
    from_suite: int  # priced cells whose rate came from the same suite's earlier rows
    upstream: Counter  # upstream models to build (not in the cache), by kind
    rates: Rates

    def describe(self) -> str:
        to_run = self.cells - self.up_to_date
        text = f"{self.cells} cells, {self.up_to_date} up to date"
        if to_run == 0:
            return text + ": nothing to run"
        priced = to_run - self.unpriced
        if priced:
            source = (
                f"this suite's earlier rows for {self.from_suite} of them"
                if self.from_suite
                else "no earlier row of this suite: other suites' settings can differ by several times"
            )
            text += (
                f"; about {_duration(self.seconds)} for {priced} of the {to_run} cells to run, at the median wall time "
                f"of stored rows from this kind of device ({', '.join(sorted(self.rates.devices))}; {source})"
            )
        if self.unpriced:
            text += f"; {self.unpriced} cells have no stored rate (no row of that dataset and model on this device)"
        if self.upstream:
            kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.upstream.items()))
            text += f"; plus training {sum(self.upstream.values())} upstream models not in the cache ({kinds})"
        return text


def estimate(
    cells: list[Cell],
    stored_key: Callable[[Cell], str | None],
    artefacts: ArtefactStore,
    rates: Rates,
    suite: str | None = None,
) -> Estimate:
    """``stored_key(cell)``: the key of the cell's stored ok row, if any; the upstream models each pending cell reads
    (``cell.needs``) and the cache lacks are counted by kind. Rates come from ``suite``'s own earlier rows first."""
    up_to_date, seconds, unpriced, from_suite = 0, 0.0, 0, 0
    upstream: set[tuple[str, str]] = set()
    for cell in cells:
        if stored_key(cell) == cell.key:
            up_to_date += 1
            continue
        cost = rates.cell_seconds((cell.dataset.name, cell.model.name, cell.method.name), suite)
        if cost is None:
            unpriced += 1
        else:
            seconds += cost[0]
            from_suite += cost[1]
        missing = {(kind, cell.keys[kind]) for kind in cell.needs}
        upstream |= {(kind, key) for kind, key in missing if not artefacts.exists(kind, key)}
    return Estimate(len(cells), up_to_date, seconds, unpriced, from_suite, Counter(kind for kind, _ in upstream), rates)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
