"""The Ray executor: each cell, and each upstream model cells share, as a Ray task on a cluster.

The driver (``unlearn-bench run --executor ray``) submits one task per upstream model that is not in the artefact
store yet (original, attack, retrained, shadow: exactly once, however many cells share it) and one task per cell,
which Ray starts once the upstream tasks it depends on have finished. Tasks ask for their model entry's
``resources``. Workers rebuild the suite from the driver's merged YAML, read and write models in the artefact store
(a path every worker must see), and send each cell's row, samples and log back; only the driver writes the result
store. A task whose worker dies is retried ``max_retries`` times, then its cell (and every cell that needed the
model it was building) is recorded as failed and the suite goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import socket
import traceback
from typing import Any

import torch
import unlearn_bench
from unlearn_bench.errors import UserError
from unlearn_bench.executors import CellOutcome, Executor
from unlearn_bench.hashing import stable_hash
from unlearn_bench.plan import BUILT_FROM

# Passed on to workers: the harness's own settings (plugin selection, caches, weight paths) and the caches of the
# libraries that extractors load weights through.
FORWARDED_ENV_PREFIXES = ("UNLEARN_BENCH_",)
FORWARDED_ENV = ("XDG_CACHE_HOME", "TORCH_HOME", "HF_HOME")


@dataclasses.dataclass(frozen=True)
class RayParams:
    address: str | None = dataclasses.field(
        default=None,
        metadata={"help": "a running cluster: 'auto' (the one `ray start` made here) or host:port; none: start one"},
    )
    max_retries: int = dataclasses.field(
        default=2, metadata={"help": "times a task is rerun after its worker died, before its cell is failed"}
    )
    num_cpus: int | None = dataclasses.field(default=None, metadata={"help": "CPUs of a Ray started here"})
    num_gpus: int | None = dataclasses.field(default=None, metadata={"help": "GPUs of a Ray started here"})
    worker_niceness: int = dataclasses.field(
        default=0,
        metadata={
            "help": "niceness of the workers of a Ray started here (Ray's own default, 15, lets any other work on the "
            "machine starve them)"
        },
    )


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    """What a worker process needs to rebuild the driver's suite and build a cell worker for it."""

    suite_file: str
    suite_data: dict[str, Any]
    suite_data_hash: str
    artefacts: str


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("the ray executor needs Ray: pip install 'unlearn-bench[ray]'") from None
    return ray


class RayExecutor(Executor):
    """Run upstream models and cells as Ray tasks with the resources their model entry declares."""

    name = "ray"
    behaviour_version = 1
    Params = RayParams

    @classmethod
    def check_params(cls, params, where):
        if params.max_retries < 0:
            raise (where / "max_retries").error("expected a count >= 0")
        if not 0 <= params.worker_niceness <= 19:
            raise (where / "worker_niceness").error("expected a niceness from 0 to 19")

    def run(self, session, cells, status):
        ray = _import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES) or k in FORWARDED_ENV}
            with _environ(RAY_worker_niceness=str(self.params.worker_niceness)):  # read by the raylet it starts
                ray.init(
                    address=self.params.address,
                    num_cpus=self.params.num_cpus if self.params.address is None else None,
                    num_gpus=self.params.num_gpus if self.params.address is None else None,
                    include_dashboard=False,
                    log_to_driver=False,
                    runtime_env={"env_vars": env},
                )
        # object ref → ("upstream", (kind, key)) or ("cell", (cell, {kind: ref of the upstream task it waits for}))
        pending: dict[Any, tuple[str, Any]] = {}
        try:
            _check_feasible(ray, session.suite)
            suite, store = session.suite, str(session.artefacts.root.resolve())
            spec = WorkerSpec(str(suite.file), suite.data, stable_hash(suite.data), store)
            build = ray.remote(_build_upstream)
            evaluate = ray.remote(_run_cell)
            upstream: dict[str, Any] = {}  # artefact key → object ref of the task building it
            for cell in cells:
                options = _options(cell.model.entry.resources, self.params.max_retries)
                dependencies = {}
                for kind in cell.needs:
                    key = cell.keys[kind]
                    if key not in upstream and not session.artefacts.exists(kind, key):
                        source = BUILT_FROM.get(kind)
                        start = upstream.get(cell.keys[source]) if source else None
                        after = [start] if start is not None else []
                        task = build.options(name=f"{kind} {key[:12]}", **options)
                        ref = task.remote(spec, cell.id, kind, key, *after)
                        upstream[key] = ref
                        pending[ref] = ("upstream", (kind, key))
                    if key in upstream:
                        dependencies[kind] = upstream[key]
                ref = evaluate.options(name=cell.id, **options).remote(spec, cell.id, cell.key, *dependencies.values())
                pending[ref] = ("cell", (cell, dependencies))
            total_upstream, built = len(upstream), 0
            while pending:
                cells_left = sum(1 for what, _ in pending.values() if what == "cell")
                status(f"{cells_left} cells queued or running; upstream models {built}/{total_upstream}")
                [ref], _ = ray.wait(list(pending), num_returns=1)
                what, item = pending.pop(ref)
                if what == "upstream":
                    built += 1
                    kind, key = item
                    try:
                        log = ray.get(ref)["log"]
                    except ray.exceptions.RayError as exc:
                        log = f"the task building the {kind} model failed: {exc}"
                    session.log(f"upstream-{kind}-{key[:12]}", log)
                    continue
                cell, dependencies = item
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayError as exc:
                    reason = self._reason(ray, exc, dependencies)
                    outcome = session.failed_outcome(cell, type(exc).__name__, reason)
                    outcome.log = f"{reason}\n\n{exc}"
                    yield outcome
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            if started_here:
                ray.shutdown()

    def _reason(self, ray, exc: Exception, dependencies: dict[str, Any]) -> str:
        """Why a cell's task produced no outcome: an upstream task that failed, or the cell's own worker."""
        attempts = self.params.max_retries + 1
        for kind, dependency in dependencies.items():
            try:
                ray.get(dependency, timeout=0)
            except ray.exceptions.RayError as upstream_exc:
                return f"the task building the {kind} model failed: {_cause(ray, upstream_exc, attempts)}"
        return _cause(ray, exc, attempts)


@contextlib.contextmanager
def _environ(**values: str):
    """``os.environ`` with ``values`` set while the block runs, restored afterwards."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _cause(ray, exc: Exception, attempts: int) -> str:
    if isinstance(exc, ray.exceptions.WorkerCrashedError | ray.exceptions.NodeDiedError):
        return f"its worker died {attempts} times ({type(exc).__name__})"
    if isinstance(exc, ray.exceptions.RayTaskError):
        return f"{type(exc.cause).__name__}: {exc.cause}"
    return f"{type(exc).__name__}: {exc}"


def _options(resources, max_retries: int) -> dict[str, Any]:
    options = {"num_cpus": resources.cpus, "num_gpus": resources.gpus, "max_retries": max_retries}
    if resources.memory_gb is not None:
        options["memory"] = int(resources.memory_gb * 1024**3)
    return options


def _check_feasible(ray, suite) -> None:
    """A model whose resources no node has would wait forever: refuse it before submitting anything."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    for i, model in enumerate(suite.models):
        need = model.entry.resources
        if not any(
            n.get("CPU", 0) >= need.cpus
            and n.get("GPU", 0) >= need.gpus
            and (need.memory_gb is None or n.get("memory", 0) >= need.memory_gb * 1024**3)
            for n in nodes
        ):
            have = "; ".join(f"{n.get('CPU', 0):g} CPU, {n.get('GPU', 0):g} GPU" for n in nodes)
            raise UserError(
                f"{suite.file}: models[{i}].resources: model '{model.id}' asks for {need.describe()}, "
                f"which no node of the Ray cluster has (nodes: {have})"
            )


# -------------------------------------------------------------------------------------------- on the workers


_WORKERS: dict[tuple[str, str, str], Any] = {}  # this process's cell workers: loaded data and models are reused


def _cell_worker(spec: WorkerSpec, device: str):
    from unlearn_bench.artefacts import ArtefactStore
    from unlearn_bench.suite import suite_from_data
    from unlearn_bench.worker import CellWorker

    key = (spec.suite_data_hash, spec.artefacts, device)
    if key not in _WORKERS:
        suite = suite_from_data(spec.suite_file, spec.suite_data)
        _WORKERS.clear()  # one suite at a time
        _WORKERS[key] = CellWorker(suite, ArtefactStore(spec.artefacts), torch.device(device), show_progress=False)
    return _WORKERS[key]


def _worker(spec: WorkerSpec, cell_id: str, cell_key: str | None = None):
    """This process's cell worker for ``spec`` (kept across tasks: loaded data is reused) and the cell ``cell_id``."""
    ray = _import_ray()
    device = "cuda" if ray.get_gpu_ids() else "cpu"
    worker = _cell_worker(spec, device)
    cell = next(c for c in worker.cells if c.id == cell_id)
    if cell_key is not None and cell.key != cell_key:
        raise RuntimeError(
            f"on {socket.gethostname()} cell {cell_id} has key {cell.key[:12]}, not the driver's {cell_key[:12]}: "
            "workers must run the same unlearn-bench and plugin versions as the driver"
        )
    torch.set_num_threads(max(1, int(cell.model.entry.resources.cpus)))
    return worker, cell


@contextlib.contextmanager
def _captured():
    """Everything printed while the block runs, as the task's log."""
    log = io.StringIO()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        yield log


def _build_upstream(spec: WorkerSpec, cell_id: str, kind: str, key: str, *dependencies: dict) -> dict[str, Any]:
    with _captured() as log:
        error = None
        try:
            worker, cell = _worker(spec, cell_id)
            if cell.keys[kind] != key:
                raise RuntimeError(f"this worker computes another key for the {kind} model: different versions?")
            for done in dependencies:
                if done["error"]:
                    worker.mark_failed(done["key"], done["error"])
            worker.model(cell, kind)
        except Exception as exc:  # noqa: BLE001 - reported to the cells that need this model
            error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
    print(f"{kind} model for {cell_id} on {socket.gethostname()}: {'ok' if error is None else error}", file=log)
    return {"kind": kind, "key": key, "error": error, "log": log.getvalue()}


def _run_cell(spec: WorkerSpec, cell_id: str, cell_key: str, *dependencies: dict) -> CellOutcome:
    with _captured() as log:
        worker, cell = _worker(spec, cell_id, cell_key)
        for done in dependencies:
            if done["error"]:
                worker.mark_failed(done["key"], done["error"])
        outcome = worker.run_cell(cell)
        if outcome.row["error"] and outcome.row["error"]["traceback"]:
            print(outcome.row["error"]["traceback"])
    outcome.row["executor"] = {
        "name": "ray",
        "node": socket.gethostname(),
        "resources": dataclasses.asdict(cell.model.entry.resources),
    }
    outcome.log = log.getvalue()
    return outcome


@unlearn_bench.hookimpl
def register_executors(register):
    register(RayExecutor)
