"""The ``unlearn-bench`` command: run, validate, plugins, results, leaderboard."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tabulate import tabulate

from .errors import UserError, did_you_mean

DEFAULT_RESULTS = Path("results")
DEFAULT_LEADERBOARD = Path("leaderboard")


def _echo(message: str) -> None:
    print(message, flush=True)


def _suites_dir(name: str) -> Path | None:
    """The folder of suite files the leaderboard index lists (``suites`` of the working directory), if it exists."""
    return Path(name) if Path(name).is_dir() else None


def _check_output_folder(path: Path, option: str) -> None:
    """Refuse, before any work, a folder that cannot be written: an existing file, or a folder (or its nearest
    existing parent) that this user may not write."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "is" if existing == path else f"would be inside {existing}, which is"
        raise UserError(f"{option} {path}: {what} a file, not a folder; name a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == path else f" (its nearest existing parent {existing})"
        raise UserError(f"{option} {path}: the folder{where} is not writable; name a folder you can write")


def _check_result_store(path: Path) -> None:
    if not path.is_dir():
        raise UserError(f"--results {path}: no such folder (expected a result store written by `unlearn-bench run`)")


def _suite_shape(suite) -> str:
    sizes = [len(suite.datasets), len(suite.tasks), len(suite.models), len(suite.methods), len(suite.doc.seeds)]
    names = ["dataset", "task", "model", "method", "seed"]
    grid = " × ".join(f"{n} {name}{'s' if n != 1 else ''}" for n, name in zip(sizes, names))
    total = 1
    for n in sizes:
        total *= n
    return f"{grid} = {total} cells"


def cmd_validate(args) -> int:
    from .plan import expand
    from .suite import load_suite

    suite = load_suite(args.suite, args.set)
    cells = expand(suite)
    _echo(f"{args.suite}: valid suite '{suite.name}' ({_suite_shape(suite)}; hash {suite.hash[:12]})")
    _echo("metrics: " + ", ".join(f"{m.id} ({_reference(m)})" for m in suite.metrics))
    if suite.attack:
        _echo(f"attack: {suite.attack.id} ({suite.attack.name}); unlearning starts from the attack model")
    if suite.auditors:
        _echo("audit measures: " + ", ".join(m["id"] for m in suite.measures()))
    tuning = suite.doc.tuning
    if tuning is not None:
        from .tuning import describe_assignment

        swept: dict[str, list[str]] = {}
        for method in suite.methods:
            if method.trial:
                swept.setdefault(method.base, []).append(describe_assignment(method.trial, sep="="))
        _echo(
            f"tuning: {len(swept)} methods × (their default + {tuning.budget} trial settings) and "
            f"{len(tuning.controls)} controls ({', '.join(tuning.controls)}) = {len(suite.methods)} settings per seed; "
            f"chosen on {tuning.validation_per_class} validation images per forget and retain class by: "
            f"{tuning.select.describe()}"
        )
        for base, trials in swept.items():
            _echo(f"  {base}: " + " | ".join(trials))
    _check_extractor_weights(suite)
    _echo("cost: " + _cost(suite, cells, args).describe())
    _echo(
        "resources per cell and per upstream model (cluster executors): "
        + "; ".join(f"{m.id}: {m.entry.resources.describe()}" for m in suite.models)
    )
    if args.verbose:
        for cell in cells:
            _echo(f"  {cell.id}  {cell.key[:12]}")
    return 0


COMMITTED_RESULTS = Path(__file__).resolve().parents[1] / "leaderboard" / "results"  # in a source checkout


def _cost(suite, cells, args):
    """The suite's estimated cost (``cost.estimate``): rates from ``--results`` and, in a source checkout, the
    committed results; reads only, writes nothing."""
    import torch

    from .artefacts import ArtefactStore
    from .cost import estimate, stored_rates
    from .paths import cache_dir
    from .results import ResultStore

    results = ResultStore(args.results)
    folders = [f for f in dict.fromkeys([args.results.resolve(), COMMITTED_RESULTS]) if f.is_dir()]
    rates = stored_rates(folders, "cuda" if torch.cuda.is_available() else "cpu")

    def stored_key(cell) -> str | None:
        row = results.read(suite.name, cell.id, set_aside=False)  # validate writes nothing
        return row["cell"]["key"] if row and row["status"] == "ok" else None

    artefacts = ArtefactStore(args.cache or cache_dir() / "artefacts")
    return estimate(cells, stored_key, artefacts, rates, suite.name)


def _reference(metric) -> str:
    if getattr(metric.cls, "uses_reference", True) is False:
        return "no reference"
    return f"vs {metric.entry.reference}"


def _check_extractor_weights(suite) -> None:
    """Find (without loading) the weights of every feature extractor the suite's metrics and embedding map use."""
    from .features import WeightsNotFound, checking_only
    from .metrics import is_feature_metric

    users = [(f"metric '{m.id}'", m.params.extractor.bound) for m in suite.metrics if is_feature_metric(m.cls)]
    embedding_map = suite.doc.evaluate.embedding_map
    if embedding_map is not None:
        users.append(("evaluate.embedding_map", embedding_map.extractor.bound))
    seen = set()
    for user, (cls, params) in users:
        ident = (cls.name, repr(params))
        if ident in seen:
            continue
        seen.add(ident)
        try:
            with checking_only():  # validate writes nothing, converted weights included
                weights = cls(params).locate()
        except WeightsNotFound as exc:
            raise UserError(f"{suite.file}: {user}: {exc}") from None
        _echo(f"extractor {cls.name}: " + (f"weights {weights.path} ({weights.source})" if weights else "no weights"))


def cmd_run(args) -> int:
    from .artefacts import ArtefactStore
    from .environment import pick_device
    from .leaderboard import write_leaderboards
    from .paths import CACHE_ENV, cache_dir
    from .results import ResultStore
    from .runner import Runner
    from .suite import load_suite

    suite = load_suite(args.suite, args.set)
    cache = args.cache or cache_dir() / "artefacts"
    outputs = [(args.results, "--results"), (cache, "--cache" if args.cache else f"the cache ({CACHE_ENV})")]
    if not args.no_leaderboard:
        outputs.append((args.leaderboard or args.results / "leaderboard", "--leaderboard"))
    for folder, option in outputs:  # before any work: a run that cannot write its results must not start
        _check_output_folder(Path(folder), option)
    executor = _executor(args)
    if executor.name != "local" and args.device:
        raise UserError(
            f"--device: the {executor.name} executor runs a cell on a GPU when its model's resources ask for one, "
            "else on the CPU; leave --device out"
        )
    device = pick_device(args.device)
    results = ResultStore(args.results)
    artefacts = ArtefactStore(cache)
    runner = Runner(suite, results, artefacts, device, show_progress=not args.quiet, executor=executor)
    todo = runner.pending(args.force, args.retry_failed)
    where = device if executor.name == "local" else f"the {executor.name} executor"
    _echo(
        f"suite '{suite.name}': {_suite_shape(suite)}; {len(runner.cells) - len(todo)} up to date, "
        f"{len(todo)} to run on {where}"
    )
    try:
        summary = runner.run(args.force, args.retry_failed)
    except KeyboardInterrupt:
        _echo(f"interrupted: finished cells are saved in {results.suite_dir(suite.name)}; run again to resume")
        return 130
    if not args.no_leaderboard:
        # The suite's own files only, beside the results they come from unless --leaderboard says otherwise: the
        # published leaderboard/ folder changes only through `unlearn-bench leaderboard` (a fresh clone stays clean).
        out = args.leaderboard or results.root / "leaderboard"
        changed, _ = write_leaderboards(results, out, [suite.name], index=False)
        path = Path(out) / f"{suite.name}.md"
        _echo(f"leaderboard: {path} ({'updated' if changed else 'unchanged'})")
    failed = summary.failed + summary.stored_failures
    stored = f" ({len(summary.stored_failures)} of them stored from an earlier run)" if summary.stored_failures else ""
    _echo(f"done: {summary.finished} ran, {summary.skipped} up to date, {len(failed)} failed{stored}")
    if failed:
        _echo(
            "failed cells: " + ", ".join(failed) + " (see `unlearn-bench results --failed`; "
            "rerun them with --retry-failed; a cell whose plugin code changed since reruns by itself)"
        )
        return 1
    return 0


def _executor(args):
    """The executor named by --executor, with --address and --executor-param KEY=VALUE as its parameters."""
    import yaml

    from .params import Where, parse
    from .plugins import get_plugins

    where = Where((), lambda path: "--executor-param")
    cls = get_plugins().registry("executor").get(args.executor, Where(("--executor",), lambda path: "command line"))
    values = {}
    for assignment in args.executor_param:
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise UserError(f"--executor-param: expected KEY=VALUE, got '{assignment}'")
        values[key] = yaml.safe_load(value)
    if args.address is not None:
        values["address"] = args.address
    params = parse(cls.Params, values, where)
    cls.check_params(params, where)
    return cls(params)


def cmd_plugins(args) -> int:
    if not args.name:  # the listing comes from the plugin index when nothing changed: no plugin is imported
        from .plugin_index import HEADERS, listing

        def by_import() -> list[list[str]]:
            from .plugins import listing_rows

            return listing_rows()

        _echo(tabulate(listing(by_import), headers=HEADERS, tablefmt="simple"))
        return 0
    from .params import describe
    from .plugins import KINDS, get_plugins

    plugins = get_plugins()
    found = [(kind, cls) for kind in KINDS for cls in plugins.registry(kind) if cls.name == args.name]
    if not found:
        names = [cls.name for kind in KINDS for cls in plugins.registry(kind)]
        raise UserError(f"nothing is registered as '{args.name}'{did_you_mean(args.name, names)}")
    for kind, cls in found:
        p = cls.provenance
        _echo(f"{kind} '{cls.name}' from plugin '{p.plugin}' ({p.distribution or 'unpackaged'} {p.version or ''})")
        _echo(f"  {cls.summary()}")
        rows = describe(cls.Params)
        if rows:
            _echo(tabulate(rows, headers=["parameter", "type", "default", "help"], tablefmt="simple"))
    return 0


def cmd_results(args) -> int:
    from .results import ResultStore

    store = ResultStore(args.results)
    suites = [args.suite] if args.suite else store.suites()
    if not suites:
        _echo(f"no results under {store.root}")
        return 0
    for name in suites:
        rows = store.rows(name)
        if args.failed:
            rows = [r for r in rows if r["status"] != "ok"]
        table = []
        for r in rows:
            metrics = ", ".join(f"{m['metric']}/{m['split']}={m['value']:.4g}" for m in r["metrics"])
            detail = metrics if r["status"] == "ok" else f"{r['error']['type']}: {r['error']['message']}"
            table.append([r["cell"]["id"], r["status"], f"{r['wall_time_s']:.1f}", detail])
        _echo(f"suite '{name}' ({store.suite_dir(name)}): {len(rows)} rows")
        if args.verbose:
            for r in rows:
                if r["status"] != "ok" and r["error"].get("traceback"):
                    _echo(f"--- {r['cell']['id']}: {r['error']['type']}: {r['error']['message']}")
                    _echo(r["error"]["traceback"].rstrip())
        if table:
            _echo(
                tabulate(
                    table,
                    headers=["cell", "status", "seconds", "metrics / error"],
                    tablefmt="simple",
                    maxcolwidths=[None, None, None, 90],
                )
            )
    return 0


def cmd_leaderboard(args) -> int:
    from .leaderboard import write_leaderboards
    from .results import ResultStore

    _check_result_store(args.results)
    if not args.check:
        _check_output_folder(args.out, "--out")
    store = ResultStore(args.results)
    try:
        changed, unchanged = write_leaderboards(
            store, args.out, args.suites or None, check=args.check, suites_dir=_suites_dir(args.suites_dir)
        )
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    if args.check:
        for path in changed:
            _echo(f"stale: {path} (regenerate with `unlearn-bench leaderboard --results {store.root}`)")
        _echo(f"{len(unchanged)} leaderboards up to date, {len(changed)} stale")
        return 1 if changed else 0
    for path in changed:
        _echo(f"wrote {path}")
    _echo(f"{len(changed)} written, {len(unchanged)} unchanged")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unlearn-bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def suite_args(p):
        p.add_argument("suite", help="the suite's YAML file")
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a suite value, e.g. --set methods.realistic-i2i.params.retain.epochs=2",
        )

    p = sub.add_parser("run", help="run a suite, resuming where it stopped")
    suite_args(p)
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="result store (default: results)")
    p.add_argument("--cache", type=Path, help="artefact cache (default: $UNLEARN_BENCH_CACHE/artefacts)")
    p.add_argument(
        "--leaderboard",
        type=Path,
        help="where the suite's leaderboard goes (default: RESULTS/leaderboard; the published folder leaderboard/ "
        "is written by `unlearn-bench leaderboard`)",
    )
    p.add_argument("--no-leaderboard", action="store_true", help="do not write the suite's leaderboard")
    p.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--force", action="store_true", help="rerun every cell, even those with results")
    p.add_argument("--retry-failed", action="store_true", help="rerun the cells that failed before")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--executor", default="local", help="where cells run: local (this process, default) or ray")
    p.add_argument("--address", help="the Ray cluster to join ('auto', host:port); default: start one here")
    p.add_argument(
        "--executor-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an executor parameter, e.g. --executor-param max_retries=1 (see `unlearn-bench plugins ray`)",
    )
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("validate", help="check a suite completely without running it, and estimate its cost")
    suite_args(p)
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="result store whose rows are up to date")
    p.add_argument("--cache", type=Path, help="artefact cache (default: $UNLEARN_BENCH_CACHE/artefacts)")
    p.add_argument("-v", "--verbose", action="store_true", help="list the cells and their keys")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("plugins", help="list the loaded plugins, or describe one registered name")
    p.add_argument("name", nargs="?", help="a registered dataset, task, model, method, attack or metric")
    p.set_defaults(handler=cmd_plugins)

    p = sub.add_parser("results", help="show stored results")
    p.add_argument("suite", nargs="?", help="suite name (default: all)")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    p.add_argument("--failed", action="store_true", help="only failed cells, with their reasons")
    p.add_argument("-v", "--verbose", action="store_true", help="with the whole traceback of every failed cell")
    p.set_defaults(handler=cmd_results)

    p = sub.add_parser("leaderboard", help="write Markdown leaderboards from stored results")
    p.add_argument("suites", nargs="*", help="suite names (default: every suite with results)")
    p.add_argument(
        "--suites-dir", default="suites", help="suite files the index lists as not run when they have no results"
    )
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    p.add_argument("--out", type=Path, default=DEFAULT_LEADERBOARD)
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a leaderboard is stale")
    p.set_defaults(handler=cmd_leaderboard)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except UserError as exc:
        print(f"unlearn-bench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`unlearn-bench plugins | head`): stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush cannot fail again
        return 141  # 128 + SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
